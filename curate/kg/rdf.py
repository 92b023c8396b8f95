"""RDF and OWL statements of one file into labels and triples.

Statements are ``(subject, predicate, object)`` with IRIs as ``str``, blank nodes as file-scoped
``_:`` ids and literals as ``graph.Lit``. What each becomes:

- labels (``rdfs:label``, ``skos:prefLabel``, ...; see ``labels``) name their subject, entities and
  properties alike; they are not triples of their own;
- exact synonyms name their subject (after labels) and become ``synonym`` triples; definitions
  (``IAO_0000115``, ``skos:definition``) become ``definition`` triples and ``rdfs:comment``
  ``comment`` triples, each written as a sentence;
- ``rdfs:subClassOf`` a named class is ``is_a``; ``owl:equivalentClass`` a named class is
  ``equivalent``; ``rdf:type`` a class outside the RDF/RDFS/OWL vocabularies is ``type``;
- ``subClassOf`` / ``equivalentClass`` an OWL class expression is unfolded: a restriction
  ``[owl:onProperty P; owl:someValuesFrom X]`` (also ``allValuesFrom``, ``hasValue``, qualified
  cardinalities with ``onClass``) is the triple ``S P X``, and each member of an
  ``owl:intersectionOf`` is unfolded in turn (named members are ``is_a``);
- left out, and counted: annotation properties (declared ``owl:AnnotationProperty`` in the file, or
  listed in ``skip``: cross-references, creation dates, subsets, ...) and reified ``owl:Axiom``
  annotations (``skipped_annotation``); schema statements about properties, the ontology header and
  the RDF/RDFS/OWL vocabulary itself (``skipped_schema``); unions, complements and other class
  expressions that have no plain reading (``skipped_class_expression``);
- ``owl:deprecated true`` marks an entity obsolete (its triples are left out by the graph builder);
- a class declared in a file with an ``owl:Ontology`` header that ends up in no triple at all (only a
  label, cross-references and subsets) is still mentioned: the builder gives it an ``in_ontology``
  triple to the ontology, named by its label or its file name (stat ``label_only_classes``);
- everything else is a triple ``S P O``; a blank-node object is an entity only when it has a label.
"""

from __future__ import annotations

from collections.abc import Collection

from curate.kg import labels as lab
from curate.kg.graph import Builder, Lit

Term = str | Lit  # an IRI or blank-node id, or a literal

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
OWL = "http://www.w3.org/2002/07/owl#"
RDFS = lab.RDFS
TYPE, SUBCLASS, EQUIVALENT = f"{RDF}type", f"{RDFS}subClassOf", f"{OWL}equivalentClass"
FIRST, REST, NIL = f"{RDF}first", f"{RDF}rest", f"{RDF}nil"
ON_PROPERTY, INTERSECTION = f"{OWL}onProperty", f"{OWL}intersectionOf"
FILLERS = (f"{OWL}someValuesFrom", f"{OWL}allValuesFrom", f"{OWL}hasValue", f"{OWL}onClass",
           f"{OWL}onDataRange")
VOCABULARIES = (RDF, RDFS, OWL, "http://www.w3.org/2001/XMLSchema#")
PROPERTY_TYPES = {f"{RDF}Property", f"{OWL}ObjectProperty", f"{OWL}DatatypeProperty",
                  f"{OWL}AnnotationProperty", f"{OWL}TransitiveProperty", f"{OWL}SymmetricProperty",
                  f"{OWL}FunctionalProperty", f"{OWL}InverseFunctionalProperty"}
ANNOTATION_TYPES = {f"{OWL}AnnotationProperty", f"{OWL}Axiom", f"{OWL}Annotation"}

# Canonical relations: each has a template of the same name in every language.
IS_A, INSTANCE_OF, SAME_AS = "is_a", "type", "equivalent"
DEFINITION, SYNONYM, COMMENT, IN_ONTOLOGY = "definition", "synonym", "comment", "in_ontology"
CANONICAL = (IS_A, INSTANCE_OF, SAME_AS, DEFINITION, SYNONYM, COMMENT, IN_ONTOLOGY)
CLASS_TYPES = {f"{OWL}Class", f"{RDFS}Class"}


def _is_bnode(term: Term) -> bool:
    return isinstance(term, str) and term.startswith("_:")


class _File:
    """The statements of one file, indexed for the lookups that OWL constructs need."""

    def __init__(self, statements: list[tuple[str, str, Term]]):
        self.statements = statements
        self.bnodes: dict[str, list[tuple[str, Term]]] = {}
        self.annotations: set[str] = set()
        self.schema: set[str] = set()  # subjects that are properties or the ontology header
        self.deprecated: set[str] = set()
        self.classes: dict[str, None] = {}
        self.ontology: str | None = None
        for s, p, o in statements:
            if s.startswith("_:"):
                self.bnodes.setdefault(s, []).append((p, o))
            if p == TYPE and isinstance(o, str):
                if o == f"{OWL}AnnotationProperty":
                    self.annotations.add(s)
                if o in PROPERTY_TYPES or o == f"{OWL}Ontology":
                    self.schema.add(s)
                if o == f"{OWL}Ontology" and self.ontology is None and not s.startswith("_:"):
                    self.ontology = s
                elif o in CLASS_TYPES and not s.startswith("_:"):
                    self.classes[s] = None
            elif p == f"{OWL}deprecated" and isinstance(o, Lit) and o.text.strip().lower() in ("true", "1"):
                self.deprecated.add(s)

    def values(self, node: str, prop: str) -> list[Term]:
        return [o for p, o in self.bnodes.get(node, ()) if p == prop]

    def rdf_list(self, node: Term) -> list[Term]:
        items, seen = [], set()
        while isinstance(node, str) and node != NIL and node not in seen:
            seen.add(node)
            items += self.values(node, FIRST)
            rest = self.values(node, REST)
            node = rest[0] if rest else NIL
        return items

    def is_entity_bnode(self, node: str) -> bool:
        return any(p in lab.LABELS for p, _ in self.bnodes.get(node, ()))

    def is_annotation_node(self, node: str) -> bool:
        return any(p == TYPE and o in ANNOTATION_TYPES for p, o in self.bnodes.get(node, ()))


def unfold(f: _File, node: str, depth: int = 0) -> list[tuple[str, Term]] | None:
    """``(relation, filler)`` pairs an OWL class expression states of its subclass; ``None`` when
    the expression has no plain reading."""
    if depth > 8:
        return None
    props = f.values(node, ON_PROPERTY)
    if props:
        fillers = [o for p in FILLERS for o in f.values(node, p)]
        if not fillers or not isinstance(props[0], str) or _is_bnode(props[0]):
            return None
        filler = fillers[0]
        if _is_bnode(filler) and not f.is_entity_bnode(filler):
            return None  # a nested expression such as "some (A and B)"
        return [(props[0], filler)]
    members = f.values(node, INTERSECTION)
    if members:
        pairs: list[tuple[str, Term]] = []
        for m in f.rdf_list(members[0]):
            if isinstance(m, str) and not _is_bnode(m):
                pairs.append((IS_A, m))
                continue
            inner = unfold(f, m, depth + 1) if isinstance(m, str) else None
            if inner is None:
                return None
            pairs += inner
        return pairs
    return None


def interpret(statements: list[tuple[str, str, Term]], file: int, b: Builder,
              skip: Collection[str] = ()) -> None:
    """Add the labels and triples that one file's statements state (see module doc)."""
    f = _File(statements)
    b.deprecated |= f.deprecated
    b.stats["statements"] += len(statements)
    if f.ontology is not None:
        name = lab.readable(lab.local_name(f.ontology).rsplit(".", 1)[0])
        if name:  # the ontology's own label, if it has one, ranks first
            b.label(f.ontology, name, None, rank=9)
        for c in f.classes:
            b.mentions.setdefault(c, (f.ontology, file))
    for s, p, o in statements:
        if _is_bnode(s) and not f.is_entity_bnode(s):
            b.stats["skipped_annotation" if f.is_annotation_node(s) else "skipped_schema"] += 1
            continue  # read through the subject that points at the class expression, list or axiom
        kind = _classify(f, s, p, o, skip)
        if kind == "label":
            b.label(s, o.text, o.lang, lab.LABELS[p])  # type: ignore[union-attr]
        elif kind == "synonym":
            b.label(s, o.text, o.lang, lab.EXACT_SYNONYMS.get(p, lab.OTHER_SYNONYMS.get(p, 3)))  # type: ignore[union-attr]
            if p in lab.EXACT_SYNONYMS:
                b.add(s, SYNONYM, o, file, True)
        elif kind == "expression":
            pairs = unfold(f, o)  # type: ignore[arg-type]
            if pairs is None:
                b.stats["skipped_class_expression"] += 1
            for rel, filler in pairs or ():
                b.add(s, rel, filler, file, True)
        elif kind == "triple":
            b.add(s, _relation(p, o), o, file, True)
        elif kind != "deprecated":
            b.stats[kind] += 1


def _classify(f: _File, s: str, p: str, o: Term, skip: Collection[str]) -> str:
    """What statement ``s p o`` is: label, synonym, expression, triple, deprecated or a skip."""
    literal = isinstance(o, Lit)
    if p in lab.LABELS and literal:
        return "label"
    if (p in lab.EXACT_SYNONYMS or p in lab.OTHER_SYNONYMS) and literal:
        return "synonym"
    if p == f"{OWL}deprecated":
        return "deprecated"
    if p in (SUBCLASS, EQUIVALENT) and _is_bnode(o):
        return "expression"
    if p in skip or lab.local_name(p) in skip:
        return "skipped_annotation"
    if p in f.annotations and p not in lab.DEFINITIONS and p not in lab.COMMENTS:
        return "skipped_annotation"
    if s in f.schema:
        return "skipped_schema"
    if p == TYPE:
        vocab = isinstance(o, str) and o.startswith(VOCABULARIES)
        return "skipped_schema" if vocab else "triple"
    if p.startswith(VOCABULARIES) and p not in (SUBCLASS, EQUIVALENT) and p not in lab.COMMENTS:
        return "skipped_schema"
    if _is_bnode(o) and not f.is_entity_bnode(o):  # type: ignore[arg-type]
        return "skipped_blank_value"
    return "triple"


def _relation(p: str, o: Term) -> str:
    """The relation key of a plain triple: canonical for the RDF/OWL built-ins, else the IRI."""
    if p in lab.DEFINITIONS:
        return DEFINITION
    if p in lab.COMMENTS:
        return COMMENT
    if p == SUBCLASS:
        return IS_A
    if p == EQUIVALENT:
        return SAME_AS
    if p == TYPE:
        return INSTANCE_OF
    return p

"""Sub-graphs into text through Jinja templates, in zh or en.

Triples are grouped by subject (the seed first, then in the order they were taken) and, within a
subject, by relation, so that a list reads as one sentence (``感冒的症状包括发热、咳嗽和乏力。`` /
``Symptoms of influenza include fever, cough and fatigue.``). Subjects whose only fact in the
sub-graph is the same relation to the same entity are written together, in sentences of at most
``GROUP`` subjects (``感冒、肺炎和胃炎的类别均为疾病。``), so that a graph where most entities carry one
fact reads as lists rather than as one line per entity. Each group is rendered by
``templates/kg/<lang>/<template>.j2`` with ``subject`` (a name, or the names of the subjects written
together), ``many`` (whether there are several), ``relation`` (the relation's name in ``lang``),
``kind`` (``list``, ``values``, ``value``, ``text``), ``objects`` (entity names or literal texts, without
closing punctuation; number ranges read ``1至2个月`` / ``1–2 months``; a list the source cut off ends
with 等 / "others"), ``prose`` (whether the objects are sentences) and ``lang``.

Which template: the relation (by IRI, local name or label) in the mapping of ``curate.kg.relations``
(the bundled ``templates/kg/relations.toml`` and a recipe's ``relations``) gives its template and its
words; else the canonical relations of ``rdf`` (``is_a``, ``definition``, ...) use the template of
their own name; else ``fallback``, which writes the relation's own name. A relation written by
``fallback`` whose name is not in the text's language (``part`` in Chinese text, ``主治`` in English) is
not written at all: ``Rendered.skipped`` lists its triples, and the reader ledgers them once per
relation. The sentences about one subject form a paragraph; ``kg/<lang>/document.j2`` joins them.

Language: ``zh``, ``en``, or ``auto``: each sub-graph in the language most of its entities have names
in (a tie goes to the graph's majority language). Chinese text has no spaces between Chinese
characters; English sentences start with a capital letter.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from typing import Any, NamedTuple

import jinja2

from curate.kg import labels as lab
from curate.kg import relations as rel
from curate.kg.graph import KG
from curate.kg.rdf import CANONICAL, COMMENT, DEFINITION, SYNONYM
from curate.kg.sample import Subgraph
from curate.text import templates

GROUP = 30  # subjects written together in one sentence at most
_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_RANGE = re.compile(r"(\d(?:[\d.]*\d)?\s*[%％]?)\s*-\s*(?=\d)")
_UNGROUPED = {SYNONYM, DEFINITION, COMMENT, "description"}  # facts that never read as a shared list


class Rendered(NamedTuple):
    """A sub-graph's text, its language, the templates used, the subjects written (entity indices) and
    the triples left out because their relation has no name in the text's language."""

    text: str
    lang: str
    templates: list[str]
    subjects: list[int]
    skipped: list[int]


class _Template(NamedTuple):
    id: str
    template: jinja2.Template
    words: str
    kind: str
    fallback: bool


class Verbaliser:
    """Writes sub-graphs of one graph as text; caches names and templates."""

    def __init__(self, kg: KG, relations: Mapping[str, Any] | rel.Relations | None = None, lang: str = "auto"):
        self.kg, self.lang = kg, lang
        self.relations = relations if isinstance(relations, rel.Relations) else rel.Relations(relations)
        self._templates: dict[tuple[int, str], _Template | None] = {}
        self._document: dict[str, jinja2.Template] = {}
        self.majority = self._majority() if lang == "auto" else lang

    def _majority(self) -> str:
        votes: Counter[str] = Counter()
        for e in self.kg.subjects():
            votes.update(self.kg.entity_langs(e) & {"zh", "en"})
        return "zh" if votes["zh"] > votes["en"] else "en"

    def language(self, sub: Subgraph) -> str:
        """The language ``sub`` is written in: most of its entity names and literal texts."""
        if self.lang != "auto":
            return self.lang
        kg = self.kg
        votes: Counter[str] = Counter()
        for e in {sub.seed, *(kg.head[t] for t in sub.triples), *(kg.tail[t] for t in sub.triples if kg.tail[t] >= 0)}:
            votes.update(kg.entity_langs(e) & {"zh", "en"})
        for t in sub.triples:
            lit = kg.literal(t)
            if lit is not None:
                votes[lab.language(lit.text, lit.lang)] += 1
        if votes["zh"] == votes["en"]:
            return self.majority
        return "zh" if votes["zh"] > votes["en"] else "en"

    def template(self, r: int, lang: str) -> _Template | None:
        """How relation ``r`` is written in ``lang``; ``None`` when its name is not in ``lang``."""
        key = (r, lang)
        if key not in self._templates:
            self._templates[key] = self._resolve(r, lang)
        return self._templates[key]

    def _resolve(self, r: int, lang: str) -> _Template | None:
        rk = self.kg.rel_keys[r]
        names = [rk, lab.local_name(rk), *(c[0] for c in self.kg.labels.get(rk, ()))]
        found = self.relations.find(*names)
        own = self.kg.rel_name(r, lang)
        if found is not None:
            tid, words, kind = found.template, found.words(lang) or own, found.kind
        else:
            tid, words, kind = (rk if rk in CANONICAL else "fallback"), own, "list"
        if not templates.exists(f"kg/{lang}/{tid}"):
            tid = "fallback"
        if tid in ("fallback", "attribute") and not _in_language(words, lang):
            return None
        return _Template(f"kg/{lang}/{tid}", templates.environment().get_template(f"kg/{lang}/{tid}.j2"), words,
                         kind, tid == "fallback")

    def __call__(self, sub: Subgraph) -> Rendered:
        """The text of one sub-graph."""
        kg, lang = self.kg, self.language(sub)
        # Subjects in the order the sampler reached them (the seed first); facts in load order, so
        # that a description precedes the lists and a star reads as its source wrote it.
        groups: dict[int, dict[int, list[str]]] = {sub.seed: {}}
        prose: dict[tuple[int, int], bool] = {}
        entity_tail: dict[tuple[int, int], int] = {}
        skipped: list[int] = []
        for t in sorted(sub.triples):
            h, r = kg.head[t], kg.rel[t]
            spec = self.template(r, lang)
            if spec is None:
                skipped.append(t)
                continue
            lit = kg.literal(t)
            value = _literal_text(lit.text, spec.kind, lang) if lit is not None else kg.name(kg.tail[t], lang)
            objects = groups.setdefault(h, {}).setdefault(r, [])
            if value not in objects:
                objects.append(value)
            prose[h, r] = prose.get((h, r), True) and lit is not None and _is_prose(lit.text)
            entity_tail[h, r] = kg.tail[t] if lit is None else -1
        used: set[str] = set()
        paragraphs = []
        alone = {r for by_rel in groups.values() for r in by_rel
                 if self.template(r, lang).id.rsplit("/", 1)[1] in _UNGROUPED}  # type: ignore[union-attr]
        for subjects, by_rel in _shared(groups, entity_tail, kg, alone):
            name = templates.join_list([kg.name(s, lang) for s in subjects], lang)
            sentences = []
            for r, objects in by_rel.items():
                spec = self.template(r, lang)
                assert spec is not None
                used.add(spec.id)
                if (subjects[0], r) in kg.partial and len(subjects) == 1:
                    objects = [*objects[:-1], objects[-1] + "等"] if lang == "zh" else [*objects, "others"]
                sentence = spec.template.render(subject=name, relation=spec.words, objects=objects,
                                                prose=prose[subjects[0], r], many=len(subjects) > 1,
                                                kind=spec.kind, lang=lang).strip()
                if sentence:
                    sentences.append(sentence if lang == "zh" else sentence[:1].upper() + sentence[1:])
            if sentences:
                paragraphs.append(sentences)
        body = self._document_template(lang).render(paragraphs=paragraphs).strip()
        if lang == "zh":
            body = _CJK_SPACE.sub("", body)
        written = [s for s, by_rel in groups.items() if by_rel]
        return Rendered(body, lang, sorted(used), written, skipped)

    def _document_template(self, lang: str) -> jinja2.Template:
        if lang not in self._document:
            self._document[lang] = templates.environment().get_template(f"kg/{lang}/document.j2")
        return self._document[lang]


def _shared(groups: dict[int, dict[int, list[str]]], entity_tail: dict[tuple[int, int], int], kg: KG,
            alone: set[int]) -> list[tuple[list[int], dict[int, list[str]]]]:
    """Paragraphs as ``(subjects, facts)``: subjects whose one fact is the same relation to the same
    entity share a paragraph (at the first one's place), in runs of at most ``GROUP``."""
    by_fact: dict[tuple[int, int], list[int]] = {}
    for s, by_rel in groups.items():
        if len(by_rel) == 1:
            (r, objects), = by_rel.items()
            x = entity_tail.get((s, r), -1)
            if len(objects) == 1 and x >= 0 and (s, r) not in kg.partial and r not in alone:
                by_fact.setdefault((r, x), []).append(s)
    lead: dict[int, list[int]] = {}
    absorbed: set[int] = set()
    for members in by_fact.values():
        if len(members) > 1:
            for i in range(0, len(members), GROUP):
                run = members[i:i + GROUP]
                lead[run[0]] = run
                absorbed.update(run[1:])
    out = []
    for s, by_rel in groups.items():
        if s not in absorbed and by_rel:
            out.append((lead.get(s, [s]), by_rel))
    return out


def _in_language(words: str, lang: str) -> bool:
    """Whether a relation's name can stand in text of ``lang`` (Chinese needs Chinese characters)."""
    has_han = bool(_HAN.search(words))
    return has_han if lang == "zh" else not has_han and bool(re.search(r"[A-Za-z]", words))


_SENTENCE_END = re.compile(r"[。！？]|[.!?](?:\s|$)")
_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def _literal_text(value: str, kind: str, lang: str) -> str:
    """A literal as one run of text without its closing punctuation (templates add their own), with
    relation names written in prose (``has_material_basis_in``) as words, and number ranges of values
    as they read (``1至2个月``, ``1–2 months``)."""
    value = _SNAKE.sub(lambda m: m[0].replace("_", " "), " ".join(value.split()))
    if kind in ("value", "values"):
        value = _RANGE.sub(r"\1至" if lang == "zh" else "\\1–", value)
    return templates.strip_end(value)


def _is_prose(value: str) -> bool:
    """Whether a literal reads as sentences rather than a value (``85%``, ``5-7天``)."""
    return len(value) > 40 or _SENTENCE_END.search(value.strip()) is not None

"""Readable names for entities and relations, chosen by language.

An entity's name comes, in order of preference, from

1. a label in the wanted language: ``rdfs:label`` and ``skos:prefLabel`` first, then exact synonyms
   (``oboInOwl:hasExactSynonym``, ``skos:altLabel``) and other synonym properties;
2. a label in English, then in any other language;
3. the entity's own name when it came from a table or entity record (``感冒``);
4. the local name of its IRI made readable (``.../has_symptom`` -> ``has symptom``), unless that
   local name is an opaque code (``DOID_1612``, ``C0004096``): such an entity has no name, and its
   triples are dropped with a ledger row rather than printed as codes.

A label's language is its tag's primary subtag (``zh-Hans`` -> ``zh``); untagged labels are
recognised as ``zh`` or ``en`` from their characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import unquote

from curate.text import normalise as text

RDFS = "http://www.w3.org/2000/01/rdf-schema#"
SKOS = "http://www.w3.org/2004/02/skos/core#"
OBO_IN_OWL = "http://www.geneontology.org/formats/oboInOwl#"
OBO = "http://purl.obolibrary.org/obo/"

# Properties whose literal values name their subject, with their rank (lower is preferred).
LABELS = {
    f"{RDFS}label": 0,
    f"{SKOS}prefLabel": 0,
    "http://schema.org/name": 1,
    "http://xmlns.com/foaf/0.1/name": 1,
    "http://purl.org/dc/terms/title": 1,
    "http://purl.org/dc/elements/1.1/title": 1,
}
# Synonyms name their subject too (rank 2, after labels), and are also stated as facts.
EXACT_SYNONYMS = {f"{OBO_IN_OWL}hasExactSynonym": 2, f"{SKOS}altLabel": 2}
OTHER_SYNONYMS = {f"{OBO_IN_OWL}hasRelatedSynonym": 3, f"{OBO_IN_OWL}hasNarrowSynonym": 3,
                  f"{OBO_IN_OWL}hasBroadSynonym": 3, f"{SKOS}hiddenLabel": 4}
DEFINITIONS = {f"{OBO}IAO_0000115", f"{SKOS}definition", "http://purl.org/dc/terms/description",
               "http://purl.org/dc/elements/1.1/description", "http://schema.org/description"}
COMMENTS = {f"{RDFS}comment"}

Label = tuple[str, str, int]  # (text, language code, rank)

_OPAQUE = re.compile(r"[A-Za-z]{0,12}[_:.\-]?\d[\d_.:\-]*|[A-Za-z]?[0-9a-fA-F\-]{8,}")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_LETTER = re.compile(r"[^\W\d_]")


def language(label_text: str, tag: str | None) -> str:
    """Language code of a label: its tag's primary subtag, else recognised from its characters."""
    if tag:
        return tag.split("-", 1)[0].lower()
    return text.detect_lang(label_text)


def local_name(iri: str) -> str:
    """The part of an IRI after its last ``#``, ``/`` or ``:``, percent-decoded."""
    cut = max(iri.rfind("#"), iri.rfind("/"))
    if cut < 0:
        cut = iri.rfind(":")
    return unquote(iri[cut + 1:])


def readable(name: str) -> str | None:
    """``has_symptom`` / ``hasSymptom`` -> ``has symptom``; ``None`` for opaque codes."""
    name = name.strip()
    if not name or _OPAQUE.fullmatch(name) or len(_LETTER.findall(name)) < 2:
        return None
    if text.detect_lang(name) == "zh":
        return name.replace("_", "")
    if "_" not in name and " " not in name and not name.isupper():
        name = _CAMEL.sub(" ", name).lower() if name[:1].islower() else _CAMEL.sub(" ", name)
    return re.sub(r"[_\s]+", " ", name).strip()


def choose(labels: Sequence[Label], lang: str) -> str | None:
    """The preferred label for ``lang`` (see module doc), or ``None`` when there is none."""
    best: tuple[int, int, int] | None = None
    chosen = None
    for i, (label_text, code, rank) in enumerate(labels):
        fit = 0 if code == lang else 1 if code == "en" else 2
        key = (fit, rank, i)
        if best is None or key < best:
            best, chosen = key, label_text
    return chosen


def languages(labels: Sequence[Label]) -> set[str]:
    """The language codes a set of labels covers."""
    return {code for _, code, _ in labels}

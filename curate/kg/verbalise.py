"""Sub-graphs into text through Jinja templates, in zh or en.

Triples are grouped by subject (the seed first, then in the order they were taken) and, within a
subject, by relation, so that a list reads as one sentence (``感冒的症状包括发热、咳嗽和乏力。`` /
``Symptoms of influenza include fever, cough and fatigue.``). Each group is rendered by
``templates/kg/<lang>/<template>.j2`` with ``subject``, ``relation`` (the relation's name),
``objects`` (names of the entity tails, or the literal texts, without closing punctuation),
``prose`` (whether the objects are sentences rather than names or values) and ``lang``.

Which template: the recipe's ``relations`` mapping (keyed by the relation's IRI, its local name or its
name: ``症状 = "symptom"``, ``has_symptom = "symptom"``); else the canonical relations of ``rdf``
(``is_a``, ``definition``, ...) use the template of their own name; else, and when a mapped template
does not exist in the language, ``fallback``. The sentences about one subject form a paragraph;
``kg/<lang>/document.j2`` joins the paragraphs.

Language: ``zh``, ``en``, or ``auto``: each sub-graph in the language most of its entities have names
in (a tie goes to the graph's majority language). Chinese text has no spaces between Chinese
characters; English sentences start with a capital letter.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping

import jinja2

from curate.kg import labels as lab
from curate.kg.graph import KG
from curate.kg.rdf import CANONICAL
from curate.kg.sample import Subgraph
from curate.text import templates

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"
_CJK_SPACE = re.compile(rf"(?<=[{_CJK}])[ \t]+(?=[{_CJK}])")


class Verbaliser:
    """Writes sub-graphs of one graph as text; caches names and templates."""

    def __init__(self, kg: KG, relations: Mapping[str, str], lang: str = "auto"):
        self.kg, self.relations, self.lang = kg, relations, lang
        self._templates: dict[tuple[int, str], tuple[str, jinja2.Template]] = {}
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

    def template(self, r: int, lang: str) -> tuple[str, jinja2.Template]:
        """Template id and compiled template for relation ``r`` in ``lang``."""
        cached = self._templates.get((r, lang))
        if cached is None:
            key = self.kg.rel_keys[r]
            names = [key, lab.local_name(key), *(c[0] for c in self.kg.labels.get(key, ()))]
            tid = next((self.relations[n] for n in names if n in self.relations), None)
            tid = tid or (key if key in CANONICAL else "fallback")
            if not templates.exists(f"kg/{lang}/{tid}"):
                tid = "fallback"
            cached = (f"kg/{lang}/{tid}", templates.environment().get_template(f"kg/{lang}/{tid}.j2"))
            self._templates[r, lang] = cached
        return cached

    def __call__(self, sub: Subgraph) -> tuple[str, str, list[str]]:
        """``(text, lang, template ids)`` of one sub-graph."""
        kg, lang = self.kg, self.language(sub)
        # Subjects in the order the sampler reached them (the seed first); facts in load order, so
        # that a description precedes the lists and a star reads as its source wrote it.
        groups: dict[int, dict[int, list[str]]] = {sub.seed: {}}
        for t in sub.triples:
            groups.setdefault(kg.head[t], {})
        prose: dict[tuple[int, int], bool] = {}
        for t in sorted(sub.triples):
            lit = kg.literal(t)
            value = _literal_text(lit.text) if lit is not None else kg.name(kg.tail[t], lang)
            objects = groups[kg.head[t]].setdefault(kg.rel[t], [])
            if value not in objects:
                objects.append(value)
            key = (kg.head[t], kg.rel[t])
            prose[key] = prose.get(key, True) and lit is not None and _is_prose(lit.text)
        used: set[str] = set()
        paragraphs = []
        for subject, by_rel in groups.items():
            name = kg.name(subject, lang)
            sentences = []
            for r, objects in by_rel.items():
                tid, tmpl = self.template(r, lang)
                used.add(tid)
                sentence = tmpl.render(subject=name, relation=kg.rel_name(r, lang), objects=objects,
                                       prose=prose[subject, r], lang=lang).strip()
                if sentence:
                    sentences.append(sentence if lang == "zh" else sentence[:1].upper() + sentence[1:])
            if sentences:
                paragraphs.append(sentences)
        body = self._document_template(lang).render(paragraphs=paragraphs).strip()
        if lang == "zh":
            body = _CJK_SPACE.sub("", body)
        return body, lang, sorted(used)

    def _document_template(self, lang: str) -> jinja2.Template:
        if lang not in self._document:
            self._document[lang] = templates.environment().get_template(f"kg/{lang}/document.j2")
        return self._document[lang]


_SENTENCE_END = re.compile(r"[。！？]|[.!?](?:\s|$)")


_SNAKE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


def _literal_text(value: str) -> str:
    """A literal as one run of text without its closing punctuation (templates add their own), and
    with relation names written in prose (``has_material_basis_in``) as words."""
    value = _SNAKE.sub(lambda m: m[0].replace("_", " "), " ".join(value.split()))
    return templates.strip_end(value)


def _is_prose(value: str) -> bool:
    """Whether a literal reads as sentences rather than a value (``85%``, ``5-7天``)."""
    return len(value) > 40 or _SENTENCE_END.search(value.strip()) is not None

"""Documents of a useful length from verbalised sub-graphs: small ones merged, big ones split.

A graph where most entities carry one or two facts gives one-line sub-graphs ("肛门反射减弱或消失的类别是
症状。"), too short to teach anything and dropped by any length rule. Given a target range
``[min_chars, max_chars]`` (0 turns a bound off):

- a sub-graph whose text is longer than ``max_chars`` is split at relation boundaries (a hub's star in
  pieces), or its one long list in halves, until each piece fits;
- sub-graphs shorter than ``min_chars`` are merged:

  1. those whose only fact is the same relation to the same entity (``X 类别 疾病``) are written
     together, their subjects listed (``感冒、肺炎和胃炎的类别均为疾病。``, see ``verbalise``), in pieces
     of at most ``max_chars``;
  2. the rest, and those pieces, are ordered by their anchor, the best connected entity they point at
     (so sub-graphs sharing a neighbour sit together: the acupoints that treat 头痛), and merged, in
     the same language, until a document reaches ``min_chars``; a merged document is written afresh
     from the union of its triples, so that a fact two sampled sub-graphs share reads once; a short
     remainder joins the document before it when that stays within ``max_chars``.

Only a graph (or a language) whose whole text is shorter than ``min_chars`` gives a short document.
Merged documents have scale ``merged``; their seed is the anchor. Every triple a sub-graph carried is
in exactly one of the documents made from it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from curate.kg.graph import KG
from curate.kg.sample import Subgraph
from curate.kg.verbalise import Rendered


@dataclass
class Doc:
    """One document: the sub-graph(s) it was made from and their text."""

    scale: str
    seed: int
    triples: list[int]
    text: str
    lang: str
    templates: list[str]
    subjects: list[int]
    skipped: list[int]
    parts: int = 1
    split: bool = False
    _anchor: int = field(default=-1, repr=False)


def _doc(sub: Subgraph, r: Rendered, split: bool = False) -> Doc:
    return Doc(sub.scale, sub.seed, list(sub.triples), r.text, r.lang, list(r.templates), list(r.subjects),
               list(r.skipped), split=split)


def _halves(kg: KG, triples: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Two halves of a sub-graph's triples, cut between (subject, relation) groups when it has several."""
    order = sorted(triples, key=lambda t: (kg.head[t], kg.rel[t], t))
    groups: list[list[int]] = []
    for t in order:
        if groups and (kg.head[groups[-1][0]], kg.rel[groups[-1][0]]) == (kg.head[t], kg.rel[t]):
            groups[-1].append(t)
        else:
            groups.append([t])
    if len(groups) == 1:
        mid = len(order) // 2
        return tuple(order[:mid]), tuple(order[mid:])
    total, acc, cut = len(order), 0, 1
    for i, g in enumerate(groups[:-1], 1):
        acc += len(g)
        cut = i
        if acc * 2 >= total:
            break
    return (tuple(t for g in groups[:cut] for t in g), tuple(t for g in groups[cut:] for t in g))


def _fit(kg: KG, sub: Subgraph, r: Rendered, verbalise: Callable[[Subgraph], Rendered], max_chars: int,
         split: bool = False) -> Iterator[Doc]:
    """``sub`` as it is, or split until every piece is at most ``max_chars`` long."""
    if not max_chars or len(r.text) <= max_chars or len(sub.triples) < 2:
        yield _doc(sub, r, split)
        return
    for half in _halves(kg, sub.triples):
        part = Subgraph(sub.scale, sub.seed, half)
        yield from _fit(kg, part, verbalise(part), verbalise, max_chars, True)


def _anchor(kg: KG, triples: list[int]) -> int:
    """The best connected entity the triples point at (ties: the first), or -1."""
    best, degree = -1, -1
    for t in triples:
        x = kg.tail[t]
        if x >= 0:
            d = kg.graph.degree(x)
            if d > degree:
                best, degree = x, d
    return best


def _grouped(kg: KG, small: list[Doc], verbalise: Callable[[Subgraph], Rendered], max_chars: int) -> list[Doc]:
    """Step 1: single-fact sub-graphs sharing (relation, entity) written together, in pieces."""
    by_fact: dict[tuple[int, int], list[Doc]] = {}
    rest: list[Doc] = []
    for d in small:
        facts = {(kg.rel[t], kg.tail[t]) for t in d.triples}
        heads = {kg.head[t] for t in d.triples}
        if len(facts) == 1 and len(heads) == 1 and next(iter(facts))[1] >= 0 and not d.skipped:
            by_fact.setdefault(next(iter(facts)), []).append(d)
        else:
            rest.append(d)
    out: list[Doc] = []
    budget = (max_chars or 1 << 30) - 40  # room for the sentence around the listed subjects
    for (_, x), members in by_fact.items():
        if len(members) == 1:
            rest.extend(members)
            continue
        runs: list[list[Doc]] = [[]]
        size = 0
        for d in members:
            est = sum(len(kg.name(s, d.lang)) + 1 for s in d.subjects)
            if runs[-1] and size + est > budget:
                runs.append([])
                size = 0
            runs[-1].append(d)
            size += est
        while runs:
            run = runs.pop(0)
            sub = Subgraph("merged", x, tuple(dict.fromkeys(t for m in run for t in m.triples)))
            merged = _doc(sub, verbalise(sub))
            if max_chars and len(merged.text) > max_chars and len(run) > 1:  # the estimate fell short
                runs[:0] = [run[:len(run) // 2], run[len(run) // 2:]]
                continue
            merged.parts, merged._anchor = len(run), x
            out.append(merged)
    return [*rest, *out]


def _union(kg: KG, docs: list[Doc], verbalise: Callable[[Subgraph], Rendered]) -> Doc:
    """One document of the triples of ``docs``, written afresh so that shared and repeated facts read once."""
    if len(docs) == 1:
        return docs[0]
    anchor = docs[0]._anchor
    sub = Subgraph("merged", anchor if anchor >= 0 else docs[0].seed,
                   tuple(dict.fromkeys(t for d in docs for t in d.triples)))
    joined = _doc(sub, verbalise(sub))
    joined.parts, joined._anchor = sum(d.parts for d in docs), anchor
    return joined


def _merge(kg: KG, units: list[Doc], verbalise: Callable[[Subgraph], Rendered], min_chars: int,
           max_chars: int) -> Iterator[Doc]:
    """Step 2: units ordered by anchor and merged, per language, until they reach ``min_chars``."""
    for u in units:
        if u._anchor < 0:
            u._anchor = _anchor(kg, u.triples)
    first_seen: dict[int, int] = {}
    for i, u in enumerate(units):
        first_seen.setdefault(u._anchor, i)
    for lang in dict.fromkeys(u.lang for u in units):
        ordered = [u for _, u in sorted(((i, u) for i, u in enumerate(units) if u.lang == lang),
                                        key=lambda p: (p[1]._anchor < 0, first_seen[p[1]._anchor], p[0]))]
        held: Doc | None = None
        batch: list[Doc] = []
        size = 0
        for u in ordered:
            batch.append(u)
            size += len(u.text) + 1
            if size < min_chars:
                continue
            merged = _union(kg, batch, verbalise)
            if len(merged.text) < min_chars:  # repeated facts read once: keep adding
                batch, size = [merged], len(merged.text)
                continue
            if held is not None:
                yield held
            held, batch, size = merged, [], 0
        if batch:
            rest = _union(kg, batch, verbalise)
            if held is not None and (not max_chars or len(held.text) + len(rest.text) + 1 <= max_chars):
                held = _union(kg, [held, rest], verbalise)
            else:
                if held is not None:
                    yield held
                held = rest
        if held is not None:
            yield held


def documents(kg: KG, subgraphs: Iterator[Subgraph], verbalise: Callable[[Subgraph], Rendered],
              min_chars: int = 0, max_chars: int = 0) -> Iterator[Doc]:
    """Documents of ``[min_chars, max_chars]`` characters where the graph allows (see module doc)."""
    small: list[Doc] = []
    for sub in subgraphs:
        for d in _fit(kg, sub, verbalise(sub), verbalise, max_chars):
            if min_chars and d.text and len(d.text) < min_chars:
                small.append(d)
            else:
                yield d
    if small:
        yield from _merge(kg, _grouped(kg, small, verbalise, max_chars), verbalise, min_chars, max_chars)

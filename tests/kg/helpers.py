"""Build small graphs for the kg tests: from statements, or from files through the loaders."""

from __future__ import annotations

from pathlib import Path

from curate.core.ledger import Ledger
from curate.kg import load, rdf, tables
from curate.kg.graph import KG, Builder
from curate.readers import kg as reader


def from_triples(triples: list[tuple[str, str, object]], relations=()) -> tuple[KG, Ledger]:
    """A graph of plain-name triples (as a TSV would give), all from file ``t.tsv``."""
    b = Builder(["t.tsv"])
    for h, r, t in triples:
        b.add(h, r, t, 0, False)
    ledger = Ledger("kg", "read")
    return b.finish(ledger, "kg", {*relations, *rdf.CANONICAL}), ledger


def from_files(paths: list[Path], fmt: str | None = None) -> tuple[KG, Ledger, Builder]:
    """A graph loaded from files as the reader loads them (default options)."""
    cfg = reader.Config()
    b = Builder([p.name for p in paths])
    ledger = Ledger("kg", "read")
    for i, p in enumerate(paths):
        load.load_file(p, p.name, i, b, ledger, "kg", fmt=fmt, skip=frozenset(cfg.skip_relations),
                       opts=tables.Options())
    return b.finish(ledger, "kg", set(rdf.CANONICAL)), ledger, b


def facts(kg: KG, lang: str = "en") -> set[tuple[str, str, str]]:
    """The graph's triples as (head name, relation key, tail name or literal text)."""
    out = set()
    for t in range(len(kg)):
        lit = kg.literal(t)
        tail = lit.text if lit is not None else kg.name(kg.tail[t], lang)
        out.add((kg.name(kg.head[t], lang), kg.rel_keys[kg.rel[t]], tail))
    return out

"""Streaming aggregates for the build report: fixed-bin histograms, ledger tallies, sample texts.

Everything here reads Parquet in record batches and keeps only fixed-size state (bin counts, top-k
lists, counters over a bounded vocabulary of reasons and types), so the report of a billion-document
build needs the memory of a small one. Histogram bins are fixed in advance (eight per decade for
lengths, fifty over [0, 1] for shares), which also makes two builds' histograms comparable.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

T = TypeVar("T")
BATCH = 65_536
LOG_EDGES = 10.0 ** (np.arange(0, 73) / 8)  # 1 .. 1e9, eight bins per decade
SHARE_EDGES = np.linspace(0.0, 1.0, 51)


@dataclass
class Hist:
    """Counts over fixed bin edges; index 0 holds values below ``edges[0]``, the last values at or above
    ``edges[-1]``."""

    edges: np.ndarray
    counts: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.counts = np.zeros(len(self.edges) + 1, np.int64)

    def add(self, values: np.ndarray) -> None:
        """Count a batch of values (NaN ignored)."""
        values = np.asarray(values, np.float64)
        values = values[~np.isnan(values)]
        self.counts += np.bincount(np.searchsorted(self.edges, values, side="right"), minlength=len(self.counts))

    @property
    def total(self) -> int:
        """Values counted."""
        return int(self.counts.sum())

    def steps(self) -> list[tuple[float, float]]:
        """``(x, share)`` outline points: the first bin's left edge at 0, then each bin's right edge, trimmed
        to the bins in use (values below the first edge are drawn in the first bin)."""
        inner = self.counts[1:-1].astype(np.float64)
        inner[0] += self.counts[0]
        inner[-1] += self.counts[-1]
        used = np.flatnonzero(inner)
        if not used.size or not self.total:
            return []
        lo, hi = used[0], used[-1]
        shares = inner / self.total
        return [(float(self.edges[lo]), 0.0), *((float(self.edges[i + 1]), round(float(shares[i]), 6))
                                                  for i in range(lo, hi + 1))]

    def quantile(self, q: float) -> float:
        """The upper edge of the bin holding quantile ``q`` (an upper bound, within one bin)."""
        if not self.total:
            return 0.0
        i = int(np.searchsorted(np.cumsum(self.counts), q * self.total))
        return float(self.edges[min(max(i, 0), len(self.edges) - 1)])


def batches(paths: Iterable[Path], columns: list[str] | None) -> Iterator[pa.RecordBatch]:
    """Record batches of ``columns`` (None: all) from every file that has them all."""
    for path in paths:
        pf = pq.ParquetFile(path)
        if columns is None or all(c in pf.schema_arrow.names for c in columns):
            yield from pf.iter_batches(batch_size=BATCH, columns=columns)


def per_file(fn: Callable[[Path], T], paths: Iterable[Path]) -> Iterator[T]:
    """``fn`` of each file, in order, computed by one thread per core a few files ahead (reading a report's
    shards is mostly decompression, which Arrow does without the GIL); files past where the caller stops
    are not read."""
    paths = list(paths)
    workers = min(len(paths), os.cpu_count() or 1)
    if workers < 2:
        yield from map(fn, paths)
        return
    with ThreadPoolExecutor(workers) as pool:
        ahead = iter(paths)
        pending = deque(pool.submit(fn, p) for p in itertools.islice(ahead, 2 * workers))
        try:
            while pending:
                result = pending.popleft().result()
                if (nxt := next(ahead, None)) is not None:
                    pending.append(pool.submit(fn, nxt))
                yield result
        finally:
            for future in pending:
                future.cancel()


def texts(paths: Iterable[Path], ids: set[str], limit: int = 2000) -> dict[str, str]:
    """The first ``limit`` characters of the records ``ids``, looked up in record shards ``paths``: the
    ``id`` column first, then the text of only the row groups that hold one."""
    found: dict[str, str] = {}
    if not ids:
        return found
    wanted = pa.array(sorted(ids), pa.string())
    for hits in per_file(functools.partial(_texts_in, wanted=wanted, limit=limit), paths):
        found.update(hits)
        if len(found) == len(ids):
            break
    return found


def _texts_in(path: Path, wanted: pa.Array, limit: int) -> dict[str, str]:
    """The records of one shard whose ids are ``wanted``: their first ``limit`` characters."""
    found: dict[str, str] = {}
    pf = pq.ParquetFile(path)
    if not {"id", "text"} <= set(pf.schema_arrow.names):
        return found
    for group in range(pf.num_row_groups):
        hit = pc.is_in(pf.read_row_group(group, columns=["id"]).column("id"), value_set=wanted)
        if pc.any(hit).as_py():
            sub = pf.read_row_group(group, columns=["id", "text"]).filter(hit)
            for rid, text in zip(sub.column("id").to_pylist(), sub.column("text").to_pylist(), strict=True):
                found[rid] = (text or "")[:limit]
    return found


_BENCHMARK = re.compile(r"benchmark=(\S+)")
_ITEM = re.compile(r"item=(\S+)")
_NGRAM = re.compile(r"ngram='(.*)'$", re.S)
_PMID = re.compile(r"pmid=(\S+)")
_PHI = re.compile(r"([A-Z_]+)=(\d+)")
MAX_NGRAMS = 20  # matched n-grams shown per benchmark


@dataclass
class LedgerTallies:
    """What the report needs from the ledger beyond the manifest's counts."""

    hits: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # step -> benchmark -> n
    hits_by_source: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # bench -> src -> n
    ngrams: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # benchmark -> n-gram -> n
    examples: dict[tuple[str, str], tuple[str, str]] = field(default_factory=dict)  # (bench, ngram) -> (id, item)
    pmids: Counter = field(default_factory=Counter)  # benchmark -> PMID hits
    phi: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # type -> source -> n
    phi_records: Counter = field(default_factory=Counter)  # source -> records with a replacement
    modified: dict[str, Counter] = field(default_factory=lambda: defaultdict(Counter))  # source -> "step/reason"

    def top_ngrams(self, benchmark: str) -> list[dict[str, Any]]:
        """The most frequent matched n-grams of a benchmark, with one record and item each."""
        rows = sorted(self.ngrams[benchmark].items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_NGRAMS]
        return [{"ngram": g, "hits": n, "id": self.examples[benchmark, g][0], "item": self.examples[benchmark, g][1]}
                for g, n in rows]


def _add_hit(t: LedgerTallies, step: str, source: str, rid: str, detail: str) -> None:
    bench = m.group(1) if (m := _BENCHMARK.search(detail)) else "unknown"
    t.hits[step][bench] += 1
    t.hits_by_source[bench][source] += 1
    if (g := _NGRAM.search(detail)) is not None:
        gram = g.group(1)
        t.ngrams[bench][gram] += 1
        item = i.group(1) if (i := _ITEM.search(detail)) else ""
        t.examples.setdefault((bench, gram), (rid, item))
    elif _PMID.search(detail):
        t.pmids[bench] += 1


def ledger_tallies(ledger: Path | None, hit_steps: tuple[str, ...] = ("decontam", "guard")) -> LedgerTallies:
    """Contamination hits (benchmark, n-gram), PHI replacements by type and modifications, from the ledger."""
    t = LedgerTallies()
    if ledger is None:
        return t
    wanted = pa.array([*hit_steps, "scrub"], pa.string())
    for batch in batches([ledger], ["id", "source", "step", "action", "reason", "detail"]):
        for source, step, reason, n in _modify_counts(batch):
            t.modified[source][f"{step}/{reason}"] += n
        sub = batch.filter(pc.is_in(batch.column("step"), value_set=wanted))
        for rid, source, step, detail in zip(*(sub.column(c).to_pylist() for c in ("id", "source", "step", "detail")),
                                            strict=True):
            if step == "scrub":
                t.phi_records[source] += 1
                for kind, n in _PHI.findall(detail or ""):
                    t.phi[kind][source] += int(n)
            else:
                _add_hit(t, step, source, rid, detail or "")
    return t


def _modify_counts(batch: pa.RecordBatch) -> list[tuple[str, str, str, int]]:
    sub = batch.filter(pc.equal(batch.column("action"), "modify"))
    if not sub.num_rows:
        return []
    grouped = pa.table(sub.select(["source", "step", "reason"])).group_by(["source", "step", "reason"]).aggregate(
        [([], "count_all")])
    return list(zip(*(grouped[c].to_pylist() for c in ("source", "step", "reason", "count_all")), strict=True))


def funnel(records_in: int, dropped: dict[str, dict[str, int]], steps: list[str]) -> list[dict[str, Any]]:
    """Records left after each step (in the build's step order), with that step's drops per reason."""
    order = steps + sorted(s for s in dropped if s not in steps)
    rows, left = [], records_in
    for step in order:
        reasons = dict(sorted(dropped.get(step, {}).items(), key=lambda kv: (-kv[1], kv[0])))
        left -= sum(reasons.values())
        rows.append({"step": step, "dropped": reasons, "left": left})
    return rows

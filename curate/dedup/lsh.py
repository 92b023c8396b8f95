"""Near dedup's reduce in bounded memory: band buckets, candidate pairs, verification, components.

The map (``near.signature_step``) stores each document's signature as one column per permutation
(``s000`` ...), so a phase reads only the columns it needs. Documents are numbered by their place in
the build (shard order, then row order): ``gidx``. The phases, each a list of tasks over tables:

1. ``alive`` (per range of map files): which documents take part (a signature, and not removed by
   quality or exact dedup), reading the earlier steps' drop tables one at a time;
2. ``buckets`` (per band group, and per key-hash partition when one band is too big): documents
   with equal band keys are candidate pairs ``(member, first member)``, the first being the
   smallest ``gidx`` of the bucket; memory: the keys of its bands only;
3. ``merge_pairs``: the distinct candidate pairs (memory: the pairs);
4. ``counts`` (per group of permutations): equal signature entries of every pair on those
   permutations; their sum over all groups divided by the permutation count is the MinHash
   estimate of Jaccard similarity (memory: the group's columns of the documents in a pair, and the pairs);
5. ``components``: verified pairs (estimate at or above the threshold, exact shingle Jaccard, or
   all), connected components over the pairs alone (``scipy.sparse.csgraph``, never over all
   documents), the keep rule over the members of each component; emits (dropped, kept) pairs;
6. ``counts`` again over (dropped, kept), then ``finish``: the drop table with
   ``duplicate_of=<kept> jaccard=<estimate>`` and the report.

No phase holds more than a bounded slice of the corpus: band keys of one band group, signature
columns of one permutation group, and the pairs (which grow with the duplicates, not the corpus).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.core import shards
from curate.core.tasks import Tables
from curate.dedup import minhash
from curate.dedup.near import KEEP_ORDER, NearDedupConfig, report

if TYPE_CHECKING:  # polars is imported where it is used: a build's driver imports this module to plan,
    import polars as pl  # and a build without this step never needs polars

IDS_PER_TASK = 4_000_000  # document ids one alive task holds (its map files' ids)
KEYS_PER_TASK = 32_000_000  # band keys one bucket task holds (16 bytes each with its index)
VALUES_PER_TASK = 128_000_000  # signature entries of paired documents one counts task holds (4 bytes each)
# The bucket and counts phases are cut into at least this many tasks (band groups, permutation groups), so
# that two workers share them instead of one working while the other waits; the outputs do not depend on it.
MIN_SPLIT = 2
PAIRS = pa.schema([("a", pa.int64()), ("b", pa.int64())])


def sig_column(i: int) -> str:
    """The column of permutation ``i``."""
    return f"s{i:03d}"


def _offsets(tables: Tables) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(tables.rows()))).astype(np.int64)


def alive_plan(rows: list[int], tasks: int | None = None) -> list[tuple[int, int]]:
    """Consecutive ranges ``[start, stop)`` of the map files, one per ``alive`` task, each holding about
    the same number of ids (at most ``IDS_PER_TASK`` unless ``tasks`` is set)."""
    total = sum(rows)
    tasks = max(1, min(len(rows), tasks or math.ceil(total / IDS_PER_TASK)))
    if not rows:
        return [(0, 0)]
    bounds = np.searchsorted(np.cumsum(rows), np.arange(1, tasks) * total / tasks, side="left") + 1
    edges = sorted({0, *(int(b) for b in bounds if 0 < b < len(rows)), len(rows)})
    return list(itertools.pairwise(edges))


def removed_ids(ids: pa.Array, drops: Tables) -> np.ndarray:
    """Which of ``ids`` some drop table lists, reading the tables one at a time (never all removed ids
    at once: each table is bounded, a shard's quality drops or one exact-dedup partition)."""
    hit = np.zeros(len(ids), dtype=bool)
    if not len(ids):
        return hit
    for t in drops:
        if t.num_rows:
            hit |= pc.is_in(ids, value_set=t["id"].combine_chunks()).to_numpy(zero_copy_only=False)
    return hit


def alive(groups: list[Tables], cfg: NearDedupConfig) -> tuple[pa.Table, dict]:
    """Per document of this task's map files (``gidx`` order): takes part in near dedup. Groups: signature
    maps (``id, has_sig``), drop tables of earlier steps (``id``)."""
    maps, drops = groups
    tables = list(maps)
    if not tables or not sum(t.num_rows for t in tables):
        return pa.table({"alive": pa.array([], pa.bool_())}), {"documents": 0, "signed": 0}
    ids = pa.concat_arrays([t["id"].combine_chunks() for t in tables if t.num_rows])
    signed = np.concatenate([t["has_sig"].to_numpy(zero_copy_only=False) for t in tables if t.num_rows])
    kept = ~removed_ids(ids, drops)
    column = kept & signed
    stats = {"documents": int(kept.sum()), "signed": int(column.sum())}
    return pa.table({"alive": pa.array(column, pa.bool_())}), stats


@dataclass(frozen=True)
class BucketConfig:
    """The bands of one bucket task and its key-hash partition."""

    bands: tuple[int, ...]
    rows: int
    part: int = 0
    parts: int = 1


def bucket_plan(n: int, bands: int, rows: int, tasks: int | None = None) -> list[BucketConfig]:
    """Bucket tasks for ``n`` documents: band groups, and key partitions when one band is too big."""
    tasks = tasks or max(MIN_SPLIT, math.ceil(n * bands / KEYS_PER_TASK))
    if tasks <= bands:
        groups = np.array_split(np.arange(bands), tasks)
        return [BucketConfig(tuple(int(b) for b in g), rows) for g in groups if len(g)]
    parts = math.ceil(tasks / bands)
    return [BucketConfig((b,), rows, p, parts) for b in range(bands) for p in range(parts)]


def _band_key(columns: list[np.ndarray], band: int) -> np.ndarray:
    """``minhash.band_keys`` of one band, from its rows' signature columns."""
    with np.errstate(over="ignore"):
        acc = np.full(len(columns[0]) if columns else 0, band + 1, dtype=np.uint64)
        for col in columns:
            acc = minhash.fmix(acc * minhash.P + col.astype(np.uint64), 64)
    return acc


def buckets(groups: list[Tables], cfg: BucketConfig) -> tuple[pa.Table, dict]:
    """Candidate pairs of this task's bands. Groups: signature maps (this task's columns), alive."""
    maps, alive_t = groups
    live = np.flatnonzero(alive_t.all()["alive"].to_numpy(zero_copy_only=False))
    n = sum(maps.rows())
    keys = {b: np.empty(n, np.uint64) for b in cfg.bands}  # filled in place: no per-file copies to join
    offset = 0
    for t in maps:
        for b in cfg.bands:
            cols = [t[sig_column(b * cfg.rows + r)].to_numpy() for r in range(cfg.rows)]
            keys[b][offset:offset + t.num_rows] = _band_key(cols, b)
        offset += t.num_rows
    found = []
    for b in cfg.bands:
        k = keys.pop(b)[live]
        idx = live
        if cfg.parts > 1:
            mine = (k % np.uint64(cfg.parts)) == np.uint64(cfg.part)
            k, idx = k[mine], idx[mine]
        found.append(_pairs_of_band(k, idx))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    pairs = np.unique(pairs, axis=0) if len(pairs) else pairs
    return _pairs_table(pairs), {"pairs": len(pairs)}


def _pairs_of_band(keys: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``(member, first member)`` pairs of every bucket with two or more documents (``near.candidate_pairs``
    for one band, in ``gidx``)."""
    n = len(keys)
    if n == 0:
        return np.zeros((0, 2), np.int64)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    first = np.ones(n, dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    bucket_start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
    return np.stack([idx[order[~first]], idx[order[bucket_start[~first]]]], axis=1).astype(np.int64)


def _pairs_table(pairs: np.ndarray) -> pa.Table:
    return pa.Table.from_arrays([pa.array(pairs[:, 0], pa.int64()), pa.array(pairs[:, 1], pa.int64())],
                                schema=PAIRS)


def _pairs(table: pa.Table | None) -> np.ndarray:
    if table is None or table.num_rows == 0:
        return np.zeros((0, 2), np.int64)
    return np.stack([table["a"].to_numpy(), table["b"].to_numpy()], axis=1)


def merge_pairs(groups: list[Tables], cfg: object = None) -> tuple[pa.Table, dict]:
    """The distinct candidate pairs of every bucket task."""
    (parts,) = groups
    found = [_pairs(t) for t in parts]
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    pairs = np.unique(pairs, axis=0) if len(pairs) else pairs
    return _pairs_table(pairs), {"candidates": len(pairs)}


def count_plan(n: int, num_perm: int, tasks: int | None = None) -> list[tuple[int, ...]]:
    """Permutation groups of the counts tasks over pairs among ``n`` documents (at most twice the pairs)."""
    per = max(1, VALUES_PER_TASK // max(1, n))
    tasks = tasks or max(MIN_SPLIT, math.ceil(num_perm / per))
    return [tuple(int(c) for c in g) for g in np.array_split(np.arange(num_perm), min(tasks, num_perm))]


def _rows_of(maps: Tables, nodes: np.ndarray, columns: list[str]) -> np.ndarray:
    """The ``columns`` of the documents ``nodes`` (sorted ``gidx``), read file by file: a matrix with one row
    per node, so that memory follows the pairs, not the corpus."""
    matrix = np.empty((len(nodes), len(columns)), np.uint32)
    offset = 0
    for t in maps:
        lo, hi = np.searchsorted(nodes, [offset, offset + t.num_rows])
        if hi > lo:
            rows = pa.array(nodes[lo:hi] - offset)
            for j, c in enumerate(columns):
                matrix[lo:hi, j] = t[c].take(rows).to_numpy()
        offset += t.num_rows
    return matrix


def counts(groups: list[Tables], columns: tuple[int, ...]) -> tuple[pa.Table, dict]:
    """Equal signature entries of every pair on the permutations ``columns``. Groups: maps, pairs."""
    maps, pairs_t = groups
    pairs = _pairs(pairs_t.all())
    nodes = np.unique(pairs.ravel())
    matrix = _rows_of(maps, nodes, [sig_column(c) for c in columns])
    local = np.searchsorted(nodes, pairs)
    eq = np.zeros(len(pairs), np.uint16)
    for start in range(0, len(pairs), 100_000):  # bounded memory for the pair x permutation comparison
        chunk = local[start:start + 100_000]
        eq[start:start + len(chunk)] = (matrix[chunk[:, 0]] == matrix[chunk[:, 1]]).sum(axis=1)
    return pa.table({"eq": pa.array(eq, pa.uint16())}), {"pairs": len(pairs)}


def _equal(count_tables: Tables) -> np.ndarray | None:
    total = None
    for t in count_tables:
        eq = t["eq"].to_numpy().astype(np.int64)
        total = eq if total is None else total + eq
    return total


def exact_verify(groups: list[Tables], cfg: NearDedupConfig) -> tuple[pa.Table, dict]:
    """Exact shingle Jaccard at or above the threshold, per candidate pair. Groups: maps (shingles), pairs."""
    maps, pairs_t = groups
    pairs = _pairs(pairs_t.all())
    need = np.unique(pairs.ravel())
    sets: dict[int, np.ndarray] = {}
    offset = 0
    for t in maps:
        rows = need[(need >= offset) & (need < offset + t.num_rows)]
        values = t["shingles"].take(pa.array(rows - offset)).to_pylist() if len(rows) else []
        sets.update((int(g), np.asarray(v, np.uint32)) for g, v in zip(rows, values, strict=True))
        offset += t.num_rows
    ok = []
    for a, b in pairs.tolist():
        sa, sb = sets[a], sets[b]
        inter = len(np.intersect1d(sa, sb, assume_unique=True))
        ok.append(inter / max(1, len(sa) + len(sb) - inter) >= cfg.minhash.threshold)
    return pa.table({"ok": pa.array(ok, pa.bool_())}), {}


def _members(maps: Tables, nodes: np.ndarray) -> pl.DataFrame:
    """``gidx, id, rank, quality, length`` of the documents ``nodes`` (sorted), read file by file."""
    import polars as pl
    frames, offset = [], 0
    for t in maps:
        rows = nodes[(nodes >= offset) & (nodes < offset + t.num_rows)]
        if len(rows):
            part = pl.from_arrow(t.select(["id", "rank", "quality", "length"]).take(pa.array(rows - offset)))
            frames.append(part.with_columns(pl.Series("gidx", rows)))
        offset += t.num_rows
    schema = {"id": pl.String, "rank": pl.Int32, "quality": pl.Float32, "length": pl.Int32, "gidx": pl.Int64}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def components(groups: list[Tables], cfg: NearDedupConfig) -> tuple[pa.Table, dict]:
    """Verified pairs -> connected components -> (dropped, kept) per member. Groups: pairs, verification
    (count tables, or one exact-verification table), maps (``id, rank, quality, length``)."""
    import polars as pl
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    pairs_t, verification, maps = groups
    pairs = _pairs(pairs_t.all())
    if cfg.verify == "estimate":
        eq = _equal(verification)
        pairs = pairs[(eq / cfg.minhash.num_perm) >= cfg.minhash.threshold] if eq is not None else pairs[:0]
    elif cfg.verify == "exact":
        ok = verification.all()
        pairs = pairs[ok["ok"].to_numpy(zero_copy_only=False)] if ok is not None else pairs[:0]
    nodes = np.unique(pairs.ravel())
    local = np.searchsorted(nodes, pairs)
    graph = coo_matrix((np.ones(len(pairs), np.int8), (local[:, 0], local[:, 1])), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    members = _members(maps, nodes).with_columns(pl.Series("label", labels.astype(np.int64)))
    ranked = members.sort(["label", *cfg.keep], descending=[False, *(KEEP_ORDER[k] for k in cfg.keep)]).with_columns(
        pl.col("id").first().over("label").alias("kept"), pl.col("gidx").first().over("label").alias("kept_gidx"),
        pl.int_range(pl.len()).over("label").alias("n"))
    dropped = ranked.filter(pl.col("n") > 0).select("id", "kept", pl.col("gidx").alias("a"),
                                                   pl.col("kept_gidx").alias("b"))
    return dropped.to_arrow(), {"verified": len(pairs)}


@dataclass(frozen=True)
class FinishConfig:
    """The near-dedup config and the counts of earlier phases, for the report."""

    near: NearDedupConfig
    documents: int
    signed: int
    candidates: int
    verified: int


def finish(groups: list[Tables], cfg: FinishConfig) -> tuple[pa.Table, dict]:
    """The drop table and the report. Groups: (dropped, kept) pairs, their count tables."""
    import polars as pl
    dropped_t, count_tables = groups
    table = dropped_t.all()
    dropped = pl.from_arrow(table) if table is not None else pl.DataFrame(
        schema={"id": pl.String, "kept": pl.String, "a": pl.Int64, "b": pl.Int64})
    eq = _equal(count_tables)
    jaccard = eq / cfg.near.minhash.num_perm if eq is not None else np.zeros(0)
    dropped = dropped.with_columns(pl.Series("jaccard", jaccard, pl.Float64))
    drops = dropped.select(
        "id", pl.lit("near_duplicate").alias("reason"),
        pl.format("duplicate_of={} jaccard={}", pl.col("kept"), pl.col("jaccard").round(2)).alias("detail"),
    ).sort("id")
    sizes = dropped.group_by("kept").agg((pl.len() + 1).alias("size"))
    bands, rows = minhash.bands_rows(cfg.near.minhash)
    rep = report(sizes, dropped, cfg.near, bands, rows, cfg.documents, cfg.signed, cfg.candidates, cfg.verified)
    return shards.drops_table(drops.to_arrow()), {"report": rep}

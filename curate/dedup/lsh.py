"""Near dedup's reduce in bounded memory: band buckets, candidate pairs, verification, components.

The map (``near.signature_step``) stores each document's signature as one column per permutation
(``s000`` ...), so a phase reads only the columns it needs. Documents are numbered by their place in
the build (shard order, then row order): ``gidx``. The phases, each a list of tasks over tables:

1. ``buckets`` (per band group, and per key-hash partition when one band is too big): documents
   with equal band keys are candidate pairs ``(member, first member)``, the first being the
   smallest ``gidx`` of the bucket; memory: the keys of its bands only. Only the documents that take
   part count (a signature, and not removed by quality or exact dedup): each bucket task finds them
   itself when every id fits one task, else a phase ``alive`` (per range of map files) finds them
   first, reading the earlier steps' drop tables one at a time;
2. ``columns`` (per group of permutations): the distinct candidate pairs (every bucket task's, merged),
   and the group's signature columns of every document in a pair (memory: those columns of the paired
   documents, and the pairs); with ``verify = "exact"`` one more task checks the shingle Jaccard;
3. ``components``: equal signature entries of every pair, summed group by group (divided by the
   permutation count: the MinHash estimate of Jaccard similarity); verified pairs (estimate at or
   above the threshold, exact shingle Jaccard, or all); connected components over the pairs alone
   (never over all documents); the keep rule over the members of each component; the estimate of
   each (dropped, kept) pair from the same columns; the drop table with
   ``duplicate_of=<kept> jaccard=<estimate>`` and the report.

No phase holds more than a bounded slice of the corpus: band keys of one band group, signature
columns of one permutation group of the paired documents, and the pairs (which grow with the
duplicates, not the corpus).
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
DROPS_PER_PROBE = 1_000_000  # removed ids gathered from drop tables before one membership probe
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
    """Which of ``ids`` some drop table lists, reading the tables one at a time and probing once per
    ``DROPS_PER_PROBE`` listed ids (never all removed ids at once: each table is bounded, a shard's quality
    drops or one exact-dedup partition)."""
    hit = np.zeros(len(ids), dtype=bool)
    if not len(ids):
        return hit
    held: list[pa.Array] = []

    def probe() -> None:
        listed = pa.concat_arrays(held)
        hit[pc.is_in(ids, value_set=listed).to_numpy(zero_copy_only=False)] = True
        held.clear()

    for t in drops:
        if t.num_rows:
            column = t["id"].combine_chunks()
            held.append(column if column.type == ids.type else column.cast(ids.type))
            if sum(len(c) for c in held) >= DROPS_PER_PROBE:
                probe()
    if held:
        probe()
    return hit


def _alive_of(ids: pa.Array, signed: np.ndarray, drops: Tables) -> tuple[np.ndarray, dict]:
    kept = ~removed_ids(ids, drops)
    column = kept & signed
    return column, {"documents": int(kept.sum()), "signed": int(column.sum())}


def alive(groups: list[Tables], cfg: NearDedupConfig) -> tuple[pa.Table, dict]:
    """Per document of this task's map files (``gidx`` order): takes part in near dedup. Groups: signature
    maps (``id, has_sig``), drop tables of earlier steps (``id``)."""
    maps, drops = groups
    tables = [t for t in maps if t.num_rows]
    if not tables:
        return pa.table({"alive": pa.array([], pa.bool_())}), {"documents": 0, "signed": 0}
    ids = pa.concat_arrays([t["id"].combine_chunks() for t in tables])
    signed = np.concatenate([t["has_sig"].to_numpy(zero_copy_only=False) for t in tables])
    column, stats = _alive_of(ids, signed, drops)
    return pa.table({"alive": pa.array(column, pa.bool_())}), stats


@dataclass(frozen=True)
class BucketConfig:
    """The bands of one bucket task and its key-hash partition; ``alive``: the task finds the documents that
    take part itself (its maps carry ``id, has_sig`` too, and its second group is the earlier drop tables)."""

    bands: tuple[int, ...]
    rows: int
    part: int = 0
    parts: int = 1
    alive: bool = False

    def columns(self) -> tuple[str, ...]:
        """The map columns this task reads."""
        sigs = tuple(sig_column(b * self.rows + r) for b in self.bands for r in range(self.rows))
        return (*sigs, "id", "has_sig") if self.alive else sigs


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
    """Candidate pairs of this task's bands. Groups: signature maps (this task's columns), and alive (or,
    with ``cfg.alive``, the drop tables of earlier steps)."""
    maps, second = groups
    n = sum(maps.rows())
    keys = {b: np.empty(n, np.uint64) for b in cfg.bands}  # filled in place: no per-file copies to join
    ids, signed = [], []
    offset = 0
    for t in maps:
        for b in cfg.bands:
            cols = [t[sig_column(b * cfg.rows + r)].to_numpy() for r in range(cfg.rows)]
            keys[b][offset:offset + t.num_rows] = _band_key(cols, b)
        if cfg.alive and t.num_rows:
            ids.append(t["id"].combine_chunks())
            signed.append(t["has_sig"].to_numpy(zero_copy_only=False))
        offset += t.num_rows
    stats: dict = {}
    if cfg.alive:
        column, stats = _alive_of(pa.concat_arrays(ids), np.concatenate(signed), second) if ids else (
            np.zeros(0, bool), {"documents": 0, "signed": 0})
        live = np.flatnonzero(column)
    else:
        live = np.flatnonzero(second.all()["alive"].to_numpy(zero_copy_only=False))
    found = []
    for b in cfg.bands:
        k = keys.pop(b)[live]
        idx = live
        if cfg.parts > 1:
            mine = (k % np.uint64(cfg.parts)) == np.uint64(cfg.part)
            k, idx = k[mine], idx[mine]
        found.append(_pairs_of_band(k, idx))
    pairs = _distinct(np.concatenate(found) if found else np.zeros((0, 2), np.int64))
    return _pairs_table(pairs), {**stats, "pairs": len(pairs)}


def _pairs_of_band(keys: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``(member, first member)`` pairs of every bucket with two or more documents (``near.candidate_pairs``
    for one band, in ``gidx``; ``idx`` ascending)."""
    n = len(keys)
    if n == 0:
        return np.zeros((0, 2), np.int64)
    order = np.argsort(keys)  # not stable (several times faster): shared keys are few, ordered below
    sorted_keys = keys[order]
    same = sorted_keys[1:] == sorted_keys[:-1]
    shared = np.zeros(n, dtype=bool)
    shared[1:] |= same
    shared[:-1] |= same
    members, bucket = order[shared], sorted_keys[shared]
    resort = np.lexsort((members, bucket))  # each bucket's members in input order: its first is its smallest
    members, bucket = members[resort], bucket[resort]
    first = np.ones(len(bucket), dtype=bool)
    first[1:] = bucket[1:] != bucket[:-1]
    bucket_start = np.maximum.accumulate(np.where(first, np.arange(len(bucket)), 0))
    return np.stack([idx[members[~first]], idx[members[bucket_start[~first]]]], axis=1).astype(np.int64)


def _distinct(pairs: np.ndarray) -> np.ndarray:
    """The distinct pairs in ``(a, b)`` order (``np.unique(axis=0)``, through one int64 key per pair)."""
    if not len(pairs):
        return np.zeros((0, 2), np.int64)
    span = int(pairs.max()) + 1
    if span > 3_037_000_499:  # a * span + b would overflow int64
        return np.unique(pairs, axis=0)
    keys = np.unique(pairs[:, 0] * span + pairs[:, 1])
    return np.stack([keys // span, keys % span], axis=1)


def _pairs_table(pairs: np.ndarray) -> pa.Table:
    return pa.Table.from_arrays([pa.array(pairs[:, 0], pa.int64()), pa.array(pairs[:, 1], pa.int64())],
                                schema=PAIRS)


def _pairs(table: pa.Table | None) -> np.ndarray:
    if table is None or table.num_rows == 0:
        return np.zeros((0, 2), np.int64)
    return np.stack([table["a"].to_numpy(), table["b"].to_numpy()], axis=1)


def merged_pairs(parts: Tables) -> np.ndarray:
    """The distinct candidate pairs of every bucket task (each task's are distinct already)."""
    return _distinct(np.concatenate([_pairs(t) for t in parts] or [np.zeros((0, 2), np.int64)]))


def count_plan(n: int, num_perm: int, tasks: int | None = None) -> list[tuple[int, ...]]:
    """Permutation groups of the columns tasks over pairs among ``n`` documents (at most twice the pairs)."""
    per = max(1, VALUES_PER_TASK // max(1, n))
    tasks = tasks or max(MIN_SPLIT, math.ceil(num_perm / per))
    return [tuple(int(c) for c in g) for g in np.array_split(np.arange(num_perm), min(tasks, num_perm))]


def _columns_of(maps: Tables, nodes: np.ndarray, names: list[str]) -> pa.Table:
    """The columns ``names`` of the documents ``nodes`` (sorted ``gidx``), read file by file: one row per
    node, so that memory follows the pairs, not the corpus."""
    chunks: dict[str, list[pa.Array]] = {c: [] for c in names}
    offset = 0
    for t in maps:
        lo, hi = np.searchsorted(nodes, [offset, offset + t.num_rows])
        if hi > lo:
            rows = pa.array(nodes[lo:hi] - offset)
            for c in names:
                chunks[c].append(t[c].take(rows).combine_chunks())
        offset += t.num_rows
    return pa.table({c: pa.concat_arrays(v) if v else pa.array([], pa.uint32()) for c, v in chunks.items()})


def pair_columns(groups: list[Tables], columns: tuple[int, ...]) -> tuple[pa.Table, dict]:
    """The signature columns ``columns`` of every document in a candidate pair (one row per document, in
    ``gidx`` order). Groups: maps (those columns), the bucket tasks' pairs."""
    maps, parts = groups
    nodes = np.unique(merged_pairs(parts).ravel())
    table = _columns_of(maps, nodes, [sig_column(c) for c in columns])
    return table.replace_schema_metadata(shards.HASHED), {"documents": len(nodes)}


def _equal(pairs: np.ndarray, nodes: np.ndarray, column_tables: Tables) -> np.ndarray:
    """Equal signature entries of each pair (both documents among ``nodes``), over every columns table,
    one column at a time (memory: one table and the pairs)."""
    local = np.searchsorted(nodes, pairs)
    eq = np.zeros(len(pairs), np.int64)
    for t in column_tables:
        for column in t.columns:
            values = column.to_numpy()
            eq += values[local[:, 0]] == values[local[:, 1]]
    return eq


def exact_verify(groups: list[Tables], cfg: NearDedupConfig) -> tuple[pa.Table, dict]:
    """Exact shingle Jaccard at or above the threshold, per candidate pair. Groups: maps (shingles), the
    bucket tasks' pairs."""
    maps, parts = groups
    pairs = merged_pairs(parts)
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


def component_labels(n: int, edges: np.ndarray) -> np.ndarray:
    """The connected component of each of ``n`` nodes over ``edges`` (local node pairs), numbered in the
    order of each component's smallest node (as ``scipy.sparse.csgraph.connected_components`` numbers
    them). Hook-and-compress over the edges: every node points at a smaller one, so the roots are the
    components' smallest nodes."""
    parent = np.arange(n)
    if len(edges):
        a, b = edges[:, 0], edges[:, 1]
        while True:
            ra, rb = parent[a], parent[b]
            differ = ra != rb
            if not differ.any():
                break
            low, high = np.minimum(ra[differ], rb[differ]), np.maximum(ra[differ], rb[differ])
            np.minimum.at(parent, high, low)  # hook each larger root under the smallest root it meets
            while True:  # compress: every node points at its root
                up = parent[parent]
                if np.array_equal(up, parent):
                    break
                parent = up
    return np.unique(parent, return_inverse=True)[1].reshape(-1).astype(np.int64)


@dataclass(frozen=True)
class ClusterConfig:
    """The near-dedup config and the counts of the documents that took part, for the report."""

    near: NearDedupConfig
    documents: int
    signed: int


def _verified(pairs: np.ndarray, nodes: np.ndarray, columns: Tables, verification: Tables, cfg: NearDedupConfig
              ) -> np.ndarray:
    if cfg.verify == "estimate":
        return pairs[(_equal(pairs, nodes, columns) / cfg.minhash.num_perm) >= cfg.minhash.threshold]
    if cfg.verify == "exact":
        ok = verification.all()
        return pairs[ok["ok"].to_numpy(zero_copy_only=False)] if ok is not None else pairs[:0]
    return pairs


def _clusters(pairs: np.ndarray, maps: Tables, cfg: NearDedupConfig) -> pl.DataFrame:
    """``id, kept, a, b`` (``gidx`` of dropped and kept) of every dropped member of the components of the
    verified ``pairs``."""
    import polars as pl
    nodes = np.unique(pairs.ravel())
    labels = component_labels(len(nodes), np.searchsorted(nodes, pairs))
    members = _members(maps, nodes).with_columns(pl.Series("label", labels))
    ranked = members.sort(["label", *cfg.keep], descending=[False, *(KEEP_ORDER[k] for k in cfg.keep)]).with_columns(
        pl.col("id").first().over("label").alias("kept"), pl.col("gidx").first().over("label").alias("kept_gidx"),
        pl.int_range(pl.len()).over("label").alias("n"))
    return ranked.filter(pl.col("n") > 0).select("id", "kept", pl.col("gidx").alias("a"),
                                                 pl.col("kept_gidx").alias("b"))


def components(groups: list[Tables], cfg: ClusterConfig) -> tuple[pa.Table, dict]:
    """Verified pairs -> connected components -> the drop table and the report. Groups: the bucket tasks'
    pairs, the columns tables, the exact verification (none unless ``verify = "exact"``), maps (``id, rank,
    quality, length``)."""
    import polars as pl
    parts, columns, verification, maps = groups
    near = cfg.near
    pairs = merged_pairs(parts)
    nodes = np.unique(pairs.ravel())
    verified = _verified(pairs, nodes, columns, verification, near)
    dropped = _clusters(verified, maps, near)
    kept_pairs = np.stack([dropped["a"].to_numpy(), dropped["b"].to_numpy()], axis=1).astype(np.int64)
    jaccard = _equal(kept_pairs.reshape(-1, 2), nodes, columns) / near.minhash.num_perm
    dropped = dropped.with_columns(pl.Series("jaccard", jaccard, pl.Float64))
    drops = dropped.select(
        "id", pl.lit("near_duplicate").alias("reason"),
        pl.format("duplicate_of={} jaccard={}", pl.col("kept"), pl.col("jaccard").round(2)).alias("detail"),
    ).sort("id")
    sizes = dropped.group_by("kept").agg((pl.len() + 1).alias("size"))
    bands, rows = minhash.bands_rows(near.minhash)
    rep = report(sizes, dropped, near, bands, rows, cfg.documents, cfg.signed, len(pairs), len(verified))
    return shards.drops_table(drops.to_arrow()), {"report": rep}

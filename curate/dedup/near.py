"""Near-duplicate removal with MinHash LSH across all sources of a build.

Three phases, like every global step:

1. ``signature_step`` (map, an annotation step per shard): MinHash signatures of each document
   (``minhash``), with its source rank, quality score and length; template boilerplate shingles are
   left out, so documents rendered from one template do not collide because of the template's own words.
2. ``reduce`` (global): documents sharing a band bucket are candidate pairs (each member with
   the bucket's first member, per band); a pair is kept when its Jaccard similarity, estimated from
   the signatures (``verify = "estimate"``) or computed exactly from the shingle sets
   (``verify = "exact"``), reaches the threshold; connected components of kept pairs are clusters.
   In each cluster the document kept is the first by the recipe's ``keep`` order, by default source
   rank (recipe order), then higher quality, then longer text, then smaller id. Every other member is listed with
   ``duplicate_of=<kept id> jaccard=<estimate>``. Memory is bounded by the number of documents:
   signatures, band keys and a label array, never a pair matrix.
3. the build's apply pass removes them and writes the ledger rows.
"""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.core import shards
from curate.core.step import Context, Out
from curate.dedup import minhash
from curate.text import templates

if TYPE_CHECKING:  # polars is imported where it is used: a build's driver imports this module to plan,
    import polars as pl  # and a build without this step never needs polars


@dataclass(frozen=True)
class NearDedupConfig:
    """MinHash/LSH parameters, pair verification, boilerplate exclusion and report samples."""

    minhash: minhash.MinHashConfig = field(default_factory=minhash.MinHashConfig)
    verify: str = "estimate"  # "estimate" (signatures), "exact" (shingle sets) or "none"
    exclude_boilerplate: bool = True
    batch_docs: int = 2048
    sample_clusters: int = 3
    # Which copy of a cluster is kept: the first by these keys, in order. "rank" is the source's place
    # in the recipe (earlier wins), "quality" and "length" prefer higher, "id" is the tie-breaker.
    keep: tuple[str, ...] = ("rank", "quality", "length", "id")
    # Tasks per reduce phase (bucket tasks, signature-column groups); None: from the corpus size.
    partitions: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.minhash, dict):  # a recipe's [near_dedup.minhash] table
            object.__setattr__(self, "minhash", minhash.MinHashConfig(**self.minhash))
        if self.verify not in ("estimate", "exact", "none"):
            raise ValueError(f"near_dedup.verify must be estimate, exact or none, not {self.verify!r}")
        if set(self.keep) - set(KEEP_ORDER) or "id" not in self.keep or len(set(self.keep)) != len(self.keep):
            raise ValueError(f"near_dedup.keep must list distinct keys of {', '.join(KEEP_ORDER)}, including "
                             f"'id' (the tie-breaker); got {list(self.keep)}")


KEEP_ORDER = {"rank": False, "quality": True, "length": True, "id": False}  # key -> higher is better


def exclusion(fragments: list[str] | tuple[str, ...], ngram: int) -> np.ndarray:
    """Sorted shingle hashes lying wholly inside literal template text ``fragments``."""
    hashes, _ = minhash.shingles([f for f in fragments if len(re.findall(r"\w", f)) >= 2], ngram)
    return np.unique(hashes)


@functools.cache
def boilerplate(ngram: int) -> np.ndarray:
    """Shingles of every template's literal text: the words no document chose."""
    return exclusion(templates.literal_fragments(), ngram)


def _quality(signals: pa.Table | None, ids: pa.Array) -> pa.Array:
    """Quality scores of ``ids`` from the batch's quality signals (0.0 without them)."""
    if signals is None or "quality" not in signals.column_names:
        return pa.array(np.zeros(len(ids)))
    if signals["id"].equals(pa.chunked_array([ids])):  # the same batch, in order: the scores as they are
        return signals["quality"].combine_chunks()
    at = pc.index_in(ids, signals["id"].combine_chunks())
    return pc.fill_null(pc.take(signals["quality"].combine_chunks(), at), 0.0)


@dataclass(frozen=True)
class SignatureConfig:
    """What a signature depends on: shingle size, permutations, seed, boilerplate exclusion, and whether
    exact verification needs the shingle sets. Not the threshold, bands or keep rule, so changing those
    re-runs the reduce and the apply pass, never the signatures."""

    ngram: int
    num_perm: int
    seed: int
    exclude_boilerplate: bool
    shingle_sets: bool
    batch_docs: int = 2048

    @classmethod
    def of(cls, cfg: NearDedupConfig) -> SignatureConfig:
        """The signature settings of a near-dedup config."""
        mh = cfg.minhash
        return cls(mh.ngram, mh.num_perm, mh.seed, cfg.exclude_boilerplate, cfg.verify == "exact", cfg.batch_docs)


def _array(column: pa.ChunkedArray, type_: pa.DataType) -> pa.Array:
    """A column as one array of ``type_``."""
    return column.cast(type_).combine_chunks() if column.num_chunks else pa.array([], type_)


def signature_step(table: pa.Table, cfg: SignatureConfig, ctx: Context) -> Out:
    """Signatures (one column per permutation; shingle sets for exact verification) of the batch, as a
    side output (a step).

    The quality score comes from the ``signals`` side output of an earlier step in the chain."""
    mh = cfg
    exclude = boilerplate(mh.ngram) if cfg.exclude_boilerplate else None
    sigs, sets = [], []
    for start in range(0, table.num_rows, cfg.batch_docs):
        part = table.slice(start, cfg.batch_docs)
        texts = ctx.memo(("texts", start, part.num_rows), part.column("text").to_pylist)
        toks = ctx.memo(("tokens", start, len(texts)), lambda texts=texts, start=start: minhash.tokens(
            texts, ctx.memo(("codepoints", start, len(texts)), lambda: minhash.codepoints(texts))))
        hashes, offsets = minhash.shingles(texts, mh.ngram, exclude, toks)
        sigs.append(minhash.signatures_by_permutation(hashes, offsets, mh.num_perm, mh.seed))
        if cfg.shingle_sets:
            sets += [np.unique(hashes[a:b]) for a, b in itertools.pairwise(offsets)]
    by_perm = np.concatenate(sigs, axis=1) if sigs else np.zeros((mh.num_perm, 0), np.uint32)
    ids = _array(table["id"], pa.string())
    arrays = {
        "id": ids,
        "rank": pa.array(np.full(table.num_rows, ctx.rank, np.int32)),
        "quality": _quality(ctx.sides.get("signals"), ids).cast(pa.float32()),
        "length": _array(pc.utf8_length(table["text"]), pa.int32()),
        "has_sig": pa.array((by_perm != minhash.EMPTY).any(axis=0), pa.bool_()),
        # One column per permutation: a reduce phase reads only the permutations it needs.
        **{f"s{i:03d}": pa.array(by_perm[i], pa.uint32()) for i in range(mh.num_perm)},
    }
    if cfg.shingle_sets:
        arrays["shingles"] = pa.array(sets, pa.list_(pa.uint32()))
    return Out(table, side=pa.table(arrays, metadata=shards.HASHED))


def candidate_pairs(keys: np.ndarray) -> np.ndarray:
    """Distinct ``(member, first member)`` index pairs of every band bucket with two or more documents."""
    n, bands = keys.shape
    found = []
    index = np.arange(n)
    for band in range(bands):
        order = np.argsort(keys[:, band], kind="stable")
        sorted_keys = keys[order, band]
        first = np.ones(n, dtype=bool)
        first[1:] = sorted_keys[1:] != sorted_keys[:-1]
        bucket_start = np.maximum.accumulate(np.where(first, index, 0))
        found.append(np.stack([order[~first], order[bucket_start[~first]]], axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 2), np.int64)
    return np.unique(pairs, axis=0) if len(pairs) else pairs


def components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label (smallest member index) of each of ``n`` documents, over the pairs alone
    (``scipy.sparse.csgraph``; documents in no pair are their own component)."""
    labels = np.arange(n)
    if len(pairs) == 0:
        return labels
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    nodes = np.unique(pairs.ravel())
    local = np.searchsorted(nodes, pairs)
    graph = coo_matrix((np.ones(len(pairs), np.int8), (local[:, 0], local[:, 1])), shape=(len(nodes), len(nodes)))
    _, comp = connected_components(graph, directed=False)
    smallest = np.full(comp.max() + 1, n, np.int64)
    np.minimum.at(smallest, comp, nodes)  # nodes are sorted, but take the minimum explicitly
    labels[nodes] = smallest[comp]
    return labels


def _verified(pairs: np.ndarray, sigs: np.ndarray, shingle_sets: list | None, cfg: NearDedupConfig) -> np.ndarray:
    if cfg.verify == "none" or len(pairs) == 0:
        return pairs
    keep = np.zeros(len(pairs), dtype=bool)
    threshold = cfg.minhash.threshold
    for start in range(0, len(pairs), 100_000):  # bounded memory for the pair x permutation comparison
        chunk = pairs[start:start + 100_000]
        if cfg.verify == "estimate":
            estimate = minhash.estimated_jaccard(sigs[chunk[:, 0]], sigs[chunk[:, 1]])
            keep[start:start + len(chunk)] = estimate >= threshold
        else:
            for i, (a, b) in enumerate(chunk):
                sa, sb = shingle_sets[a], shingle_sets[b]
                inter = len(np.intersect1d(sa, sb, assume_unique=True))
                keep[start + i] = inter / max(1, len(sa) + len(sb) - inter) >= threshold
    return pairs[keep]


def _load(tables: list[pa.Table], num_perm: int, exact: bool) -> tuple[pl.DataFrame, np.ndarray, list | None]:
    import polars as pl
    tables = [t for t in tables if t.num_rows]
    table = pa.concat_tables(tables) if tables else None
    if table is None or table.num_rows == 0:
        return pl.DataFrame(schema={"id": pl.String}), np.zeros((0, num_perm), np.uint32), [] if exact else None
    sigs = np.column_stack([table[f"s{i:03d}"].to_numpy() for i in range(num_perm)]).astype(np.uint32)
    meta = pl.from_arrow(table.select(["id", "rank", "quality", "length"]))
    sets = [np.asarray(s, dtype=np.uint32) for s in table.column("shingles").to_pylist()] if exact else None
    return meta, sigs, sets


def cluster(meta: pl.DataFrame, sigs: np.ndarray, sets: list | None,
            cfg: NearDedupConfig) -> tuple[pl.DataFrame, dict]:
    """Drop table (``id, reason, detail``) and report statistics for documents with signatures ``sigs``."""
    import polars as pl
    bands, rows = minhash.bands_rows(cfg.minhash)
    has_sig = ~(sigs == minhash.EMPTY).all(axis=1)
    idx = np.flatnonzero(has_sig)
    pairs = candidate_pairs(minhash.band_keys(sigs[idx], bands, rows))
    pairs = idx[pairs] if len(pairs) else pairs
    verified = _verified(pairs, sigs, sets, cfg)
    labels = components(len(meta), verified)
    frame = meta.with_row_index("idx").with_columns(pl.Series("label", labels))
    sizes = frame.group_by("label").len()
    in_clusters = frame.join(sizes.filter(pl.col("len") > 1), on="label").sort(
        ["label", *cfg.keep], descending=[False, *(KEEP_ORDER[k] for k in cfg.keep)])
    ranked = in_clusters.with_columns(pl.col("id").first().over("label").alias("kept"),
                                      pl.col("idx").first().over("label").alias("kept_idx"),
                                      pl.int_range(pl.len()).over("label").alias("n"))
    dropped = ranked.filter(pl.col("n") > 0)
    jaccard = minhash.estimated_jaccard(sigs[dropped["idx"].to_numpy()], sigs[dropped["kept_idx"].to_numpy()])
    dropped = dropped.with_columns(pl.Series("jaccard", jaccard))
    drops = dropped.select(
        "id", pl.lit("near_duplicate").alias("reason"),
        pl.format("duplicate_of={} jaccard={}", pl.col("kept"), pl.col("jaccard").round(2)).alias("detail"),
    ).sort("id")
    sizes = ranked.group_by("label").agg(pl.len().alias("size"), pl.col("kept").first())
    rep = report(sizes, dropped, cfg, bands, rows, len(meta), int(has_sig.sum()), len(pairs), len(verified))
    return drops, rep


def report(sizes: pl.DataFrame, dropped: pl.DataFrame, cfg: NearDedupConfig, bands: int, rows: int,
           documents: int, signed: int, candidates: int, verified: int) -> dict:
    """The near-dedup report: settings, S-curve, counts, cluster sizes (``sizes``: ``kept, size`` per
    cluster) and sample clusters (``dropped``: ``id, kept, jaccard``)."""
    import polars as pl
    edges = [2, 3, 6, 11, 101]
    histogram = []  # a list, not a dict: markers store JSON with sorted keys
    for low, high in zip(edges, [*edges[1:], None], strict=True):
        name = f"{low}" if high == low + 1 else (f"{low}-{high - 1}" if high else f">={low}")
        sel = sizes.filter(pl.col("size") >= low) if high is None else sizes.filter(
            (pl.col("size") >= low) & (pl.col("size") < high))
        histogram.append({"size": name, "clusters": sel.height})
    samples = []
    for size, kept in sizes.sort(["size", "kept"], descending=[True, False]).head(cfg.sample_clusters).select(
            "size", "kept").iter_rows():
        members = dropped.filter(pl.col("kept") == kept).sort("id").head(5)
        samples.append({"kept": kept, "size": size,
                        "members": [{"id": i, "jaccard": round(float(j), 2)}
                                    for i, j in members.select("id", "jaccard").iter_rows()]})
    return {
        "threshold": cfg.minhash.threshold, "num_perm": cfg.minhash.num_perm, "ngram": cfg.minhash.ngram,
        "bands": bands, "rows": rows, "verify": cfg.verify,
        "s_curve": {str(s): round(minhash.catch_probability(s, bands, rows), 4) for s in (0.5, 0.7, 0.8, 0.9)},
        "documents": documents, "documents_with_shingles": signed, "candidate_pairs": candidates,
        "verified_pairs": verified, "clusters": sizes.height, "dropped": dropped.height,
        "cluster_sizes": histogram, "sample_clusters": samples,
    }


def reduce(tables: list[pa.Table], cfg: NearDedupConfig) -> tuple[pa.Table, dict]:
    """Cluster the signature tables of the surviving documents in one process (the reference for the
    partitioned reduce of ``dedup.lsh``, which the build runs); the drop table and the report."""
    import polars as pl
    meta, sigs, sets = _load(tables, cfg.minhash.num_perm, cfg.verify == "exact")
    if meta.height == 0:
        drops = pl.DataFrame(schema={"id": pl.String, "reason": pl.String, "detail": pl.String})
        bands, rows = minhash.bands_rows(cfg.minhash)
        rep = report(pl.DataFrame(schema={"kept": pl.String, "size": pl.UInt32}),
                     pl.DataFrame(schema={"kept": pl.String, "id": pl.String, "jaccard": pl.Float64}),
                     cfg, bands, rows, 0, 0, 0, 0)
    else:
        drops, rep = cluster(meta, sigs, sets, cfg)
    return shards.drops_table(drops.to_arrow()), {"drops": drops.height, "report": rep}

"""The ``select`` step of an instruction build, partitioned: cross-source dedup, sampling, weights.

Global phases (``core.tasks.table_task``), none holding a whole source:

1. ``keys`` (per shard): a hash of each conversation (roles and normalised text) with the example's
   place in the build (source rank, shard, row);
2. ``dedup`` (per key partition): among examples with one key the first in the build (the source
   listed first, then file order) is kept; the others are listed ``duplicate_of=<kept id>``;
3. ``sample`` (per source with ``max_examples``): the ``max_examples`` examples with the smallest
   seeded number, streamed through a heap of that size; the list of the chosen ids.

and the per-shard steps of the apply pass: ``drop_listed`` (duplicates), ``sampled`` (the ids not
chosen are ``not_sampled``), ``weighted`` (each example ``floor(weight)`` times, plus once more with
probability ``frac(weight)``; copies get ids ``<id>~2``, ``<id>~3``).
"""

from __future__ import annotations

import hashlib
import heapq
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from curate.core import shards
from curate.core.step import Context, Out
from curate.core.tasks import Tables
from curate.text import normalise as text


def unit(seed: int, salt: str, rid: str) -> float:
    """A deterministic number in [0, 1) per (seed, salt, id)."""
    digest = hashlib.sha256(f"{seed}:{salt}:{rid}".encode()).digest()
    return int.from_bytes(digest[:8], "little") / 2**64


def dedup_key(messages: list[dict]) -> str:
    """The hash of a conversation's roles and normalised text."""
    body = "\n".join(f"{m['role']}: {text.dedup_key(m['content'])}" for m in messages)
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True)
class Place:
    """Where a shard is in the build: its source's rank and its number within the source."""

    rank: int
    shard: int


def keys(groups: list[Tables], cfg: Place) -> tuple[pa.Table, dict]:
    """``key, rank, shard, row, id`` of every example of one shard. Groups: the shard."""
    (table,) = groups
    t = table.all()
    ids = t["id"].to_pylist() if t is not None else []
    hashed = [dedup_key(m) for m in t["messages"].to_pylist()] if t is not None else []
    n = len(ids)
    return pa.table({"key": pa.array(hashed, pa.string()), "rank": pa.array([cfg.rank] * n, pa.int32()),
                     "shard": pa.array([cfg.shard] * n, pa.int32()), "row": pa.array(range(n), pa.int32()),
                     "id": pa.array(ids, pa.string())}), {"examples": n}


@dataclass(frozen=True)
class KeyPartition:
    """One of ``parts`` partitions of the conversation keys."""

    part: int
    parts: int


def dedup(groups: list[Tables], cfg: KeyPartition) -> tuple[pa.Table, dict]:
    """Repeated conversations within one key partition. Groups: key tables."""
    import polars as pl

    (key_tables,) = groups
    frames = []
    for t in key_tables:
        if cfg.parts > 1 and t.num_rows:
            bucket = pc.cast(pc.utf8_slice_codeunits(t["key"], 0, 8), pa.string())
            keep = [int(b, 16) % cfg.parts == cfg.part for b in bucket.to_pylist()]
            t = t.filter(pa.array(keep, pa.bool_()))
        frames.append(pl.from_arrow(t))
    if not frames:
        return shards.DROPS.empty_table(), {"duplicates": 0}
    ranked = pl.concat(frames).sort(["key", "rank", "shard", "row"]).with_columns(
        pl.col("id").first().over("key").alias("kept"), pl.int_range(pl.len()).over("key").alias("n"))
    dups = ranked.filter(pl.col("n") > 0).select(
        "id", pl.lit("exact_duplicate").alias("reason"), pl.format("duplicate_of={}", pl.col("kept")).alias("detail"))
    return shards.drops_table(dups.sort("id").to_arrow()), {"duplicates": dups.height}


@dataclass(frozen=True)
class SampleConfig:
    """A source's name, seed and ``max_examples``."""

    source: str
    seed: int
    max_examples: int


def sample(groups: list[Tables], cfg: SampleConfig) -> tuple[pa.Table, dict]:
    """The ids of the ``max_examples`` examples chosen. Groups: the source's shards (ids), duplicates."""
    shard_ids, drops = groups
    gone = set()
    for t in drops:
        gone.update(t["id"].to_pylist())
    counted = [0]

    def candidates():
        for t in shard_ids:
            for rid in t["id"].to_pylist():
                if rid not in gone:
                    counted[0] += 1
                    yield unit(cfg.seed, cfg.source, rid), rid

    heap = heapq.nsmallest(cfg.max_examples, candidates())  # a heap of max_examples items, not the source
    kept = counted[0]
    chosen = sorted(rid for _, rid in heap)
    return pa.table({"id": pa.array(chosen, pa.string())}), {"candidates": kept, "chosen": len(chosen)}


@dataclass(frozen=True)
class Sampled:
    """The resource holding the chosen ids, and ``max_examples`` for the ledger."""

    resource: str
    max_examples: int


def sampled(batch: pa.Table, cfg: Sampled, ctx: Context) -> Out:
    """Drop the examples the seeded sample did not choose (a step)."""
    chosen: pa.Table = ctx.resources[cfg.resource]
    ledger = ctx.ledger()
    keep = pc.is_in(batch["id"], value_set=chosen["id"])
    for rid, ok in zip(batch["id"].to_pylist(), keep.to_pylist(), strict=True):
        if not ok:
            ledger.drop(rid, "not_sampled", f"max_examples={cfg.max_examples}")
    return Out(batch.filter(keep), ledger.table())


@dataclass(frozen=True)
class Weight:
    """Copies per example: the whole part always, the fraction as a seeded share."""

    weight: float
    seed: int


def weighted(batch: pa.Table, cfg: Weight, ctx: Context) -> Out:
    """Each example ``floor(weight)`` times plus once more with probability ``frac(weight)`` (a step that
    may add records: the copies)."""
    ledger = ctx.ledger()
    if cfg.weight == 1.0:
        return Out(batch, ledger.table())
    whole, frac = int(cfg.weight), cfg.weight - int(cfg.weight)
    rows, new_ids = [], []
    for i, rid in enumerate(batch["id"].to_pylist()):
        copies = whole + (1 if unit(cfg.seed, f"weight:{ctx.source}", rid) < frac else 0)
        if copies == 0:
            ledger.drop(rid, "not_sampled", f"weight={cfg.weight}")
        for c in range(copies):
            rows.append(i)
            new_ids.append(rid if c == 0 else f"{rid}~{c + 1}")
    out = batch.take(pa.array(rows, pa.int64()))
    return Out(out.set_column(0, "id", pa.array(new_ids, pa.string())), ledger.table())

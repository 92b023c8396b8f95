"""Exact dedup across all sources of a build, on a hash of normalised text.

Three phases, like every global step:

1. ``hash_task`` (map, per shard): ``blake2b-128`` of ``text.dedup_key`` (NFKC, case-folded, without
   punctuation or whitespace), with the record's source rank;
2. ``reduce_task`` (global): among records with the same hash the one kept is the one from the
   source listed first in the recipe, then the smallest id; every other one is listed with
   ``duplicate_of=<kept id>``;
3. ``shards.drop_task`` (apply, per shard) removes the listed ids and writes their ledger rows.

The reduce first finds repeated hashes (streaming over the hash column), then sorts only the
records in those groups; memory is bounded by the number of records, not of pairs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa

from curate.core import shards
from curate.core.executor import Result, Task
from curate.text import normalise as text

HASHES = pa.schema([("hash", pa.binary(16)), ("rank", pa.int32()), ("id", pa.string())])


@dataclass(frozen=True)
class HashConfig:
    """Rank of the shard's source in the recipe (lower wins a tie)."""

    rank: int


def text_hash(body: str) -> bytes:
    """128-bit hash of the normalised text."""
    return hashlib.blake2b(text.dedup_key(body).encode(), digest_size=16).digest()


def hash_task(task: Task) -> Result:
    """Hash every document of shard ``inputs[0]``."""
    table = shards.read(Path(task.inputs[0]), columns=["id", "text"])
    hashes = [text_hash(t) for t in table["text"].to_pylist()]
    out = pa.Table.from_arrays(
        [pa.array(hashes, pa.binary(16)), pa.array([task.config.rank] * len(hashes), pa.int32()),
         table["id"]], schema=HASHES)
    shards.write(out, task.out(".parquet"))
    return Result({"hashes": [f"{task.name}.parquet"]}, {"records": table.num_rows})


def duplicates(hashes: pl.LazyFrame) -> pl.DataFrame:
    """``id, reason, detail`` of every record that is not the kept one of its hash group."""
    repeated = hashes.group_by("hash").len().filter(pl.col("len") > 1).select("hash")
    ranked = hashes.join(repeated, on="hash", how="semi").sort(["hash", "rank", "id"]).with_columns(
        pl.col("id").first().over("hash").alias("kept"),
        pl.int_range(pl.len()).over("hash").alias("n"),
    )
    return (
        ranked.filter(pl.col("n") > 0)
        .select("id", pl.lit("exact_duplicate").alias("reason"),
                pl.format("duplicate_of={}", pl.col("kept")).alias("detail"))
        .sort("id")
        .collect(engine="streaming")
    )


def reduce_task(task: Task) -> Result:
    """Find duplicate groups over all hash files (``task.inputs``) and write the drop table."""
    frames = [pl.scan_parquet(p) for p in task.inputs]
    if frames:
        dups = duplicates(pl.concat(frames))
    else:
        dups = pl.DataFrame(schema={"id": pl.String, "reason": pl.String, "detail": pl.String})
    table = pa.Table.from_arrays([dups[c].to_arrow().cast(pa.string()) for c in shards.DROPS.names],
                                 schema=shards.DROPS)
    shards.write(table, task.out(".parquet"))
    return Result({"drops": [f"{task.name}.parquet"]}, {"drops": table.num_rows})

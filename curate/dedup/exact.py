"""Exact dedup across all sources of a build, on a hash of normalised text.

Three phases, like every global step:

1. ``hash_step`` (map, an annotation step per shard): ``blake2b-128`` of ``text.dedup_key`` (NFKC,
   case-folded, without punctuation or whitespace), with the record's source rank;
2. ``duplicates`` (reduce): among records with the same hash the one kept is the one from the
   source listed first in the recipe, then the smallest id; every other one is listed with
   ``duplicate_of=<kept id>``;
3. the build's apply pass removes the listed ids and writes their ledger rows.

The reduce first finds repeated hashes (streaming over the hash column), then sorts only the
records in those groups; memory is bounded by the number of records, not of pairs.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from curate.core import shards
from curate.core.step import Context, Out
from curate.dedup import minhash
from curate.text import batchnorm
from curate.text import normalise as text

if TYPE_CHECKING:  # polars is imported where it is used: a build's driver imports this module to plan,
    import polars as pl  # and a build without this step never needs polars

HASHES = pa.schema([("hash", pa.binary(16)), ("rank", pa.int32()), ("id", pa.string())])


@dataclass(frozen=True)
class ExactDedupConfig:
    """Exact dedup has no choices beyond on/off; the hash and keep rule are fixed."""


def text_hash(body: str) -> bytes:
    """128-bit hash of the normalised text."""
    return hashlib.blake2b(text.dedup_key(body).encode(), digest_size=16).digest()


def hash_step(table: pa.Table, cfg: ExactDedupConfig, ctx: Context) -> Out:
    """The hash of every document of the batch, with its source rank, as a side output (a step)."""
    texts = table["text"]
    cp = ctx.memo(("codepoints", 0, table.num_rows), lambda: minhash.codepoints(
        ctx.memo(("texts", 0, table.num_rows), texts.to_pylist)))
    keys, bounds = batchnorm.dedup_key_text(texts, cp)
    hashes = [hashlib.blake2b(keys[a:b].encode(), digest_size=16).digest()
              for a, b in itertools.pairwise(bounds.tolist())]
    side = pa.Table.from_arrays(
        [pa.array(hashes, pa.binary(16)), pa.array([ctx.rank] * len(hashes), pa.int32()),
         table["id"].combine_chunks() if table.num_rows else pa.array([], pa.string())], schema=HASHES)
    return Out(table, side=side)


def duplicates(hashes: pl.LazyFrame) -> pl.DataFrame:
    """``id, reason, detail`` of every record that is not the kept one of its hash group."""
    import polars as pl
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


def reduce(tables: list[pa.Table], cfg: ExactDedupConfig) -> tuple[pa.Table, dict]:
    """The drop table (``id, reason, detail``) of all hash tables of one partition."""
    import polars as pl
    frames = [pl.from_arrow(t).lazy() for t in tables if t.num_rows]
    if frames:
        dups = duplicates(pl.concat(frames))
    else:
        dups = pl.DataFrame(schema={"id": pl.String, "reason": pl.String, "detail": pl.String})
    return shards.drops_table(dups.to_arrow()), {"drops": dups.height}

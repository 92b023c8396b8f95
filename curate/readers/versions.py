"""Keyed sources with updates: the last version of a key wins, and deletions remove a key.

PubMed ships a baseline and then update files that repeat revised citations and end with
``DeleteCitation`` lists. Readers emit a ``key`` per record and ``Delete`` events; this reduce reads
every file's keys (files in file-name order, which is PubMed's release order, whatever folders they
are in; events in file order) and
lists the ids to drop:

- ``superseded``: a later file (or a later position) holds a newer version of the same key;
- the ``Delete`` event's reason (``deleted_citation``, or ``superseded`` when the newer version
  was itself dropped, e.g. for having no abstract) when the key's last event is a deletion.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from curate.core import shards
from curate.readers import KEYS


def resolve(keys: pl.DataFrame) -> pl.DataFrame:
    """Ids to drop (``id, reason, detail``) from key events ``key, id, kind, reason, file, pos``."""
    # File names, not paths, give the release order: baseline/n0001 comes before updatefiles/n1275.
    name = pl.col("file").str.split("/").list.last()
    events = keys.sort([name, "file", "pos"]).with_columns(
        pl.int_range(pl.len()).over("key").alias("n"), pl.len().over("key").alias("count")
    )
    last = events.filter(pl.col("n") == pl.col("count") - 1).select(
        "key", pl.col("kind").alias("last_kind"), pl.col("id").alias("last_id"),
        pl.col("file").alias("last_file"),
        pl.col("reason").str.split_exact("|", 1).struct.rename_fields(["why", "note"]).alias("last"),
    ).unnest("last")
    older = events.filter((pl.col("n") < pl.col("count") - 1) & (pl.col("kind") == "record"))
    deleted = pl.col("last_kind") == "delete"
    dropped = older.join(last, on="key", how="left").select(
        "id",
        pl.when(deleted).then(pl.col("why")).otherwise(pl.lit("superseded")).alias("reason"),
        pl.when(deleted).then(pl.format("{} {} in {}", pl.col("key"), pl.col("note"), pl.col("last_file")))
        .otherwise(pl.format("superseded_by={}", pl.col("last_id"))).alias("detail"),
    )
    return dropped.sort("id")


def reduce(tables: list[pa.Table], cfg: object = None) -> tuple[pa.Table, dict]:
    """The drop table of all key-event tables (a global reduce)."""
    frames = [pl.from_arrow(t) for t in tables if t.num_rows]
    keys = pl.concat(frames) if frames else pl.from_arrow(KEYS.empty_table())
    dropped = resolve(keys)
    return shards.drops_table(dropped.to_arrow()), {"drops": dropped.height}

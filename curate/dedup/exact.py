"""Exact dedup across all sources of a build, on a hash of normalised text.

Three phases, like every global step:

1. ``hash_step`` (map, an annotation step per shard): ``blake2b-128`` of ``text.dedup_key`` (NFKC,
   case-folded, without punctuation or whitespace), with the record's source rank;
2. ``duplicates`` (reduce): among records with the same hash the one kept is the one from the
   source listed first in the recipe, then the smallest id; every other one is listed with
   ``duplicate_of=<kept id>``;
3. the build's apply pass removes the listed ids and writes their ledger rows.

The reduce first finds repeated hashes (one sort of the hash words), then sorts only the records
in those groups; memory is bounded by the number of records, not of pairs.
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass

import pyarrow as pa

from curate.core import shards
from curate.core.step import Context, Out
from curate.dedup import minhash
from curate.text import batchnorm
from curate.text import normalise as text

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


def duplicates(hashes: pa.Table) -> pa.Table:
    """``id, reason, detail`` of every record that is not the kept one of its hash group, sorted by id.

    The hashes are grouped in numpy (each 16-byte hash as two words); only the records of repeated hashes
    are then sorted by (group, source rank, id) to find each group's kept record."""
    import numpy as np
    import pyarrow.compute as pc

    empty = pa.table({"id": pa.array([], pa.string()), "reason": pa.array([], pa.string()),
                      "detail": pa.array([], pa.string())})
    if hashes.num_rows < 2:
        return empty
    column = hashes["hash"].combine_chunks()
    words = np.frombuffer(column.buffers()[1], dtype=np.uint64, count=2 * len(column),
                          offset=column.offset * 16).reshape(-1, 2)
    order = np.lexsort((words[:, 1], words[:, 0]))
    ordered = words[order]
    same = (ordered[1:] == ordered[:-1]).all(axis=1)  # row k+1 has row k's hash
    if not same.any():
        return empty
    repeated = np.zeros(len(order), bool)
    repeated[1:] |= same
    repeated[:-1] |= same
    group = np.concatenate([[0], np.cumsum(~same)])[repeated]
    rows = pa.table({"group": pa.array(group), "rank": hashes["rank"].take(pa.array(order[repeated])),
                     "id": hashes["id"].take(pa.array(order[repeated]))})
    rows = rows.take(pc.sort_indices(rows, [("group", "ascending"), ("rank", "ascending"), ("id", "ascending")]))
    g = rows["group"].to_numpy()
    first = np.concatenate([[True], g[1:] != g[:-1]])
    kept = np.maximum.accumulate(np.where(first, np.arange(len(g)), 0))[~first]
    ids = rows["id"].combine_chunks()
    out = pa.table({"id": ids.filter(pa.array(~first)),
                    "reason": pa.array(["exact_duplicate"] * len(kept), pa.string()),
                    "detail": pc.binary_join_element_wise("duplicate_of=", ids.take(pa.array(kept)), "")})
    return out.take(pc.sort_indices(out, [("id", "ascending")]))


def reduce(tables: list[pa.Table], cfg: ExactDedupConfig) -> tuple[pa.Table, dict]:
    """The drop table (``id, reason, detail``) of all hash tables of one partition."""
    frames = [t.select(HASHES.names).cast(HASHES) for t in tables if t.num_rows]
    dups = duplicates(pa.concat_tables(frames)) if frames else duplicates(HASHES.empty_table())
    return shards.drops_table(dups), {"drops": dups.num_rows}

"""Parquet shards of records: atomic, byte-stable writes and reads.

Shards are zstd-compressed Parquet written through ``executor.atomic_path``. ``DROPS`` is the
schema of the drop tables global steps hand to the apply pass (``id, reason, detail``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.core import ledger as ledger_mod
from curate.core.executor import Task, atomic_path
from curate.core.ledger import Ledger

DROPS = pa.schema([("id", pa.string()), ("reason", pa.string()), ("detail", pa.string())])


def drops_table(table: pa.Table) -> pa.Table:
    """``table``'s ``id, reason, detail`` columns as a drop table of the ``DROPS`` schema."""
    return pa.Table.from_arrays([table[c].cast(pa.string()) for c in DROPS.names], schema=DROPS)


# Schema metadata of a table whose numeric and binary columns are hash values (signatures, digests): every
# value distinct, so a dictionary page is built and thrown away; they are written plain (several times faster),
# and uncompressed when they are flat.
HASHED = {b"curate.hashed": b"1"}


class _Kept:
    """Tables written while ``keeping`` is on, by path, up to ``room`` bytes in all."""

    def __init__(self, room: int):
        self.room, self.tables = room, {}


_KEPT: _Kept | None = None


@contextlib.contextmanager
def keeping(room: int = 256 << 20) -> Iterator[dict[str, pa.Table]]:
    """Keep (up to ``room`` bytes of) the tables written in this block, by path, for the code after it in the
    same task: a read or apply task that then tokenizes the records it wrote takes them from memory
    instead of reading and decompressing them again. Tables past ``room`` are read back as usual."""
    global _KEPT
    previous, _KEPT = _KEPT, _Kept(room)
    try:
        yield _KEPT.tables
    finally:
        _KEPT = previous


# Parquet codecs a build may write its working shards with (``working_compression`` in a corpus recipe).
WORKING_CODECS = ("none", "zstd", "lz4", "snappy")


def write(table: pa.Table, path: Path, working: str | None = None) -> None:
    """Write a table as one zstd Parquet file, atomically. A working shard, one that a later pass of the
    same build reads back, is written with the codec ``working`` instead (a corpus recipe's
    ``working_compression``, ``none`` unless it says otherwise: about twice the size of zstd on text
    records, but written in a third of the time and read back in half)."""
    if _KEPT is not None and table.nbytes <= _KEPT.room:
        _KEPT.room -= table.nbytes
        _KEPT.tables[str(path)] = table
    dictionary: bool | list[str] = True
    compression: str | dict[str, str] = "zstd"
    if (table.schema.metadata or {}).get(b"curate.hashed") == b"1":
        text = {f.name for f in table.schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)}
        dictionary = sorted(text)
        if all(pa.types.is_primitive(f.type) or f.name in text for f in table.schema):
            # zstd gains nothing on random hash values (about 7%) and reading them back took 70% longer
            compression = {f.name: "zstd" if f.name in text else "none" for f in table.schema}
    if working is not None:
        compression = working
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression=compression, row_group_size=8192, use_dictionary=dictionary)


def read(path: Path | str, columns: list[str] | None = None) -> pa.Table:
    """Read a shard (optionally only some columns; one it lacks is an error naming it). A one-file reader,
    not ``pq.read_table``'s dataset: half the time or less per shard (0.3 against 0.7 ms for a small one)."""
    f = pq.ParquetFile(path)
    if columns is not None:
        names = f.schema_arrow.names  # a property that converts the file's schema each time it is read
        if missing := set(columns).difference(names):
            raise pa.ArrowInvalid(f"{path}: no column {', '.join(map(repr, sorted(missing)))} (it has "
                                  f"{', '.join(names)})")
    return f.read(columns=columns)


def rows(path: Path) -> int:
    """Row count from the Parquet footer, without reading data."""
    return pq.ParquetFile(path).metadata.num_rows


def write_ledger(task: Task, ledger: Ledger) -> str:
    """Write a task's ledger rows to ``.ledger/<name>.parquet`` (beside, not among, the record shards)."""
    name = f".ledger/{task.name}.parquet"
    write(ledger.table(), Path(task.out_dir) / name)
    return name


def concat_ledgers(paths: list[Path]) -> pa.Table:
    """All ledger rows of ``paths``, sorted by source, step, id (a stable, deterministic order)."""
    table = ledger_mod.read(paths)
    if table.num_rows == 0:
        return table
    return table.sort_by([("source", "ascending"), ("step", "ascending"), ("id", "ascending"),
                          ("action", "ascending"), ("reason", "ascending")])

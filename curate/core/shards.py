"""Parquet shards of records: atomic, byte-stable writes, and the per-shard map and drop tasks.

Shards are zstd-compressed Parquet written through ``executor.atomic_path``. A shard step is a pure
function ``fn(table, cfg, ledger) -> table`` over one batch of records; ``map_task`` runs it over
one shard file, and ``drop_task`` removes the ids a global reduce listed (exact duplicates,
superseded or deleted versions), recording each in the ledger.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.core import ledger as ledger_mod
from curate.core.executor import Result, Task, atomic_path
from curate.core.ledger import Ledger

DROPS = pa.schema([("id", pa.string()), ("reason", pa.string()), ("detail", pa.string())])


def write(table: pa.Table, path: Path) -> None:
    """Write a table as one zstd Parquet file, atomically."""
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=8192)


def read(path: Path, columns: list[str] | None = None) -> pa.Table:
    """Read a shard (optionally only some columns)."""
    return pq.read_table(path, columns=columns)


def rows(path: Path) -> int:
    """Row count from the Parquet footer, without reading data."""
    return pq.ParquetFile(path).metadata.num_rows


def write_ledger(task: Task, ledger: Ledger) -> str:
    """Write a task's ledger rows to ``.ledger/<name>.parquet`` (beside, not among, the record shards)."""
    name = f".ledger/{task.name}.parquet"
    write(ledger.table(), Path(task.out_dir) / name)
    return name


def write_outputs(task: Task, table: pa.Table, ledger: Ledger, stats: dict[str, Any]) -> Result:
    """Write a task's record shard and (when non-empty) its ledger part; return the Result."""
    write(table, task.out(".parquet"))
    outputs = {"records": [f"{task.name}.parquet"], "ledger": []}
    if ledger.rows:
        outputs["ledger"].append(write_ledger(task, ledger))
    return Result(outputs, {"in": stats.get("in", 0), "out": table.num_rows, **stats})


@dataclass(frozen=True)
class MapConfig:
    """A pure step applied to one shard: ledger ``step`` name, ``source``, function and its config."""

    step: str
    source: str
    fn: Callable[[pa.Table, Any, Ledger], pa.Table]
    cfg: Any


def map_task(task: Task) -> Result:
    """Run ``task.config.fn`` over the shard ``task.inputs[0]``."""
    spec: MapConfig = task.config
    table = read(Path(task.inputs[0]))
    ledger = Ledger(spec.source, spec.step)
    out = spec.fn(table, spec.cfg, ledger)
    if out.num_rows + ledger.removed() != table.num_rows:
        raise AssertionError(f"{spec.step}: {table.num_rows} in, {out.num_rows} out, "
                             f"{ledger.removed()} in ledger")
    return write_outputs(task, out, ledger, {"in": table.num_rows})


@dataclass(frozen=True)
class DropConfig:
    """Ledger ``step`` name and ``source`` for ``drop_task``."""

    step: str
    source: str


def drop_task(task: Task) -> Result:
    """Remove from shard ``inputs[0]`` the ids listed in the drop table ``inputs[1]``."""
    spec: DropConfig = task.config
    table = read(Path(task.inputs[0]))
    drops = pq.read_table(task.inputs[1], schema=DROPS)
    hit = drops.filter(pc.is_in(drops["id"], value_set=table["id"]))
    ledger = Ledger(spec.source, spec.step)
    for id_, reason, detail in zip(*(hit[c].to_pylist() for c in DROPS.names), strict=True):
        ledger.drop(id_, reason, detail)
    kept = table.filter(pc.invert(pc.is_in(table["id"], value_set=hit["id"])))
    return write_outputs(task, kept, ledger, {"in": table.num_rows})


def ledger_parts(done_outputs: list[list[Path]]) -> list[Path]:
    """Flatten ledger part paths."""
    return [p for parts in done_outputs for p in parts]


def concat_ledgers(paths: list[Path]) -> pa.Table:
    """All ledger rows of ``paths``, sorted by source, step, id (a stable, deterministic order)."""
    table = ledger_mod.read(paths)
    if table.num_rows == 0:
        return table
    return table.sort_by([("source", "ascending"), ("step", "ascending"), ("id", "ascending"),
                          ("action", "ascending"), ("reason", "ascending")])

"""Executor adapters: the only code that reads and writes a build's files around the pure steps.

- ``chain_task``: read one shard, run a chain of consecutive steps over it in one pass
  (``step.run_chain``), write the kept records, each step's side output and the ledger rows. With
  ``as_drops`` the chain's ledger rows become a drop table for a later apply pass instead.
- ``table_task``: one phase of a global reduce: read groups of tables lazily (with a column
  projection), call the step's pure phase function, write its output table (pairs, drop tables).
- ``artifact_task``: build a shared artefact once (a decontamination index) and save it.

Resources (``Resource``) are files a chain reads besides its shard, loaded once per worker process
by a loader function named in the config (drop tables, an n-gram index).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.core import ledger as ledger_mod
from curate.core import shards
from curate.core.executor import Result, Task
from curate.core.step import ChainResult, Context, Step, run_chain

DROPS = shards.DROPS


@dataclass(frozen=True)
class Resource:
    """A shared input of a chain: its name in ``Context.resources``, its files and the loader."""

    name: str
    paths: tuple[str, ...]
    loader: Callable[[tuple[str, ...]], Any]


@dataclass(frozen=True)
class ChainConfig:
    """A fused chain over one shard.

    ``sides`` maps a step name to the directory (relative to the task's ``out_dir``) its side output
    goes to; ``records`` is False for a chain of annotations (no new record shard is written);
    ``as_drops`` writes the ledger rows as a drop table (``<name>.parquet``) instead of a ledger part;
    ``batch_rows`` runs the chain over slices of the shard (per-record steps only), so that what its
    steps share through ``Context.memo`` is held for one slice at a time; ``working`` is the codec of a
    record shard that a later pass of the build reads back (``shards.write``).
    """

    source: str
    steps: tuple[Step, ...]
    rank: int = 0
    seed: int = 0
    resources: tuple[Resource, ...] = ()
    sides: tuple[tuple[str, str], ...] = ()
    records: bool = True
    as_drops: bool = False
    batch_rows: int | None = None  # run the chain over slices of this many rows (None: the whole shard)
    working: str | None = None  # a later pass reads the records back: written with this codec (``shards.write``)


def _stamp(paths: tuple[str, ...]) -> tuple[tuple[str, int, int], ...]:
    out = []
    for p in paths:
        st = os.stat(p)
        out.append((p, st.st_size, st.st_mtime_ns))
    return tuple(out)


@functools.lru_cache(maxsize=8)
def _load(loader: Callable, stamp: tuple) -> Any:
    return loader(tuple(p for p, _, _ in stamp))


def load_resource(res: Resource) -> Any:
    """A resource's value, loaded once per process while its files are unchanged."""
    return _load(res.loader, _stamp(res.paths))


def load_drops(paths: tuple[str, ...]) -> pa.Table:
    """Drop tables (``id, reason, detail``) concatenated: a resource loader."""
    tables = [pq.read_table(p, schema=DROPS) for p in paths]
    return pa.concat_tables(tables) if tables else DROPS.empty_table()


def _drops_of(ledger: pa.Table) -> pa.Table:
    removed = ledger.filter(pc.is_in(ledger["action"], pa.array(list(ledger_mod.REMOVALS))))
    return removed.select(DROPS.names)


def _run_sliced(table: pa.Table, spec: ChainConfig, ctx: Context) -> ChainResult:
    """``run_chain`` over slices of ``spec.batch_rows`` rows, the results concatenated in order."""
    size = spec.batch_rows or table.num_rows
    if table.num_rows <= size:
        return run_chain(table, spec.steps, ctx)
    parts = [run_chain(table.slice(start, size), spec.steps, ctx) for start in range(0, table.num_rows, size)]
    counts = [{"step": c["step"], "in": sum(p.counts[i]["in"] for p in parts),
               "out": sum(p.counts[i]["out"] for p in parts)} for i, c in enumerate(parts[0].counts)]
    # A slice whose records all left may infer a null type for a side column: promote it.
    sides = {name: pa.concat_tables([p.sides[name] for p in parts], promote_options="default")
             for name in parts[0].sides}
    return ChainResult(pa.concat_tables([p.kept for p in parts]), [t for p in parts for t in p.ledger], sides,
                       counts)


def chain_task(task: Task) -> Result:
    """Run ``task.config`` (a ``ChainConfig``) over the shard ``inputs[0]``."""
    spec: ChainConfig = task.config
    table = shards.read(Path(task.inputs[0]))
    resources = {r.name: load_resource(r) for r in spec.resources}
    res = _run_sliced(table, spec, Context(spec.source, "", spec.rank, spec.seed, resources))
    outputs: dict[str, list[str]] = {}
    if spec.records:
        shards.write(res.kept, task.out(".parquet"), working=spec.working)
        outputs["records"] = [f"{task.name}.parquet"]
    for step, directory in spec.sides:
        name = f"{directory}/{task.name}.parquet"
        shards.write(res.sides[step], Path(task.out_dir) / name)
        outputs[step] = [name]
    ledger = pa.concat_tables(res.ledger) if res.ledger else ledger_mod.SCHEMA.empty_table()
    if spec.as_drops:
        shards.write(_drops_of(ledger), task.out(".parquet"))
        outputs["drops"] = [f"{task.name}.parquet"]
    elif ledger.num_rows:
        name = f".ledger/{task.name}.parquet"
        shards.write(ledger, Path(task.out_dir) / name)
        outputs["ledger"] = [name]
    return Result(outputs, {"in": table.num_rows, "out": res.kept.num_rows, "steps": res.counts})


@dataclass(frozen=True)
class Quarantined:
    """The result a task writes when it runs out of time (``Task.on_timeout``): one quarantine row per input
    record id it stood for (a file's), naming what it was doing and what to do."""

    source: str
    step: str
    ids: tuple[str, ...]
    what: str  # e.g. "reading 'atlas.pdf'"
    setting: str = "read_timeout"  # the recipe key that raises the limit

    def __call__(self, task: Task, seconds: float) -> Result:
        """Write the quarantine rows; no records."""
        from curate.core.ledger import Ledger

        ledger = Ledger(self.source, self.step)
        for rid in self.ids:
            ledger.quarantine(rid, "timeout", f"{self.source}: {self.what} took longer than {seconds:g} s; the file "
                              f"is quarantined (raise {self.setting} in the source recipe, or split the file)")
        name = shards.write_ledger(task, ledger)
        n = len(self.ids)
        return Result({"records": [], "ledger": [name]}, {"in": n, "out": 0, "removed": n, "timed_out": n})


@dataclass(frozen=True)
class ArtifactConfig:
    """A shared artefact: ``build(spec) -> (value, stats)``, saved by ``save(value, path)``."""

    build: Callable[[Any], tuple[Any, dict]]
    save: Callable[[Any, Path], None]
    spec: Any
    suffix: str = ".parquet"


def artifact_task(task: Task) -> Result:
    """Build an artefact once and save it as ``<name><suffix>``."""
    spec: ArtifactConfig = task.config
    value, stats = spec.build(spec.spec)
    spec.save(value, task.out(spec.suffix))
    return Result({"artifact": [f"{task.name}{spec.suffix}"]}, stats)


@dataclass(frozen=True)
class Read:
    """A group of input files of a ``table_task``, read lazily with a column projection."""

    paths: tuple[str, ...]
    columns: tuple[str, ...] | None = None


class Tables:
    """The tables of one ``Read`` group, one file at a time (a reduce holds only what it keeps)."""

    def __init__(self, read: Read):
        self.read = read

    def __len__(self) -> int:
        return len(self.read.paths)

    def __iter__(self) -> Any:
        for path in self.read.paths:
            yield shards.read(path, columns=list(self.read.columns) if self.read.columns else None)

    def rows(self) -> list[int]:
        """Row counts of the files, from their footers."""
        return [shards.rows(Path(p)) for p in self.read.paths]

    def all(self) -> pa.Table | None:
        """Every file concatenated (None without files)."""
        tables = list(self)
        return pa.concat_tables(tables) if tables else None


@dataclass(frozen=True)
class TableTaskConfig:
    """``fn(groups, config) -> (table, stats)`` over the ``reads`` groups; the table is the output."""

    fn: Callable[[list[Tables], Any], tuple[pa.Table, dict]]
    config: Any
    reads: tuple[Read, ...]


def table_inputs(reads: tuple[Read, ...]) -> tuple[str, ...]:
    """Every file of ``reads``, for a task's ``inputs`` (fingerprinted)."""
    return tuple(p for r in reads for p in r.paths)


def table_task(task: Task) -> Result:
    """Run one phase of a global reduce and write its output table ``<name>.parquet``."""
    spec: TableTaskConfig = task.config
    table, stats = spec.fn([Tables(r) for r in spec.reads], spec.config)
    shards.write(table, task.out(".parquet"))
    return Result({"table": [f"{task.name}.parquet"]}, stats)


def load_table(paths: tuple[str, ...]) -> pa.Table:
    """Tables concatenated (an id list, a sample): a resource loader."""
    tables = [shards.read(p) for p in paths]
    return pa.concat_tables(tables) if tables else pa.table({})

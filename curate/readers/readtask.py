"""The read pass's tasks: one reader over one file, one part of a file, or the finish of a split file.

``read_task`` writes Document shards ``<name>-NNNNN.parquet`` of bounded size, the ledger part and the
key events of keyed sources (``.keys/<name>.parquet``). For a two-phase reader (one with ``finish``)
a part's task writes its pieces instead (``.pieces/<name>.pkl``, pickled one after another), and
``finish_task`` reads the pieces of every part of the file in order and writes the records.

Key events carry a position ``pos`` that orders them within their file: ``part << 32`` plus the
event's index in the part, so the versions reduce orders them as in a whole-file read.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.core import records, shards
from curate.core.executor import Result, Task
from curate.core.ledger import Ledger
from curate.readers import READERS, Delete, FileRef, reader_module
from curate.text.textio import NotText

KEYS = pa.schema([("key", pa.string()), ("id", pa.string()), ("kind", pa.string()), ("reason", pa.string()),
                  ("file", pa.string()), ("pos", pa.int64())])


@dataclass(frozen=True)
class ReadConfig:
    """Config of one read task: source, reader and its options, the files' relpaths, shard limits, and
    for a part of a split file the part's descriptor and index (``pieces``: a finish task over that
    many part outputs)."""

    source: str
    reader: str
    options: Any
    relpaths: tuple[str, ...]
    shard_records: int = 50_000
    shard_bytes: int = 128 << 20
    part: dict | None = None
    part_index: int = 0
    pieces: int = 0
    problem: str = ""  # the input cannot be opened or listed: one quarantine row says why
    working: str | None = None  # a later pass reads the records back: written with this codec (``shards.write``)

    def code_modules(self) -> tuple[str, ...]:
        """The reader's module, chosen by name: its code (and what it imports) is fingerprinted."""
        return (READERS[self.reader],)


def _count(module: Any, ref: FileRef, options: Any) -> int | None:
    """The raw input units of a file or part, counted before parsing (None: the reader counts none)."""
    if not hasattr(module, "count_units"):
        return None
    try:
        return int(module.count_units(ref, options))
    except (NotText, OSError, ValueError):  # unreadable as a whole: the file is one unit, quarantined
        return 1


class _Writer:
    """Bounded-size record shards, key events and the ledger of one read task."""

    def __init__(self, task: Task, ref: FileRef, ledger: Ledger):
        self.task, self.ref, self.ledger = task, ref, ledger
        spec: ReadConfig = task.config
        self.limits = (spec.shard_records, spec.shard_bytes)
        self.base = spec.part_index << 32
        self.outputs: dict[str, list[str]] = {"records": [], "ledger": [], "keys": []}
        self.batch: list[dict] = []
        self.batch_bytes = 0
        self.keys: list[tuple[str, str, str, str, str, int]] = []
        self.n = 0
        self.units = 0  # input units the records hold

    def add(self, item: dict | Delete) -> None:
        if isinstance(item, Delete):
            self.keys.append((item.key, "", "delete", f"{item.reason}|{item.note}", self.ref.relpath,
                              self.base + len(self.keys)))
            return
        if (key := item.pop("key", None)) is not None:
            self.keys.append((key, item["id"], "record", "", self.ref.relpath, self.base + len(self.keys)))
        units = item.pop("units", None)
        self.units += units if units is not None else self.ref.spans.get(item["id"], 1)
        self.batch.append(item)
        self.batch_bytes += len(item["text"])
        self.n += 1
        if len(self.batch) >= self.limits[0] or self.batch_bytes >= self.limits[1]:
            self.flush()

    def add_table(self, table: pa.Table) -> None:
        """Add a reader's whole table of documents (no keys), cut into shards where ``add`` would cut them."""
        start, held = 0, 0
        for i, size in enumerate(pc.utf8_length(table.column("text")).to_pylist()):
            held += size
            if i + 1 - start >= self.limits[0] or held >= self.limits[1]:
                self._write(table.slice(start, i + 1 - start))
                start, held = i + 1, 0
        if start < table.num_rows:
            self._write(table.slice(start))
        self.units += table.num_rows
        self.n += table.num_rows

    def _write(self, table: pa.Table) -> None:
        name = f"{self.task.name}-{len(self.outputs['records']):05d}.parquet"
        shards.write(table, Path(self.task.out_dir) / name, working=self.task.config.working)
        self.outputs["records"].append(name)

    def flush(self) -> None:
        if self.batch:
            self._write(records.to_table(self.batch, records.DOCUMENT))
            self.batch, self.batch_bytes = [], 0

    def result(self, stats: dict[str, float], extra: dict[str, list[str]] | None = None,
               raw: int | None = None) -> Result:
        self.flush()
        if raw is not None:
            stats = {**stats, **_balance(raw, self.units, self.ledger)}
        if self.ledger.rows:
            self.outputs["ledger"].append(shards.write_ledger(self.task, self.ledger))
        if self.keys:
            table = pa.Table.from_arrays([pa.array(c) for c in zip(*self.keys, strict=True)], schema=KEYS)
            shards.write(table, Path(self.task.out_dir) / ".keys" / f"{self.task.name}.parquet")
            self.outputs["keys"].append(f".keys/{self.task.name}.parquet")
        removed = self.ledger.removed()
        return Result({**self.outputs, **(extra or {})},
                      {"in": self.n + removed, "out": self.n, "removed": removed, "reader": stats})


def _balance(raw: int, in_records: int, ledger: Ledger) -> dict[str, int]:
    """``units_raw``, ``units_records``, ``units_ledger``; the units left over go to the ``None`` rows."""
    units = ledger.units
    known = sum(u for u in units if u is not None)
    if None in units:  # rows for the rest of a file that broke off: whatever is left (maybe nothing countable)
        known += max(0, raw - in_records - known)
    return {"units_raw": raw, "units_records": in_records, "units_ledger": known}


def _guarded(items: Iterator, writer: _Writer, spec: ReadConfig) -> None:
    """Write a reader's items; a file that fails as a whole becomes one quarantine row, never a crash."""
    ref = writer.ref
    try:
        for item in items:
            writer.add(item)
    except NotText as err:
        writer.ledger.quarantine(ref.id(), err.reason, f"{spec.source}: cannot read '{ref.relpath}': {err}",
                                 units=None)
    except Exception as err:  # an input nobody foresaw must not take the build down
        writer.ledger.quarantine(ref.id(), "reader_error", f"{spec.source}: '{ref.relpath}': "
                                 f"{type(err).__name__}: {err} (after {writer.n} records; the rest of the "
                                 "file is lost)", units=None)


def read_task(task: Task) -> Result:
    """Run a reader over its input file(s), or one part of a file, writing shards and a ledger."""
    spec: ReadConfig = task.config
    module = reader_module(spec.reader)
    refs = [FileRef(Path(p), rel, spec.source, spec.part) for p, rel in zip(task.inputs, spec.relpaths, strict=False)]
    ref = refs[0] if len(refs) == 1 else FileRef(Path(task.out_dir), "*", spec.source)
    ledger = Ledger(spec.source, "read")
    writer = _Writer(task, ref, ledger)
    stats: dict[str, float] = {}
    if spec.problem:
        ref = FileRef(Path(spec.relpaths[0]), spec.relpaths[0], spec.source)
        ledger.quarantine(ref.id(), "unreadable_input", f"{spec.source}: cannot read '{ref.relpath}': {spec.problem}")
        return writer.result(stats, raw=1 if hasattr(module, "count_units") else None)
    table = module.read_table(ref, spec.options) if hasattr(module, "read_table") and len(refs) == 1 else None
    if table is not None:  # read whole: every raw unit (line) is one record
        writer.add_table(table)
        return writer.result(stats, raw=table.num_rows)
    raw = None if hasattr(module, "read_all") else _count(module, ref, spec.options)
    if hasattr(module, "read_all"):
        items: Iterator = _collect(module.read_all(refs, spec.options, ledger), stats)
    elif hasattr(module, "finish") and spec.part is not None:  # first phase of a split file: keep the pieces
        return _pieces(task, module, ref, ledger, writer, stats, raw)
    elif hasattr(module, "finish"):
        pieces = _collect(module.read(ref, spec.options, ledger), stats)
        items = _collect(module.finish(ref, spec.options, ledger, pieces), stats)
    else:
        items = _collect(module.read(ref, spec.options, ledger), stats)
    _guarded(items, writer, spec)
    return writer.result(stats, raw=raw)


def _pieces(task: Task, module: Any, ref: FileRef, ledger: Ledger, writer: _Writer, stats: dict,
            raw: int | None) -> Result:
    name = f".pieces/{task.name}.pkl"
    path = Path(task.out_dir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        pickler = pickle.Pickler(f, protocol=5)

        class _Sink:
            ref, ledger, n = writer.ref, writer.ledger, 0

            def add(self, piece: Any) -> None:
                pickler.dump(piece)
                pickler.clear_memo()

        _guarded(_collect(module.read(ref, task.config.options, ledger), stats), _Sink(), task.config)  # type: ignore[arg-type]
    tmp.replace(path)
    return writer.result(stats, {"pieces": [name]}, raw)


def _load_pieces(paths: list[str]) -> Iterator[Any]:
    for p in paths:
        with open(p, "rb") as f:
            while True:
                try:
                    yield pickle.load(f)
                except EOFError:
                    break


def finish_task(task: Task) -> Result:
    """The second phase of a split file: ``finish`` over the pieces of all its parts, in part order."""
    spec: ReadConfig = task.config
    module = reader_module(spec.reader)
    ref = FileRef(Path(task.inputs[0]), spec.relpaths[0], spec.source)
    ledger = Ledger(spec.source, "read")
    writer = _Writer(task, ref, ledger)
    stats: dict[str, float] = {}
    pieces = _load_pieces(list(task.inputs[1:1 + spec.pieces]))
    _guarded(_collect(module.finish(ref, spec.options, ledger, pieces), stats), writer, spec)
    # The parts counted the file's units; the records and rows here hold their share of them.
    return writer.result(stats, raw=0 if hasattr(module, "count_units") else None)


def _collect(items: Iterator, stats: dict) -> Iterator:
    """Yield from a reader generator, keeping (adding up) the statistics it returns."""
    for k, v in ((yield from items) or {}).items():
        stats[k] = stats.get(k, 0) + v

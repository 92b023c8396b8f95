"""Readers: raw files of one source kind into ``Document`` records.

A reader is a module with:

- ``SUFFIXES``: the file suffixes it picks up when given a directory (``.gz`` is looked through);
- ``Config``: a frozen dataclass of its options (recipes fill it; defaults are sane);
- ``read(ref, cfg, ledger) -> Iterator[dict | Delete]``: a generator of Document dicts for one
  file. Unreadable items go to ``ledger.quarantine`` and records removed by a rule (no abstract,
  excluded PMID) to ``ledger.drop``; the reader never raises for bad input. A record may carry a
  ``key`` (e.g. ``pmid:123``): when one key is read several times the last version wins, and a
  ``Delete`` event removes the key's earlier versions (PubMed update files);
- or, for sources whose files only make sense together (a knowledge graph split over several
  files), ``read_all(refs, cfg, ledger)`` over every input file at once, in one task.

A reader may define ``UNIT`` (e.g. ``"page"``) and ``units(path, cfg) -> int`` (cheap: a page count) so
that the read step's progress bar counts pages rather than files.

The generator may ``return`` a dict of numbers (pages read, triples covered, ...): the build sums
them per source into the manifest's ``stats``.

``read_task`` runs one reader over one file inside the executor and writes bounded-size shards.
"""

from __future__ import annotations

import glob
import importlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa

from curate.core import records, shards
from curate.core.executor import Result, Task
from curate.core.ledger import Ledger
from curate.text.textio import NotText, Problem, iter_records

READERS = {
    "articles": "curate.readers.articles",
    "qa": "curate.readers.qa",
    "exams": "curate.readers.exams",
    "promptcblue": "curate.readers.promptcblue",
    "books": "curate.readers.books",
    "kg": "curate.readers.kg",
    "documents": "curate.readers.documents",
}


def reader_module(name: str) -> ModuleType:
    """The reader module for a reader name."""
    if name not in READERS:
        raise ValueError(f"unknown reader {name!r}; known readers: {', '.join(sorted(READERS))}")
    return importlib.import_module(READERS[name])


@dataclass(frozen=True)
class FileRef:
    """One input file: absolute path, path relative to the input root (used in ids), source name."""

    path: Path
    relpath: str
    source: str

    def id(self, locator: str | None = None) -> str:
        """Record id for a position or key inside this file."""
        return records.record_id(self.source, self.relpath, locator)


@dataclass(frozen=True)
class Delete:
    """Earlier versions of ``key`` are removed: a deletion (PubMed ``DeleteCitation``), or a newer
    version that is itself dropped. ``reason`` goes to the ledger, ``note`` into its detail."""

    key: str
    reason: str = "deleted_citation"
    note: str = "deleted"


def rows(ref: FileRef, ledger: Ledger) -> Iterator[tuple[str, str, dict]]:
    """``(id, locator, row)`` for each readable record of a structured file; the rest is quarantined."""
    for locator, row in iter_records(ref.path):
        rid = ref.id(locator)
        if isinstance(row, Problem):
            ledger.quarantine(rid, row.reason, f"{ref.source}: '{ref.relpath}' {row.message}")
            continue
        yield rid, locator, row


class InputError(ValueError):
    """The inputs named on the command line or in a recipe do not exist."""


def _has_suffix(path: Path, suffixes: Iterable[str]) -> bool:
    name = path.name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    return any(name.endswith(s) for s in suffixes)


def discover(inputs: Iterable[str | Path], suffixes: Iterable[str]) -> list[tuple[Path, str]]:
    """Expand files, directories and globs into sorted ``(path, relpath)`` pairs.

    Directories are walked recursively for files with one of ``suffixes``, skipping hidden files and
    folders (a build keeps its ledger parts and markers there); files named explicitly
    are taken whatever their suffix, so that the reader can report an unsupported one.
    """
    suffixes = tuple(suffixes)
    found: set[Path] = set()
    for spec in inputs:
        spec = str(spec)
        matches = sorted(glob.glob(spec, recursive=True)) if glob.has_magic(spec) else [spec]
        if not matches or not all(os.path.exists(m) for m in matches):
            raise InputError(f"no input matches {spec!r}")
        for m in map(Path, matches):
            if m.is_dir():
                found.update(p for p in m.rglob("*") if p.is_file() and _has_suffix(p, suffixes)
                             and not any(part.startswith(".") for part in p.relative_to(m).parts))
            elif m.is_file():
                found.add(m)
    files = sorted(p.resolve() for p in found)
    if not files:
        raise InputError(f"no input files with suffix {', '.join(suffixes)} in {', '.join(map(str, inputs))}")
    root = Path(os.path.commonpath([p.parent for p in files]))
    return [(p, p.relative_to(root).as_posix()) for p in files]


@dataclass(frozen=True)
class ReadConfig:
    """Config of one read task: source, reader and its options, the files' relpaths, shard limits."""

    source: str
    reader: str
    options: Any
    relpaths: tuple[str, ...]
    shard_records: int = 50_000
    shard_bytes: int = 128 << 20

    def code_modules(self) -> tuple[str, ...]:
        """The reader's module, chosen by name: its code (and what it imports) is fingerprinted."""
        return (READERS[self.reader],)


KEYS = pa.schema([("key", pa.string()), ("id", pa.string()), ("kind", pa.string()), ("reason", pa.string()),
                  ("file", pa.string()), ("pos", pa.int64())])


def read_task(task: Task) -> Result:
    """Run a reader over its input file(s), writing shards ``<name>-NNNNN.parquet`` and a ledger."""
    spec: ReadConfig = task.config
    module = reader_module(spec.reader)
    refs = [FileRef(Path(p), rel, spec.source) for p, rel in zip(task.inputs, spec.relpaths, strict=False)]
    ref = refs[0] if len(refs) == 1 else FileRef(Path(task.out_dir), "*", spec.source)
    ledger = Ledger(spec.source, "read")
    outputs: dict[str, list[str]] = {"records": [], "ledger": [], "keys": []}
    batch: list[dict] = []
    batch_bytes = 0
    keys: list[tuple[str, str, str, str, str, int]] = []
    reader_stats: dict[str, float] = {}
    n = 0

    def flush() -> None:
        nonlocal batch, batch_bytes
        if batch:
            name = f"{task.name}-{len(outputs['records']):05d}.parquet"
            shards.write(records.to_table(batch, records.DOCUMENT), Path(task.out_dir) / name)
            outputs["records"].append(name)
            batch, batch_bytes = [], 0

    try:
        items = (module.read_all(refs, spec.options, ledger) if hasattr(module, "read_all")
                 else module.read(ref, spec.options, ledger))
        for item in _collect(items, reader_stats):
            if isinstance(item, Delete):
                keys.append((item.key, "", "delete", f"{item.reason}|{item.note}", ref.relpath, len(keys)))
                continue
            if (key := item.pop("key", None)) is not None:
                keys.append((key, item["id"], "record", "", ref.relpath, len(keys)))
            batch.append(item)
            batch_bytes += len(item["text"])
            n += 1
            if len(batch) >= spec.shard_records or batch_bytes >= spec.shard_bytes:
                flush()
    except NotText as err:
        ledger.quarantine(ref.id(), err.reason, f"{spec.source}: cannot read '{ref.relpath}': {err}")
    except Exception as err:  # an input nobody foresaw must not take the build down
        ledger.quarantine(ref.id(), "reader_error", f"{spec.source}: '{ref.relpath}': "
                          f"{type(err).__name__}: {err} (after {n} records)")
    flush()
    if ledger.rows:
        outputs["ledger"].append(shards.write_ledger(task, ledger))
    if keys:
        shards.write(pa.Table.from_arrays([pa.array(c) for c in zip(*keys, strict=True)], schema=KEYS),
                     Path(task.out_dir) / ".keys" / f"{task.name}.parquet")
        outputs["keys"].append(f".keys/{task.name}.parquet")
    removed = ledger.removed()
    return Result(outputs, {"in": n + removed, "out": n, "removed": removed, "reader": reader_stats})


def _collect(items: Iterator, stats: dict) -> Iterator:
    """Yield from a reader generator, keeping the statistics it returns."""
    stats.update((yield from items) or {})

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

**Parts of a large file.** A reader may define ``parts(path, cfg, part_bytes) -> list[dict] | None``:
descriptors (JSON-serialisable dicts, in file order) of parts of one file that workers read in
parallel, or ``None`` to read it whole. The build then runs one read task per part with
``ref.part`` set, and ``read`` reads only that part. The contract: the records of all parts, in part
order, are those of a whole-file read, with the same ids and order, and so are the ledger rows and
key events; shards are ordered by (file, part), so every output after the read pass is
byte-identical whatever the cut. Readers of record files (JSON lines, CSV, Parquet) get this by
setting ``parts = record_parts`` and reading through ``rows``, which honours ``ref.part``
(``text.parts``: byte ranges at record boundaries numbered from their first line, Parquet row
groups).

**Two phases, for records that span parts** (a book's chapters across page ranges). A reader that
also defines ``finish(ref, cfg, ledger, pieces) -> Iterator[dict]`` is read in two phases: ``read``
on each part yields intermediate pieces (any picklable values, e.g. one per page) instead of
records; one finish task per file then receives the pieces of every part, in part order, as one
iterator, and yields the records (and may ``return`` statistics, which are added to those the parts
returned). Both phases may write ledger rows. ``ref.part`` is ``None`` in ``finish``, and also in
``read`` when the file is read whole, in which case ``read``'s pieces go straight to ``finish`` in
the same task.

``read_task`` runs one reader over one file (or part) inside the executor and writes bounded-size
shards; ``finish_task`` runs the second phase.
"""

from __future__ import annotations

import glob
import importlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from curate.core import records
from curate.core.ledger import Ledger
from curate.text.textio import Problem, iter_records

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
    """One input file (or one part of it: ``part``, see ``parts``): absolute path, path relative to the
    input root (used in ids), source name. ``spans`` collects, per record id, the input units (lines)
    of records that took more than one."""

    path: Path
    relpath: str
    source: str
    part: dict | None = None
    spans: dict[str, int] = field(default_factory=dict, compare=False)

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
    """``(id, locator, row)`` for each readable record of a structured file (or of ``ref.part``); the
    rest is quarantined."""
    spans: dict[str, int] = {}
    for locator, row in iter_records(ref.path, part=ref.part, spans=spans):
        rid = ref.id(locator)
        if isinstance(row, Problem):
            ledger.quarantine(rid, row.reason, f"{ref.source}: '{ref.relpath}' {row.message}")
            continue
        if locator in spans:
            ref.spans[rid] = spans.pop(locator)
        yield rid, locator, row


def record_parts(path: Path, cfg: Any, part_bytes: int) -> list[dict] | None:
    """Parts of a record file for readers that read through ``rows`` (``text.parts.record_parts``)."""
    from curate.text.parts import record_parts as cut

    return cut(path, part_bytes)


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


from curate.readers.readtask import KEYS, ReadConfig, finish_task, read_task  # noqa: E402,F401 - the read pass

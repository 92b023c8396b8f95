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

**Accounting from the raw input.** A reader defines ``count_units(ref, cfg) -> int``: the physical
input units of the file (or ``ref.part``), counted from the raw input before parsing and independently
of it (non-blank lines of JSON lines, CSV lines, Parquet rows, top-level JSON items, PubMed articles,
pages). Every unit must end in a record or in a ledger row: a record holds one unit, or
``record["units"]`` (a chapter that absorbed pages; ``ref.spans[id]`` for a CSV row over several
lines, set by ``rows``); the ledger (``core.ledger.Ledger.units``) counts one unit per ``drop`` or
``quarantine`` row, ``units=n`` for more, ``units=None`` for the rest of a file that broke off, and
none per ``modify`` row. The read task reports ``units_raw``, ``units_records`` and ``units_ledger``
in the reader statistics, and ``curate audit`` fails when raw != records + ledger: a reader that
lets a line vanish (a parser stopping at a bad line, quoting that swallows rows) is caught there.
``record_units`` does this for readers of record files.

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

import importlib
from collections.abc import Iterator
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


def record_units(ref: FileRef, cfg: Any) -> int:
    """Raw input units of a record file or part, for readers that read through ``rows``
    (``textio.count_units``: lines, CSV lines without the header, Parquet rows, JSON items)."""
    from curate.text.textio import count_units

    return count_units(ref.path, part=ref.part)


def record_parts(path: Path, cfg: Any, part_bytes: int) -> list[dict] | None:
    """Parts of a record file for readers that read through ``rows`` (``text.parts.record_parts``)."""
    from curate.text.parts import record_parts as cut

    return cut(path, part_bytes)


from curate.readers.inputs import InputError, discover, discover_all  # noqa: E402,F401 - input files
from curate.readers.readtask import KEYS, ReadConfig, finish_task, read_task  # noqa: E402,F401 - the read pass

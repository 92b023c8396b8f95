"""The ledger: one row for every record a step drops, quarantines or changes.

Columns: ``id, source, step, action, reason, detail`` (all strings).

- ``action`` is ``drop`` (a readable record removed by a rule), ``quarantine`` (input that could
  not be read: a corrupt file, a broken JSON line, undecodable bytes) or ``modify`` (the record was
  kept but changed or flagged).
- ``reason`` is a short rule name (``min_length``, ``exact_duplicate``, ``malformed_json``).
- ``detail`` says what exactly: ``duplicate_of=<id>``, the error message, the rule's threshold.

Every step writes the ledger rows of one shard into ``<step>/.ledger/<shard>.parquet``; the build
concatenates them, sorted, into ``ledger.parquet``. Drops and quarantines balance the audit:
records in = records out + dropped + quarantined, per source and per step.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("step", pa.string()),
        ("action", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
    ]
)

DROP, QUARANTINE, MODIFY = "drop", "quarantine", "modify"
REMOVALS = (DROP, QUARANTINE)


@dataclass
class Ledger:
    """Collects the ledger rows of one step over one shard."""

    source: str
    step: str
    rows: list[tuple[str, str, str, str, str, str]] = field(default_factory=list)
    # Raw input units each row accounts for (read step; ``readers`` docstring): None = the rest of a file.
    units: list[int | None] = field(default_factory=list)

    def _add(self, id_: str, action: str, reason: str, detail: str, units: int | None = 0) -> None:
        self.rows.append((id_, self.source, self.step, action, reason, detail))
        self.units.append(units)

    def drop(self, id_: str, reason: str, detail: str = "", units: int | None = 1) -> None:
        """Record that a readable record was removed by rule ``reason``."""
        self._add(id_, DROP, reason, detail, units)

    def quarantine(self, id_: str, reason: str, detail: str, units: int | None = 1) -> None:
        """Record input that could not be read, with the error message."""
        self._add(id_, QUARANTINE, reason, detail, units)

    def modify(self, id_: str, reason: str, detail: str = "") -> None:
        """Record that a kept record was changed or flagged."""
        self._add(id_, MODIFY, reason, detail)

    def removed(self) -> int:
        """Number of records this ledger takes out of the flow."""
        return sum(1 for r in self.rows if r[3] in REMOVALS)

    def table(self) -> pa.Table:
        """The rows as an Arrow table of ``SCHEMA``."""
        cols = list(zip(*self.rows, strict=True)) if self.rows else [[] for _ in SCHEMA.names]
        return pa.Table.from_arrays([pa.array(c, pa.string()) for c in cols], schema=SCHEMA)


def read(paths: Iterable[Path]) -> pa.Table:
    """Concatenate ledger part files into one table."""
    tables = [pq.read_table(p, schema=SCHEMA) for p in paths]
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def counts(table: pa.Table) -> Counter[tuple[str, str, str, str]]:
    """Row counts by ``(source, step, action, reason)``."""
    cols = [table.column(c).to_pylist() for c in ("source", "step", "action", "reason")]
    return Counter(zip(*cols, strict=True))

"""Documents that are already text: Parquet shards of another build, or JSONL/CSV with a text field.

This is how ``curate dedup``, ``curate decontam`` and ``curate scrub`` read their input. Record ids
are kept when the file has an id field (so the ledger names the records a user already knows),
else derived from the position; ``meta`` is kept when present.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from curate.core import records
from curate.core.ledger import Ledger
from curate.readers import FileRef, rows
from curate.text import normalise as text

SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".tsv")


@dataclass(frozen=True)
class Config:
    """Which fields hold the text and the id."""

    text_field: str = "text"
    id_field: str = "id"


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Documents from one record file."""
    for rid, locator, row in rows(ref, ledger):
        body = row.get(cfg.text_field)
        doc_id = str(row[cfg.id_field]) if row.get(cfg.id_field) not in (None, "") else rid
        if not isinstance(body, str):
            ledger.quarantine(doc_id, "malformed_record", f"{ref.source}: '{ref.relpath}' {locator}: no string "
                              f"field {cfg.text_field!r} (fields: {', '.join(sorted(row)) or 'none'})")
            continue
        meta = row.get("meta")
        meta = records.load_meta(meta) if isinstance(meta, str) else (meta if isinstance(meta, dict) else {})
        yield {"id": doc_id, "source": ref.source, "text": body,
               "lang": row.get("lang") or text.detect_lang(body),
               "meta": {**meta, "file": meta.get("file", ref.relpath)}}

"""A reader that lets one record vanish without a ledger row: the audit must catch it."""

from dataclasses import dataclass

from curate.readers import record_units, rows

SUFFIXES = (".jsonl",)
count_units = record_units


@dataclass(frozen=True)
class Config:
    pass


def read(ref, cfg, ledger):
    for rid, _, row in rows(ref, ledger):
        if row.get("text") == "lost":
            continue  # the defect: no record, no ledger row
        yield {"id": rid, "source": ref.source, "text": row["text"], "lang": "en", "meta": {}}

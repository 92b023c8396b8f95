"""PromptCBLUE JSON lines (``input, target, answer_choices, task_type, task_dataset, sample_id``)
rendered as pre-training text: the prompt followed by its answer (template ``promptcblue/zh``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from curate.core.ledger import Ledger
from curate.readers import FileRef, record_parts, record_units, rows
from curate.text import normalise as text
from curate.text import templates

SUFFIXES = (".jsonl", ".json", ".ndjson")
parts = record_parts  # large files are read in parts by parallel tasks
count_units = record_units  # lines, rows or items, for the audit


@dataclass(frozen=True)
class Config:
    """Options of the PromptCBLUE reader."""

    template: str = "promptcblue/zh"


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Documents from one PromptCBLUE file."""
    for rid, locator, row in rows(ref, ledger):
        prompt, target = row.get("input"), row.get("target")
        if not isinstance(prompt, str) or not isinstance(target, str):
            keys = ", ".join(sorted(row)) or "none"
            ledger.quarantine(rid, "malformed_record", f"promptcblue: '{ref.relpath}' {locator}: "
                              f"needs string 'input' and 'target' (fields: {keys})")
            continue
        prompt, target = text.fix(prompt).strip(), text.fix(target).strip()
        if not target:
            ledger.drop(rid, "empty_answer", f"{locator}: empty target")
            continue
        body = templates.render(cfg.template, input=prompt, target=target)
        meta = {"file": ref.relpath, "locator": locator, "sample_id": row.get("sample_id"),
                "task_type": row.get("task_type"), "task_dataset": row.get("task_dataset"),
                "template": cfg.template}
        yield {"id": rid, "source": ref.source, "text": body, "lang": text.detect_lang(body), "meta": meta}

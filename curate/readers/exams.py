"""Exam questions (multiple choice, Chinese and English) rewritten into knowledge-point documents.

Each row is normalised by ``mcq.parse`` (any of the option and answer shapes real files use), its
question pattern is recognised by ``knowledge.rewrite``, and the statement of the tested fact is
rendered by ``templates/<templates>/<lang>/<pattern>.j2`` inside ``<templates>/<lang>/document.j2``
(case or vignette as context, the statement, then the explanation). ``meta["template"]`` names the
pattern template used. Rows that cannot be normalised are quarantined with reason ``malformed_mcq``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from curate.benchmarks import mcq
from curate.core.ledger import Ledger
from curate.readers import FileRef, knowledge, rows
from curate.text import normalise as text
from curate.text import templates

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")


@dataclass(frozen=True)
class Config:
    """Options of the exam reader: which row fields hold what, the template family, explanations."""

    fields: mcq.Fields = field(default_factory=mcq.Fields)
    templates: str = "exams"  # renders templates/<templates>/<lang>/<pattern>.j2
    include_explanation: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.fields, Mapping):  # a recipe passes the field lists as a plain mapping
            object.__setattr__(self, "fields", mcq.Fields(**self.fields))


def knowledge_point(item: Mapping[str, Any], cfg: Config) -> tuple[str, str, str]:
    """Render a parsed MCQ as ``(text, lang, template id)``."""
    lang = text.detect_lang(item["question"])
    point = knowledge.rewrite(item["question"], mcq.answer_texts(item), mcq.other_texts(item), lang)
    template_id = f"{cfg.templates}/{lang}/{point.pattern}"
    statement = templates.render(template_id, **point.slots)
    sep = "" if lang == "zh" else " "
    context = sep.join(templates.strip_end(c) + ("。" if lang == "zh" else ".")
                       for c in (item["context"], point.lead) if c)
    explanation = item["explanation"] if cfg.include_explanation else ""
    body = templates.render(f"{cfg.templates}/{lang}/document", context=context, statement=statement,
                            explanation=knowledge.clean_explanation(explanation, lang))
    return (knowledge.tighten(body) if lang == "zh" else body), lang, template_id


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Knowledge-point documents from one exam file; bad rows go to the ledger."""
    for rid, locator, row in rows(ref, ledger):
        try:
            item = mcq.parse(row, cfg.fields, id=rid)
        except mcq.MalformedMCQ as err:
            ledger.quarantine(rid, err.reason, f"exams: '{ref.relpath}' {locator}: {err}")
            continue
        body, lang, template_id = knowledge_point(item, cfg)
        # Row provenance (dataset, subject, year, original id: ``Fields.meta``) first, so that the
        # reader's own keys win on a clash.
        meta = {**item["meta"], "file": ref.relpath, "locator": locator, "template": template_id,
                "answer": item["answer"]}
        yield {"id": rid, "source": ref.source, "text": body, "lang": lang, "meta": meta}

"""Exam questions (multiple choice, Chinese and English) rewritten into knowledge-point documents.

Each row is normalised by ``mcq.parse`` (any of the option and answer shapes real files use), its
question's form and pattern are recognised by ``knowledge.rewrite`` (``knowledge_zh`` for Chinese), and
the statement of the tested fact is rendered by ``templates/<templates>/<lang>/<pattern>.j2`` inside
``<templates>/<lang>/document.j2`` (case or vignette as context, the statement, then the explanation).
``meta["template"]`` names the pattern template used and ``meta["form"]`` the form (negative, correct,
cloze, positive, superlative, all, fallback). Rows that cannot be normalised are quarantined with reason
``malformed_mcq`` (``corrupt_option`` for spreadsheet errors). The question, context and explanation
follow the QA reader's rule for non-text values (``qa.text_of``): a list of strings is one line per
item, any other object, number or boolean is ledgered ``non_text_field``, never written as its Python
form. The statistics returned count the
knowledge points per form (``form_<form>``), so that a build says how many needed the fallback.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from curate.benchmarks import mcq
from curate.core.ledger import Ledger
from curate.readers import FileRef, knowledge, record_parts, record_units, rows
from curate.readers.qa import NonText, text_of
from curate.text import normalise as text
from curate.text import templates

SUFFIXES = (".jsonl", ".json", ".csv", ".tsv", ".parquet")
parts = record_parts  # large files are read in parts by parallel tasks
# Quality thresholds when no recipe sets them: a knowledge point is one short sentence ("灭活睾酮的器官是肝脏。"),
# and statistics and genetics facts carry formulas.
QUALITY = {"min_chars": 6, "max_symbol_ratio": 0.5}
count_units = record_units  # lines, rows or items, for the audit


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
    body, lang, template_id, _ = _knowledge_point(item, cfg)
    return body, lang, template_id


def _knowledge_point(item: Mapping[str, Any], cfg: Config) -> tuple[str, str, str, str]:
    """``(text, lang, template id, form)`` of a parsed MCQ."""
    lang = text.detect_lang(item["question"])
    options = {o["label"]: o["text"] for o in item["options"]}
    named = mcq.answer_texts(item)
    answers = knowledge.resolve_letters(named, options)
    others = [t for t in mcq.other_texts(item) if t not in answers]
    point = knowledge.rewrite(item["question"], answers, others, lang)
    if answers != named and point.form in ("positive", "superlative"):  # "A，B，C均可": all of those options
        point = knowledge.Point("all_of" if lang == "zh" else point.pattern, point.slots, point.lead, "all")
    template_id = f"{cfg.templates}/{lang}/{point.pattern}"
    statement = templates.render(template_id, **point.slots)
    sep = "" if lang == "zh" else " "
    context = sep.join(templates.strip_end(c) + ("。" if lang == "zh" else ".")
                       for c in (item["context"], point.lead) if c)
    explanation = item["explanation"] if cfg.include_explanation else ""
    body = templates.render(f"{cfg.templates}/{lang}/document", context=context, statement=statement,
                            explanation=knowledge.clean_explanation(explanation, lang))
    return (knowledge.tighten(body) if lang == "zh" else body), lang, template_id, point.form


def text_fields(row: Mapping[str, Any], fields: mcq.Fields) -> dict[str, Any]:
    """``row`` with its question, context and explanation fields as text (``qa.text_of``); raises
    ``NonText`` for one that holds an object, a number or a boolean."""
    out = dict(row)
    for name in (*fields.question, *fields.context, *fields.explanation):
        if name in out:
            out[name] = text_of(out[name], f"field {name!r}")
    return out


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Knowledge-point documents from one exam file; bad rows go to the ledger; returns counts per form."""
    forms: Counter[str] = Counter()
    for rid, locator, row in rows(ref, ledger):
        try:
            item = mcq.parse(text_fields(row, cfg.fields), cfg.fields, id=rid)
            mcq.check_options(item)
        except mcq.MalformedMCQ as err:
            ledger.quarantine(rid, err.reason, f"exams: '{ref.relpath}' {locator}: {err}")
            continue
        except NonText as err:
            ledger.quarantine(rid, "non_text_field", f"exams: '{ref.relpath}' {locator}: {err}")
            continue
        body, lang, template_id, form = _knowledge_point(item, cfg)
        forms[f"form_{form}"] += 1
        # Row provenance (dataset, subject, year, original id: ``Fields.meta``) first, so that the
        # reader's own keys win on a clash.
        meta = {**item["meta"], "file": ref.relpath, "locator": locator, "template": template_id, "form": form,
                "answer": item["answer"]}
        yield {"id": rid, "source": ref.source, "text": body, "lang": lang, "meta": meta}
    return dict(sorted(forms.items()))

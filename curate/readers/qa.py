"""Question-answer pairs and consultations, concatenated by template into pre-training text.

Each record is recognised by its fields, so one file may mix shapes:

- ShareGPT: ``conversations`` (``from``/``value``) or ``messages`` (``role``/``content``);
- alpaca: ``instruction`` (+ ``input``) and ``output``;
- Huatuo-style: ``questions`` (a list, or a list of paraphrase lists) and ``answers`` (a list);
- pairs: a question field and an answer field from the configured aliases (JSONL, JSON, CSV, TSV).

Turns become ``[{role, content}]`` and are rendered by ``templates/<template>/<lang>.j2``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curate.core.ledger import Ledger
from curate.readers import FileRef, rows
from curate.text import normalise as text
from curate.text import templates

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")

_ROLES = {"human": "user", "user": "user", "patient": "user", "question": "user",
          "gpt": "assistant", "assistant": "assistant", "bot": "assistant", "chatgpt": "assistant",
          "doctor": "assistant", "model": "assistant", "system": "system"}


@dataclass(frozen=True)
class Config:
    """Options of the QA reader: field aliases (first present wins) and the template family."""

    question_fields: tuple[str, ...] = ("question", "query", "ask", "q", "问题", "提问", "input")
    answer_fields: tuple[str, ...] = ("answer", "response", "reply", "a", "回答", "答案", "output",
                                      "target")
    template: str = "qa"  # renders templates/qa/<lang>.j2


class UnknownShape(ValueError):
    """A record whose fields match none of the QA shapes."""


def _turns_sharegpt(messages: list[Any]) -> list[dict[str, str]]:
    turns = []
    for m in messages:
        if not isinstance(m, dict):
            raise UnknownShape("a conversation turn is not an object")
        role = str(m.get("from", m.get("role", ""))).lower()
        if role not in _ROLES:
            raise UnknownShape(f"unknown speaker {role!r} in a conversation")
        turns.append({"role": _ROLES[role], "content": m.get("value", m.get("content"))})
    return turns


def _first(row: dict[str, Any], fields: tuple[str, ...]) -> Any:
    return next((row[f] for f in fields if row.get(f) not in (None, "")), None)


def turns_of(row: dict[str, Any], cfg: Config) -> list[dict[str, Any]]:
    """The dialogue turns of one QA record, whatever its shape."""
    for field in ("conversations", "messages", "conversation", "dialog"):
        if isinstance(row.get(field), list):
            return _turns_sharegpt(row[field])
    if "instruction" in row and "output" in row:
        prompt = "\n".join(str(p) for p in (row["instruction"], row.get("input")) if p)
        return [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
    if isinstance(row.get("questions"), list) and isinstance(row.get("answers"), list):
        questions = [q[0] if isinstance(q, list) and q else q for q in row["questions"]]
        turns = []
        for q, a in zip(questions, row["answers"], strict=False):
            turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        return turns
    q, a = _first(row, cfg.question_fields), _first(row, cfg.answer_fields)
    if q is None and a is None:
        keys = ", ".join(sorted(k for k in row if not k.startswith("_"))) or "none"
        raise UnknownShape(f"no question/answer, instruction/output or conversation fields (fields: {keys})")
    return [{"role": "user", "content": q}, {"role": "assistant", "content": a}]


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Documents from one QA file."""
    for rid, locator, row in rows(ref, ledger):
        try:
            turns = turns_of(row, cfg)
        except UnknownShape as err:
            ledger.quarantine(rid, "unrecognised_record", f"qa: '{ref.relpath}' {locator}: {err}")
            continue
        turns = [{"role": t["role"], "content": text.fix(str(t["content"] or "")).strip()} for t in turns]
        if not any(t["role"] == "assistant" and t["content"] for t in turns):
            ledger.drop(rid, "empty_answer", f"{locator}: no non-empty answer")
            continue
        if not any(t["role"] == "user" and t["content"] for t in turns):
            ledger.drop(rid, "empty_question", f"{locator}: no non-empty question")
            continue
        turns = [t for t in turns if t["content"]]
        lang = text.detect_lang(" ".join(t["content"] for t in turns))
        body = templates.render(f"{cfg.template}/{lang}", turns=turns)
        meta = {"file": ref.relpath, "locator": locator, "turns": len(turns), "template": f"{cfg.template}/{lang}"}
        for key in ("id", "department", "title", "task", "_key"):
            if isinstance(row.get(key), (str, int)):
                meta[f"orig_{key.strip('_')}"] = row[key]
        yield {"id": rid, "source": ref.source, "text": body, "lang": lang, "meta": meta}

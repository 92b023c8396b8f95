"""Question-answer pairs and consultations, concatenated by template into pre-training text.

Files are JSON lines, JSON, CSV, TSV or Parquet, whatever their suffix (``.txt`` included: the content
decides, see ``textio.sniff_format``). Each record's shape is detected from its fields, so one file may
mix shapes, and the statistics returned count each shape found (``shape 问/答``, ``shape conversations``),
which the build prints:

- conversations: ``conversations`` / ``messages`` / ``dialogue`` / ``dialog`` / ``utterances`` lists of
  turns (``from``/``value``, ``role``/``content``, ``speaker``/``sentence``), or of strings with a speaker
  prefix (``病人：…``, ``医生：…``, ``Patient: …``; alternating when there is none);
- alpaca: ``instruction`` (+ ``input``) and ``output``;
- Huatuo-style: ``questions`` (a list, or a list of paraphrase lists) and ``answers`` (a list);
- a question field and an answer field: the recipe's ``question_fields``/``answer_fields`` first, then
  the common pairs of ``PAIRS`` (问/答, 问题/回答, question/answer, query/response, prompt/completion,
  input/output, medical_case/doctor_diagnosis, 病情描述/医生建议, ...), matched case-insensitively; a
  ``title`` leads an ``ask`` or 病情描述 question (cMedQA, webMedQA) when there is one.

A turn that holds a list of strings is one line per string; one that holds an object or a number is
ledgered ``non_text_field``. Turns become ``[{role, content}]`` and are rendered by
``templates/<template>/<lang>.j2``. A record of no known shape is quarantined with the fields it
has, so that the fix (``question_fields``) is plain.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from curate.core.ledger import Ledger
from curate.readers import FileRef, record_parts, record_units, rows
from curate.text import normalise as text
from curate.text import templates

SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet", ".txt")
parts = record_parts  # large files are read in parts by parallel tasks
# Quality thresholds when no recipe sets them: "问：…？\n答：肿瘤科；肿瘤外科" is a whole answer (CJK characters
# count one word each), "ok?" / "ok" is not.
QUALITY = {"min_chars": 12, "min_words": 8, "max_symbol_ratio": 0.3}
count_units = record_units  # lines, rows or items, for the audit

# Common (question, answer) field pairs of public QA and consultation sets, most specific first.
PAIRS = (("问", "答"), ("问题", "回答"), ("问题", "答案"), ("提问", "回答"), ("问句", "答句"), ("病人", "医生"),
         ("患者", "医生"), ("病情描述", "医生建议"), ("病情描述", "诊断建议"), ("病情描述", "医生回复"),
         ("medical_case", "doctor_diagnosis"), ("case", "diagnosis"), ("description", "diagnosis"),
         ("patient", "doctor"), ("question", "answer"), ("query", "response"), ("query", "answer"),
         ("question", "response"), ("ask", "answer"), ("prompt", "completion"), ("prompt", "response"),
         ("prompt", "output"), ("input", "output"), ("input", "target"), ("inputs", "targets"), ("src", "tgt"),
         ("source", "target"), ("q", "a"), ("human", "assistant"), ("user", "assistant"))
TURN_LISTS = ("conversations", "conversation", "messages", "dialogue", "dialog", "utterances", "turns")

_ROLES = {"human": "user", "user": "user", "patient": "user", "question": "user", "病人": "user", "患者": "user",
          "用户": "user", "提问者": "user", "咨询者": "user", "gpt": "assistant", "assistant": "assistant",
          "bot": "assistant", "chatgpt": "assistant", "doctor": "assistant", "model": "assistant", "医生": "assistant",
          "大夫": "assistant", "专家": "assistant", "助手": "assistant", "回答者": "assistant", "system": "system",
          "系统": "system"}
_SPEAKER = re.compile(r"^\s*(病人|患者|用户|医生|大夫|专家|助手|patient|doctor|user|assistant|human|gpt)\s*[:：]\s*",
                      re.I)


@dataclass(frozen=True)
class Config:
    """Options of the QA reader: extra field names tried before the common pairs, and the template family."""

    question_fields: tuple[str, ...] = ()  # e.g. ("咨询内容",): tried before PAIRS
    answer_fields: tuple[str, ...] = ()
    template: str = "qa"  # renders templates/qa/<lang>.j2

    def __post_init__(self) -> None:
        for name in ("question_fields", "answer_fields"):  # a recipe may give one name as a string
            value = getattr(self, name)
            if isinstance(value, str):
                object.__setattr__(self, name, (value,))


class UnknownShape(ValueError):
    """A record whose fields match none of the QA shapes."""


class NonText(ValueError):
    """A question, answer or turn that holds an object, a number or a boolean instead of text."""


def text_of(value: Any, where: str) -> str:
    """The text of a field: a string as it is, nothing as empty, a list of strings one per line (the
    stated rule for lists, e.g. Huatuo's answer lists); anything else raises ``NonText``, so that no
    Python form (``['a', 'b']``, ``{'k': 1}``) is ever written as text."""
    if value is None or isinstance(value, str):
        return value or ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "\n".join(v for v in value if v.strip())
    raise NonText(f"{where} holds {type(value).__name__} {str(value)[:60]!r}, not text")


def _role(speaker: Any) -> str:
    role = _ROLES.get(str(speaker).strip().lower())
    if role is None:
        raise UnknownShape(f"unknown speaker {speaker!r} in a conversation")
    return role


def _turns_list(messages: list[Any]) -> list[dict[str, Any]]:
    if all(isinstance(m, str) for m in messages):
        turns = []
        for i, m in enumerate(messages):
            prefix = _SPEAKER.match(m)
            role = _role(prefix.group(1)) if prefix else ("user" if i % 2 == 0 else "assistant")
            turns.append({"role": role, "content": m[prefix.end():] if prefix else m})
        return turns
    turns = []
    for m in messages:
        if not isinstance(m, dict):
            raise UnknownShape("a conversation turn is neither an object nor a string")
        speaker = next((m[k] for k in ("from", "role", "speaker") if k in m), "")
        content = next((m[k] for k in ("value", "content", "sentence", "text", "utterance") if k in m), None)
        turns.append({"role": _role(speaker), "content": content})
    return turns


def _lookup(row: Mapping[str, Any]) -> dict[str, str]:
    """Field names by their lower-cased, stripped form."""
    return {str(k).strip().lower(): k for k in row}


def _present(row: Mapping[str, Any], keys: dict[str, str], name: str) -> Any:
    key = keys.get(name.lower())
    value = row.get(key) if key is not None else None
    return None if value in (None, "") or (isinstance(value, str) and not value.strip()) else value


def _pair(row: Mapping[str, Any], cfg: Config) -> tuple[str, Any, Any] | None:
    keys = _lookup(row)
    if cfg.question_fields or cfg.answer_fields:
        q = next((v for f in cfg.question_fields if (v := _present(row, keys, f)) is not None), None)
        a = next((v for f in cfg.answer_fields if (v := _present(row, keys, f)) is not None), None)
        if q is not None or a is not None:
            return "/".join(f for f in (*cfg.question_fields[:1], *cfg.answer_fields[:1])), q, a
    for qf, af in PAIRS:
        if qf.lower() in keys and af.lower() in keys:
            q, a = _present(row, keys, qf), _present(row, keys, af)
            title = _present(row, keys, "title") if qf in ("ask", "病情描述", "description") else None
            if title is not None and str(title).strip() not in str(q or ""):
                q = f"{title}\n{q}" if q is not None else title
            return f"{qf}/{af}", q, a
    return None


def parse(row: dict[str, Any], cfg: Config) -> tuple[str, list[dict[str, Any]]]:
    """``(shape, turns)`` of one QA record, contents as text; raises ``UnknownShape`` or ``NonText``."""
    shape, turns = _parse(row, cfg)
    return shape, [{"role": t["role"], "content": text_of(t["content"], f"the {t['role']} turn")} for t in turns]


def _parse(row: dict[str, Any], cfg: Config) -> tuple[str, list[dict[str, Any]]]:
    keys = _lookup(row)
    for name in TURN_LISTS:
        value = row.get(keys.get(name, name))
        if isinstance(value, list) and value:
            return name, _turns_list(value)
    if "instruction" in keys and "output" in keys:
        prompt = "\n".join(text_of(p, "instruction/input") for p in (row[keys["instruction"]],
                                                                     row.get(keys.get("input", "input"))) if p)
        return "instruction/output", [{"role": "user", "content": prompt},
                                      {"role": "assistant", "content": row[keys["output"]]}]
    questions, answers = row.get(keys.get("questions", "")), row.get(keys.get("answers", ""))
    if isinstance(questions, list) and isinstance(answers, list):
        turns = []
        for q, a in zip([q[0] if isinstance(q, list) and q else q for q in questions], answers, strict=False):
            turns += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        return "questions/answers", turns
    if (found := _pair(row, cfg)) is not None:
        shape, q, a = found
        return shape, [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
    fields = ", ".join(sorted(str(k) for k in row if not str(k).startswith("_"))) or "none"
    raise UnknownShape(f"no conversation, instruction/output or question/answer fields (fields: {fields}); name "
                       "them with question_fields and answer_fields")


def turns_of(row: dict[str, Any], cfg: Config) -> list[dict[str, Any]]:
    """The dialogue turns of one QA record, whatever its shape."""
    return parse(row, cfg)[1]


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Documents from one QA file; returns the count of each record shape detected."""
    shapes: Counter[str] = Counter()
    for rid, locator, row in rows(ref, ledger):
        try:
            shape, turns = parse(row, cfg)
        except UnknownShape as err:
            ledger.quarantine(rid, "unrecognised_record", f"qa: '{ref.relpath}' {locator}: {err}")
            continue
        except NonText as err:
            ledger.quarantine(rid, "non_text_field", f"qa: '{ref.relpath}' {locator}: {err}")
            continue
        shapes[f"shape {shape}"] += 1
        turns = [{"role": t["role"], "content": text.fix(t["content"]).strip()} for t in turns]
        if not any(t["role"] == "assistant" and t["content"] for t in turns):
            ledger.drop(rid, "empty_answer", f"{locator}: no non-empty answer")
            continue
        if not any(t["role"] == "user" and t["content"] for t in turns):
            ledger.drop(rid, "empty_question", f"{locator}: no non-empty question")
            continue
        turns = [t for t in turns if t["content"]]
        lang = text.detect_lang(" ".join(t["content"] for t in turns))
        body = templates.render(f"{cfg.template}/{lang}", turns=turns)
        meta = {"file": ref.relpath, "locator": locator, "turns": len(turns), "template": f"{cfg.template}/{lang}",
                "shape": shape}
        for key in ("id", "department", "title", "task", "_key"):
            if isinstance(row.get(key), (str, int)):
                meta[f"orig_{key.strip('_')}"] = row[key]
        yield {"id": rid, "source": ref.source, "text": body, "lang": lang, "meta": meta}
    return dict(sorted(shapes.items()))

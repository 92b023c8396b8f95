"""Multiple-choice items: one raw row, in any of the shapes real exam files use, to an ``MCQ`` record.

Parsing only (no wording): the exam reader renders the result, and instruction-set loaders (MedQA,
MedMCQA, CMMLU, physician exams) reuse it. Which fields hold what is a choice, kept in ``Fields``.

Options may be:

- a dict ``{"A": "...", "B": "..."}``;
- a list of strings, labelled (``["A. 发热", "B、咳嗽"]``) or plain (labelled A, B, ... in order);
- a list of ``{label, text}`` or ``{key, value}`` objects;
- separate columns (``A``..``H`` in CSVs, ``opa``..``ope`` in MedMCQA);
- one string (``"A. 发热 B. 咳嗽"``, ``"A 发热\\nB 咳嗽"``), possibly JSON;
- absent, with the options written into the stem after the question (``"…是（ ） A. 发热 B. 咳嗽"``).

Answers may be a letter (``"B"``), several letters for multi-select (``"ACD"``, ``"A,C"``, ``"A、C"``),
``"答案：B"``, ``"B. 咳嗽"``, the option text itself, a list of those, or an index. An index's base is
stated per field name in ``Fields.index_fields``: ``answer_idx`` is 0-based (code-built sets) and
``cop`` is 1-based (MedMCQA's raw JSON). An integer in a field without a stated base is refused rather
than guessed. A letter string in an index field is read as a letter (MedQA's ``answer_idx: "E"``).

The parsed ``answer`` is the labels concatenated in option order (``"ACD"``): labels are single letters.

Option texts that a spreadsheet or a data-frame export left in place of the option (``#NAME?``,
``#VALUE!``, ``#REF!``, ``#DIV/0!``, ``#N/A``, ``nan``), and empty options before a real one, are options
the source lost. Parsing keeps the item (an evaluation set is still indexed whole for decontamination)
and lists their labels in ``meta["lost_options"]``; ``check_options`` refuses such an item
(``CorruptOption``, reason ``corrupt_option``) where it would be rendered: exam knowledge points and
instruction examples. A trailing ``nan`` or empty cell is no option at all.
"""

from __future__ import annotations

import contextlib
import json
import re
import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from curate.text import normalise as text

LETTERS = string.ascii_uppercase


class MalformedMCQ(ValueError):
    """A row that cannot be normalised into an MCQ; ``field`` names the part that is wrong."""

    reason = "malformed_mcq"

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


class CorruptOption(MalformedMCQ):
    """An option the source lost: a spreadsheet error or an empty cell before a real option."""

    reason = "corrupt_option"


# What spreadsheets and data-frame exports write where a value was lost (a formula, a missing cell).
SPREADSHEET_ERRORS = re.compile(r"#(?:NAME\?|VALUE!|REF!|DIV/0!|N/A|NUM!|NULL!|SPILL!|CALC!|GETTING_DATA)|nan",
                                re.I)


def lost(text: str) -> bool:
    """Whether an option text is a spreadsheet error or a missing-value marker rather than an option."""
    return bool(SPREADSHEET_ERRORS.fullmatch(text.strip()))


@dataclass(frozen=True)
class Fields:
    """Which row fields hold each part of an item; for each part the first non-empty field wins."""

    question: tuple[str, ...] = ("question", "stem", "Question", "qtext", "题目", "题干", "问题")
    context: tuple[str, ...] = ("context", "case", "病例", "share_content")
    options: tuple[str, ...] = ("options", "option", "choices", "Options", "选项")
    option_columns: tuple[tuple[str, ...], ...] = (tuple("ABCDEFGH"), ("opa", "opb", "opc", "opd", "ope"))
    answer: tuple[str, ...] = ("answer", "Answer", "答案", "正确答案", "correct_answer")
    index_fields: tuple[tuple[str, int], ...] = (("answer_idx", 0), ("cop", 1))  # (field, base)
    explanation: tuple[str, ...] = ("explanation", "exp", "analysis", "解析", "rationale", "答案解析")
    id: tuple[str, ...] = ("id", "qid", "_key")
    dataset: tuple[str, ...] = ("dataset",)
    split: tuple[str, ...] = ("split",)
    meta: tuple[str, ...] = ("dataset", "subject", "subject_name", "topic_name", "category", "year",
                             "exam", "meta_info", "科目", "类别", "年份", "来源")

    def __post_init__(self) -> None:
        # Recipes arrive as TOML arrays (lists); tuples keep the config hashable and immutable.
        for name, value in vars(self).items():
            if isinstance(value, list):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
                object.__setattr__(self, name, value)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or (
        isinstance(value, (list, dict)) and not value)


def _first(row: Mapping[str, Any], names: tuple[str, ...]) -> tuple[str, Any]:
    return next(((n, row[n]) for n in names if not _blank(row.get(n))), ("", None))


def clean(value: Any) -> str:
    """A field value as repaired text (ftfy), stripped; ``None`` becomes ``""``."""
    return "" if value is None else text.fix(str(value)).strip()


# A label: A-Z (or full-width), optionally bracketed, then punctuation or whitespace before the text.
_PUNCT_SEP = r"(?:[)）]\s*|\s*[.．、:：]\s*)"
_OPTION = re.compile(rf"^\s*[(（]?([A-ZＡ-Ｚ]){_PUNCT_SEP}(.*)$", re.S)
_OPTION_SPACED = re.compile(r"^\s*([A-ZＡ-Ｚ])\s+(.*)$", re.S)


def _letter(ch: str) -> str:
    return unicodedata.normalize("NFKC", ch).upper()


def _label(key: Any) -> str:
    label = _letter(str(key).strip().strip("()（）.．、:：").strip())
    if len(label) != 1 or label not in LETTERS:
        raise MalformedMCQ("options", f"option label {key!r} is not a single letter A-Z")
    return label


def _option_text(value: Any) -> str:
    # Trailing list separators belong to the exam layout, not to the option.
    return clean(value).rstrip(";；,，").strip()


def _labelled(items: list[str]) -> list[tuple[str, str]] | None:
    """Labels read from "A. x" / "A x" strings when the i-th string starts with the i-th letter."""
    matches = [_OPTION.match(s) or _OPTION_SPACED.match(s) for s in items]
    if all(m and _letter(m.group(1)) == LETTERS[i] for i, m in enumerate(matches)):
        return [(LETTERS[i], m.group(2)) for i, m in enumerate(matches)]  # type: ignore[union-attr]
    return None


def split_inline(value: str, *, line_start: bool = False) -> tuple[str, list[tuple[str, str]]]:
    """Split ``"head A. x B. y"`` into the head and labelled options (A, B, ... in sequence).

    Labels followed by whitespace only (``"A 发热"``) count at the start of a line when
    ``line_start`` is set, because inside running English text ``"A 45-year-old"`` is no label.
    """
    spaced = r"(?:^|(?<=\n))" if line_start else r"(?:^|(?<=\s))"
    styles = (rf"(?:^|(?<=[\s;；,，。]))[(（]?{{}}{_PUNCT_SEP}", rf"{spaced}{{}}[ \t　]+")
    for style in styles:
        starts: list[tuple[int, int]] = []
        pos = 0
        for letter in LETTERS:
            m = re.compile(style.format(f"[{letter}{chr(ord(letter) + 0xFEE0)}]")).search(value, pos)
            if not m:
                break
            starts.append((m.start(), m.end()))
            pos = m.end()
        if len(starts) >= 2:
            ends = [s for s, _ in starts[1:]] + [len(value)]
            bodies = [value[b:e] for (_, b), e in zip(starts, ends, strict=True)]
            options = [(LETTERS[i], body) for i, body in enumerate(bodies)]
            return value[: starts[0][0]], options
    return value, []


def _from_value(field: str, value: Any) -> list[tuple[str, str]]:
    if isinstance(value, str) and value.strip()[:1] in "[{":
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if isinstance(value, Mapping):
        return [(_label(k), v) for k, v in value.items()]
    if isinstance(value, list | tuple):
        if all(isinstance(v, Mapping) for v in value):
            pairs = []
            for v in value:
                label = next((v[k] for k in ("label", "key", "letter", "id") if k in v), None)
                body = next((v[k] for k in ("text", "value", "content", "option") if k in v), None)
                if label is None or body is None:
                    raise MalformedMCQ(field, f"option object {dict(v)!r} has no label/key and text/value")
                pairs.append((_label(label), body))
            return pairs
        items = [clean(v) for v in value]
        return _labelled(items) or [(LETTERS[i], v) for i, v in enumerate(items)]
    if isinstance(value, str):
        head, options = split_inline(clean(value))
        if options and not head.strip():
            return options
        lines = [line for line in clean(value).splitlines() if line.strip()]
        return _labelled(lines) or [(LETTERS[i], v) for i, v in enumerate(lines)]
    raise MalformedMCQ(field, f"options of type {type(value).__name__} are not understood")


def parse_options(row: Mapping[str, Any], fields: Fields,
                  question: str) -> tuple[str, list[tuple[str, str]], list[str]]:
    """The stem (options cut off when written into it), ``[(label, text)]`` without empty options, and the
    labels of the options the source lost (see module doc)."""
    name, value = _first(row, fields.options)
    if value is not None:
        pairs, source = _from_value(name, value), name
    else:
        pairs, source = [], ""
        for columns in fields.option_columns:
            cells = [(LETTERS[i], row.get(c)) for i, c in enumerate(columns) if c in row]
            if any(not _blank(v) for _, v in cells):  # blanks stay, so that a lost option is seen
                pairs, source = [(label, "" if v is None else v) for label, v in cells], "/".join(columns)
                break
        if not pairs:
            question, pairs = split_inline(question, line_start=True)
            source = "question (inline options)"
    options = [(label, _option_text(body)) for label, body in pairs]
    last = max((i for i, (_, body) in enumerate(options) if body and not lost(body)), default=-1)
    lost_labels = [label for i, (label, body) in enumerate(options)
                   if (lost(body) and body.strip().lower() != "nan") or (i < last and (not body or lost(body)))]
    # Error cells stay options (an answer may name one, and an evaluation set is indexed whole); empty
    # cells and "nan" do not, nor anything after the last real option.
    options = [(label, body) for i, (label, body) in enumerate(options)
               if body and body.strip().lower() != "nan" and (i <= last or lost(body))]
    labels = [label for label, _ in options]
    if len(set(labels)) != len(labels):
        raise MalformedMCQ(source, f"duplicate option labels {', '.join(labels)}")
    if len(options) < 2:
        where = source or ", ".join(fields.options)
        raise MalformedMCQ(where, f"found {len(options)} option(s); an MCQ needs at least 2")
    return question.strip(), options, lost_labels


_ANSWER_PREFIX = re.compile(r"^(?:正确)?答案(?:是|为|应为|应选)?\s*[:：]?\s*|^(?:the\s+)?(?:correct\s+)?"
                            r"(?:answer|option|choice)(?:\s+is)?\s*[:：]?\s*", re.I)
_LETTERS_ANSWER = re.compile(r"^[A-Z](?:\s*[,，、;；/]?\s*[A-Z])*$")
_LABEL_THEN_TEXT = re.compile(rf"^[(（]?([A-Z]){_PUNCT_SEP}\S")


def _norm(s: str) -> str:
    return re.sub(r"\s+", " ", s.strip().rstrip("。.;；")).casefold()


def _check(field: str, raw: str, labels: list[str], options: list[tuple[str, str]]) -> list[str]:
    known = [label for label, _ in options]
    missing = [label for label in labels if label not in known]
    if missing:
        raise MalformedMCQ(field, f"answer {raw!r} names option(s) {', '.join(missing)}, which is not among "
                                  f"the options {', '.join(known)}")
    return labels


def _from_answer(field: str, value: Any, options: list[tuple[str, str]]) -> list[str]:
    if isinstance(value, list | tuple):
        return [label for v in value for label in _from_answer(field, v, options)]
    if isinstance(value, int | float):  # bool is an int too
        raise MalformedMCQ(field, f"answer is the number {value!r}; if it is an index, name the field and "
                                  f"its base in Fields.index_fields (e.g. ({field!r}, 0))")
    raw = clean(value)
    s = _ANSWER_PREFIX.sub("", raw).strip().rstrip("。.")
    s = re.sub(r"^[(（\[]\s*([A-Za-z][A-Za-z,，、\s]*?)\s*[)）\]]$", r"\1", s)  # "(B)", "（AC）"
    single = unicodedata.normalize("NFKC", s.upper() if len(s) == 1 else s)
    letters = list(dict.fromkeys(c for c in single if c in LETTERS))
    known = {label for label, _ in options}
    by_text = [label for label, body in options if _norm(body) == _norm(s)]
    if _LETTERS_ANSWER.match(single) and (set(letters) <= known or not by_text):
        return _check(field, raw, letters, options)
    if by_text:  # the option text itself, also when it looks like letters ("DVT")
        return by_text[:1]
    if m := _LABEL_THEN_TEXT.match(s):
        return _check(field, raw, [m.group(1)], options)
    raise MalformedMCQ(field, f"answer {raw!r} is neither an option label "
                              f"({', '.join(label for label, _ in options)}) nor the text of an option")


def _from_index(field: str, base: int, value: Any, options: list[tuple[str, str]]) -> list[str]:
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        return _from_answer(field, value, options)
    try:
        index = int(value) - base
    except (TypeError, ValueError):
        raise MalformedMCQ(field, f"index {value!r} is not an integer") from None
    if not 0 <= index < len(options):
        raise MalformedMCQ(field, f"index {value!r} ({base}-based) is outside the {len(options)} options")
    return [options[index][0]]


def parse_answer(row: Mapping[str, Any], fields: Fields, options: list[tuple[str, str]]) -> str:
    """The answer labels in option order, concatenated (``"B"``, ``"ACD"``)."""
    labels: list[str] | None = None
    name, value = _first(row, fields.answer)
    if value is not None:
        labels = _from_answer(name, value, options)
    else:
        for name, base in fields.index_fields:
            if not _blank(row.get(name)):
                labels = _from_index(name, base, row[name], options)
                break
    if labels is None:
        names = ", ".join([*fields.answer, *(n for n, _ in fields.index_fields)])
        raise MalformedMCQ("answer", f"no answer: none of the fields {names} is present and non-empty")
    chosen = set(labels)
    return "".join(label for label, _ in options if label in chosen)


def parse(row: Mapping[str, Any], fields: Fields | None = None, *, id: str = "", dataset: str = "",
          split: str = "") -> dict[str, Any]:
    """Normalise one raw row into an ``MCQ`` record dict; raise ``MalformedMCQ`` when it cannot be."""
    fields = fields or Fields()
    _, stem = _first(row, fields.question)
    no_stem = MalformedMCQ("question", f"no question stem: none of the fields {', '.join(fields.question)} "
                                       "is present and non-empty")
    if not clean(stem):
        raise no_stem
    question, options, lost_labels = parse_options(row, fields, clean(stem))
    question = text.normalize_whitespace(question)
    if not question:  # the stem held nothing but options
        raise no_stem
    answer = parse_answer(row, fields, options)
    meta = {}
    for name in fields.meta:
        value = row.get(name)
        if not _blank(value):
            meta[name] = clean(value) if isinstance(value, str) else value
    _, row_id = _first(row, fields.id)
    if row_id is not None:
        meta["orig_id"] = clean(row_id)
    if lost_labels:
        meta["lost_options"] = lost_labels
    return {
        "id": id,
        "dataset": clean(_first(row, fields.dataset)[1]) or dataset,
        "split": clean(_first(row, fields.split)[1]) or split,
        "question": question,
        "context": text.normalize_whitespace(clean(_first(row, fields.context)[1])),
        "options": [{"label": label, "text": body} for label, body in options],
        "answer": answer,
        "explanation": text.normalize_whitespace(clean(_first(row, fields.explanation)[1])),
        "meta": meta,
    }


def check_options(item: Mapping[str, Any]) -> None:
    """Refuse an item with an option its source lost (``CorruptOption``), before it is rendered."""
    lost_labels = (item.get("meta") or {}).get("lost_options")
    if lost_labels:
        texts = {o["label"]: o["text"] for o in item["options"]}
        what = ", ".join(f"{label} ({texts[label]!r})" if label in texts else f"{label} (empty)"
                         for label in lost_labels)
        raise CorruptOption("options", f"option {what} is a spreadsheet error or a missing value: the source lost "
                            "it, so the item is left out; fix the row to keep it")


def answer_texts(item: Mapping[str, Any]) -> list[str]:
    """Texts of the answer options of a parsed item, in option order."""
    return [o["text"] for o in item["options"] if o["label"] in item["answer"]]


def other_texts(item: Mapping[str, Any]) -> list[str]:
    """Texts of the options that are not the answer, in option order."""
    return [o["text"] for o in item["options"] if o["label"] not in item["answer"]]

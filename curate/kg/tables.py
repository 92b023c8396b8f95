"""Tables of triples and entity records into the graph builder.

- **Triples**: CSV/TSV whose header names a head, a relation and a tail column (``head,relation,tail``,
  ``subject,predicate,object``, ``h,r,t``, ``source,relation,target``, ``头实体,关系,尾实体``), a
  headerless three-column CSV/TSV, or JSON/JSONL rows with such keys. One tail per row.
- **Entity records**: JSON/JSONL/CSV/TSV rows, one per entity, as Chinese medical graphs ship them
  (often GB18030): ``{"name": "感冒", "症状": ["发热", "咳嗽"], "并发症": "肺炎、中耳炎", "简介": "..."}``.
  The entity's name is the first of ``Fields.name`` present; every other column is a relation:

  - a list holds one tail per item; a string is split on ``、，,;；|``, and also on spaces when it is
    Chinese (where spaces separate items, never words);
  - text columns (``Fields.text``: 简介, desc, ...) and values that read as prose (a ``。``, or an item
    over 40 characters) are one literal each, written as a sentence;
  - attribute columns (``Fields.literal``: 治愈率, cure_lasttime, ...) and items without letters
    (``85%``) are literals, so that they do not join unrelated entities into one node;
  - ``Fields.ignore`` columns (ids, URLs) are not read.

A tail that names no record of its own (a symptom, a drug) is a leaf entity named by its value. A
record without a name, or with an object where a value belongs, is quarantined
(``malformed_record``); a record with a name and nothing else is dropped (``empty_record``).
"""

from __future__ import annotations

import csv
import functools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from curate.core import records
from curate.core.ledger import Ledger
from curate.kg.graph import Builder, Lit, looks_like_iri
from curate.text import normalise as text
from curate.text import textio
from curate.text.textio import NotText, Problem

TRIPLE_COLUMNS = (("head", "relation", "tail"), ("subject", "predicate", "object"), ("h", "r", "t"),
                  ("source", "relation", "target"), ("head", "relation", "target"),
                  ("头实体", "关系", "尾实体"), ("实体1", "关系", "实体2"), ("主体", "关系", "客体"))
_SPLIT = re.compile(r"\s*[、，,;；|]\s*")
_SPLIT_ZH = re.compile(r"[\s、，,;；|]+")
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Fields:
    """Which entity-record columns hold what (first present name field wins)."""

    name: tuple[str, ...] = ("name", "名称", "疾病名称", "疾病", "实体", "entity", "title", "label")
    text: tuple[str, ...] = ("desc", "description", "简介", "概述", "介绍", "定义", "definition",
                             "summary", "prevent", "预防", "cause", "病因")
    literal: tuple[str, ...] = ("治愈率", "治疗周期", "治疗费用", "发病率", "患病比例", "医保", "cured_prob",
                                "cure_lasttime", "cost_money", "get_prob", "yibao_status")
    ignore: tuple[str, ...] = ("id", "_id", "_key", "url", "link", "source_url")


def load(path: Path, relpath: str, index: int, b: Builder, ledger: Ledger, source: str, fields: Fields) -> None:
    """Load a table of triples or entity records (see module doc)."""
    where = functools.partial(records.record_id, source, relpath)
    suffix = textio.base_suffix(path)
    if suffix in (".csv", ".tsv"):
        header = _first_row(path, "\t" if suffix == ".tsv" else ",")
        if _triple_columns(header) is None and not set(header) & set(fields.name):
            if len(header) != 3:
                raise NotText(f"cannot tell what the columns {header[:6]} hold: expected a header with "
                              f"head/relation/tail columns, a name column ({', '.join(fields.name[:4])}, "
                              "...), or three columns of triples without a header", "unrecognised_table")
            _headerless(path, "\t" if suffix == ".tsv" else ",", index, b, ledger, where, fields)
            return
    for rid_locator, row in textio.iter_records(path):
        rid = where(rid_locator)
        if isinstance(row, Problem):
            ledger.quarantine(rid, row.reason, f"kg: '{relpath}' {row.message}")
            continue
        cols = _triple_columns(list(row))
        try:
            if cols is not None:
                h, r, t = (_scalar(row[c], c) for c in cols)
                if not (h and r and t):
                    raise ValueError(f"empty {'head' if not h else 'relation' if not r else 'tail'}")
                b.add(h, r, _tail_term(r, t, fields), index, looks_like_iri(h), rid_locator)
            elif not _record(row, index, b, fields, rid_locator):
                ledger.drop(rid, "empty_record", f"kg: '{relpath}' {rid_locator}: a name and no relations")
        except ValueError as err:
            ledger.quarantine(rid, "malformed_record", f"kg: '{relpath}' {rid_locator}: {err}")


def _first_row(path: Path, delimiter: str) -> list[str]:
    for _, line in textio.iter_lines(path):
        if isinstance(line, str):
            return [h.strip() for h in next(csv.reader([line], delimiter=delimiter), [])]
    return []


def _triple_columns(columns: Iterable[str]) -> tuple[str, str, str] | None:
    lower = {str(c).strip().lower(): c for c in columns}
    for names in TRIPLE_COLUMNS:
        if all(n in lower for n in names):
            return lower[names[0]], lower[names[1]], lower[names[2]]
    return None


def _headerless(path: Path, delimiter: str, index: int, b: Builder, ledger: Ledger, where: Any,
                fields: Fields) -> None:
    for n, line in textio.iter_lines(path):
        if isinstance(line, Problem):
            ledger.quarantine(where(f"L{n}"), line.reason, f"kg: {line.message}")
            continue
        row = next(csv.reader([line], delimiter=delimiter), [])
        parts = [_clean(p) for p in row]
        if len(parts) != 3 or not all(parts):
            ledger.quarantine(where(f"L{n}"), "malformed_record",
                              f"kg: line {n}: expected 3 non-empty fields (head, relation, tail), got "
                              f"{len(parts)}: {line[:60]!r}")
            continue
        h, r, t = parts
        b.add(h, r, _tail_term(r, t, fields), index, looks_like_iri(h), f"L{n}")


def _clean(value: str) -> str:
    return " ".join(text.fix(value).split())


def _scalar(value: Any, column: str) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError(f"column {column!r} holds a {type(value).__name__}; expected a single value")
    return _clean(str(value)) if value is not None else ""


def _tail_term(relation: str, value: str, fields: Fields) -> str | Lit:
    if relation in fields.text or relation in fields.literal or not _LETTER.search(value):
        return Lit(value)
    return value


def _record(row: Mapping[str, Any], index: int, b: Builder, fields: Fields, locator: str) -> bool:
    """Add one entity record's triples; ``False`` when it has none. Raises ``ValueError`` if malformed."""
    name_field = next((f for f in fields.name if f in row and _scalar(row[f], f)), None)
    if name_field is None:
        present = ", ".join(sorted(str(k) for k in row if not str(k).startswith("_"))[:8]) or "none"
        raise ValueError(f"no name field (expected one of {', '.join(fields.name)}; fields: {present})")
    name = _scalar(row[name_field], name_field)
    added = False
    for column, value in row.items():
        column = str(column).strip()
        if column == name_field or column in fields.ignore or column.startswith("_") or value in (None, ""):
            continue
        for tail in _tails(column, value, fields):
            b.add(name, column, tail, index, looks_like_iri(name), locator)
            added = True
    return added


def _tails(column: str, value: Any, fields: Fields) -> Iterator[str | Lit]:
    if isinstance(value, dict):
        raise ValueError(f"column {column!r} holds an object; expected text or a list")
    if isinstance(value, (int, float, bool)):
        yield Lit(str(value))
        return
    items = [_scalar(v, column) for v in value] if isinstance(value, list) else None
    if items is None:
        whole = _clean(str(value))
        if column in fields.text or "。" in whole:
            yield Lit(whole)
            return
        items = [i for i in (_SPLIT_ZH if text.detect_lang(whole) == "zh" else _SPLIT).split(whole) if i]
        if any(len(i) > 40 for i in items):
            yield Lit(whole)
            return
    for item in items:
        if item:
            yield Lit(item) if len(item) > 40 or "。" in item else _tail_term(column, item, fields)

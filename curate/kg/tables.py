"""Tables of triples and entity records into the graph builder.

- **Triples**: CSV/TSV whose header names a head, a relation and a tail column (``head,relation,tail``,
  ``subject,predicate,object``, ``h,r,t``, ``头实体,关系,尾实体``, or any three columns whose middle one
  is named relation/predicate/关系/属性), a headerless three-column CSV/TSV, or JSON/JSONL rows with such
  keys. One tail per row. A file with another suffix (``.spo``, ``.txt``, ``.triples``) is read in the
  format its content shows (``textio.sniff_format``), or the one given (``fmt``: ``csv``, ``tsv``).
  Whether a three-column file's first row is a header: it is data when its relation (middle) cell
  recurs as the relation of later rows.
- **Entity records**: JSON/JSONL/CSV/TSV rows, one per entity, as Chinese medical graphs ship them
  (often GB18030): ``{"name": "感冒", "症状": ["发热", "咳嗽"], "并发症": "肺炎、中耳炎", "简介": "..."}``.
  The entity's name is the first of ``Fields.name`` present; every other column is a relation, and
  ``curate.kg.relations`` says what its values are (the column's kind):

  - ``list``: items are entities (a tail that names no record of its own, a symptom, is a leaf entity);
  - ``values`` / ``value``: items, or the whole value, are literals (``85%``, ``多发于儿童``);
  - ``text``: prose, one literal;
  - an unmapped column: prose when it reads as prose (a ``。``, or an item over 40 characters), else
    items, literals when they have no letters (``65``).

  A string holds several items separated by ``、，,;；|`` (and spaces when it is Chinese); a list holds
  one per element. Values are cleaned by ``curate.kg.values`` (scraper tags, truncation marks, dashes,
  bracket debris, empty and repeated items); a list cut off by the crawler is marked partial, so that
  the text says "等" / "and others". An item that restates its relation (``主治`` in a 主治 column) is
  written as a sentence of its own. ``Fields.ignore`` columns (ids, URLs) are not read.

A record without a name, or with an object where a value belongs, is quarantined
(``malformed_record``); a record with a name and nothing else is dropped (``empty_record``).
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.core import records
from curate.core.ledger import Ledger
from curate.kg import relations as rel
from curate.kg import values as val
from curate.kg.graph import Builder, Lit, looks_like_iri
from curate.text import normalise as text
from curate.text import textio
from curate.text.textio import NotText, Problem

TRIPLE_COLUMNS = (("head", "relation", "tail"), ("subject", "predicate", "object"), ("h", "r", "t"),
                  ("source", "relation", "target"), ("head", "relation", "target"), ("s", "p", "o"),
                  ("头实体", "关系", "尾实体"), ("实体1", "关系", "实体2"), ("主体", "关系", "客体"))
RELATION_HEADERS = {"relation", "predicate", "rel", "relationship", "property", "attribute", "关系", "属性",
                    "关系类型", "谓语"}
DELIMITED = {"csv": ",", "tsv": "\t"}
_LETTER = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Fields:
    """Which entity-record columns hold what (first present name field wins); ``text`` and ``literal``
    add prose and value columns to those of the relation mapping."""

    name: tuple[str, ...] = ("name", "名称", "疾病名称", "疾病", "实体", "entity", "title", "label", "名字", "病名",
                             "疾病名", "药品名称", "药名", "药物名称", "穴位", "穴位名称", "穴名", "中文名", "中文名称",
                             "disease", "disease_name")
    text: tuple[str, ...] = ()
    literal: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ("id", "_id", "_key", "url", "link", "source_url", "href", "链接", "网址", "来源",
                               "source", "crawl_time", "update_time", "create_time", "img", "image", "pic", "图片",
                               "md5")


@dataclass(frozen=True)
class Options:
    """How entity tables are read: the columns, the relation mapping and the value-cleaning rules."""

    fields: Fields = field(default_factory=Fields)
    relations: rel.Relations = field(default_factory=rel.default)
    rules: val.ValueRules = field(default_factory=val.ValueRules)


def container(path: Path, fmt: str | None) -> str:
    """The table format of ``path``: ``fmt`` when given, else its suffix's, else its content's."""
    if fmt:
        return fmt
    return textio.record_format(path)


def load(path: Path, relpath: str, index: int, b: Builder, ledger: Ledger, source: str, opts: Options,
         fmt: str | None = None) -> None:
    """Load a table of triples or entity records (see module doc)."""
    where = functools.partial(records.record_id, source, relpath)
    kind = container(path, fmt)
    if kind in DELIMITED:
        _delimited(path, relpath, DELIMITED[kind], index, b, ledger, where, opts)
        return
    for locator, row in textio.iter_records(path, kind):
        _row(row, locator, relpath, index, b, ledger, where, opts)


def _row(row: dict | Problem, locator: str, relpath: str, index: int, b: Builder, ledger: Ledger, where: Any,
         opts: Options, cols: tuple[str, str, str] | None = None) -> None:
    rid = where(locator)
    if isinstance(row, Problem):
        ledger.quarantine(rid, row.reason, f"kg: '{relpath}' {row.message}")
        return
    cols = cols or _triple_columns(list(row))
    try:
        if cols is not None:
            h, r, t = (_scalar(row[c], c) for c in cols)
            if not (h and r and t):
                raise ValueError(f"empty {'head' if not h else 'relation' if not r else 'tail'}")
            _triple(h, r, t, index, b, ledger, rid, opts, locator)
        elif not _record(row, index, b, opts, locator):
            ledger.drop(rid, "empty_record", f"kg: '{relpath}' {locator}: a name and no relations")
    except ValueError as err:
        ledger.quarantine(rid, "malformed_record", f"kg: '{relpath}' {locator}: {err}")


def _delimited(path: Path, relpath: str, delimiter: str, index: int, b: Builder, ledger: Ledger, where: Any,
               opts: Options) -> None:
    rows = _readable(textio.iter_csv_rows(path, delimiter), relpath, ledger, where)
    head = list(itertools.islice(rows, 201))  # the first row and enough of the rest to tell a header
    if not head:
        raise NotText("empty file", "empty_file")
    data = itertools.chain(head, rows)
    header = [h.strip() for h in head[0][1]]
    cols = _triple_columns(header)
    names = {rel.normalise(f) for f in opts.fields.name}
    if cols is None and not _is_header(header, [r for _, r in head[1:]], names):
        if len(header) != 3:
            raise NotText(f"cannot tell what the columns {header[:6]} hold: expected a header with "
                          f"head/relation/tail columns, a name column ({', '.join(opts.fields.name[:4])}, "
                          "...), or three columns of triples without a header", "unrecognised_table")
        _headerless(data, relpath, index, b, ledger, where, opts)
        return
    next(data)
    for n, r in data:
        if len(r) != len(header):
            ledger.quarantine(where(f"L{n}"), "malformed_record", f"kg: '{relpath}' line {n}: {len(r)} fields, "
                              f"header has {len(header)}")
            continue
        _row(dict(zip(header, r, strict=True)), f"L{n}", relpath, index, b, ledger, where, opts, cols)


def _readable(rows: Iterator[tuple[int, list[str] | Problem]], relpath: str, ledger: Ledger,
              where: Any) -> Iterator[tuple[int, list[str]]]:
    """The rows that could be read; the others go to the ledger."""
    for n, r in rows:
        if isinstance(r, Problem):
            ledger.quarantine(where(f"L{n}"), r.reason, f"kg: '{relpath}' {r.message}")
        else:
            yield n, r


def _is_header(first: list[str], rest: list[list[str]], names: set[str]) -> bool:
    """Whether the first row of a table without triple columns names its columns."""
    if len(first) == 3:
        if rel.normalise(first[1]) in RELATION_HEADERS:
            return True
        if any(len(r) == 3 and r[1].strip() == first[1] for r in rest):
            return False  # its relation recurs below: the row is a triple
    return any(rel.normalise(h) in names for h in first)


def _headerless(data: Iterable[tuple[int, list[str]]], relpath: str, index: int, b: Builder, ledger: Ledger,
                where: Any, opts: Options) -> None:
    for n, row in data:
        parts = [_clean(p) for p in row]
        if len(parts) != 3 or not all(parts):
            ledger.quarantine(where(f"L{n}"), "malformed_record",
                              f"kg: '{relpath}' line {n}: expected 3 non-empty fields (head, relation, tail), "
                              f"got {len(parts)}: {opts.rules.strip(' | '.join(row))[:60]!r}")
            continue
        _triple(*parts, index, b, ledger, where(f"L{n}"), opts, f"L{n}")


def _clean(value: str) -> str:
    return " ".join(text.fix(value).split())


def _scalar(value: Any, column: str) -> str:
    if isinstance(value, (dict, list)):
        raise ValueError(f"column {column!r} holds a {type(value).__name__}; expected a single value")
    return _clean(str(value)) if value is not None else ""


def _triple_columns(columns: Iterable[str]) -> tuple[str, str, str] | None:
    columns = [str(c) for c in columns]
    lower = {c.strip().lower(): c for c in columns}
    for names in TRIPLE_COLUMNS:
        if all(n in lower for n in names):
            return lower[names[0]], lower[names[1]], lower[names[2]]
    if len(columns) == 3 and rel.normalise(columns[1]) in RELATION_HEADERS:
        return columns[0], columns[1], columns[2]
    return None


def _kind(column: str, opts: Options) -> str | None:
    if column in opts.fields.text:
        return "text"
    if column in opts.fields.literal:
        return "value"
    return opts.relations.kind(column)


def _triple(h: str, r: str, t: str, index: int, b: Builder, ledger: Ledger, rid: str, opts: Options,
            locator: str) -> None:
    """Add one row's triple, its tail cleaned like a record's value; a tail that was only debris is dropped."""
    kind = _kind(r, opts)
    if looks_like_iri(t):
        tail: str | Lit = t
    elif kind == "text" or len(t) > 40 or "。" in t:
        tail = Lit(val.clean_text(t, opts.rules))
    else:
        item, _ = val.clean_item(t, opts.rules)
        tail = Lit(item) if kind in ("value", "values") or not _LETTER.search(item) else item
    if not (tail.text if isinstance(tail, Lit) else tail):
        ledger.drop(rid, "empty_value", f"kg: {locator}: the tail {t[:40]!r} of '{h}' {r} is only debris "
                    "(a scraper tag, an arrow, a truncation mark)")
        return
    b.add(h, r, tail, index, looks_like_iri(h), locator)


def _record(row: Mapping[str, Any], index: int, b: Builder, opts: Options, locator: str) -> bool:
    """Add one entity record's triples; ``False`` when it has none. Raises ``ValueError`` if malformed."""
    names = {rel.normalise(f): f for f in opts.fields.name}
    name_field = next((k for n in names for k in row if rel.normalise(k) == n and _scalar(row[k], k)), None)
    if name_field is None:
        present = ", ".join(sorted(str(k) for k in row if not str(k).startswith("_"))[:8]) or "none"
        raise ValueError(f"no name field (expected one of {', '.join(opts.fields.name)}; fields: {present})")
    name = _scalar(row[name_field], name_field)
    name = val.clean_item(name, opts.rules)[0] or name
    ignore = {rel.normalise(f) for f in opts.fields.ignore}
    added = False
    for column, value in row.items():
        column = str(column).strip()
        if column == name_field or rel.normalise(column) in ignore or column.startswith("_") or value in (None, ""):
            continue
        tails, cut = _tails(column, value, opts)
        for tail in tails:
            b.add(name, column, tail, index, looks_like_iri(name), locator)
            added = True
        if cut and tails:
            b.partial.add((name, column))
    return added


def _tails(column: str, value: Any, opts: Options) -> tuple[list[str | Lit], bool]:
    """The tails of one column's value, and whether the crawler cut the list off."""
    if isinstance(value, dict):
        raise ValueError(f"column {column!r} holds an object; expected text or a list")
    if isinstance(value, (int, float, bool)):
        return [Lit(str(value))], False
    kind, rules = _kind(column, opts), opts.rules
    relation = opts.relations.find(column)
    if isinstance(value, list):
        if kind == "text":
            return [Lit(p) for p in (val.clean_text(_scalar(v, column), rules) for v in value) if p], False
        # An element may itself pack several items ("头痛、耳鸣"); spaces inside one are not separators.
        items, cut = [], False
        for v in value:
            part, part_cut = val.cleaned(val.split(_scalar(v, column), False), rules, from_string=True)
            items += [i for i in part if i not in items]
            cut = cut or part_cut
        return _typed(items, kind, relation), cut
    whole = _clean(rules.strip(str(value)))
    if kind == "text" or (kind is None and ("。" in whole or (len(whole) > 40 and "，" in whole))):
        prose = val.clean_text(whole, rules)
        return ([Lit(prose)] if prose else []), False
    if kind == "value":
        item, _ = val.clean_item(whole, rules)
        return ([Lit(item)] if item else []), False
    raw = val.split(whole, text.detect_lang(whole) == "zh")
    if kind is None and any(len(i) > 40 for i in raw):
        prose = val.clean_text(whole, rules)
        return ([Lit(prose)] if prose else []), False
    items, cut = val.cleaned(raw, rules, from_string=True)
    return _typed(items, kind, relation), cut


def _typed(items: list[str], kind: str | None, relation: rel.Relation | None) -> list[str | Lit]:
    """Items as entity tails or literals."""
    tails: list[str | Lit] = []
    for item in items:
        if len(item) > 40 or "。" in item:
            tails.append(Lit(item))
        elif relation is not None and relation.zh and len(relation.zh) > 1 and relation.zh in item:
            tails.append(Lit(item + "。"))  # restates the relation ("（回旋灸）主治炎症"): a sentence of its own
        elif kind in ("values", "value") or not _LETTER.search(item):
            tails.append(Lit(item))
        else:
            tails.append(item)
    return tails

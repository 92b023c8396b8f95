"""Record schemas: the three kinds of rows that flow through a build, as Arrow schemas.

- ``Document``: pre-training text (``id, source, text, lang, meta``).
- ``Example``: an instruction example (``id, source, task, messages[{role, content}], meta``).
- ``MCQ``: a multiple-choice item before rendering
  (``id, dataset, split, question, context, options[{label, text}], answer, explanation, meta``).

``meta`` is a JSON object serialised with sorted keys, so that heterogeneous provenance (file, page
span, PMID, triple ids, template id, licence) fits one column and stays byte-stable.
``id`` is ``<source>/<relative path>#<locator>``: derived from where the record came from, never from
run order, and readable in the ledger.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

DOCUMENT = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("text", pa.string()),
        ("lang", pa.string()),
        ("meta", pa.string()),
    ]
)

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
EXAMPLE = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("task", pa.string()),
        ("messages", pa.list_(MESSAGE)),
        ("meta", pa.string()),
    ]
)

OPTION = pa.struct([("label", pa.string()), ("text", pa.string())])
MCQ = pa.schema(
    [
        ("id", pa.string()),
        ("dataset", pa.string()),
        ("split", pa.string()),
        ("question", pa.string()),
        ("context", pa.string()),
        ("options", pa.list_(OPTION)),
        ("answer", pa.string()),
        ("explanation", pa.string()),
        ("meta", pa.string()),
    ]
)


def dump_meta(meta: Mapping[str, Any]) -> str:
    """Serialise provenance as canonical JSON (sorted keys, no ASCII escaping, None values dropped)."""
    return json.dumps(
        {k: v for k, v in meta.items() if v is not None},
        ensure_ascii=False,
        sort_keys=True,
        separators=(",", ":"),
    )


def load_meta(meta: str | None) -> dict[str, Any]:
    """Parse a ``meta`` column value back into a dict."""
    return json.loads(meta) if meta else {}


def record_id(source: str, relpath: str, locator: str | None = None) -> str:
    """Stable id from the source name, the input's relative path and a position or key inside it."""
    base = f"{source}/{relpath}"
    return f"{base}#{locator}" if locator else base


def to_table(rows: Iterable[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Build a table of ``schema`` from dict rows; ``meta`` dicts are serialised canonically."""
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            value = row.get(name)
            if name == "meta" and not isinstance(value, str):
                value = dump_meta(value or {})
            columns[name].append(value)
    return pa.Table.from_pydict(columns, schema=schema)


def empty(schema: pa.Schema) -> pa.Table:
    """A zero-row table of ``schema``."""
    return schema.empty_table()

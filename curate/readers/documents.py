"""Documents that are already text: Parquet shards of another build, or JSONL/CSV with a text field.

This is how ``curate build documents`` (Megatron-style preprocessing), ``curate dedup``,
``curate decontam`` and ``curate scrub`` read their input. The text is taken as it is. Record ids
are kept when the file has an id field (so the ledger names the records a user already knows),
else derived from the position; ``meta`` is kept when present. A text field that is missing is
ledgered ``malformed_record``; one that holds a list, an object or a number (not text) is ledgered
``non_text_field``, never written as its Python form. Large files are read in parts, in parallel.
Plain JSON lines (every line one object with a string text field) are read a whole part at a time into
columns (``read_table``), with the same records as the line-by-line ``read``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from curate.core import records
from curate.core.ledger import Ledger
from curate.readers import FileRef, record_parts, record_units, rows
from curate.text import jsonrecords, textio
from curate.text import normalise as text

SUFFIXES = (".parquet", ".jsonl", ".json", ".csv", ".tsv")
parts = record_parts  # large files are read in parts by parallel tasks
count_units = record_units  # lines, rows or items, for the audit


@dataclass(frozen=True)
class Config:
    """Which fields hold the text and the id; whether to detect each document's language (else
    ``lang`` is the file's ``lang`` field or ``und``: a plain tokenization needs none)."""

    text_field: str = "text"
    id_field: str = "id"
    detect_lang: bool = True


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Documents from one record file."""
    plain = records.dump_meta({"file": ref.relpath})  # the meta of a record without one, serialised once
    for rid, locator, row in rows(ref, ledger):
        body = row.get(cfg.text_field)
        doc_id = str(row[cfg.id_field]) if row.get(cfg.id_field) not in (None, "") else rid
        if rid in ref.spans and doc_id != rid:  # a record over several lines, known by its own id
            ref.spans[doc_id] = ref.spans.pop(rid)
        if body is None or cfg.text_field not in row:
            ledger.quarantine(doc_id, "malformed_record", f"{ref.source}: '{ref.relpath}' {locator}: no field "
                              f"{cfg.text_field!r} (fields: {', '.join(sorted(map(str, row))) or 'none'})")
            continue
        if not isinstance(body, str):
            ledger.quarantine(doc_id, "non_text_field", f"{ref.source}: '{ref.relpath}' {locator}: field "
                              f"{cfg.text_field!r} holds {type(body).__name__}, not text; convert it to a string")
            continue
        given = row.get("meta")
        meta = _meta(given) if given is not None else None
        lang = row.get("lang") if isinstance(row.get("lang"), str) and row.get("lang") else None
        yield {"id": doc_id, "source": ref.source, "text": body,
               "lang": lang or (text.detect_lang(body) if cfg.detect_lang else "und"),
               "meta": plain if meta is None else {**meta, "file": meta.get("file", ref.relpath)}}


def read_table(ref: FileRef, cfg: Config) -> Any:
    """The documents of a plain JSON lines file or part as one ``DOCUMENT`` table, the same records ``read``
    gives; ``None`` when it is not plain (then ``read`` reads it line by line and reports what it finds)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        fmt = ref.part["format"] if ref.part is not None else textio.record_format(ref.path)
        got = jsonrecords.jsonl_table(ref.path, cfg.text_field, ref.part) if fmt == "jsonl" else None
    except (textio.NotText, OSError):  # unreadable: ``read`` meets it too, and ledgers why
        return None
    if got is None:
        return None
    table, first = got
    names = table.schema.names
    if "meta" in names and table.column("meta").null_count < table.num_rows:  # provenance to merge: per record
        return None
    base = ref.id()  # the id of line n is <base>#L<n>, as ``rows`` gives it
    rids = pa.array([f"{base}#L{n}" for n in range(first, first + table.num_rows)], pa.string())
    ids = rids
    if cfg.id_field in names:
        given = table.column(cfg.id_field).combine_chunks()
        if pa.types.is_integer(given.type):
            given = pc.cast(given, pa.string())
        elif not (pa.types.is_string(given.type) or pa.types.is_null(given.type)):
            return None  # str() of a float or an object: the line-by-line reader's form
        if not pa.types.is_null(given.type):
            ids = pc.if_else(pc.fill_null(pc.not_equal(given, ""), False), given, rids)
    body = table.column(cfg.text_field).combine_chunks()
    return pa.Table.from_arrays([ids, pa.repeat(ref.source, table.num_rows).cast(pa.string()), body,
                                 _langs(table, body, cfg), pa.repeat(records.dump_meta({"file": ref.relpath}),
                                                                     table.num_rows).cast(pa.string())],
                                schema=records.DOCUMENT)


def _langs(table: Any, body: Any, cfg: Config) -> Any:
    """Each document's ``lang`` field when it holds text, else its detected language (or ``und``)."""
    import pyarrow as pa

    given = table.column("lang").combine_chunks() if "lang" in table.schema.names else None
    if given is not None and not pa.types.is_string(given.type):
        given = None  # numbers, objects: not a language, as for the line-by-line reader
    if given is None and not cfg.detect_lang:
        return pa.repeat("und", table.num_rows).cast(pa.string())
    values = given.to_pylist() if given is not None else [None] * table.num_rows
    if cfg.detect_lang:
        texts = body.to_pylist()
        return pa.array([v or text.detect_lang(t) for v, t in zip(values, texts, strict=True)], pa.string())
    return pa.array([v or "und" for v in values], pa.string())


def _meta(value: object) -> dict:
    """A record's ``meta`` field as a dict (JSON text, an object, or nothing usable)."""
    if isinstance(value, str):
        try:
            value = records.load_meta(value)
        except ValueError:
            return {"meta": value}
    return value if isinstance(value, dict) else {}

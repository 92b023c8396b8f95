"""Raw files to text and structured records, surviving bad bytes.

Encodings are sniffed per file: a BOM wins; otherwise strict UTF-8, then GB18030 (a superset of
GBK and GB2312, as Chinese medical data sets often ship). A file with NUL bytes is binary and is
refused as a whole. Line-oriented files are decoded line by line, so one undecodable or malformed
line becomes one problem and the rest of the file is read.

``iter_records`` turns JSONL, JSON (array, object of objects, or JSON lines named ``.json``), CSV,
TSV and Parquet into ``(locator, dict)`` pairs, or ``(locator, Problem)`` for an item that could not
be read. The format comes from the suffix; a file with any other suffix (``.txt``, ``.dat``, none) is
read in the format its content shows (``sniff_format``). Compressed ``.gz`` inputs are opened
transparently.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

SNIFF_BYTES = 1 << 20
MAX_RECORD_BYTES = 8 << 20  # a longer line, record or document is ledgered, not read (``oversized``)


class NotText(Exception):
    """A whole file cannot be read (binary, unknown encoding, empty); ``reason`` names the rule."""

    def __init__(self, message: str, reason: str = "unreadable_file"):
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Problem:
    """One unreadable item inside a file: the ledger reason and a message saying what is wrong."""

    reason: str
    message: str


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing ``.gz`` transparently."""
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def base_suffix(path: Path) -> str:
    """The format suffix, looking through ``.gz``: ``a.jsonl.gz`` -> ``.jsonl``."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)("strict").decode(data, final=False)
    except UnicodeDecodeError:
        return False
    return True


def sniff_encoding(head: bytes) -> str:
    """Pick the encoding of a file from its first bytes; raise ``NotText`` for binary data."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise NotText("binary data (NUL bytes), not a text file", "binary_file")
    if _decodes(head, "utf-8"):
        return "utf-8"
    if _decodes(head, "gb18030"):
        return "gb18030"
    # Mostly UTF-8 with a few broken sequences: read as UTF-8 and let the bad lines be reported.
    bad = head.decode("utf-8", "replace").count("\ufffd")
    if bad <= max(1, len(head) // 100):
        return "utf-8"
    raise NotText("neither UTF-8 nor GB18030 text", "undecodable")


def _decode_error(err: UnicodeDecodeError, encoding: str) -> str:
    return f"invalid {encoding} bytes {err.object[err.start:err.end]!r} at byte {err.start}"


def read_text(path: Path) -> tuple[str, str]:
    """Read a whole file as text; return ``(text, encoding)`` or raise ``NotText``."""
    with open_binary(path) as f:
        data = f.read()
    if not data.strip():
        raise NotText("empty file", "empty_file")
    encoding = sniff_encoding(data[:SNIFF_BYTES])
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as err:
        raise NotText(_decode_error(err, encoding), "undecodable") from None


def iter_lines(path: Path, keep_ends: bool = False, part: dict | None = None) -> Iterator[tuple[int, str | Problem]]:
    """Yield ``(line number, text or Problem)`` for each non-blank line; raise ``NotText`` up front.

    With ``keep_ends`` every line comes with its line ending, blank ones included (for parsers that
    need the physical lines, such as CSV with quoted newlines). ``part`` (``{"start", "end", "line"}``,
    from ``text.parts``) reads only the lines of that byte range, numbered from its first line; the
    encoding is still sniffed from the head of the file, so a part reads as the whole file would.
    """
    with open_binary(path) as f:
        head = f.read(SNIFF_BYTES)
        if not head.strip():
            raise NotText("empty file", "empty_file")
        encoding = sniff_encoding(head)
        if encoding == "utf-16":  # cannot split UTF-16 on b"\n"; such files are small in practice
            text = (head + f.read()).decode("utf-16", "replace")
            for n, line in enumerate(text.splitlines(keepends=keep_ends), 1):
                if keep_ends or line.strip():
                    yield n, line
            return
        if part is not None:
            f.seek(part["start"])
            raw_stream: io.RawIOBase = _Limited(f, part["end"] - part["start"])
        else:
            raw_stream = _Prefixed(head, f)
        stream = io.BufferedReader(raw_stream, buffer_size=1 << 16)
        first = part["line"] if part is not None else 1
        for n, raw in enumerate(stream, first):
            if not keep_ends and not raw.strip():
                continue
            try:
                line = raw.decode(encoding).lstrip("\ufeff")
            except UnicodeDecodeError as err:
                yield n, Problem("undecodable", f"line {n}: {_decode_error(err, encoding)}")
                continue
            yield n, line if keep_ends else line.rstrip("\r\n")


class _Limited(io.RawIOBase):
    """A raw stream over the next ``size`` bytes of ``f``."""

    def __init__(self, f: IO[bytes], size: int):
        self._f, self._left = f, size

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._f.read(min(len(b), self._left))
        self._left -= len(data)
        b[: len(data)] = data
        return len(data)


class _Prefixed(io.RawIOBase):
    """A raw stream that replays already-read ``head`` bytes before the rest of ``f``."""

    def __init__(self, head: bytes, f: IO[bytes]):
        self._head, self._f = memoryview(head), f

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._f.read(len(b))
        b[: len(data)] = data
        return len(data)


def _json_problem(n: int, err: json.JSONDecodeError) -> Problem:
    return Problem("malformed_json", f"line {n}: invalid JSON: {err.msg} at column {err.colno}")


def _iter_jsonl(path: Path, part: dict | None = None) -> Iterator[tuple[str, dict | Problem]]:
    for n, line in iter_lines(path, part=part):
        if isinstance(line, Problem):
            yield f"L{n}", line
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as err:
            yield f"L{n}", _json_problem(n, err)
            continue
        if isinstance(value, dict):
            yield f"L{n}", value
        else:
            yield f"L{n}", Problem("malformed_record", f"line {n}: expected a JSON object, got "
                                   f"{type(value).__name__}")


def _iter_json(path: Path) -> Iterator[tuple[str, dict | Problem]]:
    text, _ = read_text(path)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        if err.msg == "Extra data" or (text.lstrip().startswith("{") and "\n{" in text):
            # JSON lines under a .json name (PromptCBLUE ships its splits this way).
            yield from _iter_jsonl(path)
            return
        raise NotText(f"invalid JSON: {err.msg} at line {err.lineno}, column {err.colno}",
                      "malformed_json") from None
    if isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict):
                yield f"item{i}", item
            else:
                yield f"item{i}", Problem("malformed_record", f"item {i}: expected an object")
    elif isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        for key, item in value.items():  # keyed collections, e.g. PMID -> item
            yield f"key={key}", {"_key": key, **item}
    elif isinstance(value, dict):
        yield "item0", value
    else:
        raise NotText(f"expected a JSON array or object, got {type(value).__name__}")


def iter_csv_rows(path: Path, delimiter: str = ",",
                  part: dict | None = None) -> Iterator[tuple[int, list[str] | Problem]]:
    """``(first line number, fields or Problem)`` per row of a CSV file (or of one part of it), by the
    dialect's record boundaries (``text.csvrows``: quoted newlines kept, rows a stray quote swallowed
    recovered); blank rows skipped."""
    from curate.text import csvrows

    for numbers, row in csvrows.rows(path, delimiter, part):
        yield numbers[0], row


def _csv_header(path: Path, delimiter: str) -> list[str] | None:
    from curate.text import csvrows

    for _, row in csvrows.rows(path, delimiter):
        if not isinstance(row, Problem):
            return row
    return None


def _iter_csv(path: Path, delimiter: str, part: dict | None = None,
              spans: dict[str, int] | None = None) -> Iterator[tuple[str, dict | Problem]]:
    from curate.text import csvrows

    header: list[str] | None = None
    if part is not None and part["start"] > 0:  # a later part: the header is the file's first row
        header = [h.strip() for h in _csv_header(path, delimiter) or []]
    width = len(header) if header else None
    for numbers, row in csvrows.rows(path, delimiter, part, width):
        n = numbers[0]
        if isinstance(row, Problem):
            yield f"L{n}", row
            continue
        if header is None:
            header = [h.strip() for h in row]
            continue
        if len(row) != len(header):
            yield f"L{n}", Problem("malformed_record",
                                   f"line {n}: {len(row)} fields, header has {len(header)}")
            continue
        if spans is not None and len(numbers) > 1:  # a quoted field across lines: one row, several lines
            spans[f"L{n}"] = len(numbers)
        yield f"L{n}", dict(zip(header, row, strict=True))


def _iter_parquet(path: Path, part: dict | None = None) -> Iterator[tuple[str, dict | Problem]]:
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for corrupt files
        raise NotText(f"not a readable Parquet file: {err}", "corrupt_file") from None
    groups = None if part is None else list(range(part["groups"][0], part["groups"][1]))
    i = 0 if part is None else part["row"]
    for batch in pf.iter_batches(batch_size=4096, row_groups=groups):
        for row in batch.to_pylist():
            yield f"row{i}", row
            i += 1


RECORD_SUFFIXES = {".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet"}
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv",
           ".parquet": "parquet"}


def sniff_format(path: Path) -> str | None:
    """The record format a file's content shows: ``jsonl``, ``json``, ``csv``, ``tsv``, ``parquet`` or
    ``None``. JSON starts with ``{`` or ``[`` (a first line that is a whole object means JSON lines);
    a table has the same number (at least one) of tabs, else of commas, on its first lines."""
    with open_binary(path) as f:
        head = f.read(1 << 16)
    if head.startswith(b"PAR1"):
        return "parquet"
    if not head.strip():
        return None
    text = head.decode(sniff_encoding(head), "replace").lstrip("\ufeff \t\r\n")
    lines = [line for line in text.splitlines() if line.strip()][:20]
    if len(head) == 1 << 16 and len(lines) > 1:
        lines = lines[:-1]  # the last line read may be cut off
    if text.startswith("["):
        return "json"
    if text.startswith("{"):
        try:
            return "jsonl" if isinstance(json.loads(lines[0]), dict) else "json"
        except json.JSONDecodeError:
            return "json"
    for delimiter, fmt in (("\t", "tsv"), (",", "csv")):
        widths = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        if len(widths) == 1 and widths.pop() > 1:
            return fmt
    return None


def record_format(path: Path) -> str:
    """The record format of ``path``: from its suffix, else from its content; ``NotText`` when neither."""
    fmt = FORMATS.get(base_suffix(path)) or sniff_format(path)
    if fmt is None:
        suffix = base_suffix(path) or "(no suffix)"
        raise NotText(f"cannot tell the record format of a {suffix!r} file from its content; expected JSON "
                      f"lines, JSON, CSV, TSV or Parquet (suffixes {', '.join(sorted(RECORD_SUFFIXES))})",
                      "unsupported_format")
    return fmt


def iter_records(path: Path, fmt: str | None = None, part: dict | None = None,
                 spans: dict[str, int] | None = None) -> Iterator[tuple[str, dict | Problem]]:
    """Yield ``(locator, record or Problem)`` for a structured file; raise ``NotText`` if unreadable.
    ``fmt`` (``jsonl``, ``json``, ``csv``, ``tsv``, ``parquet``) overrides the suffix and the content;
    ``part`` (from ``text.parts.record_parts``) reads one part, with the locators of a whole-file read;
    ``spans`` receives the number of physical lines of each record that spans several (CSV)."""
    fmt = fmt or record_format(path)
    if part is not None and part.get("format") != fmt:
        raise ValueError(f"{path}: a {part.get('format')} part given for a {fmt} file")
    if fmt == "jsonl":
        yield from _iter_jsonl(path, part)
    elif fmt == "json":
        yield from _iter_json(path)
    elif fmt in ("csv", "tsv"):
        yield from _iter_csv(path, "\t" if fmt == "tsv" else ",", part, spans)
    elif fmt == "parquet":
        yield from _iter_parquet(path, part)
    else:
        raise NotText(f"unknown record format {fmt!r}; one of jsonl, json, csv, tsv, parquet", "unsupported_format")

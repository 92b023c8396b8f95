"""Raw files to text and structured records, surviving bad bytes.

Encodings are sniffed per file (``text.encoding``): a BOM wins; otherwise UTF-8, GB18030 (a superset
of GBK and GB2312, as Chinese medical data sets often ship) or a Western code page, by what the text
looks like. A file with a noticeable share of NUL or control bytes is binary and is refused as a
whole. Line-oriented files are decoded line by line, so one undecodable line, or one with NUL bytes,
becomes one problem and the rest of the file is read; a line in another encoding than its file's is
decoded in its own. A truncated or corrupt ``.gz`` keeps the lines before the damage, and the rest
of the file is one problem (``truncated_gzip``).

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
import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from curate.text import encoding as encodings

SNIFF_BYTES = 1 << 20
# A longer line or text document is ledgered (``oversized_record``), never read into memory whole.
MAX_RECORD_BYTES = int(os.environ.get("CURATE_MAX_RECORD_BYTES", 8 << 20))


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


def sniff_encoding(head: bytes) -> str:
    """Pick the encoding of a file from its first bytes (``text.encoding``); ``NotText`` for binary data."""
    try:
        return encodings.guess(head)
    except encodings.EncodingUnknown as err:
        raise NotText(str(err), err.reason) from None


def _decode_error(err: UnicodeDecodeError, encoding: str) -> str:
    return f"invalid {encoding} bytes {err.object[err.start:err.end]!r} at byte {err.start}"


def read_text(path: Path, limit: int | None = None) -> tuple[str, str]:
    """Read a whole file as text; return ``(text, encoding)`` or raise ``NotText`` (also for a file
    over ``limit`` bytes, default ``MAX_RECORD_BYTES``: one text document of that size is not read)."""
    limit = MAX_RECORD_BYTES if limit is None else limit
    with _open_text(path) as f:
        data = read_head(f, limit + 1)
        if len(data) > limit:
            raise NotText(f"{limit:,}+ bytes of text, over the limit of {limit:,} (CURATE_MAX_RECORD_BYTES); split "
                          "the file or raise the limit", "oversized_record")
        if isinstance(f, _Salvaged) and f.cut:  # one document: a cut one is not read in part
            raise NotText(f"{f.cut}; copy the file again, or check it with gzip -t", "truncated_gzip")
    if not data.strip():
        raise NotText("empty file", "empty_file")
    encoding = sniff_encoding(data[:SNIFF_BYTES])
    try:
        return data.decode(encoding), encoding
    except UnicodeDecodeError as err:
        try:  # lines pasted from another encoding: each decoded in its own
            return "".join(encodings.decode_line(line, encoding) for line in data.splitlines(keepends=True)), encoding
        except UnicodeDecodeError:
            raise NotText(_decode_error(err, encoding), "undecodable") from None


def _raw_lines(stream: IO[bytes], sep: bytes, limit: int) -> Iterator[bytes | int]:
    """Physical lines of a binary stream, each with its separator; a line longer than ``limit``
    comes as its length (an int) and is never held in memory whole."""
    pieces: list[bytes] = []
    held = 0  # bytes in ``pieces``; -1 while skipping an over-long line
    skipped = 0
    while chunk := stream.read(1 << 20):
        start = 0
        while (i := chunk.find(sep, start)) >= 0:
            piece = chunk[start:i + 1]
            if held < 0:
                yield skipped + len(piece)
            elif held + len(piece) > limit:
                yield held + len(piece)
            else:
                yield b"".join(pieces) + piece if pieces else piece
            pieces, held, skipped = [], 0, 0
            start = i + 1
        rest = chunk[start:]
        if held < 0:
            skipped += len(rest)
        elif held + len(rest) > limit:
            held, skipped, pieces = -1, held + len(rest), []
        elif rest:
            pieces.append(rest)
            held += len(rest)
    if held < 0:
        yield skipped
    elif pieces:
        yield b"".join(pieces)


def _line_separator(head: bytes) -> bytes:
    """``\\r`` for files with CR-only line endings (old Mac exports), else ``\\n``."""
    return b"\r" if b"\n" not in head and b"\r" in head.rstrip(b"\r") else b"\n"


def _decode_line(raw: bytes, encoding: str, n: int) -> str | Problem:
    if b"\x00" in raw:  # a stray NUL: a damaged line, whatever the rest of it decodes to
        return Problem("nul_bytes", f"line {n}: {raw.count(0)} NUL byte(s) at byte {raw.index(0)}; not text")
    try:
        return raw.decode(encoding).lstrip("\ufeff") if encoding != "gb18030" else encodings.decode_line(raw, encoding)
    except UnicodeDecodeError as err:
        try:  # a line in another encoding than its file's (rows pasted from another export)
            return encodings.decode_line(raw, encoding).lstrip("\ufeff")
        except UnicodeDecodeError:
            return Problem("undecodable", f"line {n}: {_decode_error(err, encoding)}")


def _oversized(n: int, size: int) -> Problem:
    return Problem("oversized_record", f"line {n}: {size:,} bytes, over the limit of {MAX_RECORD_BYTES:,} "
                   "(CURATE_MAX_RECORD_BYTES); split the record or raise the limit")


def iter_lines(path: Path, keep_ends: bool = False,
               part: dict | None = None) -> Iterator[tuple[int, str | Problem]]:
    """Yield ``(line number, text or Problem)`` for each non-blank line; raise ``NotText`` up front.

    With ``keep_ends`` every line comes with its line ending, blank ones included (for parsers that
    need the physical lines, such as CSV with quoted newlines). ``part`` (``{"start", "end", "line"}``,
    from ``text.parts``) reads only the lines of that byte range, numbered from its first line; the
    encoding is still sniffed from the head of the file, so a part reads as the whole file would.
    Lines end at ``\\n`` (or ``\\r`` in files with CR-only endings); a line over ``MAX_RECORD_BYTES``
    is a problem (``oversized_record``) and is never read into memory; an undecodable line is a
    problem, except a GB18030 line in a UTF-8 file, which is decoded as such.
    """
    with _open_text(path) as f:
        head = read_head(f)
        if not head.strip():
            raise NotText("empty file", "empty_file")
        encoding = sniff_encoding(head)
        if encoding == "utf-16":  # cannot split UTF-16 on b"\n"; such files are small in practice
            text = (head + f.read()).decode("utf-16", "replace")
            for n, line in enumerate(text.splitlines(keepends=keep_ends), 1):
                if 2 * len(line) > MAX_RECORD_BYTES:  # its UTF-16 size, as for the bytes of other files
                    yield n, _oversized(n, 2 * len(line))
                elif keep_ends or line.strip():
                    yield n, line
            return
        stream = _line_stream(f, head, part)
        first = part["line"] if part is not None else 1
        n = first - 1
        for n, raw in enumerate(_raw_lines(stream, _line_separator(head), MAX_RECORD_BYTES), first):
            if isinstance(raw, int):
                yield n, _oversized(n, raw)
                continue
            if not keep_ends and not raw.strip():
                continue
            line = _decode_line(raw, encoding, n)
            yield n, line if keep_ends or isinstance(line, Problem) else line.rstrip("\r\n")
        if isinstance(f, _Salvaged) and f.cut:
            yield n + 1, Problem("truncated_gzip", f"after line {n}: {f.cut}; the rest of the file is lost "
                                 "(copy it again, or check it with gzip -t)")


def count_lines(path: Path, part: dict | None = None) -> int:
    """Non-blank physical lines of a text file (or of one part), counted from the bytes alone; raises
    ``NotText`` for a file that ``iter_lines`` refuses whole (empty, binary)."""
    with _open_text(path) as f:
        head = read_head(f)
        if not head.strip():
            raise NotText("empty file", "empty_file")
        sniff_encoding(head)
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return sum(1 for line in (head + f.read()).decode("utf-16", "replace").splitlines() if line.strip())
        stream = _line_stream(f, head, part)
        n = sum(1 for raw in _raw_lines(stream, _line_separator(head), MAX_RECORD_BYTES)
                if isinstance(raw, int) or raw.strip())
        return n + 1 if isinstance(f, _Salvaged) and f.cut else n  # the lost rest is one unit


def read_head(f: IO[bytes], size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` bytes of a stream whose reads may come short."""
    pieces, held = [], 0
    while held < size and (piece := f.read(size - held)):
        pieces.append(piece)
        held += len(piece)
    return b"".join(pieces)


def _line_stream(f: IO[bytes], head: bytes, part: dict | None) -> IO[bytes]:
    """The bytes of the whole file (``head`` replayed first) or of one part, buffered for line splitting."""
    if part is not None:
        f.seek(part["start"])
        return io.BufferedReader(_Limited(f, part["end"] - part["start"]), buffer_size=1 << 16)
    return io.BufferedReader(_Prefixed(head, f), buffer_size=1 << 16)


def _open_text(path: Path) -> IO[bytes]:
    """``open_binary``, except that a damaged ``.gz`` ends where the damage starts (``_Salvaged``)."""
    return _Salvaged(gzip.open(path, "rb"), path) if path.suffix == ".gz" else open(path, "rb")


class _Salvaged(io.RawIOBase):
    """A gzip stream that ends at a truncation or a corrupt block instead of raising, keeping the bytes
    before it; ``cut`` says what ended it. A file damaged before its first byte is ``NotText``."""

    def __init__(self, f: IO[bytes], path: Path):
        self._f, self._path, self._at, self.cut = f, path, 0, ""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self.cut:
            return 0
        try:
            data = self._f.read1(len(b))  # type: ignore[attr-defined]  # one block: never loses a partial read
        except (EOFError, zlib.error, gzip.BadGzipFile) as err:
            if not self._at:
                raise NotText(f"not a readable gzip file: {err}",
                              "truncated_gzip" if isinstance(err, EOFError) else "corrupt_gzip") from None
            reason = "truncated" if isinstance(err, EOFError) else "corrupt"
            self.cut = f"the gzip data is {reason} after {self._at:,} bytes ({err})"
            return 0
        self._at += len(data)
        b[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._f.close()
        super().close()


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
    from curate.text import jsonrecords

    if fmt == "jsonl":
        yield from jsonrecords.iter_jsonl(path, part)
    elif fmt == "json":
        yield from jsonrecords.iter_json(path)
    elif fmt in ("csv", "tsv"):
        yield from _iter_csv(path, "\t" if fmt == "tsv" else ",", part, spans)
    elif fmt == "parquet":
        yield from _iter_parquet(path, part)
    else:
        raise NotText(f"unknown record format {fmt!r}; one of jsonl, json, csv, tsv, parquet", "unsupported_format")


def count_units(path: Path, fmt: str | None = None, part: dict | None = None) -> int:
    """The input units of a record file (or part), counted from the raw input before parsing: non-blank
    physical lines of JSON lines and CSV/TSV (the CSV header excluded), rows of Parquet, top-level
    items of a JSON document. Every unit ends as a record, a record that absorbed it, or a problem."""
    fmt = fmt or record_format(path)
    if fmt == "jsonl":
        return count_lines(path, part)
    if fmt in ("csv", "tsv"):
        header = 0
        if part is None or part["start"] == 0:
            from curate.text import csvrows

            header = next((len(n) for n, row in csvrows.rows(path, "\t" if fmt == "tsv" else ",")
                           if not isinstance(row, Problem)), 0)
        return count_lines(path, part) - header
    if fmt == "parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path).metadata
        if part is None:
            return meta.num_rows
        return sum(meta.row_group(g).num_rows for g in range(*part["groups"]))
    # A JSON document: its top-level items are only known by parsing it (item by item).
    return sum(1 for _ in iter_records(path, fmt))

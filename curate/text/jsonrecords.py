"""JSON lines and JSON documents into ``(locator, record or Problem)``, one bad item never ending the file.

- JSON lines: one record per non-blank line (``L<n>``). A line that does not parse (broken, nested
  deeper than the parser allows, not an object) is one problem; the next line is read as usual.
- A JSON document: an array of objects (``item<i>``), an object of objects (``key=<k>``, e.g. PMID ->
  item) or one object. An array is read item by item, so a broken item is one problem and reading
  resumes at the next item that starts a line; data after the document (a second document, junk) is
  one problem (``trailing_data``) and the document's items are kept. A file whose first value is an
  object followed by more objects is JSON lines under a ``.json`` name (PromptCBLUE ships its splits
  this way).
- Plain JSON lines (``jsonl_table``): a file or part in which every line is one object with a string text
  field and nothing the line-by-line reader would report is parsed in one piece by Arrow, for readers
  that take whole columns (``readers.documents``); anything else is read line by line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.text import textio
from curate.text.textio import NotText, Problem

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")
_ITEM_START = re.compile(r"\n[ \t]*[{\[]")
MAX_DOCUMENT_BYTES = 1 << 30  # a larger JSON document should be JSON lines


def _loads(line: str, n: int) -> object | Problem:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        return Problem("malformed_json", f"line {n}: invalid JSON: {err.msg} at column {err.colno}")
    except RecursionError:
        return Problem("malformed_json", f"line {n}: JSON nested deeper than the parser allows")
    if "\\u" in line and (half := _unpaired(line, value)):
        return Problem("malformed_json", f"line {n}: {half}")
    return value


_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89a-fA-F]")


def _unpaired(source: str, value: object) -> str:
    """What is wrong when ``source``'s escapes left half of a UTF-16 surrogate pair in ``value`` (JSON
    allows the escape, but it is no character and cannot be written as UTF-8); '' when nothing is."""
    if not _ESCAPED_SURROGATE.search(source):
        return ""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as err:
        return (f"\\u{ord(err.object[err.start]):04x} is half of a UTF-16 surrogate pair, not a character; "
                "fix the export that wrote it")
    return ""


def iter_jsonl(path: Path, part: dict | None = None) -> Iterator[tuple[str, dict | Problem]]:
    """Records of a JSON lines file (or of one part of it)."""
    for n, line in textio.iter_lines(path, part=part):
        if isinstance(line, Problem):
            yield f"L{n}", line
            continue
        value = _loads(line, n)
        if isinstance(value, Problem | dict):
            yield f"L{n}", value
        else:
            yield f"L{n}", Problem("malformed_record", f"line {n}: expected a JSON object, got {type(value).__name__}")


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


class _Lines:
    """Line numbers of positions in one text, asked in increasing order (an array's items): each newline is
    counted once, where counting from the start for every item made a large array quadratic."""

    def __init__(self, text: str):
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        if pos < self.pos:
            return _line(self.text, pos)
        self.line += self.text.count("\n", self.pos, pos)
        self.pos = pos
        return self.line


def _decode(text: str, pos: int) -> tuple[object, int] | Problem:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as err:
        return Problem("malformed_json", f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}")
    except RecursionError:
        return Problem("malformed_json", f"JSON nested deeper than the parser allows at line {_line(text, pos)}")


def _checked(value: object, size: int, what: str, escaped: bool = False) -> dict | Problem:
    """An item of a JSON document, or the problem with it: not an object, or over the record size limit
    (as a line of JSON lines would be; the document itself is already in memory)."""
    if not isinstance(value, dict):
        return Problem("malformed_record", f"{what}: expected an object, got {type(value).__name__}")
    if size > textio.MAX_RECORD_BYTES:
        return Problem("oversized_record", f"{what}: {size:,} characters, over the limit of "
                       f"{textio.MAX_RECORD_BYTES:,} (CURATE_MAX_RECORD_BYTES); split the record or raise the limit")
    if escaped and (half := _unpaired(json.dumps(value), value)):
        return Problem("malformed_json", f"{what}: {half}")
    return value


def _array(text: str, pos: int, escaped: bool = False) -> Iterator[tuple[str, dict | Problem]]:
    """Items of the array opening at ``pos``, each decoded alone; returns where the array ends."""
    i, pos, lines = 0, _WS.match(text, pos + 1).end(), _Lines(text)
    if text.startswith("]", pos):
        return pos + 1
    while pos < len(text):
        got = _decode(text, pos)
        if isinstance(got, Problem):
            yield f"item{i}", got
            i += 1
            nxt = _ITEM_START.search(text, pos + 1)  # resume at the next item that starts a line
            if nxt is None:
                return len(text)
            pos = nxt.end() - 1
            continue
        value, end = got
        yield f"item{i}", _checked(value, end - pos, f"item {i} (line {lines.at(pos)})", escaped)
        pos = end
        i += 1
        pos = _WS.match(text, pos).end()
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            return pos + 1
        else:
            yield f"item{i}", Problem("malformed_json", f"line {lines.at(pos)}: expected ',' or ']' after "
                                      f"item {i - 1}")
            nxt = _ITEM_START.search(text, pos)
            if nxt is None:
                return len(text)
            pos, i = nxt.end() - 1, i + 1
    return len(text)


def iter_json(path: Path) -> Iterator[tuple[str, dict | Problem]]:
    """Records of a JSON document (see the module doc)."""
    if path.stat().st_size > MAX_DOCUMENT_BYTES:
        raise NotText(f"a JSON document of {path.stat().st_size:,} bytes; convert it to JSON lines", "oversized_file")
    text, _ = textio.read_text(path, limit=MAX_DOCUMENT_BYTES)
    start = _WS.match(text.lstrip("\ufeff")).end() + (1 if text.startswith("\ufeff") else 0)
    escaped = bool(_ESCAPED_SURROGATE.search(text))  # then each item is checked for a lone surrogate
    if text.startswith("[", start):
        end = yield from _array(text, start, escaped)
    else:
        got = _decode(text, start)
        if isinstance(got, Problem):
            raise NotText(got.message, "malformed_json")
        value, end = got
        rest = _WS.match(text, end).end()
        if isinstance(value, dict) and text.startswith("{", rest):
            yield from iter_jsonl(path)  # JSON lines under a .json name
            return
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            big = end - start > textio.MAX_RECORD_BYTES  # then an item may be too: measure each
            for key, item in value.items():  # keyed collections, e.g. PMID -> item
                size = len(json.dumps(item, ensure_ascii=False)) if big else 0
                got = _checked(item, size, f"item {key!r}", escaped)
                yield f"key={key}", {"_key": key, **got} if isinstance(got, dict) else got
        elif isinstance(value, dict):
            yield "item0", _checked(value, end - start, "the document's object", escaped)
        else:
            raise NotText(f"expected a JSON array or object, got {type(value).__name__}")
    rest = _WS.match(text, end).end()
    if rest < len(text):
        yield f"trailing@line{_line(text, rest)}", Problem(
            "trailing_data", f"line {_line(text, rest)}: data after the JSON document ({text[rest:rest + 40]!r}...); "
            "the document's items were read")


_SPACE_LINE = re.compile(rb"(?:\A|\n) +(?:\n|\Z)")
WHOLE_BYTES = 64 << 20  # a whole file up to this size is parsed in one piece; a larger one in its parts
MAX_DEPTH = 64  # deeper values are left to the line-by-line reader, which knows Python's nesting limit


def jsonl_table(path: Path, text_field: str, part: dict | None = None) -> tuple[Any, int] | None:
    """A JSON lines file (or ``part``) parsed in one piece by Arrow, with the number of its first line, when
    the line-by-line reader (``iter_jsonl``) would read every line as one object with a string
    ``text_field`` and nothing to report; else ``None`` (then read it line by line).

    Arrow's parser accepts a few inputs that ``json.loads`` does not (two objects on one line, nesting
    beyond Python's limit) and refuses some that it accepts (a lone escaped surrogate); each of these ends
    here as ``None``, so both ways give the same records."""
    if path.suffix.lower() == ".gz":
        return None
    with open(path, "rb") as f:
        head = textio.read_head(f)
        try:
            if textio.sniff_encoding(head) != "utf-8":
                return None
        except NotText:
            return None
        if part is None:
            if path.stat().st_size > WHOLE_BYTES:
                return None
            f.seek(0)
            data, first = f.read(), 1
        else:
            f.seek(part["start"])
            data, first = f.read(part["end"] - part["start"]), part["line"]
    lines = _plain_lines(data)
    if lines is None:
        return None
    table = _arrow_lines(data, text_field)
    if (table is None or table.num_rows != lines or table.column(text_field).null_count
            or _depth(table.schema) > MAX_DEPTH):
        return None
    return table, first


def _plain_lines(data: bytes) -> int | None:
    """The number of lines of ``data``, or ``None`` when the line-by-line reader would treat a line apart: a
    control byte other than the newline (a CR, a tab, a NUL), a BOM, an escaped surrogate, a blank line, a
    line over ``MAX_RECORD_BYTES``. (numpy over the bytes: ``bytes.find`` of a multi-byte needle is
    several times slower on UTF-8 text.)"""
    import numpy as np

    codes = np.frombuffer(data, np.uint8)
    newline = codes == 10
    if np.count_nonzero(codes < 32) != np.count_nonzero(newline):
        return None
    ends = np.flatnonzero(newline) + 1
    if not ends.size or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    sizes = np.diff(ends, prepend=0)
    if sizes.min() <= 1 or sizes.max() > textio.MAX_RECORD_BYTES:  # an empty line, an over-long one
        return None
    if _follows(codes, 0xEF, b"\xbb", b"\xbf") or _follows(codes, 0x5C, b"u", b"dD", b"89abcdefABCDEF"):
        return None  # a BOM, or what may be an escaped surrogate
    starts = np.concatenate(([0], ends[:-1]))
    if (codes[starts] == 32).any() and _SPACE_LINE.search(data):
        return None
    return int(ends.size)


def _follows(codes: Any, lead: int, *then: bytes) -> bool:
    """Whether byte ``lead`` is followed somewhere by one byte of each of ``then`` in turn."""
    import numpy as np

    at = np.flatnonzero(codes[:len(codes) - len(then)] == lead)
    for k, allowed in enumerate(then, 1):
        if not at.size:
            return False
        at = at[np.isin(codes[at + k], np.frombuffer(allowed, np.uint8))]
    return bool(at.size)


def _arrow_lines(data: bytes, text_field: str) -> Any:
    import io

    import numpy as np
    import pyarrow as pa
    import pyarrow.json as pj

    schema = pa.schema([(text_field, pa.string())])
    whole = pa.StringArray.from_buffers(1, pa.py_buffer(np.array([0, len(data)], np.int32)), pa.py_buffer(data))
    try:
        whole.validate(full=True)  # UTF-8 throughout (Arrow's JSON parser does not check it)
        return pj.read_json(io.BytesIO(data), read_options=pj.ReadOptions(use_threads=False, block_size=len(data) + 1),
                            parse_options=pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="infer"))
    except (pa.ArrowException, ValueError):  # not plain JSON lines: the line-by-line reader says why
        return None


def _depth(schema: Any) -> int:
    """How deeply the fields of an Arrow schema nest (counted without recursion: it may nest thousands deep)."""
    deepest, level = 0, [f.type for f in schema]
    while level and deepest <= MAX_DEPTH:
        deepest += 1
        level = [t.field(i).type for t in level for i in range(t.num_fields)]
    return deepest

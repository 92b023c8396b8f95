"""JSON lines and JSON documents into ``(locator, record or Problem)``, one bad item never ending the file.

- JSON lines: one record per non-blank line (``L<n>``). A line that does not parse (broken, nested
  deeper than the parser allows, not an object) is one problem; the next line is read as usual.
- A JSON document: an array of objects (``item<i>``), an object of objects (``key=<k>``, e.g. PMID ->
  item) or one object. An array is read item by item, so a broken item is one problem and reading
  resumes at the next item that starts a line; data after the document (a second document, junk) is
  one problem (``trailing_data``) and the document's items are kept. A file whose first value is an
  object followed by more objects is JSON lines under a ``.json`` name (PromptCBLUE ships its splits
  this way).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

from curate.text import textio
from curate.text.textio import NotText, Problem

_DECODER = json.JSONDecoder()
_WS = re.compile(r"[ \t\r\n]*")
_ITEM_START = re.compile(r"\n[ \t]*[{\[]")
MAX_DOCUMENT_BYTES = 1 << 30  # a larger JSON document should be JSON lines


def _loads(line: str, n: int) -> object | Problem:
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        return Problem("malformed_json", f"line {n}: invalid JSON: {err.msg} at column {err.colno}")
    except RecursionError:
        return Problem("malformed_json", f"line {n}: JSON nested deeper than the parser allows")


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


def _decode(text: str, pos: int) -> tuple[object, int] | Problem:
    try:
        return _DECODER.raw_decode(text, pos)
    except json.JSONDecodeError as err:
        return Problem("malformed_json", f"invalid JSON at line {err.lineno}, column {err.colno}: {err.msg}")
    except RecursionError:
        return Problem("malformed_json", f"JSON nested deeper than the parser allows at line {_line(text, pos)}")


def _array(text: str, pos: int) -> Iterator[tuple[str, dict | Problem]]:
    """Items of the array opening at ``pos``, each decoded alone; returns where the array ends."""
    i, pos = 0, _WS.match(text, pos + 1).end()
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
        value, pos = got
        yield f"item{i}", value if isinstance(value, dict) else Problem(
            "malformed_record", f"item {i}: expected an object, got {type(value).__name__}")
        i += 1
        pos = _WS.match(text, pos).end()
        if text.startswith(",", pos):
            pos = _WS.match(text, pos + 1).end()
        elif text.startswith("]", pos):
            return pos + 1
        else:
            yield f"item{i}", Problem("malformed_json", f"line {_line(text, pos)}: expected ',' or ']' after "
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
    if text.startswith("[", start):
        end = yield from _array(text, start)
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
            for key, item in value.items():  # keyed collections, e.g. PMID -> item
                yield f"key={key}", {"_key": key, **item}
        elif isinstance(value, dict):
            yield "item0", value
        else:
            raise NotText(f"expected a JSON array or object, got {type(value).__name__}")
    rest = _WS.match(text, end).end()
    if rest < len(text):
        yield f"trailing@line{_line(text, rest)}", Problem(
            "trailing_data", f"line {_line(text, rest)}: data after the JSON document ({text[rest:rest + 40]!r}...); "
            "the document's items were read")

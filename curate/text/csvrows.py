"""CSV and TSV rows by the dialect's own record boundaries, with rows a stray quote swallowed recovered.

A quoted field may span lines, so one record may be several physical lines. A stray quote (an
unbalanced ``"`` in one row) makes a naive parser read every following line into one field until the
next quote, losing those rows. Here the physical lines are grouped into records by the csv module's
quoting rules (``parts.quote_open``), then:

- a record of one line is parsed as it is;
- a record of several lines is kept when it has the width of the file's first row and its inner
  lines do not all read as rows of that width; otherwise its quoting swallowed rows, and each of its
  lines is parsed on its own, so that the rows inside come back as rows and only the line with the
  stray quote is reported (``unbalanced_quote``);
- a quote still open after ``MAX_RECORD_LINES`` lines, ``textio.MAX_RECORD_BYTES`` bytes or at the
  end of the file is a stray quote on the record's first line: that line stands alone and grouping
  starts again on the next one.

Each row comes with the numbers of the physical lines it spans, so that every line is accounted
for: in a row, or in a problem.
"""

from __future__ import annotations

import csv
from collections import deque
from collections.abc import Iterator
from pathlib import Path

from curate.text import textio
from curate.text.textio import Problem

MAX_RECORD_LINES = 10_000


def _open(line: str, delimiter: str, inside: bool) -> bool:
    """Whether the quote state after ``line`` is open, starting from ``inside``."""
    if '"' not in line:
        return inside
    i = line.find('"')
    while i >= 0:
        if inside:
            if line[i + 1:i + 2] == '"':
                i = line.find('"', i + 2)
                continue
            inside = False
        elif i == 0 or line[i - 1] == delimiter:
            inside = True
        i = line.find('"', i + 1)
    return inside


def _parse(lines: list[str], delimiter: str) -> list[list[str]] | None:
    try:
        return list(csv.reader(lines, delimiter=delimiter, strict=False))
    except csv.Error:  # a field beyond the csv module's size limit, NUL bytes
        return None


def _rows_inside(group: list[tuple[int, str]], delimiter: str, width: int | None) -> bool:
    """Whether every inner line of a multi-line record reads as a row of its own (no quote, the file's
    width): then a stray quote swallowed rows, which a quoted paragraph never looks like."""
    inner = [text for _, text in group[1:-1] if text.strip()]
    return bool(inner) and width is not None and all(
        '"' not in text and text.count(delimiter) == width - 1 for text in inner)


def rows(path: Path, delimiter: str = ",", part: dict | None = None,
         width: int | None = None) -> Iterator[tuple[list[int], list[str] | Problem]]:
    """``(line numbers, fields or Problem)`` per non-blank record of a CSV file or part of it.

    ``width`` is the expected field count (a later part passes its header's); by default, the first
    row's. Undecodable lines are problems of their own.
    """
    pending: deque[tuple[int, str]] = deque()
    source = (item for item in textio.iter_lines(path, keep_ends=True, part=part))
    limit = textio.MAX_RECORD_BYTES

    def fill() -> tuple[int, str] | None:
        if pending:
            return pending.popleft()
        for n, line in source:
            if isinstance(line, Problem):
                return n, line  # type: ignore[return-value]
            return n, line
        return None

    while (first := fill()) is not None:
        n, line = first
        if isinstance(line, Problem):
            yield [n], line
            continue
        if not line.strip():
            continue
        group, size, inside = [(n, line)], len(line), _open(line, delimiter, False)
        while inside and len(group) < MAX_RECORD_LINES and size < limit:
            nxt = fill()
            if nxt is None or isinstance(nxt[1], Problem):
                if nxt is not None:
                    pending.appendleft(nxt)
                break
            group.append(nxt)
            size += len(nxt[1])
            inside = _open(nxt[1], delimiter, inside)
        if inside and len(group) > 1:  # never closed: the first line's quote is stray
            pending.extendleft(reversed(group[1:]))
            group = group[:1]
        numbers = [k for k, text in group if text.strip()]
        parsed = _parse([text for _, text in group], delimiter)
        if parsed is not None and len(parsed) == 1 and (len(group) == 1 or (
                width in (None, len(parsed[0])) and not _rows_inside(group, delimiter, width))):
            width = width if width is not None else len(parsed[0])
            yield numbers, parsed[0]
            continue
        if len(group) == 1:
            yield numbers, Problem("malformed_record", f"line {n}: cannot be parsed as a CSV row")
            continue
        # The record's quoting swallowed rows: each line stands alone.
        for k, text in group:
            if not text.strip():
                continue
            alone = _parse([text], delimiter)
            if alone is not None and len(alone) == 1 and alone[0] and len(alone[0]) == width:
                yield [k], alone[0]
            else:
                yield [k], Problem("unbalanced_quote", f"line {k}: a stray quote makes lines {group[0][0]}-"
                                   f"{group[-1][0]} one field; this line is not a row of {width} fields")

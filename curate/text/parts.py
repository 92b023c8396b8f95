"""Cutting one large record file into parts that workers read in parallel, at record boundaries.

A part is a small JSON-serialisable descriptor that ``textio.iter_records`` reads with the locators
(and so the record ids) of a whole-file read:

- line formats (JSON lines, and CSV/TSV whose rows hold no quoted line break): ``{"format", "start",
  "end", "line"}``, a byte range that starts after a newline, and the number of its first physical
  line, counted by one cheap pass over the bytes (``bytes.count``);
- Parquet: ``{"format", "groups": [first, end], "row"}``, a run of row groups and the index of its
  first row.

Compressed files (``.gz``), JSON documents, UTF-16 files, files with CR-only line endings and CSV
files with quoted line breaks are read whole (``record_parts`` returns ``None``). Byte ranges are
``part_bytes`` each, then shorter at the end of the file (``next_part``: the last tasks of a build are
short, so its workers finish together). The cuts depend on the file and ``part_bytes`` only, never on
the number of workers, so a build's tasks and outputs are the same on any machine.
"""

from __future__ import annotations

from pathlib import Path

from curate.text import textio

CHUNK = 1 << 23
DEFAULT_PART_BYTES = 4 << 20


def record_parts(path: Path, part_bytes: int = DEFAULT_PART_BYTES, fmt: str | None = None) -> list[dict] | None:
    """Parts of a record file of more than ``part_bytes`` bytes, in file order; ``None`` to read it whole."""
    path = Path(path)
    if path.suffix.lower() == ".gz" or path.stat().st_size <= part_bytes:
        return None
    try:
        fmt = fmt or textio.record_format(path)
    except textio.NotText:
        return None
    if fmt == "parquet":
        return _parquet_parts(path, part_bytes)
    if fmt not in ("jsonl", "csv", "tsv"):
        return None
    with open(path, "rb") as f:
        head = f.read(textio.SNIFF_BYTES)
    try:
        if textio.sniff_encoding(head) == "utf-16" or (b"\n" not in head and b"\r" in head):
            return None
    except textio.NotText:
        return None
    if fmt in ("csv", "tsv") and _has_quoted_newline(path, b"\t" if fmt == "tsv" else b","):
        return None
    return [{"format": fmt, **cut} for cut in line_cuts(path, part_bytes)]


def next_part(left: int, part_bytes: int) -> int:
    """The size of the next part when ``left`` bytes remain: ``part_bytes`` until the last two parts'
    worth, which is cut into halves of what remains (down to an eighth of a part), so that the build's
    last tasks are short and its workers finish together, whatever their number and speed."""
    if left > 2 * part_bytes:
        return part_bytes
    return max(left // 2, part_bytes // 8, 1) if left > part_bytes // 4 else left


def line_cuts(path: Path, part_bytes: int) -> list[dict]:
    """Byte ranges that start after a newline, with their first line numbers: ``part_bytes`` each, then
    shorter ones at the end of the file (``next_part``)."""
    size = path.stat().st_size
    starts, lines = [0], [1]
    pos, newlines, target = 0, 0, next_part(size, part_bytes)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            while target < pos + len(chunk):
                i = chunk.find(b"\n", max(0, target - pos))
                if i < 0:  # the line goes on into the next chunk: cut at its end there
                    target = pos + len(chunk)
                    break
                cut = pos + i + 1
                if cut < size:
                    starts.append(cut)
                    lines.append(newlines + chunk.count(b"\n", 0, i + 1) + 1)
                target = cut + next_part(size - cut, part_bytes)
            newlines += chunk.count(b"\n")
            pos += len(chunk)
    ends = [*starts[1:], size]
    return [{"start": s, "end": e, "line": n} for s, e, n in zip(starts, ends, lines, strict=True)]


def _has_quoted_newline(path: Path, delimiter: bytes) -> bool:
    """Whether a CSV file has a quoted field spanning lines (then only a whole-file read knows its rows)."""
    with open(path, "rb") as f:
        carry = b""
        while chunk := f.read(CHUNK):
            lines = (carry + chunk).split(b"\n")
            carry = lines.pop()
            if any(b'"' in line and quote_open(line, delimiter) for line in lines):
                return True
    return b'"' in carry and quote_open(carry, delimiter)


def quote_open(line: bytes, delimiter: bytes) -> bool:
    """Whether a CSV line (read from a record boundary) ends inside a quoted field, by the csv module's
    rules: a quote opens a field only at the field's start, ``""`` inside is a literal quote."""
    inside, i = False, line.find(b'"')
    while i >= 0:
        if inside:
            if line[i + 1:i + 2] == b'"':
                i = line.find(b'"', i + 2)
                continue
            inside = False
        elif i == 0 or line[i - 1:i] == delimiter:
            inside = True
        i = line.find(b'"', i + 1)
    return inside


def _parquet_parts(path: Path, part_bytes: int) -> list[dict] | None:
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
    except Exception:  # a corrupt file is reported by the reader
        return None
    parts, first, row, size = [], 0, 0, 0
    for g in range(meta.num_row_groups):
        size += meta.row_group(g).total_byte_size
        if size >= part_bytes or g == meta.num_row_groups - 1:
            parts.append({"format": "parquet", "groups": [first, g + 1], "row": row})
            row += sum(meta.row_group(k).num_rows for k in range(first, g + 1))
            first, size = g + 1, 0
    return parts if len(parts) > 1 else None

"""PubMed XML cut into its units, article by article, and into parts at article or gzip member boundaries.

A ``PubmedArticleSet`` is a flat list of units: ``PubmedArticle``, ``PubmedBookArticle`` and
``DeleteCitation`` elements. ``units`` streams the bytes of each unit (from its start tag to the next
unit's, or to ``</PubmedArticleSet>``) with its line number, without parsing, so the reader parses
each unit alone: a malformed or truncated article is one ledger row and the next article is read, and
no entity declared in the file's header (the DOCTYPE) reaches an article.

``plan`` cuts a large file into parts: an uncompressed file at unit start tags, a gzip file at the
starts of its members (a file of one member is read whole). A part owns the units that start in its
range of the decompressed bytes, carries its first line and the PMID counts before it (for the ids of
PMIDs a file repeats), so its records are those of a whole-file read.
"""

from __future__ import annotations

import gzip
import mmap
import re
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO, NamedTuple

from curate.text import textio
from curate.text.parts import next_part

UNIT = re.compile(rb"<(PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>]")
ARTICLE = re.compile(rb"<Pubmed(?:Book)?Article[\s>]")
# The first PMID of a unit names it; bounded so that a scan over chunks and a unit's own scan agree.
PMID = re.compile(rb"<PMID\b[^<>]{0,64}>([^<]{0,64})<")
_SCAN = re.compile(rb"<(PubmedArticle|PubmedBookArticle|DeleteCitation)[\s>]|<PMID\b[^<>]{0,64}>([^<]{0,64})<")
ROOT_END = b"</PubmedArticleSet>"
_NAME = re.compile(rb"[A-Za-z_][\w.:-]*")
CHUNK = 1 << 20
_TAIL = 256  # bytes kept between chunks: longer than any match of the patterns above


def root_tag(head: bytes) -> str | None:
    """The name of the first element in ``head``, past the declaration, comments and the DOCTYPE."""
    pos = 0
    while (i := head.find(b"<", pos)) >= 0:
        if head.startswith(b"<?", i):
            j, skip = head.find(b"?>", i), 2
        elif head.startswith(b"<!--", i):
            j, skip = head.find(b"-->", i), 3
        elif head.startswith(b"<!", i):  # DOCTYPE, with or without an internal subset
            j, skip = head.find(b">", i), 1
            if 0 <= (k := head.find(b"[", i)) < j:
                j = head.find(b">", max(k, head.find(b"]", k)))
        else:
            m = _NAME.match(head, i + 1)
            return m.group().decode("ascii", "replace") if m else None
        if j < 0:
            return None
        pos = j + skip
    return None


def open_part(path: Path, part: dict | None) -> IO[bytes]:
    """A stream of the decompressed bytes of ``path`` from the start of ``part`` (the whole file: None)."""
    if path.suffix != ".gz":
        f = open(path, "rb")  # noqa: SIM115 - returned to the caller
        f.seek(part["start"] if part else 0)
        return f
    if part is None:
        return gzip.open(path, "rb")
    raw = open(path, "rb")  # noqa: SIM115 - closed with the gzip stream below
    raw.seek(part["member"])  # a gzip member starts here; the stream goes on through the members after it
    return _Owning(gzip.GzipFile(fileobj=raw, mode="rb"), raw)


class _Owning:
    """A gzip stream that closes the raw file under it too."""

    def __init__(self, stream: gzip.GzipFile, raw: IO[bytes]):
        self.stream, self.raw = stream, raw

    def read(self, n: int = -1) -> bytes:
        return self.stream.read(n)

    def read1(self, n: int = -1) -> bytes:
        return self.stream.read1(n)

    def __enter__(self) -> _Owning:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stream.close()
        self.raw.close()


class Oversized(NamedTuple):
    """A unit over the size limit, never held whole: its size, whether it is an article, its PMID."""

    size: int
    article: bool
    pmid: bytes | None


def units(f: IO[bytes], start: int = 0, end: int | None = None, line: int = 1,
          limit: int | None = None) -> Iterator[tuple[int, bytes | Oversized]]:
    """``(line, unit bytes)`` for each unit starting in ``[start, end)`` of stream ``f`` (whose first byte is
    at offset ``start``, on line ``line``); a unit over ``limit`` bytes (``MAX_RECORD_BYTES``) comes as
    ``Oversized`` and is never held whole. Text before the first unit (the header) is skipped; a unit
    ends at the next unit or at ``</PubmedArticleSet>``."""
    limit = textio.MAX_RECORD_BYTES if limit is None else limit
    buf, base = b"", start  # buf[0] is at offset ``base``
    big: tuple[bool, bytes | None] = (False, None)  # an over-long unit's kind and PMID
    cur: int | None = None  # index in buf of the current unit's start; None in the header
    cur_line, mark, mark_line = line, 0, line  # buf[mark] is on line mark_line
    scan, skipped, eof = 0, 0, False  # skipped: bytes of an over-long unit dropped so far
    read = getattr(f, "read1", f.read)  # a gzip stream that breaks off still gives the bytes before the break
    while True:
        m = UNIT.search(buf, scan)
        if m is not None:
            s = m.start()
            at = mark_line + buf.count(b"\n", mark, s)
            if cur is not None:
                yield cur_line, Oversized(skipped + s - cur, *big) if skipped else _body(buf, cur, s)
            if end is not None and base + s >= end:
                return  # this unit belongs to the next part
            cur, cur_line, mark, mark_line, scan, skipped = s, at, s, at, s + 1, 0
            continue
        if eof:
            break
        keep = max(0, len(buf) - 64) if cur is None else cur  # drop the header, and what was yielded
        if cur is not None and skipped + len(buf) - cur > limit:  # an over-long unit: hold its tail only
            keep = max(cur, len(buf) - 64)
            if not skipped:
                found = None if buf.startswith(b"<D", cur) else PMID.search(buf, cur)
                big = (not buf.startswith(b"<D", cur), found.group(1) if found else None)
            skipped += keep - cur
        mark_line += buf.count(b"\n", mark, keep)
        rest = len(buf) - keep
        chunk = read(CHUNK)
        eof = not chunk
        buf, base, mark = buf[keep:] + chunk, base + keep, 0
        cur = None if cur is None else 0
        scan = max(0 if cur is None else 1, rest - 24)
    if cur is not None:
        yield cur_line, Oversized(skipped + len(buf) - cur, *big) if skipped else _body(buf, cur, len(buf))


def _body(buf: bytes, start: int, stop: int) -> bytes:
    """The unit in ``buf[start:stop]``, up to the root's end tag (after which may come the header of the
    next document of files joined together: ``cat a.xml b.xml``, or gzip files concatenated)."""
    close = buf.find(ROOT_END, start, stop)
    return buf[start:close if close >= 0 else stop]


def count_articles(path: Path, part: dict | None = None) -> int:
    """``PubmedArticle`` and ``PubmedBookArticle`` start tags in the decompressed bytes of the file or part,
    without parsing: the units the reader must account for, also when the XML breaks off."""
    count, carry, offset = 0, b"", part["start"] if part else 0  # offset of carry[0]
    end = part["end"] if part else None
    try:
        with open_part(path, part) as f:
            while chunk := f.read(CHUNK):
                data = carry + chunk
                cut = max(0, len(data) - 24)  # a tag that starts before cut lies whole in data
                stop = cut if end is None else min(cut, end - offset)
                count += sum(1 for m in ARTICLE.finditer(data, 0, stop + 24) if m.start() < stop)
                if end is not None and offset + cut >= end:
                    return count
                carry, offset = data[cut:], offset + cut
    except (OSError, EOFError, zlib.error):  # a truncated or corrupt gzip stream: count what it held
        pass
    stop = len(carry) if end is None else end - offset
    return count + sum(1 for m in ARTICLE.finditer(carry) if m.start() < stop)


class _Planner:
    """Parts of one file from a scan of its decompressed bytes, fed chunk by chunk (``feed``); ``cut``
    marks where a part may begin (a gzip member start; any unit start when ``at_units``)."""

    def __init__(self, part_bytes: int, at_units: bool, total: int = 0):
        self.part_bytes, self.at_units = part_bytes, at_units
        self.total = total  # the file's size when known: its last parts are shorter (``parts.next_part``)
        self.buf, self.base, self.lines = b"", 0, 1  # unscanned bytes, their offset, the line of buf[0]
        self.cuts: list[tuple[int, int, int]] = []  # (offset, member offset, line) not yet reached by units
        self.counts: dict[str, int] = {}  # PMID -> units so far, in the parts already closed
        self.parts: list[dict] = [{"start": 0, "line": 1, "seen": {}, "distinct": 0}
                                  | ({} if at_units else {"member": 0})]
        self.mine: list[str] = []  # the first PMIDs of the units of the open part
        self.article = False  # the last unit is an article whose PMID is still to come

    def cut(self, offset: int, member: int) -> None:
        """A gzip member starts at decompressed ``offset`` (``member`` in the compressed file)."""
        last = self.cuts[-1][0] if self.cuts else self.parts[-1]["start"]
        if offset >= last + self.part_bytes:
            self.cuts.append((offset, member, self.lines + self.buf.count(b"\n", 0, offset - self.base)))

    def _size(self, start: int) -> int:
        """The size of a part that begins at ``start``."""
        return next_part(self.total - start, self.part_bytes) if self.total else self.part_bytes

    def feed(self, data: bytes, final: bool = False) -> None:
        """Scan the next decompressed bytes (``final``: the last of the file)."""
        buf = self.buf + data
        stop = len(buf) if final else max(0, len(buf) - _TAIL)
        for m in _SCAN.finditer(buf, 0, len(buf)):
            if m.start() >= stop:
                break
            if m.group(1) is None:
                if self.article:
                    self.mine.append(m.group(2).decode("utf-8", "replace").strip())
                    self.article = False
                continue
            at = self.base + m.start()
            while self.cuts and at >= self.cuts[0][0]:
                self._open(*self.cuts.pop(0))
            if self.at_units and at >= self.parts[-1]["start"] + self._size(self.parts[-1]["start"]):
                self._open(at, None, self.lines + buf.count(b"\n", 0, m.start()))
            self.article = m.group(1) != b"DeleteCitation"
        self.lines += buf.count(b"\n", 0, stop)
        self.buf, self.base = buf[stop:], self.base + stop

    def _open(self, offset: int, member: int | None, line: int) -> None:
        self._close(offset)
        self.parts.append({"start": offset, "line": line, "seen": {}, "distinct": len(self.counts)}
                          | ({"member": member} if member is not None else {}))

    def _close(self, end: int) -> None:
        part = self.parts[-1]
        part["end"] = end
        part["seen"] = {p: self.counts[p] for p in sorted(set(self.mine)) if p in self.counts}
        for p in self.mine:
            self.counts[p] = self.counts.get(p, 0) + 1
        self.mine = []

    def finish(self, size: int) -> list[dict] | None:
        self.feed(b"", final=True)
        self._close(size)
        return self.parts if len(self.parts) > 1 else None


def plan(path: Path, part_bytes: int) -> list[dict] | None:
    """Parts of a large PubMed XML file (``None``: read it whole): an uncompressed file cut at unit start
    tags, a gzip file at member starts."""
    size = path.stat().st_size
    if size == 0 or (path.suffix != ".gz" and size <= part_bytes):  # gzip: the decompressed size counts
        return None
    with open(path, "rb") as f:
        if path.suffix == ".gz":
            return _plan_gzip(f, part_bytes) if _more_members(f) else None
        if root_tag(f.read(1 << 16)) != "PubmedArticleSet":
            return None
        f.seek(0)
        planner, size = _Planner(part_bytes, at_units=True, total=size), 0
        while chunk := f.read(CHUNK):
            planner.feed(chunk)
            size += len(chunk)
        return planner.finish(size)


# A gzip member header (RFC 1952): magic, deflate, no reserved flag bits, any time, a defined XFL and OS.
_MEMBER = re.compile(rb"\x1f\x8b\x08[\x00-\x1f].{4}[\x00\x02\x04][\x00-\x0d\xff]", re.DOTALL)


def _more_members(f: IO[bytes]) -> bool:
    """Whether a gzip file may hold a member after its first: something that looks like a member header.
    A file without one (NCBI's files are one member) is read whole without being decompressed here."""
    with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        return _MEMBER.search(data, 1) is not None


def _plan_gzip(f: IO[bytes], part_bytes: int) -> list[dict] | None:
    """Parts of a gzip file at its member starts (decompressed once, 4 MiB at a time; ``None``: one member,
    or a stream that is truncated, corrupt or not PubMed, which the reader reports when it reads it whole)."""
    planner, size, read, step = _Planner(part_bytes, at_units=False), 0, 0, 4 << 20
    inflate: zlib._Decompress | None = zlib.decompressobj(31)
    head, data, more = b"", b"", False  # more: the inflater holds output back
    try:
        while True:
            if not data and not more:
                if not (data := f.read(CHUNK)):
                    break
                read += len(data)
            if inflate is None:  # between members: zero padding, then the next member
                if not (data := data.lstrip(b"\0")):
                    continue
                planner.cut(size, read - len(data))
                inflate = zlib.decompressobj(31)
            out = inflate.decompress(data, step)
            head += out[:max(0, (1 << 16) - len(head))]
            planner.feed(out)
            size += len(out)
            if inflate.eof:
                data, inflate, more = inflate.unused_data, None, False
            else:
                data, more = inflate.unconsumed_tail, len(out) == step
    except zlib.error:
        return None
    if inflate is not None or root_tag(head) != "PubmedArticleSet":
        return None
    return planner.finish(size)

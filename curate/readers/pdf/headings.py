"""Headings of a book: outline entries found on their pages, and headings found from the type.

- ``place_outline``: each outline entry's title is looked for on its page (numbering, case and
  punctuation ignored; a title wrapped over two blocks, or run into its paragraph as in
  ``Background: The study ...``, is found too).
- ``detect_level``: without an outline, short blocks set larger than the body text, or numbered
  like headings (``Chapter 3``, ``第三章``, ``第二节``, ``3.2 Title``), are headings.
- ``starts``: lines that begin a unit (numbered headings, back matter titles, captions), where
  ``pdflayout`` cuts blocks that run different kinds of text together.
- ``is_contents_page``: a page that is a list of titles with page numbers.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from curate.readers.pdf.layout import FIGURE_CAPTION, HEADING, Block
from curate.readers.pdf.tables import TABLE_CAPTION


@dataclass(frozen=True)
class Heading:
    """One outline entry: level (1 = top), title, 0-based page (-1 when it points nowhere)."""

    level: int
    title: str
    page: int


_CN_NUMBER = "[一二三四五六七八九十百零〇两\\d]+"
_NUMBERING = re.compile(rf"^(?:(?:chapter|part)\s+[\divxlc]+[.:]?\s*|第\s*{_CN_NUMBER}\s*[章节篇部]\s*"
                        r"|\d+(?:\.\d+)*\.?\s+|[A-Z]\.\d*\s+|[一二三四五六七八九十]+、)", re.I)
_NON_WORD = re.compile(r"[\W_]+")


_FULL_WIDTH = re.compile("[\uff01-\uff5e]")


@functools.lru_cache(maxsize=8192)  # a line is keyed for several titles and checks: normalised once
def _nfkc(s: str) -> str:
    """NFKC, fast on the common lines: ASCII is left as it is; full-width forms (CJK punctuation) become
    the ASCII they decompose to first, so that the rest passes NFKC's quick check (same result)."""
    return s if s.isascii() else _normal(_half_width(s))


def _half_width(s: str) -> str:
    """Full-width forms replaced by the ASCII they decompose to (a few distinct ones in a text, each by
    one ``str.replace``: no call per character)."""
    for ch in set(_FULL_WIDTH.findall(s)):
        s = s.replace(ch, chr(ord(ch) - 0xFEE0))
    return s


def _normal(s: str) -> str:
    return s if s.isascii() or unicodedata.is_normalized("NFKC", s) else unicodedata.normalize("NFKC", s)


def nfkc_lines(lines: list[str]) -> list[str]:
    """``_nfkc`` of each line, the lines of a page at once (full-width forms replaced in one text)."""
    text = "\n".join(lines)
    if text.isascii():
        return lines
    out = _half_width(text).split("\n")
    return [_normal(s) for s in out] if len(out) == len(lines) else [_nfkc(s) for s in lines]


def unnumbered(line: str) -> str:
    """``bare`` of a line already normalised (``nfkc_lines``)."""
    return _NUMBERING.sub("", line.strip(), count=1)


@functools.lru_cache(maxsize=8192)
def title_key(title: str) -> str:
    """Comparison key of a heading: NFKC, case-folded, letters and digits only."""
    return _NON_WORD.sub("", _nfkc(title).casefold())


@functools.lru_cache(maxsize=8192)
def bare(title: str) -> str:
    """Title without its numbering (``3.2``, ``Chapter 3``, ``第三章``)."""
    return unnumbered(_nfkc(title))


_PATTERNS = [
    (re.compile(r"^(?:chapter|part)\s+(?:\d+|[ivxlc]+)\b", re.I), 1),
    (re.compile(rf"^第\s*{_CN_NUMBER}\s*[章篇部]"), 1),
    (re.compile(rf"^第\s*{_CN_NUMBER}\s*节"), 2),
    (re.compile(r"^\d+\.\d+\.\d+\s+[A-Z\u4e00-\u9fff]"), 3),
    (re.compile(r"^\d+\.\d+\s+[A-Z\u4e00-\u9fff]"), 2),
    (re.compile(r"^[一二三四五六七八九十]+、\S"), 3),
]
_END = set(".。,，;；:：!！?？")


# A sentence's clauses, or its end with more text after it: what no title holds (the size test below alone would
# take a paragraph's first line, made taller by a Latin word in another font, for a title).
_CLAUSES = re.compile("[，；]|。(?=.)")
# A formula's relations and operators: an equation set on its own line is taller than text, and no title.
_FORMULA = re.compile("[=＝≈≠≤≥≪≫×÷∕±∑∫√]")


def detect_level(block: Block, body_line: float | None) -> int | None:
    """Heading level of a block from its numbering or its type size (against the height of a body
    text line), or None for body text."""
    text = " ".join(s.strip() for s in block.lines)
    if len(block.lines) > 2 or len(text) > 120 or text[-1] in _END or text[0].islower():
        return None
    if len(block.lines) == 2 and min(len(s) for s in block.lines) >= 45:
        return None  # two full lines: the end of a paragraph, not a title
    for pattern, level in _PATTERNS:
        if pattern.match(text):
            return level
    if body_line is None or (len(text) > 20 and _CLAUSES.search(text)) or _FORMULA.search(text):
        return None  # a sentence's clauses, or a formula: larger type alone makes neither a title
    ratio = block.pitch / body_line
    return 1 if ratio >= 1.6 else 2 if ratio >= 1.2 else None


def starts(cfg: Any) -> re.Pattern[str]:
    """Lines that begin a new unit: numbered headings, back matter and contents titles, captions."""
    parts = [p.pattern for p, _ in _PATTERNS] + [TABLE_CAPTION.pattern, FIGURE_CAPTION.pattern]
    parts += [f"(?:{p})\\s*$" for p in (*cfg.back_matter, *cfg.contents)]
    return re.compile("|".join(f"(?i:{p})" for p in parts))


_TOC_LINE = re.compile(r"(?:\.{3,}|…{2,}|·{3,}|\s)\s*\d{1,4}(?:\s*[–-]\s*\d{1,4})?\s*$")
# Lines that tell neither way: an index's letter heads (A, B, ...) and the page's own number.
_NEUTRAL_LINE = re.compile(r"[A-Za-z]|\d{1,4}|[ivxlcdm]{1,6}", re.I)


def is_contents_page(blocks: list[Block], contents: re.Pattern[str]) -> tuple[bool, str]:
    """Whether a page is a table of contents or an index: mostly titles ending in page numbers (or page
    ranges), letter heads and the page number aside."""
    lines = [line.rstrip() for b in blocks for line in b.lines if not _NEUTRAL_LINE.fullmatch(line.strip())]
    if len(lines) < 5 or sum(1 for line in lines if line[-1:].isdigit()) < 0.3 * len(lines):
        return False, ""  # the common page: cheap to rule out
    numbered = sum(1 for line in lines if _TOC_LINE.search(line))
    titled = contents.fullmatch(bare(lines[0]).strip().casefold()) is not None
    if len(lines) >= 5 and numbered >= (0.3 if titled else 0.6) * len(lines):
        return True, f"{numbered} of {len(lines)} lines end in a page number"
    return False, ""


def compile_titles(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.I)


def place_outline(blocks: list[Block], pending: list[Heading]) -> tuple[list[Block], int]:
    """The blocks with this page's outline entries placed as heading blocks, and how many of them
    were not found: those start at the top of the page, or after the last title that was found."""
    blocks = _rejoin_titles(blocks, pending)
    firsts = [_firsts(h.title) for h in pending]
    anyfirst = frozenset().union(*firsts)
    out: list[Block] = []
    placed = 0  # outline entries of this page placed so far
    missing = 0
    for b in blocks:
        while placed < len(pending) and b.lines:
            digit, first = b.lines[0][:1].isdigit(), b.lines[0][:1].casefold()
            if not digit and first not in anyfirst:
                break  # the common block: it starts like none of the titles
            hit = next(((k, *m) for k in range(placed, len(pending))
                        if (digit or first in firsts[k]) and (m := _match(b, pending[k].title))[0]), None)
            if hit is None:
                break
            k, n, rest = hit
            out += [_entry(h) for h in pending[placed:k]]  # not found: keep their order
            missing += k - placed
            lines = b.lines[:n]
            if rest:  # a run-in heading: the line is cut where its title ends (no character is lost)
                line = b.lines[0].rstrip()
                cut = max(0, len(line) - len(rest))
                lines, rest = [line[:cut].rstrip()], line[cut:].strip()
            out.append(Block(b.x0, b.y0, b.x1, b.y0, lines, HEADING, pending[k].level, title=pending[k].title))
            b = Block(b.x0, b.y0, b.x1, b.y1, ([rest] if rest else []) + b.lines[n:], b.kind)
            placed = k + 1
        if b.lines:
            out.append(b)
    rest = [_entry(h) for h in pending[placed:]]
    return (out + rest if placed else rest + out), missing + len(rest)


def _entry(h: Heading) -> Block:
    return Block(0, 0, 0, 0, [h.title], HEADING, h.level, synthetic=True, title=h.title)


def _rejoin_titles(blocks: list[Block], pending: list[Heading]) -> list[Block]:
    """Blocks with a title broken over two blocks (a wrapped heading) put back together."""
    keys = [k for h in pending for k in (title_key(h.title), title_key(bare(h.title))) if k]
    longest = max(map(len, keys), default=0)
    out: list[Block] = []
    for b in blocks:
        prev = out[-1] if out else None
        if prev is not None and len(prev.lines) <= 2 and keys and not _keeps("".join(prev.lines), longest):
            got = title_key("".join(prev.lines))
            longer = [k for k in keys if k != got and k.startswith(got)] if got else []
            joined = got + title_key(b.lines[0]) if longer else ""
            if any(k.startswith(joined) or joined.startswith(k) for k in longer):
                out[-1] = Block(prev.x0, prev.y0, max(prev.x1, b.x1), b.y1, prev.lines + b.lines, prev.kind)
                continue
        out.append(b)
    return out


# Characters that each stay exactly one character of a key (``title_key``) whatever stands beside them:
# ASCII letters and digits (case-folded to one letter; a composed accent keeps a letter) and CJK unified
# ideographs (no compatibility form, case or composition).
_KEPT = "0-9A-Za-z\u4e00-\u9fff"


_NOT_KEPT = re.compile(f"[^{_KEPT}]+")


def _keeps(text: str, n: int) -> bool:
    """Whether the ``title_key`` of ``text`` has at least ``n`` characters, told without normalising it: the
    common body line is longer than every title, and so cannot begin one. (One pattern for every ``n``: one
    per length took a millisecond each to compile, a tenth of a second on a book whose titles vary.)"""
    return len(text) >= n and len(_NOT_KEPT.sub("", text)) >= n


@functools.lru_cache(maxsize=1024)
def _keys(title: str) -> tuple[str, ...]:
    return tuple(k for k in {title_key(title), title_key(bare(title))} if k)


@functools.lru_cache(maxsize=1024)
def _firsts(title: str) -> frozenset[str]:
    """The first characters (case-folded) a block that starts with ``title`` may begin with, a digit aside
    (``_match``'s first test)."""
    return frozenset((title[:1].casefold(), bare(title)[:1].casefold()))


def _match(block: Block, title: str) -> tuple[int, str | None]:
    """How many leading lines of ``block`` spell ``title``, and the rest of a run-in heading's line.

    ``(0, None)`` when the block does not start with the title.
    """
    keys = _keys(title)
    first = block.lines[0]
    if not keys or (first[:1].casefold() != title[:1].casefold() and not first[:1].isdigit()
                    and first[:1].casefold() != bare(title)[:1].casefold()):
        return 0, None  # the common block: it does not even start like the title
    got = ""
    for n, line in enumerate(block.lines[:3], start=1):
        got += title_key(line)
        if got in keys or title_key(bare(" ".join(block.lines[:n]))) in keys:
            return n, None
        if not any(k.startswith(got) for k in keys):
            break
    first = _nfkc(first).strip()
    for t in (title, bare(title)):
        t = _nfkc(t).strip()
        rest = first[len(t):]
        if t and first.casefold().startswith(t.casefold()) and rest[:1] in (":", ".", "：", "—", "–") \
                and rest[1:].strip():
            return 1, rest[1:].strip()  # a run-in heading: "Background: The study ..."
    return 0, None

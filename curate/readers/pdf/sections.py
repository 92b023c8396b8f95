"""Chapters and sections of a book: the records it becomes and the parts cut from it.

Pages come in reading order with their blocks classified (``pdflayout``). Headings come from the
PDF outline when the book has one, else from the type (``bookheadings``). Then:

- A heading at level ``section_level`` or above starts a new record; deeper headings stay in the
  text as a line of their own.
- Back matter (appendices, references, bibliographies, indexes) and tables of contents are cut
  from their heading to the next heading of the same or a higher level; a page that is a list of
  titles with page numbers is cut as a table of contents even without a heading.
- A section is split at paragraph boundaries before it passes ``max_chars``, so that no record
  holds a whole book. A section shorter than ``min_section_chars`` goes into the next record.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from curate.core.textbalance import characters
from curate.readers.pdf import text as pdftext
from curate.readers.pdf.headings import (
    Heading,
    bare,
    compile_titles,
    detect_level,
    is_contents_page,
    nfkc_lines,
    place_outline,
    unnumbered,
)
from curate.readers.pdf.layout import HEADING, Block, Page

_HYPHENS = ("-", "\u00ad", "\u2010")
_SENTENCE = re.compile(r"[.。!?！？;；]\s|[.。!?！？]$")


@dataclass
class Doc:
    """A record to emit: locator (for the id), titles, page span and paragraphs."""

    locator: str
    title: str | None
    chapter: str | None
    level: int
    pages: tuple[int, int]  # 1-based, inclusive
    paragraphs: list[str]
    part: int = 1


@dataclass(frozen=True)
class Cut:
    """A part of the book removed by rule: ledger locator, reason and what was removed."""

    locator: str
    reason: str
    detail: str


@dataclass
class _Open:
    """The section being filled."""

    locator: str
    title: str | None
    level: int
    chapter: str | None
    first: int
    last: int
    paragraphs: list[str] = field(default_factory=list)
    chars: int = 0
    part: int = 1
    open_last: bool = False  # the last paragraph is running text that may go on in the next block
    full_last: bool = False  # ... and it filled its line or ran over several lines


@dataclass
class _Dropped:
    """Back matter or contents being cut."""

    locator: str
    reason: str
    title: str
    level: int
    first: int
    last: int
    chars: int = 0


class Sections:
    """Turns pages into ``Doc`` and ``Cut`` events (see the module doc)."""

    def __init__(self, cfg: Any, outline: list[Heading], tally: Counter[str] | None = None):
        self.cfg = cfg
        self.tally: Counter[str] = tally if tally is not None else Counter()
        self.back = compile_titles(cfg.back_matter)
        self.contents = compile_titles(cfg.contents)
        self.titles = compile_titles((*cfg.back_matter, *cfg.contents))  # either: one match per line
        self.outline: dict[int, deque[Heading]] = {}
        for h in outline:
            if h.page >= 0:
                self.outline.setdefault(h.page, deque()).append(h)
        self.use_outline = bool(self.outline)
        self.counters: list[int] = []
        self.current: _Open | None = _Open("front", None, 0, None, 1, 1)
        self.dropped: _Dropped | None = None
        self.carry: _Open | None = None  # an empty or short section waiting to lead into the next
        self.toc_why = ""
        self.chapter: str | None = None
        self.pitches: deque[float] = deque(maxlen=200)  # line pitch of paragraphs
        self.lines: deque[float] = deque(maxlen=200)  # height of full-width one-line blocks
        self.column = 0.0  # width of a full line of body text on the current page
        self.compounds: set[str] = set()
        self.toc_run: list[int] = []
        self.stats = {"outline_unmatched": 0, "headings": 0}

    def page(self, page: Page) -> Iterator[Doc | Cut]:
        """Events for the next page in reading order (its body blocks, classified)."""
        blocks = page.blocks
        number = page.number + 1
        yield from self._contents_page(blocks, number)
        if self.toc_run and self.toc_run[-1] == number:
            return
        paragraphs = [b.width for b in blocks if len(b.lines) >= 2]  # their width is the column's
        self.column = statistics.median(paragraphs) if paragraphs else max((b.width for b in blocks), default=0.0)
        self.pitches.extend(b.pitch for b in blocks if len(b.lines) >= 3)
        self.lines.extend(b.height for b in blocks if len(b.lines) == 1 and b.width >= 0.85 * self.column)
        if len(self.lines) >= 3:
            line = statistics.median(self.lines)
        else:
            line = 0.9 * statistics.median(self.pitches) if self.pitches else None
        if len(self.compounds) < 100_000:
            self.compounds |= pdftext.compounds(s for b in blocks for s in b.lines)
        for block in self._headings(blocks, page.number, line):
            if block.kind == HEADING:
                words = " ".join(s.strip() for s in block.lines)
                yield from self._heading(block.level, block.title or words, number, "" if block.synthetic else words)
            else:
                yield from self._paragraph(block, number)

    def finish(self) -> Iterator[Doc | Cut]:
        """Events for what is still open at the end of the book."""
        yield from self._contents_page([], -1)
        yield from self._close_dropped()
        yield from self._close(final=True)

    # headings ------------------------------------------------------------------------------

    def _headings(self, blocks: list[Block], page: int, line: float | None) -> list[Block]:
        """The blocks with headings marked (outline entries split off the block they start)."""
        if not self.use_outline:
            rest = []
            for b in blocks:
                level = detect_level(b, line)
                if level is not None:
                    b.kind, b.level = HEADING, level
                else:
                    rest.append(b)
        else:
            blocks, missing = place_outline(blocks, list(self.outline.pop(page, ())))
            self.stats["outline_unmatched"] += missing
            rest = [b for b in blocks if b.kind != HEADING]
        for b in self._back_titles(rest):
            b.kind, b.level = HEADING, max(1, len(self.counters))
        return blocks

    def _back_titles(self, blocks: list[Block]) -> list[Block]:
        """The blocks that are a back matter or contents title standing alone (one short line)."""
        short = [b for b in blocks if len(b.lines) == 1 and len(b.lines[0]) <= 60]
        found = []
        for b, line in zip(short, nfkc_lines([b.lines[0] for b in short]), strict=True):  # one call per page
            key = unnumbered(line).strip().casefold()
            if key and self.titles.fullmatch(key) is not None:
                found.append(b)
        return found

    def _heading(self, level: int, title: str, page: int, words: str) -> Iterator[Doc | Cut]:
        """A heading: ``title`` names the section, ``words`` are its characters on the page (or none)."""
        self.stats["headings"] += 1
        if self.dropped is not None and level > self.dropped.level:
            self.dropped.last = page  # a heading inside cut-out back matter
            self._cut(self.dropped.reason, words)
            return
        yield from self._close_dropped()
        del self.counters[level:]
        self.counters += [0] * (level - len(self.counters))
        self.counters[level - 1] += 1
        locator = "ch" + ".".join(map(str, self.counters))
        if level == 1:
            self.chapter = title
        key = bare(title).strip().casefold()
        for pattern, reason in ((self.back, "back_matter"), (self.contents, "table_of_contents")):
            if pattern.fullmatch(key):
                if level <= self.cfg.section_level:
                    yield from self._close()
                self.dropped = _Dropped(locator, reason, title, level, page, page)
                self._cut(reason, words)
                return
        if level > self.cfg.section_level:
            if words:
                cur = self._open(page)
                cur.paragraphs.append(words)  # a sub-heading stays in the text
                cur.open_last = False
            return
        yield from self._close()
        self._start(locator, title, level, page, words)

    def _cut(self, reason: str, text: str) -> None:
        """Count the characters of text removed with cut-out back matter or contents."""
        n = characters(text)
        self.tally["text_removed_" + ("contents" if reason == "table_of_contents" else reason)] += n
        if self.dropped is not None:
            self.dropped.chars += n

    def _start(self, locator: str, title: str | None, level: int, page: int, words: str = "") -> _Open:
        """Open a section; an empty or short section before it leads into it."""
        cur = _Open(locator, title, level, self.chapter, page, page, [words] if words else [])
        if self.carry is not None:
            cur.paragraphs = self.carry.paragraphs + cur.paragraphs
            cur.chars = self.carry.chars
            if self.carry.chars:  # a title alone does not widen the page span
                cur.first = self.carry.first
            self.carry = None
        self.current = cur
        return cur

    def _open(self, page: int) -> _Open:
        """The section being filled; after cut-out back matter, one under the current numbering."""
        if self.current is None:
            locator = "ch" + ".".join(map(str, self.counters)) + "-after" if self.counters else "front"
            return self._start(locator, None, len(self.counters), page)
        return self.current

    # paragraphs ----------------------------------------------------------------------------

    def _paragraph(self, block: Block, page: int) -> Iterator[Doc | Cut]:
        text = pdftext.join_lines(block.lines, self.compounds)
        if not text:
            return
        if any(line.rstrip().endswith(_HYPHENS) for line in block.lines[:-1]):  # only a line-end hyphen goes
            self.tally["text_removed_hyphen"] += sum(map(characters, block.lines)) - characters(text)
        if self.current is not None and self.current.locator == "front" and not self.counters \
                and self.use_outline and len(text) < 60 and not _SENTENCE.search(text):
            self.tally["text_removed_front_matter"] += characters(text)  # a title page: title, author, date
            return
        if self.dropped is not None:
            self.dropped.last = page
            self._cut(self.dropped.reason, text)
            return
        cur = self._open(page)
        cur.last = max(cur.last, page)
        full = len(block.lines) > 1 or block.width >= 0.85 * self.column
        if cur.open_last and pdftext.continues(cur.paragraphs[-1], text, cur.full_last):
            joined = pdftext.join(cur.paragraphs[-1], text, self.compounds)
            if cur.paragraphs[-1].endswith(_HYPHENS):
                self.tally["text_removed_hyphen"] += len(cur.paragraphs[-1]) + len(text) - len(joined)
            cur.chars += len(joined) - len(cur.paragraphs[-1])
            cur.paragraphs[-1] = joined
            cur.full_last = full
            return
        if cur.chars and cur.chars + len(text) > self.cfg.max_chars:
            yield self._doc(cur, cur.paragraphs)  # go on with the same section in a new part
            cur = self.current = _Open(cur.locator, cur.title, cur.level, cur.chapter, page, page,
                                       part=cur.part + 1)  # the title is in the first part's text only
        cur.paragraphs.append(text)
        cur.chars += len(text)
        cur.open_last, cur.full_last = True, full

    def _close(self, final: bool = False) -> Iterator[Doc]:
        """End the current section: emit it, or keep it to lead into the next when it is short."""
        cur, self.current = self.current, None
        if cur is None:
            if final and self.carry is not None:
                cur, self.carry = self.carry, None
                yield from self._emit_or_count(cur)
            return
        if not final and cur.part == 1 and cur.chars < self.cfg.min_section_chars:
            self.carry = cur
            return
        yield from self._emit_or_count(cur)

    def _emit_or_count(self, cur: _Open) -> Iterator[Doc]:
        """A closed section as a document; one with nothing under its titles (a heading right before back
        matter or the end of the book) is removed, its titles' characters counted (``empty_section``)."""
        if cur.chars:
            yield self._doc(cur, cur.paragraphs)
        elif removed := sum(characters(p) for p in cur.paragraphs):
            self.tally["text_removed_empty_section"] += removed

    def _doc(self, cur: _Open, paragraphs: list[str]) -> Doc:
        return Doc(cur.locator if cur.part == 1 else f"{cur.locator}-part{cur.part}", cur.title, cur.chapter,
                   cur.level, (cur.first, cur.last), list(paragraphs), cur.part)

    def _close_dropped(self) -> Iterator[Cut]:
        d = self.dropped
        if d is None:
            return
        self.dropped = None
        what = "back matter" if d.reason == "back_matter" else "table of contents"
        yield Cut(d.locator, d.reason, f"{what} '{d.title}' (level {d.level}), pages {d.first}-{d.last}: "
                  f"{d.chars:,} characters removed (spaces not counted)")

    def _contents_page(self, blocks: list[Block], number: int) -> Iterator[Cut]:
        hit, why = is_contents_page(blocks, self.contents) if blocks else (False, "")
        if hit:
            self.tally["text_removed_contents"] += sum(characters(b.text) for b in blocks if not b.synthetic)
            self.toc_run.append(number)
            self.toc_why = why
            return
        if self.toc_run:
            a, b = self.toc_run[0], self.toc_run[-1]
            self.toc_run = []
            yield Cut(f"contents-p{a}-{b}", "table_of_contents",
                      f"pages {a}-{b} are a table of contents ({self.toc_why})")



"""Page layout of book pages: text blocks, what each block is, and the order to read them in.

One ``get_text("blocks")`` call per page (paragraph breaks on, images listed) gives every text
block with its box; everything else works on those boxes, which keeps the cost of a page close to
that of plain text extraction (a page that may carry line numbers is also read word by word).

- Blocks that run different kinds of text together (a paragraph's last line and the next heading
  or caption) are cut before the line that starts the new unit.
- Figures: image boxes; text inside them (labels) and ``Figure 3``/``图 3`` captions are dropped.
- Line numbers of a manuscript or preprint: a column of numbers in the margin or the gutter that
  counts the lines beside it, found word by word (``line_numbers``), before blocks are cut.
- Tables and vector figures: see ``pdftables`` (run on the blocks after ``read_page``).
- Running headers and footers: lines in the top or bottom band of the page that repeat, digits
  ignored, at about the same height on nearby pages, or that give an outline title or the book's
  title with or without a page number (``Running``); page numbers (``12``, ``- 12 -``,
  ``Page 4 of 10``, ``第 3 页``) in those bands are dropped wherever they stand; text in a side margin
  that repeats the same way (a thumb index, a vertical "Downloaded from" note) too. A page's decision
  depends on the pages within ``window`` of it only, so a page range read on its own (with
  ``window`` pages of margin) decides as the whole book does.
- Columns: gutters are vertical strips that no narrow block crosses; blocks that cross a gutter
  (titles, wide figures) cut the page into bands, each read column by column (``reading_order``).

Coordinates are those of the unrotated page, as text extraction gives them.
"""

from __future__ import annotations

import bisect
import itertools
import re
import statistics
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pymupdf

from curate.readers.pdf import text as pdftext
from curate.readers.pdf.spans import FLAGS, GLUED, clip, clip_reads, respaced, span_lines, superscripts

BODY, HEADING, RUNNING, PAGE_NUMBER, TABLE, CAPTION, FIGURE = (
    "body", "heading", "running", "page_number", "table", "caption", "figure")
FRONT, FOOTNOTE, REFERENCES, LINE_NUMBER = "front_matter", "footnote", "references", "line_number"
# Why a block of each removed kind is not in the output: the ``text_removed_<reason>`` statistic.
REASONS = {RUNNING: "running_head", PAGE_NUMBER: "page_number", TABLE: "table", CAPTION: "caption",
           FIGURE: "figure", FRONT: "front_matter", FOOTNOTE: "footnote", REFERENCES: "back_matter",
           LINE_NUMBER: "line_number"}


Box = tuple[float, float, float, float]


@dataclass(slots=True)
class Block:
    """One text block: its box, its lines, and what it is (``kind``)."""

    x0: float
    y0: float
    x1: float
    y1: float
    lines: list[str]
    kind: str = BODY
    level: int = 0  # heading level, once sectioning has decided it is one
    synthetic: bool = False  # an outline title not found on its page: a section boundary, not text
    title: str = ""  # a heading's title as the outline gives it (the lines are the page's own text)

    @property
    def width(self) -> float:
        """Box width."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Box height."""
        return self.y1 - self.y0

    @property
    def pitch(self) -> float:
        """Height per line: the line spacing, or less when lines stand side by side (table rows)."""
        return self.height / len(self.lines)

    @property
    def text(self) -> str:
        """The lines joined by newlines."""
        return "\n".join(self.lines)


@dataclass
class Page:
    """The blocks of one page (0-based ``number``) and what was removed from it."""

    number: int
    width: float
    height: float
    blocks: list[Block]
    images: int = 0  # figure-sized images
    tables: int = 0
    figures: list[Box] = field(default_factory=list)  # boxes of the figure-sized images
    warnings: str = ""  # MuPDF's warnings about the page set aside while blocks were read through clips

    @property
    def has_text(self) -> bool:
        """Whether the page has a text layer at all."""
        return bool(self.blocks)

    def body(self) -> list[Block]:
        """Blocks that are kept as running text (body and headings), in reading order."""
        return [b for b in self.blocks if b.kind in (BODY, HEADING)]

    def others(self) -> list[Box]:
        """Boxes of what stands on the page besides the body: removed blocks and figure images."""
        return [*((b.x0, b.y0, b.x1, b.y1) for b in self.blocks if b.kind not in (BODY, HEADING)), *self.figures]


# A long figure legend, told from a paragraph that begins "Figure 4 shows ...": the number is followed by a
# stop, a colon or a bar, by a capitalised word (``Figure 4 Forest plot of ...``) or by the end of the line.
_LEGEND = re.compile(r"^(?:[Ff]ig(?:ure)?\.?|FIG(?:URE)?\.?|[Pp]late)\s*[A-Z]?\d+[A-Za-z]?(?:[.\-–]\d+)*"
                     r"(?:\s*[.:：|]|\s+[A-Z]|\s*$)")
_PANEL = re.compile(r"^(?:\([a-zA-Z]\)|[a-zA-Z]\))\s")  # a legend's panel: "(a) ...", "B) ..."
FIGURE_CAPTION = re.compile(r"^(?:fig(?:ure)?\.?|plate|图|圖)\s*[A-Z]?\d+(?:[.\-–]\d+)*[.:：]?(?:\s+\S|\s*$)", re.I)
_MIN_IMAGE_AREA = 0.015  # of the page: smaller images are bullets, logos and rules
_SENTENCE_END = tuple(".!?:;。！？：；…")


def read_page(page: pymupdf.Page, number: int, starts: re.Pattern[str],
              chars: Callable[[str], str] | None = None,
              span_tables: Callable[[pymupdf.Page, list[str]], dict[str, dict[int, str]] | None] | None = None) -> Page:
    """Blocks of one page, with text inside images and figure captions marked.

    A block is split before a line that ``starts`` a new unit (a caption, a numbered heading) right
    after a line that ends a sentence: type of different sizes can share one block. ``chars`` maps
    and counts characters first (``pdftext.Chars``), so that glyphs without Unicode read as digits
    when captions are matched; ``span_tables`` (``plan.Plan.span_tables``) gives per-font tables
    when the page must be read span by span, each span through its own font's table.
    """
    box = page.cropbox
    width, height = box.width, box.height
    blocks: list[Block] = []
    images: list[tuple[float, float, float, float]] = []
    textpage = page.get_textpage(flags=FLAGS)  # kept for the words of a page with line numbers
    raw = page.get_text("blocks", textpage=textpage)
    contents = [r[4] for r in raw]
    texts = [i for i, r in enumerate(raw) if r[6] == 0]
    # Each pattern below is looked for in the page's text first, one search: most pages hold none.
    glued = [clip(raw[i]) for i in texts if GLUED.search(contents[i])] \
        if GLUED.search("\n".join(contents[i] for i in texts)) else []
    held: list[str] = []  # MuPDF's warnings about the page, set aside while some blocks are read through clips
    if glued:
        with clip_reads(held):
            spaced = respaced(page, glued)
        contents = ["\n".join(spaced.get(line, line) for line in c.split("\n")) for c in contents]
    if span_tables is not None and (tables := span_tables(page, [r[4] for r in raw if r[6] == 0])):
        lines = span_lines(page, tables)
        contents = ["\n".join(lines.get(line, line) for line in c.split("\n")) for c in contents]
    if chars is not None:  # one call per page: the per-call work is most of the cost
        for i, c in zip(texts, chars.page([contents[i] for i in texts]) if hasattr(chars, "page")
                        else [chars(contents[i]) for i in texts], strict=True):
            contents[i] = c
    if pdftext.MARKER_CANDIDATE.search("\n".join(contents[i] for i in texts)) and \
            (marked := [i for i in texts if pdftext.MARKER_CANDIDATE.search(contents[i])]):
        with clip_reads(held):
            found = superscripts(page, [clip(raw[i]) for i in marked])
        for before, mark in found:
            for i in marked:
                contents[i] = contents[i].replace(before + mark, before + pdftext.raised(mark))
    numbered: dict[int, Block] = {}  # MuPDF's block number -> the block
    for (x0, y0, x1, y1, _, no, kind), content in zip(raw, contents, strict=True):
        if kind == 1:
            if (x1 - x0) * (y1 - y0) >= _MIN_IMAGE_AREA * width * height:
                images.append((x0, y0, x1, y1))
            continue
        lines = [line for line in content.split("\n") if line.strip()]
        if lines:
            blocks.append(numbered.setdefault(no, Block(x0, y0, x1, y1, lines)))
    if _may_number_lines(blocks):
        blocks = line_numbers(page.get_text("words", textpage=textpage), numbered, blocks, width)
    blocks = _join_numbers([part for b in blocks for part in (_split(b, starts) if b.kind == BODY else (b,))])
    result = Page(number, width, height, blocks, images=len(images), figures=images,
                  warnings="\n".join(w for w in held if w))
    for b in blocks:
        if images and _inside(b, images):
            b.kind = FIGURE
        elif FIGURE_CAPTION.match(b.lines[0]) and (len(b.lines) <= 4 or _LEGEND.match(b.lines[0])):
            b.kind = CAPTION
    for b in blocks:  # in reading order: a legend's panels ("(a) ...") set apart right under it go with it
        if b.kind == BODY and _PANEL.match(b.lines[0]) and any(
                c.kind == CAPTION and -0.5 * c.pitch <= b.y0 - c.y1 <= 1.5 * c.pitch
                and min(b.x1, c.x1) > max(b.x0, c.x0) for c in blocks):
            b.kind = CAPTION
    return result


# Line numbers of a manuscript or preprint (LaTeX's lineno, a word processor's line numbering): a number
# beside every line of text, in the margin or the gutter. MuPDF reads one into a line of its own, or into
# the line it stands beside, at its start or its end. A page is looked at word by word only when the
# numbers that begin or end its lines hold a count of 8 (``_may_number_lines``).
_EDGE_NUMBER = re.compile(r"(?m)^\s*(\d{1,5})(?:\s|$)|\s(\d{1,5})\s*$")
_INTEGER = re.compile(r"\d{1,5}")
_MIN_LINE_NUMBERS = 5  # in a column
_MIN_RUN = 8  # on a page, before its words are looked at
Word = tuple[float, float, float, float, str, int, int, int]  # MuPDF's words: box, text, block, line, word


def _may_number_lines(blocks: list[Block]) -> bool:
    """Whether numbers at the ends of a page's lines hold 8 that count in equal steps (1, 2, 5 or 10): a
    page of numbered lines has dozens; a table's rows ("Patient 1" ... "Patient 6") have a few. Lines that
    begin or end with a digit are counted first, the cheapest look (most pages have too few)."""
    if sum(line[-1:].isdigit() or line.lstrip()[:1].isdigit() for b in blocks for line in b.lines) < _MIN_RUN:
        return False
    numbers = {int(a or b) for a, b in _EDGE_NUMBER.findall("\n".join(b.text for b in blocks))}
    return any(all(n + k * step in numbers for k in range(1, _MIN_RUN)) for step in (1, 2, 5, 10) for n in numbers)


def line_numbers(words: list[Word], numbered: dict[int, Block], blocks: list[Block], width: float) -> list[Block]:
    """The blocks without a manuscript's line numbers, which are blocks of kind ``LINE_NUMBER`` of their own.

    A line number is a number at one end of the line MuPDF read it into, set off from the words beside
    it by more than a word space, or alone there. Such numbers are line numbers when a column of them (the
    same right edge, or left edge) counts up down the page in equal steps (1, 2, 5 or 10) at one step per
    line of text, 5 of them at least, most beside the lines of wide blocks of text (``_counting``). Each is
    taken out of its line; the lines that MuPDF had made blocks of their own because of it are joined
    again (``_regroup``)."""
    lines: dict[tuple[int, int], list[Word]] = {}
    for w in words:
        lines.setdefault((w[5], w[6]), []).append(w)
    candidates = []
    for line in lines.values():
        for w in line:
            if not _INTEGER.fullmatch(w[4]) or w[5] not in numbered:
                continue
            gap = 0.35 * (w[3] - w[1])  # more than a word space
            others = [o for o in line if o is not w]
            if not others or w[2] + gap < min(o[0] for o in others) or w[0] > max(o[2] for o in others) + gap:
                candidates.append(((w[1] + w[3]) / 2, int(w[4]), w))
    if len(candidates) < _MIN_LINE_NUMBERS:
        return blocks
    wide_nos = {no for no, b in numbered.items() if b.width > 0.25 * width}
    wide = [numbered[no] for no in wide_nos]
    apart = {id(c[2]) for c in candidates}
    prose = [w for w in words if w[5] in wide_nos and id(w) not in apart]
    heights = {}  # the text's lines: (block, line) -> height of its middle
    for w in prose:
        heights.setdefault((w[5], w[6]), (w[1] + w[3]) / 2)
    steps = [b - a for (ka, a), (kb, b) in itertools.pairwise(sorted(heights.items())) if ka[0] == kb[0] and b > a]
    pitch = statistics.median(steps) if steps else None  # from one line of text to the next
    found: list[Word] = []
    taken: set[int] = set()
    for edge in (lambda c: c[2][2], lambda c: c[2][0]):
        for column in _columns([c for c in candidates if id(c[2]) not in taken], edge, 2.0):
            left, right = min(c[2][0] for c in column), max(c[2][2] for c in column)
            beside = sum(any(w.y0 - 2 <= c[0] <= w.y1 + 2 for w in wide) for c in column)  # text's lines
            inside = any(w[0] < right and left < w[2] for w in prose)  # a table's or a list's numbers
            if 2 * beside >= len(column) and not inside and (count := _counting(column, pitch)):
                count = _extended(count, [c for c in candidates if id(c[2]) not in taken])
                found += [c[2] for c in count]
                taken.update(id(c[2]) for c in count)
    if not found:
        return blocks
    removed: list[Block] = []
    edited: list[Block] = []
    for w in sorted(found, key=lambda w: (w[5], w[6])):
        b = numbered[w[5]]
        at = [i for i, line in enumerate(b.lines) if _ends_with(line, w[4])]
        if not at:
            continue  # read otherwise than its word (a mapped glyph): left as it is
        i = min(at, key=lambda k: abs(k - w[6]))
        b.lines[i] = _without(b.lines[i], w[4])
        removed.append(Block(w[0], w[1], w[2], w[3], [w[4]], LINE_NUMBER))
        edited.append(b)
    for b in edited:
        b.lines = [line for line in b.lines if line.strip()]
    kept = [b for b in blocks if b.lines]
    return _regroup([b for b in {id(b): b for b in edited}.values() if b.lines], kept) + removed


def _extended(count: list[tuple[float, int, Word]], candidates: list[tuple[float, int, Word]]
              ) -> list[tuple[float, int, Word]]:
    """A column's count with the numbers near it that fall into its count where they stand (a number of
    another width that is not aligned with the rest: "100" after "99")."""
    count = sorted(count, key=lambda c: c[0])
    left, right = min(c[2][0] for c in count), max(c[2][2] for c in count)
    slack = max(c[2][2] - c[2][0] for c in count)  # a digit or two
    for c in sorted(candidates, key=lambda c: c[0]):
        if any(c[2] is d[2] for d in count) or c[2][2] < left - slack or c[2][0] > right + slack:
            continue
        k = bisect.bisect([d[0] for d in count], c[0])
        above, below = count[k - 1] if k else None, count[k] if k < len(count) else None
        if (above is None or above[1] < c[1]) and (below is None or c[1] < below[1]) and \
                (above is None or below is None or below[1] - above[1] >= 2):
            count.insert(k, c)
    return count


def _ends_with(line: str, number: str) -> bool:
    """Whether a line begins or ends with ``number`` standing apart."""
    s = line.strip()
    return s == number or s.startswith(number + " ") or s.endswith(" " + number)


def _without(line: str, number: str) -> str:
    """The line without ``number`` at its start (else its end)."""
    s = line.strip()
    if s == number:
        return ""
    return s[len(number):].lstrip() if s.startswith(number + " ") else s[:-len(number)].rstrip()


def _regroup(edited: list[Block], blocks: list[Block]) -> list[Block]:
    """Lines that were blocks of their own only because each was numbered (a block per line; ``edited``:
    the blocks that lost a number), joined again into paragraphs: a line that follows the one above it at
    the usual step joins its block (a paragraph's break is a larger step). Short lines (a program's,
    numbered in a listing) stay apart."""
    runs = [(a, b) for a, b in itertools.pairwise(sorted(edited, key=lambda b: (b.x0 // 20, b.y0)))
            if len(a.lines) == len(b.lines) == 1 and abs(a.x0 - b.x0) < 1 and b.y0 > a.y0]
    if len(runs) < _MIN_LINE_NUMBERS or statistics.mean(len(b.lines[0]) for b in edited) < 40:
        return blocks
    step = statistics.median(b.y0 - a.y0 for a, b in runs)
    joined: dict[int, Block] = {}  # a line's block -> the block it joins
    for a, b in runs:
        if b.y0 - a.y0 <= 1.15 * step:
            head = joined.get(id(a), a)
            head.lines.append(b.lines[0])
            head.x1, head.y1 = max(head.x1, b.x1), b.y1
            joined[id(b)] = head
    return [b for b in blocks if id(b) not in joined]


def _columns(items: list, edge: Callable[[Any], float], tolerance: float) -> list[list]:
    """``items`` grouped by ``edge``: a group holds the items whose edges lie within ``tolerance`` of the
    next one's."""
    groups: list[list] = []
    last = None
    for item in sorted(items, key=edge):
        if last is None or edge(item) - last > tolerance:
            groups.append([])
        groups[-1].append(item)
        last = edge(item)
    return groups


def _counting(column: list[tuple[float, int, Word]], pitch: float | None) -> list:
    """The numbers of a column that count lines: from top to bottom, the longest run that counts up (a page
    number or a stray figure beside the margin left out), when it holds 5 numbers or more and nine in ten of
    the column, counts in equal steps (1, 2, 5 or 10; 7 steps in 10 at least) and at one step per ``pitch``
    (the text's line pitch) in most places: lines, not list items or references of several lines each.
    Empty when it does not."""
    if len(column) < _MIN_LINE_NUMBERS:
        return []
    column = sorted(column, key=lambda c: c[0])
    run = _rising(column)
    if len(run) < max(_MIN_LINE_NUMBERS, 0.9 * len(column)):
        return []
    pairs = list(itertools.pairwise(run))
    steps = [b[1] - a[1] for a, b in pairs]
    step = statistics.mode(steps)
    if step not in (1, 2, 5, 10) or steps.count(step) < 0.7 * len(steps):
        return []
    per_line = [(b[0] - a[0]) / (b[1] - a[1]) for a, b in pairs]  # height per number counted
    pitch = pitch or statistics.median(per_line)
    fits = [0.8 * pitch <= h <= 1.25 * pitch for h in per_line]
    if sum(fits) < 0.7 * len(fits):
        return []
    # a number at either end that neither counts on by the step nor stands a line away from its neighbour
    # is no line's (a page number under the text, a figure in the margin above it)
    odd = [not fit and s != step for fit, s in zip(fits, steps, strict=True)]
    while odd and odd[-1]:
        odd.pop()
        run.pop()
    while odd and odd[0]:
        odd.pop(0)
        run.pop(0)
    return run if len(run) >= _MIN_LINE_NUMBERS else []


def _rising(column: list[tuple[float, int, Word]]) -> list[tuple[float, int, Word]]:
    """The longest subsequence of ``column`` (in its order) whose numbers rise."""
    tails: list[int] = []  # tails[k]: index of the smallest last number of a rising run of k + 1
    before = [-1] * len(column)
    for i, (_, n, _) in enumerate(column):
        k = bisect.bisect_left([column[t][1] for t in tails], n)
        before[i] = tails[k - 1] if k else -1
        tails[k:k + 1] = [i]
    run, i = [], tails[-1] if tails else -1
    while i >= 0:
        run.append(column[i])
        i = before[i]
    return run[::-1]


_SECTION_NUMBER = re.compile(r"^(?:\d{1,3}(?:[.．]\d{1,3})*[.．]?|第\s*[一二三四五六七八九十百\d]+\s*[章节篇])$")


def _join_numbers(blocks: list[Block]) -> list[Block]:
    """A section number set apart from its title on the same line (``1.0.2`` | ``Title``) joins it,
    so that a numbered heading stays whole."""
    pairs: dict[int, int] = {}  # number block -> title block
    taken: set[int] = set()
    for i, b in enumerate(blocks):
        if b.kind != BODY or len(b.lines) != 1 or i in taken or not _SECTION_NUMBER.match(b.lines[0].strip()):
            continue
        mate = next((j for j, o in enumerate(blocks) if j != i and j not in taken and j not in pairs and o.kind == BODY
                     and o.x0 >= b.x1 - 1 and o.x0 - b.x1 < 4 * b.height and abs(o.y0 - b.y0) < 0.6 * b.height),
                    None)
        if mate is not None:
            pairs[i] = mate
            taken |= {i, mate}
    if not pairs:
        return blocks
    out: list[Block] = []
    mates = set(pairs.values())
    for i, b in enumerate(blocks):
        if i in mates:
            continue
        if i in pairs:
            o = blocks[pairs[i]]
            b = Block(b.x0, min(b.y0, o.y0), o.x1, max(b.y1, o.y1),
                      [f"{b.lines[0].strip()} {o.lines[0].strip()}", *o.lines[1:]], o.kind)
        out.append(b)
    return out


_BULLETS = "•◦▪▫‣●○■□►▸❖➢✓✔"
_BULLET_ITEM = re.compile(rf"\s*[{_BULLETS}]\s+\S")
_BULLET = re.compile(f"[{_BULLETS}]")


def _split(block: Block, starts: re.Pattern[str]) -> list[Block]:
    """The block cut before each line that starts a unit and follows the end of a sentence, and before
    each list item that starts with a bullet (items set close together share one block)."""
    lines = block.lines
    if len(lines) < 2:
        return [block]
    bullets = _BULLET.search("\n".join(lines)) is not None  # most blocks have none: no match per line
    cuts = [i for i in range(1, len(lines))
            if (lines[i - 1].rstrip().endswith(_SENTENCE_END) and starts.match(lines[i].strip()))
            or (bullets and _BULLET_ITEM.match(lines[i]))]
    if not cuts:
        return [block]
    step = block.height / len(lines)
    return [Block(block.x0, block.y0 + a * step, block.x1, block.y0 + b * step, lines[a:b])
            for a, b in itertools.pairwise([0, *cuts, len(lines)])]


def _inside(b: Block, boxes: list[tuple[float, float, float, float]], pad: float = 2.0) -> bool:
    cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
    return any(x0 - pad <= cx <= x1 + pad and y0 - pad <= cy <= y1 + pad for x0, y0, x1, y1 in boxes)


_PAGE_NUMBER = re.compile(r"^[\s\-–—·•|.]*(?:page\s*|p\.\s*|第\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})"
                          r"(?:\s*(?:of|/|共)\s*\d{1,4}\s*页?)?\s*页?[\s\-–—·•|.]*$", re.I)
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def _norm(line: str) -> str:
    return _SPACES.sub(" ", _DIGITS.sub("#", line.casefold())).strip(" -–—·•|.")


@dataclass(frozen=True)
class RunningConfig:
    """How running headers and footers are found."""

    band: float = 0.1  # top and bottom share of the page height (and side shares of its width) where they stand
    window: int = 6  # pages before and after a page that are compared with it
    tolerance: float = 6.0  # points a repeated line may move up or down
    is_title: Callable[[str], bool] | None = None  # a chapter or book title: a running head on any page


Edges = list[tuple[Block, str, list[str]]]  # (block, "top"/"bottom", normalised lines)


class Running:
    """Marks running headers, footers and page numbers; pages come out in order, ``window`` late."""

    def __init__(self, cfg: RunningConfig):
        self.cfg = cfg
        self.ahead: deque[tuple[Page, Edges]] = deque()  # pages not decided yet
        self.behind: deque[Edges] = deque(maxlen=cfg.window)  # edge lines of decided pages

    def push(self, page: Page) -> Iterator[Page]:
        """Add the next page; yield the page whose neighbourhood is now complete, if any."""
        self.ahead.append((page, self._edges(page)))
        if len(self.ahead) > self.cfg.window:
            yield self._decide()

    def flush(self) -> Iterator[Page]:
        """Yield the remaining pages at the end of the book."""
        while self.ahead:
            yield self._decide()

    def _edges(self, page: Page) -> Edges:
        top, bottom = page.height * self.cfg.band, page.height * (1 - self.cfg.band)
        left, right = page.width * self.cfg.band, page.width * (1 - self.cfg.band)
        line = line_height(page.blocks) or 0.0
        out = []
        for b in page.blocks:
            if b.kind != BODY:
                continue
            zone = "top" if b.y1 <= top else "bottom" if b.y0 >= bottom else ""
            if not zone and (b.x1 <= left or b.x0 >= right):  # a side margin: a thumb index, a vertical
                out.append((b, "left" if b.x1 <= left else "right", [_norm(line) for line in b.lines]))
                continue  # "Downloaded from ..." note: running text when it repeats
            if zone:
                if all(_PAGE_NUMBER.match(line) for line in b.lines):
                    b.kind = PAGE_NUMBER
                elif self.cfg.is_title is not None and len(b.lines) <= 3 and b.height <= 1.5 * line \
                        and self.cfg.is_title(b.text):  # one line of body size: not the chapter's own heading
                    b.kind = RUNNING  # a page number and the chapter's title: the head of a short chapter too
                else:
                    out.append((b, zone, [_norm(line) for line in b.lines]))
        return out

    def _decide(self) -> Page:
        """Mark the oldest pending page's repeated edge lines, comparing with pages on both sides."""
        page, mine = self.ahead.popleft()
        others = [*self.behind, *(edges for _, edges in self.ahead)]
        need = max(1, round(0.2 * len(others)))  # a short document has few pages to repeat on
        for block, zone, norms in mine:
            hits = sum(1 for n in norms if n and self._count(zone, block, n, others) >= need)
            if hits * 2 >= len(norms):
                block.kind = RUNNING
        self.behind.append(mine)
        return page

    def _count(self, zone: str, block: Block, norm: str, others: list[Edges]) -> int:
        tol = self.cfg.tolerance
        return sum(1 for edges in others
                   if any(z == zone and norm in ns and b.y0 - tol <= block.y1 and block.y0 - tol <= b.y1
                          for b, z, ns in edges))


def reading_order(blocks: list[Block], others: list[Box] = ()) -> list[Block]:
    """Blocks in reading order: bands cut by what spans columns, each band read column by column.

    ``others`` are the boxes of what else stands on the page (removed text blocks, figure images):
    where the blocks alone show no gutter (one column mostly a table or a figure), the removed text
    shows it; and a full-width figure or table cuts the page into bands as a spanning block does, so
    that the columns above it are read before those below it. A box that body text lies on (a
    background image) cuts nothing.
    """
    if len(blocks) < 2:
        return blocks
    left, right = min(b.x0 for b in blocks), max(b.x1 for b in blocks)
    wide = 0.6 * (right - left)
    gutters = _gutters([b for b in blocks if b.width < wide and len(b.lines) > 1], left, right) \
        or _gutters([b for b in blocks if b.width < wide], left, right)
    if not gutters and others:
        boxes = [Block(*box, ["", ""]) for box in others]
        everything = [*blocks, *(b for b in boxes if left <= b.x0 and b.x1 <= right)]
        gutters = _gutters([b for b in everything if b.width < wide], left, right)
        # a gutter needs body text on both sides, else it orders nothing
        gutters = [g for g in gutters if any(b.x1 <= g[0] for b in blocks) and any(b.x0 >= g[1] for b in blocks)]
    if not gutters:
        return sorted(blocks, key=lambda b: (round(b.y0), b.x0))

    def spans(x0: float, x1: float) -> bool:  # a narrow heading that strays into the gutter still has a column
        return x1 - x0 >= wide and any(x0 < lo and x1 > hi for lo, hi in gutters)

    def free(box: Box) -> bool:  # nothing of the body drawn on it
        return not any(box[0] <= (b.x0 + b.x1) / 2 <= box[2] and box[1] <= (b.y0 + b.y1) / 2 <= box[3]
                       for b in blocks)

    spanning = [b for b in blocks if spans(b.x0, b.x1)]
    cuts = sorted([*((b.y0 + b.y1) / 2 for b in spanning),
                   *((y0 + y1) / 2 for x0, y0, x1, y1 in others if spans(x0, x1) and free((x0, y0, x1, y1)))])
    columns = [b for b in blocks if not spans(b.x0, b.x1)]
    column = {id(b): sum(1 for lo, _ in gutters if (b.x0 + b.x1) / 2 > lo) for b in columns}
    # band of a block: how many cuts lie above its centre; a spanning block closes the band above it
    key = {id(b): (sum(1 for c in cuts if c <= (b.y0 + b.y1) / 2), 0 if id(b) in column else -1,
                   column.get(id(b), 0), b.y0, b.x0) for b in blocks}
    return sorted(blocks, key=lambda b: key[id(b)])


def _gutters(narrow: list[Block], left: float, right: float, min_gap: float = 6.0) -> list[tuple[float, float]]:
    """Vertical strips between ``left`` and ``right`` crossed by no block of ``narrow``, with text on both
    sides."""
    if len(narrow) < 2:
        return []
    merged: list[list[float]] = []
    for b in sorted(narrow, key=lambda b: b.x0):
        if merged and b.x0 <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b.x1)
            merged[-1][2] += b.height
        else:
            merged.append([b.x0, b.x1, b.height])
    total = sum(m[2] for m in merged)
    gutters = []
    for a, b in itertools.pairwise(merged):
        left_mass = sum(m[2] for m in merged if m[1] <= a[1])
        if b[0] - a[1] >= min_gap and min(left_mass, total - left_mass) >= 0.15 * total:
            gutters.append((a[1], b[0]))
    return gutters


def line_height(blocks: list[Block]) -> float | None:
    """Typical height of one line on a page: the median one-line block, else the median line pitch."""
    single = [b.height for b in blocks if len(b.lines) == 1]
    if single:
        return statistics.median(single)
    return statistics.median(b.pitch for b in blocks) if blocks else None

"""Tables and vector figures on a book page, found from ruling lines and the text blocks' shapes.

``page.find_tables()`` runs a layout model and costs about a hundred times a page's text
extraction, so by default (``finder="rules"``) a table is found the way it is typeset:

- Only a page with a table caption (``Table 3.1 ...``, ``表 5-1 ...``), a figure caption, or a
  run of tabular blocks (blocks whose lines stand side by side: table rows; a list item whose
  number stands apart from its text is not one) has its drawings read.
- The drawings give ruling lines: thin horizontal or vertical strokes and rectangles. Parallel
  rules that overlap form a cluster, cut where a paragraph, a table caption or a wide empty gap
  lies between two rules; a cluster with three or more rules (booktabs: top, middle and bottom
  rule; grids), or two rules with a table caption next to it or a table row inside, is a table.
  Rotated pages have their tables ruled the other way; both ways are looked at.
- Runs of two or more table rows are tables too, ruled or not.

A block that reads as prose (``prose``: long lines, words, sentence punctuation) is kept inside any
region but a ruled cell grid (rules both ways) or a ruled region on a page turned to landscape,
whose cells may hold sentences.
``finder="pymupdf"`` uses ``page.find_tables()`` on the same candidate pages instead, for tables
with neither rules nor row structure. ``finder="off"`` keeps tables as text. Text blocks whose
centre lies in a table are marked ``table``; table captions are marked ``caption``.

Vector figures (charts, diagrams) on a candidate page are clusters of curves and filled shapes;
short text blocks inside them (axis labels) are marked ``figure``.
"""

from __future__ import annotations

import itertools
import re

import pymupdf

from curate.readers.pdf.layout import BODY, CAPTION, FIGURE, TABLE, Block, line_height

Box = tuple[float, float, float, float]
Rule = tuple[float, float, float]  # position across the rule, start and end along it

TABLE_CAPTION = re.compile(r"^(?:table|tab\.|续?表|續?表)\s*[A-Z]?\d+(?:[.\-–]\d+)*[.:：]?(?:\s+\S|\s*$)", re.I)
_THIN, _LONG = 2.5, 20.0  # points: a rule is at most this thick and at least this long
_EMPTY_GAP = 36.0  # points of nothing between two rules: not one table


_ENUMERATOR = re.compile(r"\(?(?:\d{1,3}|[a-zA-Z]|[ivx]{1,4})[.)]?|[•·▪‣◦*\-–]")


def tabular(b: Block, line: float | None) -> bool:
    """Whether a block's lines stand side by side (a table row) rather than one under another; a
    list item whose number or bullet stands apart from its text is not a row."""
    return (len(b.lines) >= 2 and line is not None and b.height < 1.4 * line
            and not _ENUMERATOR.fullmatch(b.lines[0].strip()) and not prose(b))


_SENTENCE_END = re.compile(r"[a-z\u4e00-\u9fff%)][.。;；!?！？](?:\s|$)|[，,]\s?\S")


def prose(b: Block) -> bool:
    """Whether a block reads as running text (several long lines, words and sentence punctuation):
    such a block is kept even inside a table region, since a region is only evidence of a table."""
    if len(b.lines) < 2:
        return False
    text = " ".join(b.lines)
    if len(text) < 80 or len(_SENTENCE_END.findall(text)) < (1 if len(text) >= 150 else 2):
        return False
    in_long = sum(len(line) for line in b.lines if len(line) >= 30)  # justified lines may come in pieces
    digits = sum(text.count(d) for d in "0123456789")  # a table row is mostly numbers
    return in_long >= 0.5 * len(text) and digits <= 0.25 * len(text)


def mark(page: pymupdf.Page, blocks: list[Block], finder: str) -> tuple[int, int]:
    """Mark table, caption and vector-figure blocks of a page; return (tables, figures) found."""
    if finder == "off":
        return 0, 0
    line = line_height(blocks)
    rows = [b for b in blocks if b.kind == BODY and tabular(b, line)]
    captions = [b for b in blocks if b.kind == BODY and len(b.lines) <= 4 and TABLE_CAPTION.match(b.lines[0])]
    runs = _row_runs(rows, line)
    if not (runs or captions or any(b.kind == CAPTION for b in blocks)):
        return 0, 0  # the common page: no drawings to read
    for b in captions:
        b.kind = CAPTION
    drawings = page.get_cdrawings() if finder == "rules" or not (runs or captions) else []
    regions: list[Box] = []
    grids: list[Box] = []
    if finder == "pymupdf" and (runs or captions):
        regions = [tuple(pymupdf.Rect(t.bbox) * page.derotation_matrix) for t in page.find_tables().tables]
    elif runs or captions:
        ruled, grids = _ruled(drawings, blocks, captions, rows)
        regions = ruled + runs
        if page.rotation % 180:  # a page turned to landscape holds a wide table: its rules are evidence enough
            grids = ruled
    regions = _merge(regions)
    for b in blocks:
        if b.kind == BODY and _centre_in(b, regions) and (not prose(b) or _centre_in(b, grids)):
            b.kind = TABLE
    _mark_notes(blocks, regions, line)
    return len(regions), _mark_figures(drawings, blocks, page.cropbox.width * page.cropbox.height)


_NOTE = re.compile(r"^(?:[*†‡§¶]|[a-z]\s?[A-Z]|[A-Za-z]{1,6}, [a-z]|注[:：]|Notes?[:.]|Abbreviations?[:.])")


def _mark_notes(blocks: list[Block], regions: list[Box], line: float | None) -> None:
    """Table notes: short blocks right under a table that start like a note (``*``, ``†``,
    ``a Adjusted``, ``A, amoxicillin; B, ...``, ``Note:``)."""
    if not regions or line is None:
        return
    for b in sorted(blocks, key=lambda b: b.y0):
        if b.kind != BODY or len(b.lines) > 4 or not _NOTE.match(b.lines[0].strip()):
            continue
        for x0, _, x1, y1 in regions:
            if 0 <= b.y0 - y1 <= 5 * line and min(b.x1, x1) > max(b.x0, x0):
                b.kind = TABLE
                break


def _rules(drawings: list[dict]) -> tuple[list[Rule], list[Rule]]:
    """Horizontal rules as (y, x0, x1) and vertical ones as (x, y0, y1)."""
    horizontal: list[Rule] = []
    vertical: list[Rule] = []

    def add(x0: float, y0: float, x1: float, y1: float) -> None:
        x0, x1, y0, y1 = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
        if y1 - y0 <= _THIN and x1 - x0 >= _LONG:
            horizontal.append(((y0 + y1) / 2, x0, x1))
        elif x1 - x0 <= _THIN and y1 - y0 >= _LONG:
            vertical.append(((x0 + x1) / 2, y0, y1))

    for path in drawings:
        x0, y0, x1, y1 = path["rect"]
        if min(x1 - x0, y1 - y0) <= _THIN:  # the whole path is one thin stroke or bar
            add(x0, y0, x1, y1)
            continue
        stroked = "s" in path.get("type", "")
        for item in path["items"]:
            if item[0] == "l":
                (ax, ay), (bx, by) = item[1], item[2]
                add(ax, ay, bx, by)
            elif item[0] == "re" and stroked:  # a stroked cell box: its four edges are rules
                rx0, ry0, rx1, ry1 = item[1]
                for edge in ((rx0, ry0, rx1, ry0), (rx0, ry1, rx1, ry1), (rx0, ry0, rx0, ry1), (rx1, ry0, rx1, ry1)):
                    add(*edge)
    return horizontal, vertical


def _clusters(rules: list[Rule]) -> list[list[Rule]]:
    """Group parallel rules whose extents overlap by at least half of the shorter one."""
    groups: list[list[Rule]] = []
    for rule in sorted(rules):
        for g in groups:
            lo, hi = min(r[1] for r in g), max(r[2] for r in g)
            overlap = min(hi, rule[2]) - max(lo, rule[1])
            if overlap >= 0.5 * min(hi - lo, rule[2] - rule[1]):
                g.append(rule)
                break
        else:
            groups.append([rule])
    return groups


def _ruled(drawings: list[dict], blocks: list[Block], captions: list[Block],
           rows: list[Block]) -> tuple[list[Box], list[Box]]:
    """Table regions found from rules, and those of them ruled both ways (cell grids)."""
    horizontal, vertical = _rules(drawings)
    found: dict[bool, list[Box]] = {False: [], True: []}
    for rules, across in ((horizontal, False), (vertical, True)):
        for group in _clusters(rules):
            positions = sorted({round(r[0], 1) for r in group})
            for box, n in _split(positions, group, blocks, across):
                if _accept(box, n, captions, rows):
                    found[across].append(box)
    grids = [a for a in found[False] if any(_overlap(a, b) for b in found[True])]
    grids += [b for b in found[True] if any(_overlap(a, b) for a in found[False])]
    return found[False] + found[True], grids


def _split(positions: list[float], group: list[Rule], blocks: list[Block], across: bool) -> list[tuple[Box, int]]:
    """Cut a rule cluster where a paragraph, a table caption or a wide empty gap lies between two
    rules: they belong to different tables (or a table and a box)."""
    lo, hi = min(r[1] for r in group), max(r[2] for r in group)
    parts: list[list[float]] = [[positions[0]]]
    for a, b in itertools.pairwise(positions):
        between = [blk for blk in blocks if a < _centre(blk, across)[0] < b and lo <= _centre(blk, across)[1] <= hi]
        wide = any(len(blk.lines) >= 2 and _extent(blk, across) >= 0.9 * (hi - lo) and prose(blk)
                   for blk in between)
        caption = any(TABLE_CAPTION.match(blk.lines[0]) for blk in between)
        if wide or caption or (not between and b - a > _EMPTY_GAP):
            parts.append([b])
        else:
            parts[-1].append(b)
    out = []
    for p in parts:  # a part spans what its own rules span (a diagram's strokes beside a wide table)
        mine = [r for r in group if p[0] - 0.1 <= r[0] <= p[-1] + 0.1]
        if len(p) >= 2:
            out.append((_box(p[0], p[-1], min(r[1] for r in mine), max(r[2] for r in mine), across), len(p)))
    return out


def _accept(box: Box, rules: int, captions: list[Block], rows: list[Block]) -> bool:
    """Three rules make a table; two (a box) only with a table row inside or a caption next to it."""
    if rules >= 3 or any(_centre_in(r, [box]) for r in rows):
        return True
    return any(_centre_in(c, [_grow(box, 30.0)]) for c in captions)


def _row_runs(rows: list[Block], line: float | None) -> list[Box]:
    """Boxes around runs of two or more tabular blocks one under another."""
    if line is None:
        return []
    runs: list[list[Block]] = []
    for b in sorted(rows, key=lambda r: r.y0):
        last = runs[-1][-1] if runs else None
        if last is not None and b.y0 - last.y1 <= 2 * line and min(b.x1, last.x1) > max(b.x0, last.x0):
            runs[-1].append(b)
        else:
            runs.append([b])
    return [(min(b.x0 for b in r), min(b.y0 for b in r), max(b.x1 for b in r), max(b.y1 for b in r))
            for r in runs if len(r) >= 2]


_NODE = 0.05  # of the page's area: a stroked box this small is a node of a flow chart, not a frame or a table
_LABEL = 30  # characters: the longest line of a block of several labels (a sentence's line is longer)
_CHART_SHAPES = 3  # plain boxes in a region that make it a chart (fewer: a panel, whose text is text)


def _mark_figures(drawings: list[dict], blocks: list[Block], page_area: float) -> int:
    """Mark the text inside clusters of curves, filled shapes, slanted strokes and small stroked boxes (a
    chart's labels, a flow chart's nodes and connectors): short blocks, and blocks of short lines that do
    not read as prose (the labels of several nodes that MuPDF put in one block). A region of one or two
    plain boxes is a panel (a shaded box of key points, a code block's background), whose text is text."""
    shapes: list[tuple[Box, bool]] = []  # (box, whether it is a plain box)
    for path in drawings:
        x0, y0, x1, y1 = path["rect"]
        items = path["items"]
        boxed = all(item[0] in ("re", "qu") for item in items)
        if min(x1 - x0, y1 - y0) > _THIN and (path.get("fill") is not None
                                              or any(item[0] in ("c", "qu") for item in items)
                                              or (boxed and (x1 - x0) * (y1 - y0) < _NODE * page_area)
                                              or all(item[0] == "l" and _slanted(item) for item in items)):
            shapes.append(((x0, y0, x1, y1), boxed))
    regions = []
    for r in _merge([box for box, _ in shapes], pad=8.0):
        members = [plain for box, plain in shapes if _inside_box(box, r)]
        if _area(r) >= 0.02 * page_area and (len(members) >= _CHART_SHAPES or not all(members)):
            regions.append(r)
    for b in blocks:
        if b.kind == BODY and _centre_in(b, regions) and ((len(b.lines) <= 2 and len(b.text) <= 60) or (
                max(len(line) for line in b.lines) <= _LABEL and not prose(b))):
            b.kind = FIGURE
    return len(regions)


def _inside_box(box: Box, region: Box) -> bool:
    return region[0] <= box[0] and region[1] <= box[1] and box[2] <= region[2] and box[3] <= region[3]


def _slanted(item: tuple) -> bool:
    """Whether a line segment runs neither across nor down the page (an arrow, a connector; never a rule)."""
    (ax, ay), (bx, by) = item[1], item[2]
    return abs(bx - ax) > _THIN and abs(by - ay) > _THIN


def _merge(boxes: list[Box], pad: float = 0.0) -> list[Box]:
    """Union boxes that overlap (after growing them by ``pad``) until none do."""
    merged: list[Box] = []
    for box in sorted(boxes):
        box = tuple(box)
        changed = True
        while changed:
            changed = False
            for i, other in enumerate(merged):
                if _overlap(_grow(box, pad), other):
                    box = (min(box[0], other[0]), min(box[1], other[1]), max(box[2], other[2]), max(box[3], other[3]))
                    merged.pop(i)
                    changed = True
                    break
        merged.append(box)
    return merged


def _box(a: float, b: float, lo: float, hi: float, across: bool) -> Box:
    return (a, lo, b, hi) if across else (lo, a, hi, b)


def _centre(b: Block, across: bool) -> tuple[float, float]:
    cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
    return (cx, cy) if across else (cy, cx)


def _extent(b: Block, across: bool) -> float:
    return b.height if across else b.width


def _centre_in(b: Block, boxes: list[Box], pad: float = 3.0) -> bool:
    cx, cy = (b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2
    return any(x0 - pad <= cx <= x1 + pad and y0 - pad <= cy <= y1 + pad for x0, y0, x1, y1 in boxes)


def _grow(box: Box, pad: float) -> Box:
    return (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


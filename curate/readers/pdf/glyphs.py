"""What unmapped glyphs are: inferred from the font program and from how the book uses them.

For each font code without Unicode (``fonts.Font.unknown``) the evidence, strongest first:

1. ``program``: the embedded font program's own cmap names the glyph's Unicode;
2. ``name``: the glyph name follows the Adobe Glyph List (``one``, ``uni0031``, ``one.lf``);
3. ``shape``: the glyph outline, rasterised on a small grid, matches a digit of the reference
   fonts that pymupdf ships (Times, Helvetica, Courier; regular and bold) clearly better than
   any other digit and than every Latin letter drawn from the same fonts (so ``O`` stays
   unmapped rather than becoming ``0``);
4. ``pages``: printed page numbers in the top or bottom band count up with the pages; the digits
   of a set of sample pages are solved for a single offset (``solve_page_numbers``);
5. ``lists``: numbered list items and headings on a page (``（1）（2）（3）``) count up from 1.

Shape inference is checked per font before it is used: two codes may not become the same digit,
and where page numbers or lists say something about a code they must agree with the shape. A
font whose evidence conflicts is left unmapped and reported. The result is a ``GlyphMap``: a
translation table for the extracted text and one report line per font for the ledger.
"""

from __future__ import annotations

import functools
import io
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pymupdf
from fontTools.pens.basePen import BasePen

from curate.readers.pdf.fonts import Font, glyph_unicode

GRID = 20
DIGITS = "0123456789"
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_REFERENCE_FONTS = ("tiro", "tibo", "helv", "hebo", "cour", "cobo")
_MIN_SCORE, _MIN_MARGIN = 0.72, 0.06


class _Flatten(BasePen):
    """Outline to closed polygons, curves cut into straight pieces."""

    def __init__(self) -> None:
        super().__init__(None)
        self.contours: list[list[tuple[float, float]]] = []

    def _moveTo(self, p):
        self.contours.append([p])

    def _lineTo(self, p):
        self.contours[-1].append(p)

    def _curveToOne(self, p1, p2, p3):
        (x0, y0) = self.contours[-1][-1]
        for i in range(1, 7):
            t = i / 6
            a, b, c, d = (1 - t) ** 3, 3 * t * (1 - t) ** 2, 3 * t * t * (1 - t), t ** 3
            self.contours[-1].append((a * x0 + b * p1[0] + c * p2[0] + d * p3[0],
                                      a * y0 + b * p1[1] + c * p2[1] + d * p3[1]))

    def _qCurveToOne(self, p1, p2):
        (x0, y0) = self.contours[-1][-1]
        for i in range(1, 5):
            t = i / 4
            a, b, c = (1 - t) ** 2, 2 * t * (1 - t), t * t
            self.contours[-1].append((a * x0 + b * p1[0] + c * p2[0], a * y0 + b * p1[1] + c * p2[1]))

    def _closePath(self):
        pass


@dataclass(frozen=True)
class Shape:
    """A glyph's outline on a ``GRID`` square (height-normalised), its aspect and height in ems."""

    bitmap: np.ndarray
    aspect: float
    height: float
    bottom: float


def rasterise(contours: list[list[tuple[float, float]]], em: float) -> Shape | None:
    """Fill polygons (non-zero winding) on the grid, scaled so that the glyph's height fills it."""
    points = [p for c in contours for p in c]
    if len(points) < 3:
        return None
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    h, w = y1 - y0, x1 - x0
    if h <= 0 or w <= 0:
        return None
    scale = GRID / max(h, w)
    off = (GRID - w * scale) / 2
    edges = np.array([(*a, *b) for c in contours for a, b in zip(c, c[1:] + c[:1], strict=True) if a[1] != b[1]],
                     dtype=np.float64).reshape(-1, 4)
    ax, ay, bx, by = (edges[:, k] for k in range(4))
    cols = (np.arange(GRID) + 0.5 - off) / scale + x0
    rows = y1 - (np.arange(GRID) + 0.5) / scale
    rows = rows[:int(np.argmax(rows < y0)) if (rows < y0).any() else GRID, None]  # rows below the glyph stay empty
    # Non-zero winding: a cell is inside when the edges crossing its row left of it do not cancel out.
    crossing = ((ay <= rows) & (rows < by)) | ((by <= rows) & (rows < ay))
    with np.errstate(divide="ignore", invalid="ignore"):
        x = ax + (rows - ay) * (bx - ax) / (by - ay)
    direction = np.where(by > ay, 1, -1)
    left = crossing[:, :, None] & (x[:, :, None] <= cols[None, None, :])
    grid = np.zeros((GRID, GRID), dtype=np.float32)
    grid[:len(rows)] = (left * direction[None, :, None]).sum(axis=1) != 0
    blurred = grid.copy()
    blurred[1:] += grid[:-1] * 0.5
    blurred[:-1] += grid[1:] * 0.5
    blurred[:, 1:] += grid[:, :-1] * 0.5
    blurred[:, :-1] += grid[:, 1:] * 0.5
    return Shape(blurred, w / h, h / em, y0 / em)


def shape_of(font: Font, code: int) -> Shape | None:
    """The rasterised glyph of ``code`` in ``font`` (None without a drawable program)."""
    if font.draw is None:
        return None
    pen = _Flatten()
    try:
        if not font.draw(code, pen):
            return None
    except Exception:
        return None
    return rasterise(pen.contours, font.em)


# The reference glyphs, rasterised once (``render_references``) and shipped with the package: rendering
# them through fontTools' charstring interpreter costs a fresh process (every build worker) about half a second.
REFERENCES_FILE = Path(__file__).with_name("glyph_references.npz")


@functools.cache
def references() -> tuple[tuple[str, Shape], ...]:
    """Digits and Latin letters of the reference fonts pymupdf ships (from ``REFERENCES_FILE``, else rendered)."""
    try:
        with np.load(REFERENCES_FILE) as f:
            chars, bitmaps, numbers = str(f["chars"]), f["bitmaps"], f["numbers"]
    except (OSError, ValueError, KeyError):  # a missing or unreadable file: render them here
        return render_references()
    if len(chars) != len(bitmaps) or bitmaps.shape[1:] != (GRID, GRID):
        return render_references()
    return tuple((ch, Shape(bitmap, *map(float, row))) for ch, bitmap, row in zip(chars, bitmaps, numbers, strict=True))


def render_references() -> tuple[tuple[str, Shape], ...]:
    """Rasterise the digits and Latin letters of the reference fonts (what ``REFERENCES_FILE`` holds)."""
    from fontTools.cffLib import CFFFontSet  # only here: importing it costs a worker a sixth of a second

    out = []
    for name in _REFERENCE_FONTS:
        cff = CFFFontSet()
        cff.decompile(io.BytesIO(pymupdf.Font(name).buffer), None)
        top = cff[cff.fontNames[0]]
        for ch in DIGITS + _LETTERS:
            if agl_name(ch) not in top.CharStrings:
                continue
            pen = _Flatten()
            top.CharStrings[agl_name(ch)].draw(pen)
            shape = rasterise(pen.contours, 1000.0)
            if shape is not None:
                out.append((ch, shape))
    return tuple(out)


def write_references(path: Path = REFERENCES_FILE) -> None:
    """Write the rendered reference glyphs to ``path`` (run after changing ``rasterise`` or the fonts)."""
    refs = render_references()
    np.savez_compressed(path, chars=np.array("".join(ch for ch, _ in refs)),
                        bitmaps=np.stack([s.bitmap for _, s in refs]),
                        numbers=np.array([(s.aspect, s.height, s.bottom) for _, s in refs], dtype=np.float64))


_AGL_NAMES = dict(zip(DIGITS, ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
                      strict=True))


def agl_name(ch: str) -> str:
    """Standard glyph name of a digit or letter."""
    return _AGL_NAMES.get(ch, ch)


def similarity(a: Shape, b: Shape) -> float:
    """Overlap of two glyph bitmaps (Dice), less a penalty for different proportions."""
    inter = float(np.minimum(a.bitmap, b.bitmap).sum())
    total = float(a.bitmap.sum() + b.bitmap.sum())
    dice = 2 * inter / total if total else 0.0
    return dice - 0.3 * abs(math.log(a.aspect / b.aspect)) - 0.3 * abs(math.log(a.height / b.height))


@functools.cache
def _stacked() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    refs = references()
    bitmaps = np.stack([r.bitmap for _, r in refs])
    return ([ch for ch, _ in refs], bitmaps, bitmaps.sum(axis=(1, 2)), np.array([r.aspect for _, r in refs]),
            np.array([r.height for _, r in refs]))


def match_digit(shape: Shape) -> tuple[str, float, float] | None:
    """(digit, score, margin over the next digit or letter) when ``shape`` looks most like a digit."""
    chars, bitmaps, sums, aspects, heights = _stacked()  # ``similarity`` against every reference at once
    inter = np.minimum(bitmaps, shape.bitmap[None]).sum(axis=(1, 2))
    scores = 2 * inter / (sums + shape.bitmap.sum()) - 0.3 * np.abs(np.log(shape.aspect / aspects)) \
        - 0.3 * np.abs(np.log(shape.height / heights))
    best: dict[str, float] = {}
    for ch, s in zip(chars, scores.tolist(), strict=True):
        if s > best.get(ch, -9):
            best[ch] = s
    ranked = sorted(best.items(), key=lambda kv: -kv[1])
    if not ranked or ranked[0][0] not in DIGITS or ranked[0][1] < _MIN_SCORE:
        return None
    margin = ranked[0][1] - ranked[1][1] if len(ranked) > 1 else 1.0
    return ranked[0][0], ranked[0][1], margin


@dataclass
class Inference:
    """What was inferred for one font: code -> text, the evidence, and conflicts found."""

    font: Font
    mapped: dict[int, str] = field(default_factory=dict)
    evidence: Counter[str] = field(default_factory=Counter)
    conflicts: list[str] = field(default_factory=list)


def infer_font(font: Font) -> Inference:
    """Program cmap, glyph names and digit shapes for a font's unknown codes, checked together."""
    inf = Inference(font)
    shapes: dict[int, tuple[str, float, float]] = {}
    for code in sorted(font.unknown):
        if code in font.program_cmap:
            inf.mapped[code] = chr(font.program_cmap[code])
            inf.evidence["program"] += 1
            continue
        uni = glyph_unicode(font.names.get(code, ""))
        if uni and not any(0xE000 <= ord(c) <= 0xF8FF for c in uni):
            inf.mapped[code] = uni
            inf.evidence["name"] += 1
            continue
        width = font.widths.get(code, 500.0)
        if not 250 <= width <= 700:  # digits are about half an em wide; CJK glyphs a whole em
            continue
        shape = shape_of(font, code)
        hit = match_digit(shape) if shape is not None else None
        if hit is not None:
            shapes[code] = hit
    _assign_digits(inf, shapes)
    return inf


def _assign_digits(inf: Inference, shapes: dict[int, tuple[str, float, float]]) -> None:
    """Digits from shape matches: a clear match, or by elimination the one digit left for a glyph
    whose best match it is; two glyphs for one digit is a conflict unless one clearly wins."""
    by_digit: dict[str, list[int]] = {}
    for code, (digit, _, _) in shapes.items():
        by_digit.setdefault(digit, []).append(code)
    taken: dict[str, int] = {}
    for digit, codes in sorted(by_digit.items()):
        codes.sort(key=lambda c: -shapes[c][1])
        if len(codes) > 1 and shapes[codes[0]][1] - shapes[codes[1]][1] < _MIN_MARGIN:
            inf.conflicts.append(f"{len(codes)} glyphs look like '{digit}'")
            continue
        taken[digit] = codes[0]
    clear = {d: c for d, c in taken.items() if shapes[c][2] >= _MIN_MARGIN}
    if len(clear) >= 6:  # a font's digit set: the rest may be taken by elimination
        clear.update(taken)
    for digit, code in clear.items():
        inf.mapped[code] = digit
        inf.evidence["shape"] += 1


_ENUM = re.compile(r"^\s*[（(]?(\S)[）)．.、]")


def solve_page_numbers(samples: list[tuple[int, str]], unknown: set[int]) -> dict[int, str]:
    """Digits of unknown code points from page-number strings: (page index, string) pairs whose
    values must be index + one offset. Returns {} unless one offset explains most pages."""
    usable = [(i, s) for i, s in samples if s and all(ord(c) in unknown or c.isdigit() for c in s)]
    if len(usable) < 3:
        return {}
    best: tuple[int, dict[int, str]] = (0, {})
    tied = False
    lengths = {len(s) for _, s in usable}
    low = min(10 ** (min(lengths) - 1) - usable[0][0], 0) if lengths else 0
    for offset in range(max(low, -usable[-1][0]), 10 ** max(lengths) - usable[0][0] + 1):
        mapping: dict[int, str] = {}
        fits = 0
        for index, s in usable:
            number = str(index + offset)
            if len(number) != len(s):
                continue
            trial = dict(mapping)
            if all(trial.setdefault(ord(c), d) == d if ord(c) in unknown else c == d for c, d in zip(s, number,
                                                                                                    strict=True)):
                mapping = trial
                fits += 1
        if not fits or any(n > 1 for n in Counter(mapping.values()).values()):
            continue
        if fits > best[0]:
            best, tied = (fits, mapping), False
        elif fits == best[0] and mapping != best[1]:
            tied = True  # two offsets explain the pages equally well: the numbers say nothing
    fits, mapping = best
    return mapping if fits >= max(3, 0.7 * len(usable)) and not tied else {}


def count_lists(lines: Iterable[str | None], unknown: set[int]) -> dict[int, str]:
    """Digits from runs of list items numbered with single unknown glyphs (``（1）``, ``2．``): a run
    counts 1, 2, 3, ...; a code takes the digit most runs give it (two thirds at least)."""
    votes: dict[int, Counter[str]] = {}
    run: list[int] = []

    def close() -> None:
        if len(run) >= 3:
            for k, code in enumerate(run[:9], start=1):
                votes.setdefault(code, Counter())[str(k)] += 1
        run.clear()

    for line in lines:
        if line is None:  # a page break ends a run
            close()
            continue
        m = _ENUM.match(line)
        code = ord(m.group(1)) if m else -1
        if code in unknown:
            if code in run:
                close()
            run.append(code)
    close()
    out = {}
    for code, counter in votes.items():
        digit, n = counter.most_common(1)[0]
        if n >= 2 * sum(counter.values()) / 3:
            out[code] = digit
    return out

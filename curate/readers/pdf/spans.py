"""What a book page's text needs the type of its glyphs for, read span by span only where needed.

``layout.read_page`` takes a page's text from one ``get_text("blocks")`` call; a few things the blocks'
text cannot tell come from the spans and characters MuPDF gives with their fonts, sizes and flags:

- ``span_lines``: lines through each span's own font table (fonts whose glyphs need a per-font map);
- ``respaced``: words that MuPDF set without spaces (a tightly justified line) spaced from the gaps
  between glyphs;
- ``superscripts``: footnote and citation numbers set raised and small after a word.

The latter two read only the blocks that hold a candidate: the spans of a whole page cost as much as
its text.
"""

from __future__ import annotations

import contextlib
import itertools
import re
from collections.abc import Iterator

import pymupdf

# No PRESERVE_LIGATURES: ligatures come out as letters. CID_FOR_UNKNOWN_UNICODE: a glyph without
# Unicode comes out as its raw code (not U+FFFD), which the book's glyph map turns into text or
# removes and reports (``plan.GlyphMap``).
FLAGS = (pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_PRESERVE_IMAGES
         | pymupdf.TEXT_PARAGRAPH_BREAK | pymupdf.TEXT_CID_FOR_UNKNOWN_UNICODE)

# Reads of a few blocks' spans: lines as ``span_lines`` has them (no paragraph breaks), no images.
_CLIP_FLAGS = FLAGS & ~pymupdf.TEXT_PARAGRAPH_BREAK & ~pymupdf.TEXT_PRESERVE_IMAGES


@contextlib.contextmanager
def clip_reads(held: list[str]) -> Iterator[None]:
    """Around reads of a few blocks through clips (``respaced``, ``superscripts``): MuPDF's complaints until
    now (the page's own) go to ``held``, and those the clipped reads raise are dropped. A clip that cuts a
    tagged span warns "ActualText with no position", about the clip, not the page, whose text the whole-page
    read gave already."""
    held.append(pymupdf.TOOLS.mupdf_warnings())  # returns them and clears the list
    try:
        yield
    finally:
        pymupdf.TOOLS.reset_mupdf_warnings()


def span_lines(page: pymupdf.Page, tables: dict[str, dict[int, str]]) -> dict[str, str]:
    """Lines of the page as extracted -> the same lines with each span through its own font's table.

    Spans come from ``get_text("dict")`` without paragraph breaks (with them, MuPDF puts list items
    in structure blocks whose lines the dict leaves out); a line whose text reads two ways (the
    same letters in a dingbat font and in a text font) is left as extracted.
    """
    found: dict[str, set[str]] = {}
    for b in page.get_text("dict", flags=FLAGS & ~pymupdf.TEXT_PARAGRAPH_BREAK)["blocks"]:
        for line in b.get("lines", ()):
            raw = "".join(sp["text"] for sp in line["spans"])
            found.setdefault(raw, set()).add("".join(sp["text"].translate(tables.get(sp["font"], {}))
                                                     for sp in line["spans"]))
    return {raw: mapped.pop() for raw, mapped in found.items() if len(mapped) == 1 and raw not in mapped}


# A run of Latin letters longer than nearly any word: words that MuPDF set without the spaces between
# them (a tightly justified line whose word gaps fall under its space threshold).
GLUED = re.compile(r"[A-Za-z\u00c0-\u024f]{18,}")
_WORD_GAP, _GAP_OVER_LINE = 0.08, 0.06  # in ems: a word gap, and how much wider than the line's letter gaps


def respaced(page: pymupdf.Page, clips: list[pymupdf.Rect]) -> dict[str, str]:
    """Lines in ``clips`` that hold a glued run (``GLUED``) -> the same lines with a space wherever
    the gap between two glyphs is a word gap: at least ``_WORD_GAP`` of the larger font size, and
    ``_GAP_OVER_LINE`` more than the line's median gap (so letter-spaced type gets no spaces between
    its letters). Never between CJK characters, which are set without spaces."""
    out: dict[str, str] = {}
    found = [b for box in clips for b in page.get_text("rawdict", flags=_CLIP_FLAGS, clip=box)["blocks"]]
    for b in found:  # only the blocks that need it: the characters of a whole page cost as much as the page
        for line in b.get("lines", ()):
            chars = [(c["c"], c["bbox"][0], c["bbox"][2], sp["size"]) for sp in line["spans"] for c in sp["chars"]]
            text = "".join(c[0] for c in chars)
            if line["dir"] != (1.0, 0.0) or text in out or not GLUED.search(text):
                continue
            gaps = [(b_[1] - a[2]) / max(a[3], b_[3], 1e-3) for a, b_ in itertools.pairwise(chars)]
            letters = sorted(g for g, (a, b_) in zip(gaps, itertools.pairwise(chars), strict=True)
                             if not a[0].isspace() and not b_[0].isspace())
            if not letters:
                continue
            floor = max(_WORD_GAP, letters[len(letters) // 2] + _GAP_OVER_LINE)
            pieces = [chars[0][0]]
            for gap, (a, b_) in zip(gaps, itertools.pairwise(chars), strict=True):
                if gap >= floor and not (a[0].isspace() or b_[0].isspace() or _cjk(a[0]) or _cjk(b_[0])):
                    pieces.append(" ")
                pieces.append(b_[0])
            out[text] = "".join(pieces)
    return {k: v for k, v in out.items() if k != v}


_MARK_SPAN = re.compile(r"\d{1,3}(?:[,–-]\d{1,3})*\*?")


def clip(block: tuple) -> pymupdf.Rect:
    """The box of a ``get_text("blocks")`` entry, a point wider on each side (so no glyph is cut)."""
    return pymupdf.Rect(block[0] - 1, block[1] - 1, block[2] + 1, block[3] + 1)


def superscripts(page: pymupdf.Page, clips: list[pymupdf.Rect]) -> list[tuple[str, str]]:
    """Footnote and citation numbers in ``clips`` that are set as superscripts (MuPDF's superscript
    flag: smaller type on a raised baseline) right after a word or a sentence end, each as (the four
    characters before it, the number): what ``read_page`` raises to superscript digits, which
    ``pdftext.strip_markers`` removes. Digits on the line's baseline (``Notch1``, ``libtasn1.h``,
    ``No.9``) are text and stay."""
    found: dict[tuple[str, str], None] = {}
    for box in clips:  # only the blocks that hold a candidate: spans of a whole page cost as much as the page
        for b in page.get_text("dict", flags=_CLIP_FLAGS, clip=box)["blocks"]:
            for line in b.get("lines", ()):
                for before, span in itertools.pairwise(line["spans"]):
                    tail = before["text"][-4:]
                    if span["flags"] & pymupdf.TEXT_FONT_SUPERSCRIPT and tail[-1:] and \
                            (tail[-1].isalpha() or tail[-1] in ".;:") and _MARK_SPAN.fullmatch(span["text"]):
                        found[(tail, span["text"])] = None
    return list(found)


def _cjk(ch: str) -> bool:
    return ord(ch) >= 0x2E80 and not 0xFB00 <= ord(ch) <= 0xFB06  # CJK and beyond; ligatures are Latin

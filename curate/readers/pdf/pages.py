"""The first phase of the books reader: the pages of a book (or of one page range) as pieces.

A book is read in two phases (``readers.books``): pages are extracted and classified one by one,
each on its own (this module), then assembled in order into chapters and sections. The first
phase can run on page ranges in parallel tasks; what it passes on is a stream of pieces:

- ``Start``: what the whole book is (outline, title, page count, whether MuPDF repaired it); only
  the range that holds the first page sends it, first;
- ``PageOut``: one page's blocks with their kinds (tables, captions, figures, front matter,
  footnotes marked; running heads are decided later, with the neighbouring pages), and whether
  it is a scanned image;
- ``Skipped``: a page that could not be read (its ledger row is written here);
- ``End``: the glyphs seen without a meaning (per code point: count and an example), the book's
  glyph map when this range needed it, and MuPDF's complaints about fonts.

A page's piece depends on the page alone (and on the book's glyph map, a function of the file),
so a book cut anywhere gives the same pieces. Each page's MuPDF warnings (a damaged content
stream, filter or image) become a ``damaged_page`` ledger row with the page number; warnings about
fonts, which MuPDF gives once per font on the first page that uses it, are the book's
(``damaged_font``, written by ``finish``).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pymupdf

from curate.core.ledger import Ledger
from curate.readers.pdf import layout as pdflayout
from curate.readers.pdf import matter as pdfmatter
from curate.readers.pdf import plan as pdfplan
from curate.readers.pdf import symbols as pdfsymbols
from curate.readers.pdf import tables as pdftables
from curate.readers.pdf import text as pdftext
from curate.readers.pdf.headings import Heading


@dataclass
class Start:
    """The book as a whole, sent once before its first page."""

    outline: list[Heading]
    title: str | None
    pages: int
    repaired: bool
    reflowable: bool = False  # EPUB, MOBI, FB2: pages laid out by MuPDF, without running heads or footnotes


@dataclass
class PageOut:
    """One page, its blocks classified (running heads aside), and whether it is a scanned image."""

    page: pdflayout.Page
    scanned: bool = False
    damaged: bool = False  # MuPDF reported problems reading it (a ``damaged_page`` row says which)


@dataclass
class Skipped:
    """A page that could not be read (0-based ``number``)."""

    number: int


@dataclass
class End:
    """The end of a page range: glyphs seen without a meaning, and the glyph map if it was needed."""

    seen: dict[int, list] = field(default_factory=dict)
    glyphs: pdfplan.GlyphMap | None = None
    font_warnings: set[str] = field(default_factory=set)  # MuPDF's complaints about fonts (see ``_damaged``)
    symbols: list[pdfsymbols.Correction] = field(default_factory=list)  # glyphs read from their outlines


@dataclass(frozen=True)
class Options:
    """What page extraction needs of the reader's options."""

    starts: re.Pattern[str]  # lines that begin a new unit (``headings.starts``)
    table_finder: str
    pua_map: dict[int, str]  # the recipe's private-use code points (``pua_map``), parsed
    glyphs: pdfplan.GlyphMap | None = None  # the book's glyph map, inferred beforehand (``plan.first_pass``)


def extract(doc: pymupdf.Document, pages: range, opts: Options, ledger: Ledger, ids: Callable,
            relpath: str, stats: Counter[str]) -> Iterator[Start | PageOut | Skipped | End]:
    """The pieces of ``pages`` of ``doc`` (``ids(locator)`` makes ledger ids; statistics into ``stats``)."""
    corrected = pdfsymbols.repair(doc)  # before any page is read: every extraction sees the corrections
    plan = pdfplan.build(doc, opts.pua_map, opts.glyphs)
    if pages.start == 0:
        yield Start(plan.outline, (doc.metadata or {}).get("title") or None, doc.page_count, doc.is_repaired,
                    doc.is_reflowable)
    infer = None if plan.inferred else plan.infer
    reflowable = doc.is_reflowable
    chars = pdftext.Chars(plan.glyphs, {**pdftext.RADICALS, **opts.pua_map}, stats, infer)
    fonts: set[str] = set()
    for n in pages:
        pymupdf.TOOLS.reset_mupdf_warnings()
        try:
            page = doc.load_page(n)
            layout = pdflayout.read_page(page, n, opts.starts, chars, plan.span_tables)
            layout.tables, figures = pdftables.mark(page, layout.blocks, opts.table_finder)
            # a reflowed page's foot is wherever the layout broke the text: no footnotes there
            pdfmatter.mark(layout.blocks, n, 0.0 if reflowable else layout.height)
            scanned = not layout.has_text and bool(layout.images or page.get_images())
        except Exception as err:  # one damaged page must not lose the book
            ledger.quarantine(ids(f"p{n + 1}"), "page_error", f"books: '{relpath}' page {n + 1} cannot be read "
                              f"({type(err).__name__}: {err}); the other pages are kept")
            yield Skipped(n)
            continue
        warnings = _warnings(plan.held_warnings() + layout.warnings + "\n" + pymupdf.TOOLS.mupdf_warnings())
        fonts.update(w for w in warnings if _FONT_WARNING.search(w))
        damaged = _damaged([w for w in warnings if not _FONT_WARNING.search(w)], n, layout, ids, relpath, ledger)
        stats["pages"] += 1
        stats["pages_damaged"] += damaged
        stats["tables_removed"] += layout.tables
        stats["figures_removed"] += layout.images + figures
        yield PageOut(layout, scanned, damaged)
    yield End(chars.seen, plan.glyphs if plan.inferred else None, fonts, corrected)


# A font is loaded once per open document, and MuPDF says what is wrong with it then: on the first
# page that uses it in this task. Such complaints are the book's (one row), not a page's.
_FONT_WARNING = re.compile(r"font|cmap|glyph|encoding|\bcid\b", re.I)


def _warnings(text: str) -> list[str]:
    """MuPDF's warnings, each once ("... repeated 3 times ..." lines left out)."""
    return list(dict.fromkeys(w.strip() for w in text.splitlines() if w.strip() and not w.startswith("... repeated")))


def _damaged(lines: list[str], n: int, layout: pdflayout.Page, ids: Callable, relpath: str, ledger: Ledger) -> bool:
    """A ``damaged_page`` row for a page MuPDF complained about while reading it (a broken content
    stream, filter or image), with what was read of it."""
    if not lines:
        return False
    kept = sum(len(b.text) for b in layout.blocks)
    what = "nothing could be read from it" if not kept else f"{kept:,} characters read; some may be missing or wrong"
    ledger.modify(ids(f"p{n + 1}"), "damaged_page", f"books: '{relpath}' page {n + 1}: MuPDF reported problems "
                  f"reading it ({what}): {'; '.join(lines)[:300]}; check the page against the file")
    return True

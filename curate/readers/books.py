"""Books: PDF (and EPUB, MOBI, XPS, FB2) into clean running text, one record per chapter or section.

A book is read in two passes:

0. ``pdfplan.build`` (the whole book, cheap): the outline and the glyph map, which recovers the
   text of glyphs the PDF gives no Unicode for (``readers/pdf/fonts.py``, ``glyphs.py``).

then page by page, each page on its own (a page range could be read by another worker):

1. ``pdflayout.read_page``: text blocks (raw codes for glyphs without Unicode, never U+FFFD), each
   through ``pdftext.Chars`` (glyph map, radicals, ``pua_map``, ftfy, NFKC; ``text_in`` counted);
   images; text inside figures and figure captions marked.
2. ``pdftables.mark``: tables (ruling lines, cell grids, rows; prose kept), table notes, captions
   and vector-figure labels; ``pdfmatter.mark``: front matter, footnotes, headless reference lists.
3. ``pdflayout.Running``: running headers, footers and page numbers, by comparing each page with up
   to ``header_window`` pages on either side; then ``reading_order`` (columns).

and in order (cheap): ``booksections.Sections`` places headings from the outline (or the type),
cuts back matter and tables of contents, joins paragraphs across columns and pages (hyphens with a
word list), and makes one ``Doc`` per chapter or section, split before ``max_chars``; citation and
footnote markers are stripped last.

Every character of every page is counted: the statistics ``text_in``, ``text_out`` and
``text_removed_<reason>`` balance (``curate.core.textbalance``; ``curate audit`` checks them).

Ids are ``books/<file>#ch3.2`` (outline or heading numbering), ``#ch3.2-part2`` for later parts of a
long section and ``#front`` for the text before the first heading. The ledger gets a ``drop`` row
for every cut-out part (``back_matter``, ``table_of_contents``) and every run of scanned pages
(``no_text_layer``); ``modify`` rows for the glyph map of each font (``glyph_map``, with its
evidence, or ``glyph_map_conflict``), for glyphs that stay unmapped (``unmapped_glyph``, per font
and code point with a count and an example), for pages that lose most of their text as table
(``table_share``) and for repaired files; and a ``quarantine`` row for unreadable pages. Files that
cannot be opened (encrypted, empty, truncated beyond repair, not a PDF) are quarantined whole, with
a message that says what to do.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pymupdf

from curate.core.ledger import Ledger
from curate.core.textbalance import characters
from curate.readers import FileRef
from curate.readers.pdf import layout as pdflayout
from curate.readers.pdf import matter as pdfmatter
from curate.readers.pdf import plan as pdfplan
from curate.readers.pdf import tables as pdftables
from curate.readers.pdf import text as pdftext
from curate.readers.pdf.headings import bare, starts, title_key
from curate.readers.pdf.sections import Cut, Doc, Sections
from curate.text import normalise as text
from curate.text.textio import NotText

SUFFIXES = (".pdf", ".epub", ".mobi", ".xps", ".oxps", ".fb2")
UNIT = "page"
_REMOVED = {pdflayout.RUNNING: "running_heads_removed", pdflayout.PAGE_NUMBER: "page_numbers_removed",
            pdflayout.CAPTION: "captions_removed", pdflayout.FIGURE: "figure_text_removed",
            pdflayout.TABLE: "table_blocks_removed", pdflayout.FRONT: "front_matter_blocks_removed",
            pdflayout.FOOTNOTE: "footnotes_removed", pdflayout.REFERENCES: "reference_blocks_removed"}


@dataclass(frozen=True)
class Config:
    """Options of the books reader."""

    pdf_password: str | None = None  # opens encrypted PDFs
    section_level: int = 2  # headings at this outline level or above start a record
    max_chars: int = 40_000  # a longer section is split at paragraph boundaries
    min_section_chars: int = 200  # a shorter section leads into the next record
    back_matter: tuple[str, ...] = (  # headings cut with their section (regex, whole title, any case)
        r"appendix.*", r"appendices.*", r"references?", r"bibliography", r"(?:subject |author )?index",
        r"further reading", r"suggested readings?", r"acknowledge?ments?", r"funding", r"abbreviations",
        r"(?:conflicts? of interests?|competing interests?)(?: statement)?", r"authors?'? contributions?",
        r"additional files?", r"附\s*录.*", r"参考文献", r"参考书目", r"索\s*引", r"致\s*谢", r"缩略语.*")
    contents: tuple[str, ...] = (r"(?:table of )?contents", r"目\s*录", r"目\s*次")
    table_finder: str = "rules"  # rules (ruling lines and rows), pymupdf (page.find_tables), off
    header_band: float = 0.1  # top and bottom share of a page where running headers and footers stand
    header_window: int = 6  # pages on each side a header must repeat on
    table_warning: float = 0.5  # a page that loses more than this share of its characters as table is ledgered
    pua_map: tuple[str, ...] = ()  # private-use code points to map, e.g. "U+E000..U+E009=0123456789"

    def __post_init__(self) -> None:
        if self.table_finder not in ("rules", "pymupdf", "off"):
            raise ValueError(f"table_finder must be rules, pymupdf or off, not {self.table_finder!r}")
        try:  # a bad entry is an error before any file is read
            pdftext.parse_char_map(self.pua_map)
        except ValueError as err:
            raise ValueError(f"pua_map: {err}") from None


def units(path: Path, cfg: Config) -> int:
    """Page count, for the progress bar (1 when the file cannot be opened)."""
    try:
        with pymupdf.open(path) as doc:
            return max(1, doc.page_count)
    except Exception:  # the reader reports what is wrong with the file
        return 1


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """One record per chapter or section of one book."""
    shown = pymupdf.TOOLS.mupdf_display_errors()
    pymupdf.TOOLS.mupdf_display_errors(False)  # MuPDF's complaints go to the ledger, not the terminal
    try:
        doc = _open(ref, cfg, ledger)
        with doc:
            return (yield from _read_book(ref, cfg, ledger, doc))
    finally:
        pymupdf.TOOLS.mupdf_display_errors(shown)


def _open(ref: FileRef, cfg: Config, ledger: Ledger) -> pymupdf.Document:
    """Open a book or raise ``NotText`` saying what is wrong and what to do."""
    path, suffix = ref.path, ref.path.suffix.lower()
    if suffix not in SUFFIXES:
        raise NotText(f"unsupported book format {suffix or '(no suffix)'!r}; expected {', '.join(SUFFIXES)}",
                      "unsupported_format")
    if path.stat().st_size == 0:
        raise NotText("file is empty (0 bytes)", "empty_file")
    if suffix == ".pdf":
        with open(path, "rb") as f:
            head = f.read(1024)
        if b"%PDF-" not in head:
            raise NotText(f"not a PDF (it starts with {head[:12]!r}); check the file or its extension", "not_pdf")
    pymupdf.TOOLS.reset_mupdf_warnings()
    try:
        doc = pymupdf.open(path)
    except Exception as err:
        raise NotText(f"cannot be opened as {suffix[1:].upper()} ({err}); the file is damaged or truncated",
                      "corrupt_file") from None
    if doc.needs_pass:
        opened = bool(cfg.pdf_password) and doc.authenticate(cfg.pdf_password)
        if not opened:
            doc.close()
            raise NotText("file is encrypted (pass --pdf-password or remove it)" if not cfg.pdf_password
                          else "file is encrypted and --pdf-password does not open it", "encrypted")
    if doc.page_count == 0:
        doc.close()
        raise NotText("the file has no pages; it is damaged or truncated", "corrupt_file")
    if doc.is_repaired:
        warnings = " ".join(pymupdf.TOOLS.mupdf_warnings().split())[:300]
        ledger.modify(ref.id(), "repaired_file", f"books: '{ref.relpath}' is damaged (truncated or a broken "
                      f"cross-reference table) and was repaired; check its records ({warnings})")
    return doc


def _read_book(ref: FileRef, cfg: Config, ledger: Ledger, doc: pymupdf.Document) -> Iterator[dict]:
    stats: Counter[str] = Counter()
    rows_before = len(ledger.rows)
    plan = pdfplan.build(doc, pdftext.parse_char_map(cfg.pua_map))
    sections = Sections(cfg, plan.outline, stats)
    titles = {k for h in plan.outline for k in (title_key(h.title), title_key(bare(h.title))) if len(k) >= 2}
    titles |= {title_key(t) for t in [(doc.metadata or {}).get("title") or ""] if len(title_key(t)) >= 2}
    running = pdflayout.Running(pdflayout.RunningConfig(
        cfg.header_band, cfg.header_window, is_title=lambda s: _is_title(s, titles)))
    chars = pdftext.Chars(plan.glyphs, pdftext.char_map(cfg.pua_map), stats, None if plan.inferred else plan.infer)
    unit_starts = starts(cfg)
    scanned: list[int] = []
    meta = {"file": ref.relpath, "format": Path(ref.relpath).suffix.lower().lstrip("."),
            "book_title": (doc.metadata or {}).get("title") or None, "outline": bool(plan.outline)}

    def events(pages: Iterator[pdflayout.Page]) -> Iterator[dict]:
        for page in pages:
            as_table = 0
            for block in page.blocks:
                if block.kind in pdflayout.REASONS:
                    n = characters(block.text)
                    stats[_REMOVED[block.kind]] += 1
                    stats["text_removed_" + pdflayout.REASONS[block.kind]] += n
                    as_table += n if block.kind == pdflayout.TABLE else 0
            on_page = sum(characters(b.text) for b in page.blocks) if as_table else 0
            if as_table and as_table > cfg.table_warning * on_page:
                stats["pages_table_warning"] += 1
                ledger.modify(ref.id(f"p{page.number + 1}"), "table_share", f"books: '{ref.relpath}' page "
                              f"{page.number + 1}: {as_table:,} of its {on_page:,} characters removed as table; "
                              f"check the page (table_finder = \"off\" keeps tables)")
            page.blocks = pdflayout.reading_order(page.body())
            for event in sections.page(page):
                yield from _emit(event, ref, ledger, meta, stats)

    for n in range(doc.page_count):
        try:
            page = doc.load_page(n)
            layout = pdflayout.read_page(page, n, unit_starts, chars, plan.span_tables)
            layout.tables, figures = pdftables.mark(page, layout.blocks, cfg.table_finder)
            pdfmatter.mark(layout.blocks, n, layout.height)
        except Exception as err:  # one damaged page must not lose the book
            ledger.quarantine(ref.id(f"p{n + 1}"), "page_error", f"books: '{ref.relpath}' page {n + 1} cannot "
                              f"be read ({type(err).__name__}: {err}); the other pages are kept")
            continue
        stats["pages"] += 1
        stats["tables_removed"] += layout.tables
        stats["figures_removed"] += layout.images + figures
        if not layout.has_text:
            if layout.images or page.get_images():
                scanned.append(n + 1)
            else:
                stats["pages_blank"] += 1
        elif scanned:
            _scanned(ref, ledger, scanned, stats)
        yield from events(running.push(layout))
    if scanned:
        _scanned(ref, ledger, scanned, stats)
    yield from events(running.flush())
    for event in sections.finish():
        yield from _emit(event, ref, ledger, meta, stats)
    if not stats["records"] and not any(row[3] != "modify" for row in ledger.rows[rows_before:]):
        _nothing_read(ref, ledger, doc, stats)
    _glyph_rows(ref, ledger, plan.glyphs, chars.seen, stats)
    stats.update(sections.stats)
    stats["text_out"] += 0  # present even for a book that gave no record
    return dict(sorted(stats.items()))


def _is_title(text: str, titles: set[str]) -> bool:
    """Whether a head line is a title of the book's outline (its number and page number aside)."""
    key = title_key(re.sub(r"\d+", "", text))
    return bool(key) and (key in titles or title_key(bare(re.sub(r"^[\d\s]+", "", text.strip()))) in titles)


def _glyph_rows(ref: FileRef, ledger: Ledger, gm: pdfplan.GlyphMap, seen: dict[int, list], stats: Counter[str]) -> None:
    """Ledger what the glyph map inferred per font, and the glyphs that stayed unmapped."""
    for r in gm.reports:
        if r.mapped:
            pairs = ", ".join(f"U+{c:04X}={v}" for c, v in sorted(r.mapped.items()))
            how = ", ".join(f"{k} {v}" for k, v in sorted(r.evidence.items()))
            ledger.modify(ref.id(f"font{r.xref}"), "glyph_map", f"books: '{ref.relpath}' font '{r.font}': "
                          f"{len(r.mapped)} glyphs without Unicode mapped ({pairs}); evidence: {how}")
            stats["glyphs_inferred"] += len(r.mapped)
        if r.conflicts:
            ledger.modify(ref.id(f"font{r.xref}"), "glyph_map_conflict", f"books: '{ref.relpath}' font "
                          f"'{r.font}': evidence disagrees ({'; '.join(r.conflicts)}); its glyphs stay unmapped")
    by_font: dict[str, list[str]] = {}
    for code, (count, example) in sorted(seen.items()):
        for font in gm.unmapped.get(code, ["(no font: private use or U+FFFD in the text layer)"]):
            by_font.setdefault(font, []).append(f"U+{code:04X}×{count} (e.g. '{example}')")
    for font, items in sorted(by_font.items()):
        ledger.modify(ref.id("glyphs"), "unmapped_glyph", f"books: '{ref.relpath}' font '{font}': "
                      f"{'; '.join(items)} removed: no Unicode and none could be inferred; map them with the "
                      f"pua_map option (e.g. pua_map = [\"U+E000..U+E009=0123456789\"])")


def _nothing_read(ref: FileRef, ledger: Ledger, doc: pymupdf.Document, stats: Counter[str]) -> None:
    """A book that gave no record and no cut-out part is still accounted for."""
    if doc.is_repaired:
        ledger.quarantine(ref.id(), "corrupt_file", f"books: cannot read '{ref.relpath}': it is damaged "
                          f"(truncated?) and none of its {doc.page_count} pages could be read after repair")
    else:
        ledger.drop(ref.id(), "no_text", f"books: '{ref.relpath}': none of its {doc.page_count} pages has "
                    f"text ({stats['pages_blank']} blank)")


def _scanned(ref: FileRef, ledger: Ledger, pages: list[int], stats: Counter[str]) -> None:
    """Ledger a run of pages that are images without a text layer."""
    a, b = pages[0], pages[-1]
    span = f"p{a}" if a == b else f"p{a}-{b}"
    ledger.drop(ref.id(span), "no_text_layer", f"books: '{ref.relpath}' page{'s' if b > a else ''} "
                f"{span[1:]}: scanned images without a text layer (not OCRed); run OCR on the file to include them")
    stats["pages_no_text"] += b - a + 1
    pages.clear()


def _emit(event: Doc | Cut, ref: FileRef, ledger: Ledger, meta: dict, stats: Counter[str]) -> Iterator[dict]:
    """Ledger a cut, or strip a section's markers and yield it as a Document."""
    rid = ref.id(event.locator)
    if isinstance(event, Cut):
        ledger.drop(rid, event.reason, f"books: '{ref.relpath}' {event.detail}")
        stats[f"{event.reason}_cut"] += 1
        return
    joined = "\n\n".join(event.paragraphs)
    body = pdftext.strip_markers(joined).strip()
    stats["text_removed_citation_marker"] += characters(joined) - characters(body)
    if not body:
        ledger.drop(rid, "empty_text", f"books: '{ref.relpath}' pages {event.pages[0]}-{event.pages[1]}: no text")
        return
    stats["records"] += 1
    stats["text_out"] += characters(body)
    yield {
        "id": rid,
        "source": ref.source,
        "text": body,
        "lang": text.detect_lang(body, sample=600),
        "meta": {**meta, "title": event.title, "chapter": event.chapter, "level": event.level,
                 "pages": list(event.pages), "page_span": f"{event.pages[0]}-{event.pages[1]}",
                 "part": event.part},
    }

"""Books: PDF (and EPUB, MOBI, XPS, FB2) into clean running text, one record per chapter or section.

A book is read in two phases (the readers' ``read``/``finish`` form, so that a long book can be
cut into page ranges read by parallel tasks, with the same records whatever the cut):

1. ``read``: the pages of the book, or of one page range (``parts``: ranges of ``part_pages``),
   each on its own (``readers/pdf/pages.py``): ``pdfplan.build`` (the outline; the glyph map that
   recovers the text of glyphs the PDF gives no Unicode for, inferred once a page needs it:
   ``readers/pdf/fonts.py``, ``glyphs.py``; for a book cut into ranges, inferred once when it is cut
   and carried by each range's descriptor); ``pdflayout.read_page`` (text blocks, raw codes for
   glyphs without Unicode, never U+FFFD, through ``pdftext.Chars``: glyph map, radicals,
   ``pua_map``, ftfy, NFKC, ``text_in`` counted; images, text inside figures and figure captions;
   a manuscript's line numbers, in the margin or read into their lines: ``line_numbers``);
   ``pdftables.mark`` (tables: ruling lines, cell grids, rows, prose kept; table notes, captions,
   vector-figure labels); ``pdfmatter.mark`` (front matter, footnotes, headless reference lists).
   Each page becomes a piece; MuPDF's warnings about a page become a ``damaged_page`` row.
2. ``finish``: the pieces of every range in page order: ``pdflayout.Running`` (running headers,
   footers and page numbers, each page compared with up to ``header_window`` pages on either
   side), ``reading_order`` (columns), then ``booksections.Sections`` (headings from the outline or
   the type, back matter and tables of contents cut, paragraphs joined across columns and pages,
   hyphens decided with a word list, one ``Doc`` per chapter or section, split before
   ``max_chars``); citation and footnote markers are stripped last.

Every character of every page is counted: the statistics ``text_in``, ``text_out`` and
``text_removed_<reason>`` balance (``curate.core.textbalance``; ``curate audit`` checks them). Pages
are the reader's input units: ``pages`` counts those read; every other page has a ledger row.

Ids are ``books/<file>#ch3.2`` (outline or heading numbering), ``#ch3.2-part2`` for later parts of a
long section and ``#front`` for the text before the first heading. The ledger gets a ``drop`` row
for every cut-out part (``back_matter``, ``table_of_contents``) and every run of scanned pages
(``no_text_layer``); ``modify`` rows for the glyph map of each font (``glyph_map``, with its
evidence, or ``glyph_map_conflict``), for glyphs that stay unmapped (``unmapped_glyph``, per font
and code point with a count and an example), for pages that lose most of their text as table
(``table_share``), for pages MuPDF reports damaged (``damaged_page``) and for repaired files; and a
``quarantine`` row for unreadable pages. Files that cannot be opened (encrypted, empty, truncated
beyond repair, not a PDF) are quarantined whole, with a message that says what to do.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from curate.core.ledger import Ledger
from curate.core.textbalance import characters
from curate.readers import FileRef
from curate.readers.pdf import layout as pdflayout
from curate.readers.pdf import pages as pdfpages
from curate.readers.pdf import plan as pdfplan
from curate.readers.pdf import pymupdf  # without its layout model (see readers/pdf/__init__.py)
from curate.readers.pdf import symbols as pdfsymbols
from curate.readers.pdf import text as pdftext
from curate.readers.pdf.headings import bare, starts, title_key
from curate.readers.pdf.sections import Cut, Doc, Sections
from curate.text import normalise as text
from curate.text.textio import NotText

SUFFIXES = (".pdf", ".epub", ".mobi", ".xps", ".oxps", ".fb2")
# PHI scrubbing is on for books unless a recipe says ``scrub = false``: papers' first pages and prefaces
# carry authors' e-mail addresses and phone numbers (``build.recipes``).
SCRUB = True
UNIT = "page"
# Characters of text per record shard of a book read in page ranges (a long one): its records go into
# several shards, so that the passes after the read (clean, quality, dedup's apply) share it between the
# workers instead of running one task for it after every other; other books stay one shard each.
SHARD_TEXT = 256_000
_REMOVED = {pdflayout.RUNNING: "running_heads_removed", pdflayout.PAGE_NUMBER: "page_numbers_removed",
            pdflayout.CAPTION: "captions_removed", pdflayout.FIGURE: "figure_text_removed",
            pdflayout.TABLE: "table_blocks_removed", pdflayout.FRONT: "front_matter_blocks_removed",
            pdflayout.FOOTNOTE: "footnotes_removed", pdflayout.REFERENCES: "reference_blocks_removed",
            pdflayout.LINE_NUMBER: "line_numbers_removed"}


@dataclass(frozen=True)
class Config:
    """Options of the books reader."""

    pdf_password: str | None = None  # opens encrypted PDFs
    section_level: int = 2  # headings at this outline level or above start a record
    max_chars: int = 40_000  # a longer section is split at paragraph boundaries
    min_section_chars: int = 200  # a shorter section leads into the next record
    back_matter: tuple[str, ...] = (  # headings cut with their section (regex, whole title, any case)
        r"appendix.*", r"appendices.*", r"references?", r"bibliography", r"(?:subject |author )?index",
        r"further reading", r"suggested readings?", r"acknowledge?ments?", r"funding(?: information)?",
        r"(?:list of )?abbreviations", r"(?:conflicts? of interests?|competing interests?)(?: statement)?",
        r"authors?['’]? (?:contributions?|details|information)", r"additional (?:files?|information)",
        r"(?:availability of data(?: and materials?)?|data availability)(?: statement)?",
        r"ethics approval(?: and consent to participate)?", r"consent for publication", r"declarations?",
        r"publisher['’]?s note", r"supplementary (?:materials?|information|data)", r"pre-?publication history",
        r"附\s*录.*", r"参考文献", r"参考书目", r"索\s*引", r"致\s*谢", r"缩略语.*")
    contents: tuple[str, ...] = (r"(?:table of )?contents", r"目\s*录", r"目\s*次")
    table_finder: str = "rules"  # rules (ruling lines and rows), pymupdf (page.find_tables), off
    header_band: float = 0.1  # top and bottom (and side) share of a page where running headers and footers stand
    header_window: int = 6  # pages on each side a header must repeat on
    table_warning: float = 0.5  # a page that loses more than this share of its characters as table is ledgered
    pua_map: tuple[str, ...] = ()  # private-use code points to map, e.g. "U+E000..U+E009=0123456789"
    part_pages: int = 150  # a book of twice this many pages or more is read in page ranges of about this many

    def __post_init__(self) -> None:
        if self.table_finder not in ("rules", "pymupdf", "off"):
            raise ValueError(f"table_finder must be rules, pymupdf or off, not {self.table_finder!r}")
        try:  # a bad entry is an error before any file is read
            pdftext.parse_char_map(self.pua_map)
        except ValueError as err:
            raise ValueError(f"pua_map: {err}") from None


def warm_up() -> None:
    """Fill the reader's tables that do not depend on the book (``readers/pdf/warm.py``): a build's worker
    pool runs this once, before the workers' first pages (``core.workers.warm_up``)."""
    from curate.readers.pdf import warm

    warm.fill()


def units(path: Path, cfg: Config) -> int:
    """Page count, for the progress bar (1 when the file cannot be opened)."""
    try:
        with pymupdf.open(path) as doc:
            return max(1, doc.page_count)
    except Exception:  # the reader reports what is wrong with the file
        return 1


def parts(path: Path, cfg: Config, part_bytes: int) -> list[dict] | None:
    """Page ranges of a long book (``part_pages`` pages or so each), read by parallel tasks; ``None``
    (read it whole) for a shorter book, one that cannot be opened, or when the build does not cut
    files (``part_bytes`` 0). A PDF is cut by pages, the unit its cost follows, not by bytes."""
    if part_bytes <= 0 or cfg.part_pages <= 0 or path.suffix.lower() not in SUFFIXES:
        return None
    try:
        with pymupdf.open(path) as doc:
            if doc.needs_pass and not (cfg.pdf_password and doc.authenticate(cfg.pdf_password)):
                return None
            count = doc.page_count // cfg.part_pages
            if count < 2:
                return None
            cuts = [round(k * doc.page_count / count) for k in range(count + 1)]
            glyphs = _glyph_map(doc, cfg)
    except Exception:  # the whole-file read reports what is wrong with it
        return None
    ranges = [{"start": a, "stop": b} for a, b in itertools.pairwise(cuts)]
    return [{**r, "glyphs": glyphs} for r in ranges] if glyphs is not None else ranges


def _glyph_map(doc: pymupdf.Document, cfg: Config) -> dict | None:
    """The book's glyph map, inferred once here for all its page ranges (instead of once per range, a tenth
    of a second or more each) as the range tasks would infer it; ``None`` when that cannot be done without
    MuPDF complaining (each range then infers it as it reads)."""
    shown = pymupdf.TOOLS.mupdf_display_errors()
    pymupdf.TOOLS.mupdf_display_errors(False)
    try:
        pdfsymbols.repair(doc)  # as each range does before it reads a page
        gm = pdfplan.first_pass(doc, pdftext.parse_char_map(cfg.pua_map))
    except Exception:  # a damaged font or page: the ranges infer it, and report what is wrong
        return None
    finally:
        pymupdf.TOOLS.mupdf_display_errors(shown)
    return gm.to_part() if gm is not None else None


def part_units(part: dict) -> int:
    """Pages of a page range (its progress and its share of the work)."""
    return part["stop"] - part["start"]


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[pdfpages.Start | pdfpages.PageOut]:
    """The pieces of one book, or of its page range ``ref.part`` (``readers/pdf/pages.py``)."""
    shown = pymupdf.TOOLS.mupdf_display_errors()
    pymupdf.TOOLS.mupdf_display_errors(False)  # MuPDF's complaints go to the ledger, not the terminal
    try:
        first = ref.part is None or ref.part["start"] == 0
        doc = _open(ref, cfg, ledger, report=first)
        with doc:
            pages = range(ref.part["start"], ref.part["stop"]) if ref.part is not None else range(doc.page_count)
            stats: Counter[str] = Counter()
            given = ref.part.get("glyphs") if ref.part is not None else None
            opts = pdfpages.Options(starts(cfg), cfg.table_finder, pdftext.parse_char_map(cfg.pua_map),
                                    pdfplan.GlyphMap.from_part(given) if given is not None else None)
            yield from pdfpages.extract(doc, pages, opts, ledger, ref.id, ref.relpath, stats)
            return dict(sorted(stats.items()))
    finally:
        pymupdf.TOOLS.mupdf_display_errors(shown)


def read_whole(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict]:
    """Both phases on a whole book in this process: its records (the statistics of both returned)."""
    stats: dict[str, int] = {}

    def pieces() -> Iterator[pdfpages.Start | pdfpages.PageOut]:
        stats.update((yield from read(ref, cfg, ledger)) or {})

    second = yield from finish(ref, cfg, ledger, pieces())
    for k, v in second.items():
        stats[k] = stats.get(k, 0) + v
    return dict(sorted(stats.items()))


def _open(ref: FileRef, cfg: Config, ledger: Ledger, report: bool = True) -> pymupdf.Document:
    """Open a book or raise ``NotText`` saying what is wrong and what to do (a repaired file gets a
    ledger row when ``report``: once per book, from its first page range)."""
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
    if doc.is_repaired and report:
        warnings = " ".join(pymupdf.TOOLS.mupdf_warnings().split())[:300]
        ledger.modify(ref.id(), "repaired_file", f"books: '{ref.relpath}' is damaged (truncated or a broken "
                      f"cross-reference table) and was repaired; check its records ({warnings})")
    return doc


@dataclass
class _Book:
    """What ``finish`` learns of the book from its pieces."""

    start: pdfpages.Start | None = None
    seen: dict[int, list] = field(default_factory=dict)
    glyphs: pdfplan.GlyphMap | None = None
    skipped: int = 0
    damaged_empty: int = 0  # pages MuPDF could read nothing from (each has a ``damaged_page`` row)
    scanned: list[int] = field(default_factory=list)
    font_warnings: set[str] = field(default_factory=set)
    symbols: list = field(default_factory=list)

    def end(self, piece: pdfpages.End) -> None:
        """Add what one page range saw: counts add up, the first example stays."""
        for code, (count, example) in piece.seen.items():
            entry = self.seen.setdefault(code, [0, example])
            entry[0] += count
        self.glyphs = self.glyphs or piece.glyphs
        self.font_warnings |= piece.font_warnings
        self.symbols = self.symbols or piece.symbols  # every page range finds the same


def finish(ref: FileRef, cfg: Config, ledger: Ledger, pieces: Iterator) -> Iterator[dict]:
    """One record per chapter or section, from the pieces of every page range in order."""
    stats: Counter[str] = Counter()
    rows_before = len(ledger.rows)
    book = _Book()
    pieces = iter(pieces)
    for piece in pieces:  # the first page range starts with the book's outline and title
        if isinstance(piece, pdfpages.Start):
            book.start = piece
            break
        _note(piece, book)
    if book.start is None:  # no page could be read
        book.start = pdfpages.Start([], None, book.skipped, False)
    outline, title = book.start.outline, book.start.title
    sections = Sections(cfg, outline, stats)
    titles = {k for h in outline for k in (title_key(h.title), title_key(bare(h.title))) if len(k) >= 2}
    titles |= {title_key(t) for t in [title or ""] if len(title_key(t)) >= 2}
    running = pdflayout.Running(pdflayout.RunningConfig(
        cfg.header_band, cfg.header_window, is_title=lambda s: _is_title(s, titles)))
    meta = {"file": ref.relpath, "format": Path(ref.relpath).suffix.lower().lstrip("."), "book_title": title,
            "outline": bool(outline)}
    for piece in pieces:
        if not isinstance(piece, pdfpages.PageOut):
            _note(piece, book)
            continue
        layout = piece.page
        if not layout.has_text:
            if piece.scanned:
                book.scanned.append(layout.number + 1)
            elif piece.damaged:
                book.damaged_empty += 1
            else:
                stats["pages_blank"] += 1
        elif book.scanned:
            _scanned(ref, ledger, book.scanned, stats)
        # A reflowed book (EPUB, MOBI, FB2) has no running heads or page numbers: the lines that its laid-out
        # pages happen to repeat at their top or foot are text.
        yield from _events([layout] if book.start.reflowable else running.push(layout), sections, ref, cfg,
                           ledger, meta, stats)
    if book.scanned:
        _scanned(ref, ledger, book.scanned, stats)
    yield from _events(running.flush(), sections, ref, cfg, ledger, meta, stats)
    for event in sections.finish():
        yield from _emit(event, ref, ledger, meta, stats)
    if not stats["records"] and not book.skipped and not any(row[3] != "modify" for row in ledger.rows[rows_before:]):
        _nothing_read(ref, ledger, book, stats)
    if book.font_warnings:
        ledger.modify(ref.id("fonts"), "damaged_font", f"books: '{ref.relpath}': MuPDF reported problems with "
                      f"its fonts ({'; '.join(sorted(book.font_warnings))[:300]}); text set in them may be wrong")
    pdfsymbols.ledger_rows(ref.relpath, ref.id, ledger, book.symbols, stats)
    if book.glyphs is not None:
        _glyph_rows(ref, ledger, book.glyphs, book.seen, stats)
    elif book.seen:
        _glyph_rows(ref, ledger, pdfplan.GlyphMap(), book.seen, stats)
    stats.update(sections.stats)
    stats["pages_in"] += book.start.pages  # every page is read (``pages``) or has a ledger row (``pages_unreadable``)
    stats["pages_unreadable"] += book.skipped
    stats["text_in"] += 0  # present even for a book without text (its pages are counted elsewhere)
    stats["text_out"] += 0  # ... and for a book that gave no record
    return dict(sorted(stats.items()))


def _note(piece: object, book: _Book) -> None:
    if isinstance(piece, pdfpages.Skipped):
        book.skipped += 1
    elif isinstance(piece, pdfpages.End):
        book.end(piece)


def _events(pages: Iterator[pdflayout.Page], sections: Sections, ref: FileRef, cfg: Config, ledger: Ledger,
            meta: dict, stats: Counter[str]) -> Iterator[dict]:
    """Count what each page lost, read its body in order into sections, and emit what they close."""
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
        page.blocks = pdflayout.reading_order(page.body(), page.others())
        for event in sections.page(page):
            yield from _emit(event, ref, ledger, meta, stats)


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
        fonts = dict.fromkeys(f or "(a font without a name)" for f in gm.unmapped.get(code, ()))  # each once
        for font in fonts or ["(no font: private use or U+FFFD in the text layer)"]:
            by_font.setdefault(font, []).append(f"U+{code:04X}×{count} (e.g. '{example}')")
    for font, items in sorted(by_font.items()):
        ledger.modify(ref.id("glyphs"), "unmapped_glyph", f"books: '{ref.relpath}' font '{font}': "
                      f"{'; '.join(items)} removed: no Unicode and none could be inferred; map them with the "
                      f"pua_map option (e.g. pua_map = [\"U+E000..U+E009=0123456789\"])")


def _nothing_read(ref: FileRef, ledger: Ledger, book: _Book, stats: Counter[str]) -> None:
    """A book that gave no record and no cut-out part is still accounted for."""
    pages = book.start.pages
    if book.start.repaired or book.damaged_empty:
        ledger.quarantine(ref.id(), "corrupt_file", f"books: cannot read '{ref.relpath}': it is damaged "
                          f"and none of its {pages} pages gave text ({book.damaged_empty} reported damaged)")
    elif removed := {k.removeprefix("text_removed_"): n for k, n in sorted(stats.items())
                     if k.startswith("text_removed_") and n}:
        reasons = ", ".join(f"{why.replace('_', ' ')} {n:,}" for why, n in removed.items())
        ledger.drop(ref.id(), "no_text", f"books: '{ref.relpath}': no body text left on its {pages} page"
                    f"{'s' if pages != 1 else ''}: its {sum(removed.values()):,} characters were all removed "
                    f"({reasons})")
    else:
        ledger.drop(ref.id(), "no_text", f"books: '{ref.relpath}': none of its {pages} pages has "
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

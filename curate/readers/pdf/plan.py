"""The whole-book first pass: the outline, and the glyph map that page extraction uses.

``build`` is cheap (the outline); the glyph map is inferred when a page first needs it
(``Plan.infer``: it reads font dictionaries and programs, and a dozen sample pages only when a
font has glyphs without Unicode). It is a function of the file alone, so page extraction needs
nothing else besides the page itself: a book cut into page ranges, each extracted on its own,
gives the same pages as one pass. A book cut into page ranges has its map inferred once, when it is
cut (``first_pass``, in the build's planning), and each range's descriptor carries it
(``GlyphMap.to_part``); a range still marks the map as used only once a page of its own needs it.

The glyph map (``GlyphMap``) turns what extraction gives for glyphs without Unicode (their raw
code, asked for with ``TEXT_CID_FOR_UNKNOWN_UNICODE``) into text:

- inferred per font (``glyphs``): font program cmap, glyph names, digit shapes, checked per font;
- cross-checked with the printed page numbers and numbered lists of sample pages; a font whose
  page numbers contradict its shapes is left unmapped;
- overridden by the recipe's ``pua_map`` entries;
- what stays unmapped is removed from the text and reported per font and code point;
- the letters of dingbat fonts (Wingdings, ZapfDingbats, ...) are bullets: ``•``.

A code point is only translated in running text when no font of the book uses it as a real
character (private-use, control and unassigned code points, and codes no ToUnicode map produces);
so the map is needed only once a page shows such a code point (``fonts.has_raw_code``). A raw code
that reads as a real character (a simple font's byte, a CID in the ideograph range) is left as
extracted: telling it apart needs the span's font. A page that draws a dingbat font's glyph (a
lone symbol at a line start, and such a font among the page's fonts: ``Plan.span_tables``) is
extracted span by span, each span through its own font's table, so that its letters become bullets.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import pymupdf

from curate.readers.pdf import fonts as pdffonts
from curate.readers.pdf import glyphs
from curate.readers.pdf.headings import Heading

SAMPLE_PAGES = 10
UNMAPPED = "\U0010fffd"  # stands for a glyph without Unicode in font-aware extraction
_EDGE = 0.1  # top and bottom share of the page where page numbers stand
_FLAGS = pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_CID_FOR_UNKNOWN_UNICODE


@dataclass
class FontReport:
    """What the book's glyph map says about one font, for the ledger and the statistics."""

    font: str
    xref: int
    mapped: dict[int, str]
    evidence: dict[str, int]
    unmapped: set[int]
    conflicts: list[str]


@dataclass
class GlyphMap:
    """Translation of the raw codes of glyphs without Unicode (see the module doc)."""

    table: dict[int, str] = field(default_factory=dict)  # code point -> text ("" removes it)
    unmapped: dict[int, list[str]] = field(default_factory=dict)  # code point -> fonts that leave it unmapped
    per_font: dict[str, dict[int, str]] = field(default_factory=dict)  # font name -> its own table
    reports: list[FontReport] = field(default_factory=list)


    def to_part(self) -> dict:
        """The map as plain lists and dicts (a page range's descriptor carries it to its task)."""
        return {"table": list(self.table.items()), "unmapped": list(self.unmapped.items()),
                "per_font": [[name, list(t.items())] for name, t in self.per_font.items()],
                "reports": [[r.font, r.xref, list(r.mapped.items()), r.evidence, sorted(r.unmapped), r.conflicts]
                            for r in self.reports]}

    @classmethod
    def from_part(cls, part: dict) -> GlyphMap:
        """The map ``to_part`` gave (in the same order: ledger rows follow it)."""
        return cls(dict(part["table"]), {c: list(f) for c, f in part["unmapped"]},
                   {name: dict(t) for name, t in part["per_font"]},
                   [FontReport(font, xref, dict(mapped), dict(evidence), set(unmapped), list(conflicts))
                    for font, xref, mapped, evidence, unmapped, conflicts in part["reports"]])


@dataclass
class Plan:
    """What a book's first pass found: the outline, and the glyph map once a page needs it."""

    outline: list[Heading]
    glyphs: GlyphMap
    doc: pymupdf.Document | None = None
    overrides: dict[int, str] = field(default_factory=dict)
    inferred: bool = False
    given: GlyphMap | None = None  # the map inferred beforehand for the whole book (``first_pass``)

    held: str = ""  # MuPDF warnings of the page being read when the map was inferred

    def infer(self) -> GlyphMap:
        """The book's whole glyph map (inferred once, or the one given)."""
        if not self.inferred and self.given is not None:  # inferred without a warning: nothing to set aside
            self.glyphs, self.inferred = self.given, True
        if not self.inferred:
            held = pymupdf.TOOLS.mupdf_warnings()
            self.glyphs = glyph_map(self.doc, self.overrides)
            pymupdf.TOOLS.reset_mupdf_warnings()  # the sample pages' complaints are theirs, not the page's
            self.held, self.inferred = held, True
        return self.glyphs

    def held_warnings(self) -> str:
        """MuPDF warnings of the current page set aside while the map was inferred (then forgotten)."""
        held, self.held = self.held, ""
        return held + "\n" if held else ""

    def span_tables(self, page: pymupdf.Page, texts: list[str]) -> dict[str, dict[int, str]] | None:
        """Per-font tables to extract ``page`` with span by span when it draws a dingbat font's glyph
        (a lone symbol starts a line of its text blocks ``texts`` and the page uses such a font)."""
        if not any(_LONE_SYMBOL.search(t) for t in texts):
            return None
        try:
            names = [base for *_, base, _, _ in page.get_fonts()]
        except Exception:  # a damaged resource dictionary: the page is read as its blocks give it
            return None
        return self.infer().per_font if any(_DINGBATS.search(name) for name in names) else None


def _safe(code: int, produced: set[int]) -> bool:
    """Whether a raw code, read as a code point, can never be a real character of this book."""
    return pdffonts.raw_code(code) and code not in produced


def _sample(doc: pymupdf.Document, unknown: set[int]) -> tuple[set[int], list[tuple[int, str]], list[str | None]]:
    """Read a few pages spread over the book: the unknown code points they show, their page-number
    strings made of such codes (top or bottom band), and their lines (``None`` between pages)."""
    n = doc.page_count
    count = min(n, SAMPLE_PAGES, max(3, n // 8))
    picks = sorted({round(i * (n - 1) / max(1, count - 1)) for i in range(count)})
    used: set[int] = set()
    numbers: list[tuple[int, str]] = []
    lines: list[str | None] = []
    for i in picks:
        page = doc.load_page(i)
        height = page.rect.height
        for _, y0, _, y1, text, *_ in page.get_text("blocks", flags=_FLAGS):
            used.update(c for c in map(ord, text) if c in unknown)
            for line in text.split("\n"):
                lines.append(line)
                core = line.strip(" \t-–—·•|.")
                if (y1 <= _EDGE * height or y0 >= (1 - _EDGE) * height) and 0 < len(core) <= 4 \
                        and any(ord(c) in unknown for c in core):
                    numbers.append((i, core))
        lines.append(None)
    return used, numbers, lines


def _check_with_pages(inferred: list[glyphs.Inference], numbers: list[tuple[int, str]],
                      lines: list[str | None]) -> None:
    """Cross-check inferred digits with page numbers and lists of sample pages; fill gaps from them."""
    unknown = {inf.font.shown.get(c, c) for inf in inferred for c in inf.font.unknown}
    pages = glyphs.solve_page_numbers(numbers, unknown)
    lists = glyphs.count_lists(lines, unknown)
    for inf in inferred:
        for source, found in (("pages", pages), ("lists", lists)):
            back = {inf.font.shown.get(c, c): c for c in inf.font.unknown}  # code point in the text -> code
            mine = {back[c]: d for c, d in found.items() if c in back}
            clash = [c for c, d in mine.items() if c in inf.mapped and inf.mapped[c] != d]
            if clash and source == "pages":
                inf.conflicts.append(f"page numbers read U+{clash[0]:04X} as '{mine[clash[0]]}', its shape "
                                     f"as '{inf.mapped[clash[0]]}'")
                continue
            agree = [c for c, d in mine.items() if inf.mapped.get(c) == d]
            if agree:
                inf.evidence[source] += len(agree)
            if source == "pages" and not clash:
                for c, d in mine.items():
                    if c not in inf.mapped and d not in inf.mapped.values():
                        inf.mapped[c] = d
                        inf.evidence["pages"] += 1


_DINGBATS = re.compile(r"wingding|dingbat|webding|zapf|sorts|bullet", re.I)
# A line that starts with a lone symbol: what a dingbat bullet reads as in a font that names its glyphs
# by letters ("l", "n", "q", "u"; not "a", "A", "I" or a digit, which start lines of text).
_LONE_SYMBOL = re.compile(r"(?m)^[ \t]*(?![aAI\d])[!-~\uf021-\uf0ff](?:[ \t]|$)")
# In a dingbat font a letter code is a symbol: read "l", "n", "q" or "r" at a list item as a bullet.
_BULLETS = {**{c: "•" for c in range(0x21, 0x7F)}, **{c: "•" for c in range(0xF021, 0xF100)}}


def _dingbats(survey: list[pdffonts.Font], gm: GlyphMap) -> None:
    """Dingbat fonts' letters become bullets, span by span."""
    for font in survey:
        if _DINGBATS.search(font.name):
            gm.per_font.setdefault(font.name, {}).update(_BULLETS)
            gm.reports.append(FontReport(font.name, font.xref, {}, {"dingbat font: letters read as bullets": 1},
                                         set(), []))


def glyph_map(doc: pymupdf.Document, overrides: dict[int, str]) -> GlyphMap:
    """The book's glyph map: inferred and checked per font, with the recipe's overrides on top."""
    survey = pdffonts.survey(doc)
    gm = GlyphMap()
    produced = {ord(v) for f in survey for v in f.to_unicode.values() if len(v) == 1 and not pdffonts.raw_code(ord(v))}
    # Only codes that read as code points no font uses for text can be translated in running text;
    # a sample of pages tells whether the book draws any (a font program may hold glyphs its text
    # never uses, and a book whose sample shows none is not worth the inference).
    safe = {c for f in survey for c in (f.shown.get(u, u) for u in f.unknown) if _safe(c, produced)}
    used, numbers, lines = _sample(doc, safe) if safe else (set(), [], [])
    inferred = [glyphs.infer_font(f) for f in survey if f.unknown] if used else []
    if used:
        _check_with_pages(inferred, numbers, lines)
    votes: dict[int, Counter[str]] = {}
    unsafe: set[int] = set()
    for inf in inferred:
        font = inf.font
        mapped = {} if any("page numbers" in c for c in inf.conflicts) else dict(inf.mapped)
        shown = font.shown  # codes whose ToUnicode gives private use are seen as that code point
        mapped = {shown.get(c, c): v for c, v in mapped.items()}
        unmapped = {shown.get(c, c) for c in font.unknown} - set(mapped)
        gm.reports.append(FontReport(font.name, font.xref, mapped, dict(inf.evidence), unmapped, inf.conflicts))
        # span by span, an unmapped code becomes U+10FFFD, which text repair counts and removes
        gm.per_font.setdefault(font.name, {}).update({**dict.fromkeys(unmapped, UNMAPPED), **mapped})
        for code in {shown.get(c, c) for c in font.unknown}:
            votes.setdefault(code, Counter())[mapped.get(code, "")] += 1
            if code not in mapped:
                gm.unmapped.setdefault(code, []).append(font.name)
            if not _safe(code, produced):
                unsafe.add(code)
    _dingbats(survey, gm)
    for code, counter in votes.items():
        value = counter.most_common(1)[0][0] if len(counter) == 1 else ""  # fonts disagree: unmapped
        if _safe(code, produced):
            gm.table[code] = value
    for code, value in overrides.items():  # the recipe's pua_map wins
        gm.table[code] = value
        gm.unmapped.pop(code, None)
        for table in gm.per_font.values():
            if code in table:
                table[code] = value
    return gm


def first_pass(doc: pymupdf.Document, overrides: dict[int, str]) -> GlyphMap | None:
    """The book's glyph map, inferred once for all its page ranges (``doc`` just opened, its symbol glyphs
    repaired: ``symbols.repair``); ``None`` when MuPDF complained while it was inferred, so that each range
    infers it itself and its page warnings stay what they are without the hand-over."""
    pymupdf.TOOLS.reset_mupdf_warnings()
    gm = glyph_map(doc, overrides)
    clean = not pymupdf.TOOLS.mupdf_warnings()
    pymupdf.TOOLS.reset_mupdf_warnings()
    return gm if clean else None


def build(doc: pymupdf.Document, overrides: dict[int, str], given: GlyphMap | None = None) -> Plan:
    """The first pass over a book: the outline (the glyph map follows when a page needs it, or now
    when the recipe gives ``pua_map`` entries; ``given``: inferred beforehand for the whole book)."""
    outline = [Heading(level, title.strip(), page - 1) for level, title, page, *_ in doc.get_toc(simple=True)]
    plan = Plan(outline, GlyphMap(), doc, dict(overrides), given=given)
    if overrides:
        plan.infer()
    return plan

"""A small typesetter for sample books: columns, running heads, page numbers, tables, figures.

Used by ``make_samples.py`` (the bundled samples) and ``bench/books_throughput.py`` (generated
books). Latin text is set in the PDF base fonts; CJK text in pymupdf's built-in CJK font, embedded
and subset, with a ToUnicode map that can be bent the way some real textbooks' fonts are (a
character extracted as its Kangxi radical, digits in the private-use area).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pymupdf

A4 = (595.0, 842.0)
A5 = (420.0, 595.0)
_CJK_NO_LINE_START = set("，。、；：！？）》」』】…”’")
_RAISED = re.compile(r"\^\{([^}]*)\}")  # ``^{12}`` in a text: a superscript


@dataclass
class Style:
    """Page geometry and type sizes."""

    page: tuple[float, float] = A4
    columns: int = 2
    margin: float = 56.0
    gutter: float = 18.0
    size: float = 9.5
    leading: float = 12.5
    indent: float = 10.0
    para_gap: float = 4.0


@dataclass
class Facts:
    """What the typesetter did that tests check: words hyphenated at line ends, running heads."""

    hyphenated: list[str] = field(default_factory=list)
    heads: set[str] = field(default_factory=set)
    page_labels: list[str] = field(default_factory=list)


class Book:
    """Lays out text into pages; ``save`` adds running heads, page numbers and the outline."""

    def __init__(self, cjk: bool = False, style: Style | None = None, heads: tuple[str, str] = ("", ""),
                 first_number: int = 1, number_format: str = "{}", numbers_in_body_font: bool = False):
        self.doc = pymupdf.open()
        self.cjk = cjk
        self.style = style or Style()
        self.heads = heads  # (even pages, odd pages)
        self.first_number = first_number
        self.number_format = number_format
        self.numbers_in_body_font = numbers_in_body_font  # page numbers set in the CJK body font
        self.font = pymupdf.Font("cjk") if cjk else pymupdf.Font("helv")
        self.bold = pymupdf.Font("cjk") if cjk else pymupdf.Font("hebo")
        self.writers: dict[int, pymupdf.TextWriter] = {}
        self.latin: dict[int, list[tuple[float, float, str, float, bool]]] = {}  # lines to write, per page
        self.widths: dict[tuple[bool, str], float] = {}
        self.toc: list[list] = []
        self.no_head: set[int] = set()
        self.facts = Facts()
        self.page: pymupdf.Page | None = None
        self.column = 0
        self.y = 0.0
        self.top = 0.0

    # geometry ----------------------------------------------------------------------------------

    def _col_box(self) -> tuple[float, float]:
        s = self.style
        width = (self.style.page[0] - 2 * s.margin - (s.columns - 1) * s.gutter) / s.columns
        x0 = s.margin + self.column * (width + s.gutter)
        return x0, x0 + width

    def new_page(self, head: bool = True) -> None:
        """Start a page (no running head when ``head`` is false)."""
        self.page = self.doc.new_page(width=self.style.page[0], height=self.style.page[1])
        if not head:
            self.no_head.add(self.page.number)
        self.column = 0
        self.top = self.y = self.style.margin + 24

    def _room(self, height: float) -> None:
        """Move to the next column or page unless ``height`` points fit in this column."""
        if self.page is None:
            self.new_page()
        if self.y + height <= self.style.page[1] - self.style.margin - 20:
            return
        if self.column + 1 < self.style.columns:
            self.column += 1
            self.y = self.top
        else:
            self.new_page()

    def _write(self, x: float, y: float, text: str, size: float, bold: bool = False) -> None:
        if self.cjk:
            tw = self.writers.setdefault(self.page.number, pymupdf.TextWriter(self.page.rect))
            tw.append((x, y), text, font=self.bold if bold else self.font, fontsize=size)
        else:  # written at save time, lines in runs (one insert per run is much faster)
            self.latin.setdefault(self.page.number, []).append((x, y, text, size, bold))

    def _width(self, text: str, size: float, bold: bool = False) -> float:
        font = self.bold if bold else self.font
        total = 0.0
        for ch in _RAISED.sub(r"\1", text):  # a superscript is measured as body type: the wrap stays put
            w = self.widths.get((bold, ch))
            if w is None:
                w = self.widths[(bold, ch)] = font.text_length(ch, fontsize=1.0)
            total += w
        return total * size

    def _flush_latin(self, page: pymupdf.Page) -> None:
        """Write a page's Latin lines, one ``insert_text`` per run of evenly spaced lines."""
        runs: list[list[tuple[float, float, str, float, bool]]] = []
        for line in self.latin.pop(page.number, []):
            if "^{" in line[2]:  # a line with a superscript is written in pieces
                self._write_raised(page, *line)
                continue
            run = runs[-1] if runs else None
            if run and run[-1][0] == line[0] and run[-1][3:] == line[3:] and line[1] > run[-1][1] and \
                    (len(run) == 1 or abs((line[1] - run[-1][1]) - (run[1][1] - run[0][1])) < 0.01):
                run.append(line)
            else:
                runs.append([line])
        for run in runs:
            x, y, _, size, bold = run[0]
            step = (run[1][1] - run[0][1]) / size if len(run) > 1 else None
            page.insert_text((x, y), "\n".join(r[2] for r in run), fontname="hebo" if bold else "helv",
                             fontsize=size, lineheight=step)

    def _write_raised(self, page: pymupdf.Page, x: float, y: float, text: str, size: float, bold: bool) -> None:
        """A line whose ``^{...}`` parts are set as superscripts: 0.7 of the size, raised by 0.35 of it, as
        footnote and citation numbers are typeset."""
        font, name = (self.bold, "hebo") if bold else (self.font, "helv")
        for i, piece in enumerate(_RAISED.split(text)):  # odd pieces are the raised ones
            small = size * 0.7 if i % 2 else size
            if piece:
                page.insert_text((x, y - (size * 0.35 if i % 2 else 0.0)), piece, fontname=name, fontsize=small)
                x += font.text_length(piece, fontsize=small)

    # content -----------------------------------------------------------------------------------

    def chapter(self, title: str, level: int = 1, size: float = 18.0) -> None:
        """A title across the full width at the top of a new page."""
        self.new_page(head=False)
        self._write(self.style.margin, self.y, title, size, bold=True)
        self.toc.append([level, title, self.page.number + 1])
        self.top = self.y = self.y + size * 2.2

    def heading(self, title: str, level: int = 2, size: float = 11.5, outline: bool = True) -> None:
        """A heading in the column flow, wrapped to the column."""
        self._room(size * 1.6 + self.style.leading * 3)
        self.y += size * 0.8
        x0, x1 = self._col_box()
        if outline:
            self.toc.append([level, title, self.page.number + 1])
        words, line = title.split(" ") if not self.cjk else [title], ""
        for word in words:
            if line and self._width(f"{line} {word}", size, bold=True) > x1 - x0:
                self._write(x0, self.y, line, size, bold=True)
                self.y += size * 1.2
                line = word
            else:
                line = f"{line} {word}" if line else word
        self._write(x0, self.y, line, size, bold=True)
        self.y += size * 0.9 + self.style.para_gap

    def paragraph(self, text: str, size: float | None = None, indent: bool = True) -> None:
        """Running text, wrapped and flowed over columns and pages."""
        size = size or self.style.size
        first = True
        for line in self._wrap(text, size, self.style.indent if indent else 0.0):
            self._room(self.style.leading)
            x0, _ = self._col_box()
            self.y += self.style.leading if not first or self.y > self.top else self.style.leading * 0.8
            self._write(x0 + (self.style.indent if first and indent else 0.0), self.y, line, size)
            first = False
        self.y += self.style.para_gap

    def _wrap(self, text: str, size: float, indent: float) -> list[str]:
        x0, x1 = self._col_box()
        width = x1 - x0
        return self._wrap_cjk(text, size, width, indent) if self.cjk else self._wrap_latin(text, size, width, indent)

    def _wrap_latin(self, text: str, size: float, width: float, indent: float) -> list[str]:
        lines: list[str] = []
        line = ""
        for word in text.split():
            room = width - (indent if not lines else 0.0)
            candidate = f"{line} {word}" if line else word
            if self._width(candidate, size) <= room:
                line = candidate
                continue
            head, tail = self._hyphenate(line, word, size, room)
            if head:
                lines.append(f"{line} {head}" if line else head)
                self.facts.hyphenated.append(word.strip(".,;:()"))
                line = tail
            else:
                lines.append(line)
                line = word
        return [*lines, line] if line else lines

    def _hyphenate(self, line: str, word: str, size: float, room: float) -> tuple[str, str]:
        """Split ``word`` at a hyphen, or between letters for long words, to fill the line."""
        core = word.rstrip(".,;:)")
        if "-" in core:
            head = core[:core.index("-") + 1]
            if self._width(f"{line} {head}", size) <= room:
                return head, word[len(head):]
        if len(core) < 8 or not core.isalpha():
            return "", ""
        for cut in range(len(core) - 3, 3, -1):
            head = core[:cut] + "-"
            if self._width(f"{line} {head}" if line else head, size) <= room:
                return head, word[cut:]
        return "", ""

    def _wrap_cjk(self, text: str, size: float, width: float, indent: float) -> list[str]:
        lines: list[str] = []
        line = ""
        for ch in text:
            room = width - (indent if not lines else 0.0)
            if self._width(line + ch, size) > room and line and ch not in _CJK_NO_LINE_START:
                lines.append(line)
                line = ""
            line += ch
        return [*lines, line] if line else lines

    def table(self, caption: str, rows: list[list[str]], size: float = 8.0) -> None:
        """A booktabs table in the column: caption, top rule, header, middle rule, rows, bottom rule."""
        height = (len(rows) + 2) * size * 1.7 + 24
        self._room(height)
        x0, x1 = self._col_box()
        self.y += 10
        self._write(x0, self.y, caption, size + 0.5, bold=True)
        self.y += 6
        self.page.draw_line((x0, self.y), (x1, self.y), width=0.8)
        widths = [max(self._width(r[i], size) for r in rows) for i in range(len(rows[0]))]
        gap = (x1 - x0 - sum(widths)) / max(1, len(widths) - 1)
        for n, row in enumerate(rows):
            self.y += size * 1.6
            x = x0
            for cell, w in zip(row, widths, strict=True):
                self._write(x, self.y, cell, size, bold=n == 0)
                x += w + gap
            if n == 0:
                self.page.draw_line((x0, self.y + 4), (x1, self.y + 4), width=0.5)
                self.y += 2
        self.y += 6
        self.page.draw_line((x0, self.y), (x1, self.y), width=0.8)
        self.y += 10

    def figure(self, caption: str, labels: list[str], height: float = 110.0) -> None:
        """A raster figure with text labels drawn over it, and its caption below."""
        self._room(height + 40)
        x0, x1 = self._col_box()
        self.y += 6
        pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 64, 40), False)
        pix.set_rect(pix.irect, (200,))
        box = pymupdf.Rect(x0, self.y, x1, self.y + height)
        self.page.insert_image(box, pixmap=pix)
        for i, label in enumerate(labels):
            self._write(x0 + 8, self.y + 18 + i * 14, label, 7.5)
        self.y += height + 12
        for line in self._wrap(caption, 8.0, 0.0):
            self._write(x0, self.y, line, 8.0)
            self.y += 10
        self.y += 6

    # finishing ---------------------------------------------------------------------------------

    def save(self, path: str, title: str, to_unicode: dict[str, int | None] | None = None) -> None:
        """Write running heads, page numbers and the outline, embed fonts, save deterministically."""
        for page in self.doc:
            n = page.number
            label = self.number_format.format(self.first_number + n)
            self.facts.page_labels.append(label)
            self.page = page
            if n not in self.no_head:
                head = self.heads[0] if (self.first_number + n) % 2 == 0 else self.heads[1]
                if head:
                    self.facts.heads.add(head)
                    self._write(self.style.margin, self.style.margin - 10, head, 8.0)
            # page numbers in the base font: their digits stay digits whatever the body font does
            width, height = self.style.page
            if self.numbers_in_body_font:
                self._write((width - self._width(label, 8.0)) / 2, height - self.style.margin + 16, label, 8.0)
                continue
            w = pymupdf.get_text_length(label, fontname="helv", fontsize=8.0)
            page.insert_text(((width - w) / 2, height - self.style.margin + 16), label, fontname="helv", fontsize=8.0)
        for page in self.doc:
            self._flush_latin(page)
        for n, tw in self.writers.items():
            tw.write_text(self.doc[n])
        if self.toc:
            self.doc.set_toc(self.toc)
        self.doc.set_metadata({"title": title, "creator": "curate samples", "producer": "pymupdf",
                               "creationDate": "D:20240101000000Z", "modDate": "D:20240101000000Z"})
        if self.cjk:
            self.doc.subset_fonts()
            if to_unicode is not None:
                self._bend_to_unicode(to_unicode)
        self.doc.save(path, garbage=4, deflate=True, no_new_id=True)

    def _bend_to_unicode(self, override: dict[str, int | None]) -> None:
        """Rewrite the CJK font's ToUnicode map: glyphs of ``override``'s characters map elsewhere, or
        (``None``) nowhere, as in fonts whose map lacks them."""
        used = sorted({ch for page in self.doc for ch in page.get_text() if ch == " " or not ch.isspace()})
        entries = [f"<{self.font.has_glyph(ord(ch)):04x}> <{override.get(ch, ord(ch)):04x}>"
                   for ch in used if self.font.has_glyph(ord(ch)) and override.get(ch, 0) is not None]
        cmap = ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
                "/CIDSystemInfo <</Registry(Adobe)/Ordering(UCS)/Supplement 0>> def\n"
                "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
                "1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n")
        for i in range(0, len(entries), 100):  # a bfchar section holds at most 100 entries
            chunk = entries[i:i + 100]
            cmap += f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar\n"
        cmap += "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n"
        for xref in range(1, self.doc.xref_length()):
            kind, value = self.doc.xref_get_key(xref, "ToUnicode")
            if kind == "xref" and "Droid" in self.doc.xref_get_key(xref, "BaseFont")[1]:
                self.doc.update_stream(int(value.split()[0]), cmap.encode())

"""Books: reading order around full-width figures and tables, and word spaces recovered from glyph
gaps, on generated pages."""

from __future__ import annotations

import re

import pymupdf

from curate.readers.pdf import layout as pdflayout
from curate.readers.pdf.layout import Block
from tests.readers.helpers import run_reader

_NEVER = re.compile(r"(?!)")
_WORDS = ("the patients were treated with iron and the ferritin rose in every group of the trial so the "
          "authors report a clear effect of eradication on anaemia in adults and children alike").split()


def _column(page: pymupdf.Page, x: float, y: float, tag: str, lines: int = 6) -> None:
    for i in range(lines):
        words = " ".join(_WORDS[(i * 5 + k) % len(_WORDS)] for k in range(5))
        page.insert_text((x, y + 12 * i), f"{tag} {words}", fontsize=9)


def _figure(page: pymupdf.Page, rect: pymupdf.Rect) -> None:
    pix = pymupdf.Pixmap(pymupdf.csRGB, pymupdf.IRect(0, 0, 40, 20), False)
    pix.set_rect(pix.irect, (200, 60, 60))
    page.insert_image(rect, pixmap=pix)


def test_full_width_figure_cuts_the_columns_into_bands(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()  # 595 x 842
    for x, tag in ((50, "aa"), (310, "bb")):
        _column(page, x, 80, tag + "up")
        _column(page, x, 520, tag + "down")
    _figure(page, pymupdf.Rect(50, 200, 545, 480))
    doc.save(tmp_path / "figure.pdf")
    docs, _, _ = run_reader("books", tmp_path / "figure.pdf")
    text = " ".join(d["text"] for d in docs)
    found = [m.group() for m in re.finditer(r"\b(?:aa|bb)(?:up|down)\b", text)]
    assert list(dict.fromkeys(found)) == ["aaup", "bbup", "aadown", "bbdown"]


def test_gutter_from_removed_text_and_a_background_image_cuts_nothing():
    def col(x0: float, y0: float, y1: float, n: int) -> Block:
        return Block(x0, y0, x0 + 240, y1, [f"line at {x0} {y0}"] * n)
    # the left column is full; the right one is one paragraph above a table that was removed
    left = [col(40, 330 + 60 * i, 380 + 60 * i, 4) for i in range(7)]
    right = col(305, 330, 380, 4)
    table = [(305.0, 400 + 40 * i, 545.0, 430 + 40 * i) for i in range(6)]
    assert pdflayout.reading_order([right, *left])[1] is right  # no gutter from the body alone
    assert pdflayout.reading_order([right, *left], table) == [*left, right]
    background = [(0.0, 0.0, 595.0, 842.0)]  # text drawn on it: it is no band boundary
    assert pdflayout.reading_order([right, *left], [*table, *background]) == [*left, right]


def _tight(page: pymupdf.Page, y: float, words: list[str], gap_em: float, size: float = 9) -> None:
    """Words set one by one with ``gap_em`` between them (no space characters)."""
    x = 50.0
    for w in words:
        page.insert_text((x, y), w, fontsize=size)
        x += pymupdf.get_text_length(w, fontsize=size) + gap_em * size


def test_tight_word_gaps_become_spaces_but_not_inside_words_or_cjk(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()
    tight = "data, one trial provided only haemoglobin changes, and one trial provided only ferritin".split()
    _tight(page, 80, tight, 0.12)  # under MuPDF's own space threshold
    _tight(page, 100, ["immunohistochemistry", "electroencephalography", "was", "normal"], 0.3)
    spaced = "LETTERSPACEDHEADINGOFTHEPAGE"
    _tight(page, 120, list(spaced), 0.11)  # letter-spaced: every gap alike, no word gap
    page.insert_font(fontname="china", fontbuffer=pymupdf.Font("china-s").buffer)
    x = 50.0
    for ch in "免疫组化染色即":  # justified CJK: wide gaps between characters
        page.insert_text((x, 140), ch, fontsize=9, fontname="china")
        x += 9 * 1.15
    page.insert_text((x, 140), "immunohistochemistry", fontsize=9)  # a glued-looking run on the same line
    doc.save(tmp_path / "tight.pdf")
    assert "dataone" in pymupdf.open(tmp_path / "tight.pdf")[0].get_text().replace(",", "")  # MuPDF glues them
    layout = pdflayout.read_page(pymupdf.open(tmp_path / "tight.pdf")[0], 0, _NEVER)
    lines = [line for b in layout.blocks for line in b.lines]
    assert " ".join(tight) in lines
    assert "immunohistochemistry electroencephalography was normal" in lines
    assert spaced in lines
    assert "免疫组化染色即immunohistochemistry" in lines

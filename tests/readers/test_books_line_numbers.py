"""Books: a manuscript's or preprint's line numbers (in the margin, in the gutter, or read into the lines
they stand beside) are removed and counted, and the text reads as it does without them; numbered
lists, references, table rows and code stay as they are. A note repeated up the side margin of every
page goes as running text; a margin note of a page's own stays."""

from __future__ import annotations

import random
import textwrap
from pathlib import Path

import pymupdf
import pytest

from curate.core.ledger import Ledger
from curate.readers import FileRef, books

_WORDS = ("the patients were treated with iron and the ferritin rose in every group of the trial so the authors "
          "report a clear effect of eradication on anaemia in adults and children alike while the controls "
          "showed no change over the twelve weeks of follow up in any of the three centres").split()


def _paragraphs(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(" ".join(rng.choices(_WORDS, k=rng.randint(12, 20))).capitalize() + "."
                     for _ in range(rng.randint(3, 5))) for _ in range(n)]


def _manuscript(path: Path, columns: int, numbers: str, paragraphs: list[str]) -> None:
    """Paragraphs set line by line (``columns`` of them), each line numbered as ``numbers`` says: "" (none),
    "margin" (right-aligned in the left margin, and in the gutter for the right column), "inline" (the
    number written at the start of the line's own text)."""
    doc = pymupdf.open()
    width = 495 / columns - (10 if columns == 2 else 0)
    chars = int(width / 4.6)
    page, column, y, n = doc.new_page(), 0, 80.0, 0
    for para in paragraphs:
        for line in textwrap.wrap(para, chars):
            if y > 760:
                column += 1
                if column == columns:
                    page, column = doc.new_page(), 0
                y = 80.0
            n += 1
            x = 50 + column * (width + 20)
            if numbers == "inline":
                page.insert_text((x, y), f"{n:>3}  {line}", fontname="helv", fontsize=9)
            else:
                page.insert_text((x, y), line, fontname="helv", fontsize=9)
            if numbers == "margin":
                right = x - 8
                page.insert_text((right - pymupdf.get_text_length(str(n), "helv", 7), y), str(n), fontname="helv",
                                 fontsize=7)
            y += 12
        y += 6
    for number, p in enumerate(doc, 1):  # a page number under the text, in the numbers' column
        p.insert_text((40, 800), str(number), fontname="helv", fontsize=9)
    doc.save(path)


def _read(path: Path) -> tuple[str, dict]:
    gen = books.read_whole(FileRef(path, path.name, "books"), books.Config(), Ledger("books", "read"))
    records = []
    try:
        while True:
            records.append(next(gen))
    except StopIteration as stop:
        stats = dict(stop.value)
    return "\n\n".join(r["text"] for r in records), stats


def _balanced(stats: dict) -> bool:
    removed = sum(v for k, v in stats.items() if k.startswith("text_removed_"))
    return stats["text_in"] == stats["text_out"] + removed


@pytest.mark.parametrize(("columns", "numbers"), [(1, "margin"), (2, "margin"), (1, "inline"), (2, "inline")])
def test_line_numbers_go_and_the_text_reads_as_without_them(tmp_path, columns, numbers):
    paragraphs = _paragraphs(20)  # two pages, the second well filled (a page of fewer than 5 numbered lines keeps them)
    _manuscript(tmp_path / "plain.pdf", columns, "", paragraphs)
    _manuscript(tmp_path / "numbered.pdf", columns, numbers, paragraphs)
    plain, plain_stats = _read(tmp_path / "plain.pdf")
    text, stats = _read(tmp_path / "numbered.pdf")
    assert text == plain
    lines = sum(len(textwrap.wrap(p, int((495 / columns - (10 if columns == 2 else 0)) / 4.6))) for p in paragraphs)
    digits = sum(len(str(n)) for n in range(1, lines + 1))
    assert stats["line_numbers_removed"] == lines and stats["text_removed_line_number"] == digits
    assert _balanced(stats) and "line_numbers_removed" not in plain_stats


def _page(path: Path, lines: list[tuple[float, float, str]]) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    for x, y, s in lines:
        page.insert_text((x, y), s, fontname="helv", fontsize=9)
    doc.save(path)


def test_numbered_lists_references_table_rows_and_code_are_no_line_numbers(tmp_path):
    prose = _paragraphs(2, seed=1)
    rows: list[tuple[float, float, str]] = []
    y = 80.0
    for para in prose:
        for line in textwrap.wrap(para, 100):
            rows.append((50, y, line))
            y += 12
        y += 8
    for i in range(1, 8):  # references of two lines each, numbered without punctuation
        rows += [(50, y, f"{i} Smith J, Jones K. Iron and anaemia in adults and children. Lancet."),
                 (62, y + 12, f"20{10 + i};{i}:100-9.")]
        y += 28
    for i in range(1, 8):  # a table's row numbers set apart from its cells
        rows += [(60, y, str(i)), (120, y, f"Ferrous sulfate {i * 100} mg"), (320, y, f"{i * 7} days")]
        y += 12
    y += 10
    for i in range(1, 8):  # short numbered steps
        rows.append((50, y, f"{i} Wash hands"))
        y += 12
    _page(tmp_path / "lists.pdf", rows)
    text, stats = _read(tmp_path / "lists.pdf")
    assert "line_numbers_removed" not in stats and _balanced(stats)
    flat = " ".join(text.split())
    assert "3 Smith J, Jones K." in flat and "7 Wash hands" in flat


def test_a_note_repeated_up_the_margin_goes_and_margin_notes_stay(tmp_path):
    paragraphs = _paragraphs(40)
    _manuscript(tmp_path / "plain.pdf", 1, "", paragraphs)
    doc = pymupdf.open(tmp_path / "plain.pdf")
    for n, page in enumerate(doc, 1):  # a publisher's vertical note, and a margin note of each page's own
        page.insert_text((20, 700), f"Downloaded from https://journal.example.org/ on 05/04/2020. Page {n}",
                         fontname="helv", fontsize=7, rotate=90)
        page.insert_text((548, 300), f"Key point {n}: {_WORDS[n]} {_WORDS[n + 7]}", fontname="helv", fontsize=6,
                         rotate=270)
    doc.save(tmp_path / "noted.pdf")
    plain, _ = _read(tmp_path / "plain.pdf")
    text, stats = _read(tmp_path / "noted.pdf")
    assert "Downloaded from" not in text and stats["text_removed_running_head"] > 0 and _balanced(stats)
    assert all(f"Key point {n}: {_WORDS[n]} {_WORDS[n + 7]}" in text for n in range(1, len(doc) + 1))
    flat = " ".join(text.split())
    assert all(" ".join(p.split()) in flat for p in plain.split("\n\n"))  # the body whole, in order around them

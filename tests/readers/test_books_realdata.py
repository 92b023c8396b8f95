"""Books on the shared real files (skipped when ``../shared/realdata`` is absent): XeLaTeX textbooks
whose digits have no Unicode, measured against their LaTeX source, and papers with front matter,
tables beside prose and references."""

from __future__ import annotations

import re

import pytest

from tests.conftest import REALDATA
from tests.readers.helpers import bench_module, run_reader


def _read(*parts: str):
    path = REALDATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    docs, _, rows = run_reader("books", path)
    return "\n\n".join(d["text"] for d in docs), rows


@pytest.fixture(scope="module")
def pharmacology():
    return _read("books-zh", "药理学", "main.pdf")


@pytest.fixture(scope="module")
def paper5():
    return _read("pdfs", "reference", "cermine_test5.pdf")


@pytest.fixture(scope="module")
def paper2():
    return _read("pdfs", "reference", "cermine_test2.pdf")


def test_textbook_digits_recovered_from_the_font(pharmacology):
    text, rows = pharmacology
    assert "II期（不少于100例）" in text and "研究费用2亿〜3亿美元" in text
    inferred = [r["detail"] for r in rows if r["reason"] == "glyph_map"]
    assert any("SourceHanSerifSC-Regular" in d and "U+F357=1" in d and "shape" in d for d in inferred)
    assert not any("U+F35" in r["detail"] for r in rows if r["reason"] == "unmapped_glyph")


def test_textbook_headings_whole_running_heads_title_page_gone(pharmacology):
    text, _ = pharmacology
    assert "1.0.2 药理学与新药的研究开发" in text and "第一章 绪 言" in text
    assert not re.search(r"(?m)^[\s.．0-9]+$", text)  # no paragraph of dots left from lost numbers
    assert "第一章绪 言（2）" not in text and "github" not in text and "2019年3月16日" not in text
    assert not re.search("[\u2f00-\u2fd5]", text)  # Kangxi radicals folded
    assert "若改变剂型、给药途径、制造工艺" in text  # CJK lines joined without a space


@pytest.mark.parametrize("book", ["药理学", "精神病学"])
def test_textbooks_meet_the_fidelity_goal_against_their_latex(book):
    main = REALDATA / "books-zh" / book / "main.tex"
    if not main.is_file():
        pytest.skip(f"{main} is not present")
    fidelity = bench_module("books_fidelity")
    scores = fidelity.score(fidelity.latex_reference(main), fidelity.curate_text(main.with_suffix(".pdf")))
    assert scores["recall"] >= 0.97 and scores["digit_recall"] >= 0.97 and scores["precision"] >= 0.97, scores


def test_paper_table_finder_keeps_the_prose_beside_tables(paper5):
    text, _ = paper5
    flat = " ".join(text.split())
    assert "Quality assessment The quality of the studies was assessed" in flat
    assert "Two investigators (Huang XL and Qu XH) independently extracted data" in flat
    assert "B+A+M" not in text and "Marked anaemia" not in text  # the table itself


def test_paper_front_and_back_matter_removed(paper5, paper2):
    text5, _ = paper5
    for s in ("pxiong6@126.com", "Correspondence to", "Received 24 August 2009", "contributed equally",
              "Xiaolu Huang,", "freely available online"):
        assert s not in text5, s
    text2, rows2 = paper2
    for s in ("helenburke1@rcsi.ie", "Correspondence should be addressed", "Received 9 November 2010",
              "Copyright", "Academic Editor", "gratefully acknowledge", "Shattuck lecture"):
        assert s not in text2, s
    assert any(r["reason"] == "back_matter" and "Acknowledgments" in r["detail"] for r in rows2)


def test_paper_hyphenation_keeps_compounds(paper2):
    text, _ = paper2
    flat = " ".join(text.split())
    assert "self-care demands" in flat and "selfcare" not in flat

"""Books on a shared real paper (skipped when ``../shared/realdata`` is absent): a math font whose
ToUnicode map gives ``¼`` for ``=`` and no text for ``−``, a tightly justified line, and a page whose
right column is mostly a table below a full-width figure."""

from __future__ import annotations

import pytest

from tests.conftest import REALDATA
from tests.readers.helpers import bench_module, run_reader


@pytest.fixture(scope="module")
def paper5():
    path = REALDATA / "pdfs" / "reference" / "cermine_test5.pdf"
    if not path.is_file():
        pytest.skip(f"{path} is not present")
    docs, _, rows = run_reader("books", path)
    return " ".join(" ".join(d["text"] for d in docs).split()), rows


def test_paper_symbols_read_from_the_glyphs(paper5):
    text, rows = paper5
    assert "¼" not in text
    assert "15.11 g/l (95% CI 7.87 to 22.35 g/l, p=0.51)" in text and "Sarker et al32 (Q=23.8)" in text
    assert "9.13 g/l (95% CI −0.40 to 18.66 g/l" in text  # the minus sign had no Unicode at all
    (row,) = [r["detail"] for r in rows if r["reason"] == "glyph_map" and "AdvP4C4E74" in r["detail"]]
    assert "'¼'→'='" in row and "'(none)'→'−'" in row
    assert not [r for r in rows if r["reason"] == "unmapped_glyph"]


def test_paper_tight_line_spaced_and_columns_in_order(paper5):
    text, _ = paper5
    assert "data, one RCT28 provided only Hb changes, and one RCT30 provided only SF changes" in text
    assert "has not been clearly demonstrated to improve IDA. The American College of" in text
    # the right column (mostly a table) follows the left one, below a full-width figure
    assert ("The WMD of Hb concentrations from these seven studies was 12.88 g/l (95% CI 6.03 to 19.74 g/l, "
            "p<0.00001).") in text
    assert "RESULTS Search results We identified 1267 potentially eligible articles" in text


def test_paper_fidelity_against_its_reference():
    pdf = REALDATA / "pdfs" / "reference" / "cermine_test5.pdf"
    if not pdf.is_file():
        pytest.skip(f"{pdf} is not present")
    fidelity = bench_module("books_fidelity")
    text = fidelity.curate_text(pdf)
    scores = fidelity.score(fidelity.reference_for(pdf), text)
    # the reference keeps table cells in 7 of its 173 sentences and the legends of figures 2 and 3 (12
    # sentences) in its body paragraphs: an extractor that removes tables and captions gives at most 154/173
    # (0.890) and 51/57 digit sentences (see the README's fidelity table)
    assert scores["recall"] >= 0.88 and scores["digit_recall"] >= 0.88 and scores["precision"] >= 0.98, scores
    # a long legend (its "Figure 4" on a line of its own) goes, and the sentence it cut in two is whole
    assert "Forest plot of therapy regimen subgroup" not in text
    assert "Diversiform means was utilised to test the steadiness of the results we reached." in " ".join(text.split())

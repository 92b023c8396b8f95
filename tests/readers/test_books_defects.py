"""Books: generated PDFs that reproduce what real books and papers do to extraction, one defect class
each (``samples/books/make_samples.py defects``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.core import textbalance
from curate.readers import books
from tests.readers.helpers import run_reader
from tests.readers.test_books import GEN
from tests.readers.test_books_balance import read_stats


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    return GEN.defects(tmp_path_factory.mktemp("defects"))


@pytest.fixture(scope="module")
def paper(files):
    docs, _, rows = run_reader("books", files["paper_en"])
    return "\n\n".join(d["text"] for d in docs), rows


def test_digits_missing_from_tounicode_recovered_and_reported(files):
    docs, _, rows = run_reader("books", files["digits_zh"])
    text = "\n".join(d["text"] for d in docs)
    for sentence in GEN.ZH_DIGITS_TEXT:
        assert sentence in text, sentence
    inferred = [r["detail"] for r in rows if r["reason"] == "glyph_map"]
    assert len(inferred) == 1 and "10 glyphs" in inferred[0] and "shape" in inferred[0]
    assert not [r for r in rows if r["reason"] == "unmapped_glyph"]


def test_pua_map_overrides_the_inferred_digits(files):
    docs, _, _ = run_reader("books", files["digits_zh"], books.Config(pua_map=("U+0011..U+001A=ABCDEFGHIJ",)))
    text = "\n".join(d["text"] for d in docs)
    assert "每日B～C片" in text and "每日1～2片" not in text


def test_unmapped_glyphs_ledgered_per_font_with_context(files, monkeypatch):
    from curate.readers.pdf import glyphs

    monkeypatch.setattr(glyphs, "match_digit", lambda shape: None)  # no shape evidence: digits stay unknown
    records, stats = read_stats(files["digits_zh"])
    assert "每日～片" in "\n".join(r["text"] for r in records)
    assert stats["text_removed_unmapped_glyph"] > 0
    _, _, rows = run_reader("books", files["digits_zh"])
    unmapped = [r["detail"] for r in rows if r["reason"] == "unmapped_glyph"]
    assert len(unmapped) == 1 and "Droid Sans Fallback" in unmapped[0]
    assert "U+0012×" in unmapped[0] and "e.g. '" in unmapped[0] and "pua_map" in unmapped[0]


def test_table_beside_prose_removed_and_prose_kept(paper):
    text, _ = paper
    for sentence in GEN.PAPER_BODY:
        if sentence not in ("TABLE", "FIGURE"):
            assert sentence.split(". ")[-1].rstrip(".") in text.replace("\n", " "), sentence
    for cell in ("67.7", "152.4", "Baseline characteristics", "Table 2"):
        assert cell not in text, cell


def test_figure_labels_and_caption_removed(paper):
    text, _ = paper
    for label in ("month 6", "month 12", "Fig. 3", "Systolic pressure by visit"):
        assert label not in text, label


def test_contact_block_and_front_matter_removed(paper, files):
    text, _ = paper
    for line in ("anna.berg@example.org", "5597 1234", "Lisbon, Portugal", "Department of Medicine",
                 "Anna Berg", "Received 3 March", "Creative Commons"):
        assert line not in text, line
    _, stats = read_stats(files["paper_en"])
    assert stats["text_removed_front_matter"] > 100


def test_reference_list_removed_across_pages(paper):
    text, rows = paper
    assert "Title of a cited study" not in text and "J Clin Hypertens" not in text
    assert any(r["reason"] == "back_matter" and "'References'" in r["detail"] for r in rows)


def test_hyphenation_keeps_compounds_joins_split_words_never_glues_two(paper):
    text, _ = paper
    flat = " ".join(text.split())
    for phrase in ("Self-reported adherence", "N-domain-selective inhibitors", "arbitrary measure",
                   "antihypertensive treatment", "long-term outcomes", "follow-up visit"):
        assert phrase in flat, phrase
    assert "selfreported" not in flat.lower() and "domainselective" not in flat


@pytest.mark.parametrize("name", ["paper_en", "digits_zh"])
def test_defect_samples_balance(files, name):
    records, stats = read_stats(files[name])
    assert stats["text_in"] == stats["text_out"] + sum(textbalance.removed(stats).values())
    assert stats["text_out"] == sum(textbalance.characters(r["text"]) for r in records)


def test_footnotes_are_small_type_after_a_note_mark_at_the_foot():
    from curate.readers.pdf import matter
    from curate.readers.pdf.layout import Block

    body = [Block(50, 100 + 60 * i, 300, 148 + 60 * i, ["A paragraph line of body text here,"] * 4) for i in range(3)]
    single = Block(50, 300, 300, 310, ["One line of body text."])
    note = Block(50, 660, 300, 676, ["1 See the guideline of 2020 for the thresholds.", "It applies to adults."])
    item = Block(50, 690, 300, 698, ["2. a numbered list item"])
    footer = Block(50, 760, 300, 768, ["3 Journal of Examples"])
    blocks = [*body, single, note, item, footer]
    matter.mark(blocks, 4, 800.0)
    assert note.kind == "footnote" and item.kind == "body" and footer.kind == "body"
    assert all(b.kind == "body" for b in [*body, single])


def _read_saved(doc, path: Path) -> tuple[str, dict]:
    """Save a generated PDF, read it with the books reader: its records' text (whitespace folded) and the
    reader's statistics."""
    doc.save(path)
    records, stats = read_stats(path)
    return " ".join(" ".join(r["text"] for r in records).split()), stats


def test_a_flow_chart_of_stroked_boxes_loses_its_labels_and_keeps_the_prose_beside_it(tmp_path):
    """A flow chart drawn as small stroked boxes joined by arrows, under its caption: the labels in its boxes
    (alone, or several nodes' labels in one block) go as figure text; the paragraphs above and below it stay
    whole. (A page's drawings are read where a caption or table rows call for them.)"""
    import pymupdf

    para = ("Patients who came to the clinic on their own were seen first by a nurse, who decided whether "
            "they needed a doctor that day or could be referred back to their health centre.")
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_textbox(pymupdf.Rect(72, 60, 520, 130), para, fontsize=10)
    nodes = [(90, 160, "Referred cases (36%)"), (250, 160, "Self-referrals (64%)"), (170, 230, "OPD II"),
             (90, 300, "HOME"), (250, 300, "WARDS")]
    for x, y, label in nodes:
        page.draw_rect(pymupdf.Rect(x, y, x + 120, y + 34), color=(0, 0, 0), width=0.4)
        page.insert_text((x + 6, y + 20), label, fontsize=8)
    for (x0, y0), (x1, y1) in [((150, 194), (210, 230)), ((310, 194), (250, 230)), ((210, 264), (150, 300)),
                               ((250, 264), (310, 300))]:
        page.draw_line((x0, y0), (x1, y1), color=(0, 0, 0), width=0.4)
        page.draw_polyline([(x1 - 3, y1 - 5), (x1 + 3, y1 - 5), (x1, y1)], color=(0, 0, 0), fill=(0, 0, 0))
    page.insert_text((72, 352), "Figure 1 Patient flow at the medical department.", fontsize=9)
    page.insert_textbox(pymupdf.Rect(72, 372, 520, 440), para.replace("on their own", "with a letter"), fontsize=10)
    text, stats = _read_saved(doc, tmp_path / "flow.pdf")
    assert "who came to the clinic on their own" in text and "who came to the clinic with a letter" in text
    for _, _, label in nodes:
        assert label not in text, label
    assert textbalance.removed(stats).get("figure", 0) >= sum(len(label.replace(" ", "")) for *_, label in nodes)


def test_a_long_figure_legend_is_a_caption_and_a_paragraph_about_the_figure_is_not(tmp_path):
    """A legend of many lines (its number alone on the first line, or followed by a capitalised title) is
    removed as a caption; a paragraph of as many lines that begins "Figure 2 shows" is body text."""
    import pymupdf

    legend = ["Figure 2", "Forest plot of the age subgroup: weighted", "mean difference (WMD) forest plots of",
              "changes in haemoglobin (g/l) and in", "serum ferritin (mg/l) concentrations", "after eradication."]
    body = ["Figure 2 shows that the children gained less haemoglobin than the adults in every trial that",
            "reported both groups, and that the difference was largest in the trials of the shortest",
            "treatment, where the children were also the youngest and the least anaemic at the start;",
            "the adults' gains were similar whatever the regimen, and the trials of the longest",
            "treatment showed the smallest difference between the two groups of patients in the end."]
    doc = pymupdf.open()
    page = doc.new_page()
    for i, line in enumerate(legend):
        page.insert_text((72, 80 + 12 * i), line, fontsize=9)
    for i, line in enumerate(body):
        page.insert_text((72, 200 + 14 * i), line, fontsize=10)
    text, stats = _read_saved(doc, tmp_path / "legend.pdf")
    assert "Forest plot of the age subgroup" not in text and "serum ferritin" not in text
    assert "Figure 2 shows that the children gained less haemoglobin" in text
    assert textbalance.removed(stats).get("caption", 0) > 100


def test_the_short_lines_of_a_shaded_box_of_key_points_stay_on_a_page_with_a_figure(tmp_path):
    """A shaded box is one shape, not a chart: its list of short lines is text, even on a page whose caption
    makes the reader look at the drawings."""
    import pymupdf

    points = ["Key points", "Fever above 38.5 °C", "Cough for more than", "three weeks", "Weight loss",
              "Night sweats"]
    doc = pymupdf.open()
    page = doc.new_page()
    page.draw_rect(pymupdf.Rect(72, 90, 320, 200), color=None, fill=(0.9, 0.9, 0.9))
    for i, line in enumerate(points):
        page.insert_text((80, 108 + 16 * i), line, fontsize=10)
    page.insert_text((72, 260), "Figure 1 Chest radiograph of a patient with tuberculosis.", fontsize=9)
    text, _ = _read_saved(doc, tmp_path / "box.pdf")
    for line in points[1:]:
        assert line in text, line


def test_a_legends_panels_set_apart_under_it_go_with_it(tmp_path):
    """A legend whose panels ("(a) ...", "(b) ...") MuPDF or the block splitter set apart right under its
    first sentence loses them too; a paragraph further down that begins "(a)" stays."""
    import pymupdf

    legend = ["Figure 2", "Forest plot of the age subgroup.", "(a) Weighted mean difference (WMD) forest",
              "plots of changes in haemoglobin (g/l)", "concentrations. (b) WMD forest plots of",
              "studies of serum ferritin."]
    doc = pymupdf.open()
    page = doc.new_page()
    for i, line in enumerate(legend):
        page.insert_text((72, 80 + 12 * i), line, fontsize=9)
    page.insert_textbox(pymupdf.Rect(72, 300, 520, 360), "(a) Adults who took the lower dose lost less weight "
                        "than those who took the higher one, and stopped the drug less often.", fontsize=10)
    text, _ = _read_saved(doc, tmp_path / "panels.pdf")
    assert "Weighted mean difference" not in text and "serum ferritin" not in text
    assert "(a) Adults who took the lower dose lost less weight" in text

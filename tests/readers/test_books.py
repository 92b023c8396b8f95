"""Books: the bundled sample PDFs (English two columns, Chinese without outline) and the real PDF."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pymupdf
import pytest

from curate.readers import books
from tests.readers.helpers import run_reader

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "books"
PUA_DIGITS = ("U+E000..U+E009=0123456789",)


def _generator():
    spec = importlib.util.spec_from_file_location("make_samples", SAMPLES / "make_samples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def _sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.。；;])\s*", paragraph) if len(s) > 8]


@pytest.fixture(scope="module")
def english():
    return run_reader("books", SAMPLES / "hypertension_en.pdf")


@pytest.fixture(scope="module")
def chinese():
    return run_reader("books", SAMPLES / "tangniaobing_zh.pdf", books.Config(pua_map=PUA_DIGITS))


def test_english_body_sentences_survive_columns_wrapping_and_hyphenation(english):
    docs, _, _ = english
    text = "\n\n".join(d["text"] for d in docs)
    marked = re.compile(r"\[[\d,\-]+\]|\^\{\d+\}")
    for _, paragraphs in GEN.EN_SECTIONS:
        for p in paragraphs:
            if p in ("TABLE", "FIGURE"):
                continue
            for sentence in _sentences(marked.sub("", p).replace(" .", ".")):
                assert sentence in text, sentence
    hyphenated = GEN.english().facts.hyphenated
    assert hyphenated, "the sample should exercise hyphenation at line ends"
    for word in hyphenated:
        assert word in text, word
    assert "renin-angiotensin-aldosterone" in text and "renin-angiotensin system" in text


def test_english_citations_and_footnote_markers_removed(english):
    text = "\n".join(d["text"] for d in english[0])
    assert "the fifth decade of life. Fewer" in text
    assert "excretes sodium. Activation" in text
    assert "resists three drugs. Recognising" in text
    assert "angiotensin receptor blockers. Most" in text
    assert not re.search(r"\[\d", text)


def test_english_tables_figures_heads_page_numbers_and_back_matter_absent(english):
    docs, _, rows = english
    text = "\n".join(d["text"] for d in docs)
    for cell in ("130-139", "below 120", "Systolic (mmHg)", "90 or more", "Table 3.1"):
        assert cell not in text, cell
    for label in ("Systolic pressure axis", "Weeks since treatment start", "Figure 3.1"):
        assert label not in text, label
    assert "Handbook of Internal Medicine" not in text
    assert text.count("Chapter 3 Hypertension in Adults") == 1  # the title, not the running head
    lines = set(text.split("\n"))
    assert not any(re.fullmatch(r"\d{2}", line) for line in lines)
    assert "seven consecutive days" not in text and "Global Burden Collaborators" not in text
    assert "....." not in text
    cuts = {(r["id"].split("#")[1], r["reason"]) for r in rows if r["action"] == "drop"}
    assert cuts == {("contents-p1-1", "table_of_contents"), ("ch2", "back_matter"), ("ch3", "back_matter")}
    appendix = next(r for r in rows if r["id"].endswith("#ch3"))
    assert "Appendix A" in appendix["detail"] and "pages 6-6" in appendix["detail"]


def test_english_records_follow_the_outline(english):
    docs, _, _ = english
    assert [d["id"].split("#")[1] for d in docs] == [f"ch1.{i}" for i in range(1, 8)]
    first, drugs = docs[0], docs[3]
    assert first["meta"]["title"] == "3.1 Definition and epidemiology"
    assert first["meta"]["chapter"] == "Chapter 3 Hypertension in Adults"
    assert first["text"].startswith("Chapter 3 Hypertension in Adults\n\n3.1 Definition")
    assert first["meta"]["pages"] == [2, 2] and first["meta"]["file"] == "hypertension_en.pdf"
    assert drugs["meta"]["title"] == "3.4 Management" and "\n\n3.4.2 Drug therapy\n\n" in drugs["text"]
    assert all(d["lang"] == "en" and d["meta"]["outline"] is True for d in docs)


def test_chinese_lines_joined_without_spaces_and_font_quirks_mapped(chinese):
    docs, _, rows = chinese
    text = "\n".join(d["text"] for d in docs)
    for _, paragraphs in [*GEN.ZH_SECTIONS, GEN.ZH_PREVENTION]:
        for p in paragraphs:
            if p != "TABLE":
                for sentence in _sentences(p.replace("※", "")):
                    assert sentence in text, sentence
    assert "目前成人" in text and "⽬" not in text  # Kangxi radical folded
    assert "长期高血糖" in text and "⻓" not in text  # radical supplement form mapped
    assert "多数为2型糖尿病" in text  # private-use digits mapped by pua_map
    unmapped = [r for r in rows if r["reason"] == "unmapped_glyph"]
    assert len(unmapped) == 1 and "U+E0A5×1" in unmapped[0]["detail"] and "Droid" in unmapped[0]["detail"]


def test_chinese_table_heads_page_numbers_and_references_absent(chinese):
    docs, _, rows = chinese
    text = "\n".join(d["text"] for d in docs)
    for cell in ("典型症状加随机血糖检测", "不低于七点零", "葡萄糖负荷后两小时血糖", "表5-1"):
        assert cell not in text, cell
    assert "内科学" not in text and "·" not in text
    assert text.count("第五章 糖尿病") == 1
    assert "示例医学杂志" not in text
    assert [(r["reason"], r["id"].split("#")[1]) for r in rows if r["action"] == "drop"] == [("back_matter", "ch1.6")]


def test_chinese_headings_found_without_an_outline(chinese):
    docs, _, _ = chinese
    titles = [d["meta"]["title"] for d in docs]
    assert titles[0] == "第一节 概述" and "第五节 并发症的预防" in titles
    assert all(d["meta"]["chapter"] == "第五章 糖尿病" and d["lang"] == "zh" for d in docs)
    assert all(d["meta"]["outline"] is False for d in docs)


def test_chinese_private_use_digits_recovered_from_glyph_shapes_without_a_map():
    docs, _, rows = run_reader("books", SAMPLES / "tangniaobing_zh.pdf")
    assert "多数为2型糖尿病" in "\n".join(d["text"] for d in docs)
    inferred = " ".join(r["detail"] for r in rows if r["reason"] == "glyph_map")
    assert "U+E002=2" in inferred and "shape" in inferred
    details = " ".join(r["detail"] for r in rows if r["reason"] == "unmapped_glyph")
    assert "U+E0A5" in details and "pua_map" in details and "U+E002" not in details


def test_long_sections_are_split_at_paragraphs_and_no_record_holds_the_book():
    docs, _, _ = run_reader("books", SAMPLES / "hypertension_en.pdf", books.Config(max_chars=700))
    whole = sum(len(d["text"]) for d in docs)
    assert max(len(d["text"]) for d in docs) < whole / 4
    parts = [d for d in docs if d["meta"]["part"] > 1]
    assert parts and all(d["id"].endswith(f"-part{d['meta']['part']}") for d in parts)
    assert all(d["meta"]["title"] and not d["text"].startswith(d["meta"]["title"]) for d in parts)  # once only


def test_same_input_same_records():
    first = run_reader("books", SAMPLES / "tangniaobing_zh.pdf", books.Config(pua_map=PUA_DIGITS))
    second = run_reader("books", SAMPLES / "tangniaobing_zh.pdf", books.Config(pua_map=PUA_DIGITS))
    assert first == second


def test_units_counts_pages(tmp_path):
    assert books.units(SAMPLES / "hypertension_en.pdf", books.Config()) == 6
    (tmp_path / "x.pdf").write_bytes(b"")
    assert books.units(tmp_path / "x.pdf", books.Config()) == 1


def test_real_pdf_body_kept_tables_and_running_header_dropped(realdata):
    docs, _, rows = run_reader("books", realdata / "pdfs" / "cermine_example2_BMC_Malawi_QI.pdf")
    text = "\n".join(d["text"] for d in docs)
    assert ("The desire to improve on health systems and healthcare delivery is common in many low and "
            "middle income countries (LMIC). However") in text
    assert "expectations are high for both the quality of care" in text  # "expec-" + "tations" joined
    for cell in ("Privacy given", "Treatment implications told", "Informed to come for check-up", "88.7",
                 "Strengths/existing quality model"):
        assert cell not in text, cell
    assert "BMC Health Services Research 2014" not in text and "Page 4 of 10" not in text
    assert "Measuring quality: from the system to the provider" not in text  # references cut
    assert any(r["reason"] == "back_matter" and "'References'" in r["detail"] for r in rows)
    assert docs[1]["meta"]["title"] == "Background" and docs[1]["meta"]["chapter"] == "Abstract"


def test_rules_finder_agrees_with_find_tables_on_the_real_pdf(realdata):
    from curate.readers.pdf import headings as bookheadings
    from curate.readers.pdf import layout as pdflayout
    from curate.readers.pdf import tables as pdftables

    starts = bookheadings.starts(books.Config())
    with pymupdf.open(realdata / "pdfs" / "cermine_example2_BMC_Malawi_QI.pdf") as doc:
        checked = 0
        for page in doc:
            found = [pymupdf.Rect(t.bbox) * page.derotation_matrix for t in page.find_tables().tables]
            layout = pdflayout.read_page(page, page.number, starts)
            pdftables.mark(page, layout.blocks, "rules")
            for b in layout.blocks:
                centre = pymupdf.Point((b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2)
                if any(centre in r for r in found) and b.y0 > 60:  # below the running head
                    assert b.kind in ("table", "caption"), (page.number, b.text)
                    checked += 1
        assert checked > 40
    docs, _, _ = run_reader("books", realdata / "pdfs" / "cermine_example2_BMC_Malawi_QI.pdf",
                            books.Config(table_finder="pymupdf"))
    text = "\n".join(d["text"] for d in docs)
    assert "Privacy given" not in text and "The desire to improve on health systems" in text

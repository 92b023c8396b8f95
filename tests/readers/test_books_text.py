"""Books: line joining, markers, character repair, page layout and headings on purpose-built input."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pymupdf
import pytest

from curate.core.textbalance import characters
from curate.readers import books
from curate.readers.pdf import headings as bookheadings
from curate.readers.pdf import layout as pdflayout
from curate.readers.pdf import tables as pdftables
from curate.readers.pdf import text as pdftext
from curate.readers.pdf.layout import Block, Page
from curate.readers.pdf.plan import GlyphMap


def test_join_lines_latin_hyphens_and_compounds():
    known = pdftext.compounds(["the follow-up visit and renin-angiotensin-aldosterone axis"])
    assert known == {"follow-up", "renin-angiotensin", "angiotensin-aldosterone"}
    lines = ["The expec-", "tations of follow-", "up care in COVID-", "19 wards rose", "in mg/", "dL."]
    assert pdftext.join_lines(lines, known) == ("The expectations of follow-up care in COVID-19 wards rose in "
                                                "mg/dL.")
    assert pdftext.join_lines(["a  b\t c", "  d  "]) == "a b c d"
    assert pdftext.join_lines(["tumour\u00ad", "ous"]) == "tumourous"


def test_join_lines_cjk_without_spaces():
    assert pdftext.join_lines(["糖尿病是一组以高血糖为特征的代谢性疾", "病，其发病与遗传有关。"]) == \
        "糖尿病是一组以高血糖为特征的代谢性疾病，其发病与遗传有关。"
    assert pdftext.join_lines(["首选二甲双胍", "Metformin 治疗"]) == "首选二甲双胍Metformin 治疗"


def test_continues_across_columns_and_pages():
    assert pdftext.continues("the patients were", "treated at home", full=True)
    assert not pdftext.continues("the patients were treated.", "then they", full=True)
    assert not pdftext.continues("Clinical features", "The disease", full=False)
    assert pdftext.continues("由胰岛素分泌不足或作用缺陷", "引起的代谢性疾病", full=True)
    assert not pdftext.continues("概述", "糖尿病是", full=False)  # a short line is a heading
    assert pdftext.continues("countries (LMIC)", "are affected", full=True)
    # A CJK line after a number or a Latin word: its unit or its sentence, not a list's item or a glossary term
    assert pdftext.continues("这一时期是我国精神病学发展的重要时期。1958年精神病医疗机构增加到70所，床位11000",
                             "余张。", full=True)
    assert pdftext.continues("惊恐障碍的病因仍不清楚，已有多种模型被提出。German 等（1989）基于Klein",
                             "的现象学模型提出惊恐障碍的神经解剖假说", full=True)
    assert pdftext.continues("妄想是在病理基础上产生的歪曲的信念、病态的推理和判断。其特点是：①",
                             "无事实根据；②与患者的文化水平不相符合", full=True)
    assert not pdftext.continues("test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out",
                                 "你还可以运行名称匹配特定模式的测试：", full=True)  # after a block of code
    assert not pdftext.continues("床位11000", "余张。", full=False)
    assert not pdftext.continues("例：丙磺舒的pKa ＝3.4", "（二）载体转运", full=True)
    assert not pdftext.continues("Criteria of Mental disorders, CMD", "自知力insight", full=True)


def test_strip_markers_keeps_numbers_that_mean_something():
    s = ("common in countries (LMIC) [1]. Risk [2,3] and [4-6] rose with stroke.¹² Most cells¹ had p53, "
         "m² area, 10⁹/L counts, type 2 disease in 2010.12 patients and therapy† 糖尿病［1］。 Duah¹* wrote "
         "Notch1 signalling, libtasn1.h, globs2 files, No.9 People")
    assert pdftext.strip_markers(s) == ("common in countries (LMIC). Risk and rose with stroke. Most cells had p53, "
                                        "m² area, 10⁹/L counts, type 2 disease in 2010.12 patients and therapy "
                                        "糖尿病。 Duah wrote Notch1 signalling, libtasn1.h, globs2 files, No.9 People")


def test_only_raised_numbers_glued_to_words_are_markers(tmp_path):
    """The type decides, not the text: a raised, smaller number after a word is a footnote or citation
    marker; digits on the baseline are part of a name (``Notch1``, ``libtasn1.h``, ``No.9``)."""
    doc = pymupdf.open()
    page = doc.new_page()
    font = pymupdf.Font("helv")

    def line(y: float, *pieces: tuple[str, bool]) -> None:
        x = 72.0
        for text, up in pieces:
            size = 7.0 if up else 10.0
            page.insert_text((x, y - (3.5 if up else 0.0)), text, fontname="helv", fontsize=size)
            x += font.text_length(text, fontsize=size)

    line(100, ("Resistance rose in treated cells", False), ("12", True), (" and in the disease.", False),
         ("3,4", True), (" Then Notch1 signalling fell.", False))
    line(114, ("The header is libtasn1.h and the file globs2 lists them; see No.9 People.", False))
    out = pdflayout.read_page(page, 0, re.compile(r"(?!)"))
    text = " ".join(" ".join(b.lines) for b in out.blocks)
    assert "cells¹² and in the disease.³,⁴ Then Notch1" in text
    assert "libtasn1.h" in text and "globs2" in text and "No.9 People" in text
    assert pdftext.strip_markers(text).startswith("Resistance rose in treated cells and in the disease. Then Notch1")


def test_character_map_and_repair_counted():
    table = pdftext.char_map(["U+E000..U+E009=0123456789", "U+F0B7=•"])
    counts: Counter[str] = Counter()
    glyph_map = GlyphMap(table={0xF356: "0", 0xF357: "", 0x41: "X"})  # 0x41 is not safe: never in the table
    chars = pdftext.Chars(glyph_map, table, counts)
    out = chars("⻓期 \ue002\ue000年 \uf0b7 ⽬前 \ue0a5 \ufffd \uf356\uf357 ﬁbrosis Ã©tÃ©")
    assert out == "长期 20年 • 目前   0 fibrosis été"
    assert counts["radicals_mapped"] == 2 and counts["pua_mapped"] == 3
    assert counts["text_in"] == characters(out) + counts["text_removed_unmapped_glyph"]
    assert counts["text_removed_unmapped_glyph"] == 3
    assert chars.seen[0xE0A5][0] == 1 and chars.seen[0xF357][0] == 1 and "目前" in chars.seen[0xFFFD][1]
    with pytest.raises(ValueError, match="as many characters"):
        pdftext.parse_char_map(["U+E000..U+E009=01"])


def _blocks(*boxes: tuple[float, float, float, float, int]) -> list[Block]:
    return [Block(x0, y0, x1, y1, [f"line {i}"] * n) for i, (x0, y0, x1, y1, n) in enumerate(boxes)]


def test_reading_order_columns_and_spanning_title():
    title, a1, a2, b1, b2, wide, c1 = _blocks((50, 40, 540, 60, 1), (50, 80, 290, 300, 12), (50, 310, 290, 500, 10),
                                              (310, 80, 540, 400, 16), (310, 410, 540, 500, 5),
                                              (50, 520, 540, 560, 2), (50, 580, 290, 700, 6))
    order = pdflayout.reading_order([b1, wide, a2, title, c1, b2, a1])
    assert order == [title, a1, a2, b1, b2, wide, c1]
    one = _blocks((50, 300, 540, 400, 5), (50, 100, 540, 200, 5))
    assert pdflayout.reading_order(one) == [one[1], one[0]]


def _page(number: int, head: str, body: str) -> Page:
    return Page(number, 595, 842, [Block(50, 30, 300, 42, [head]), Block(50, 100, 540, 700, [body] * 40),
                                   Block(290, 800, 305, 812, [str(number + 11)])])


def test_running_heads_repeat_and_page_numbers_go():
    running = pdflayout.Running(pdflayout.RunningConfig(window=3))
    pages = []
    for n in range(6):
        head = "Handbook of Medicine" if n % 2 else f"Chapter 3 Page {n}"  # digits are ignored
        pages += running.push(_page(n, head, f"body text {n}"))
    pages += running.flush()
    kinds = [[b.kind for b in p.blocks] for p in pages]
    assert [p.number for p in pages] == list(range(6))
    assert all(k == ["running", "body", "page_number"] for k in kinds)
    lone = pdflayout.Running(pdflayout.RunningConfig())
    (page,) = [*lone.push(_page(0, "A top line seen once", "text")), *lone.flush()]
    assert page.blocks[0].kind == "body"


def test_ruled_table_found_and_boxed_note_kept(tmp_path):
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 90), "Table 2 Doses in adults", fontsize=9)
    for y in (100, 118, 180):
        page.draw_line((72, y), (300, y), width=0.7)
    for i, row in enumerate(["Drug Dose Interval", "Aspirin 75 mg daily", "Heparin 5000 u bid"]):
        for j, cell in enumerate(row.split(" ", 1) if i else row.split(" ")):
            page.insert_text((72 + 110 * j, 112 + 22 * i), cell, fontsize=9)
    page.draw_rect(pymupdf.Rect(72, 400, 500, 460), width=0.7)  # a boxed note: two rules, no table
    page.insert_text((80, 420), "Note: always check renal function before the first dose.", fontsize=9)
    page.insert_text((80, 432), "Adjust the dose when the clearance is low.", fontsize=9)
    layout = pdflayout.read_page(page, 0, bookheadings.starts(books.Config()))
    tables, _ = pdftables.mark(page, layout.blocks, "rules")
    kinds = {b.text.split("\n")[0]: b.kind for b in layout.blocks}
    assert tables == 1 and kinds["Table 2 Doses in adults"] == "caption"
    assert all(kind == "table" for text, kind in kinds.items() if text.startswith(("Drug", "Aspirin", "Heparin")))
    assert kinds["Note: always check renal function before the first dose."] == "body"


def test_headings_without_outline():
    def block(text: str, height: float = 12.0) -> Block:
        return Block(50, 100, 400, 100 + height, [text])

    assert bookheadings.detect_level(block("第三章 糖尿病"), 12.0) == 1
    assert bookheadings.detect_level(block("第二节 临床表现"), 12.0) == 2
    assert bookheadings.detect_level(block("3.2 Pathophysiology"), 12.0) == 2
    assert bookheadings.detect_level(block("Clinical features", height=18.0), 12.0) == 2
    assert bookheadings.detect_level(block("Clinical features"), 12.0) is None
    assert bookheadings.detect_level(block("2.5 mg twice daily is enough."), 12.0) is None
    # A paragraph's first line, taller for a Latin word in another font: a sentence ends inside it.
    first = "阿尔茨海默病（Alzheimer’s disease, AD）是一组病因未明的原发性退行性脑变性疾病。常起病于"
    assert bookheadings.detect_level(block(first, height=16.0), 12.0) is None
    assert bookheadings.detect_level(block("精神障碍的分类与诊断标准", height=16.0), 12.0) == 2
    for formula in ("10pH-pKa ＝[A−]", "当C≫Km 时，则", "t1/2 = 0.693/k"):  # equations set on their own line
        assert bookheadings.detect_level(block(formula, height=18.0), 12.0) is None


def test_outline_titles_found_run_in_and_wrapped():
    pending = [bookheadings.Heading(2, "Background", 0), bookheadings.Heading(2, "3.7 Hypertensive emergencies", 0)]
    blocks = [Block(50, 100, 300, 140, ["Background: Knowledge is lacking in", "many settings."]),
              Block(50, 200, 300, 212, ["3.7 Hypertensive"]), Block(50, 214, 300, 226, ["emergencies"]),
              Block(50, 240, 300, 300, ["A hypertensive emergency is severe."])]
    out, missing = bookheadings.place_outline(blocks, pending)
    assert missing == 0 and out[0].title == "Background"
    assert [(b.kind, " ".join(b.lines[:1] if b.kind == "body" else b.lines)) for b in out] == [
        ("heading", "Background:"), ("body", "Knowledge is lacking in"),
        ("heading", "3.7 Hypertensive emergencies"), ("body", "A hypertensive emergency is severe.")]


def _listed(path, bullet_font: str) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 80), "Patients should be told three things about their treatment.", fontsize=10)
    for i, item in enumerate(["take the tablets with food every morning.", "report any swelling of the ankles.",
                              "measure the blood pressure at home."]):
        page.insert_text((72, 100 + 14 * i), "l", fontname=bullet_font, fontsize=8)
        page.insert_text((86, 100 + 14 * i), item, fontsize=10)
    page.insert_text((72, 150), "r A lone r at the start of a line stays a letter in a text font.", fontsize=10)
    doc.save(path)


def test_dingbat_bullets_read_as_bullets_and_list_items_kept(tmp_path):
    from tests.readers.helpers import run_reader

    _listed(tmp_path / "zapf.pdf", "zadb")
    docs, _, _ = run_reader("books", tmp_path / "zapf.pdf")
    text = docs[0]["text"]
    assert "• take the tablets with food every morning.\n\n• report any swelling" in text
    assert "\nr A lone r at the start" in text and "l take" not in text
    _listed(tmp_path / "plain.pdf", "helv")  # the same letter in a text font stays a letter
    docs, _, _ = run_reader("books", tmp_path / "plain.pdf")
    assert "l take the tablets" in docs[0]["text"] and "•" not in docs[0]["text"]


def test_glyph_map_inferred_only_when_a_page_shows_a_raw_code(monkeypatch):
    from curate.readers.pdf import fonts as pdffonts
    from curate.readers.pdf import plan as pdfplan
    from tests.readers.helpers import run_reader

    samples = Path(books.__file__).resolve().parents[2] / "samples" / "books"
    assert not pdffonts.has_raw_code("Tab. 3 – αβ 糖尿病 \u2f6c \U0001d400") and pdffonts.has_raw_code("x\uf356")
    assert pdffonts.has_raw_code("\x01 item") and pdffonts.has_raw_code("\u0378") and not pdffonts.has_raw_code("\t\n")

    def refuse(*_):
        raise AssertionError("the glyph map was inferred for a book without raw glyph codes")

    monkeypatch.setattr(pdfplan, "glyph_map", refuse)
    docs, _, rows = run_reader("books", samples / "hypertension_en.pdf")
    assert docs and not [r for r in rows if r["reason"] == "page_error"]
    _, _, rows = run_reader("books", samples / "tangniaobing_zh.pdf")  # private-use digits: the map is needed
    assert any(r["reason"] == "page_error" and "was inferred" in r["detail"] for r in rows)


def test_list_items_set_close_together_stay_items():
    """Bullet items that share one block become one paragraph each; a wrapped item stays whole."""
    block = Block(0, 0, 200, 60, ["Here are the types:", "• OBJECT IDENTIFIER;", "• NULL;",
                                  "• a longer item that wraps", "onto a second line", "◦ a nested item"])
    parts = pdflayout._split(block, re.compile(r"(?!)"))
    assert [p.lines for p in parts] == [["Here are the types:"], ["• OBJECT IDENTIFIER;"], ["• NULL;"],
                                        ["• a longer item that wraps", "onto a second line"], ["◦ a nested item"]]


def test_bracketed_numbers_in_code_or_notation_are_not_citations():
    """Brackets after ``&``, ``!``, ``(``, ``=`` and the like hold an array or an index, not a citation:
    ``&[1, 2, 3]``, ``vec![22]``, ``zip([1, 2])``, ``x = [0, 1]``; a citation after a word or a sentence goes."""
    s = ("iterate over &[1, 2, 3] and vec![22] or zip([1, 2]) with x = [0, 1] and a[2] as shown [12]. "
         "Earlier work[3,4] and trials [5–7].")
    assert pdftext.strip_markers(s) == ("iterate over &[1, 2, 3] and vec![22] or zip([1, 2]) with x = [0, 1] and "
                                        "a as shown. Earlier work and trials.")

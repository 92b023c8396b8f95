"""Heading keys and outline placement: the fast paths give what the plain computation gives."""

import random
import unicodedata

# curate.readers.pdf is imported inside the tests: imported first at collection, it would load pymupdf without
# its layout model for the whole session, and page.find_tables (which other tests compare with) finds less.


def test_fast_nfkc_equals_unicode_nfkc():
    from curate.readers.pdf import headings

    pool = ([chr(c) for c in range(0xFF01, 0xFF5F)] + list("精神病学。、「」…ﬁ①㎎Å\u0301\u0308\u3000 aZ9.")
            + ["\u2f00", "\u2e8c", "\u1100\u1161", "\ufe10"])
    rng = random.Random(3)
    texts = ["".join(rng.choices(pool, k=rng.randint(1, 30))) for _ in range(3000)] + ["Ａ\u0301", "plain ascii"]
    for s in texts:
        assert headings._nfkc(s) == unicodedata.normalize("NFKC", s), s
    assert headings.title_key("第１章　总论（Ⅰ）") == headings.title_key("第1章 总论(I)")


def _texts(seed: int, n: int) -> list[str]:
    pool = ([chr(c) for c in range(0xFF01, 0xFF5F)] + list("精神病学。、「」…ﬁ①㎎Å\u0301\u0308\u3000 aZ9.-_")
            + ["\u2f00", "\u2e8c", "\u1100\u1161", "\ufe10", "\n"])
    rng = random.Random(seed)
    return ["".join(rng.choices(pool, k=rng.randint(0, 30))) for _ in range(n)]


def test_nfkc_of_a_page_of_lines_equals_nfkc_of_each_line():
    from curate.readers.pdf import headings

    texts = _texts(5, 3000)
    lines = [t for t in texts if "\n" not in t]
    assert headings.nfkc_lines(lines) == [unicodedata.normalize("NFKC", s) for s in lines]
    # a line break inside a line (never so in a block's lines) still gives each line its own NFKC
    assert headings.nfkc_lines(texts[:50]) == [unicodedata.normalize("NFKC", s) for s in texts[:50]]
    for s in lines[:200]:
        assert headings.bare(s) == headings.unnumbered(headings.nfkc_lines([s])[0])


def test_key_length_bound_never_exceeds_the_key():
    """A line skipped as too long to begin a title has a key at least that long (or the wrapped title
    would be missed)."""
    from curate.readers.pdf import headings

    for s in [*_texts(7, 3000), "第一章 总论", "Ａ\u0301bc", "e\u0301e\u0301", "ß", "１２３"]:
        key = headings.title_key(s)
        for n in range(1, len(key) + 3):
            if headings._keeps(s, n):
                assert len(key) >= n, (s, n)


def test_wrapped_outline_title_rejoined_and_long_lines_left_alone():
    from curate.readers.pdf.headings import Heading, place_outline
    from curate.readers.pdf.layout import Block

    title = "Pharmacokinetics of the antiepileptic drugs in children"
    blocks = [Block(0, 0, 100, 10, ["Pharmacokinetics of the"]),
              Block(0, 10, 100, 20, ["antiepileptic drugs in children"]),
              Block(0, 30, 100, 60, ["Pharmacokinetics of the drugs given to children was studied in many trials",
                                     "with results that differ."])]
    out, missing = place_outline(blocks, [Heading(2, title, 0)])
    assert missing == 0 and out[0].kind == "heading" and out[0].lines == ["Pharmacokinetics of the",
                                                                         "antiepileptic drugs in children"]
    assert out[1].kind == "body" and len(out) == 2


def test_an_index_page_with_letter_heads_and_page_ranges_is_told_from_a_page_of_body_text():
    """An index (entries ending in page numbers or ranges, under letter heads, the page's own number at the
    top) is a contents-like page; body text with a few numbers at line ends is not."""
    from curate.readers.pdf import headings
    from curate.readers.pdf.layout import Block

    contents = headings.compile_titles(("(?:table of )?contents",))
    index = ["32", "Concept Index", "A", "aspirin . . . . . . . . 5", "atenolol . . . . . . 7, 12", "B",
             "beta blockers . . . . . 23–25", "bradycardia . . . . . . 24", "C", "captopril . . . . . . 31",
             "clonidine . . . . . . . 40-41"]
    assert headings.is_contents_page([Block(50, 50, 500, 700, index)], contents)[0]
    body = ["17", "A", "Blood pressure fell in both groups over the first weeks of treatment, by 12",
            "mmHg in the first group and by 9", "in the second group, after 8",
            "weeks of treatment with the lower dose; the difference was not significant at the level of 0.05",
            "Side effects were rare and mild in both groups, and no patient stopped the drug because of them.",
            "Heart rate did not change, and neither did the serum potassium or the creatinine of any patient,",
            "whether or not the patient took a diuretic as well; the trial was too small to say more than that",
            "about the rarer effects, which larger studies have reported in a few patients in every hundred.",
            "The dose was raised in a third of the patients of the first group, and the blood pressure of",
            "most of them fell further, while that of the others stayed where it was."]
    assert not headings.is_contents_page([Block(50, 50, 500, 700, body)], contents)[0]


def test_a_sentence_set_larger_is_not_a_title_but_a_short_line_is():
    """Without an outline a heading is told by its type; a line of clauses (a full-width comma) is a
    sentence however large its line (an inline code span makes a browser's line taller), a short line a title."""
    from curate.readers.pdf.headings import detect_level
    from curate.readers.pdf.layout import Block

    sentence = "这种格式化功能通过 trait 实现的，每种参数类型都对应一个 trait，它处理参数类型未指定的情况，例如"
    assert detect_level(Block(50, 100, 500, 118, [sentence]), 12.0) is None
    assert detect_level(Block(50, 100, 200, 124, ["格式化"]), 12.0) == 1
    assert detect_level(Block(50, 100, 300, 116, ["元组，如 (1, true)"]), 12.0) == 2


def test_a_papers_back_sections_are_back_matter_whatever_their_apostrophe():
    """The end sections of a journal article (BMC, Springer, PLoS) are back matter, with a typographic
    apostrophe as with a straight one; a body section whose title only begins like one is not."""
    from curate.readers import books
    from curate.readers.pdf import headings

    back = headings.compile_titles(books.Config().back_matter)
    for title in ("Authors’ contributions", "Authors' contributions", "Author details", "Authors’ information",
                  "Availability of data and materials", "Data availability statement", "List of abbreviations",
                  "Publisher’s Note", "Ethics approval and consent to participate", "Consent for publication",
                  "Declarations", "Supplementary Material", "Pre-publication history", "Funding information"):
        assert back.fullmatch(title.casefold()), title
    for title in ("Declaration of Helsinki and patient consent", "Author characteristics of the trials",
                  "Supplementary treatment with insulin", "Data collection"):
        assert not back.fullmatch(title.casefold()), title

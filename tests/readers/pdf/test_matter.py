"""Front and back matter inside pages, past the first pages: found block by block among body text."""

# curate.readers.pdf is imported inside the tests: imported first at collection, it would load pymupdf without
# its layout model for the whole session, and page.find_tables (which other tests compare with) finds less.


def _page():
    from curate.readers.pdf.layout import Block

    prose = ("Blood pressure was measured twice in every patient, and the mean of the two readings was used. "
             "Patients with a reading above the threshold were referred for a second visit within a week.")
    return [Block(50, 100, 500, 160, [prose[:95], prose[95:]]),
            Block(50, 170, 500, 190, ["Correspondence: Jane Doe, Department of Medicine,", "e-mail: jane@example.org"]),
            Block(50, 200, 500, 240, ["[12] Smith J, Lee K. Renal outcomes in hypertension. Lancet. 2019;393:1-9.",
                                      "[13] Wang L. Dose finding. BMJ. 2020;12:100-108."]),
            Block(50, 250, 500, 270, ["Received 3 March 2020; accepted 9 May 2020"])]


def test_contact_reference_and_process_blocks_marked_on_a_later_page():
    from curate.readers.pdf import matter
    from curate.readers.pdf.layout import BODY, FRONT, REFERENCES

    blocks = _page()
    assert matter.mark(blocks, 5, 800.0) == 3
    assert [b.kind for b in blocks] == [BODY, FRONT, REFERENCES, FRONT]


def test_page_without_a_trigger_word_keeps_its_blocks():
    from curate.readers.pdf import matter
    from curate.readers.pdf.layout import BODY

    blocks = _page()[:1] * 3
    assert matter.mark(blocks, 5, 800.0) == 0 and all(b.kind == BODY for b in blocks)


def test_a_licence_grant_is_front_matter_at_any_length_and_prose_about_licensing_stays():
    """The grant of a licence (GNU FDL, MIT, Creative Commons wording) is removed however long it is; body
    text that merely mentions a licence or a permission is kept."""
    from curate.readers.pdf import matter
    from curate.readers.pdf.layout import BODY, FRONT, Block

    grant = ("Permission is granted to copy, distribute and/or modify this document under the terms of the GNU Free "
             "Documentation License, Version 1.3 or any later version published by the Free Software Foundation; "
             "with no Invariant Sections, no Front-Cover Texts, and no Back-Cover Texts. A copy of the license is "
             "included in the section entitled GNU Free Documentation License. ") * 2  # over 400 characters
    cc = ("This work is licensed under a Creative Commons Attribution 4.0 International License, which permits use, "
          "sharing, adaptation, distribution and reproduction in any medium or format.")
    body = ("The drug was licensed for use in children in 2004, and permission to prescribe it outside hospitals was "
            "granted later, after a second trial showed that the dose could be lowered safely.")
    blocks = [Block(50, 100, 500, 200, [grant[i:i + 90] for i in range(0, len(grant), 90)]),
              Block(50, 210, 500, 240, [cc[:100], cc[100:]]),
              Block(50, 250, 500, 280, [body[:100], body[100:]])]
    matter.mark(blocks, 0, 800.0)
    assert [b.kind for b in blocks] == [FRONT, FRONT, BODY]


def test_an_affiliation_that_reads_like_a_sentence_and_an_article_label_go_and_the_title_stays():
    """On a paper's first page an affiliation whose abbreviations look like sentence ends is front matter,
    and so is the journal's ``Research Article`` label, without taking the title under it along; body
    text that names two institutions stays."""
    from curate.readers.pdf import matter
    from curate.readers.pdf.layout import BODY, FRONT, Block

    affiliation = ("Division of Population Health Sciences, Department of Psychology, Royal College of Surgeons in "
                   "Ireland, 123 St. Stephen’s Green, Dublin 2, Ireland")
    body = ("Patients were recruited at the Department of Cardiology of the University Hospital and were "
            "followed for a year. Most of them took part in every session of the programme.")
    blocks = [Block(50, 60, 200, 72, ["Research Article"]),
              Block(50, 80, 500, 110, ["Patient Experiences of Structured Heart Failure Programmes"]),
              Block(50, 120, 500, 140, [affiliation[:102], affiliation[103:]]),  # cut after "Ireland,"
              Block(50, 400, 500, 440, [body[:95], body[95:]])]
    matter.mark(blocks, 0, 800.0)
    assert [b.kind for b in blocks] == [FRONT, BODY, FRONT, BODY]


def test_a_page_of_reference_entries_one_per_block_goes_and_a_numbered_list_stays():
    """A page that goes on with a reference list without its heading, each entry a block of its own or two
    (an entry's last line set apart), is references; the page number stays the page's; a numbered list of
    doses, or two entries among paragraphs, stays body text."""
    from curate.readers.pdf import matter
    from curate.readers.pdf.layout import BODY, REFERENCES, Block

    entries = ["39．李喜泼．河北省保定市居民惊恐障碍患病情况分析［J］．中国公共卫生，2008，11（24）：1366‒1368",
               "40．栗克清，崔泽，等．河北省精神障碍的现状调查［J］．中华精神科杂志，2007，40（1）：", "36‒40",
               "41．马世民主编．精神疾病的司法鉴定．上海：上海医科大学出版社，1998",
               "42．沈渔邨．精神病学．4版［M］．北京：人民卫生",
               "出版社，2001", "43. Smith J, Lee K. Renal outcomes in hypertension. Lancet. 2019;393:1-9."]
    blocks = [Block(50, 100 + 20 * i, 500, 112 + 20 * i, [t]) for i, t in enumerate(entries)]
    blocks.append(Block(280, 780, 300, 790, ["417"]))
    assert matter.mark(blocks, 300, 800.0) == 7
    assert [b.kind for b in blocks] == [REFERENCES] * 7 + [BODY]

    # At the top of a paper's last page, under nothing but a running head: the number may be a line of its own.
    spill = [Block(50, 60, 500, 70, ["Doe et al. BMC Health Services Research 2014, 14:1 Page 10 of 10"]),
             Block(50, 91, 500, 98, ["29.", "Evans DB, et al: Measuring quality: from the system to the provider."]),
             Block(50, 100, 500, 107, ["Int J Qual Health Care 2001, 13(6):439–446."]),
             Block(50, 109, 500, 116, ["30. Irurita V: Factors affecting the quality of nursing care. Int J Nurs"]),
             Block(50, 118, 500, 125, ["Pract 1999, 5(2):86–94."]),
             Block(50, 127, 500, 134, ["31. Cooper LA, Hill MN: Designing interventions. J Gen Intern Med 2002,"]),
             Block(50, 136, 500, 143, ["17(6):477–486."])]
    prose_rows = ("The staff described their workload as heavy, and most of them said that the lack of supervision "
                  "made it hard to keep up the standards they had been trained to follow in the clinic.")
    spill += [Block(50, 200 + 40 * i, 500, 230 + 40 * i, [prose_rows[:100], prose_rows[100:]]) for i in range(6)]
    assert matter.mark(spill, 9, 800.0) == 6
    assert [b.kind for b in spill] == [BODY] + [REFERENCES] * 6 + [BODY] * 6
    findings = [Block(50, 100 + 20 * i, 500, 112 + 20 * i, [f"{i + 1}. In 2019, {40 + i}% (95% CI {30 + i}-{50 + i}) "
                                                            "of the patients were treated."]) for i in range(4)]
    assert matter.mark(findings, 9, 800.0) == 0 and all(b.kind == BODY for b in findings)

    doses = ["1．阿司匹林 100‒300 mg，每日1次", "2．氯吡格雷 75 mg，每日1次", "3．华法林 2‒5 mg，按INR调整",
             "4．肝素 5000 U，皮下注射"]
    listed = [Block(50, 100 + 20 * i, 500, 112 + 20 * i, [t]) for i, t in enumerate(doses)]
    assert matter.mark(listed, 300, 800.0) == 0 and all(b.kind == BODY for b in listed)
    prose = "患者的血压在治疗后明显下降，随访期间未见严重不良反应，提示该方案安全有效，可在基层医院推广使用。"
    mixed = [Block(50, 100 + 30 * i, 500, 124 + 30 * i, [prose[:30], prose[30:]]) for i in range(4)]
    mixed += [Block(50, 300 + 20 * i, 500, 312 + 20 * i, [t]) for i, t in enumerate(entries[:1] + entries[3:4])]
    assert matter.mark(mixed, 300, 800.0) == 0 and all(b.kind == BODY for b in mixed)


def test_a_chinese_numbered_list_of_doses_in_one_block_stays():
    """Full-width numbered items (``1．``) open a Chinese list as often as a reference entry: a block of
    them with dose ranges is body text."""
    from curate.readers.pdf import matter
    from curate.readers.pdf.layout import BODY, Block

    block = Block(50, 100, 500, 160, ["1．成人每日 2-4 g，分3次口服", "2．儿童每日 20-40 mg/kg，分3次口服",
                                      "3．老年人 1-2 g，每日1次", "4．肾功能不全者减量"])
    assert matter.mark([block], 300, 800.0) == 0 and block.kind == BODY

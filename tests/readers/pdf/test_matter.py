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

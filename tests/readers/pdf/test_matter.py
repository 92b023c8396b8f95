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

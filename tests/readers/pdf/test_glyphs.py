"""The shipped reference glyphs are what rendering the reference fonts gives."""

import numpy as np

# curate.readers.pdf is imported inside the tests: imported first at collection, it would load pymupdf without
# its layout model for the whole session, and page.find_tables (which other tests compare with) finds less.


def test_shipped_reference_glyphs_equal_rendered_ones():
    from curate.readers.pdf import glyphs

    glyphs.references.cache_clear()
    shipped, rendered = glyphs.references(), glyphs.render_references()
    assert [ch for ch, _ in shipped] == [ch for ch, _ in rendered] and len(shipped) > 300
    for (ch, a), (_, b) in zip(shipped, rendered, strict=True):
        assert a.bitmap.dtype == b.bitmap.dtype and np.array_equal(a.bitmap, b.bitmap), ch
        assert (a.aspect, a.height, a.bottom) == (b.aspect, b.height, b.bottom), ch


def test_missing_reference_file_falls_back_to_rendering(tmp_path, monkeypatch):
    from curate.readers.pdf import glyphs

    monkeypatch.setattr(glyphs, "REFERENCES_FILE", tmp_path / "absent.npz")
    glyphs.references.cache_clear()
    try:
        refs = glyphs.references()
    finally:
        glyphs.references.cache_clear()
    assert [ch for ch, _ in refs] == [ch for ch, _ in glyphs.render_references()]


def test_written_reference_file_reads_back(tmp_path, monkeypatch):
    from curate.readers.pdf import glyphs

    path = tmp_path / "refs.npz"
    glyphs.write_references(path)
    monkeypatch.setattr(glyphs, "REFERENCES_FILE", path)
    glyphs.references.cache_clear()
    try:
        refs = glyphs.references()
    finally:
        glyphs.references.cache_clear()
    assert glyphs.match_digit(refs[3][1])[0] == refs[3][0]

"""Books: symbol glyphs whose font maps them to the wrong character (``=`` read as ``¼``) or to none
(a minus sign), corrected from their outlines, on a generated PDF with its own embedded math font."""

from __future__ import annotations

import io

import pymupdf
from fontTools.fontBuilder import FontBuilder
from fontTools.pens.t2CharStringPen import T2CharStringPen

from curate.readers.pdf import symbols
from tests.readers.helpers import run_reader

_SENTENCE = ("The pooled estimate of the trial was clear and the haemoglobin rose in every group of patients "
             "treated with iron and eradication therapy")


def _bars(pen: T2CharStringPen, bars: list[tuple[int, int]], x0: int = 60, x1: int = 710) -> None:
    for y0, y1 in bars:
        pen.moveTo((x0, y0))
        pen.lineTo((x1, y0))
        pen.lineTo((x1, y1))
        pen.lineTo((x0, y1))
        pen.closePath()


def _reference(pen: T2CharStringPen, name: str) -> None:
    """A glyph of pymupdf's Times, drawn into ``pen``."""
    from fontTools.cffLib import CFFFontSet
    cff = CFFFontSet()
    cff.decompile(io.BytesIO(pymupdf.Font("tiro").buffer), None)
    cff[cff.fontNames[0]].CharStrings[name].draw(pen)


def _math_font(real: bool) -> bytes:
    """A bare CFF program with glyphs named ``onequarter`` (drawn as ``=``, or as a real ¼ when ``real``,
    with a real ``mu`` then) and ``C0`` (a minus sign), as publishers' math font subsets name them."""
    outlines = {}
    for name in ("onequarter", "C0", *(("mu",) if real else ())):
        pen = T2CharStringPen(770, None)
        if name == "C0":
            _bars(pen, [(229, 271)])
        elif not real:
            _bars(pen, [(133, 173), (327, 367)])
        else:
            _reference(pen, name)
        outlines[name] = pen.getCharString()
    outlines = {".notdef": T2CharStringPen(500, None).getCharString(), **outlines}
    fb = FontBuilder(1000, isTTF=False)
    fb.setupGlyphOrder(list(outlines))
    fb.setupCharacterMap({})
    fb.setupCFF("TestMath", {"FullName": "TestMath"}, outlines, {})
    fb.setupHorizontalMetrics({n: (770, 0) for n in outlines})
    fb.setupHorizontalHeader(ascent=800, descent=-200)
    fb.setupNameTable({"familyName": "TestMath", "styleName": "Regular"})
    fb.setupOS2()
    fb.setupPost()
    out = io.BytesIO()
    fb.font["CFF "].cff.compile(out, fb.font)
    return out.getvalue()


def _obj(doc: pymupdf.Document, source: str, stream: bytes | None = None) -> int:
    xref = doc.get_new_xref()
    doc.update_object(xref, source)
    if stream is not None:
        doc.update_stream(xref, stream)
    return xref


def make_pdf(path, real: bool = False) -> None:
    """A page of prose whose p values and a confidence interval are set in the math font: ``=`` at
    code 0xBC, which the font's ToUnicode maps to ``¼``, and ``−`` at code 2, which it leaves out (or,
    when ``real``, a real ``¼`` and a micro sign ``µ`` at 0xB5, both mapped right)."""
    doc = pymupdf.open()
    page = doc.new_page()
    program = _obj(doc, "<< /Subtype /Type1C >>", _math_font(real))
    descriptor = _obj(doc, "<< /Type /FontDescriptor /FontName /ABCDEF+TestMath /Flags 4 /ItalicAngle 0 "
                           "/FontBBox [0 -200 800 800] /Ascent 800 /Descent -200 /CapHeight 700 /StemV 80 "
                           f"/FontFile3 {program} 0 R >>")
    cmap = (b"/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /T1UV def /CMapType 2 def\n"
            b"1 begincodespacerange <00> <ff> endcodespacerange\n2 beginbfchar\n<bc> <00BC>\n<b5> <00B5>\nendbfchar\n"
            b"endcmap CMapName currentdict /CMap defineresource pop end end\n")
    to_unicode = _obj(doc, "<<>>", cmap)
    widths = " ".join("770" if c in (2, 181, 188) else "0" for c in range(2, 189))
    font = _obj(doc, f"<< /Type /Font /Subtype /Type1 /BaseFont /ABCDEF+TestMath /FirstChar 2 /LastChar 188 "
                     f"/Widths [{widths}] /Encoding << /Type /Encoding /Differences [2 /C0 181 /mu 188 /onequarter] >> "
                     f"/FontDescriptor {descriptor} 0 R /ToUnicode {to_unicode} 0 R >>")
    helv = _obj(doc, "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    doc.xref_set_key(page.xref, "Resources", f"<< /Font << /helv {helv} 0 R /FM {font} 0 R >> >>")
    lines = []
    for i in range(8):
        lines.append(f"BT /helv 10 Tf 72 {700 - 14 * i} Td ({_SENTENCE[:60 + i]} p) Tj "
                     f"/FM 10 Tf <bc> Tj /helv 10 Tf (0.0{i + 1}, CI ) Tj /FM 10 Tf <02> Tj "
                     f"/helv 10 Tf (0.{i + 2}0 to 1.5 ) Tj /FM 10 Tf <b5> Tj /helv 10 Tf (g.) Tj ET")
    doc.xref_set_key(page.xref, "Contents", f"{_obj(doc, '<<>>', chr(10).join(lines).encode())} 0 R")
    doc.save(path)


def test_equals_read_from_its_outline_not_from_the_font_map(tmp_path):
    make_pdf(tmp_path / "math.pdf")
    raw = pymupdf.open(tmp_path / "math.pdf")[0].get_text()
    assert "p¼0.01" in raw and "0.20" in raw and "−" not in raw  # what the font's map gives
    docs, _, rows = run_reader("books", tmp_path / "math.pdf")
    text = " ".join(d["text"] for d in docs)
    assert "p=0.01, CI −0.20 to 1.5" in text and "¼" not in text
    (row,) = [r for r in rows if r["reason"] == "glyph_map"]
    assert "TestMath" in row["detail"] and "'¼'→'='" in row["detail"] and "'(none)'→'−'" in row["detail"]
    assert not [r for r in rows if r["reason"] == "unmapped_glyph"]  # the minus is no longer dropped


def test_real_fraction_and_micro_sign_keep_their_text(tmp_path):
    make_pdf(tmp_path / "fraction.pdf", real=True)
    with pymupdf.open(tmp_path / "fraction.pdf") as doc:
        (found,) = symbols.repair(doc)
        assert found.codes == {2: ("", "−")}  # the minus only: µ is not turned into the Greek μ it looks like
        assert "p¼0.01" in doc[0].get_text() and "1.5 µg." in doc[0].get_text()


def test_shipped_symbol_references_are_their_rendering():
    """The shipped shapes (``symbol_references.npz``) are what rendering the reference fonts gives, exactly."""
    import numpy as np

    shipped = symbols._shipped()
    assert shipped is not None and {ch for _, ch in shipped} >= set(symbols.CANDIDATES)
    for ch in dict.fromkeys(symbols.SHIPPED):
        for fonts in (2, 3, 4):  # the competitors' fonts, the candidates', a claimed character's
            want, got = symbols.render_shapes(ch, fonts), symbols.reference_shapes(ch, fonts)
            assert len(want) == len(got), (ch, fonts)
            for a, b in zip(want, got, strict=True):
                assert a.bitmap.dtype == b.bitmap.dtype and np.array_equal(a.bitmap, b.bitmap)
                assert (a.aspect, a.height, a.bottom) == (b.aspect, b.height, b.bottom)


def test_checking_a_font_renders_no_reference_glyph(monkeypatch):
    """A process that checks fonts reads the shipped shapes instead of rendering them (0.2 s per process)."""

    def render(*args):
        raise AssertionError("a reference glyph was rendered")

    monkeypatch.setattr(symbols, "_reference_sets", render)
    for cached in (symbols.reference_shapes, symbols._stacked):
        cached.cache_clear()
    try:
        chars, bitmaps, *_ = symbols._stacked()
        assert len(chars) == len(bitmaps) > 100 and symbols.reference_shapes("¼")
    finally:
        for cached in (symbols.reference_shapes, symbols._stacked):
            cached.cache_clear()

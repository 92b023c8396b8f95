"""Symbol glyphs whose Unicode a PDF gets wrong or leaves out, read from their outlines.

Publishers' math fonts are often subset with an encoding or a ToUnicode map written for the code
positions of another font: the glyph drawn as ``=`` reads as ``¼``, ``−`` as ``À``, ``±`` as ``Æ``,
``×`` as ``Â`` (the Latin-1 characters at the codes the symbols occupy), or a symbol glyph has no
Unicode at all (a code named ``C0``). Text extraction then prints ``P ¼ 0.03`` for ``P = 0.03`` and
drops minus signs.

``repair`` checks, once per opened book and before any page is read, the glyphs of the simple fonts
(Type 1, TrueType) whose text is missing, or is a Latin-1 character in a font not flagged as a
standard Latin text font (FontDescriptor ``Flags``: Nonsymbolic without Symbolic): each glyph's
outline (from the embedded font program, by the glyph name its encoding gives) is rasterised and
compared with the same character in the reference fonts pymupdf ships, and with a set of symbols
(``CANDIDATES``) and every digit and Latin letter. A glyph is read as a symbol only when that symbol
matches it clearly (``_MIN_SCORE``), better than any other symbol, digit or letter, and much better
than the character its font claims (``_MIN_GAIN``); a glyph whose claimed character cannot be drawn
from the references is left as it is. The corrections are written into the font's ToUnicode map of
the opened document (never to the file), so that every later extraction reads them; each font's
corrections are reported (``ledger_rows``).
"""

from __future__ import annotations

import codecs
import functools
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from fontTools import agl
from fontTools.cffLib import CFFFontSet
from fontTools.encodings.StandardEncoding import StandardEncoding
from fontTools.ttLib import TTFont

from curate.core.ledger import Ledger
from curate.readers.pdf import fonts as pdffonts
from curate.readers.pdf import glyphs, pymupdf

# What a mis-encoded glyph may turn out to be: operators, relations, arrows, marks and the Greek
# letters of formulas (digits and Latin letters compete but are never the result).
CANDIDATES = "=−+±×÷<>≤≥≈≠≡∼·°′″→←↑↓↔∞√∝∑∫∂∆∈•αβγδεκλμπστχωΔΣΩ"
_REFERENCE_FONTS = ("tiro", "helv", "symb", "cour")
_MIN_SCORE, _MIN_MARGIN, _MIN_GAIN = 0.65, 0.1, 0.25
_BOTTOM = 1.0  # score lost per em of difference in where the glyphs stand (``−`` above ``_``)


@dataclass
class Correction:
    """One font's glyphs read from their outlines: code -> (what the PDF said, what the glyph is)."""

    font: str
    xref: int
    codes: dict[int, tuple[str, str]] = field(default_factory=dict)


@functools.cache
def _reference_sets() -> tuple:
    out = []
    for name in _REFERENCE_FONTS:
        cff = CFFFontSet()
        cff.decompile(io.BytesIO(pymupdf.Font(name).buffer), None)
        out.append(cff[cff.fontNames[0]].CharStrings)
    return tuple(out)


def _glyph_name(ch: str) -> str:
    return agl.UV2AGL.get(ord(ch), f"uni{ord(ch):04X}") if len(ch) == 1 else ""


def shape(contours: list[list[tuple[float, float]]], em: float) -> glyphs.Shape | None:
    """A glyph's outline stretched to fill the grid both ways (a bar or an ``=`` is flat: its proportions
    are compared through its aspect, height and place, not through a few rows of the grid)."""
    points = [p for c in contours for p in c]
    if len(points) < 3:
        return None
    ys, xs = [p[1] for p in points], [p[0] for p in points]
    h, w = max(ys) - min(ys), max(xs) - min(xs)
    if h <= 0 or w <= 0:
        return None
    stretched = glyphs.rasterise([[(x, y * w / h) for x, y in c] for c in contours], em)
    if stretched is None:
        return None
    return glyphs.Shape(stretched.bitmap, w / h, h / em, min(ys) / em)


@functools.cache
def reference_shapes(ch: str, fonts: int = len(_REFERENCE_FONTS)) -> tuple[glyphs.Shape, ...]:
    """The shapes of a character in the first ``fonts`` reference fonts that have it."""
    shipped = _shipped()
    if shipped is not None and ch in SHIPPED:
        return tuple(shipped[i, ch] for i in range(fonts) if (i, ch) in shipped)
    return render_shapes(ch, fonts)


def render_shapes(ch: str, fonts: int = len(_REFERENCE_FONTS)) -> tuple[glyphs.Shape, ...]:
    """Rasterise a character from the first ``fonts`` reference fonts that have it."""
    name, out = _glyph_name(ch), []
    for strings in _reference_sets()[:fonts]:
        if name and name in strings:
            pen = glyphs._Flatten()
            strings[name].draw(pen)
            found = shape(pen.contours, 1000.0)
            if found is not None:
                out.append(found)
    return tuple(out)


# The reference shapes of the symbols, digits and letters every check compares with, and of the characters
# fonts claim most (ASCII, Latin-1), rasterised once (``write_references``) and shipped with the package:
# rendering them through fontTools' charstring interpreter costs every process that checks a font 0.2 s.
SHIPPED = CANDIDATES + glyphs.DIGITS + glyphs._LETTERS + "".join(
    chr(c) for c in (*range(0x21, 0x7F), *range(0xA1, 0x100)) if not chr(c).isalnum() or c > 0x7F)
REFERENCES_FILE = Path(__file__).with_name("symbol_references.npz")


@functools.cache
def _shipped() -> dict[tuple[int, str], glyphs.Shape] | None:
    """The shapes of ``SHIPPED`` by (reference font, character), from ``REFERENCES_FILE`` (None: render them)."""
    try:
        with np.load(REFERENCES_FILE) as f:
            chars, fonts, bitmaps, numbers = str(f["chars"]), f["fonts"], f["bitmaps"], f["numbers"]
    except (OSError, ValueError, KeyError):  # a missing or unreadable file: render them as needed
        return None
    if not len(chars) == len(fonts) == len(bitmaps) == len(numbers) or bitmaps.shape[1:] != (glyphs.GRID,) * 2:
        return None
    return {(int(i), ch): glyphs.Shape(bitmap, *map(float, row))
            for ch, i, bitmap, row in zip(chars, fonts, bitmaps, numbers, strict=True)}


def write_references(path: Path = REFERENCES_FILE) -> None:
    """Write the rasterised shapes of ``SHIPPED`` to ``path`` (run after changing ``shape`` or the fonts)."""
    rows = [(ch, i, found) for ch in dict.fromkeys(SHIPPED) for i in range(len(_REFERENCE_FONTS))
            for found in render_shapes(ch, i + 1)[len(render_shapes(ch, i)):]]
    np.savez_compressed(path, chars=np.array("".join(ch for ch, _, _ in rows)),
                        fonts=np.array([i for _, i, _ in rows], dtype=np.int8),
                        bitmaps=np.stack([s.bitmap for _, _, s in rows]),
                        numbers=np.array([(s.aspect, s.height, s.bottom) for _, _, s in rows], dtype=np.float64))


@functools.cache
def _stacked() -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every reference shape of the candidates, digits and letters, as arrays (one row each)."""
    rows = [(ch, r) for ch in CANDIDATES for r in reference_shapes(ch, 3)]  # Courier's symbols add little
    rows += [(ch, r) for ch in glyphs.DIGITS + glyphs._LETTERS for r in reference_shapes(ch, 2)]  # competitors
    return ([ch for ch, _ in rows], np.stack([r.bitmap for _, r in rows]),
            np.array([[r.aspect, r.height, r.bottom] for _, r in rows]), np.array([r.bitmap.sum() for _, r in rows]),
            np.array([ch in CANDIDATES for ch, _ in rows]))


def score(a: glyphs.Shape, b: glyphs.Shape) -> float:
    """``glyphs.similarity`` less a penalty for standing at another height."""
    return glyphs.similarity(a, b) - _BOTTOM * abs(a.bottom - b.bottom)


def _best(shape: glyphs.Shape, ch: str) -> float:
    return max((score(shape, r) for r in reference_shapes(ch)), default=-9.0)


def identify(glyph: glyphs.Shape, claimed: str) -> str | None:
    """The symbol a glyph is when it is clearly not ``claimed`` ("" when the font gives no text)."""
    if claimed and not reference_shapes(claimed):
        return None  # nothing to check the claim against
    chars, bitmaps, props, sums, _ = _stacked()  # ``score`` against every reference at once
    inter = np.minimum(bitmaps, glyph.bitmap[None]).sum(axis=(1, 2))
    scores = 2 * inter / (sums + glyph.bitmap.sum()) - 0.3 * np.abs(np.log(glyph.aspect / props[:, 0])) \
        - 0.3 * np.abs(np.log(glyph.height / props[:, 1])) - _BOTTOM * np.abs(glyph.bottom - props[:, 2])
    best: dict[str, float] = {}
    for ch, s in zip(chars, scores.tolist(), strict=True):
        if s > best.get(ch, -9.0):
            best[ch] = s
    (top, ch), (second, _) = sorted(((s, c) for c, s in best.items()), reverse=True)[:2]
    if ch not in CANDIDATES or ch == claimed or top < _MIN_SCORE or top - second < _MIN_MARGIN:
        return None
    return ch if not claimed or top - _best(glyph, claimed) >= _MIN_GAIN else None


# ---- the fonts' codes, names and claims ------------------------------------------------------------

@functools.cache
def _base_names(encoding: str) -> dict[int, str]:
    """Code -> glyph name of a standard base encoding."""
    if encoding == "StandardEncoding":
        return {c: n for c, n in enumerate(StandardEncoding) if n != ".notdef"}
    codec = {"WinAnsiEncoding": "cp1252", "MacRomanEncoding": "mac_roman"}.get(encoding)
    if codec is None:
        return {}
    out = {}
    for code in range(32, 256):
        try:
            ch = codecs.decode(bytes([code]), codec)
        except UnicodeDecodeError:
            continue
        out[code] = _glyph_name(ch)
    return out


def _program(doc: pymupdf.Document, xref: int) -> tuple[str, bytes]:
    try:
        _, ext, _, data = doc.extract_font(xref)
    except Exception:
        return "", b""
    return ext, data or b""


def _drawer(ext: str, data: bytes, names: dict[int, str]):
    """(``draw(code, pen)``, code -> glyph name, units per em) over a CFF or TrueType program by the
    encoding's glyph names; ``draw`` is None for other programs."""
    if ext == "cff":
        cff = CFFFontSet()
        cff.decompile(io.BytesIO(data), None)
        top = cff[cff.fontNames[0]]
        if hasattr(top, "ROS"):
            return None, {}, 1000.0
        matrix = getattr(top, "FontMatrix", [0.001])
        builtin = top.Encoding if isinstance(getattr(top, "Encoding", None), list) else []
        strings = top.CharStrings
        by_code = {c: n for c, n in enumerate(builtin) if n and n != ".notdef"} | names
        by_code = {c: n for c, n in by_code.items() if n in strings}
        return (lambda code, pen: strings[by_code[code]].draw(pen)), by_code, 1.0 / (matrix[0] or 0.001)
    if ext == "ttf":
        font = TTFont(io.BytesIO(data), lazy=True)
        order = set(font.getGlyphOrder())
        by_code: dict[int, str] = {}
        for table in font["cmap"].tables if "cmap" in font else ():
            if (table.platformID, table.platEncID) in ((3, 0), (1, 0)):
                for c, n in table.cmap.items():
                    by_code.setdefault(c & 0xFF, n)
        by_code |= {c: n for c, n in names.items() if n in order}
        glyph_set = font.getGlyphSet()
        em = float(font["head"].unitsPerEm) if "head" in font else 1000.0
        return (lambda code, pen: glyph_set[by_code[code]].draw(pen)), by_code, em
    return None, {}, 1000.0


def _to_unicode(doc: pymupdf.Document, xref: int) -> dict[int, str]:
    tu = pdffonts._ref(pdffonts._key(doc, xref, "ToUnicode"))
    return pdffonts.parse_cmap(doc.xref_stream(tu) or b"") if tu else {}


def _used(doc: pymupdf.Document, xref: int) -> list[int]:
    """The codes the font gives a width (all codes when it gives none)."""
    value = pdffonts._key(doc, xref, "Widths")
    if value.endswith("R"):
        value = doc.xref_object(pdffonts._ref(value), compressed=True)
    first = pdffonts._key(doc, xref, "FirstChar")
    widths = value.strip("[] ").split()
    if not widths or not first.isdigit():
        return list(range(256))
    return [int(first) + i for i, w in enumerate(widths) if w.replace(".", "", 1).lstrip("-").isdigit() and float(w)]


def _claim(code: int, table: dict[int, str], names: dict[int, str]) -> str:
    """What extraction gives a code: the ToUnicode entry, else the glyph name's Unicode."""
    return table[code] if code in table else pdffonts.glyph_unicode(names.get(code, ""))


def _suspect(text: str, latin: bool) -> bool:
    """Text a mis-encoded symbol glyph reads as: none, or (in a font not declared as standard Latin) a
    Latin-1 or Latin Extended character, those of the codes a symbol font's glyphs sit at. ASCII and
    typographic punctuation (quotes, dashes, bullets: shapes that differ from font to font) are taken
    as the font gives them."""
    return text == "" or (not latin and len(text) == 1 and 0xA1 <= ord(text) <= 0x24F)


def _latin(doc: pymupdf.Document, xref: int) -> bool:
    """Whether the font descriptor flags the font Nonsymbolic and not Symbolic: its glyphs are the
    standard Latin set, under their standard names."""
    flags = pdffonts._key(doc, pdffonts._ref(pdffonts._key(doc, xref, "FontDescriptor")) or xref, "Flags")
    value = int(flags) if flags.lstrip("-").isdigit() else 0
    return bool(value & 32) and not value & 4


def check_font(doc: pymupdf.Document, xref: int, name: str) -> Correction | None:
    """The corrections of one simple font, or None."""
    value = pdffonts._key(doc, xref, "Encoding")
    base = value.lstrip("/") if value.startswith("/") else ""
    if value.endswith("R"):
        obj = doc.xref_object(pdffonts._ref(value), compressed=True)
        base = next((b for b in ("WinAnsiEncoding", "MacRomanEncoding", "StandardEncoding") if b in obj), "")
    names = _base_names(base) | pdffonts._differences(doc, xref)
    table, used, latin = _to_unicode(doc, xref), _used(doc, xref), _latin(doc, xref)
    if (value or all(c in table for c in used)) and \
            not any(_suspect(_claim(c, table, names), latin) for c in used if c not in (0x20, 0xA0)):
        return None  # every glyph reads as ASCII or punctuation: nothing to check (no program opened)
    ext, data = _program(doc, xref)
    if ext not in ("cff", "ttf") or not data:
        return None
    try:
        draw, by_code, em = _drawer(ext, data, names)
    except Exception:  # a program fontTools cannot read: its text stays as extracted
        return None
    if draw is None:
        return None
    wanted = set(used)
    claims = {c: _claim(c, table, by_code) for c in sorted(by_code) if c in wanted}
    found = Correction(name, xref)
    for code, claimed in claims.items():
        if not _suspect(claimed, latin) or code in (0x20, 0xA0):
            continue
        pen = glyphs._Flatten()
        try:
            draw(code, pen)
        except Exception:
            continue
        found_shape = shape(pen.contours, em)
        symbol = identify(found_shape, claimed) if found_shape is not None else None
        if symbol is not None:
            found.codes[code] = (claimed, symbol)
    return found if found.codes else None


def _write_to_unicode(doc: pymupdf.Document, found: Correction) -> None:
    """A ToUnicode map for the font: its old entries with the corrections on top."""
    tu = pdffonts._ref(pdffonts._key(doc, found.xref, "ToUnicode"))
    table = pdffonts.parse_cmap(doc.xref_stream(tu) or b"") if tu else {}
    table.update({c: symbol for c, (_, symbol) in found.codes.items()})
    entries = [f"<{c:02X}> <{text.encode('utf-16-be').hex().upper()}>" for c, text in sorted(table.items()) if text]
    sections = "".join(f"{len(chunk)} beginbfchar\n" + "\n".join(chunk) + "\nendbfchar\n"
                       for chunk in (entries[i:i + 100] for i in range(0, len(entries), 100)))
    cmap = ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n/CIDSystemInfo << /Registry (Adobe) "
            "/Ordering (UCS) /Supplement 0 >> def\n/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            f"1 begincodespacerange\n<00> <FF>\nendcodespacerange\n{sections}endcmap\n"
            "CMapName currentdict /CMap defineresource pop\nend\nend\n")
    new = doc.get_new_xref()
    doc.update_object(new, "<<>>")
    doc.update_stream(new, cmap.encode("ascii"))
    doc.xref_set_key(found.xref, "ToUnicode", f"{new} 0 R")


def repair(doc: pymupdf.Document) -> list[Correction]:
    """Check the simple fonts of every page and correct their symbol glyphs in ``doc`` (see the module doc)."""
    out: list[Correction] = []
    if not doc.is_pdf:  # EPUB, FB2, XPS: no PDF fonts
        return out
    seen: set[int] = set()
    cache: dict[int, tuple[str, str]] = {}
    for pno in range(doc.page_count):
        try:
            listed = pdffonts.page_fonts(doc, pno, cache)
        except Exception:  # a damaged page: its fonts are read as they come
            continue
        for xref, kind, base in listed:
            if xref in seen or xref <= 0 or kind.lstrip("/") not in ("Type1", "MMType1", "TrueType"):
                continue
            seen.add(xref)
            try:
                found = check_font(doc, xref, base.split("+", 1)[-1])
                if found is not None:
                    _write_to_unicode(doc, found)
                    out.append(found)
            except Exception:  # a damaged font dictionary: the text layer decides what it gives
                continue
    return out


def ledger_rows(relpath: str, ids, ledger: Ledger, corrections: list[Correction], stats) -> None:
    """One ``glyph_map`` row per corrected font; ``glyphs_corrected`` counts the glyphs."""
    for found in corrections:
        pairs = ", ".join(f"0x{c:02X} {claimed or '(none)'!r}→{symbol!r}"
                          for c, (claimed, symbol) in sorted(found.codes.items()))
        ledger.modify(ids(f"font{found.xref}"), "glyph_map", f"books: '{relpath}' font '{found.font}': "
                      f"{len(found.codes)} glyphs read from their outlines, not from the font's Unicode map "
                      f"({pairs}); evidence: shape")
        stats["glyphs_corrected"] += len(found.codes)


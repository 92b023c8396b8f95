"""The fonts of a PDF and which of their glyphs have no Unicode: the book-level survey.

Text extraction gives each glyph the Unicode that the font's ``/ToUnicode`` map, its encoding or
its character collection assigns. Some fonts lack entries: XeLaTeX books set in Source Han Serif,
for example, carry digits whose CIDs are missing from the ToUnicode map, and a Type 3 or TeX font
may name its glyphs ``g12``. pymupdf then gives U+FFFD (or, with ``TEXT_CID_FOR_UNKNOWN_UNICODE``,
the raw character code, which the reader asks for so that the glyph can still be told apart).

``survey`` looks at every font the pages use, once per book (no page is rendered):

- the ToUnicode map is parsed (``bfchar`` and ``bfrange``);
- the embedded font program is opened with fontTools: the glyphs it holds are the codes the book
  uses (CIDs of a CID-keyed CFF font, glyph ids of an Identity-mapped TrueType font, the codes of a
  simple font's encoding), and it can draw them (``glyphs.Drawer``);
- the codes used without Unicode are the font's ``unknown`` codes; what they are is inferred in
  ``glyphs``.
"""

from __future__ import annotations

import functools
import io
import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import pymupdf
from fontTools import agl
from fontTools.cffLib import CFFFontSet
from fontTools.pens.basePen import AbstractPen
from fontTools.ttLib import TTFont

_HEX = re.compile(rb"<([0-9A-Fa-f]+)>")
_SECTION = re.compile(rb"begin(bfchar|bfrange)(.*?)end\1", re.S)
_COLLECTIONS = ("GB1", "CNS1", "Japan1", "Korea1", "KR")  # orderings MuPDF knows the Unicode of


def _utf16(data: bytes) -> str:
    try:
        return bytes.fromhex(data.decode()).decode("utf-16-be", errors="replace")
    except ValueError:
        return ""


def parse_cmap(stream: bytes) -> dict[int, str]:
    """Code -> Unicode text of a ToUnicode CMap stream (``bfchar`` and ``bfrange`` sections)."""
    table: dict[int, str] = {}
    for kind, body in _SECTION.findall(stream):
        if kind == b"bfchar":
            tokens = _HEX.findall(body)
            for code, uni in zip(tokens[::2], tokens[1::2], strict=False):
                table[int(code, 16)] = _utf16(uni)
            continue
        for line in body.splitlines():
            parts = _HEX.findall(line)
            if len(parts) < 3:
                continue
            lo, hi = int(parts[0], 16), int(parts[1], 16)
            if hi - lo > 0xFFFF:
                continue
            if b"[" in line:  # <lo> <hi> [<u1> <u2> ...]: one destination per code
                for i, uni in enumerate(parts[2:2 + hi - lo + 1]):
                    table[lo + i] = _utf16(uni)
                continue
            start = _utf16(parts[2])
            if not start:
                continue
            base = ord(start[-1])
            for i in range(hi - lo + 1):
                if base + i < 0x110000:
                    table[lo + i] = start[:-1] + chr(base + i)
    return table


Draw = Callable[[int, AbstractPen], bool]  # draw the glyph of a code with a pen; False when absent


@dataclass
class Font:
    """One font dictionary of the book and what is known of its glyphs' Unicode."""

    xref: int
    name: str  # BaseFont without the subset prefix, as text extraction reports it
    kind: str  # Type0, Type1, TrueType, Type3, MMType1
    to_unicode: dict[int, str] = field(default_factory=dict)
    names: dict[int, str] = field(default_factory=dict)  # code -> glyph name, where the font names glyphs
    unknown: set[int] = field(default_factory=set)  # codes used without any Unicode
    draw: Draw | None = None
    em: float = 1000.0  # font units per em
    program_cmap: dict[int, int] = field(default_factory=dict)  # code -> Unicode from the program's own cmap
    widths: dict[int, float] = field(default_factory=dict)  # code -> advance in thousandths of an em
    shown: dict[int, int] = field(default_factory=dict)  # code -> the private-use code point its ToUnicode gives

    def mark_private_use(self) -> None:
        """Codes whose ToUnicode gives a private-use code point carry no meaning either: unknown too."""
        for code, uni in self.to_unicode.items():
            if len(uni) == 1 and (0xE000 <= ord(uni) <= 0xF8FF or ord(uni) >= 0xF0000):
                self.unknown.add(code)
                self.shown[code] = ord(uni)


def _key(doc: pymupdf.Document, xref: int, key: str) -> str:
    kind, value = doc.xref_get_key(xref, key)
    return value if kind != "null" else ""


def _ref(value: str) -> int:
    m = re.match(r"(\d+) 0 R", value.strip("[] "))
    return int(m.group(1)) if m else 0


def _cff(data: bytes) -> tuple[Draw, float, dict[int, str], bool]:
    """Drawer over a bare CFF program: (draw by code, units per em, code -> glyph name, CID-keyed)."""
    cff = CFFFontSet()
    cff.decompile(io.BytesIO(data), None)
    top = cff[cff.fontNames[0]]
    strings = top.CharStrings
    cid_keyed = hasattr(top, "ROS")
    matrix = getattr(top, "FontMatrix", [0.001])
    em = 1.0 / matrix[0] if matrix and matrix[0] else 1000.0
    names: dict[int, str] = {}
    if cid_keyed:
        for name in top.charset:
            if name.startswith("cid") and name[3:].isdigit():
                names[int(name[3:])] = name
    else:
        encoding = getattr(top, "Encoding", None)
        if isinstance(encoding, list):
            names = {code: n for code, n in enumerate(encoding) if n and n != ".notdef"}

    def draw(code: int, pen: AbstractPen) -> bool:
        name = names.get(code)
        if name is None or name not in strings:
            return False
        strings[name].draw(pen)
        return True

    return draw, em, names, cid_keyed


def _truetype(data: bytes, cid_to_gid: dict[int, int] | None,
              need_used: bool = True) -> tuple[Draw, float, dict[int, int], list[int]]:
    """Drawer over a TrueType/OpenType program by code (CID through ``cid_to_gid``, else glyph id);
    the glyph ids with outlines only when ``need_used`` (it reads every glyph: slow for CJK fonts)."""
    font = TTFont(io.BytesIO(data), lazy=True, fontNumber=0)
    order = font.getGlyphOrder()
    em = float(font["head"].unitsPerEm) if "head" in font else 1000.0
    reverse: dict[int, int] = {}  # glyph id -> Unicode from the program's cmap
    if "cmap" in font:
        index = {n: i for i, n in enumerate(order)}
        for table in font["cmap"].tables:
            if table.isUnicode():
                for uni, name in table.cmap.items():
                    if name in index and not 0xE000 <= uni <= 0xF8FF:
                        reverse.setdefault(index[name], uni)
    to_gid = (lambda c: cid_to_gid.get(c, -1)) if cid_to_gid is not None else (lambda c: c)
    used = list(range(1, len(order)))
    if need_used and "glyf" in font:
        glyf = font["glyf"]
        used = [i for i, n in enumerate(order) if i and glyf[n].numberOfContours != 0]
    glyph_set: list = []

    def draw(code: int, pen: AbstractPen) -> bool:
        gid = to_gid(code)
        if not 0 < gid < len(order):
            return False
        if not glyph_set:
            glyph_set.append(font.getGlyphSet())
        glyph_set[0][order[gid]].draw(pen)
        return True

    return draw, em, reverse, used


def _cid_to_gid(doc: pymupdf.Document, descendant: int) -> dict[int, int] | None:
    value = _key(doc, descendant, "CIDToGIDMap")
    if not value or value == "/Identity":
        return None
    xref = _ref(value)
    data = doc.xref_stream(xref) if xref else b""
    return {i // 2: (data[i] << 8) | data[i + 1] for i in range(0, len(data) - 1, 2)}


def _widths(doc: pymupdf.Document, descendant: int) -> dict[int, float]:
    """CID -> advance width (thousandths of an em) from a CID font's ``/W`` array."""
    value = _key(doc, descendant, "W")
    if value.endswith("R"):
        value = doc.xref_object(_ref(value), compressed=True)
    if "[" not in value:
        return {}
    tokens = re.findall(r"\[|\]|-?\d+(?:\.\d+)?", value[value.index("[") + 1:value.rindex("]")])
    widths: dict[int, float] = {}
    i = 0
    while i < len(tokens) - 1:
        first = int(float(tokens[i]))
        if tokens[i + 1] == "[":
            j = i + 2
            while j < len(tokens) and tokens[j] != "]":
                widths[first + j - i - 2] = float(tokens[j])
                j += 1
            i = j + 1
        elif i + 2 < len(tokens) and tokens[i + 2] not in "[]":
            last, w = int(float(tokens[i + 1])), float(tokens[i + 2])
            widths.update((c, w) for c in range(first, min(last, first + 0xFFFF) + 1))
            i += 3
        else:
            break
    return widths


def raw_code(code: int) -> bool:
    """Whether a raw glyph code, read as a code point, is no character any text uses (private use,
    controls, unassigned): only such codes can be told apart in extracted text."""
    if code < 0x20 or 0x7F <= code < 0xA0:
        return not chr(code).isspace()
    if 0xE000 <= code <= 0xF8FF or code >= 0xF0000:
        return True
    return unicodedata.category(chr(code)) == "Cn"


def char_class(codes: Iterable[int]) -> str:
    """A regular-expression character class of code points, runs written as ranges."""
    out: list[str] = []
    start = prev = -2
    for code in [*sorted(set(codes)), -2]:
        if code == prev + 1:
            prev = code
            continue
        if start >= 0:
            out.append(re.escape(chr(start)) + (f"-{re.escape(chr(prev))}" if prev > start else ""))
        start = prev = code
    return "[" + "".join(out) + "]" if out else "(?!)"


BEYOND_BMP = re.compile("[\U00010000-\U0010fffd\U0010ffff]")  # all but U+10FFFE, which joins text blocks


@functools.cache
def _raw_bmp() -> re.Pattern[str]:
    """The code points of the basic plane that ``raw_code`` accepts: controls, private use, unassigned
    (a class of the basic plane alone is matched by a bitmap: fast)."""
    unassigned = (c for c in range(0x370, 0x10000) if unicodedata.category(chr(c)) == "Cn")
    return re.compile(char_class(c for c in (*range(0x20), *range(0x7F, 0xA0), *range(0xE000, 0xF900), *unassigned)
                                 if not chr(c).isspace()))


def has_raw_code(text: str) -> bool:
    """Whether ``text`` holds a code point that can only be a glyph's raw code (``raw_code``)."""
    if _raw_bmp().search(text) is not None:
        return True
    return BEYOND_BMP.search(text) is not None and any(raw_code(ord(ch)) for ch in set(BEYOND_BMP.findall(text)))


def _type0(doc: pymupdf.Document, font: Font) -> None:
    descendant = _ref(_key(doc, font.xref, "DescendantFonts"))
    if not descendant:
        return
    font.widths = _widths(doc, descendant)
    private = any(len(u) == 1 and 0xE000 <= ord(u) <= 0xF8FF for u in font.to_unicode.values())
    if font.widths and not private and not any(raw_code(c) for c in font.widths if c not in font.to_unicode):
        # every code without Unicode would read as a real character: nothing to recover in the text
        font.unknown = {c for c in font.widths if c not in font.to_unicode}
        return
    ordering = re.search(r"/Ordering\s*\((\w+)\)", doc.xref_object(descendant, compressed=True))
    if not font.to_unicode and ordering and ordering.group(1) in _COLLECTIONS:
        return  # a known character collection: MuPDF maps it
    try:
        _, ext, _, data = doc.extract_font(font.xref)
    except Exception:
        return
    if not data:
        return
    subtype = _key(doc, descendant, "Subtype")
    try:
        if ext in ("cff", "cid") or data[:1] == b"\x01":
            font.draw, font.em, names, cid_keyed = _cff(data)
            used = set(names) if cid_keyed else set(range(1, len(names)))
        else:
            mapping = _cid_to_gid(doc, descendant) if subtype == "/CIDFontType2" else None
            font.draw, font.em, reverse, gids = _truetype(data, mapping, need_used=not font.widths)
            inverse = {g: c for c, g in mapping.items()} if mapping is not None else None
            used = {inverse.get(g, -1) if inverse is not None else g for g in gids} - {-1}
            font.program_cmap = {c: reverse[g] for c in used
                                 if (g := (mapping.get(c, -1) if mapping is not None else c)) in reverse}
    except Exception:  # a program fontTools cannot read: only the ToUnicode map is known
        font.draw = None
        return
    if font.widths:  # the CIDs the producer wrote widths for: the glyphs the text uses
        used &= set(font.widths)
    font.unknown = {c for c in used if c not in font.to_unicode or font.to_unicode[c] in ("", "\ufffd")}


def _differences(doc: pymupdf.Document, xref: int) -> dict[int, str]:
    value = _key(doc, xref, "Encoding")
    ref = _ref(value) if value.endswith("R") else 0
    obj = doc.xref_object(ref, compressed=True) if ref else value
    m = re.search(r"/Differences\s*\[(.*?)\]", obj, re.S)
    if not m:
        return {}
    names: dict[int, str] = {}
    code = 0
    for token in re.findall(r"/[^\s/\[\]]+|\d+", m.group(1)):
        if token[0] == "/":
            names[code] = token[1:]
            code += 1
        else:
            code = int(token)
    return names


def glyph_unicode(name: str) -> str:
    """Unicode of a glyph name by the Adobe Glyph List rules (``one``, ``uni0031``, ``one.lf``)."""
    return agl.toUnicode(name.split(".", 1)[0]) if name and not name.startswith(".") else ""


def _simple(doc: pymupdf.Document, font: Font) -> None:
    font.names = _differences(doc, font.xref)
    if not font.names and not any(0xE000 <= ord(u[:1] or " ") <= 0xF8FF for u in font.to_unicode.values()):
        return  # a standard encoding: MuPDF knows every glyph's Unicode
    for code, name in font.names.items():
        if code not in font.to_unicode and not glyph_unicode(name):
            font.unknown.add(code)
    if font.kind == "Type3":
        return
    try:
        _, ext, _, data = doc.extract_font(font.xref)
        if ext == "cff" and data:
            draw, font.em, own, _ = _cff(data)
            names = font.names or own
            by_name = {n: c for c, n in own.items()}
            font.draw = lambda code, pen: code in names and names[code] in by_name and draw(by_name[names[code]], pen)
        elif ext == "ttf" and data:
            font.draw, font.em, _, _ = _truetype(data, None)
    except Exception:
        font.draw = None


_REFS = re.compile(r"(\d+) 0 R")
_ESCAPE = re.compile(r"#([0-9A-Fa-f]{2})")


def _dict_refs(doc: pymupdf.Document, kind: str, value: str) -> list[int] | None:
    """The objects a dictionary value (inline or indirect) refers to; None when it is neither."""
    if kind == "xref":
        value, kind = doc.xref_object(int(value.split()[0]), compressed=True), "dict"
    return [int(r) for r in _REFS.findall(value)] if kind == "dict" else None


def page_fonts(doc: pymupdf.Document, pno: int, cache: dict[int, tuple[str, str]]) -> list[tuple[int, str, str]]:
    """``(xref, kind, base font)`` of the fonts a page uses, as ``get_page_fonts`` gives them, read from
    the page's own resources (several times faster); pages whose fonts may sit elsewhere (inherited
    resources, form XObjects, Type 3 fonts) go through ``get_page_fonts``. ``cache`` keeps what was
    read of each object across the pages of one book."""
    xref = doc.page_xref(pno)
    refs = _dict_refs(doc, *doc.xref_get_key(xref, "Resources/Font"))
    kind, value = doc.xref_get_key(xref, "Resources/XObject")
    others = [] if kind == "null" else _dict_refs(doc, kind, value)
    found = []
    for ref in [] if refs is None or others is None else others:
        if ref not in cache:
            cache[ref] = (doc.xref_get_key(ref, "Subtype")[1], "")
        if cache[ref][0] != "/Image":
            refs = None  # a form XObject may draw with fonts of its own
    for ref in refs or ():
        if ref not in cache:
            kind, base = doc.xref_get_key(ref, "Subtype")[1].lstrip("/"), doc.xref_get_key(ref, "BaseFont")
            cache[ref] = (kind, _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), base[1].lstrip("/"))
                          if base[0] == "name" else "")
        if not cache[ref][1]:
            refs = None  # no base font name (Type 3): as get_page_fonts names it
            break
        found.append((ref, *cache[ref]))
    if refs is None:
        return [(x, kind, base) for x, _, kind, base, *_ in doc.get_page_fonts(pno)]
    return found


def survey(doc: pymupdf.Document) -> list[Font]:
    """Every font the pages use, with its unknown codes (cheap: fonts are read, no page is)."""
    fonts: list[Font] = []
    seen: set[int] = set()
    cache: dict[int, tuple[str, str]] = {}
    for pno in range(doc.page_count):
        try:
            listed = page_fonts(doc, pno, cache)
        except Exception:  # a damaged page: its fonts are not surveyed, its text comes out as it can
            continue
        for xref, kind, base in listed:
            if xref in seen or xref <= 0:
                continue
            seen.add(xref)
            kind = kind.lstrip("/")
            if kind not in ("Type0", "Type1", "TrueType", "Type3", "MMType1"):
                continue
            try:
                font = _font(doc, xref, kind, base)
            except Exception:  # a damaged font dictionary: the text layer decides what it gives
                continue
            fonts.append(font)
    return fonts


def _font(doc: pymupdf.Document, xref: int, kind: str, base: str) -> Font:
    name = base.split("+", 1)[1] if re.match(r"[A-Z]{6}\+", base) else base
    font = Font(xref, re.sub(r"-Identity-[HV]$", "", name) if kind == "Type0" else name, kind)
    tu = _ref(_key(doc, xref, "ToUnicode"))
    if tu:
        font.to_unicode = parse_cmap(doc.xref_stream(tu) or b"")
    (_type0 if kind == "Type0" else _simple)(doc, font)
    font.mark_private_use()
    return font

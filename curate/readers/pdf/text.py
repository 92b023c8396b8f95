"""Text repair for book pages: wrapped lines, hyphenation, markers and odd code points.

- ``join_lines``: the lines of one paragraph into running text. Latin lines are joined with a space,
  CJK lines without one. A hyphen at a line end is kept when the next part starts with a capital or
  digit (``COVID-`` + ``19``), when the hyphenated compound was seen whole elsewhere in the book
  (``follow-`` + ``up``), or when both parts are English words and their join is not one
  (``self-`` + ``reported``, ``N-domain-`` + ``selective``); otherwise the word was split by the
  typesetter and is joined (``expec-`` + ``tations``, ``arbit-`` + ``rary``). The word list is
  pyspellchecker's English dictionary (160,000 words), loaded once per process when first needed.
- ``continues``: whether a paragraph that ends a column or page goes on in the next block.
- ``strip_markers``: citation brackets (``[12]``, ``[3-5]``, ``［1］``) and footnote markers
  (``diabetes.¹² The``, ``patients¹``, ``therapy†``). A marker set as a superscript reaches it as
  superscript digits (``layout.read_page`` reads the type of digits glued to a word: ``cells12`` is
  a marker when the 12 is raised and small, ``Notch1`` or ``libtasn1.h`` is a name when it is not).
- ``Chars``: each text block as it is extracted: glyphs without Unicode through the book's glyph
  map, CJK radical supplement forms and configured private-use code points through a character
  map, ftfy where mojibake or entities can be present, lossless NFKC (Kangxi radicals); code
  points with no meaning left are removed and counted. Done per block, so that captions and
  numbers match, and so that every later step only removes characters.
"""

from __future__ import annotations

import functools
import gzip
import itertools
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from importlib import resources
from typing import TYPE_CHECKING

from curate.core.textbalance import characters
from curate.readers.pdf.fonts import BEYOND_BMP, char_class, has_raw_code
from curate.text import normalise as text

if TYPE_CHECKING:
    from curate.readers.pdf.plan import GlyphMap

# CJK Radicals Supplement forms that some fonts' ToUnicode maps emit instead of the ideograph
# (Unicode's EquivalentUnifiedIdeograph data). Kangxi radicals (U+2F00-2FD5) fold through NFKC.
RADICALS = {
    0x2E85: "亻", 0x2E89: "刂", 0x2E93: "幺", 0x2E94: "彑", 0x2E96: "忄", 0x2E97: "心", 0x2E98: "扌",
    0x2E99: "攵", 0x2E9B: "旡", 0x2E9D: "月", 0x2E9E: "歺", 0x2E9F: "母", 0x2EA0: "民", 0x2EA1: "氵",
    0x2EA2: "氺", 0x2EA3: "灬", 0x2EA4: "爫", 0x2EA6: "丬", 0x2EA8: "犭", 0x2EA9: "王", 0x2EAA: "疋",
    0x2EAB: "罒", 0x2EAC: "示", 0x2EAD: "礻", 0x2EAE: "竹", 0x2EAF: "糸", 0x2EB0: "纟", 0x2EB2: "罒",
    0x2EB3: "罓", 0x2EB6: "羊", 0x2EB9: "耂", 0x2EBA: "肀", 0x2EBB: "聿", 0x2EBC: "肉", 0x2EBD: "臼",
    0x2EBE: "艹", 0x2EBF: "艹", 0x2EC0: "艹", 0x2EC1: "虎", 0x2EC2: "衤", 0x2EC3: "覀", 0x2EC4: "西",
    0x2EC5: "见", 0x2EC6: "角", 0x2EC8: "讠", 0x2EC9: "贝", 0x2ECB: "车", 0x2ECC: "辶", 0x2ECD: "辶",
    0x2ECF: "阝", 0x2ED1: "長", 0x2ED2: "镸", 0x2ED3: "长", 0x2ED4: "门", 0x2ED6: "阝", 0x2ED7: "雨",
    0x2ED8: "青", 0x2ED9: "韦", 0x2EDA: "页", 0x2EDB: "风", 0x2EDC: "飞", 0x2EDD: "食", 0x2EDF: "飠",
    0x2EE0: "饣", 0x2EE2: "马", 0x2EE3: "骨", 0x2EE4: "鬼", 0x2EE5: "鱼", 0x2EE6: "鸟", 0x2EE7: "卤",
    0x2EE8: "麦", 0x2EE9: "黄", 0x2EEA: "黾", 0x2EEC: "齐", 0x2EEE: "齿", 0x2EF0: "龙", 0x2EF3: "龟",
}

_TERMINAL = set(".!?:;\"”’。！？：；…」』》")
_WORD_HEAD = re.compile(r"^([^\W\d_]+)")
_WORD = re.compile(r"([^\W\d_]+)")
_COMPOUND = re.compile(r"[a-z]{2,}(?:-[a-z]{2,})+")


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs, kana, radicals and full-width punctuation."""
    return ch >= "\u2e80" and (ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\uff00" <= ch <= "\uffef"
                               or "\U00020000" <= ch <= "\U0003134f")


def compounds(lines: Iterable[str]) -> set[str]:
    """Hyphenated compounds written whole inside lines (``follow-up``), lower-cased; a longer
    compound also gives its pairs (``renin-angiotensin`` from ``renin-angiotensin-aldosterone``)."""
    found: set[str] = set()
    text = "\n".join(lines).lower()
    if "-" not in text:
        return found
    for token in text.split():
        if "-" in token:
            word = token.strip(".,;:()[]\"'")
            if _COMPOUND.fullmatch(word):
                found.update(f"{a}-{b}" for a, b in itertools.pairwise(word.split("-")))
    return found


def _glue(left: str, right: str, known: set[str]) -> tuple[str, str]:
    """How to join two wrapped pieces: (left with its end fixed, separator)."""
    last, first = left[-1], right[0]
    if last.isascii() and first.isascii() and last not in "-/":
        return left, " "  # the common case: two Latin pieces
    if last == "\u00ad":  # a soft hyphen is only ever a line-break hint
        return left[:-1], ""
    if last in "-\u2010" and len(left) > 1 and left[-2].isalpha():
        if not first.islower():
            return left, ""  # COVID-19, anti-HBs: the hyphen belongs to the word
        i = len(left) - 1
        while i and left[i - 1].isalpha():
            i -= 1
        head = _WORD_HEAD.match(right)
        if head and _keep_hyphen(left[i:-1] if not left[i:-1].islower() else left[i:-1].lower(),
                                 head.group(1).lower(), known):
            return left, ""
        return left[:-1], ""
    if last in "-\u2010\u2013\u2014/" or is_cjk(last) or is_cjk(first):
        return left, ""
    return left, " "


_JSON_KEY = re.compile(r'"([^"\\]*)"\s*:')


@functools.cache
def english_words() -> frozenset[str]:
    """pyspellchecker's English word list (lower case)."""
    path = resources.files("spellchecker") / "resources" / "en.json.gz"
    with path.open("rb") as raw, gzip.open(raw, "rt", encoding="utf-8") as f:
        data = f.read()
    if "\\" in data:  # an escape: only a JSON parser reads such keys right
        return frozenset(json.loads(data))
    # The keys of {"word": count, ...} (every string is a key): a third of json's time, in every worker.
    return frozenset(_JSON_KEY.findall(data))


def _keep_hyphen(first: str, second: str, known: set[str]) -> bool:
    """Whether ``first-`` at a line end and ``second`` on the next line are a hyphenated compound."""
    if f"{first}-{second}" in known or len(first) < 2 or not first.islower():
        return True  # N-domain, T-cell, ACE-inhibitor: a letter or an acronym before the hyphen
    words = english_words()
    if first + second in words:
        return False  # a word the typesetter split: arbit-rary
    return first in words and second in words  # two words: self-reported, never glued


# Line breaks inside a paragraph, by what stands on either side (see ``_glue``, whose rules these apply
# to a whole paragraph at once): after a hyphen (first, while every line still ends in its break),
# between two ASCII characters, beside a CJK character, after a dash or slash, and the rest.
_HYPHEN_BREAK = re.compile("[\u00ad\u2010-]\n")
_LATIN_BREAK = re.compile(r"\n(?<=[\x00-\x2c\x2e\x30-\x7f]\n)(?=[\x00-\x7f])")
_CJK = "[\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\U00020000-\U0003134f]"
_CJK_BREAK = re.compile(f"\n(?:(?<={_CJK}\n)|(?={_CJK})|(?<=[\u2013\u2014/]\n))")


def _hyphen_break(m: re.Match[str], known: set[str]) -> str:
    """A hyphen at a line end (``m``: the hyphen and the break) in the paragraph's text ``m.string``."""
    s, i = m.string, m.start()
    mark = s[i]
    if mark == "\u00ad":
        return ""  # a soft hyphen is only ever a line-break hint
    if i == 0 or not s[i - 1].isalpha() or not s[m.end()].islower():
        return mark  # COVID-19, anti-HBs: the hyphen belongs to the word
    start = i - 1
    while start and s[start - 1].isalpha():
        start -= 1
    word = s[start:i]
    head = _WORD.match(s, m.end())
    if head and _keep_hyphen(word if not word.islower() else word.lower(), head.group(1).lower(), known):
        return mark
    return ""


def join_lines(lines: list[str], known: set[str] = frozenset()) -> str:
    """Join the wrapped lines of one paragraph into running text (the rules of ``_glue``)."""
    lines = [line for line in (" ".join(raw.split()) for raw in lines) if line]  # runs of spaces: one
    if "\u00ad" in lines:  # a line that is only a soft hyphen: its neighbours join as if it stood there
        parts = lines[:1]
        for line in lines[1:]:
            parts[-1], sep = _glue(parts[-1], line, known)
            parts += [sep, line]
        return "".join(parts)
    s = "\n".join(lines)
    if "\n" not in s:
        return s
    if "-" in s or "\u00ad" in s or "\u2010" in s:
        s = _HYPHEN_BREAK.sub(lambda m: _hyphen_break(m, known), s)
    s = _LATIN_BREAK.sub(" ", s)
    return _CJK_BREAK.sub("", s).replace("\n", " ")


def join(left: str, right: str, known: set[str] = frozenset()) -> str:
    """Join two pieces of one paragraph split by a column, page or removed table."""
    left, sep = _glue(left, right, known)
    return left + sep + right


# What opens a list's item or a numbered title in Chinese text: （二） (1) ① 一、 1． 第三章.
_ITEM = re.compile(r"[（(][一二三四五六七八九十\d]{1,3}[）)]|[①-⑳]|[一二三四五六七八九十]{1,3}、|\d{1,3}[．、]|"
                   r"第[一二三四五六七八九十百\d]+[章节条部篇]")


def continues(prev: str, nxt: str, full: bool) -> bool:
    """Whether ``nxt`` goes on with the paragraph ``prev`` (broken by a column, page, table or a
    first-line indent); ``full`` says that ``prev`` ran to the end of its line or over several lines."""
    if not prev or not nxt:
        return False
    last, first = prev[-1], nxt[0]
    if last in "-\u00ad\u2010" and len(prev) > 1 and prev[-2].isalpha():
        return first.isalpha()
    if last in _TERMINAL:
        return False
    if is_cjk(first) or (is_cjk(last) and first.isalnum()):  # a CJK line may go on with a number, and after one
        if not full:
            return False  # a short line is a heading, not a paragraph
        if is_cjk(last) or last in "，、":
            return True
        # After a number or a Latin word inside Chinese prose: its unit or its sentence goes on ("床位11000" +
        # "余张", "基于Klein" + "的"); not the next item of a list ("（二）载体转运"), the next term of a glossary (a
        # short paragraph) or the text after a block of code or its line numbers (no CJK near its end).
        return (last.isalnum() and not _ITEM.match(nxt) and len(prev) > 20
                and any(is_cjk(ch) for ch in prev[-20:]))
    return first.islower()


# A citation's brackets stand after a word, a space or a sentence's end; after ``&``, ``!``, ``(``, ``=``,
# ``[``, ``{``, ``<``, ``,`` or ``*``, or ``= `` they are code or notation (``&[1, 2, 3]``, ``vec![0]``,
# ``zip([1, 2])``, ``x = [1, 2]``).
_CITATION = re.compile(r"(?<![&!(=\[{<,*])(?<!= )[\[［]\s*\d{1,4}(?:\s*[-–—,，、]\s*\d{1,4})*\s*[\]］]")
_MARK = r"\d{0,2}(?:[,–-]\d{1,3})*\*?(?=[\s.,;:)]|$)"  # after the first digit
# Where a footnote or citation number may stand glued to the text (``cells12``, ``disease.12 The``; not
# ``p53``, ``2010.12`` or ``Fig. 3``): text that ``layout.read_page`` checks against the type, since the
# text alone cannot tell ``cells12`` from ``Notch1`` or ``globs2``. (Written to start with the digit, which
# a search finds fast; the look-behinds then check what stands before it.)
MARKER_CANDIDATE = re.compile(rf"\d(?:(?<=[a-z]{{4}}\d){_MARK}|(?<=[a-z][.;:]\d){_MARK}(?=\s{{1,2}}[A-Z]))")
_RAISED = str.maketrans("0123456789-–", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻⁻")


def raised(mark: str) -> str:
    """A footnote or citation number (``12``, ``2,3``, ``4-6``, ``1*``) in superscript digits."""
    return mark.translate(_RAISED)


_SUPERSCRIPT = re.compile(r"[¹²³⁴⁵⁶⁷⁸⁹⁰]+(?:[,⁻][¹²³⁴⁵⁶⁷⁸⁹⁰]+)*\*?")
_DAGGERS = re.compile(r"(?<=\w)[†‡§¶]+")
_WORD4 = re.compile(r"[^\W\d_]{4}")


def _superscript(m: re.Match[str]) -> str:
    s, i = m.string, m.start()
    if _WORD4.fullmatch(s, max(0, i - 4), i) or (i and s[i - 1] in ".,;:)"):
        return ""
    return m.group()  # units and powers: m², 10⁹


def strip_markers(s: str) -> str:
    """Remove citation brackets and footnote markers left in running text."""
    if "[" in s or "［" in s:  # the pattern starts at the bracket (fast); the space before goes after
        s = _CITATION.sub("\x00", s).replace(" \x00", "").replace("\x00", "")
    if _HAS_SUPER.search(s):
        s = _SUPERSCRIPT.sub(_superscript, s)
        s = _DAGGERS.sub("", s)
    return s


_HAS_SUPER = re.compile(r"[¹²³⁴⁵⁶⁷⁸⁹⁰†‡§¶]")


def parse_char_map(entries: Iterable[str]) -> dict[int, str]:
    """Parse ``U+E018=0`` and ``U+E010..U+E019=0123456789`` entries (``=`` alone deletes)."""
    table: dict[int, str] = {}
    for entry in entries:
        key, sep, value = entry.partition("=")
        m = re.fullmatch(r"\s*U\+([0-9A-Fa-f]{4,6})(?:\s*\.\.\s*U\+([0-9A-Fa-f]{4,6}))?\s*", key)
        if not sep or m is None:
            raise ValueError(f"bad character map entry {entry!r}; expected 'U+E018=0' or "
                             f"'U+E010..U+E019=0123456789'")
        lo = int(m.group(1), 16)
        hi = int(m.group(2), 16) if m.group(2) else lo
        if hi < lo or (hi > lo and len(value) != hi - lo + 1):
            raise ValueError(f"bad character map entry {entry!r}: a range of {hi - lo + 1} code points "
                             f"needs as many characters after '='")
        for i, cp in enumerate(range(lo, hi + 1)):
            table[cp] = value if hi == lo else value[i]
    return table


def char_map(pua_map: Iterable[str]) -> dict[int, str]:
    """The translation table: CJK radical supplement forms plus the configured private-use map."""
    return {**RADICALS, **parse_char_map(pua_map)}


_MOJIBAKE = re.compile("[\u00c2-\u00f4][\u0080-\u00bf\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192"
                       "\u02c6\u02dc\u2013\u2014\u2018-\u201a\u201c-\u201e\u2020-\u2022\u2026\u2030"
                       "\u2039\u203a\u20ac\u2122]|&#?\\w{2,8};|[\u0080-\u009f]")
_MAYBE_MOJIBAKE = re.compile("[\u00c2-\u00f4&\u0080-\u009f]")
_SPECIAL = re.compile("[\u2e80-\u2fdf\ue000-\uf8ff\ufffd\U000f0000-\U0010fffd]")
_KANGXI = re.compile("[\u2f00-\u2fd5]")


def special(s: str) -> bool:
    """Whether ``s`` holds radical forms, private-use code points or U+FFFD."""
    return _SPECIAL.search(s) is not None


_SEPARATOR = "\U0010fffe"  # a noncharacter: no glyph map, NFKC or repair touches it


def _replacer(table: dict[int, str]) -> Callable[[str], str] | None:
    """A function that replaces each code point of a translation table in a text (None for no table).

    A page holds few distinct such characters: each is found once and replaced everywhere by one
    ``str.replace``, not one Python call per occurrence. That equals one pass over the text when no
    replacement holds a code point of the table; a table where one does is applied in one pass.
    """
    if not table:
        return None
    pattern = re.compile(char_class(table))
    by_char = {chr(c): v for c, v in table.items()}
    if any(ch in by_char for v in by_char.values() for ch in v):
        return lambda s: pattern.sub(lambda m: by_char[m.group()], s)

    def replace(s: str) -> str:
        for ch in set(pattern.findall(s)):
            s = s.replace(ch, by_char[ch])
        return s
    return replace


@functools.cache
def _folds() -> tuple[re.Pattern[str], Callable[[str], str], dict[str, str]]:
    """The characters that lossless NFKC changes (``normalise.safe_nfkc``'s table): in the basic plane a
    class (matched by a bitmap, fast) and its replacer; beyond it a dict (a class of its scattered code
    points is slow to match, and the few such characters a page holds are looked up one by one)."""
    table = text._nfkc_table()
    basic = {c: v for c, v in table.items() if c < 0x10000}
    return re.compile(char_class(basic)), _replacer(basic), {chr(c): v for c, v in table.items() if c >= 0x10000}


def _nfkc(s: str) -> str:
    """``normalise.safe_nfkc`` where ``s`` holds a character of its table, else ``s`` unchanged. The
    characters are replaced where they stand (faster than ``str.translate``, which visits every
    character of CJK text), then NFC. (No folded form holds a character of the table: the order of
    the replacements does not matter.)"""
    basic, fold_basic, beyond = _folds()
    far = [ch for ch in set(BEYOND_BMP.findall(s)) if ch in beyond] if BEYOND_BMP.search(s) else []
    if not far and basic.search(s) is None:
        return s
    s = fold_basic(s)
    for ch in far:
        s = s.replace(ch, beyond[ch])
    return unicodedata.normalize("NFC", s)


class Chars:
    """The characters of one book's pages: glyph map, character map, repair, and their accounting.

    Called on each text block as it is extracted: glyphs without Unicode get their inferred or
    configured text (``GlyphMap``), CJK radical forms and ``pua_map`` code points are mapped, ftfy
    and lossless NFKC run; the result's characters are ``text_in``. Code points that still have no
    meaning (unmapped glyph codes, private use, U+FFFD) are then removed, counted under
    ``text_removed_unmapped_glyph`` and kept per code point with a count and an example. ``infer``,
    when given, returns the book's whole glyph map; it is called when text first shows a raw glyph
    code (``plan.Plan.infer``).
    """

    def __init__(self, glyph_map: GlyphMap, table: dict[int, str], tally: Counter[str],
                 infer: Callable[[], GlyphMap] | None = None):
        self.table = table
        self.tally = tally
        self.infer = infer
        self.seen: dict[int, list] = {}  # code point -> [count, example context]
        self._table = _replacer(table)
        self.use(glyph_map)

    def use(self, glyph_map: GlyphMap) -> None:
        """Translate with this glyph map from now on."""
        self.glyph_map = glyph_map
        self.mapped = {c: v for c, v in glyph_map.table.items() if v}
        self._mapped = _replacer(self.mapped)
        drop = "".join(re.escape(chr(c)) for c, v in sorted(glyph_map.table.items()) if not v and c not in self.table)
        self.unmapped = re.compile(f"[{drop}\ue000-\uf8ff\ufffd\U000f0000-\U0010fffd]")

    def page(self, contents: list[str]) -> list[str]:
        """``self`` over the text blocks of a page in one call (joined by a code point no text has)."""
        if not contents:
            return contents
        done = self(_SEPARATOR.join(contents))
        self.tally["text_in"] -= len(contents) - 1  # the separators are not text
        parts = done.split(_SEPARATOR)
        return parts if len(parts) == len(contents) else [self(c) for c in contents]  # never happens

    def __call__(self, s: str) -> str:
        if self.infer is not None and has_raw_code(s):
            infer, self.infer = self.infer, None
            self.use(infer())
        if self._mapped is not None:
            s = self._mapped(s)
        if _SPECIAL.search(s):
            for ch in _SPECIAL.findall(s):
                if ord(ch) in self.table:
                    self.tally["radicals_mapped" if ord(ch) < 0x3000 else "pua_mapped"] += 1
            if self._table is not None:
                s = self._table(s)
        if _MAYBE_MOJIBAKE.search(s) and _MOJIBAKE.search(s):  # ftfy is slow; only where mojibake may be
            s = text.fix(s)
        if _KANGXI.search(s):
            self.tally["radicals_mapped"] += len(_KANGXI.findall(s))
        s = _nfkc(s)  # most pages have no compatibility form: unchanged
        self.tally["text_in"] += characters(s)
        if self.unmapped.search(s) is None:
            return s
        for m in self.unmapped.finditer(s):
            entry = self.seen.setdefault(ord(m.group()), [0, ""])
            entry[0] += 1
            if not entry[1]:
                entry[1] = " ".join(s[max(0, m.start() - 12):m.end() + 12].replace(_SEPARATOR, " ").split())
        out = self.unmapped.sub("", s)
        self.tally["text_removed_unmapped_glyph"] += len(s) - len(out)
        return out

"""Text repair and measurement shared by readers and filters.

- ``fix``: ftfy repair (mojibake, HTML entities, C1 controls, line breaks) configured so that it
  keeps what is meaningful in medical text: curly quotes and full-width CJK punctuation stay.
- ``safe_nfkc``: NFKC applied only to the compatibility forms where folding loses nothing
  (ligatures, Kangxi radicals, full-width letters and digits, squared unit signs such as ``㎎``),
  while superscripts, subscripts, fractions and circled numbers (``m²``, ``10⁹/L``, ``½``, ``①``)
  and full-width punctuation are kept as written.
- ``normalize_whitespace``, ``detect_lang``, ``symbol_ratio`` and ``dedup_key``.
"""

from __future__ import annotations

import functools
import re
import unicodedata

import numpy as np


@functools.cache
def _ftfy() -> tuple:
    """ftfy and its configuration, imported on first use (a tenth of a second: a process that reads
    text which needs no repair never pays it)."""
    import ftfy

    return ftfy, ftfy.TextFixerConfig(
        uncurl_quotes=False,
        fix_character_width=False,  # full-width CJK punctuation is correct Chinese typography
        normalization="NFC",
        explain=False,
    )

# Decomposition tags whose NFKC folding is lossless for our purposes.
_SAFE_TAGS = {"<compat>", "<font>", "<noBreak>", "<initial>", "<medial>", "<final>", "<isolated>",
              "<square>", "<vertical>", "<narrow>"}
# <compat> characters that carry meaning in running text and must stay as written.
_KEEP = set("…‥µ") | {chr(c) for c in range(0x2460, 0x24FF)}


# Printable ASCII with newlines and tabs and no "&" is something ftfy cannot change (no mojibake, no
# entities, no escapes, no controls): the common case of English text skips ftfy's slower checks.
_MAYBE_BROKEN = re.compile(r"[^\x20-\x25\x27-\x7e\n\t]")


def fix(text: str) -> str:
    """Repair mojibake and broken escapes with ftfy; keep quotes and CJK punctuation."""
    if _MAYBE_BROKEN.search(text) is None:
        return text
    ftfy, config = _ftfy()
    return ftfy.fix_text(text, config)


@functools.cache
def _nfkc_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for cp in _compatibility_candidates():
        decomposition = unicodedata.decomposition(chr(cp))
        if not decomposition.startswith("<"):
            continue
        tag = decomposition.split(" ", 1)[0]
        ch = chr(cp)
        if ch in _KEEP:
            continue
        if tag in _SAFE_TAGS or (tag == "<wide>" and unicodedata.normalize("NFKC", ch).isalnum()):
            table[cp] = unicodedata.normalize("NFKC", ch)
    return table


@functools.cache
def _fold_arrays() -> tuple[np.ndarray, np.ndarray]:
    """``_nfkc_table`` per code point: the folded character where it is one (else the code point itself),
    and whether the code point folds to several characters."""
    single = np.arange(0x110000, dtype=np.uint32)
    several = np.zeros(0x110000, dtype=bool)
    for cp, folded in _nfkc_table().items():
        if len(folded) == 1:
            single[cp] = ord(folded)
        else:
            several[cp] = True
    return single, several


def _compatibility_candidates() -> list[int]:
    """Code points that may have a tagged (compatibility) decomposition: those of the blocks of 256 whose
    NFKD differs from their NFD (a compatibility mapping never holds the character it maps); none above
    0x20000 has one."""
    found: list[int] = []
    for start in range(0xA0, 0x20000, 256):
        block = "".join(map(chr, range(start, min(start + 256, 0x20000))))
        if unicodedata.normalize("NFKD", block) != unicodedata.normalize("NFD", block):
            found.extend(range(start, min(start + 256, 0x20000)))
    return found


def safe_nfkc(text: str) -> str:
    """Fold lossless compatibility forms (see module doc), then NFC."""
    if len(text) < 64:  # ``str.translate`` visits each character through a dict: fine on short texts
        return unicodedata.normalize("NFC", text.translate(_nfkc_table()))
    single, several = _fold_arrays()
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    if several[cp].any():
        return unicodedata.normalize("NFC", text.translate(_nfkc_table()))
    folded = single[cp]
    if not np.array_equal(folded, cp):
        text = folded.tobytes().decode("utf-32-le", "surrogatepass")
    return unicodedata.normalize("NFC", text)


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b\u200c\u200d\u2060\ufeff\ufffe]")
_SPACES = re.compile(r"[^\S\n]+")
_LINE_EDGES = re.compile(r" ?\n ?")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_whitespace(text: str) -> str:
    """Drop control and zero-width characters, collapse spaces, keep at most one blank line."""
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    # Each run of whitespace but newlines is now one space (``\s`` is ``str.isspace``): stripping every line
    # is taking the space before and after each newline (the text's own ends are stripped last).
    text = _LINE_EDGES.sub("\n", _SPACES.sub(" ", text))
    return _BLANK_LINES.sub("\n\n", text).strip()


def is_cjk(ch: str) -> bool:
    """True for CJK ideographs (unified, extensions and compatibility)."""
    cp = ord(ch)
    return (
        0x4E00 <= cp <= 0x9FFF
        or 0x3400 <= cp <= 0x4DBF
        or 0x20000 <= cp <= 0x3134F
        or 0xF900 <= cp <= 0xFAFF
    )


CJK = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LETTER_RE = re.compile(r"[^\W\d_]")


def detect_lang(text: str, sample: int = 2000) -> str:
    """'zh' when CJK ideographs make up at least a fifth of the letters in a sample, else 'en'."""
    head = text[:sample]
    cjk = len(CJK.findall(head))
    letters = len(_LETTER_RE.findall(head))
    return "zh" if letters and cjk / letters >= 0.2 else "en"


_SYMBOL = re.compile(r"[^\w\s]")


def symbol_ratio(text: str) -> float:
    """Share of characters that are neither word characters nor whitespace."""
    if not text:
        return 0.0
    return len(_SYMBOL.findall(text)) / len(text)


_NON_WORD = re.compile(r"[\W_]+")


def dedup_key(text: str) -> str:
    """Normalised form for exact dedup: NFKC, case-folded, punctuation and whitespace removed."""
    return _NON_WORD.sub("", unicodedata.normalize("NFKC", text).casefold())

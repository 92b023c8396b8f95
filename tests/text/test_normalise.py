"""The text normalisations agree with their plain definitions on purpose-built and random input."""

import random
import re
import unicodedata

from curate.text import normalise


def _whitespace_definition(text: str) -> str:
    text = normalise._CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[^\S\n]+", " ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _nfkc_definition(text: str) -> str:
    return unicodedata.normalize("NFC", text.translate(normalise._nfkc_table()))


_ALL = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)
SPACES = [c for c in _ALL if c.isspace()]
# Every whitespace character, controls, zero-width ones, one- and several-character folds (Ⅱ, ﬁ, ㎎, ①
# kept), combining marks, Hangul jamo, astral CJK and emoji, and a lone surrogate.
ALPHABET = [*SPACES, "\x00", "\x01", "\x7f", "\u200b", "\ufeff", "\r\n", *"ab中，ＡＢ①Ⅱﬁ㎎ß\u0301e\u1100\u1161",
            "\U0001f600", "\U0002f800", "\U0001d400", "\ud800"]


def test_python_whitespace_is_the_regex_whitespace():
    # The line-edge rule relies on it: after collapsing ``\s`` runs, only spaces are left to strip.
    assert set(re.findall(r"\s", _ALL)) == set(SPACES)


def test_whitespace_and_nfkc_equal_their_definitions():
    rng = random.Random(7)
    edges = ["", " ", "\n", " a", "a ", "a \n b", "a\n \n \nb", " \n\n\n a", "a\u3000\n\u00a0b", "\r\n \r",
             "line\x85next", "x\u2028y"]
    for text in [*edges, *("".join(rng.choices(ALPHABET, k=rng.randint(0, 200))) for _ in range(20000))]:
        assert normalise.normalize_whitespace(text) == _whitespace_definition(text), repr(text)
        assert normalise.safe_nfkc(text) == _nfkc_definition(text), repr(text)


def test_long_texts_fold_by_code_point_table():
    # 64 characters and more take the array path: no fold, one-character folds only, a several-character one.
    base = "Kangxi ⽬ radical, Ⅱ型, ＡＢＣ１２３ and plain words " * 3
    for text in (base, base.replace("⽬", "目").replace("Ⅱ", "II").replace("ＡＢＣ１２３", "ABC123"), base + "㎎",
                 base + "e\u0301", "中" * 100 + "\ud800"):
        assert len(text) >= 64
        assert normalise.safe_nfkc(text) == _nfkc_definition(text), text


def test_fold_table_equals_a_scan_of_every_code_point():
    want = {}
    for cp in range(0xA0, 0x110000):
        decomposition = unicodedata.decomposition(chr(cp))
        if not decomposition.startswith("<") or chr(cp) in normalise._KEEP:
            continue
        tag = decomposition.split(" ", 1)[0]
        if tag in normalise._SAFE_TAGS or (tag == "<wide>" and unicodedata.normalize("NFKC", chr(cp)).isalnum()):
            want[cp] = unicodedata.normalize("NFKC", chr(cp))
    assert normalise._nfkc_table() == want

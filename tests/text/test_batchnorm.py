"""Batch normalisation helpers agree with the per-text ones they stand for."""

import random
import re
import unicodedata

import numpy as np
import pyarrow as pa

from curate.text import batchnorm, normalise

# Characters at every rule's edge: controls, Unicode spaces, zero-width, full-width and compatibility
# forms, case folds that change length, combining marks, Hangul jamo, astral CJK, a code point Python's
# Unicode does not assign (U+0558) and a variation selector.
ALPHABET = list(" \n\t\r\x00\x01\x0b\x1c\x85\xa0\u2000\u200b\u3000\ufeffaZ_9,，。ＡＢ①²㎎ßΣς\u0301e\u1100\u1161"
                "\u11a8가中文\U00020000\U0003134a\U0001f600\u0558\U000e0100")
EDGES = [" a", "a ", "", " ", "\n", "a\n\n\nb", "a\n\nb", "a \nb", "a\n b", "a  b", "a b", "e\u0301", "ＡＢＣ"]


def _texts(n=4000, seed=0):
    rng = random.Random(seed)
    return [*EDGES, *("".join(rng.choices(ALPHABET, k=rng.randint(0, 12))) for _ in range(n))]


def test_dedup_keys_equal_the_per_text_key():
    texts = _texts()
    assert batchnorm.dedup_keys(texts) == [normalise.dedup_key(t) for t in texts]
    assert batchnorm.dedup_keys(pa.chunked_array([texts[:7], texts[7:]])) == [normalise.dedup_key(t) for t in texts]
    assert batchnorm.dedup_keys([]) == []


def test_dedup_keys_of_every_assigned_basic_plane_character():
    chars = [chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    assert batchnorm.dedup_keys(chars) == [normalise.dedup_key(c) for c in chars]


def test_clean_candidates_leave_out_only_texts_no_rule_changes():
    texts = _texts()
    for nfkc in (True, False):
        suspect = batchnorm.clean_candidates(texts, nfkc)
        assert suspect.any() and not suspect.all()
        for text, flagged in zip(texts, suspect.tolist(), strict=True):
            if flagged:
                continue
            folded = unicodedata.normalize("NFC", text) if nfkc else text
            if folded != text:  # the caller's own NFC check takes these
                continue
            assert (normalise.safe_nfkc(text) if nfkc else text) == text, repr(text)
            assert normalise.normalize_whitespace(text) == text, repr(text)


def test_clean_candidates_flag_each_rule():
    suspect = batchnorm.clean_candidates(["ok text", "two  spaces", "ＡＢＣ", "tab\there", "", "end\n", "a\n\n\nb",
                                          "a\n\nb"])
    assert suspect.tolist() == [False, True, True, True, True, True, True, False]
    assert batchnorm.clean_candidates(["ＡＢＣ"], nfkc=False).tolist() == [False]


def _keys(texts, **kw):
    keys, bounds = batchnorm.dedup_key_text(texts, **kw)
    return [keys[a:b] for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)]


def test_dedup_keys_by_table_and_by_python_case_folding():
    chars = [chr(c) for c in range(0x20, 0x10000) if not 0xD800 <= c <= 0xDFFF]
    several = [c for c in chars if len(unicodedata.normalize("NFKC", c).casefold()) != len(
        unicodedata.normalize("NFKC", c))]
    assert "ß" in several and "a" not in several
    single = [c for c in chars if c not in set(several)]
    # A batch without a character that folds to several takes the per-code-point table; one with them,
    # Python's casefold: both give the per-text key.
    assert _keys(single) == [normalise.dedup_key(c) for c in single]
    assert _keys(several) == [normalise.dedup_key(c) for c in several]
    texts = [t for t in _texts(seed=3) if not set(t) & set(several)]
    assert _keys(texts) == [normalise.dedup_key(t) for t in texts]


def test_dedup_keys_beyond_the_basic_plane():
    chars = [chr(c) for c in [*range(0x10000, 0x20000), *range(0x20000, 0x32400, 97), *range(0xE0000, 0xE0200),
                              0xF0000, 0x10FFFD]]
    assert _keys(chars) == [normalise.dedup_key(c) for c in chars]


def test_dedup_keys_of_arrow_slices_large_strings_and_shared_code_points():
    texts = [t for t in _texts(n=300, seed=4)]
    want = [normalise.dedup_key(t) for t in texts]
    arr = pa.array(texts, pa.string())
    assert _keys(arr.slice(5, 100)) == want[5:105]
    assert _keys(pa.array(texts, pa.large_string())) == want
    # The NUL-joined code points another step of the batch made (NULs inside texts read as spaces).
    joined = "\x00".join(t.replace("\x00", " ") for t in texts)
    shared = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    assert _keys(arr, codepoints=shared) == want
    assert _keys(pa.array([], pa.string())) == []


def test_per_code_point_tables_filled_in_any_order_equal_the_whole_tables():
    """The tables are filled for the code points each lookup holds: in any order, by short texts or whole
    batches, they end up what the definitions give over every code point at once."""
    every = np.arange(0x110000, dtype=np.uint32)
    chars = every.tobytes().decode("utf-32-le", "surrogatepass")

    def mask(found: str) -> np.ndarray:
        m = np.zeros(0x110000, dtype=bool)
        m[np.frombuffer(found.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)] = True
        return m

    word = mask(re.sub(r"[\W_]+", "", chars))
    space = mask("".join(re.findall(r"\s", chars)))
    bad = mask("".join(normalise._CONTROL.findall(chars)) + "\r") | space
    bad[[0x20, 0x0A]] = False
    folds = np.zeros(0x110000, dtype=bool)
    folds[list(normalise._nfkc_table())] = True
    below = batchnorm._ASSIGNED_BELOW
    unknown = np.ones(0x110000, dtype=bool)
    unknown[:below] = [unicodedata.category(chr(c)) == "Cn" for c in range(below)]
    key = np.full(0x110000, batchnorm._FOLDS_TO_SEVERAL, dtype=np.uint32)
    for c in range(below):
        f = chr(c).casefold()
        if len(f) == 1:
            key[c] = ord(f) if word[ord(f)] else 0
    want = {"_WORD": word, "_UNKNOWN": unknown, "_KEY": key, "_SPACE": space, "_BAD": bad, "_BAD_OR_FOLDS": bad | folds}
    rng = np.random.default_rng(0)
    order = rng.permutation(every)
    for name, table in want.items():
        fresh = batchnorm._PerCodePoint(table.dtype.type, getattr(batchnorm, name).of)
        at = 0
        for size in (0, 1, 7, 3000, 1 << 14, (1 << 14) + 1, 200_000):
            chunk = order[at:at + size]
            assert np.array_equal(fresh[np.concatenate([chunk, chunk[:5]])], table[np.concatenate([chunk, chunk[:5]])])
            at += size
        assert np.array_equal(fresh[order[at:]], table[order[at:]]), name
        assert (fresh.values != fresh.not_met).all() and np.array_equal(fresh[every], table), name

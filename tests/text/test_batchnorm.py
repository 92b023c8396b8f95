"""Batch normalisation helpers agree with the per-text ones they stand for."""

import random
import unicodedata

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

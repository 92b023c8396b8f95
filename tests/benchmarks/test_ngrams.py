"""N-gram hashes over token streams: the composed rolling hash against the window-by-window definition."""

from __future__ import annotations

import numpy as np
import pytest

from curate.benchmarks import ngrams
from curate.dedup.minhash import P


def _reference(hashes: np.ndarray, owner: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every window of k tokens of one text, hashed by Horner's rule one token at a time."""
    first, grams = [], []
    with np.errstate(over="ignore"):
        for i in range(len(hashes) - k + 1):
            if owner[i] == owner[i + k - 1]:
                acc = np.uint64(0)
                for h in hashes[i:i + k]:
                    acc = acc * P + h
                first.append(i)
                grams.append(acc)
    first_a = np.array(first, np.int64)
    return ngrams._mix(np.array(grams, np.uint64), k), first_a


@pytest.mark.parametrize("lengths", [[1], [13], [20], [2, 3, 5, 8, 13, 20, 31], [7, 9], [40]])
def test_ngrams_equal_the_window_by_window_hash(lengths):
    rng = np.random.default_rng(len(lengths))
    hashes = rng.integers(0, 2**63, 120, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    owner = np.repeat(np.arange(6), [30, 1, 0, 45, 24, 20])
    got = list(ngrams.ngrams(hashes, owner, lengths))
    assert [k for k, _, _ in got] == sorted(k for k in lengths if k <= len(hashes))
    for k, grams, first in got:
        want, want_first = _reference(hashes, owner, k)
        assert np.array_equal(first, want_first), k
        assert np.array_equal(grams, want), k


def test_ngrams_stop_at_lengths_longer_than_the_stream():
    hashes = np.arange(1, 6, dtype=np.uint64)
    assert [k for k, _, _ in ngrams.ngrams(hashes, np.zeros(5, np.int64), [3, 5, 6, 9])] == [3, 5]
    assert list(ngrams.ngrams(hashes[:0], np.zeros(0, np.int64), [1, 13])) == []


def test_every_code_point_has_the_class_of_its_range():
    cp = np.arange(0x110000, dtype=np.uint32)
    want = np.full(cp.size, ngrams.SEP, np.uint8)
    for cls in (ngrams.WORD, ngrams.MARK, ngrams.CJK):  # marks inside letter blocks are marks
        for low, high in ngrams._RANGES[cls]:
            want[(cp >= low) & (cp <= high)] = cls
    want[(cp >= 0x20000) & (cp <= 0x3134F)] = ngrams.CJK  # CJK extension ideographs beyond the BMP
    assert np.array_equal(ngrams._classes(cp), want)
    assert ngrams._classes(np.array([0x1F600, 0x10FFFF], np.uint32)).tolist() == [ngrams.SEP, ngrams.SEP]

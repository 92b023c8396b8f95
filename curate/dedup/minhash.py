"""MinHash signatures for a batch of documents, computed as whole-array numpy operations.

Shingles are n-grams of tokens, where a token is a run of letters and digits (Latin, Greek, Cyrillic,
... after lower-casing) or a single CJK character, so Chinese, English and mixed text share one rule.

The batch is processed without per-token Python:

1. all texts are joined and viewed as an array of code points; each character is classified
   (word character, CJK character, separator) by range tests;
2. each token is hashed with a polynomial hash over its characters, ``sum(v[k] * P**offset)`` where
   ``offset`` is the character's place in its token: one ``add.reduceat``, with powers only up to
   the longest token;
3. shingle hashes combine n consecutive token hashes of the same document (polynomial again) and
   are folded to 32 bits; shingles that are template boilerplate are removed;
4. signatures use datasketch's ``affine32`` scheme: its permutations ``(a, b)`` and its MurmurHash3
   finaliser, ``min(fmix32(h) * a + b)`` per document by ``minimum.reduceat``. The result equals
   ``datasketch.MinHash(scheme="affine32").update_batch`` fed the same shingle hashes (tested).

Documents with fewer tokens than the shingle size have no shingles and get an empty signature
(all ``0xFFFFFFFF``); exact dedup covers them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

P = np.uint64(0x100000001B3)  # FNV prime: odd, so invertible modulo 2**64
EMPTY = np.uint32(0xFFFFFFFF)
_CHAR_MIX = np.uint64(0x9E3779B97F4A7C15)


@dataclass(frozen=True)
class MinHashConfig:
    """Shingle size, number of permutations, seed, and the LSH target threshold and error weights.

    These defaults are the one table near dedup, its recipes and ``curate dedup`` share: a recipe that
    sets only the threshold gets the rest from here."""

    ngram: int = 5
    num_perm: int = 256
    seed: int = 1
    threshold: float = 0.8
    # Weighting false negatives up moves the S-curve left of the threshold, so pairs just above it are
    # caught; the candidates it adds below the threshold are then removed by the verification.
    false_positive_weight: float = 0.1
    false_negative_weight: float = 0.9


# MurmurHash3 finalisers (shift, multiply, shift, multiply, shift): the avalanching step datasketch's
# affine schemes apply before permuting. Arithmetic wraps modulo 2**width, as intended.
_FMIX = {32: (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16), 64: (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33)}


def fmix(h: np.ndarray, width: int) -> np.ndarray:
    """MurmurHash3's finaliser over an array of uint32 (``width`` 32) or uint64 (64) values."""
    s1, m1, s2, m2, s3 = _FMIX[width]
    kind = np.uint32 if width == 32 else np.uint64
    with np.errstate(over="ignore"):
        h = h ^ (h >> kind(s1))
        h = h * kind(m1)
        h = h ^ (h >> kind(s2))
        h = h * kind(m2)
        return h ^ (h >> kind(s3))


@functools.cache
def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 permutations ``(a, b)`` for ``num_perm`` and ``seed``: from numpy's legacy
    generator seeded with ``seed``, ``a`` odd (a bijection modulo 2**32), then ``b`` (tested equal to
    datasketch's own; drawn here, as importing datasketch pulls in scipy, a second per worker)."""
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


@functools.cache
def bands_rows(cfg: MinHashConfig) -> tuple[int, int]:
    """Bands and rows minimising the weighted false-positive/negative error at the threshold: over every
    (b, r) with b * r <= num_perm, the area under the S-curve below the threshold (false positives) and
    above it to 1 (false negatives), weighted; the first minimum in order of b, then r. The choice
    datasketch's ``MinHashLSH`` makes (tested equal); computed here because importing datasketch pulls in
    scipy, most of a second in every process of a build that needs the bands."""
    bands, rows = _optimal_bands(cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight)
    if bands < 2:
        raise ValueError(f"near dedup: threshold {cfg.threshold} with {cfg.num_perm} permutations and error weights "
                         f"{cfg.false_positive_weight}/{cfg.false_negative_weight} gives a single band of {rows} rows; "
                         "use more permutations (num_perm), a lower threshold or a higher false-negative weight")
    return bands, rows


def _optimal_bands(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    pairs = [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)]
    b = np.array([p[0] for p in pairs], dtype=np.float64)[:, None]
    r = np.array([p[1] for p in pairs], dtype=np.float64)[:, None]
    # Gauss-Legendre with n nodes integrates polynomials of degree up to 2n - 1 exactly; the S-curve of
    # (b, r) is one of degree b * r <= num_perm.
    nodes, weights = np.polynomial.legendre.leggauss(num_perm // 2 + 1)

    def area(lo: float, hi: float, curve: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        s = (hi - lo) / 2 * nodes[None, :] + (hi + lo) / 2
        return curve(s) @ weights * (hi - lo) / 2

    false_pos = area(0.0, threshold, lambda s: 1 - (1 - s**r) ** b)
    false_neg = area(threshold, 1.0, lambda s: (1 - s**r) ** b)
    return pairs[int(np.argmin(false_pos * fp_weight + false_neg * fn_weight))]


def catch_probability(similarity: float, bands: int, rows: int) -> float:
    """Chance that two documents of Jaccard ``similarity`` share at least one band (the S-curve)."""
    return 1.0 - (1.0 - similarity**rows) ** bands


_POWERS = [np.ones(1, np.uint64)]


def powers(n: int) -> np.ndarray:
    """``P**k`` for k < n, modulo 2**64 (a table that grows by doubling and is kept; n is a token or
    n-gram length, so it stays small)."""
    if len(_POWERS[0]) < n:
        table = np.full(max(n, 2 * len(_POWERS[0])), P, dtype=np.uint64)
        table[0] = 1
        with np.errstate(over="ignore"):
            _POWERS[0] = np.cumprod(table, dtype=np.uint64)
    return _POWERS[0][:n]


def char_classes(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(word character, CJK character) masks for an array of code points."""
    cjk = ((cp >= 0x4E00) & (cp <= 0x9FFF)) | ((cp >= 0x3400) & (cp <= 0x4DBF)) | (
        (cp >= 0xF900) & (cp <= 0xFAFF)) | ((cp >= 0x20000) & (cp <= 0x3134F))
    ascii_word = ((cp >= 0x30) & (cp <= 0x39)) | ((cp >= 0x61) & (cp <= 0x7A)) | ((cp >= 0x41) & (cp <= 0x5A))
    # Letters beyond ASCII (Latin-1 to Cyrillic, Hangul, kana) count as word characters; punctuation,
    # symbol and space blocks do not.
    other_word = (((cp >= 0xC0) & (cp <= 0x2AF) & (cp != 0xD7) & (cp != 0xF7))
                  | ((cp >= 0x370) & (cp <= 0x1FFF)) | ((cp >= 0x3040) & (cp <= 0x30FF))
                  | ((cp >= 0xAC00) & (cp <= 0xD7AF)))
    return (ascii_word | other_word) & ~cjk, cjk


_WORD, _CJK, _SPECIAL = np.uint8(1), np.uint8(2), np.uint8(4)


# Code points the tables cover: every one Python 3.11 assigns lies below (CJK extension H ends before it).
# A batch with a code point above is lower-cased by Python (tags, variation selectors, private use: rare).
_TABLE_BELOW = 0x32400


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray]:
    """Per code point: the mixed value of its lower case (``_mixed``) when that is one character, and the
    token class of that lower case (``_WORD``, ``_CJK`` or 0), with ``_SPECIAL`` for İ (two characters in
    lower case), Σ (whose lower case depends on its neighbours) and every code point from ``_TABLE_BELOW`` on."""
    cp = np.arange(_TABLE_BELOW, dtype=np.uint32)
    lowered = cp.tobytes().decode("utf-32-le", "surrogatepass").replace("\u0130", "\0").replace("\u03a3", "\0")
    lower = np.frombuffer(lowered.lower().encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    classes = np.full(0x110000, _SPECIAL, dtype=np.uint8)
    if lower.size != cp.size:  # a Unicode version where another character lower-cases to several: no table
        return _mixed(cp), classes
    word, cjk = char_classes(lower)
    classes[:_TABLE_BELOW] = np.where(word, _WORD, 0) | np.where(cjk, _CJK, 0)
    classes[[0x130, 0x3A3]] |= _SPECIAL
    return _mixed(lower), classes


def _mixed(chars: np.ndarray) -> np.ndarray:
    """A character's term in its token's hash before its place's power: ``(code point + 1) * _CHAR_MIX``."""
    with np.errstate(over="ignore"):
        return (chars.astype(np.uint64) + np.uint64(1)) * _CHAR_MIX


def codepoints(texts: list[str]) -> np.ndarray:
    """The texts joined by NUL (NULs inside them read as spaces), as code points: the form ``tokens`` and
    the quality signals read, computed once per batch when they share it."""
    return np.frombuffer("\x00".join(t.replace("\x00", " ") for t in texts).encode("utf-32-le"), dtype=np.uint32)


def tokens(texts: list[str], cp: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Token hashes of all texts, concatenated, with each token's document index and length in characters
    (``cp``: ``codepoints(texts)`` when the caller has it).

    Lower-casing and classes come from per-code-point tables; a batch with a character whose lower case is
    not one character of its own (İ, Σ) is lower-cased by Python as a whole, as the definition says."""
    cp = codepoints(texts) if cp is None else cp
    empty = np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    if cp.size == 0:
        return empty
    mixed, classes = _tables()
    cls = classes[cp]
    by_table = not (cls >= _SPECIAL).any()
    if by_table:
        word, cjk = cls == _WORD, cls == _CJK
    else:
        cp = np.frombuffer(cp.tobytes().decode("utf-32-le").lower().encode("utf-32-le"), dtype=np.uint32)
        word, cjk = char_classes(cp)
    prev_word = np.concatenate(([False], word[:-1]))
    starts = (word & ~prev_word) | cjk
    pos = np.flatnonzero(word | cjk)
    if pos.size == 0:
        return empty
    token_starts = np.flatnonzero(starts[pos])
    lengths = np.diff(np.append(token_starts, len(pos)))
    offsets = np.arange(len(pos)) - np.repeat(token_starts, lengths)  # place of each character in its token
    with np.errstate(over="ignore"):
        values = (mixed[cp[pos]] if by_table else _mixed(cp[pos])) * powers(int(lengths.max()))[offsets]
        hashes = fmix(np.add.reduceat(values, token_starts), 64)
    # Each document's first token, from the NUL separators: documents are runs of tokens.
    firsts = np.searchsorted(pos[token_starts], np.flatnonzero(cp == 0))
    doc = np.repeat(np.arange(len(firsts) + 1), np.diff(firsts, prepend=0, append=len(token_starts)))
    return hashes, doc, lengths


def shingles(texts: list[str], n: int, exclude: np.ndarray | None = None,
             toks: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """32-bit shingle hashes of every text, concatenated, with ``offsets`` (len(texts) + 1) per text.

    ``exclude`` is a sorted array of shingle hashes to leave out (template boilerplate); ``toks`` is
    ``tokens(texts)`` when the caller has it already.
    """
    hashes64, owner, _ = ngrams(*(toks if toks is not None else tokens(texts))[:2], n)
    hashes = (hashes64 ^ (hashes64 >> np.uint64(32))).astype(np.uint32)
    if exclude is not None and exclude.size:
        keep = ~_member(hashes, exclude)
        hashes, owner = hashes[keep], owner[keep]
    offsets = np.searchsorted(owner, np.arange(len(texts) + 1))
    return hashes, offsets


def ngrams(token_hashes: np.ndarray, doc: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """64-bit hashes of every n-gram of consecutive tokens within one document, its document, and the
    index of its first token."""
    k = len(token_hashes) - n + 1
    if k <= 0:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    acc = token_hashes[:k].copy()
    with np.errstate(over="ignore"):
        for j in range(1, n):
            acc = acc * P + token_hashes[j:j + k]
    same_doc = doc[:k] == doc[n - 1:]
    return acc[same_doc], doc[:k][same_doc], np.flatnonzero(same_doc)


def _member(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """``np.isin(values, among)`` for uint32 ``values`` and a small ``among`` (boilerplate shingles): a bitmap
    of the low 16 bits leaves out most values, a binary search settles the rest."""
    if among.dtype != np.uint32:
        return np.isin(values, among)
    among = np.unique(among)
    maybe = np.zeros(1 << 16, dtype=bool)
    maybe[among & 0xFFFF] = True
    found = np.zeros(len(values), dtype=bool)
    check = np.flatnonzero(maybe[values & 0xFFFF])
    if check.size:
        at = np.minimum(np.searchsorted(among, values[check]), len(among) - 1)
        found[check] = among[at] == values[check]
    return found


# Shingles per block of ``signatures``: the block and its permuted copy stay in the core's cache across the
# permutations (a third faster than whole-batch passes on batches of 2,048 documents).
_BLOCK = 1 << 16


def signatures(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """MinHash signatures (``len(offsets) - 1`` x ``num_perm``, uint32) of per-document shingle hashes."""
    return signatures_by_permutation(hashes, offsets, num_perm, seed).T.copy()


def signatures_by_permutation(hashes: np.ndarray, offsets: np.ndarray, num_perm: int, seed: int) -> np.ndarray:
    """``signatures`` transposed (``num_perm`` x documents): one row per permutation, the layout of a
    signature table's columns."""
    a, b = permutations(num_perm, seed)
    n_docs = len(offsets) - 1
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    if nonempty.size < n_docs:  # documents without shingles keep the empty signature
        out = np.full((num_perm, n_docs), EMPTY, dtype=np.uint32)
        if nonempty.size:
            out[:, nonempty] = signatures_by_permutation(hashes, offsets[np.append(nonempty, nonempty[-1] + 1)],
                                                         num_perm, seed)
        return out
    mixed = fmix(hashes.astype(np.uint32), 32)
    starts, ends = offsets[:-1], offsets[1:]
    mins = np.empty((num_perm, n_docs), dtype=np.uint32)
    if n_docs == 0:
        return mins
    permuted = np.empty(min(len(mixed), max(_BLOCK, int((ends - starts).max()))), dtype=mixed.dtype)
    first = 0
    while first < n_docs:  # whole documents per block; a longer document is a block of its own
        last = max(first + 1, int(np.searchsorted(ends, starts[first] + _BLOCK, side="right")))
        lo, hi = starts[first], ends[last - 1]
        block, buf, at = mixed[lo:hi], permuted[:hi - lo], starts[first:last] - lo
        with np.errstate(over="ignore"):
            for i in range(num_perm):
                np.multiply(block, a[i], out=buf)
                np.add(buf, b[i], out=buf)
                np.minimum.reduceat(buf, at, out=mins[i, first:last])
        first = last
    return mins


def band_keys(sigs: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band and document (``n x bands``); equal bands give equal keys."""
    n = sigs.shape[0]
    keys = np.zeros((n, bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for band in range(bands):
            acc = np.full(n, band + 1, dtype=np.uint64)
            for r in range(rows):
                acc = fmix(acc * P + sigs[:, band * rows + r].astype(np.uint64), 64)
            keys[:, band] = acc
    return keys


def estimated_jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal signature entries, row by row (the MinHash estimate of Jaccard similarity)."""
    return (a == b).mean(axis=-1)

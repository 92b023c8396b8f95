"""Batch forms of ``normalise``'s per-text helpers, with the same results, for whole columns at once.

- ``dedup_keys``: ``normalise.dedup_key`` of every text. NFKC runs in Arrow (utf8proc, several times
  faster than ``unicodedata``); the removal of non-word characters is one lookup over the batch's code
  points. Arrow's Unicode tables may be newer than Python's: a text holding a code point that Python's
  ``unicodedata`` does not know takes Python's path, so keys never depend on the pyarrow version.
- ``clean_candidates``: which texts ``safe_nfkc`` or ``normalize_whitespace`` may change, from one
  pass over the batch's code points; the others are left as they are without running either.
"""

from __future__ import annotations

import functools
import itertools
import re
import unicodedata
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.text import normalise

# Code points above the last block Python 3.11 assigns (CJK extension H starts at 0x31350, ends before
# 0x32400) are either unassigned, tags and variation selectors, or private use: all take Python's path.
_ASSIGNED_BELOW = 0x32400


def _all_chars() -> str:
    """Every code point, in order (surrogates included), decoded at once from their UTF-32 form."""
    return np.arange(0x110000, dtype="<u4").tobytes().decode("utf-32-le", "surrogatepass")


def _mask(chars: str) -> np.ndarray:
    """A per-code-point mask of the characters in ``chars``."""
    mask = np.zeros(0x110000, dtype=bool)
    mask[np.frombuffer(chars.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)] = True
    return mask


@functools.cache
def _word() -> np.ndarray:
    """The characters ``dedup_key`` keeps: what ``re``'s ``[\\W_]`` does not match."""
    return _mask(re.sub(r"[\W_]+", "", _all_chars()))


@functools.cache
def _unknown() -> np.ndarray:
    """Code points whose NFKC Python and Arrow may disagree on: unassigned in Python's Unicode, or high."""
    unknown = np.ones(0x110000, dtype=bool)
    unknown[:_ASSIGNED_BELOW] = [unicodedata.category(chr(c)) == "Cn" for c in range(_ASSIGNED_BELOW)]
    return unknown


def _code_points(texts: Sequence[str], sep: str = "") -> np.ndarray:
    return np.frombuffer(sep.join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def _docs_with(mask: np.ndarray, lengths: np.ndarray, gap: int = 0) -> np.ndarray:
    """Per text, whether ``mask`` (over the texts joined with ``gap`` characters between) is set in it."""
    starts = np.cumsum(lengths + gap) - lengths - gap
    hit = np.zeros(len(lengths), dtype=bool)
    pos = np.flatnonzero(mask)
    if pos.size:
        hit[np.searchsorted(starts, pos, side="right") - 1] = True
    return hit & (lengths > 0)


def dedup_keys(texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> list[str]:
    """``normalise.dedup_key`` of every text (NFKC, case-folded, without punctuation or whitespace)."""
    arr = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(texts, pa.string())
    if len(arr) == 0:
        return []
    originals = arr.to_pylist()
    lengths = np.fromiter(map(len, originals), dtype=np.int64, count=len(originals))
    odd = _docs_with(_unknown()[_code_points(originals)], lengths)
    folded = [x.casefold() for x in pc.utf8_normalize(arr, "NFKC").to_pylist()]
    for i in np.flatnonzero(odd).tolist():
        folded[i] = unicodedata.normalize("NFKC", originals[i]).casefold()
    cp = _code_points(folded)
    keep = _word()[cp]
    sizes = np.fromiter(map(len, folded), dtype=np.int64, count=len(folded))
    kept = np.concatenate(([0], np.cumsum(keep)))[np.cumsum(sizes)]  # kept characters up to each text's end
    joined = cp[keep].tobytes().decode("utf-32-le")
    bounds = np.concatenate(([0], kept)).tolist()
    return [joined[a:b] for a, b in itertools.pairwise(bounds)]


_SP, _NL = 0x20, 0x0A


@functools.cache
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(changed by ``safe_nfkc``'s table, whitespace, changed by ``normalize_whitespace`` wherever it
    stands) per code point."""
    chars = _all_chars()
    space = _mask("".join(re.findall(r"\s", chars)))
    bad = _mask("".join(normalise._CONTROL.findall(chars)) + "\r")
    bad |= space
    bad[[_SP, _NL]] = False
    folds = np.zeros(0x110000, dtype=bool)
    folds[list(normalise._nfkc_table())] = True
    return folds, space, bad


def clean_candidates(texts: Sequence[str], nfkc: bool = True) -> np.ndarray:
    """Per text, False where neither ``safe_nfkc``'s fold table (when ``nfkc``) nor ``normalize_whitespace``
    can change it (its NFC, which ``safe_nfkc`` also applies, is the caller's to check): no control, zero-width
    or carriage-return character, no whitespace but single spaces and newlines, no space next to a newline,
    no three newlines in a row, no whitespace at either end, and not empty."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    folds, space, bad = _tables()
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    cp = _code_points(texts, "a")  # a separator that no rule matches, alone or next to anything
    sp, nl = cp == _SP, cp == _NL
    mask = bad[cp]
    if nfkc:
        mask |= folds[cp]
    mask[:-1] |= (sp[:-1] & (sp[1:] | nl[1:])) | (nl[:-1] & sp[1:])
    mask[:-2] |= nl[:-2] & nl[1:-1] & nl[2:]
    suspect = _docs_with(mask, lengths, gap=1)
    starts = np.cumsum(lengths + 1) - lengths - 1
    full = lengths > 0
    edge = np.zeros(n, dtype=bool)
    edge[full] = space[cp[starts[full]]] | space[cp[starts[full] + lengths[full] - 1]]
    return suspect | edge | ~full

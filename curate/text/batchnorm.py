"""Batch forms of ``normalise``'s per-text helpers, with the same results, for whole columns at once.

- ``dedup_keys``: ``normalise.dedup_key`` of every text. NFKC runs in Arrow (utf8proc, several times
  faster than ``unicodedata``); the removal of non-word characters is one lookup over the batch's code
  points. Arrow's Unicode tables may be newer than Python's: a text holding a code point that Python's
  ``unicodedata`` does not know takes Python's path, so keys never depend on the pyarrow version.
- ``clean_candidates``: which texts ``safe_nfkc`` or ``normalize_whitespace`` may change, from one
  pass over the batch's code points; the others are left as they are without running either.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.text import normalise

# Code points above the last block Python 3.11 assigns (CJK extension H starts at 0x31350, ends before
# 0x32400) are either unassigned, tags and variation selectors, or private use: all take Python's path.
_ASSIGNED_BELOW = 0x32400


class _PerCodePoint:
    """A table over all code points, filled for the code points of each lookup the first time they are met
    (``of`` gives the values of an array of new code points). A batch holds a few thousand distinct code
    points at most; computing the whole table up front costs a tenth of a second in each new process. A
    code point not yet met holds a value no table holds (``not_met``), so a lookup costs one gather and one
    comparison once the batch's code points are known."""

    def __init__(self, dtype: type, of: Callable[[np.ndarray], Any]):
        self.boolean = dtype is bool
        self.not_met = 2 if self.boolean else 0xFFFFFFFE  # not a truth value; above every code point
        self.values: np.ndarray | None = None  # made on first use (a few MB)
        self.of = of

    def __getitem__(self, cp: np.ndarray) -> np.ndarray:
        if self.values is None:
            self.values = np.full(0x110000, self.not_met, dtype=np.uint8 if self.boolean else np.uint32)
        found = self.values[cp]
        missing = found == self.not_met
        if missing.any():
            todo = np.unique(cp[missing])
            self.values[todo] = self.of(todo)
            found = self.values[cp]
        return found.view(bool) if self.boolean else found


def _each(test: Callable[[str], Any]) -> Callable[[np.ndarray], list]:
    """``of`` for a ``_PerCodePoint`` from a test of one character."""
    return lambda cps: [bool(test(chr(c))) for c in cps.tolist()]


_NON_WORD = re.compile(r"[\W_]")
# The characters ``dedup_key`` keeps: what ``re``'s ``[\W_]`` does not match.
_WORD = _PerCodePoint(bool, _each(lambda ch: _NON_WORD.match(ch) is None))
# Code points whose NFKC Python and Arrow may disagree on: unassigned in Python's Unicode, or high.
_UNKNOWN = _PerCodePoint(bool, lambda cps: [c >= _ASSIGNED_BELOW or unicodedata.category(chr(c)) == "Cn"
                                            for c in cps.tolist()])


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


# ``_key_table`` value of a character whose case folding is several characters (ß -> ss): no table entry.
_FOLDS_TO_SEVERAL = np.uint32(0xFFFFFFFF)


def _keys(cps: np.ndarray) -> np.ndarray:
    """What ``dedup_key`` makes of each code point after NFKC: its case folding when that is one word
    character, 0 when it is dropped, ``_FOLDS_TO_SEVERAL`` when its folding is several characters or it lies
    above the code points Python assigns (a batch holding one is folded by Python). Python's
    ``str.casefold`` maps each character on its own."""
    fold = np.full(len(cps), _FOLDS_TO_SEVERAL, dtype=np.uint32)
    for i, c in enumerate(cps.tolist()):
        f = chr(c).casefold() if c < _ASSIGNED_BELOW else ""
        if len(f) == 1:
            fold[i] = ord(f)
    several = fold == _FOLDS_TO_SEVERAL
    return np.where(several | _WORD[np.where(several, 0, fold)], fold, 0)


_KEY = _PerCodePoint(np.uint32, _keys)


def _decoded(arr: pa.Array) -> str:
    """The texts of a string array, concatenated, decoded at once."""
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if pa.types.is_large_string(arr.type) else np.int32)
    lo, hi = int(offsets[arr.offset]), int(offsets[arr.offset + len(arr)])
    return memoryview(arr.buffers()[2])[lo:hi].tobytes().decode() if hi > lo else ""


def _char_lengths(arr: pa.Array) -> np.ndarray:
    return pc.utf8_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)


def _per_text(mask: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """How many of each text's characters ``mask`` (over the texts concatenated) holds."""
    ends = np.cumsum(lengths)
    counts = np.add.reduceat(mask, np.minimum(ends - lengths, max(len(mask) - 1, 0)), dtype=np.int64) if len(
        mask) else np.zeros(len(lengths), np.int64)
    return np.where(lengths > 0, counts, 0)


def dedup_key_text(texts: pa.Array | pa.ChunkedArray | Sequence[str],
                   codepoints: np.ndarray | None = None) -> tuple[str, np.ndarray]:
    """``normalise.dedup_key`` of every text, concatenated, with the ``len(texts) + 1`` offsets of each key.
    ``codepoints`` is the texts joined by NUL as code points when the caller has it (a NUL inside a text may
    read as a space there: neither is a key character nor unknown to Python)."""
    arr = texts if isinstance(texts, pa.Array | pa.ChunkedArray) else pa.array(texts, pa.string())
    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    if len(arr) == 0:
        return "", np.zeros(1, np.int64)
    lengths = _char_lengths(arr)
    cp = _code_points([_decoded(arr)]) if codepoints is None else codepoints
    odd = _docs_with(_UNKNOWN[cp], lengths, 0 if codepoints is None else 1)
    normal = pc.utf8_normalize(arr, "NFKC")
    if odd.any():
        nfkc = normal.to_pylist()
        for i in np.flatnonzero(odd).tolist():
            nfkc[i] = unicodedata.normalize("NFKC", arr[i].as_py())
        cp, lengths = _code_points(nfkc), np.fromiter(map(len, nfkc), dtype=np.int64, count=len(nfkc))
    else:
        cp, lengths = _code_points([_decoded(normal)]), _char_lengths(normal)
    key = _KEY[cp]
    if (key == _FOLDS_TO_SEVERAL).any():  # ß, ŉ, ﬀ ... (or an unassigned code point): Python folds the texts
        joined = cp.tobytes().decode("utf-32-le")
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        folded = [joined[a:b].casefold() for a, b in itertools.pairwise(bounds)]
        cp, lengths = _code_points(folded), np.fromiter(map(len, folded), dtype=np.int64, count=len(folded))
        key = np.where(_WORD[cp], cp, 0)
    keep = key != 0
    return key[keep].tobytes().decode("utf-32-le"), np.concatenate(([0], np.cumsum(_per_text(keep, lengths))))


def dedup_keys(texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> list[str]:
    """``normalise.dedup_key`` of every text (NFKC, case-folded, without punctuation or whitespace)."""
    keys, bounds = dedup_key_text(texts)
    return [keys[a:b] for a, b in itertools.pairwise(bounds.tolist())]


_SP, _NL = 0x20, 0x0A


_SPACE_RE = re.compile(r"\s")
# Whitespace; and what ``normalize_whitespace`` changes wherever it stands (controls, zero-width
# characters, carriage returns, whitespace but the space and the newline); and, with ``safe_nfkc``'s
# fold table, what either may change.
_SPACE = _PerCodePoint(bool, _each(_SPACE_RE.match))
_BAD = _PerCodePoint(bool, _each(lambda ch: ch not in " \n" and (
    ch == "\r" or normalise._CONTROL.match(ch) or _SPACE_RE.match(ch))))
_BAD_OR_FOLDS = _PerCodePoint(bool, lambda cps: _BAD[cps] | np.array([c in normalise._nfkc_table()
                                                                       for c in cps.tolist()], dtype=bool))


def clean_candidates(texts: Sequence[str], nfkc: bool = True) -> np.ndarray:
    """Per text, False where neither ``safe_nfkc``'s fold table (when ``nfkc``) nor ``normalize_whitespace``
    can change it (its NFC, which ``safe_nfkc`` also applies, is the caller's to check): no control, zero-width
    or carriage-return character, no whitespace but single spaces and newlines, no space next to a newline,
    no three newlines in a row, no whitespace at either end, and not empty."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    cp = _code_points(texts, "a")  # a separator that no rule matches, alone or next to anything
    sp, nl = cp == _SP, cp == _NL
    mask = (_BAD_OR_FOLDS if nfkc else _BAD)[cp]
    # A space next to a space or a newline, in either order (two newlines are allowed).
    mask[:-1] |= (sp[:-1] | nl[:-1]) & (sp[1:] | nl[1:]) & ~(nl[:-1] & nl[1:])
    mask[:-2] |= nl[:-2] & nl[1:-1] & nl[2:]
    suspect = _docs_with(mask, lengths, gap=1)
    starts = np.cumsum(lengths + 1) - lengths - 1
    full = lengths > 0
    edge = np.zeros(n, dtype=bool)
    edge[full] = _SPACE[cp[starts[full]]] | _SPACE[cp[starts[full] + lengths[full] - 1]]
    return suspect | edge | ~full

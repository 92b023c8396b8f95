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


# ``_key_table`` value of a character whose case folding is several characters (ß -> ss): no table entry.
_FOLDS_TO_SEVERAL = np.uint32(0xFFFFFFFF)


@functools.cache
def _key_table() -> np.ndarray:
    """Per code point, what ``dedup_key`` makes of it after NFKC: its case folding when that is one word
    character, 0 when it is dropped, ``_FOLDS_TO_SEVERAL`` when its folding is several characters (or it lies
    above the code points Python assigns: a batch holding one is folded by Python).

    Python's ``str.casefold`` maps each character on its own; the table is built a block at a time, and the
    few blocks with a character that folds to several are folded character by character."""
    cp = np.arange(_ASSIGNED_BELOW, dtype=np.uint32)
    chars = cp.tobytes().decode("utf-32-le", "surrogatepass")
    fold = np.full(0x110000, _FOLDS_TO_SEVERAL, dtype=np.uint32)  # above the assigned ones: Python folds
    step = 4096
    for start in range(0, _ASSIGNED_BELOW, step):
        block = chars[start:start + step]
        folded = block.casefold()
        if len(folded) == len(block):
            fold[start:start + len(block)] = np.frombuffer(folded.encode("utf-32-le", "surrogatepass"), np.uint32)
            continue
        for i, ch in enumerate(block):
            f = ch.casefold()
            fold[start + i] = ord(f) if len(f) == 1 else _FOLDS_TO_SEVERAL
    several = fold == _FOLDS_TO_SEVERAL
    table = np.where(_word()[np.where(several, 0, fold)], fold, 0).astype(np.uint32)
    table[several] = _FOLDS_TO_SEVERAL
    return table


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
    odd = _docs_with(_unknown()[cp], lengths, 0 if codepoints is None else 1)
    normal = pc.utf8_normalize(arr, "NFKC")
    if odd.any():
        nfkc = normal.to_pylist()
        for i in np.flatnonzero(odd).tolist():
            nfkc[i] = unicodedata.normalize("NFKC", arr[i].as_py())
        cp, lengths = _code_points(nfkc), np.fromiter(map(len, nfkc), dtype=np.int64, count=len(nfkc))
    else:
        cp, lengths = _code_points([_decoded(normal)]), _char_lengths(normal)
    key = _key_table()[cp]
    if (key == _FOLDS_TO_SEVERAL).any():  # ß, ŉ, ﬀ ... (or an unassigned code point): Python folds the texts
        joined = cp.tobytes().decode("utf-32-le")
        bounds = np.concatenate(([0], np.cumsum(lengths))).tolist()
        folded = [joined[a:b].casefold() for a, b in itertools.pairwise(bounds)]
        cp, lengths = _code_points(folded), np.fromiter(map(len, folded), dtype=np.int64, count=len(folded))
        key = np.where(_word()[cp], cp, 0)
    keep = key != 0
    return key[keep].tobytes().decode("utf-32-le"), np.concatenate(([0], np.cumsum(_per_text(keep, lengths))))


def dedup_keys(texts: pa.Array | pa.ChunkedArray | Sequence[str]) -> list[str]:
    """``normalise.dedup_key`` of every text (NFKC, case-folded, without punctuation or whitespace)."""
    keys, bounds = dedup_key_text(texts)
    return [keys[a:b] for a, b in itertools.pairwise(bounds.tolist())]


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


@functools.cache
def _flagged(nfkc: bool) -> np.ndarray:
    """Per code point, whether ``normalize_whitespace`` (or, when ``nfkc``, ``safe_nfkc``'s table) changes it."""
    folds, _, bad = _tables()
    return bad | folds if nfkc else bad


def clean_candidates(texts: Sequence[str], nfkc: bool = True) -> np.ndarray:
    """Per text, False where neither ``safe_nfkc``'s fold table (when ``nfkc``) nor ``normalize_whitespace``
    can change it (its NFC, which ``safe_nfkc`` also applies, is the caller's to check): no control, zero-width
    or carriage-return character, no whitespace but single spaces and newlines, no space next to a newline,
    no three newlines in a row, no whitespace at either end, and not empty."""
    n = len(texts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    _, space, _ = _tables()
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n)
    cp = _code_points(texts, "a")  # a separator that no rule matches, alone or next to anything
    sp, nl = cp == _SP, cp == _NL
    mask = _flagged(nfkc)[cp]
    # A space next to a space or a newline, in either order (two newlines are allowed).
    mask[:-1] |= (sp[:-1] | nl[:-1]) & (sp[1:] | nl[1:]) & ~(nl[:-1] & nl[1:])
    mask[:-2] |= nl[:-2] & nl[1:-1] & nl[2:]
    suspect = _docs_with(mask, lengths, gap=1)
    starts = np.cumsum(lengths + 1) - lengths - 1
    full = lengths > 0
    edge = np.zeros(n, dtype=bool)
    edge[full] = space[cp[starts[full]]] | space[cp[starts[full] + lengths[full] - 1]]
    return suspect | edge | ~full

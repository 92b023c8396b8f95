"""Tokens and n-gram hashes for matching text against evaluation sets, whatever its formatting.

Text is normalised so that reformatting cannot hide a match: compatibility forms folded (NFKD, a
superset of NFKC's folding), case folded, accents dropped; punctuation and whitespace only separate
tokens. A token is a run of letters and digits (Latin, Greek, Cyrillic, kana, Hangul ...) or one CJK
ideograph. The two kinds form two streams per text (``STREAMS``), so that each can have its own
n-gram length and an English name inside Chinese text does not break a Chinese n-gram.

Tokenising and hashing are whole-array numpy operations over a batch: the texts are joined, viewed
as code points and classified by a table lookup; each token is hashed from its characters with one
``add.reduceat``; n-gram hashes are rolled over consecutive tokens.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from curate.dedup.minhash import fmix, powers

STREAMS = ("latin", "cjk")
_CHAR_MIX = np.uint64(0x9E3779B97F4A7C15)



def normalize(text: str) -> str:
    """Case-folded compatibility decomposition; accents and punctuation are dealt with per code point."""
    return unicodedata.normalize("NFKD", text.casefold())


SEP, WORD, CJK, MARK = 0, 1, 2, 3
_RANGES = {
    MARK: ((0x300, 0x36F), (0x1AB0, 0x1AFF), (0x1DC0, 0x1DFF), (0x20D0, 0x20FF), (0xFE20, 0xFE2F)),
    # Letters and digits: ASCII, Latin-1 to IPA, Greek to Latin Extended Additional, kana, Hangul.
    WORD: ((0x30, 0x39), (0x41, 0x5A), (0x61, 0x7A), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x2AF), (0x370, 0x1FFF),
           (0x3040, 0x30FF), (0xAC00, 0xD7AF)),
    CJK: ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF)),
}


@functools.cache
def _class_table() -> np.ndarray:
    """The class of every code point (1.1 MB); one table lookup is cheaper than a dozen range tests."""
    table = np.full(0x110000, SEP, np.uint8)
    for cls in (WORD, MARK, CJK):
        for low, high in _RANGES[cls]:
            table[low:high + 1] = cls
    table[0x20000:0x31350] = CJK  # CJK extensions B-G are ideographs; other astral characters (emoji) separate
    return table


def _classes(cp: np.ndarray) -> np.ndarray:
    """The class (SEP, WORD, CJK, MARK) of each code point."""
    return _class_table()[cp]


@dataclass
class Tokens:
    """The tokens of a batch of texts: per stream, token hashes, owning text and token index."""

    cp: np.ndarray  # normalised code points of the batch (texts joined by NUL, marks removed)
    start: np.ndarray  # first code point of each token
    length: np.ndarray  # code points per token
    streams: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # hashes, text, global token index
    hashes: np.ndarray  # every token's hash, both streams, in text order
    text: np.ndarray  # the text of each token, in the same order
    is_cjk: np.ndarray  # whether each token is a CJK ideograph

    def sequences(self, count: int) -> Sequences:
        """Each text's token hashes in order (Latin words and CJK characters together), by text."""
        return Sequences(self.hashes, np.searchsorted(self.text, np.arange(count + 1)))

    def words(self, tokens: np.ndarray, stream: str) -> str:
        """The readable, normalised text of some tokens (joined by spaces, CJK without)."""
        cps = [self.cp[self.start[t]:self.start[t] + self.length[t]] for t in tokens]
        parts = [c.astype(np.uint32).tobytes().decode("utf-32-le") for c in cps]
        return ("" if stream == "cjk" else " ").join(parts)


@dataclass(frozen=True)
class Sequences:
    """The token hashes of each text of a batch, sliced when asked for (few texts are ever looked at)."""

    hashes: np.ndarray
    bounds: np.ndarray  # the first token of each text, and the end

    def __getitem__(self, text: int) -> np.ndarray:
        return self.hashes[self.bounds[text]:self.bounds[text + 1]]

    def __len__(self) -> int:
        return len(self.bounds) - 1


def _normalized(texts: list[str]) -> str:
    """The texts normalised and joined by NUL (a NUL inside a text becomes a space). Folding and
    decomposition work code point by code point and NUL is a starter, so the join is normalised at once."""
    joined = "\x00".join(texts)
    if joined.count("\x00") != max(0, len(texts) - 1):
        joined = "\x00".join(t.replace("\x00", " ") for t in texts)
    return normalize(joined)


def tokenize(texts: list[str]) -> Tokens:
    """Tokenise and hash a batch of texts (see the module doc)."""
    joined = _normalized(texts)
    cp = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
    cls = _classes(cp)
    mark = cls == MARK
    if mark.any():  # accents go, so "naïve" and "naive" are one token
        cp, cls = cp[~mark], cls[~mark]
    word, cjk = cls == WORD, cls == CJK
    pos = np.flatnonzero(word | cjk)
    begins = np.flatnonzero(cjk[pos] | ~np.concatenate(([False], word[:-1]))[pos])
    if pos.size == 0:
        empty = np.zeros(0, np.int64)
        return Tokens(cp, empty, empty, {s: (np.zeros(0, np.uint64), empty, empty) for s in STREAMS},
                      np.zeros(0, np.uint64), empty, np.zeros(0, bool))
    lengths = np.diff(np.append(begins, len(pos)))
    offsets = np.arange(len(pos)) - np.repeat(begins, lengths)  # place of each character in its token
    with np.errstate(over="ignore"):
        values = (cp[pos].astype(np.uint64) + np.uint64(1)) * _CHAR_MIX * powers(int(lengths.max()))[offsets]
        hashes = fmix(np.add.reduceat(values, begins), 64)
    starts = pos[begins]
    # The text of each token: the tokens before each NUL cut the token list into texts.
    bounds = np.searchsorted(starts, np.flatnonzero(cp == 0))
    text = np.repeat(np.arange(len(bounds) + 1), np.diff(bounds, prepend=0, append=len(starts)))
    is_cjk = cjk[starts]
    streams = {}
    for name, mask in (("latin", ~is_cjk), ("cjk", is_cjk)):
        which = np.flatnonzero(mask)
        streams[name] = (hashes[which], text[which], which)
    return Tokens(cp, starts, lengths, streams, hashes, text, is_cjk)


def _mix(acc: np.ndarray, k: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        return fmix(acc + np.uint64(k) * _CHAR_MIX, 64)


def _grams(hashes: np.ndarray, k: int, levels: dict[int, np.ndarray]) -> np.ndarray:
    """The rolling hash of every k consecutive tokens, composed from the power-of-two lengths in ``levels``
    (``h[a + b][i] = h[a][i] * P**b + h[b][i + a]``): about log2(k) array operations instead of k."""
    top = 1
    while top * 2 <= k:
        if top * 2 not in levels:
            h = levels[top]
            with np.errstate(over="ignore"):
                levels[top * 2] = h[:-top] * powers(top + 1)[top] + h[top:]
        top *= 2
    acc, done = levels[top], top
    rest = k - top
    while rest:
        b = 1 << (rest.bit_length() - 1)
        with np.errstate(over="ignore"):
            acc = acc[:len(acc) - b] * powers(b + 1)[b] + levels[b][done:]
        done, rest = done + b, rest - b
    return acc


def ngrams(hashes: np.ndarray, owner: np.ndarray, lengths: Iterable[int]) -> Iterator[tuple[int, np.ndarray,
                                                                                           np.ndarray]]:
    """``(k, gram hashes, first token)`` for every k in ``lengths``: k consecutive tokens of one text."""
    levels = {1: hashes}
    for k in sorted(set(lengths)):
        if k < 1:
            continue
        if len(hashes) < k:
            return
        acc = _grams(hashes, k, levels)
        first = np.flatnonzero(owner[: acc.size] == owner[k - 1:])
        yield k, _mix(acc[first], k), first

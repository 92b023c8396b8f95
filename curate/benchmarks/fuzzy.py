"""Evaluation items that n-grams cannot catch: the whole question with its options, matched fuzzily.

A question shorter than the n-gram length has no n-gram, and one of fewer than 2n tokens loses every
n-gram to one changed word ("Chief cells of the stomach secrete", a 14-character CMMLU stem). This
index holds, for every item whose question has at most ``MAX_STEM`` tokens (Latin words and CJK
characters together, in text order, tokenised and hashed as ``ngrams`` does, so case, accents and
line breaks do not matter):

- the question's tokens, and each option's;
- which options are *specific*: an option text that recurs across many items (yes / no / maybe, "all
  of the above", 以上都是) says nothing about which item it is;
- anchors: the question's token bigrams and the specific options' bigrams, each pointing at its
  items. An anchor shared by more than ``anchor_cap(items)`` items is generic ("which of", "the
  following", 下列) and left out, and an item keeps its ``MAX_ANCHORS`` rarest;
- a weight per token, ``log(1 + items / df)`` over the items' questions and options: exam framing
  ("which of the following is", 下列哪项) weighs little, the words that make an item itself much.

A document is checked against the items with which it shares at least half of their anchors (a
vectorised pass: a one-hash Bloom filter, then ``searchsorted`` over the sorted anchors). For each
candidate the best window of about the question's length is found (token weights summed over a
sliding window, each token as often as the question has it), and the question is aligned to it
(longest common subsequence): ``u`` is the share of the question's tokens matched, ``w`` the share
of its weight. Options are looked for, verbatim and in any order, around that window. A document
leaks the item when

- with options: the options stand together as a list (their tokens fill at least half of the stretch
  they span, option labels aside) and at least two specific options, all but one of them, are among
  them, or, for an item of generic options, all of them right after the question; and ``u`` and
  ``w`` reach ``fuzzy_with_options``; or
- on its question alone: the question is long enough to count whole (``min_short_words`` words or
  ``min_short_cjk_chars`` characters) and ``u`` and ``w`` reach ``fuzzy_stem_alone``; or
- with every option: three or more options, all specific, all in the list, and ``u`` and ``w`` reach
  ``fuzzy_all_options`` (a question of two or three words with one changed keeps half of itself).

One word changed in a 14-token question leaves ``u`` = 13/14; a generic question that shares only
its framing with the item, or a textbook sentence that names the options in running prose, does not
pass (the item's own words weigh most, and prose is not a list).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from curate.benchmarks.ngrams import Tokens, tokenize
from curate.dedup.minhash import P, fmix

MAX_STEM = 64  # longer questions keep an intact n-gram after a few edits
MAX_ANCHORS = 16  # the rarest anchors an entry keeps
ANCHOR_SHARE = 0.5  # of an item's anchors a document must share to be checked against it
WINDOW_SLACK = 4  # tokens beside the question's length in the window it is aligned to
_BIGRAM, _OPTION, _OWNER = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0x5851F42D4C957F2D),
                            np.uint64(0xC2B2AE3D27D4EB4F))


def anchor_cap(items: int) -> int:
    """Items an anchor may point at before it counts as generic: 0.05% of them, within 8..50."""
    return int(min(50, max(8, items // 2000)))


def generic_option_cap(items: int) -> int:
    """Items an option text may recur in before it counts as generic: 1% of them, at least 3."""
    return max(3, items // 100)


def _pairs(h: np.ndarray, owner: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bigram hashes of consecutive tokens of one owner, and their owners."""
    same = np.flatnonzero(owner[:-1] == owner[1:])
    with np.errstate(over="ignore"):
        return fmix(h[same] * P + h[same + 1] + _BIGRAM, 64), owner[same]


def _once_per_owner(values: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Positions of the first copy of each distinct (owner, value) pair (the two mixed into one hash)."""
    with np.errstate(over="ignore"):
        mixed = fmix(values ^ (owners.astype(np.uint64) + np.uint64(1)) * _OWNER, 64)
    return np.sort(np.unique(mixed, return_index=True)[1])


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)


@functools.cache
def _label_hashes() -> np.ndarray:
    """Hashes of the tokens that label options (single letters and digits): not option text."""
    labels = [*"abcdefghij", *"0123456789", "ii", "iii", "iv"]
    return np.unique(tokenize([" ".join(labels)]).hashes)


@dataclass
class Entry:
    """One item of the index as the verifier needs it."""

    item: int  # the decontamination index's item number
    stem: np.ndarray  # question tokens
    weights: np.ndarray  # float64 weight of each question token
    options: list[np.ndarray]  # every option's tokens
    specific: list[bool]  # whether each option is specific
    long: bool  # the question may count on its own


@dataclass
class FuzzyIndex:
    """Questions and options of the short items (flat arrays with offsets), anchors and token weights."""

    items: np.ndarray  # int32 per entry: the decontamination index's item
    long: np.ndarray  # bool per entry
    stem_tokens: np.ndarray  # uint64, every entry's question tokens back to back
    stem_start: np.ndarray  # int64 [entries + 1]
    option_tokens: np.ndarray  # uint64, every option's tokens back to back
    option_start: np.ndarray  # int64 [options + 1]
    entry_options: np.ndarray  # int64 [entries + 1]: each entry's range of options
    option_specific: np.ndarray  # bool per option
    anchor_hash: np.ndarray  # uint64, sorted
    anchor_entry: np.ndarray  # int32, the entry of each anchor
    token_hash: np.ndarray  # uint64, sorted
    token_weight: np.ndarray  # float32
    anchor_count: np.ndarray = field(init=False)  # anchors per entry
    bits: np.ndarray = field(init=False, repr=False)  # a one-hash Bloom filter over the anchors

    def __post_init__(self) -> None:
        self.anchor_count = np.bincount(self.anchor_entry, minlength=len(self.items)).astype(np.int32)
        starts = np.flatnonzero(np.diff(self.anchor_hash, prepend=self.anchor_hash[:1] + np.uint64(1)))
        self._distinct = self.anchor_hash[starts]  # the runs of one hash in the sorted anchors
        self._runs = np.append(starts, self.anchor_hash.size).astype(np.int64)
        self._shift = np.uint64(64 - min(31, max(16, int(self.anchor_hash.size * 16).bit_length())))
        slots = (self.anchor_hash >> self._shift).astype(np.int64)
        self.bits = np.zeros((1 << (64 - int(self._shift))) // 8, np.uint8)
        np.bitwise_or.at(self.bits, slots >> 3, (1 << (slots & 7)).astype(np.uint8))

    def __len__(self) -> int:
        return len(self.items)

    def maybe(self, grams: np.ndarray) -> np.ndarray:
        """Positions of ``grams`` that may be anchors (the Bloom filter's answer)."""
        slots = (grams >> self._shift).astype(np.int64)
        return np.flatnonzero(self.bits[slots >> 3] & (1 << (slots & 7)).astype(np.uint8))

    def entry(self, e: int) -> Entry:
        """Entry ``e`` with its question's token weights."""
        stem = self.stem_tokens[self.stem_start[e]:self.stem_start[e + 1]]
        at = np.minimum(np.searchsorted(self.token_hash, stem), max(self.token_hash.size - 1, 0))
        weights = np.where(self.token_hash[at] == stem, self.token_weight[at], 1.0).astype(np.float64)
        js = range(int(self.entry_options[e]), int(self.entry_options[e + 1]))
        options = [self.option_tokens[self.option_start[j]:self.option_start[j + 1]] for j in js]
        return Entry(int(self.items[e]), stem, weights, options, [bool(self.option_specific[j]) for j in js],
                     bool(self.long[e]))


def build(items: Sequence[tuple[int, str, Sequence[str]]], min_words: int, min_chars: int) -> FuzzyIndex:
    """Index ``(item number, question, option texts)`` triples (see module doc), with whole-array operations."""
    n = len(items)
    q = tokenize([question for _, question, _ in items])
    stem_len = np.bincount(q.text, minlength=n)
    cjk_len = np.bincount(q.text, weights=q.is_cjk, minlength=n)
    keep = (stem_len > 0) & (stem_len <= MAX_STEM)
    long = (stem_len - cjk_len) / min_words + cjk_len / min_chars >= 1
    texts = [o for _, _, opts in items for o in opts]
    opt_item = np.repeat(np.arange(n), [len(opts) for _, _, opts in items])
    o = tokenize(texts) if texts else tokenize([])
    opt_len = np.bincount(o.text, minlength=len(texts))
    # An option's identity: its tokens in order, hashed; its df counts the items it appears in.
    with np.errstate(over="ignore"):
        pos = np.arange(o.hashes.size) - _offsets(opt_len)[o.text]
        mixed = fmix(o.hashes ^ (pos.astype(np.uint64) * _OPTION), 64)
    key = np.zeros(len(texts), np.uint64)
    np.add.at(key, o.text, mixed)
    present = np.flatnonzero(opt_len > 0)
    keys = key[present][_once_per_owner(key[present], opt_item[present])]
    uniq, df = np.unique(keys, return_counts=True)
    option_df = df[np.minimum(np.searchsorted(uniq, key), max(uniq.size - 1, 0))] if uniq.size else key * 0
    specific = (opt_len > 0) & (option_df <= generic_option_cap(n))
    # Token weights over every item's question and options.
    values = np.concatenate([q.hashes, o.hashes])
    owners = np.concatenate([q.text, opt_item[o.text]])
    token_hash, token_df = np.unique(values[_once_per_owner(values, owners)], return_counts=True)
    weights = np.log1p(max(n, 1) / token_df).astype(np.float32)
    # Anchors of the kept items: question bigrams and specific options' bigrams.
    g1, i1 = _pairs(q.hashes, q.text)
    g2, opt = _pairs(o.hashes, o.text)
    g2, i2 = g2[specific[opt]], opt_item[opt[specific[opt]]]
    grams, owner = np.concatenate([g1, g2]), np.concatenate([i1, i2])
    mine = np.flatnonzero(keep[owner])
    grams, owner = grams[mine], owner[mine]
    once = _once_per_owner(grams, owner)
    grams, owner = grams[once], owner[once]
    _, inverse, df = np.unique(grams, return_inverse=True, return_counts=True)
    counts = df[inverse.ravel()]
    # Each entry keeps its MAX_ANCHORS rarest: they say most about it, and fewer anchors are fewer lookups.
    by_rarity = np.lexsort((grams, counts, owner))
    starts = np.searchsorted(owner[by_rarity], owner[by_rarity], "left")
    rarest = by_rarity[np.arange(by_rarity.size) - starts < MAX_ANCHORS]
    common = rarest[counts[rarest] <= anchor_cap(n)]
    anchor_entry = (np.cumsum(keep) - 1)[owner[common]].astype(np.int32)
    anchor_hash = grams[common]
    order = np.lexsort((anchor_entry, anchor_hash))
    kept_opts = (opt_len > 0) & keep[opt_item]
    opt_counts = np.bincount(opt_item[kept_opts], minlength=n)[keep]
    numbers = np.array([number for number, _, _ in items], np.int32)
    return FuzzyIndex(
        numbers[keep], long[keep], q.hashes[keep[q.text]], _offsets(stem_len[keep]), o.hashes[kept_opts[o.text]],
        _offsets(opt_len[kept_opts]), _offsets(opt_counts), specific[kept_opts], anchor_hash[order],
        anchor_entry[order], token_hash, weights)


# --- scanning ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """Similarities a question needs with its options found, and alone."""

    with_options: float
    stem_alone: float
    all_options: float  # every one of three or more specific options found


def candidates(tokens: Tokens, fz: FuzzyIndex, skip: set[int]) -> list[tuple[int, int]]:
    """(text, entry) pairs sharing at least ``ANCHOR_SHARE`` of the entry's anchors, most shared first."""
    if fz.anchor_hash.size == 0 or tokens.hashes.size < 2:
        return []
    queries, texts = _pairs(tokens.hashes, tokens.text)
    maybe = fz.maybe(queries)
    queries, texts = queries[maybe], texts[maybe]
    # Sorted by hash (sorted queries search several times faster), each bigram once per text.
    order = np.lexsort((texts, queries))
    queries, texts = queries[order], texts[order]
    first = np.ones(queries.size, bool)
    first[1:] = (queries[1:] != queries[:-1]) | (texts[1:] != texts[:-1])
    queries, texts = queries[first], texts[first]
    at = np.minimum(np.searchsorted(fz._distinct, queries), fz._distinct.size - 1)
    hit = np.flatnonzero(fz._distinct[at] == queries)
    if hit.size == 0:
        return []
    lo, hi = np.zeros(queries.size, np.int64), np.zeros(queries.size, np.int64)
    lo[hit], hi[hit] = fz._runs[at[hit]], fz._runs[at[hit] + 1]
    sizes = (hi - lo)[hit]
    rep = np.repeat(hit, sizes)
    idx = lo[rep] + np.arange(rep.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    n = len(fz)
    keys, shared = np.unique(texts[rep].astype(np.int64) * n + fz.anchor_entry[idx], return_counts=True)
    entries = keys % n
    ok = np.flatnonzero(shared >= np.maximum(1, np.ceil(ANCHOR_SHARE * fz.anchor_count[entries])))
    ranked = ok[np.lexsort((entries[ok], -shared[ok], keys[ok] // n))]
    return [(int(keys[r] // n), int(entries[r])) for r in ranked if int(keys[r] // n) not in skip]


def _aligned(stem: list[int], weights: list[float], window: list[int]) -> tuple[int, float, int, int]:
    """The longest common subsequence of ``stem`` in ``window`` by weight: (tokens matched, weight matched,
    window offsets of the first and last matched token)."""
    n = len(stem)
    prev = [(0.0, 0, -1, -1)] * (n + 1)
    for i, t in enumerate(window):
        cur = [(0.0, 0, -1, -1)] * (n + 1)
        for j in range(1, n + 1):
            if stem[j - 1] == t:
                w, c, first, _ = prev[j - 1]
                cur[j] = (w + weights[j - 1], c + 1, first if c else i, i)
            else:
                cur[j] = max(prev[j], cur[j - 1])
        prev = cur
    weight, count, first, last = prev[n]
    return count, weight, first, last


def _find(region: bytes, option: bytes) -> int:
    """Token offset of ``option`` in ``region`` (both uint64 bytes), or -1."""
    at = region.find(option)
    while at != -1 and at % 8:
        at = region.find(option, at + 1)
    return at // 8 if at != -1 else -1


def _last(region: bytes, option: bytes) -> int:
    """Token offset of the last ``option`` in ``region`` (both uint64 bytes), or -1."""
    at = region.rfind(option)
    while at != -1 and at % 8:
        at = region.rfind(option, 0, at + len(option) - 1)
    return at // 8 if at != -1 else -1


def _options(doc: np.ndarray, lo: int, hi: int, entry: Entry) -> tuple[int, int]:
    """How the item's options stand as a list next to the question at ``doc[lo:hi]`` (see the module doc): 0 not,
    1 enough of them, 2 every one of three or more specific options; and where the first option starts."""
    total = sum(len(o) for o in entry.options)
    a, b = max(0, lo - 2 * total - 8), min(len(doc), hi + 2 * total + 4 * len(entry.options) + 8)
    # After the question's first token: its alignment may have taken a word of an option as its last.
    after, before = doc[lo + 1:b].tobytes(), doc[a:lo].tobytes()
    spans = {}
    for k, option in enumerate(entry.options):  # the nearest copy after the question, else before it
        raw = option.tobytes()
        if (at := _find(after, raw)) >= 0:
            spans[k] = (lo + 1 + at, lo + 1 + at + len(option))
        elif (at := _last(before, raw)) >= 0:
            spans[k] = (a + at, a + at + len(option))
    if len(spans) < 2:
        return 0, hi
    first, last = min(s for s, _ in spans.values()), max(e for _, e in spans.values())
    stretch = doc[first:last]
    filled = sum(e - s for s, e in spans.values())
    if filled < 0.5 * (len(stretch) - int(np.isin(stretch, _label_hashes()).sum())):
        return 0, hi  # named in running prose, not listed
    specific = [k for k, flag in enumerate(entry.specific) if flag]
    if len(specific) >= 2 and sum(k in spans for k in specific) >= max(2, len(specific) - 1):
        return (2 if len(spans) == len(specific) == len(entry.options) >= 3 else 1), first
    # Generic options (yes / no / maybe) say which item it is only as the item's whole list, right after it.
    return int(len(spans) == len(entry.options) and first <= hi + 8), first


def _best_windows(sums: np.ndarray, need: float, width: int, count: int = 3) -> list[int]:
    """Starts of up to ``count`` non-overlapping windows whose weight reaches ``need``, best first."""
    starts: list[int] = []
    for start in np.argsort(-sums, kind="stable").tolist():
        if sums[start] < need or len(starts) == count:
            break
        if all(abs(start - s) >= width for s in starts):
            starts.append(start)
    return starts


@dataclass(frozen=True)
class Match:
    """How a document leaks an item: the question's similarity, whether its options were needed (and
    found), and the window (token offsets in the document) the question was aligned to."""

    similarity: float
    with_options: bool
    lo: int
    hi: int


def verify(doc: np.ndarray, entry: Entry, th: Thresholds) -> Match | None:
    """How ``doc`` (its token hashes) leaks ``entry``, or None."""
    s = len(entry.stem)
    order = np.argsort(entry.stem)
    sorted_stem, sorted_w = entry.stem[order], entry.weights[order]
    at = np.minimum(np.searchsorted(sorted_stem, doc), s - 1)
    width = min(len(doc), s + WINDOW_SLACK)
    # A token counts in a window as often as the question has it, no more: options that repeat the
    # question's words ("社会学男女, 生物学男女, 文化学男女") must not outweigh the question itself.
    distinct, times = np.unique(entry.stem, return_counts=True)
    where = np.minimum(np.searchsorted(distinct, doc), distinct.size - 1)
    times = np.where(distinct[where] == doc, times[where], 0)
    by_hash = np.argsort(doc, kind="stable")  # positions, ascending within each token
    group = np.flatnonzero(np.diff(doc[by_hash], prepend=~doc[by_hash][:1]))
    rank = np.arange(len(doc)) - np.repeat(group, np.diff(np.append(group, len(doc))))
    back = times[by_hash]  # the earlier copy that a copy beyond the question's count would displace
    fresh = np.ones(len(doc), bool)
    late = np.flatnonzero((back > 0) & (rank >= back))
    fresh[by_hash[late]] = by_hash[late] - by_hash[late - back[late]] >= width
    per_token = np.where((times > 0) & fresh, sorted_w[at], 0.0)
    sums = np.convolve(per_token, np.ones(width), "valid")
    total = float(entry.weights.sum())
    need = min(th.with_options, th.stem_alone, th.all_options) * total
    stem, weights = entry.stem.tolist(), entry.weights.tolist()
    for start in _best_windows(sums, need, width):
        lo, hi = max(0, start - WINDOW_SLACK // 2), min(len(doc), start + width + WINDOW_SLACK // 2)
        count, weight, first, last = _aligned(stem, weights, doc[lo:hi].tolist())
        sim = min(count / s, weight / total)
        if count:  # the question as found: from its first matched token to its last
            lo, hi = lo + first, lo + last + 1
        if entry.long and sim >= th.stem_alone:
            return Match(sim, False, lo, hi)
        if len(entry.options) >= 2 and sim >= min(th.with_options, th.all_options):
            found, first = _options(doc, lo, hi, entry)
            if (found and sim >= th.with_options) or (found == 2 and sim >= th.all_options):
                if lo < first < hi:  # the question ends where its options begin, labels aside
                    hi = first
                    while hi - 1 > lo and np.isin(doc[hi - 1], _label_hashes()):
                        hi -= 1
                return Match(sim, True, lo, hi)
    return None


def words(tokens: Tokens, text: int, lo: int, hi: int) -> str:
    """The normalised words of tokens ``lo:hi`` of text number ``text`` (CJK characters unspaced)."""
    first = int(np.searchsorted(tokens.text, text))
    parts = []
    for g in range(first + lo, first + hi):
        part = tokens.cp[tokens.start[g]:tokens.start[g] + tokens.length[g]].astype(np.uint32).tobytes()
        if parts and not (tokens.is_cjk[g] or tokens.is_cjk[g - 1]):
            parts.append(" ")
        parts.append(part.decode("utf-32-le"))
    return "".join(parts)


# --- on disk, inside the decontamination index's Parquet file -----------------------------------

_FIELDS = {"items": pa.int32(), "long": pa.bool_(), "stem_tokens": pa.uint64(), "stem_start": pa.int64(),
           "option_tokens": pa.uint64(), "option_start": pa.int64(), "entry_options": pa.int64(),
           "option_specific": pa.bool_(), "anchor_hash": pa.uint64(), "anchor_entry": pa.int32(),
           "token_hash": pa.uint64(), "token_weight": pa.float32()}


def columns(fz: FuzzyIndex) -> dict[str, tuple[pa.Array, int]]:
    """The index as Parquet columns ``fz_<field>``, each a row set of its own length: name -> (values, rows)."""
    return {f"fz_{name}": (pa.array(getattr(fz, name), kind), len(getattr(fz, name))) for name, kind in _FIELDS.items()}


def sizes(fz: FuzzyIndex) -> dict[str, int]:
    """Rows of each column, for the index file's metadata."""
    return {name: len(getattr(fz, name)) for name in _FIELDS}


def from_table(table: pa.Table, rows: dict[str, int]) -> FuzzyIndex:
    """The index back from the columns ``columns`` wrote."""
    values = {}
    for name in _FIELDS:
        arr = table.column(f"fz_{name}").slice(0, rows[name])
        values[name] = arr.to_numpy(zero_copy_only=False).astype(_FIELDS[name].to_pandas_dtype())
    return FuzzyIndex(**values)

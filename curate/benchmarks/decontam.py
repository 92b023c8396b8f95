"""Decontamination: drop documents that overlap evaluation sets (n-grams) or carry their PMIDs.

Text is tokenised by ``curate.benchmarks.ngrams`` (normalised so that reformatting cannot hide a match; Latin
words and CJK characters in two streams), each stream with its own n-gram length: words for Latin
script (``ngram_words``) and characters for CJK (``ngram_cjk_chars``). An English drug name or a
number inside Chinese text belongs to the Latin stream and the CJK stream reads past it, so mixed
text works.

The index (``build_index``) holds the 64-bit hash of every n-gram of each item's question, context
and options, and, with ``index_answers``, of the question followed by its answer (and PubMedQA's long
answer, which is the abstract's conclusion). A question, context or answer text with fewer tokens
than n counts as one n-gram of its whole length when it has at least ``min_short_*`` tokens; shorter
ones are not specific, and neither is a short option on its own (``item_texts``). Documents are
scanned for n-grams of n and of those short lengths. Each hash remembers the first item that made it.

Lookups go through a one-hash Bloom filter, then ``searchsorted`` on the index's sorted hash array.

Items too short for n-grams, or edited by a word, are matched whole with ``fuzzy`` (on by default):
each question of up to 64 tokens and its options, by ``curate.benchmarks.fuzzy`` (similarity of the
aligned question, options standing as a list beside it). Its ledger detail reads
``benchmark=... item=... match=fuzzy similarity=0.93 with_options=true ngram='<the question as found>'``.

On disk (``Index.save``) the index is one Parquet file of row sets side by side (each padded with
nulls to the longest): n-gram rows ``hash`` (uint64, sorted) and ``item`` (int32); item rows
``item_id``, ``benchmark`` and ``pmid``; and, with ``fuzzy``, the ``fz_*`` columns of
``fuzzy.columns``, each a row set of its own. The schema metadata ``curate.decontam`` holds the n-gram
settings, the short lengths present and the row counts, as JSON.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curate.benchmarks import fuzzy
from curate.benchmarks.ngrams import STREAMS, Tokens, ngrams, tokenize
from curate.core import records
from curate.core.executor import atomic_path
from curate.core.step import Context, Out

STEP, REASON = "decontam", "contamination"
BATCH_DOCS = 1024
_META_KEY = b"curate.decontam"


@dataclass(frozen=True)
class DecontamConfig:
    """N-gram lengths, the shortest texts that still count, answer indexing, hit threshold, PMIDs."""

    ngram_words: int = 13
    # 20 CJK characters, from measurements on the real text in ../shared/realdata. Share of documents
    # with an n-gram found in another document: PubMedQA's 1,000 abstracts (unrelated authors), words:
    # 8 -> 16%, 10 -> 1.9%, 12 -> 0.2%, 13 -> 0; generic phrasing ("the purpose of this study was to
    # determine") ends near 10 words and 13 leaves a margin of 1.3x. 1,000 Chinese consultations,
    # characters: 8 -> 65%, 10 -> 37%, 12 -> 20%, then a slow tail (14 -> 15%, 20 -> 11%, 24 -> 9%) of
    # copied stock sentences that no length removes; across sources (consultations vs PromptCBLUE,
    # questions vs other answers) nothing is shared from 10 characters up. Generic Chinese phrasing
    # ("的影像学检查有些什么") thus ends near 12 characters; 1.3x that is 16, and a stock exam stem such
    # as "根据患者的临床表现最可能的诊断是" has 16 already, so 20 keeps item-specific text in every
    # n-gram, as 13 words do around "which of the following is the most likely diagnosis" (9 words).
    ngram_cjk_chars: int = 20
    # Shorter texts (not options alone, see item_texts) count whole from 8 words or 12 characters. None
    # of PubMedQA's 1,000 questions, at any length from 5 words, occurs in another item's abstract;
    # below 8 words questions read as topic sentences ("Is aspirin effective in preventing stroke?").
    # 12 characters: generic Chinese phrases run to 10-12 (above).
    min_short_words: int = 8
    min_short_cjk_chars: int = 12
    index_answers: bool = True
    min_matches: int = 1  # distinct matching n-grams of one benchmark that make a document a hit
    exclude_pmids: bool = True
    # Short or lightly edited items (curate.benchmarks.fuzzy): the question's similarity to the document
    # (share of its tokens and of its weight, aligned) needed with the item's options found beside it, and
    # on its own (questions of min_short_* tokens and up). One changed word in a 14-token question: 0.93.
    fuzzy: bool = True
    fuzzy_with_options: float = 0.7
    fuzzy_stem_alone: float = 0.85
    # A question of a few words with one changed keeps little of itself (2 of 3 tokens: 0.67); when every
    # one of its three or more specific options stands beside it, they say which item it is.
    fuzzy_all_options: float = 0.4

    def __post_init__(self) -> None:
        if not 1 <= self.min_short_words <= self.ngram_words:
            raise ValueError(f"decontam: min_short_words must be in 1..ngram_words, got {self.min_short_words}")
        if not 1 <= self.min_short_cjk_chars <= self.ngram_cjk_chars:
            raise ValueError("decontam: min_short_cjk_chars must be in 1..ngram_cjk_chars, "
                             f"got {self.min_short_cjk_chars}")
        if self.min_matches < 1:
            raise ValueError(f"decontam: min_matches must be at least 1, got {self.min_matches}")
        for name in ("fuzzy_with_options", "fuzzy_stem_alone", "fuzzy_all_options"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"decontam: {name} must be in (0, 1], got {getattr(self, name)}")

    def lengths(self) -> dict[str, tuple[int, int]]:
        """(shortest whole text, n) per token stream."""
        return {"latin": (self.min_short_words, self.ngram_words),
                "cjk": (self.min_short_cjk_chars, self.ngram_cjk_chars)}


# ---------------------------------------------------------------------------------------------------
# The index


@dataclass
class Index:
    """Sorted n-gram hashes with the item each came from first, the items, their PMIDs and settings."""

    hashes: np.ndarray  # uint64, sorted, unique
    items: np.ndarray  # int32: the item of each hash
    item_ids: list[str]
    item_benchmarks: list[str]
    item_pmids: list[str | None]
    settings: dict[str, Any]  # the n-gram settings of DecontamConfig and the short lengths present
    fuzzy: fuzzy.FuzzyIndex | None = None  # short items' questions and options (``fuzzy: true``)
    pmids: dict[str, int] = field(init=False)  # PMID -> its first item
    benchmark_names: list[str] = field(init=False)
    item_codes: np.ndarray = field(init=False, repr=False)  # each item's index in benchmark_names
    bits: np.ndarray = field(init=False, repr=False)  # a one-hash Bloom filter in front of searchsorted

    def __post_init__(self) -> None:
        self.pmids = {p: i for i, p in reversed(list(enumerate(self.item_pmids))) if p}
        self.benchmark_names = sorted(set(self.item_benchmarks))
        codes = {name: i for i, name in enumerate(self.benchmark_names)}
        self.item_codes = np.asarray([codes[b] for b in self.item_benchmarks], np.int64)
        # 32-64 bits per hash (at most 256 MB): 2-4% of absent n-grams go on to the binary search, which
        # costs 150-450 ns a query on a multi-million-entry array (cache misses), against ~8 ns a bit test.
        self._shift = np.uint64(64 - min(31, max(16, int(self.hashes.size * 32).bit_length())))
        slots = (self.hashes >> self._shift).astype(np.int64)
        self.bits = np.zeros((1 << (64 - int(self._shift))) // 8, np.uint8)
        np.bitwise_or.at(self.bits, slots >> 3, (1 << (slots & 7)).astype(np.uint8))

    def lengths(self, stream: str) -> list[int]:
        """The n-gram lengths to look for in documents: n and the lengths of short texts."""
        n = self.settings["ngram_words" if stream == "latin" else "ngram_cjk_chars"]
        return sorted({n, *self.settings["short"][stream]})

    def find(self, grams: np.ndarray) -> np.ndarray:
        """The item of each n-gram hash, or -1 where it is not in the index."""
        out = np.full(grams.size, -1, np.int32)
        if self.hashes.size == 0 or grams.size == 0:
            return out
        slots = (grams >> self._shift).astype(np.int64)
        maybe = np.flatnonzero(self.bits[slots >> 3] & (1 << (slots & 7)).astype(np.uint8))
        maybe = maybe[np.argsort(grams[maybe])]  # sorted queries search three times faster (cache)
        at = np.minimum(np.searchsorted(self.hashes, grams[maybe]), self.hashes.size - 1)
        out[maybe] = np.where(self.hashes[at] == grams[maybe], self.items[at], -1)
        return out

    def check(self, cfg: DecontamConfig) -> None:
        """Raise unless ``cfg`` has the n-gram settings this index was built with."""
        want = _settings(cfg)
        diff = [f"{k}={self.settings[k]} (config: {want[k]})" for k in want if self.settings.get(k) != want[k]]
        if diff:
            raise ValueError(f"decontam: the index was built with {', '.join(diff)}; rebuild it with this config")

    def save(self, path: Path | str) -> None:
        """Write the index as one Parquet file (layout in the module doc), atomically."""
        n, m = self.hashes.size, len(self.item_ids)
        columns = {"hash": (pa.array(self.hashes, pa.uint64()), n),
                   "item": (pa.array(self.items.astype(np.int32), pa.int32()), n),
                   "item_id": (pa.array(self.item_ids, pa.string()), m),
                   "benchmark": (pa.array(self.item_benchmarks, pa.string()), m),
                   "pmid": (pa.array(self.item_pmids, pa.string()), m)}
        meta = {**self.settings, "ngrams": n, "items": m}
        if self.fuzzy is not None:
            columns.update(fuzzy.columns(self.fuzzy))
            meta["fuzzy_rows"] = fuzzy.sizes(self.fuzzy)
        rows = max(count for _, count in columns.values())
        table = pa.table({name: pa.concat_arrays([values, pa.nulls(rows - count, values.type)])
                          for name, (values, count) in columns.items()})
        table = table.replace_schema_metadata({_META_KEY: json.dumps(meta, sort_keys=True).encode()})
        with atomic_path(Path(path)) as tmp:
            pq.write_table(table, tmp, compression="zstd")

    @classmethod
    def load(cls, path: Path | str) -> Index:
        """Read an index written by ``save``."""
        table = pq.read_table(path)
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            raise ValueError(f"decontam: {path} is not a decontamination index (no {_META_KEY.decode()} metadata)")
        meta = json.loads(raw)
        n, m = meta.pop("ngrams"), meta.pop("items")
        fuzzy_rows = meta.pop("fuzzy_rows", None)
        col = lambda name, count: table.column(name).slice(0, count)  # noqa: E731
        return cls(col("hash", n).to_numpy().astype(np.uint64), col("item", n).to_numpy().astype(np.int32),
                   col("item_id", m).to_pylist(), col("benchmark", m).to_pylist(), col("pmid", m).to_pylist(),
                   meta, fuzzy.from_table(table, fuzzy_rows) if fuzzy_rows else None)


def _settings(cfg: DecontamConfig) -> dict[str, Any]:
    return {k: v for k, v in asdict(cfg).items()
            if k in ("ngram_words", "ngram_cjk_chars", "min_short_words", "min_short_cjk_chars", "index_answers",
                     "fuzzy")}


def _meta(item: Mapping[str, Any]) -> dict[str, Any]:
    meta = item.get("meta")
    return meta if isinstance(meta, dict) else records.load_meta(meta)


def item_texts(item: Mapping[str, Any], cfg: DecontamConfig) -> list[tuple[str, bool]]:
    """The indexed texts of an MCQ record (question, context, options, answers), each with whether it
    may count whole when shorter than n. An option alone may not: a short option is generic ("It is the
    most common cause of death") and specific only next to its question, which ``index_answers`` covers."""
    question = item.get("question") or ""
    options = item.get("options") or []
    texts = [(question, True), (item.get("context") or "", True), *((o["text"], False) for o in options)]
    if cfg.index_answers:
        answer = item.get("answer") or ""
        answers = [o["text"] for o in options if o["label"] in answer]
        if answers:
            texts.append((" ".join([question, *answers]), True))
        # PubMedQA's long answer is the abstract's conclusion, so it is answer and contaminating text.
        texts.append((_meta(item).get("long_answer") or "", True))
    return [(t, whole) for t, whole in texts if t]


class _Builder:
    """Accumulates item texts and turns them into n-gram hashes batch by batch."""

    def __init__(self, cfg: DecontamConfig):
        self.cfg = cfg
        self.lengths = cfg.lengths()
        self.texts: list[str] = []
        self.owners: list[int] = []
        self.whole: list[bool] = []
        self.hashes: list[np.ndarray] = []
        self.items: list[np.ndarray] = []
        self.short: dict[str, set[int]] = {s: set() for s in STREAMS}
        self.ids: list[str] = []
        self.benchmarks: list[str] = []
        self.pmids: list[str | None] = []
        self.questions: list[tuple[int, str, list[str]]] = []  # for the fuzzy index

    def add(self, benchmark: str, item: Mapping[str, Any]) -> None:
        n = len(self.ids)
        self.ids.append(item.get("id") or f"{benchmark}#{n}")
        self.benchmarks.append(benchmark)
        pmid = _meta(item).get("pmid")
        self.pmids.append(str(pmid) if pmid not in (None, "") else None)
        if self.cfg.fuzzy and item.get("question"):
            self.questions.append((n, item["question"], [o["text"] for o in item.get("options") or []]))
        for body, whole in item_texts(item, self.cfg):
            self.texts.append(body)
            self.owners.append(n)
            self.whole.append(whole)
        if len(self.texts) >= 4 * BATCH_DOCS:
            self.flush()

    def flush(self) -> None:
        if not self.texts:
            return
        tokens = tokenize(self.texts)
        owners = np.asarray(self.owners, np.int32)
        whole = np.asarray(self.whole, bool)
        for stream in STREAMS:
            hashes, text, _ = tokens.streams[stream]
            counts = np.bincount(text, minlength=len(self.texts))
            firsts = np.cumsum(counts) - counts
            low, n = self.lengths[stream]
            for k, grams, first in ngrams(hashes, text, range(low, n + 1)):
                owner = text[first]
                if k < n:  # a short text counts once, whole
                    keep = (first == firsts[owner]) & (counts[owner] == k) & whole[owner]
                    grams, owner = grams[keep], owner[keep]
                    if grams.size:
                        self.short[stream].add(k)
                self.hashes.append(grams)
                self.items.append(owners[owner])
        self.texts, self.owners, self.whole = [], [], []

    def finish(self) -> Index:
        self.flush()
        hashes = np.concatenate(self.hashes) if self.hashes else np.zeros(0, np.uint64)
        items = np.concatenate(self.items) if self.items else np.zeros(0, np.int32)
        hashes, first = np.unique(hashes, return_index=True)  # first occurrence: the first item keeps it
        settings = {**_settings(self.cfg), "short": {s: sorted(v) for s, v in self.short.items()}}
        fz = fuzzy.build(self.questions, self.cfg.min_short_words, self.cfg.min_short_cjk_chars) \
            if self.cfg.fuzzy else None
        return Index(hashes, items[first].astype(np.int32), self.ids, self.benchmarks, self.pmids, settings, fz)


def build_index(items_by_benchmark: Mapping[str, Iterable[Mapping[str, Any]]], cfg: DecontamConfig) -> Index:
    """Index the n-grams and PMIDs of MCQ records, per benchmark name."""
    builder = _Builder(cfg)
    for benchmark, items in items_by_benchmark.items():
        for item in items:
            builder.add(benchmark, item)
    return builder.finish()


# ---------------------------------------------------------------------------------------------------
# Scanning documents


def _scan(tokens: Tokens, index: Index, min_matches: int) -> dict[int, str]:
    """Ledger detail of every text (by position) with at least ``min_matches`` n-grams of one benchmark."""
    found: list[tuple[np.ndarray, ...]] = []
    for si, stream in enumerate(STREAMS):
        hashes, text, glob = tokens.streams[stream]
        for k, grams, first in ngrams(hashes, text, index.lengths(stream)):
            item = index.find(grams)
            hit = np.flatnonzero(item >= 0)
            if hit.size:
                at = first[hit]
                found.append((text[at], item[hit], grams[hit], tokens.start[glob[at]], np.full(hit.size, si),
                              at, np.full(hit.size, k)))
    if not found:
        return {}
    doc, item, gram, pos, stream, at, k = (np.concatenate(c) for c in zip(*found, strict=True))
    names = index.benchmark_names
    bench = index.item_codes[item]
    key = doc.astype(np.int64) * len(names) + bench
    order = np.lexsort((gram, key))
    ks, gs = key[order], gram[order]
    distinct = np.ones(ks.size, bool)
    distinct[1:] = (ks[1:] != ks[:-1]) | (gs[1:] != gs[:-1])
    keys, counts = np.unique(ks[distinct], return_counts=True)
    order = np.lexsort((pos, key))  # the earliest match of each (document, benchmark) names it
    _, earliest = np.unique(key[order], return_index=True)
    best: dict[int, tuple[int, int]] = {}  # doc -> (matches, row)
    for key_, count, row in zip(keys.tolist(), counts.tolist(), order[earliest].tolist(), strict=True):
        d = key_ // len(names)
        if count >= min_matches and count > best.get(d, (0, -1))[0]:
            best[d] = (count, row)
    details = {}
    for d, (_, row) in best.items():
        name = STREAMS[stream[row]]
        glob = tokens.streams[name][2]
        words = tokens.words(glob[at[row]:at[row] + k[row]], name)
        details[d] = f"benchmark={names[bench[row]]} item={index.item_ids[item[row]]} ngram='{words}'"
    return details


def _pmid_hits(meta: pa.ChunkedArray, index: Index) -> dict[int, str]:
    """Ledger detail of every document whose ``meta`` names a PMID of an indexed item."""
    if not index.pmids:
        return {}
    maybe = pc.fill_null(pc.match_substring(meta, '"pmid"'), False)
    rows = np.flatnonzero(maybe.to_numpy(zero_copy_only=False)).tolist()
    details = {}
    for row, value in zip(rows, meta.filter(maybe).to_pylist(), strict=True):
        pmid = records.load_meta(value).get("pmid")  # the top-level key only, not a cited article's
        item = index.pmids.get(str(pmid)) if pmid not in (None, "") else None
        if item is not None:
            details[row] = f"benchmark={index.item_benchmarks[item]} pmid={pmid}"
    return details


def hits(table: pa.Table, cfg: DecontamConfig, index: Index) -> dict[int, str]:
    """Ledger detail of every row of ``table`` (``id, text, meta``) that overlaps an indexed evaluation
    set or carries one of its PMIDs."""
    index.check(cfg)
    details = _pmid_hits(table["meta"], index) if cfg.exclude_pmids else {}
    texts = [t or "" for t in table["text"].to_pylist()]
    for start in range(0, len(texts), BATCH_DOCS):
        batch = texts[start:start + BATCH_DOCS]
        tokens = tokenize(batch)
        found = _scan(tokens, index, cfg.min_matches)
        if cfg.fuzzy and index.fuzzy is not None:
            skip = {*found, *(row - start for row in details if start <= row < start + len(batch))}
            found.update(_fuzzy_scan(tokens, len(batch), index, cfg, skip))
        for row, detail in found.items():
            details.setdefault(start + row, detail)
    return details


def _fuzzy_scan(tokens: Tokens, count: int, index: Index, cfg: DecontamConfig, skip: set[int]) -> dict[int, str]:
    """Ledger detail of every text (by position, not in ``skip``) that leaks a short item (``fuzzy``)."""
    fz = index.fuzzy
    assert fz is not None
    th = fuzzy.Thresholds(cfg.fuzzy_with_options, cfg.fuzzy_stem_alone, cfg.fuzzy_all_options)
    docs = tokens.sequences(count)
    details: dict[int, str] = {}
    for doc, e in fuzzy.candidates(tokens, fz, skip):
        if doc in details:
            continue
        entry = fz.entry(e)
        m = fuzzy.verify(docs[doc], entry, th)
        if m is not None:
            details[doc] = (f"benchmark={index.item_benchmarks[entry.item]} item={index.item_ids[entry.item]} "
                            f"match=fuzzy similarity={m.similarity:.2f} with_options={str(m.with_options).lower()} "
                            f"ngram='{fuzzy.words(tokens, doc, m.lo, m.hi)}'")
    return details


INDEX = "decontam_index"  # the Context resource that holds the loaded index


def decontaminate(table: pa.Table, cfg: DecontamConfig, ctx: Context) -> Out:
    """Drop the documents that overlap the index in ``ctx.resources[INDEX]`` (a step)."""
    details = hits(table, cfg, ctx.resources[INDEX])
    ledger = ctx.ledger()
    if not details:
        return Out(table, ledger.table())
    ids = table["id"].to_pylist()
    for row in sorted(details):
        ledger.drop(ids[row], REASON, details[row])
    keep = np.ones(table.num_rows, bool)
    keep[list(details)] = False
    return Out(table.filter(pa.array(keep)), ledger.table())


_BENCHMARK = re.compile(r"benchmark=(\S+)")


def hits_by_benchmark(rows: pa.Table | Iterable[Any]) -> dict[str, int]:
    """Contamination drops per benchmark, from ledger rows (a ledger table, or ``Ledger.rows`` tuples)."""
    if isinstance(rows, pa.Table):
        rows = zip(*(rows[c].to_pylist() for c in ("reason", "detail")), strict=True)
    else:
        rows = ((r[4], r[5]) for r in rows)
    hits = Counter(m.group(1) for reason, detail in rows
                   if reason == REASON and (m := _BENCHMARK.match(detail or "")))
    return dict(sorted(hits.items()))


# ---------------------------------------------------------------------------------------------------
# The index is built once (a reduce over the benchmark files) and shared by every apply task


def index_inputs(spec: Any) -> tuple[str, ...]:
    """The files a ``recipes.DecontamSpec``'s benchmarks read (fingerprinted by the executor)."""
    from curate.benchmarks.evalsets import input_files

    paths = []
    for b in spec.benchmarks:
        paths += [str(p) for p in input_files(b.path)]
        paths += [v for k, v in b.options.items() if k.endswith(("ids", "_file", "_path")) and isinstance(v, str)]
    return tuple(dict.fromkeys(paths))


def _counted(items: Iterable[dict], tally: Counter[str], name: str) -> Iterator[dict]:
    for item in items:
        tally[name] += 1
        yield item


def index_for(spec: Any) -> tuple[Index, dict[str, Any]]:
    """Load every benchmark of a ``DecontamSpec`` and index it; returns the index and its statistics."""
    from curate.benchmarks.evalsets import LOADERS

    tally: Counter[str] = Counter()
    problems: dict[str, list[tuple[str, str]]] = {}
    sets = {}
    for b in spec.benchmarks:
        known = set(inspect.signature(LOADERS[b.loader]).parameters) - {"path", "problems"}
        if unknown := sorted(set(b.options) - known):
            raise ValueError(f"decontam: benchmark {b.name!r}: loader {b.loader!r} takes no option(s) "
                             f"{', '.join(unknown)}; its options: {', '.join(sorted(known))}")
        problems[b.name] = []
        sets[b.name] = _counted(LOADERS[b.loader](b.path, problems=problems[b.name], **b.options), tally, b.name)
    index = build_index(sets, spec.config)
    empty = [b.name for b in spec.benchmarks if not tally[b.name]]
    if empty:
        raise ValueError(f"decontam: benchmark(s) {', '.join(empty)} loaded no items; check loader and path")
    stats = {"items": dict(tally), "ngrams": int(index.hashes.size), "pmids": len(index.pmids),
             "problems": {k: len(v) for k, v in problems.items() if v},
             "problem_samples": {k: [f"{i}: {m}" for i, m in v[:5]] for k, v in problems.items() if v}}
    return index, stats


@functools.lru_cache(maxsize=2)
def _cached(path: str, mtime_ns: int, size: int) -> Index:
    return Index.load(path)


def load_index(paths: tuple[str, ...]) -> Index:
    """The index file ``paths[0]``, loaded once per process (a resource loader for the apply pass)."""
    stat = Path(paths[0]).stat()
    return _cached(paths[0], stat.st_mtime_ns, stat.st_size)

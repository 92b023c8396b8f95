"""Quality signals, stored apart from the keep/drop decision, and the thresholds that decide.

``signals_step`` (an annotation step) computes per document, as a side output that a build keeps in
``sources/<source>/signals/<shard>.parquet``:

- always (the report charts them, and they cost one pass over the batch's code points and lines):
  ``chars``, ``words`` (Latin words and digit runs; each CJK character counts as a word), ``lines``,
  ``mean_word_len`` (Latin words only), ``symbol_ratio`` and ``digit_ratio`` of all characters,
  ``alpha_words`` (share of words with a letter), ``dup_line_frac`` (repeated lines / lines),
  ``dup_line_char_frac``, ``bullet_lines_frac``, ``ellipsis_lines_frac``;
- when a threshold needs them: repetition as in Gopher's rules, ``top_2gram_frac`` ..
  ``top_4gram_frac`` (characters in the most frequent word n-gram) and ``dup_5gram_frac``,
  ``dup_10gram_frac`` (characters covered by n-grams seen twice); ``lang`` and ``lang_score``
  (``langid``);
- when near dedup keeps copies by quality: ``quality``, a 0-1 score (from the symbol ratio, repeated
  line characters, ``top_2gram_frac`` and ``dup_5gram_frac``) used only to choose which copy of a
  near-duplicate cluster to keep.

``needed`` says which columns a source's thresholds and the build's keep rule need; the step computes
those and nothing else (``SignalsConfig.columns``). Everything is computed for a whole batch at once:
character classes through one lookup table over the code points, lines as ranges of the same code points, n-grams by
one sort per n over the batch's token hashes (``minhash.tokens``, shared with the MinHash signatures
of the same pass through the chain's memo).

``thresholds`` (a step over a batch of signal rows) keeps the documents whose signals pass the recipe's
thresholds and writes one ledger row per other document naming the rule, the value and the limit.
The thresholds are its config only, so changing a limit re-runs only this cheap decision and the apply
pass; the signals are reused (a rule on a signal not yet computed re-runs the signals once).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate.core.config import Fraction, NonNegative
from curate.core.step import Context, Out
from curate.dedup import minhash

_BULLET = ("-", "*", "•", "·", "●", "▪", "◦")


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds (None: rule off). Defaults keep only the length and symbol rules on."""

    min_chars: NonNegative[int] | None = 20
    max_chars: NonNegative[int] | None = 5_000_000
    min_words: NonNegative[int] | None = None
    max_words: NonNegative[int] | None = None
    min_mean_word_len: NonNegative[float] | None = None
    max_mean_word_len: NonNegative[float] | None = None
    max_symbol_ratio: Fraction | None = 0.3
    max_digit_ratio: Fraction | None = None
    min_alpha_words: Fraction | None = None
    max_dup_line_frac: Fraction | None = None
    max_dup_line_char_frac: Fraction | None = None
    max_top_2gram_frac: Fraction | None = None
    max_top_3gram_frac: Fraction | None = None
    max_top_4gram_frac: Fraction | None = None
    max_dup_5gram_frac: Fraction | None = None
    max_dup_10gram_frac: Fraction | None = None
    max_bullet_lines_frac: Fraction | None = None
    max_ellipsis_lines_frac: Fraction | None = None
    langs: tuple[str, ...] | None = None
    min_lang_score: Fraction | None = None


# (rule name, signal column, "min" or "max", config field)
RULES = [(f.removeprefix("min_").removeprefix("max_"), f.removeprefix("min_").removeprefix("max_"), f[:3], f)
         for f in QualityConfig.__dataclass_fields__ if f.startswith(("min_", "max_"))]

BASIC = ("chars", "words", "lines", "mean_word_len", "symbol_ratio", "digit_ratio", "alpha_words",
         "dup_line_frac", "dup_line_char_frac", "bullet_lines_frac", "ellipsis_lines_frac")
NGRAMS = {"top_2gram_frac": 2, "top_3gram_frac": 3, "top_4gram_frac": 4, "dup_5gram_frac": 5, "dup_10gram_frac": 10}
LANG = ("lang", "lang_score")
SCORE_NEEDS = ("symbol_ratio", "dup_line_char_frac", "top_2gram_frac", "dup_5gram_frac")
COLUMNS = (*BASIC, *NGRAMS, *LANG, "quality")


def needed(cfg: QualityConfig, score: bool = True) -> tuple[str, ...]:
    """The signal columns a source computes: the basic ones, those its thresholds read, and the quality
    score when ``score`` (near dedup keeps copies by quality)."""
    want = set(BASIC)
    want.update(column for _, column, _, field_name in RULES if getattr(cfg, field_name) is not None)
    if cfg.langs is not None:
        want.add("lang")
    if score:
        want.add("quality")
    return tuple(c for c in COLUMNS if c in want)


def _ngram_stats(toks: tuple[np.ndarray, np.ndarray, np.ndarray], n_docs: int,
                 wanted: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The n-gram columns ``wanted`` (``NGRAMS``) of every document, from the batch's token hashes: per n,
    one sort of the (document, n-gram) keys."""
    hashes, doc, lengths = toks
    total = np.bincount(doc, weights=lengths, minlength=n_docs)
    out: dict[str, np.ndarray] = {name: np.zeros(n_docs) for name in wanted}
    sizes = {NGRAMS[name]: name for name in wanted}
    if not sizes or hashes.size == 0:
        return out
    csum = np.concatenate(([0], np.cumsum(lengths)))
    bits = max(1, int(n_docs).bit_length())
    shift = np.uint64(64 - bits)
    owner = doc.astype(np.uint64) << shift
    across = np.uint64(n_docs) << shift  # the owner of an n-gram spanning two documents: sorts after all others
    acc = hashes
    for n in range(2, max(sizes) + 1):
        with np.errstate(over="ignore"):  # rolling: the hash of tokens i..i+n-1, as in minhash.ngrams
            acc = acc[:-1] * minhash.P + hashes[n - 1:]
        if n not in sizes or acc.size == 0:
            continue
        same = doc[:acc.size] == doc[n - 1:]
        inside = int(np.count_nonzero(same))
        if inside == 0:  # no document of the batch has n tokens: every value stays 0
            continue
        # Documents in the high bits, the n-gram's own hash below: sorted, each document's n-grams are
        # contiguous and equal n-grams adjacent (a collision inside one document: 2**-53 per pair).
        key = np.where(same, owner[:acc.size], across) | (acc >> np.uint64(bits))
        order = np.argsort(key)[:inside]
        k = key[order]
        equal = k[1:] == k[:-1]
        name = sizes[n]
        if name.startswith("top_"):  # characters in the most frequent n-gram (capped at all of them)
            firsts = np.flatnonzero(np.concatenate(([True], ~equal)))
            start = order[firsts]
            value = np.diff(np.append(firsts, inside)) * (csum[start + n] - csum[start])
            run_owner = (k[firsts] >> shift).astype(np.int64)
            seg = np.flatnonzero(np.concatenate(([True], run_owner[1:] != run_owner[:-1])))
            best = np.zeros(n_docs)
            best[run_owner[seg]] = np.maximum.reduceat(value, seg)
            out[name] = np.minimum(best, total)
        else:  # characters covered by any n-gram that occurs at least twice
            again = np.zeros(inside, dtype=bool)
            again[1:] = equal
            again[:-1] |= equal
            repeated = order[again]
            cover = np.zeros(len(hashes) + n + 1, dtype=np.int32)
            cover[repeated] += 1  # positions are distinct: a difference array of the covered tokens
            cover[repeated + n] -= 1
            covered = np.cumsum(cover[:len(hashes)]) > 0
            out[name] = np.bincount(doc[covered], weights=lengths[covered], minlength=n_docs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {k: np.where(total > 0, v / total, 0.0) for k, v in out.items()}


# Character classes of the Basic Multilingual Plane, one lookup per code point. The word and CJK classes
# are minhash.char_classes (the tokens' own rule); SPACE is what the symbol ratio does not count.
WORD, CJK, DIGIT, KANA, HANGUL, SPACE, UNDERSCORE = (np.uint8(1 << i) for i in range(7))
_SPACES = (9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F, 0x205F,
           0x3000)


def _class_table() -> np.ndarray:
    cp = np.arange(0x10000, dtype=np.uint32)
    word, cjk = minhash.char_classes(cp)
    table = np.where(word, WORD, 0) | np.where(cjk, CJK, 0)
    table |= np.where((cp >= 0x30) & (cp <= 0x39), DIGIT, 0)
    table |= np.where((cp >= 0x3040) & (cp <= 0x30FF), KANA, 0)
    table |= np.where((cp >= 0xAC00) & (cp <= 0xD7AF), HANGUL, 0)
    table |= np.where(np.isin(cp, _SPACES), SPACE, 0)
    table[0x5F] |= UNDERSCORE
    return table.astype(np.uint8)


_CLASSES = _class_table()


def _char_stats(texts: list[str], codepoints: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Character and word counts of every text, from one pass over the batch's code points
    (``codepoints``: ``minhash.codepoints(texts)`` when the caller has it)."""
    keys = ("chars", "cjk", "letters", "latin_words", "numbers", "digits", "symbols", "kana", "hangul")
    if not texts:
        return {k: np.zeros(0, np.int64) for k in keys}
    cp = np.append(minhash.codepoints(texts) if codepoints is None else codepoints, np.uint32(0))
    ends = np.flatnonzero(cp == 0)  # one separator after each text
    starts = np.concatenate(([0], ends[:-1] + 1))
    cls = _CLASSES.take(cp, mode="clip")  # astral code points read the last entry, then are set below
    astral = np.flatnonzero(cp > 0xFFFF)
    if astral.size:  # beyond the BMP only CJK extension ideographs are a class (minhash.char_classes)
        cls[astral] = np.where((cp[astral] >= 0x20000) & (cp[astral] <= 0x3134F), CJK, 0)

    def count(mask: np.ndarray) -> np.ndarray:  # each segment is a text and its separator (never empty)
        return np.add.reduceat(mask, starts, dtype=np.int64)

    word = (cls & WORD) != 0
    digit = (cls & DIGIT) != 0
    letter = word & ~digit
    letter_start = letter & ~np.concatenate(([False], letter[:-1]))
    digit_start = digit & ~np.concatenate(([False], digit[:-1]))
    symbol = (cls & (WORD | CJK | SPACE | UNDERSCORE)) == 0
    symbol[ends] = False
    return {"chars": ends - starts, "cjk": count((cls & CJK) != 0), "letters": count(letter),
            "latin_words": count(letter_start), "numbers": count(digit_start), "digits": count(digit),
            "symbols": count(symbol), "kana": count((cls & KANA) != 0), "hangul": count((cls & HANGUL) != 0)}


# What ``str.strip()`` removes: lines are compared as Python would compare them stripped.
_STRIP = "".join(chr(c) for c in range(0x3001) if chr(c).isspace())
_STRIPPED = np.zeros(0x3002, dtype=bool)  # per code point up to 0x3000; the last entry stands for all above
_STRIPPED[[ord(c) for c in _STRIP]] = True
_BULLET_CPS = np.array([ord(c) for c in _BULLET], dtype=np.uint32)


def _line_stats(texts: list[str], chars: np.ndarray, codepoints: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Non-empty stripped lines per text, repeated lines (count and characters), bullet and ellipsis
    lines, for the whole batch at once: lines are ranges of the batch's code points, stripped by lookup."""
    n = len(texts)
    if codepoints is None or any("\x00" in t for t in texts):  # a NUL inside a text is no space here
        codepoints = np.frombuffer("\x00".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    cp = np.append(codepoints, np.uint32(0))
    ends_of_texts = np.cumsum(chars + 1) - 1  # the separator after each text
    starts_of_texts = ends_of_texts - chars
    newline = np.flatnonzero(cp == 10)
    starts = np.sort(np.concatenate((starts_of_texts, newline + 1)))
    ends = np.sort(np.concatenate((ends_of_texts, newline)))
    at = np.flatnonzero(~_STRIPPED[np.minimum(cp, 0x3001)])  # the separators end lines: never inside one
    first, after = np.searchsorted(at, starts), np.searchsorted(at, ends)
    full = after > first
    lo, hi = at[first[full]], at[after[full] - 1] + 1  # each non-empty line, stripped
    doc = np.searchsorted(starts_of_texts, lo, side="right") - 1
    length = hi - lo
    bullet = np.isin(cp[lo], _BULLET_CPS)
    dots = (length >= 3) & (cp[hi - 1] == 0x2E) & (cp[np.maximum(hi - 2, 0)] == 0x2E) & (
        cp[np.maximum(hi - 3, 0)] == 0x2E)
    ellipsis = dots | (cp[hi - 1] == 0x2026)
    repeated, repeated_chars = _repeated_lines(texts, starts_of_texts, doc, lo, hi)
    cols = {"lines": np.bincount(doc, minlength=n), "repeated": repeated, "repeated_chars": repeated_chars,
            "bullets": np.bincount(doc, weights=bullet, minlength=n).astype(np.int64),
            "ellipses": np.bincount(doc, weights=ellipsis, minlength=n).astype(np.int64)}
    count = np.maximum(cols["lines"], 1)
    return {"lines": cols["lines"], "dup_line_frac": cols["repeated"] / count,
            "dup_line_char_frac": cols["repeated_chars"] / np.maximum(chars, 1),
            "bullet_lines_frac": cols["bullets"] / count, "ellipsis_lines_frac": cols["ellipses"] / count}


def _repeated_lines(texts: list[str], text_starts: np.ndarray, doc: np.ndarray, lo: np.ndarray,
                    hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per text, lines beyond the first of each distinct line, and their characters: lines of one text with
    the same length are compared as strings."""
    n = len(texts)
    repeated, repeated_chars = np.zeros(n, np.int64), np.zeros(n, np.int64)
    key = (doc.astype(np.int64) << 32) | (hi - lo)
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    if not same.any():
        return repeated, repeated_chars
    paired = np.zeros(len(order), dtype=bool)
    paired[1:] |= same
    paired[:-1] |= same
    seen: set[tuple[int, str]] = set()
    for line in order[paired].tolist():
        d = int(doc[line])
        body = texts[d][lo[line] - text_starts[d]:hi[line] - text_starts[d]]
        if (d, body) in seen:
            repeated[d] += 1
            repeated_chars[d] += len(body)
        else:
            seen.add((d, body))
    return repeated, repeated_chars


def signals(texts: list[str], columns: tuple[str, ...] = COLUMNS,
            tokens: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None) -> dict[str, list]:
    """The signal ``columns`` (module doc; the basic ones always) of a batch of texts. ``tokens`` returns
    the batch's ``minhash.tokens`` when another step of the pass has them already."""
    return {k: v.tolist() if isinstance(v, np.ndarray) else v for k, v in _signals(texts, columns, tokens).items()}


def _signals(texts: list[str], columns: tuple[str, ...],
             tokens: Callable[[], tuple[np.ndarray, np.ndarray, np.ndarray]] | None,
             codepoints: np.ndarray | None = None) -> dict[str, np.ndarray | list]:
    """``signals`` as arrays (what a side table is built from, without a round trip through Python values);
    ``codepoints`` is the batch's ``minhash.codepoints`` when another step has it."""
    c = _char_stats(texts, codepoints)
    words = c["latin_words"] + c["cjk"] + c["numbers"]
    chars = np.maximum(c["chars"], 1)
    out: dict[str, np.ndarray | list] = {
        "chars": c["chars"], "words": words,
        "mean_word_len": np.where(c["latin_words"] > 0, c["letters"] / np.maximum(c["latin_words"], 1), 0.0),
        "symbol_ratio": c["symbols"] / chars, "digit_ratio": c["digits"] / chars,
        "alpha_words": (c["latin_words"] + c["cjk"]) / np.maximum(words, 1),
        **_line_stats(texts, c["chars"], codepoints),
    }
    grams = [name for name in NGRAMS if name in columns or (name in SCORE_NEEDS and "quality" in columns)]
    if grams:
        out.update(_ngram_stats(tokens() if tokens else minhash.tokens(texts), len(texts), tuple(grams)))
    if "lang" in columns or "lang_score" in columns:
        from curate.text import langid

        found = [langid.from_counts(t, int(c["letters"][i] + c["cjk"][i]), int(c["kana"][i]), int(c["hangul"][i]),
                                    int(c["cjk"][i])) for i, t in enumerate(texts)]
        out["lang"] = [lang for lang, _ in found]
        out["lang_score"] = [score for _, score in found]
    if "quality" in columns:
        badness = np.column_stack([out[k] for k in SCORE_NEEDS]) if texts else np.zeros((0, 4))
        out["quality"] = np.clip(1.0 - badness.mean(axis=1), 0.0, 1.0)
    return {k: v for k, v in out.items() if k in columns or k in BASIC}


@dataclass(frozen=True)
class SignalsConfig:
    """The signal columns to compute (``needed``), and documents per vectorised batch (memory, not
    results: signals are computed per document)."""

    columns: tuple[str, ...] = COLUMNS
    batch_docs: int = 2048


def signals_step(table: pa.Table, cfg: SignalsConfig, ctx: Context) -> Out:
    """Signals of every document of the batch, as a side output keyed by ``id`` (a step)."""
    tables = []
    for start in range(0, table.num_rows, cfg.batch_docs):
        part = table.slice(start, cfg.batch_docs)
        texts = ctx.memo(("texts", start, part.num_rows), part.column("text").to_pylist)
        cp = ctx.memo(("codepoints", start, len(texts)), lambda texts=texts: minhash.codepoints(texts))
        cols = _signals(texts, cfg.columns, lambda texts=texts, start=start, cp=cp: ctx.memo(
            ("tokens", start, len(texts)), lambda: minhash.tokens(texts, cp)), cp)
        tables.append(pa.table({"id": part.column("id"), **{k: cols[k] for k in COLUMNS if k in cols}}))
    side = pa.concat_tables(tables) if tables else pa.table({"id": pa.array([], pa.string())})
    return Out(table, side=side)


def failed_rule(row: dict, cfg: QualityConfig) -> tuple[str, str] | None:
    """``(rule, detail)`` of the first threshold ``row``'s signals break, or None."""
    for rule, column, kind, field_name in RULES:
        limit = getattr(cfg, field_name)
        if limit is None:
            continue
        value = row[column]
        if (kind == "min" and value < limit) or (kind == "max" and value > limit):
            shown = f"{value:.3g}" if isinstance(value, float) else str(value)
            return f"{kind}_{rule}", f"{column}={shown} {'<' if kind == 'min' else '>'} {limit}"
    if cfg.langs is not None and row["lang"] not in cfg.langs:
        return "lang", f"lang={row['lang']} not in {','.join(cfg.langs)}"
    return None


def thresholds(signal_rows: pa.Table, cfg: QualityConfig, ctx: Context) -> Out:
    """Keep the signal rows that pass every threshold; one ledger row per failing document (a step)."""
    ledger = ctx.ledger()
    if signal_rows.num_rows == 0:  # a shard whose records all went earlier: its signals table has ids only
        return Out(signal_rows, ledger.table())
    failing = np.zeros(signal_rows.num_rows, dtype=bool)
    for _, column, kind, field_name in RULES:  # whole columns at once; ``failed_rule`` words the few failures
        limit = getattr(cfg, field_name)
        if limit is not None:
            values = signal_rows[column].to_numpy(zero_copy_only=False)
            failing |= values < limit if kind == "min" else values > limit
    if cfg.langs is not None:
        failing |= ~np.isin(signal_rows["lang"].to_numpy(zero_copy_only=False), list(cfg.langs))
    rows = np.flatnonzero(failing)
    for row in signal_rows.take(pa.array(rows, pa.int64())).to_pylist():
        failure = failed_rule(row, cfg)
        assert failure is not None, "a failing row fails a rule"
        ledger.drop(row["id"], *failure)
    return Out(signal_rows.filter(pa.array(~failing, pa.bool_())), ledger.table())

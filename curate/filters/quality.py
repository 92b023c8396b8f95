"""Quality signals, stored apart from the keep/drop decision, and the thresholds that decide.

``signals_step`` (an annotation step) computes per document, as a side output that a build keeps in
``sources/<source>/signals/<shard>.parquet``:

- ``chars``, ``words`` (Latin words and digit runs; each CJK character counts as a word), ``lines``,
  ``mean_word_len`` (Latin words only);
- ``symbol_ratio`` and ``digit_ratio`` of all characters, ``alpha_words`` (share of words with a letter);
- repetition, as in Gopher's rules: ``dup_line_frac`` (repeated lines / lines),
  ``dup_line_char_frac``, ``top_2gram_frac`` .. ``top_4gram_frac`` (characters in the most frequent
  word n-gram), ``dup_5gram_frac`` and ``dup_10gram_frac`` (characters covered by n-grams seen twice);
- ``bullet_lines_frac``, ``ellipsis_lines_frac``;
- ``lang`` and ``lang_score`` (``langid``); ``quality``, a 0-1 score used only to choose which copy
  of a near-duplicate cluster to keep.

The n-gram statistics are computed for a whole batch at once from ``minhash.tokens``.
``thresholds`` (a step over a batch of signal rows) keeps the documents whose signals pass the recipe's
thresholds and writes one ledger row per other document naming the rule, the value and the limit.
The thresholds are its config only, so changing one re-runs only this cheap decision and the apply
pass; the signals are reused.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from curate.core.step import Context, Out
from curate.dedup import minhash
from curate.text import langid

_BULLET = ("-", "*", "•", "·", "●", "▪", "◦")


@dataclass(frozen=True)
class QualityConfig:
    """Thresholds (None: rule off). Defaults keep only the length and symbol rules on."""

    min_chars: int | None = 20
    max_chars: int | None = 5_000_000
    min_words: int | None = None
    max_words: int | None = None
    min_mean_word_len: float | None = None
    max_mean_word_len: float | None = None
    max_symbol_ratio: float | None = 0.3
    max_digit_ratio: float | None = None
    min_alpha_words: float | None = None
    max_dup_line_frac: float | None = None
    max_dup_line_char_frac: float | None = None
    max_top_2gram_frac: float | None = None
    max_top_3gram_frac: float | None = None
    max_top_4gram_frac: float | None = None
    max_dup_5gram_frac: float | None = None
    max_dup_10gram_frac: float | None = None
    max_bullet_lines_frac: float | None = None
    max_ellipsis_lines_frac: float | None = None
    langs: tuple[str, ...] | None = None
    min_lang_score: float | None = None


# (rule name, signal column, "min" or "max", config field)
RULES = [(f.removeprefix("min_").removeprefix("max_"), f.removeprefix("min_").removeprefix("max_"), f[:3], f)
         for f in QualityConfig.__dataclass_fields__ if f.startswith(("min_", "max_"))]


def _ngram_stats(texts: list[str]) -> dict[str, np.ndarray]:
    """Top-n-gram and duplicate-n-gram character fractions of every text, from one batch pass."""
    hashes, doc, lengths = minhash.tokens(texts)
    n_docs = len(texts)
    total = np.bincount(doc, weights=lengths, minlength=n_docs)
    out: dict[str, np.ndarray] = {}
    csum = np.concatenate(([0], np.cumsum(lengths)))
    for n in (2, 3, 4, 5, 10):
        grams, owner, start = minhash.ngrams(hashes, doc, n)
        if grams.size == 0:
            out[f"top_{n}gram_frac" if n <= 4 else f"dup_{n}gram_frac"] = np.zeros(n_docs)
            continue
        with np.errstate(over="ignore"):  # one key per (document, n-gram); 64-bit collisions are negligible
            key = grams ^ (owner.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        order = np.argsort(key)
        k = key[order]
        new = np.ones(len(k), dtype=bool)
        new[1:] = k[1:] != k[:-1]
        run = np.cumsum(new) - 1
        counts = np.bincount(run)
        if n <= 4:  # characters in the most frequent n-gram (capped at all of them)
            chars = (csum[start + n] - csum[start])[order][new]
            best = np.zeros(n_docs)
            np.maximum.at(best, owner[order][new], counts * chars)
            out[f"top_{n}gram_frac"] = np.minimum(best, total)
        else:  # characters covered by any n-gram that occurs at least twice
            repeated = start[order][counts[run] > 1]
            cover = (np.bincount(repeated, minlength=len(hashes) + n + 1)
                     - np.bincount(repeated + n, minlength=len(hashes) + n + 1))
            covered = np.cumsum(cover[:len(hashes)]) > 0
            out[f"dup_{n}gram_frac"] = np.bincount(doc[covered], weights=lengths[covered], minlength=n_docs)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {k: np.where(total > 0, v / total, 0.0) for k, v in out.items()}


def _line_stats(text: str) -> dict[str, float]:
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    counts = Counter(lines)
    repeated = sum(c - 1 for c in counts.values())
    repeated_chars = sum(len(line) * (c - 1) for line, c in counts.items())
    n = max(1, len(lines))
    return {
        "lines": len(lines),
        "dup_line_frac": repeated / n,
        "dup_line_char_frac": repeated_chars / max(1, len(text)),
        "bullet_lines_frac": sum(line.startswith(_BULLET) for line in lines) / n,
        "ellipsis_lines_frac": sum(line.endswith(("...", "…")) for line in lines) / n,
    }


_SPACES = np.array([9, 10, 11, 12, 13, 32, 0x85, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F,
                    0x205F, 0x3000], dtype=np.uint32)


def _char_stats(texts: list[str]) -> dict[str, np.ndarray]:
    """Character and word counts of every text, from one pass over the batch's code points."""
    n = len(texts)
    cp = np.frombuffer("\x00".join(t.replace("\x00", " ") for t in texts).encode("utf-32-le"), dtype=np.uint32)
    doc = np.cumsum(cp == 0)
    real = cp != 0
    word, cjk = minhash.char_classes(cp)
    digit = (cp >= 0x30) & (cp <= 0x39)
    letter = word & ~digit
    kana = (cp >= 0x3040) & (cp <= 0x30FF)
    hangul = (cp >= 0xAC00) & (cp <= 0xD7AF)
    symbol = real & ~(word | cjk | (cp == 0x5F) | np.isin(cp, _SPACES))

    def count(mask: np.ndarray) -> np.ndarray:
        return np.bincount(doc[mask], minlength=n)

    def runs(mask: np.ndarray) -> np.ndarray:
        return count(mask & ~np.concatenate(([False], mask[:-1])))

    return {"chars": count(real), "cjk": count(cjk), "letters": count(letter), "latin_words": runs(letter),
            "numbers": runs(digit), "digits": count(digit), "symbols": count(symbol), "kana": count(kana),
            "hangul": count(hangul)}


def signals(texts: list[str]) -> dict[str, list]:
    """All signals (module doc) of a batch of texts, as columns."""
    cols: dict[str, list] = {k: [] for k in ("dup_line_frac", "dup_line_char_frac", "bullet_lines_frac",
                                             "ellipsis_lines_frac", "lines", "lang", "lang_score")}
    c = _char_stats(texts)
    words = c["latin_words"] + c["cjk"] + c["numbers"]
    chars = np.maximum(c["chars"], 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        cols["chars"] = c["chars"].tolist()
        cols["words"] = words.tolist()
        cols["mean_word_len"] = np.where(c["latin_words"] > 0, c["letters"] / np.maximum(c["latin_words"], 1),
                                         0.0).tolist()
        cols["symbol_ratio"] = (c["symbols"] / chars).tolist()
        cols["digit_ratio"] = (c["digits"] / chars).tolist()
        cols["alpha_words"] = ((c["latin_words"] + c["cjk"]) / np.maximum(words, 1)).tolist()
    for i, text in enumerate(texts):
        for k, v in _line_stats(text).items():
            cols[k].append(v)
        lang, score = langid.from_counts(text, int(c["letters"][i] + c["cjk"][i]), int(c["kana"][i]),
                                         int(c["hangul"][i]), int(c["cjk"][i]))
        cols["lang"].append(lang)
        cols["lang_score"].append(score)
    grams = _ngram_stats(texts)
    for k, v in grams.items():
        cols[k] = v.tolist()
    badness = np.column_stack([cols["symbol_ratio"], cols["dup_line_char_frac"], grams["top_2gram_frac"],
                               grams["dup_5gram_frac"]]) if texts else np.zeros((0, 4))
    cols["quality"] = np.clip(1.0 - badness.mean(axis=1), 0.0, 1.0).tolist()
    return cols


@dataclass(frozen=True)
class SignalsConfig:
    """Documents per vectorised batch (memory, not results: signals are computed per document)."""

    batch_docs: int = 2048


def signals_step(table: pa.Table, cfg: SignalsConfig, ctx: Context) -> Out:
    """Signals of every document of the batch, as a side output keyed by ``id`` (a step)."""
    tables = []
    for start in range(0, table.num_rows, cfg.batch_docs):
        part = table.slice(start, cfg.batch_docs)
        cols = signals(part.column("text").to_pylist())
        tables.append(pa.table({"id": part.column("id"), **cols}))
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
    keep = []
    for row in signal_rows.to_pylist():
        failure = failed_rule(row, cfg)
        if failure:
            ledger.drop(row["id"], *failure)
        keep.append(failure is None)
    return Out(signal_rows.filter(pa.array(keep, pa.bool_())), ledger.table())

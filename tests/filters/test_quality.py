"""Quality signals (Gopher-style repetition, ratios, language) and the thresholds that use them."""

import pyarrow as pa
import pytest

from curate.core.step import Context
from curate.filters import quality
from curate.filters.quality import QualityConfig


def _signals(text):
    cols = quality.signals([text])
    return {k: v[0] for k, v in cols.items()}


def test_basic_signals():
    s = _signals("Hypertension is common.\nHypertension is common.\n- check 120/80 mmHg\n- repeat...")
    assert s["lines"] == 4 and s["dup_line_frac"] == 0.25
    assert s["bullet_lines_frac"] == 0.5 and s["ellipsis_lines_frac"] == 0.25
    assert s["words"] == 11 and s["lang"] == "en" and 0 < s["digit_ratio"] < 0.15
    zh = _signals("高血压患者应当每天监测血压，并按医嘱服用降压药物。")
    assert zh["lang"] == "zh" and zh["words"] == 23 and zh["mean_word_len"] == 0.0


def test_repetition_signals():
    fresh = _signals(" ".join(f"word{i}" for i in range(60)))
    assert fresh["top_2gram_frac"] < 0.05 and fresh["dup_5gram_frac"] == 0.0 and fresh["dup_10gram_frac"] == 0.0
    repeated = _signals(" ".join(["the same ten words appear here again and again"] * 6))
    assert repeated["dup_10gram_frac"] > 0.8 and repeated["top_2gram_frac"] > 0.1
    assert repeated["quality"] < fresh["quality"]
    babble = _signals("a a a a a a a a a a a a")
    assert babble["top_2gram_frac"] == 1.0  # capped at all of the text


def test_batch_equals_single():
    texts = ["First document about asthma and inhaled steroids in children.", "", "第二个文档：糖尿病饮食。",
             "x " * 30]
    batch = quality.signals(texts)
    for i, t in enumerate(texts):
        single = quality.signals([t])
        assert {k: v[i] for k, v in batch.items()} == {k: v[0] for k, v in single.items()}


@pytest.mark.parametrize(("cfg", "rule"), [
    (QualityConfig(min_chars=100), "min_chars"),
    (QualityConfig(max_symbol_ratio=0.01), "max_symbol_ratio"),
    (QualityConfig(max_dup_line_frac=0.1), "max_dup_line_frac"),
    (QualityConfig(min_words=50), "min_words"),
    (QualityConfig(langs=("zh",)), "lang"),
])
def test_failed_rule(cfg, rule):
    s = _signals("Hypertension is common.\nHypertension is common.\n- check 120/80 mmHg")
    failure = quality.failed_rule(s, cfg)
    assert failure is not None and failure[0] == rule
    assert quality.failed_rule(s, QualityConfig(min_chars=None, max_symbol_ratio=None)) is None


def test_a_signal_equal_to_its_limit_passes():
    # Thresholds are inclusive: only values beyond the limit fail (max: >, min: <).
    row = {name: 0.0 for _, name, _, _ in quality.RULES}
    row.update(chars=120, words=20, symbol_ratio=0.25, lang="en", lang_score=0.9)
    at_limit = QualityConfig(min_chars=120, max_chars=120, min_words=20, max_words=20, max_symbol_ratio=0.25)
    assert quality.failed_rule(row, at_limit) is None
    assert quality.failed_rule({**row, "symbol_ratio": 0.2501}, at_limit)[0] == "max_symbol_ratio"
    assert quality.failed_rule({**row, "chars": 119}, at_limit)[0] == "min_chars"


def _reference(text: str) -> dict:
    """Signals of one text the slow, obvious way: Python counters over its lines and token n-grams."""
    from collections import Counter

    from curate.dedup import minhash

    lines = [line.strip() for line in text.split("\n") if line.strip()]
    counts = Counter(lines)
    n = max(1, len(lines))
    out = {"lines": len(lines), "dup_line_frac": sum(c - 1 for c in counts.values()) / n,
           "dup_line_char_frac": sum(len(x) * (c - 1) for x, c in counts.items()) / max(1, len(text)),
           "bullet_lines_frac": sum(x.startswith(("-", "*", "•", "·", "●", "▪", "◦")) for x in lines) / n,
           "ellipsis_lines_frac": sum(x.endswith(("...", "…")) for x in lines) / n}
    hashes, _, lengths = minhash.tokens([text])
    toks, total = hashes.tolist(), int(lengths.sum())
    for size, name in [(2, "top_2gram_frac"), (3, "top_3gram_frac"), (4, "top_4gram_frac"), (5, "dup_5gram_frac"),
                       (10, "dup_10gram_frac")]:
        grams = [tuple(toks[i:i + size]) for i in range(len(toks) - size + 1)]
        seen = Counter(grams)
        if name.startswith("top_"):
            best = max((c * sum(lengths[i:i + size]) for i, g in enumerate(grams) for c in [seen[g]]), default=0)
            out[name] = min(best, total) / total if total else 0.0
        else:
            covered = {j for i, g in enumerate(grams) if seen[g] > 1 for j in range(i, i + size)}
            out[name] = sum(int(lengths[j]) for j in covered) / total if total else 0.0
    return out


def test_vectorised_signals_equal_a_per_document_reference():
    rng = __import__("random").Random(5)
    words = ["fever", "cough", "患者", "血压", "the", "and", "mmHg", "120", "—", "…"]
    texts = ["", "\n \n", "• item\n• item\n  • item  \r\nend...", "\u3000全角\u3000\n全角\n全角", "a\x00b c",
             "𠀀𠀁 😀😀 x_y 𠀀𠀁 😀😀 x_y 𠀀𠀁 😀😀 x_y", "one", "two words",
             # Lines of one length that differ, NUL and Python-only whitespace at line edges, ellipses.
             "ab\nba\nab\n ab", "a\x00\na \n a\x00\n\x00", "\x1cx\x1f\nx\n\x85x", "...\n…\n..\n x...", "-a\n•b\n- a"]
    for _ in range(60):
        body = [rng.choice(words) for _ in range(rng.randint(0, 120))]
        lines = [" ".join(body[i:i + rng.randint(1, 9)]) for i in range(0, len(body), 7)]
        texts.append("\n".join(lines + rng.sample(lines, min(2, len(lines)))))
    for batch in (texts, [*texts, "ΣΟΦΟΣ ΣΟΦΟΣ ΣΟΦΟΣ İ"]):  # the second lower-cases through Python (Σ, İ)
        table = pa.table({"id": [str(i) for i in range(len(batch))], "text": batch})
        # Alone, and as a step (the code points shared with the other steps of the batch: NULs read as spaces).
        stepped = quality.signals_step(table, quality.SignalsConfig(), Context("s")).side.to_pydict()
        for got in (quality.signals(batch), stepped):
            for i, text in enumerate(batch):
                for key, value in _reference(text).items():
                    assert got[key][i] == pytest.approx(value, abs=1e-12), (key, text)


def test_only_the_needed_signals_are_computed():
    base = quality.needed(QualityConfig(min_chars=None, max_chars=None, max_symbol_ratio=None), score=False)
    assert set(base) == set(quality.BASIC)
    cols = quality.needed(QualityConfig(max_top_3gram_frac=0.2, langs=("en",)), score=False)
    assert {"top_3gram_frac", "lang"} <= set(cols) and not {"dup_5gram_frac", "quality", "lang_score"} & set(cols)
    assert "quality" in quality.needed(QualityConfig())
    out = quality.signals(["the same words again and again " * 4], cols)
    assert set(out) == set(cols)
    scored = quality.signals(["x y z"], quality.needed(QualityConfig()))
    assert "quality" in scored and "top_2gram_frac" not in scored  # read by the score, not stored


def test_thresholds_of_a_shard_whose_records_all_went_earlier():
    """An empty shard's signals table holds its ids alone: thresholds keep it empty, with no ledger row."""
    import pyarrow as pa

    from curate.core.step import Context

    empty = pa.table({"id": pa.array([], pa.string())})
    out = quality.thresholds(empty, QualityConfig(min_chars=10, max_symbol_ratio=0.2), Context("docs", "quality"))
    assert out.kept.num_rows == 0 and out.ledger.num_rows == 0


def test_a_batch_without_any_n_gram_inside_one_document():
    """Documents of one word each have tokens but no 2-gram: the n-gram signals are 0, not an error."""
    out = quality.signals(["alpha", "beta", "gamma"], quality.COLUMNS)
    assert out["top_2gram_frac"] == [0.0] * 3 and out["dup_5gram_frac"] == [0.0] * 3
    assert out["quality"] == [1.0] * 3

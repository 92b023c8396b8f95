"""Exact dedup: normalised hashes, the keep rule (source rank, then id), ledger details."""

import polars as pl

from curate.dedup import exact


def test_keep_rule_and_details():
    texts = {
        "b/x#1": ("What is asthma?", 1),
        "a/y#9": ("what is  ASTHMA", 0),  # same after normalisation, higher-priority source
        "a/y#2": ("What is asthma!", 0),  # same, same source, smaller id -> kept
        "b/x#3": ("Something else entirely.", 1),
    }
    hashes = pl.LazyFrame({
        "hash": [exact.text_hash(t) for t, _ in texts.values()],
        "rank": [r for _, r in texts.values()],
        "id": list(texts),
    })
    dups = exact.duplicates(hashes)
    assert dups.rows() == [
        ("a/y#9", "exact_duplicate", "duplicate_of=a/y#2"),
        ("b/x#1", "exact_duplicate", "duplicate_of=a/y#2"),
    ]


def test_no_duplicates():
    hashes = pl.LazyFrame({"hash": [exact.text_hash("a"), exact.text_hash("b")], "rank": [0, 0],
                           "id": ["s#1", "s#2"]})
    assert exact.duplicates(hashes).height == 0


def test_source_priority_beats_id_order():
    # The recipe's first source (rank 0) has ids that sort last: the keep rule must still pick it.
    hashes = pl.LazyFrame({
        "hash": [exact.text_hash("Asthma is a chronic disease.")] * 3,
        "rank": [1, 0, 2],
        "id": ["a/first-by-id#1", "z/priority-source#7", "m/middle#3"],
    })
    dups = exact.duplicates(hashes)
    assert dups["detail"].to_list() == ["duplicate_of=z/priority-source#7"] * 2
    assert sorted(dups["id"].to_list()) == ["a/first-by-id#1", "m/middle#3"]


def test_hash_step_equals_the_per_text_hash():
    import pyarrow as pa

    from curate.core.step import Context

    texts = ["What is asthma?", "", "Straße STRASSE", "ＡＢＣ①", "中文，标点。", "e\u0301 é", "a\x00b", "\U0001d400x"]
    table = pa.table({"id": [f"d#{i}" for i in range(len(texts))], "text": texts})
    side = exact.hash_step(table, exact.ExactDedupConfig(), Context("s", rank=3)).side
    assert side["hash"].to_pylist() == [exact.text_hash(t) for t in texts]
    assert side["rank"].to_pylist() == [3] * len(texts) and side["id"].to_pylist() == table["id"].to_pylist()
    assert exact.hash_step(table.slice(0, 0), exact.ExactDedupConfig(), Context("s")).side.num_rows == 0

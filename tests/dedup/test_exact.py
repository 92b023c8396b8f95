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

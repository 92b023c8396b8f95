"""PubMedQA's official splits: the real test set reproduced, folds, PQA-A."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from curate.benchmarks import pubmedqa


def _synthetic(n_yes: int, n_no: int, n_maybe: int) -> dict[str, dict]:
    labels = ["yes"] * n_yes + ["no"] * n_no + ["maybe"] * n_maybe
    random.Random(3).shuffle(labels)
    return {str(10_000_000 + i): {"final_decision": label} for i, label in enumerate(labels)}


def test_real_test_split_is_reproduced_exactly(realdata: Path) -> None:
    data = pubmedqa.load_pqal(realdata / "pubmedqa" / "ori_pqal.json")
    truth = json.loads((realdata / "pubmedqa" / "test_ground_truth.json").read_text())
    splits = pubmedqa.official_splits(data)
    assert splits.test == list(truth)  # same PMIDs, same order
    assert all(data[p]["final_decision"] == truth[p] for p in splits.test)
    assert [len(f) for f in splits.folds] == [50] * 10
    assert not set(splits.cv) & set(truth)
    assert sorted(splits.cv + splits.test) == sorted(data)


def test_parts_are_stratified_and_disjoint() -> None:
    data = _synthetic(55, 34, 11)
    splits = pubmedqa.official_splits(data)
    assert len(splits.test) == 50 and len(splits.cv) == 50
    for fold in range(10):
        train = splits.train(fold)
        assert not set(train) & set(splits.folds[fold])
        assert len(train) + len(splits.folds[fold]) == 50
    test_labels = [data[p]["final_decision"] for p in splits.test]
    assert abs(test_labels.count("yes") - 27.5) <= 2 and abs(test_labels.count("maybe") - 5.5) <= 2


def test_uneven_parts_are_rebalanced_into_the_last() -> None:
    # chunks per label: yes 2/2/2/1, no 2/2/1/0, maybe 1/1/1/0 -> parts 5/5/4/1; the last differs from the
    # first, so each earlier part gives one PMID to the last
    parts = pubmedqa.split(_synthetic(7, 5, 3), 4, random.Random(0))
    assert [len(p) for p in parts] == [4, 4, 3, 4]
    assert len({pmid for p in parts for pmid in p}) == 15


def test_same_seed_same_split_other_seed_differs() -> None:
    data = _synthetic(40, 30, 10)
    assert pubmedqa.official_splits(data).test == pubmedqa.official_splits(data).test
    assert pubmedqa.official_splits(data).test != pubmedqa.official_splits(data, seed=1).test


def test_bad_label_and_fold_are_clear_errors() -> None:
    with pytest.raises(ValueError, match="final_decision 'unsure'"):
        pubmedqa.official_splits({"1": {"final_decision": "unsure"}})
    with pytest.raises(ValueError, match="fold 10 is out of range"):
        pubmedqa.official_splits(_synthetic(20, 10, 10)).train(10)


def test_pqa_a_split_takes_the_first_200k_of_a_seeded_shuffle() -> None:
    pmids = [str(i) for i in range(10)]
    train, dev = pubmedqa.pqa_a_splits(pmids, train=7)
    expected = list(pmids)
    random.Random(0).shuffle(expected)
    assert train == expected[:7] and dev == expected[7:]

"""PubMedQA's official splits, made the way the dataset's own split script makes them.

PQA-L (``ori_pqal.json``, 1,000 items) is split label-stratified with Python's ``random`` seeded 0:

- PMIDs are grouped by ``final_decision`` in file order, labels in the order yes, no, maybe;
- ``split(data, k)``: for each label in that order, ``random.shuffle`` its list and cut it into ``k``
  chunks of ``ceil(n / k)`` (the last chunk takes the rest); part ``i`` is the concatenation over labels
  of chunk ``i``. When the last part's size differs from the first's, each part before the last, in
  order, gives ``random.choice(list(part))`` to the last part;
- ``split(PQA-L, 2)`` gives ``[CV, test]`` (the 500 test PMIDs of ``test_ground_truth.json``), then
  ``split(CV, 10)`` gives ten dev folds; fold ``i`` trains on the other nine.

The generator is shared by both calls, so the folds depend on the test split having been drawn first.
PQA-A (generated, 211k items) is shuffled with a generator seeded 0: the first 200,000 are train, the
rest dev.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABELS = ("yes", "no", "maybe")
PQA_A_TRAIN = 200_000


def _chunks(pmids: list[str], k: int, rng: random.Random) -> list[list[str]]:
    rng.shuffle(pmids)
    size = math.ceil(len(pmids) / k)
    return [pmids[i * size:(i + 1) * size] if i < k - 1 else pmids[i * size:] for i in range(k)]


def split(data: Mapping[str, Mapping[str, Any]], k: int, rng: random.Random) -> list[dict[str, Any]]:
    """Cut PQA-L-shaped ``data`` into ``k`` label-stratified parts, as the official script does."""
    by_label: dict[str, list[str]] = {label: [] for label in LABELS}
    for pmid, item in data.items():
        label = item.get("final_decision")
        if label not in by_label:
            raise ValueError(f"pubmedqa: PMID {pmid}: final_decision {label!r} is not yes, no or maybe")
        by_label[label].append(pmid)
    chunks = {label: _chunks(pmids, k, rng) for label, pmids in by_label.items()}
    parts = [{pmid: data[pmid] for label in LABELS for pmid in chunks[label][i]} for i in range(k)]
    if len(parts[-1]) != len(parts[0]):
        if not all(parts[:-1]):
            raise ValueError(f"pubmedqa: {len(data)} items are too few to split into {k} parts")
        for part in parts[:-1]:
            picked = rng.choice(list(part))
            parts[-1][picked] = part.pop(picked)
    return parts


@dataclass(frozen=True)
class Splits:
    """The official PQA-L splits: the test set and ten dev folds (train on the other nine)."""

    test: list[str]
    folds: list[list[str]]

    @property
    def cv(self) -> list[str]:
        """Every non-test PMID (the union of the folds)."""
        return [p for fold in self.folds for p in fold]

    def train(self, fold: int) -> list[str]:
        """The training PMIDs of dev fold ``fold`` (the other nine folds)."""
        if not 0 <= fold < len(self.folds):
            raise ValueError(f"pubmedqa: fold {fold} is out of range 0..{len(self.folds) - 1}")
        return [p for i, f in enumerate(self.folds) if i != fold for p in f]


def official_splits(data: Mapping[str, Mapping[str, Any]], seed: int = 0, folds: int = 10) -> Splits:
    """Test split and dev folds of PQA-L ``data`` (PMID -> item, in file order); ``folds=0``: no folds."""
    rng = random.Random(seed)
    cv, test = split(data, 2, rng)
    if not folds:
        return Splits(test=list(test), folds=[list(cv)])
    return Splits(test=list(test), folds=[list(part) for part in split(cv, folds, rng)])


def pqa_a_splits(pmids: Sequence[str], seed: int = 0, train: int = PQA_A_TRAIN) -> tuple[list[str], list[str]]:
    """PQA-A train and dev PMIDs: a seeded shuffle, the first ``train`` are train, the rest dev."""
    order = list(pmids)
    random.Random(seed).shuffle(order)
    return order[:train], order[train:]


def load_pqal(path: str | Path) -> dict[str, Any]:
    """An ``ori_pqal.json``-shaped file as a dict in file order."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"pubmedqa: cannot read '{path}': {err}") from None
    if not isinstance(data, dict):
        raise ValueError(f"pubmedqa: '{path}' is not a JSON object of PMID -> item")
    return data

"""Packing: nothing crosses a pack, boundaries and labels stay aligned, efficiency."""

from __future__ import annotations

import numpy as np
import pytest

from curate.instruct import pack
from curate.tokens import packed


def test_best_fit_places_every_example_once_within_seq_len() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 300, size=2_000).tolist()
    packs = pack.best_fit(lengths, 512)
    flat = sorted(i for p in packs for i in p)
    assert flat == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in p) <= 512 for p in packs)
    assert pack.efficiency(lengths, len(packs), 512) > 0.97


def test_best_fit_is_deterministic_and_rejects_what_cannot_fit() -> None:
    lengths = [5, 3, 5, 2, 8, 1]
    assert pack.best_fit(lengths, 10) == pack.best_fit(list(lengths), 10)
    assert pack.best_fit(lengths, 10) == [[4, 3], [0, 2], [1, 5]]
    with pytest.raises(ValueError, match=r"1\.\.10 tokens"):
        pack.best_fit([11], 10)
    assert pack.shuffled([[0], [1], [2], [3]], 1) == pack.shuffled([[0], [1], [2], [3]], 1)


def test_pack_rows_keep_boundaries_and_labels_aligned(tmp_path) -> None:
    rng = np.random.default_rng(1)
    examples = []
    for k in range(60):
        n = int(rng.integers(2, 90))
        ids = rng.integers(10, 1000, size=n).astype(np.int32)
        labels = np.where(np.arange(n) >= n // 2, ids, -100).astype(np.int32)
        examples.append((f"ex{k}", k % 3, ids, labels))
    packs = pack.best_fit([len(e[2]) for e in examples], 256)
    rows = [packed.pack_row([examples[i] for i in p], 256, pad_id=1) for p in packs]
    packed.write(rows, tmp_path / "train-00000.parquet")
    seen = set()
    for row in packed.read(tmp_path / "train-00000.parquet"):
        b = row["boundaries"]
        assert len(row["input_ids"]) == 256 and b[-1] == row["num_tokens"] <= 256
        assert (row["input_ids"][b[-1]:] == 1).all() and (row["labels"][b[-1]:] == -100).all()
        for j, eid in enumerate(row["example_id"]):
            _, task, ids, labels = examples[int(eid[2:])]
            assert (row["input_ids"][b[j]:b[j + 1]] == ids).all()
            assert (row["labels"][b[j]:b[j + 1]] == labels).all()
            assert row["task_id"][j] == task
            seen.add(eid)
    assert len(seen) == len(examples)


def test_datasets_reads_packed_shards(tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    ids = np.arange(5, 15, dtype=np.int32)
    packed.write([packed.pack_row([("a", 0, ids, ids)], 16, 1)], tmp_path / "train-00000.parquet")
    ds = datasets.load_dataset("parquet", data_files=str(tmp_path / "train-*.parquet"), split="train")
    assert ds.column_names == packed.SCHEMA.names
    assert ds[0]["boundaries"] == [0, 10] and ds[0]["input_ids"][:10] == list(range(5, 15))

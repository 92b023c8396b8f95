"""Stage-1 blend: Megatron's proportions, seeds, contiguous document splits and boundary-sharing samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from curate.tokens import indexed

pytest.importorskip("megatron.core.datasets.gpt_dataset")

from curate.train.megatron_data import build_pretrain_datasets, collate_causal

SEQ = 32
DOCS = 1000
BASES = (100, 2000)  # source s writes document j as tokens BASES[s] + j, so every token names its document


def _write_source(prefix: Path, base: int, docs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    documents = [np.append(np.full(int(rng.integers(3, 40)), base + j), 0) for j in range(docs)]
    indexed.write(prefix, documents, indexed.dtype_for_vocab(6922))


def _doc_ids(tokens: torch.Tensor, base: int) -> set[int]:
    t = tokens[tokens != 0]
    return set((t - base).tolist())


@pytest.fixture(scope="module")
def blend(tmp_path_factory: pytest.TempPathFactory) -> list:
    root = tmp_path_factory.mktemp("tokens")
    for s, base in enumerate(BASES):
        _write_source(root / f"s{s}_text_document", base, DOCS, seed=s)
    return [3, str(root / "s0_text_document"), 7, str(root / "s1_text_document")]  # weights normalise to .3/.7


@pytest.fixture(scope="module")
def sets(blend: list) -> dict:
    return build_pretrain_datasets(blend, "969,30,1", SEQ, 1234, {"train": 10_000, "valid": 200, "test": 5})


def _source(tokens: torch.Tensor) -> int:
    return int(tokens[tokens != 0].min() >= BASES[1])


def test_blend_proportions_match_the_weights(sets: dict):
    train = sets["train"]
    assert len(train) >= 10_000
    sources = np.array([_source(train[i]["tokens"]) for i in range(10_000)])  # read from the tokens themselves
    assert abs(sources.mean() - 0.7) < 0.01
    assert np.array_equal(sources, train.sources[:10_000])


def test_samples_are_seq_plus_one_and_share_the_boundary_token(sets: dict):
    train = sets["train"]
    mids = train.blended.datasets  # Megatron's per-source GPTDatasets: sample k precedes sample k + 1
    by_position: dict[tuple[int, int], torch.Tensor] = {}
    for i in range(3000):
        d, s = int(train.blended.dataset_index[i]), int(train.blended.dataset_sample_index[i])
        tokens = train[i]["tokens"]
        assert tokens.shape == (SEQ + 1,) and tokens.dtype == torch.long
        by_position[(d, int(mids[d].shuffle_index[s]))] = tokens
    pairs = [(key, (key[0], key[1] + 1)) for key in by_position if (key[0], key[1] + 1) in by_position]
    assert len(pairs) > 100
    for a, b in pairs:
        assert by_position[a][-1] == by_position[b][0]


def test_samples_are_slices_of_the_shuffled_document_stream(sets: dict, blend: list):
    train = sets["train"]
    for d, prefix in enumerate(blend[1::2]):
        reader = indexed.Reader(prefix)
        mid = train.blended.datasets[d]
        stream = np.concatenate([reader[int(j)] for j in mid.document_index])
        for i in np.flatnonzero(train.blended.dataset_index[:500] == d)[:100]:
            k = int(mid.shuffle_index[int(train.blended.dataset_sample_index[i])])
            np.testing.assert_array_equal(train[int(i)]["tokens"].numpy(), stream[k * SEQ:k * SEQ + SEQ + 1])


def test_split_is_contiguous_by_document(sets: dict):
    # 1000 documents, "969,30,1": train 0..968, valid 969..998, test 999
    ranges = {"train": (0, 969), "valid": (969, 999), "test": (999, 1000)}
    for name, (lo, hi) in ranges.items():
        seen: set[int] = set()
        for i in range(min(len(sets[name]), 2000)):
            tokens = sets[name][i]["tokens"]
            seen |= _doc_ids(tokens, BASES[_source(tokens)])
        assert seen and min(seen) >= lo and max(seen) < hi, name
    for d in range(len(BASES)):  # Megatron's document index of each source holds exactly the train range
        assert set(sets["train"].blended.datasets[d].document_index.tolist()) == set(range(969))


def test_same_seed_same_samples_other_seed_others(blend: list, sets: dict):
    again = build_pretrain_datasets(blend, "969,30,1", SEQ, 1234, {"train": 10_000})["train"]
    other = build_pretrain_datasets(blend, "969,30,1", SEQ, 99, {"train": 10_000})["train"]
    first = torch.stack([sets["train"][i]["tokens"] for i in range(50)])
    assert torch.equal(first, torch.stack([again[i]["tokens"] for i in range(50)]))
    assert not torch.equal(first, torch.stack([other[i]["tokens"] for i in range(50)]))


def test_unrequested_splits_are_not_built(blend: list):
    sets = build_pretrain_datasets(blend, "969,30,1", SEQ, 1, {"train": 100, "valid": 0})
    assert set(sets) == {"train"}


def test_collate_causal_shifts_tokens(sets: dict):
    rows = [sets["train"][i] for i in range(3)]
    b = collate_causal(rows)
    assert b["input_ids"].shape == b["labels"].shape == b["position_ids"].shape == (3, SEQ)
    assert torch.equal(b["labels"][:, :-1], b["input_ids"][:, 1:])
    assert torch.equal(b["labels"][1, -1], rows[1]["tokens"][-1])
    assert b["position_ids"][2].tolist() == list(range(SEQ)) and "attention_mask" not in b


def test_errors_say_what_to_do(tmp_path: Path, blend: list):
    small = tmp_path / "small_text_document"
    _write_source(small, 100, 100, seed=0)  # "969,30,1" of 100 documents leaves test empty
    with pytest.raises(ValueError, match="no test tokens"):
        build_pretrain_datasets([1, str(small)], "969,30,1", SEQ, 1, {"train": 10, "test": 1})
    with pytest.raises(FileNotFoundError, match="make corpus"):
        build_pretrain_datasets([1, str(tmp_path / "absent")], "969,30,1", SEQ, 1, {"train": 10})
    with pytest.raises(ValueError, match="pairs"):
        build_pretrain_datasets([1, blend[1], 2], "969,30,1", SEQ, 1, {"train": 10})

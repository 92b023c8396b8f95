"""Packed instruction data: the Parquet reader, the collator's labels/positions/mask, and example isolation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from curate.tokens import packed
from curate.train.data import (
    ExampleDataset,
    PackedDataset,
    additive_mask,
    collate_examples,
    collate_packed,
    varlen_kwargs,
)

PAD = 1


def _examples(rng: np.random.Generator, n: int) -> list[tuple[str, int, np.ndarray, np.ndarray]]:
    out = []
    for j in range(n):
        ids = rng.integers(8, 60, int(rng.integers(2, 5)))
        labels = np.where(np.arange(len(ids)) >= 1, ids, -100)  # first token is "prompt"
        out.append((f"e{j}", j % 3, ids, labels))
    return out


def _build(root: Path, rows_per_file: list[int], seq_len: int = 16, split: str = "train") -> list[dict]:
    """Real shards through ``curate.tokens.packed``; returns the rows written, in order."""
    rng = np.random.default_rng(0)
    directory = root / "packed"
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for fi, count in enumerate(rows_per_file):
        rows = [packed.pack_row(_examples(rng, int(rng.integers(1, 4))), seq_len, PAD) for _ in range(count)]
        packed.write(rows, directory / f"{split}-{fi:05d}.parquet")
        written += rows
    files = sorted(p.name for p in directory.glob(f"{split}-*.parquet"))
    packed.write_info(directory / "info.json", {"seq_len": seq_len, "pad_id": PAD, "eod_id": 0,
                                                "tasks": {"a": 0, "b": 1, "c": 2},
                                                "splits": {split: {"files": files}}})
    return written


def test_reads_every_pack_across_files_and_row_groups(tmp_path: Path):
    written = _build(tmp_path, [600, 7])  # the writer's row groups hold 512 rows: 3 groups
    ds = PackedDataset(tmp_path, cache_bytes=1)  # a tiny cache forces evictions and re-reads
    assert len(ds) == 607 and ds.info["seq_len"] == 16 and ds.info["tasks"]["c"] == 2
    for i in [0, 511, 512, 599, 600, 606, 3, 513]:
        for key in ("input_ids", "labels", "boundaries", "task_id"):
            np.testing.assert_array_equal(ds[i][key], written[i][key])
        assert ds[i]["example_id"] == written[i]["example_id"]
    with pytest.raises(IndexError):
        ds[607]


def test_reads_the_files_info_json_lists_and_no_others(tmp_path: Path):
    _build(tmp_path, [5, 7])
    directory = tmp_path / "packed"
    (directory / "train-00099.parquet").write_bytes(b"half-written")  # a stray file a glob would pick up
    assert len(PackedDataset(tmp_path)) == 12
    info = packed.read_info(directory)
    info["splits"]["train"]["files"] = ["train-00001.parquet"]
    packed.write_info(directory / "info.json", info)
    assert len(PackedDataset(directory)) == 7
    info["splits"]["train"]["files"].append("train-00002.parquet")
    packed.write_info(directory / "info.json", info)
    with pytest.raises(FileNotFoundError, match=r"train-00002\.parquet: listed in .* but missing"):
        PackedDataset(tmp_path)


def test_examples_are_cut_out_of_their_packs_and_repacked_per_micro_batch(tmp_path: Path):
    written = _build(tmp_path, [9])
    examples = ExampleDataset(PackedDataset(tmp_path))
    flat = [(r["input_ids"][b0:b1], r["task_id"][j], r["example_id"][j]) for r in written
            for j, (b0, b1) in enumerate(zip(r["boundaries"][:-1], r["boundaries"][1:], strict=True))]
    assert len(examples) == len(flat)
    for i, (ids, task, eid) in enumerate(flat):
        np.testing.assert_array_equal(examples[i]["input_ids"], ids)
        assert examples[i]["task_id"].tolist() == [task] and examples[i]["example_id"] == [eid]
    rows = [examples[i] for i in range(len(examples))]
    batch = collate_examples(rows, pad_id=PAD, seq_len=16)
    assert batch["num_examples"] == len(rows) and batch["num_tokens"] == sum(len(f[0]) for f in flat)
    assert batch["input_ids"].shape[1] <= 16 and batch["attention_mask"].shape[-1] == batch["input_ids"].shape[1]
    # every example keeps its own positions and its loss targets, whichever pack it lands in
    assert int((batch["position_ids"] == 0).sum()) >= len(rows)
    alone = collate_examples(rows[:1], pad_id=PAD, seq_len=16)
    assert alone["input_ids"].shape == (1, len(flat[0][0]))


def test_missing_split_says_what_to_do(tmp_path: Path):
    _build(tmp_path, [3])
    with pytest.raises(FileNotFoundError, match="valid"):
        PackedDataset(tmp_path, split="valid")


def _hand_pack() -> dict:
    # Two examples (3 and 3 tokens) and two pads; every token carries loss so boundaries alone mask targets.
    ids = [10, 11, 12, 20, 21, 22, PAD, PAD]
    return {"input_ids": np.array(ids), "labels": np.array([10, 11, 12, 20, 21, 22, -100, -100]),
            "boundaries": np.array([0, 3, 6]), "task_id": np.array([4, 7])}


def test_labels_positions_tasks_respect_boundaries():
    b = collate_packed([_hand_pack()], pad_id=PAD)
    assert b["labels"][0].tolist() == [11, 12, -100, 21, 22, -100, -100, -100]
    assert b["position_ids"][0].tolist() == [0, 1, 2, 0, 1, 2, 0, 0]
    assert b["task_ids"][0].tolist() == [4, 4, 4, 7, 7, 7, -1, -1]
    assert b["num_tokens"] == 6
    assert b["cu_seqlens"].tolist() == [0, 3, 6, 8] and b["max_seqlen"] == 3


def test_full_pack_last_position_has_no_target():
    row = {"input_ids": np.arange(10, 14), "labels": np.arange(10, 14), "boundaries": np.array([0, 1, 4]),
           "task_id": np.array([0, 0])}
    b = collate_packed([row], pad_id=PAD)
    assert b["labels"][0].tolist() == [-100, 12, 13, -100]
    assert b["position_ids"][0].tolist() == [0, 0, 1, 2]


def test_mask_is_block_diagonal_causal_and_pads_see_themselves():
    mask = collate_packed([_hand_pack()], pad_id=PAD)["attention_mask"][0, 0]
    expected = torch.zeros(8, 8, dtype=torch.bool)
    expected[:3, :3] = torch.ones(3, 3).tril().bool()
    expected[3:6, 3:6] = torch.ones(3, 3).tril().bool()
    expected[6, 6] = expected[7, 7] = True
    assert torch.equal(mask, expected)
    assert mask.any(-1).all()  # no empty row, hence no NaN


def test_bad_boundaries_are_refused():
    row = _hand_pack() | {"boundaries": np.array([0, 3, 9])}
    with pytest.raises(ValueError, match="boundaries"):
        collate_packed([row], pad_id=PAD)
    with pytest.raises(ValueError, match="task ids"):
        collate_packed([_hand_pack() | {"task_id": np.array([1])}], pad_id=PAD)


def _tiny_llama(attn: str):
    import transformers

    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    model = transformers.LlamaForCausalLM(config).eval()
    model.set_attn_implementation(attn)
    return model


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_packed_example_logits_equal_the_example_alone(attn: str):
    rng = np.random.default_rng(1)
    examples = [rng.integers(8, 60, n) for n in (5, 7, 4)]
    ids = np.concatenate([*examples, [PAD] * 4])
    row = {"input_ids": ids, "labels": ids, "boundaries": np.cumsum([0, 5, 7, 4]), "task_id": np.zeros(3)}
    other = {"input_ids": np.roll(ids, 3), "labels": ids, "boundaries": np.array([0, 20]), "task_id": np.zeros(1)}
    b = collate_packed([other, row], pad_id=PAD)
    model = _tiny_llama(attn)
    mask = b["attention_mask"] if attn == "sdpa" else additive_mask(b["attention_mask"])
    with torch.no_grad():
        packed_logits = model(input_ids=b["input_ids"], position_ids=b["position_ids"], attention_mask=mask).logits
        alone = model(input_ids=torch.as_tensor(examples[1])[None]).logits
        # transformers' own path: no mask, packing found from the position_ids resets (only without a KV cache)
        by_positions = model(input_ids=b["input_ids"], position_ids=b["position_ids"], attention_mask=None,
                             use_cache=False).logits
    assert torch.isfinite(packed_logits).all()
    torch.testing.assert_close(packed_logits[1, 5:12], alone[0], atol=1e-5, rtol=0)
    torch.testing.assert_close(by_positions, packed_logits, atol=1e-5, rtol=0)
    # sanity: without the mask the second example sees the first and its logits change
    with torch.no_grad():
        leaky = model(input_ids=b["input_ids"][1:], position_ids=torch.arange(20)[None]).logits
    assert (leaky[0, 5:12] - alone[0]).abs().max() > 1e-3


def test_cu_seqlens_run_over_the_flattened_batch_and_varlen_needs_flash_attention():
    full = {"input_ids": np.arange(10, 18), "labels": np.arange(10, 18), "boundaries": np.array([0, 5, 8]),
            "task_id": np.array([0, 1])}
    b = collate_packed([_hand_pack(), full], pad_id=PAD, dense_mask=False)
    assert "attention_mask" not in b
    assert b["cu_seqlens"].tolist() == [0, 3, 6, 8, 13, 16] and b["max_seqlen"] == 5
    if not torch.cuda.is_available():
        assert varlen_kwargs(b) is None


def test_collates_real_shards_and_reads_with_datasets(tmp_path: Path):
    written = _build(tmp_path, [5])
    ds = PackedDataset(tmp_path)
    b = collate_packed([ds[i] for i in range(5)], pad_id=ds.pad_id)
    assert b["input_ids"].shape == (5, 16) and b["attention_mask"].shape == (5, 1, 16, 16)
    assert b["num_tokens"] == sum(r["num_tokens"] for r in written)
    datasets = pytest.importorskip("datasets")
    hf = datasets.load_dataset("parquet", data_files=[str(p) for p in sorted((tmp_path / "packed").glob("*.parquet"))],
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert hf.num_rows == 5 and hf[2]["input_ids"] == ds[2]["input_ids"].tolist()

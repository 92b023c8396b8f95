"""Shared fixtures for training tests: a tiny model config, a tiny packed build, a tiny Megatron build, recipes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

VOCAB = 256  # ids 0-7 are the bundled tokenizer's special tokens; data uses 8..VOCAB-1
PAD, EOD = 1, 0
TINY_MODEL = {"vocab_size": VOCAB, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 512}
TASKS = {"copy": 0, "shift": 1}


def _example(rng: np.random.Generator, task: int) -> tuple[list[int], list[int]]:
    """A prompt of random tokens and an answer that depends on it (copy, or each token + 1): learnable."""
    prompt = rng.integers(8, 64, rng.integers(3, 7)).tolist()
    answer = [t + task for t in prompt] + [EOD]
    ids = [2, *prompt, 3, *answer]
    labels = [-100] * (len(prompt) + 2) + answer  # loss on the answer only (unshifted, as in the shards)
    return ids, labels


def _pack(rng: np.random.Generator, seq_len: int, n_examples: int) -> dict:
    ids: list[int] = []
    labels: list[int] = []
    bounds, tasks, names = [0], [], []
    for _ in range(n_examples):
        task = int(rng.integers(0, len(TASKS)))
        e_ids, e_labels = _example(rng, task)
        if len(ids) + len(e_ids) > seq_len:
            break
        ids += e_ids
        labels += e_labels
        bounds.append(len(ids))
        tasks.append(task)
        names.append(f"ex{rng.integers(1 << 30)}")
    n = len(ids)
    return {"input_ids": ids + [PAD] * (seq_len - n), "labels": labels + [-100] * (seq_len - n),
            "boundaries": bounds, "task_id": tasks, "example_id": names, "num_tokens": n}


def write_packed_build(root: Path, *, seq_len: int = 64, train_packs: int = 64, valid_packs: int = 8,
                       seed: int = 0) -> Path:
    """``root/packed/{train,valid}-00000.parquet`` + ``info.json`` following the packed-shard contract."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    out = root / "packed"
    out.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("input_ids", pa.list_(pa.int32())), ("labels", pa.list_(pa.int32())),
                        ("boundaries", pa.list_(pa.int32())), ("task_id", pa.list_(pa.int32())),
                        ("example_id", pa.list_(pa.string())), ("num_tokens", pa.int32())])
    for split, count in (("train", train_packs), ("valid", valid_packs)):
        rows = [_pack(rng, seq_len, int(rng.integers(2, 6))) for _ in range(count)]
        table = pa.Table.from_pylist(rows, schema=schema)
        pq.write_table(table, out / f"{split}-00000.parquet")
    info = {"seq_len": seq_len, "pad_id": PAD, "eod_id": EOD, "tasks": TASKS,
            "splits": {"train": {"files": ["train-00000.parquet"]}, "valid": {"files": ["valid-00000.parquet"]}}}
    (out / "info.json").write_text(json.dumps(info), encoding="utf-8")
    return root


def write_megatron_build(root: Path, *, docs: int = 200, seed: int = 0) -> Path:
    """Two sources of counting documents in Megatron format, and a manifest.json with their blend."""
    from curate.tokens import indexed

    rng = np.random.default_rng(seed)
    (root / "tokens").mkdir(parents=True, exist_ok=True)
    for name, step in (("count", 1), ("skip", 2)):
        documents = []
        for _ in range(docs):
            start, length = int(rng.integers(8, 64)), int(rng.integers(20, 120))
            documents.append(np.array([8 + (start + step * i) % 120 for i in range(length)] + [EOD]))
        indexed.write(root / "tokens" / f"{name}_text_document", documents, np.dtype(np.uint16))
    manifest = {"name": "tiny", "data_path": "0.7 tokens/count_text_document 0.3 tokens/skip_text_document"}
    (root / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return root


def write_recipe(path: Path, stage1: Path, stage2: Path, save: Path, **extra: dict) -> Path:
    """A three-stage recipe for the tiny model over the fixture builds (``extra``: more keys per table)."""
    common = {"micro_batch_size": 2, "global_batch_size": 8, "lr": 3e-3, "min_lr_ratio": 0.1,
              "lr_warmup_iters": 2, "weight_decay": 0.01, "clip_grad": 1.0, "train_iters": 6, "seed": 7,
              "log_interval": 1}
    tables = {
        "model": {"config": TINY_MODEL},
        "pretrain": {**common, "data": str(stage1), "seq_length": 64, "save": str(save / "pretrain")},
        "instruct": {**common, "data": str(stage2), "save": str(save / "instruct")},
        "adapt": {**common, "data": str(stage2), "save": str(save / "adapt"), "method": "lora", "lr": 1e-2},
    }
    for table, values in extra.items():  # a value of None removes the key
        tables[table] = {k: v for k, v in {**tables[table], **values}.items() if v is not None}
    lines = []
    for table, values in tables.items():
        lines.append(f"[{table}]")
        for key, value in values.items():
            lines.append(f"{key} = {_toml(value)}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return json.dumps(value)


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(stage-1 Megatron build, stage-2 packed build), made once per session."""
    root = tmp_path_factory.mktemp("builds")
    return write_megatron_build(root / "stage1"), write_packed_build(root / "stage2")


@pytest.fixture
def recipe(tmp_path: Path, builds: tuple[Path, Path]) -> Path:
    """A tiny three-stage recipe saving under ``tmp_path/run``."""
    return write_recipe(tmp_path / "tiny.toml", builds[0], builds[1], tmp_path / "run")


class _ToyCausal:
    """Counting sequences with some targets masked at random, so micro-batches hold unequal target counts."""

    def __init__(self, n: int, seq_len: int, seed: int = 0, packed: bool = False):
        import torch

        self.packed = packed
        rng = np.random.default_rng(seed)
        starts = rng.integers(0, 120, n)
        self.tokens = [torch.tensor([8 + (int(s) + i) % 120 for i in range(seq_len + 1)]) for s in starts]
        self.keep = [torch.from_numpy(rng.random(seq_len) < rng.uniform(0.2, 1.0)) for _ in range(n)]
        self.seq_len = seq_len

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> tuple:
        return self.tokens[i], self.keep[i]

    def collate(self, rows: list) -> dict:
        import torch

        tokens = torch.stack([r[0] for r in rows])
        labels = tokens[:, 1:].masked_fill(~torch.stack([r[1] for r in rows]), -100)
        batch = {"input_ids": tokens[:, :-1], "labels": labels,
                 "position_ids": torch.arange(self.seq_len).expand(len(rows), self.seq_len),
                 "task_ids": (tokens[:, :1] % len(TASKS)).expand(len(rows), self.seq_len)}
        if self.packed:  # two "examples" per row: block-diagonal causal mask, positions restart
            half = self.seq_len // 2
            same = (torch.arange(self.seq_len) < half)[:, None] == (torch.arange(self.seq_len) < half)[None, :]
            mask = torch.ones(self.seq_len, self.seq_len, dtype=torch.bool).tril() & same
            batch["attention_mask"] = mask.expand(len(rows), 1, -1, -1)
            batch["position_ids"] = (torch.arange(self.seq_len) % half).expand(len(rows), self.seq_len)
            batch["labels"][:, half - 1] = -100
        return batch


def toy_data(n: int = 64, seq_len: int = 32, seed: int = 0, packed: bool = False):
    """A StageData of in-test causal data (independent of the data modules); ``packed``: with a 4-D mask."""
    from curate.train.loop import StageData

    ds = _ToyCausal(n, seq_len, seed, packed)
    return StageData(ds, ds.collate, seq_len, None, shuffle=True, tasks=TASKS)


@pytest.fixture
def one_thread():
    """One intra-op thread: tiny models gain nothing from more, and the CI machine's two cores are shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)

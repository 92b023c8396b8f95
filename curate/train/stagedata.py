"""What each stage trains on: its datasets and collator, how a global batch is drawn, how many steps it runs.

- pretrain: the Megatron blend of a stage-1 build (its manifest's ``data_path``, or ``data_path``), samples
  of ``seq_length`` tokens (GLM: of the text that, infilled, fills ``seq_length``); before training, the
  epochs per source at the stage's token budget (``curate.tokens.blend``);
- instruct: packs of a packed build; a sample is a pack, so batches count packs (tokens);
- adapt: the examples inside those packs; batches count examples, epochs never cross
  (``EpochBatches``), and ``train_epochs`` gives ``ceil(N / global_batch_size) x epochs`` steps.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from curate.train.config import RecipeError, TrainConfig
from curate.train.engine import Dist


@dataclass(frozen=True)
class StageData:
    """A stage's datasets (indexable), the collate function that makes batch dicts, and their facts."""

    train: Any
    collate: Callable[[list], dict[str, Any]]
    seq_length: int
    valid: Any = None
    shuffle: bool = True  # Megatron datasets come shuffled by their own sample index
    tasks: dict[str, int] | None = None
    unit: str = "sample"  # what global_batch_size counts: "sample" (pretrain), "pack" (instruct), "example" (adapt)
    notes: tuple[str, ...] = ()  # printed before training (the blend's epochs per source)
    warnings: tuple[str, ...] = ()


def _manifest(cfg: TrainConfig) -> dict | None:
    t = cfg.train
    if t.data_path:
        return None
    manifest = Path(t.data) / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: build the stage-1 corpus first (make corpus) "
                                f"or set pretrain.data_path")
    return json.loads(manifest.read_text(encoding="utf-8"))


def pretrain_blend(cfg: TrainConfig) -> list:
    """The Megatron blend ``[w1, prefix1, ...]``: ``data_path``, or the build's manifest.json."""
    t = cfg.train
    manifest = _manifest(cfg)
    if manifest is None:
        parts, base = list(t.data_path), None
    else:
        parts, base = manifest.get("data_path", "").split(), Path(t.data)
        if not parts:
            raise ValueError(f"{t.data}/manifest.json has no data_path: the build has no Megatron shards "
                             f"(tokenizer unset?)")
    return [float(p) if i % 2 == 0 else str(base / p if base else p) for i, p in enumerate(parts)]


def blend_report(cfg: TrainConfig, blend: list, samples: int, sample_tokens: int) -> tuple[list[str], list[str]]:
    """Epochs per source at the stage's token budget, and warnings above the recipe's repeat limit."""
    from curate.tokens import blend as blends

    manifest = _manifest(cfg) or {}
    by_prefix = {str(Path(cfg.train.data) / s["prefix"]): name for name, s in manifest.get("sources", {}).items()
                 if s.get("prefix")}
    names = [by_prefix.get(p, Path(p).name.removesuffix("_text_document")) for p in blend[1::2]]
    section = (manifest.get("config", {}).get("raw") or {}).get("blend")
    stated, limit = {}, blends.DEFAULT_REPEAT_LIMIT
    if section:
        parsed = blends.parse(section, list(section.get("sources", {})), f"{cfg.train.data}/manifest.json")
        stated, limit = parsed.stated_tokens(), parsed.repeat_limit
    tokens = data_module("megatron_data", cfg.stage).split_tokens(blend[1::2], cfg.train.split)
    budget = samples * sample_tokens
    lines, warnings = blends.report(dict(zip(names, blend[0::2], strict=True)), dict(zip(names, tokens, strict=True)),
                                    budget, repeat_limit=limit, stated=stated)
    return [f"{cfg.stage}: blend at {budget:,} tokens ({samples:,} samples of {sample_tokens:,}):", *lines], warnings


def data_module(name: str, stage: str) -> Any:
    import importlib

    try:
        return importlib.import_module(f"curate.train.{name}")
    except ModuleNotFoundError as err:
        if err.name != f"curate.train.{name}":
            raise
        raise RuntimeError(f"stage '{stage}' needs curate/train/{name}.py, which is missing") from None


def _pretrain_data(cfg: TrainConfig) -> StageData:
    t = cfg.train
    if t.seq_length is None:
        raise RecipeError("[pretrain] needs seq_length")
    if t.train_iters is None and t.train_tokens is None:
        raise RecipeError("[pretrain] trains by train_iters or train_tokens (Megatron samples have no epochs)")
    blend = pretrain_blend(cfg)
    megatron_data = data_module("megatron_data", cfg.stage)
    collate, sample_length = megatron_data.collate_causal, t.seq_length
    if t.objective == "glm":
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(cfg.tokenizer_dir / "tokenizer.json"))
        ids = {name: tok.token_to_id(name) for name in ("[MASK]", "<|startofpiece|>", "<|endofpiece|>", "<|pad|>")}
        if None in ids.values():
            raise ValueError(f"{cfg.tokenizer_dir}: the GLM objective needs tokens {sorted(ids)} in the vocabulary")
        collate = data_module("glm", cfg.stage).GLMCollator(
            mask_id=ids["[MASK]"], sop_id=ids["<|startofpiece|>"], eop_id=ids["<|endofpiece|>"],
            pad_id=ids["<|pad|>"], seq_length=t.seq_length, mask_ratio=t.glm_mask_ratio,
            poisson_lambda=t.glm_poisson_lambda, seed=t.seed)
        sample_length = collate.text_length  # samples of text that, infilled, fill the window exactly
    num = {"train": t.iterations(t.seq_length) * t.global_batch_size,
           "valid": t.eval_iters * t.global_batch_size if t.eval_interval else 0, "test": 0}
    sets = megatron_data.build_pretrain_datasets(blend, t.split, sample_length, t.seed, num)
    notes, warnings = blend_report(cfg, blend, num["train"], sample_length)
    return StageData(sets["train"], collate, t.seq_length, sets.get("valid"), shuffle=False, notes=tuple(notes),
                     warnings=tuple(warnings))


def _packed_data(cfg: TrainConfig) -> StageData:
    t = cfg.train
    data = data_module("data", cfg.stage)
    packs = data.PackedDataset(t.data, split="train")
    info = packs.info
    if t.seq_length is not None and t.seq_length != info["seq_len"]:
        raise RecipeError(f"[{cfg.stage}] seq_length {t.seq_length} but {t.data} is packed to {info['seq_len']}: "
                          f"drop seq_length or repack")
    try:
        valid = data.PackedDataset(t.data, split="valid")
    except (FileNotFoundError, ValueError):  # the valid split is optional
        valid = None
    # flash-attention takes the packs as varlen sequences (cu_seqlens), with no L x L mask to build.
    dense = cfg.model.attn_implementation != "flash_attention_2"
    if cfg.stage == "adapt":  # batches count examples: cut them out of the packs, re-pack per micro-batch
        collate = functools.partial(data.collate_examples, pad_id=info["pad_id"], seq_len=info["seq_len"],
                                    dense_mask=dense)
        return StageData(data.ExampleDataset(packs), collate, info["seq_len"],
                         valid and data.ExampleDataset(valid), shuffle=True, tasks=info.get("tasks"), unit="example")
    collate = functools.partial(data.collate_packed, pad_id=info["pad_id"], dense_mask=dense)
    return StageData(packs, collate, info["seq_len"], valid, shuffle=True, tasks=info.get("tasks"), unit="pack")


def stage_data(cfg: TrainConfig) -> StageData:
    """The datasets of ``cfg.stage``: blended Megatron shards (pretrain) or packed Parquet (instruct, adapt)."""
    return _pretrain_data(cfg) if cfg.stage == "pretrain" else _packed_data(cfg)


class GlobalBatches:
    """Sample indices by global position: a seeded permutation per epoch (or identity), cut per rank.

    Batches run on across epoch ends (Megatron's way): step ``it`` takes positions ``it * global_batch`` on.
    """

    def __init__(self, size: int, global_batch: int, micro_batch: int, *, shuffle: bool, seed: int):
        if size == 0:
            raise ValueError("the training set is empty: check the build (packed/ or tokens/) and the split")
        self.size, self.global_batch, self.micro_batch = size, global_batch, micro_batch
        self.shuffle, self.seed = shuffle, seed
        self._perm: tuple[int, np.ndarray] | None = None

    def index(self, position: int) -> int:
        """The dataset index of the sample at global ``position`` (0 = first sample of the run)."""
        epoch, offset = divmod(position, self.size)
        if not self.shuffle:
            return offset
        if self._perm is None or self._perm[0] != epoch:
            self._perm = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.size))
        return int(self._perm[1][offset])

    def global_batch_at(self, step: int) -> list[int]:
        """The dataset indices of step ``step``'s global batch."""
        start = step * self.global_batch
        return [self.index(p) for p in range(start, start + self.global_batch)]

    def per_rank(self, world: int) -> int:
        """Samples per rank and step: the global batch must split evenly over ranks and micro-batches."""
        if self.global_batch % (self.micro_batch * world):
            raise RecipeError(f"global_batch_size {self.global_batch} is not a multiple of micro_batch_size "
                              f"{self.micro_batch} x world size {world}: change one of them")
        return self.global_batch // world

    def micro_batches(self, step: int, env: Dist) -> list[list[int]]:
        """This rank's micro-batches of step ``step``; an empty list stands for an all-masked micro-batch."""
        batch = self.global_batch_at(step)
        per_rank = self.per_rank(env.world)
        mine = batch[env.rank * per_rank:(env.rank + 1) * per_rank]
        return [mine[i:i + self.micro_batch] for i in range(0, per_rank, self.micro_batch)]


class EpochBatches(GlobalBatches):
    """Batches that never cross an epoch: ``ceil(size / global_batch)`` steps per epoch, the last one short.

    The stage-3 semantics of the seed ("10 epochs with a batch size of 12"): every example once per epoch,
    a fresh seeded order each epoch.
    """

    def per_rank(self, world: int) -> int:
        """Examples per rank and step, rounded up: 12 examples on 8 ranks are 2 each, the last ranks idle.

        The loss is normalised over the target tokens of the whole global batch, so how the examples are
        spread over ranks and micro-batches does not change the step.
        """
        return math.ceil(self.global_batch / world)

    @property
    def steps_per_epoch(self) -> int:
        """Optimiser steps in one pass over the data."""
        return math.ceil(self.size / self.global_batch)

    def global_batch_at(self, step: int) -> list[int]:
        """The dataset indices of step ``step``'s global batch (short at the end of an epoch)."""
        epoch, k = divmod(step, self.steps_per_epoch)
        start = epoch * self.size + k * self.global_batch
        return [self.index(p) for p in range(start, min(start + self.global_batch, (epoch + 1) * self.size))]


def batches_for(data: StageData, t: Any) -> GlobalBatches:
    """Epoch-aligned batches when the stage counts examples, else batches running across epochs."""
    kind = EpochBatches if data.unit == "example" else GlobalBatches
    return kind(len(data.train), t.global_batch_size, t.micro_batch_size, shuffle=data.shuffle, seed=t.seed)


def iterations(cfg: TrainConfig, data: StageData) -> int:
    """Training iterations; for a stage that counts examples, ``train_epochs`` x ``ceil(N / global batch)``."""
    t = cfg.train
    if data.unit != "example" or t.train_iters is not None:
        return t.iterations(data.seq_length, len(data.train))
    if t.train_tokens is not None or t.train_epochs is None:
        raise RecipeError(f"[{cfg.stage}] counts examples: set train_epochs (or train_iters), not train_tokens")
    per_epoch = math.ceil(len(data.train) / t.global_batch_size)
    return max(1, round(per_epoch * t.train_epochs))

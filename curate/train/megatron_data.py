"""Stage-1 data: a Megatron ``--data-path`` blend of indexed shards, sampled as Megatron samples it.

This wraps megatron-core's own ``BlendedMegatronDatasetBuilder`` and ``GPTDataset`` (CPU-only, through
their compiled ``helpers``), so the semantics are Megatron's by construction:

- the weights of the blend are normalised; the blend picks a source for each sample by Megatron's greedy
  error-minimising assignment (``build_blending_indices``), so the proportions hold within a sample;
- the split string (``"969,30,1"``) cuts each source's documents into contiguous train/valid/test ranges;
- each source's documents are shuffled with ``numpy.random.RandomState(seed)`` (over as many epochs as the
  requested samples need), cut into samples of ``seq_length + 1`` tokens of which the last is the first of
  the next sample, and the samples are shuffled with the same RandomState.

What the wrapper adds: a tokenizer stand-in (Megatron only reads the EOD id and a cache key from it), no
on-disk index cache (Megatron keys it by path and sizes, not content, so a rebuilt shard would be served
stale indices, and its blend cache assumes torch.distributed), splits without requested samples are not
built (Megatron loops forever on a split with no tokens), and items in the batch contract's form.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from curate.tokens import indexed

SPLITS = ("train", "valid", "test")


class _Vocab:
    """What GPTDataset reads from a tokenizer: the EOD id, and identifiers for its description hash."""

    def __init__(self, eod: int):
        self.eod = eod
        self.vocab_size = None  # Megatron then reads the token dtype from each .idx, as written
        self.unique_identifiers = {"class": "curate.Vocab", "eod": eod}


def parse_blend(blend: Sequence[Any]) -> tuple[list[str], list[float]]:
    """``[w1, prefix1, w2, prefix2, ...]`` -> (prefixes, normalised weights), checking every shard exists."""
    if len(blend) == 0 or len(blend) % 2:
        raise ValueError(f"blend {list(blend)!r}: expected pairs 'weight prefix' as in Megatron's --data-path")
    weights = [float(w) for w in blend[0::2]]
    prefixes = [str(p) for p in blend[1::2]]
    if any(w <= 0 or not math.isfinite(w) for w in weights):
        raise ValueError(f"blend weights {weights} must be positive numbers")
    for prefix in prefixes:
        for path in (indexed.bin_path(prefix), indexed.idx_path(prefix)):
            if not path.is_file():
                raise FileNotFoundError(f"{path}: missing; build the stage-1 shards first (`make corpus`)")
        indexed.check(prefix)  # a cut-off .bin or .idx is named here, not deep inside megatron-core
    total = sum(weights)
    return prefixes, [w / total for w in weights]


def _split_bounds(split: str, count: int) -> list[tuple[int, int]]:
    """Megatron's document range per split: ``round(start * count)`` to ``round(end * count)``."""
    from megatron.core.datasets.blended_megatron_dataset_config import (
        convert_split_vector_to_split_matrix,
        parse_and_normalize_split,
    )

    matrix = convert_split_vector_to_split_matrix(parse_and_normalize_split(split))
    return [(0, 0) if m is None else (round(float(m[0]) * count), round(float(m[1]) * count)) for m in matrix]


def _check_splits(prefixes: list[str], split: str, wanted: list[bool]) -> None:
    for prefix in prefixes:
        index = indexed.read_index(indexed.idx_path(prefix))
        for name, (lo, hi), want in zip(SPLITS, _split_bounds(split, len(index.lengths)), wanted, strict=True):
            if want and int(index.lengths[lo:hi].sum()) == 0:
                raise ValueError(f"{prefix}: split '{split}' leaves its {len(index.lengths)} documents no {name} "
                                 f"tokens; ask for 0 {name} samples or give {name} a larger share")


def split_tokens(prefixes: Sequence[str], split: str, which: str = "train") -> list[int]:
    """Tokens in each prefix's documents of split ``which`` (Megatron's contiguous document ranges)."""
    out = []
    for prefix in prefixes:
        lengths = indexed.read_index(indexed.idx_path(prefix)).lengths
        lo, hi = _split_bounds(split, len(lengths))[SPLITS.index(which)]
        out.append(int(lengths[lo:hi].sum()))
    return out


class PretrainSamples(torch.utils.data.Dataset):
    """One split of the blend: item ``i`` is ``{"tokens": LongTensor[seq_length + 1], "index": i}``."""

    def __init__(self, blended: Any, seq_length: int):
        self.blended = blended  # megatron.core BlendedDataset
        self.seq_length = seq_length

    def __len__(self) -> int:
        return len(self.blended)

    @property
    def sources(self) -> np.ndarray:
        """The blend source (position in the blend) of every sample."""
        return np.asarray(self.blended.dataset_index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        item = self.blended[i]
        # GPTDataset hands out the seq_length + 1 tokens as tokens[:-1] and labels[1:]; put them back together.
        tokens = torch.cat([item["tokens"], item["labels"][-1:]])
        assert len(tokens) == self.seq_length + 1, f"sample {i}: {len(tokens)} tokens"
        return {"tokens": tokens, "index": i}


def build_pretrain_datasets(blend: Sequence[Any], split: str, seq_length: int, seed: int,
                            num_samples: dict[str, int], *, eod_id: int = 0) -> dict[str, PretrainSamples]:
    """Megatron's blended GPT datasets for each split with samples requested in ``num_samples``."""
    with warnings.catch_warnings():  # megatron.core warns on import that Transformer Engine and Apex are absent
        warnings.simplefilter("ignore")
        try:
            from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
            from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig
        except ImportError as err:
            raise ImportError(f"stage-1 data needs megatron-core ({err}); install it: pip install 'megatron-core>=0.16'"
                              ) from err

    unknown = set(num_samples) - set(SPLITS)
    if unknown:
        raise ValueError(f"num_samples has unknown splits {sorted(unknown)}; use {list(SPLITS)}")
    prefixes, weights = parse_blend(blend)
    sizes = [int(num_samples.get(name, 0)) for name in SPLITS]
    wanted = [n > 0 for n in sizes]
    if not wanted[0]:
        raise ValueError("num_samples['train'] must be positive")
    _check_splits(prefixes, split, wanted)
    config = GPTDatasetConfig(
        random_seed=seed, sequence_length=seq_length, blend=(prefixes, weights), split=split,
        tokenizer=_Vocab(eod_id), reset_position_ids=False, reset_attention_mask=False, eod_mask_loss=False,
        create_attention_mask=False, path_to_cache="")  # "": build the indices in memory, never cache them
    # Splits nobody asked for are dropped, so Megatron does not build (or spin on) them.
    config.split_matrix = [m if want else None for m, want in zip(config.split_matrix, wanted, strict=True)]
    quiet = logging.getLogger("megatron.core")  # it warns, on every rank, that it caches nothing: by design here
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        built = BlendedMegatronDatasetBuilder(GPTDataset, sizes, lambda: True, config).build()
    finally:
        quiet.setLevel(level)
    return {name: PretrainSamples(ds, seq_length) for name, ds in zip(SPLITS, built, strict=True)
            if ds is not None}


def collate_causal(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Samples of ``seq_length + 1`` tokens -> inputs, next-token labels and positions; no mask (plain causal)."""
    tokens = torch.stack([torch.as_tensor(r["tokens"], dtype=torch.long) for r in rows])
    batch, length = tokens.shape[0], tokens.shape[1] - 1
    return {"input_ids": tokens[:, :-1].contiguous(), "labels": tokens[:, 1:].contiguous(),
            "position_ids": torch.arange(length).repeat(batch, 1), "num_tokens": batch * length}


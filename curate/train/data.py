"""Packed instruction data for stages 2-3: packs or examples as samples, and the collator that isolates examples.

The shards follow ``curate/tokens/packed.py`` and are read through its ``PackedReader`` (the files that
``info.json`` lists): one row per pack of ``seq_len`` tokens with the example ``boundaries`` (cu_seqlens
style), UNSHIFTED ``labels`` and one ``task_id`` per example. Stage 2 trains on packs (``PackedDataset``:
a sample is a pack, batches count packs and so tokens); stage 3 on examples (``ExampleDataset``: a sample
is one example cut out of its pack by the boundaries, and ``collate_examples`` re-packs a micro-batch's
examples, so that batches count examples as the seed's "batch size of 12" does).

The collator returns the batch contract of ``curate.train``: ``labels`` shifted for next-token loss (the
last token of an example never predicts the first token of the next), ``position_ids`` restarting at 0
in each example, and a block-diagonal causal ``attention_mask`` [B, 1, L, L] (True = may attend). A pad
token attends only to itself, so no attention row is empty (an all-masked row softmaxes to NaN).

Attention paths, from the installed transformers 5.x (``masking_utils``, ``modeling_flash_attention_utils``):

- dense mask (what the trainer passes to sdpa): the 4-D bool mask is used as given. Eager ADDS a mask to
  the scores, so a bool mask would be ignored: the trainer refuses eager (``config.check_attention``);
  ``additive_mask`` is the form eager would need.
- ``attention_mask=None`` + ``position_ids`` (``collate_packed(..., dense_mask=False)``): for sdpa, eager
  and flex, transformers finds the packed sequences where ``position_ids`` do not step by 1
  (``find_packed_sequence_indices``) and builds the same block-diagonal mask itself, for any batch size,
  but only when no KV cache is made: pass ``use_cache=False`` (the config's default True disables it).
  flash_attention_2 infers varlen from ``position_ids`` only when the batch size is 1 (``_is_packed_sequence``),
  so with B > 1 it needs the explicit ``cu_seq_lens_*`` of ``varlen_kwargs``: flash-attention then runs
  ``flash_attn_varlen_func`` over the B*L flattened tokens, no L x L mask at all.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from curate.tokens import packed

IGNORE = -100


class PackedDataset(packed.PackedReader):
    """The packs of one split (stage 2: a pack is a sample), read through ``curate.tokens.packed``."""


class ExampleDataset:
    """The examples inside the packs of one split (stage 3: an example is a sample), by their boundaries.

    Item ``i`` is one example as a pack of its own length: ``input_ids``, ``labels``, ``boundaries`` [0, n],
    ``task_id`` [t] and ``example_id``; ``collate_examples`` packs a micro-batch of them.
    """

    def __init__(self, reader: packed.PackedReader):
        self.reader = reader
        self.info, self.seq_len, self.pad_id = reader.info, reader.seq_len, reader.pad_id
        self.index = reader.example_index()

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Any]:
        pack, start, end, task = (int(v) for v in self.index[i])
        row = self.reader[pack]
        j = int(np.searchsorted(np.asarray(row["boundaries"]), start))
        out = {"input_ids": row["input_ids"][start:end], "labels": row["labels"][start:end],
               "boundaries": np.array([0, end - start]), "task_id": np.array([task])}
        if "example_id" in row:
            out["example_id"] = [row["example_id"][j]]
        return out


def collate_examples(rows: Sequence[dict[str, Any]], *, pad_id: int, seq_len: int,
                     dense_mask: bool = True) -> dict[str, Any]:
    """Examples -> packs of at most ``seq_len`` tokens (in order, a new pack when the next does not fit), padded
    to the longest pack, then ``collate_packed``: the batch holds exactly ``len(rows)`` examples."""
    if not rows:
        raise ValueError("collate_examples needs at least one example")
    groups: list[list[dict[str, Any]]] = [[]]
    used = 0
    for row in rows:
        n = len(row["input_ids"])
        if n > seq_len:
            raise ValueError(f"an example of {n} tokens is longer than seq_len {seq_len}")
        if used + n > seq_len:
            groups.append([])
            used = 0
        groups[-1].append(row)
        used += n
    width = max(sum(len(r["input_ids"]) for r in g) for g in groups)
    packs = []
    for g in groups:
        lengths = [len(r["input_ids"]) for r in g]
        pad = width - sum(lengths)
        packs.append({
            "input_ids": np.concatenate([*(np.asarray(r["input_ids"]) for r in g), np.full(pad, pad_id)]),
            "labels": np.concatenate([*(np.asarray(r["labels"]) for r in g), np.full(pad, IGNORE)]),
            "boundaries": np.cumsum([0, *lengths]),
            "task_id": np.concatenate([np.asarray(r["task_id"]) for r in g])})
    return collate_packed(packs, pad_id=pad_id, dense_mask=dense_mask)


def _check(row: dict[str, Any], seq_len: int) -> tuple[np.ndarray, int]:
    bounds = np.asarray(row["boundaries"], dtype=np.int64)
    end = int(bounds[-1]) if len(bounds) else 0
    if len(row["input_ids"]) != seq_len or len(row["labels"]) != seq_len:
        raise ValueError(f"pack of {len(row['input_ids'])} ids / {len(row['labels'])} labels, expected {seq_len}")
    if len(bounds) < 2 or bounds[0] != 0 or np.any(np.diff(bounds) <= 0) or end > seq_len:
        raise ValueError(f"pack boundaries {bounds.tolist()} are not increasing offsets from 0 to <= {seq_len}")
    if len(row["task_id"]) != len(bounds) - 1:
        raise ValueError(f"pack has {len(bounds) - 1} examples but {len(row['task_id'])} task ids")
    return bounds, end


def collate_packed(rows: Sequence[dict[str, Any]], *, pad_id: int, dense_mask: bool = True) -> dict[str, Any]:
    """Packs -> the batch contract: shifted labels, per-example positions, block-diagonal causal mask.

    Also ``cu_seqlens``/``max_seqlen`` (for ``varlen_kwargs``); ``dense_mask=False`` leaves out the L x L mask.
    """
    if not rows:
        raise ValueError("collate_packed needs at least one pack")
    seq_len = len(rows[0]["input_ids"])
    batch = len(rows)
    input_ids = torch.full((batch, seq_len), pad_id, dtype=torch.long)
    labels = torch.full((batch, seq_len), IGNORE, dtype=torch.long)
    position_ids = torch.zeros((batch, seq_len), dtype=torch.long)
    task_ids = torch.full((batch, seq_len), -1, dtype=torch.long)
    # Example index per token; each pad gets its own negative id, so no target crosses into or out of padding.
    segments = -1 - torch.arange(seq_len).repeat(batch, 1)
    num_tokens, all_bounds = 0, []
    for b, row in enumerate(rows):
        bounds, end = _check(row, seq_len)
        all_bounds.append(bounds)
        lengths = np.diff(bounds)
        starts = np.repeat(bounds[:-1], lengths)
        input_ids[b] = torch.as_tensor(np.asarray(row["input_ids"], dtype=np.int64))
        position_ids[b, :end] = torch.from_numpy(np.arange(end) - starts)
        segments[b, :end] = torch.from_numpy(np.repeat(np.arange(len(lengths)), lengths))
        task_ids[b, :end] = torch.from_numpy(np.repeat(np.asarray(row["task_id"], dtype=np.int64), lengths))
        # Target at i is the label of i + 1, kept only while i + 1 is inside the same example.
        target = torch.as_tensor(np.asarray(row["labels"], dtype=np.int64))
        labels[b, :-1] = target[1:]
        num_tokens += end
    same_example = torch.zeros_like(labels, dtype=torch.bool)
    same_example[:, :-1] = segments[:, 1:] == segments[:, :-1]
    labels = labels.masked_fill(~same_example, IGNORE)
    out: dict[str, Any] = {"input_ids": input_ids, "labels": labels, "position_ids": position_ids,
                           "task_ids": task_ids, "num_tokens": num_tokens,
                           "num_examples": sum(len(b) - 1 for b in all_bounds)}
    cu = _cu_seqlens(all_bounds, seq_len)
    out["cu_seqlens"], out["max_seqlen"] = torch.from_numpy(cu), int(np.diff(cu).max())
    if dense_mask:
        out["attention_mask"] = _block_causal(all_bounds, seq_len)
    return out


@functools.lru_cache(maxsize=4)
def _causal(seq_len: int) -> torch.Tensor:
    """A lower-triangular template (read only: blocks are copied out of it)."""
    return torch.ones(seq_len, seq_len, dtype=torch.bool).tril()


def _block_causal(all_bounds: list[np.ndarray], seq_len: int) -> torch.Tensor:
    """[B, 1, L, L] bool: causal within each example's block; each pad attends only to itself."""
    mask = torch.zeros(len(all_bounds), 1, seq_len, seq_len, dtype=torch.bool)
    causal = _causal(seq_len)
    pads = torch.arange(seq_len)
    for b, bounds in enumerate(all_bounds):
        for start, end in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            mask[b, 0, start:end, start:end] = causal[:end - start, :end - start]
        tail = pads[int(bounds[-1]):]
        mask[b, 0, tail, tail] = True
    return mask


def additive_mask(mask: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A bool mask (True = attend) as the additive float mask eager attention expects (0 or dtype min)."""
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)


def flash_varlen_available() -> bool:
    """Whether flash-attention's varlen kernel can run here (flash_attn installed and a CUDA device)."""
    import importlib.util

    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def varlen_kwargs(batch: dict[str, Any]) -> dict[str, Any] | None:
    """Model kwargs for flash-attention varlen (cu_seqlens over the B*L flattened tokens) instead of the dense mask.

    None when flash-attention is unavailable: then pass ``batch["attention_mask"]`` (the dense fallback), or
    ``attention_mask=None`` with the reset ``position_ids`` for sdpa/eager. Use with a model loaded with
    ``attn_implementation="flash_attention_2"``.
    """
    if not flash_varlen_available():
        return None
    cu, longest = batch["cu_seqlens"], batch["max_seqlen"]
    return {"attention_mask": None, "position_ids": batch["position_ids"],
            "cu_seq_lens_q": cu, "cu_seq_lens_k": cu, "max_length_q": longest, "max_length_k": longest}


def _cu_seqlens(all_bounds: list[np.ndarray], seq_len: int) -> np.ndarray:
    """Offsets of every example over the B*L flattened tokens; each row's padding tail is one more sequence."""
    parts = []
    for b, bounds in enumerate(all_bounds):
        ends = bounds[1:] if bounds[-1] == seq_len else np.append(bounds[1:], seq_len)
        parts.append(b * seq_len + ends)
    return np.concatenate([[0], *parts]).astype(np.int32)

"""Packed instruction data for stages 2-3: a Parquet reader and the collator that isolates packed examples.

The shards follow ``curate/tokens/packed.py``: one row per pack of ``seq_len`` tokens with the example
``boundaries`` (cu_seqlens style), UNSHIFTED ``labels`` and one ``task_id`` per example.

The collator returns the batch contract of ``curate.train``: ``labels`` shifted for next-token loss (the
last token of an example never predicts the first token of the next), ``position_ids`` restarting at 0
in each example, and a block-diagonal causal ``attention_mask`` [B, 1, L, L] (True = may attend). A pad
token attends only to itself, so no attention row is empty (an all-masked row softmaxes to NaN).

Attention paths, from the installed transformers 5.x (``masking_utils``, ``modeling_flash_attention_utils``):

- dense mask (the fallback, any attention implementation): the 4-D mask is used as given. sdpa takes the
  bool mask; eager ADDS the mask to the scores, so eager needs ``additive_mask``.
- ``attention_mask=None`` + ``position_ids`` (``collate_packed(..., dense_mask=False)``): for sdpa, eager
  and flex, transformers finds the packed sequences where ``position_ids`` do not step by 1
  (``find_packed_sequence_indices``) and builds the same block-diagonal mask itself, for any batch size,
  but only when no KV cache is made: pass ``use_cache=False`` (the config's default True disables it).
  flash_attention_2 infers varlen from ``position_ids`` only when the batch size is 1 (``_is_packed_sequence``),
  so with B > 1 it needs the explicit ``cu_seq_lens_*`` of ``varlen_kwargs``: flash-attention then runs
  ``flash_attn_varlen_func`` over the B*L flattened tokens, no L x L mask at all.
"""

from __future__ import annotations

import bisect
import functools
import json
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import torch

IGNORE = -100
_LIST_COLUMNS = ("input_ids", "labels", "boundaries", "task_id")


def _packed_dir(path: Path) -> Path:
    return path / "packed" if (path / "packed").is_dir() else path


def _resolve(source: str | Path | Sequence[str | Path], split: str) -> tuple[list[Path], Path]:
    """The split's Parquet files and the ``info.json`` beside them."""
    if isinstance(source, str | Path):
        directory = _packed_dir(Path(source))
        files = sorted(directory.glob(f"{split}-*.parquet"))
        if not directory.is_dir():
            raise FileNotFoundError(f"{source}: no such build directory (expected <build>/packed/)")
    else:
        files = [Path(f) for f in source]
        directory = files[0].parent if files else Path(".")
    if not files:
        raise FileNotFoundError(f"{directory}: no '{split}-*.parquet' shards (run `curate corpus` for this stage)")
    info = directory / "info.json"
    if not info.is_file():
        raise FileNotFoundError(f"{info}: missing; packed shards need their info.json (seq_len, pad_id, tasks)")
    return files, info


class PackedDataset(torch.utils.data.Dataset):
    """Random access to the packs of one split; Parquet row groups are decoded on demand and cached (LRU)."""

    def __init__(self, build_dir_or_files: str | Path | Sequence[str | Path], split: str = "train",
                 *, cache_bytes: int = 1 << 30):
        files, info_path = _resolve(build_dir_or_files, split)
        self.info: dict[str, Any] = json.loads(info_path.read_text(encoding="utf-8"))
        self.seq_len = int(self.info["seq_len"])
        self.pad_id = int(self.info["pad_id"])
        self._files = [pq.ParquetFile(f, memory_map=True) for f in files]
        self._groups: list[tuple[int, int]] = []  # (file, row group) in reading order
        starts = [0]
        for fi, pf in enumerate(self._files):
            missing = set(_LIST_COLUMNS) - set(pf.schema_arrow.names)
            if missing:
                raise ValueError(f"{files[fi]}: not a packed shard, columns {sorted(missing)} are missing")
            for g in range(pf.metadata.num_row_groups):
                self._groups.append((fi, g))
                starts.append(starts[-1] + pf.metadata.row_group(g).num_rows)
        self._starts = starts
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._cache_bytes, self._cached = cache_bytes, 0

    def __len__(self) -> int:
        return self._starts[-1]

    def _group(self, gi: int) -> dict[str, Any]:
        if gi in self._cache:
            self._cache.move_to_end(gi)
            return self._cache[gi]
        fi, g = self._groups[gi]
        table = self._files[fi].read_row_group(g)
        # Flat values + offsets per list column: a row is then a zero-copy numpy slice, not a Python list.
        group: dict[str, Any] = {}
        for name in _LIST_COLUMNS:
            arr = table.column(name).combine_chunks()
            group[name] = (arr.values.to_numpy(zero_copy_only=False), arr.offsets.to_numpy(zero_copy_only=False))
        group["example_id"] = table.column("example_id") if "example_id" in table.column_names else None
        group["nbytes"] = sum(v.nbytes + o.nbytes for v, o in (group[n] for n in _LIST_COLUMNS))
        self._cache[gi] = group
        self._cached += group["nbytes"]
        while self._cached > self._cache_bytes and len(self._cache) > 1:
            self._cached -= self._cache.popitem(last=False)[1]["nbytes"]
        return group

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"pack {i} out of range (0..{len(self) - 1})")
        gi = bisect.bisect_right(self._starts, i) - 1
        group, r = self._group(gi), i - self._starts[gi]
        row = {name: values[offsets[r]:offsets[r + 1]] for name, (values, offsets) in
               ((n, group[n]) for n in _LIST_COLUMNS)}
        if group["example_id"] is not None:
            row["example_id"] = group["example_id"][r].as_py()
        return row


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
                           "task_ids": task_ids, "num_tokens": num_tokens}
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

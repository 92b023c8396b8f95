"""GLM autoregressive blank infilling (Du et al. 2022), built in the collator from stage-1 samples.

From a sample's text, spans with Poisson(lambda) lengths (zero draws count as 1) covering about
``mask_ratio`` of the tokens are cut out, never adjacent (at least one kept token between two spans):

- Part A is the text with each span replaced by one ``[MASK]``; it attends bidirectionally to itself.
- Part B is the spans in shuffled order, each as ``[START] span`` (``<|startofpiece|>``) predicting
  ``span [END]`` (``<|endofpiece|>``); it attends to all of Part A and causally within Part B.
  Loss is on Part B only.

GLM's 2-D positions: ``glm_position_ids[:, 0]`` is the position in Part A (for a Part B token, the position
of its span's ``[MASK]``); ``glm_position_ids[:, 1]`` is 0 in Part A and 1..len+1 over ``[START] span`` in
Part B. ``separator`` is len(Part A), the index where Part B starts.

For an ordinary decoder the collator also gives a 4-D bool ``attention_mask`` (True = may attend) and
1-D ``position_ids``: Part A counts 0..a-1; a Part B token gets ``mask position + intra-span position - 1``,
so ``[START]`` sits where its ``[MASK]`` is and the span's tokens follow it, as they followed in the text.
``labels`` follow the batch contract: ``labels[i]`` is the target of the logits at ``i``.

A sample of ``seq_length + 1`` tokens gives ``seq_length`` positions: with k spans the text is cut to
``seq_length - 2k`` tokens, as Part A + Part B add one [MASK], one [START] and one [END] per span.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

IGNORE = -100


@dataclass(frozen=True)
class Infilled:
    """One sample in GLM's form: ``separator`` = len(Part A); arrays are ``length`` long (pads at the end)."""

    input_ids: np.ndarray
    labels: np.ndarray
    position_2d: np.ndarray  # [2, length]
    separator: int
    used: int  # tokens before padding


def sample_spans(length: int, mask_ratio: float, poisson_lambda: float,
                 rng: np.random.Generator) -> list[tuple[int, int]]:
    """Non-adjacent (start, length) spans covering about ``mask_ratio`` of a text cut to ``length - 2k``."""
    lengths: list[int] = []
    while not lengths or sum(lengths) < mask_ratio * (length - 2 * len(lengths)):
        n, k = max(1, int(rng.poisson(poisson_lambda))), len(lengths) + 1
        if (length - 2 * k) - (sum(lengths) + n) + 1 < k:  # no room left for this span and the gaps
            break
        lengths.append(n)
    if not lengths:
        raise ValueError(f"a sample of {length} positions is too short for blank infilling")
    text = length - 2 * len(lengths)
    # k distinct slots among the kept tokens: span j starts after slot_j kept tokens, so gaps are >= 1.
    slots = np.sort(rng.choice(text - sum(lengths) + 1, len(lengths), replace=False))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [(int(s + o), n) for s, o, n in zip(slots, offsets, lengths, strict=True)]


def infill(text: np.ndarray, spans: Sequence[tuple[int, int]], order: Sequence[int], length: int, *,
           mask_id: int, sop_id: int, eop_id: int, pad_id: int) -> Infilled:
    """Part A + Part B of ``text`` with ``spans`` (sorted, non-overlapping) predicted in ``order``."""
    part_a: list[int] = []
    mask_at: list[int] = []
    cursor = 0
    for start, n in spans:
        assert start >= cursor and n > 0, f"spans {list(spans)} must be sorted, positive and non-overlapping"
        part_a.extend(text[cursor:start].tolist())
        mask_at.append(len(part_a))
        part_a.append(mask_id)
        cursor = start + n
    part_a.extend(text[cursor:].tolist())
    sep = len(part_a)
    ids, labels = list(part_a), [IGNORE] * sep
    pos0, pos1 = list(range(sep)), [0] * sep
    for j in order:
        start, n = spans[j]
        piece = text[start:start + n].tolist()
        ids += [sop_id, *piece]
        labels += [*piece, eop_id]
        pos0 += [mask_at[j]] * (n + 1)
        pos1 += list(range(1, n + 2))
    used = len(ids)
    assert used <= length, f"infilled sample of {used} tokens exceeds {length}"
    pad = length - used
    return Infilled(np.array(ids + [pad_id] * pad), np.array(labels + [IGNORE] * pad),
                    np.array([pos0 + [0] * pad, pos1 + [0] * pad]), sep, used)


def glm_attention_mask(separator: int, used: int, length: int) -> torch.Tensor:
    """[length, length] bool: Part A sees Part A; Part B sees Part A and earlier Part B; a pad sees itself."""
    mask = torch.zeros(length, length, dtype=torch.bool)
    mask[:used, :separator] = True
    mask[separator:used, separator:used] = torch.ones(used - separator, used - separator, dtype=torch.bool).tril()
    pads = torch.arange(used, length)
    mask[pads, pads] = True
    return mask


def decoder_positions(position_2d: np.ndarray, separator: int) -> np.ndarray:
    """GLM's 2-D positions -> 1-D: Part A as is; Part B at its [MASK] position + intra-span offset - 1."""
    pos0, pos1 = position_2d
    return np.where(pos1 > 0, pos0 + pos1 - 1, np.where(np.arange(len(pos0)) < separator, pos0, 0))


@dataclass(frozen=True)
class GLMCollator:
    """Stage-1 samples (``tokens`` of seq_length + 1, optional ``index``) -> a GLM blank-infilling batch."""

    mask_id: int
    sop_id: int
    eop_id: int
    pad_id: int
    mask_ratio: float = 0.15
    poisson_lambda: float = 3.0
    seed: int = 0

    def sample(self, tokens: np.ndarray, key: int) -> Infilled:
        """One sample, with spans and their order drawn from a generator seeded by (seed, key)."""
        length = len(tokens) - 1
        rng = np.random.default_rng([self.seed, key])
        spans = sample_spans(length, self.mask_ratio, self.poisson_lambda, rng)
        order = rng.permutation(len(spans)).tolist()
        text = np.asarray(tokens[:length - 2 * len(spans)])
        return infill(text, spans, order, length, mask_id=self.mask_id, sop_id=self.sop_id,
                      eop_id=self.eop_id, pad_id=self.pad_id)

    def __call__(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The batch contract plus GLM's ``glm_position_ids`` [B, 2, L] and ``separator`` [B]."""
        samples = []
        for row in rows:
            tokens = np.asarray(row["tokens"], dtype=np.int64)
            # The sample index keys the draw; without one, the content does (still deterministic).
            key = int(row["index"]) if "index" in row else zlib.crc32(tokens.tobytes())
            samples.append(self.sample(tokens, key))
        length = len(samples[0].input_ids)
        return {
            "input_ids": torch.from_numpy(np.stack([s.input_ids for s in samples])),
            "labels": torch.from_numpy(np.stack([s.labels for s in samples])),
            "position_ids": torch.from_numpy(np.stack([decoder_positions(s.position_2d, s.separator)
                                                       for s in samples])),
            "attention_mask": torch.stack([glm_attention_mask(s.separator, s.used, length) for s in samples])[:, None],
            "glm_position_ids": torch.from_numpy(np.stack([s.position_2d for s in samples])),
            "separator": torch.tensor([s.separator for s in samples]),
            "num_tokens": sum(s.used for s in samples),
        }

"""GLM autoregressive blank infilling (Du et al. 2022), built in the collator from stage-1 samples.

From a sample's text, ``k`` spans with Poisson(lambda) lengths (zero draws count as 1) are cut out, never
adjacent (at least one kept token between two spans); ``k`` is chosen so that they cover about
``mask_ratio`` of the text:

- Part A is the text with each span replaced by one ``[MASK]``; it attends bidirectionally to itself.
- Part B is the spans in shuffled order, each as ``[START] span`` (``<|startofpiece|>``) predicting
  ``span [END]`` (``<|endofpiece|>``); it attends to all of Part A and causally within Part B.
  Loss is on Part B only.

GLM's 2-D positions: ``glm_position_ids[:, 0]`` is the position in Part A (for a Part B token, the position
of its span's ``[MASK]``); ``glm_position_ids[:, 1]`` is 0 in Part A and 1..len+1 over ``[START] span`` in
Part B. ``separator`` is len(Part A), the index where Part B starts.

For an ordinary (LLaMA-style) decoder, which has one rotary position per token, the collator also gives a
4-D bool ``attention_mask`` (True = may attend) and 1-D ``position_ids``: Part A counts 0..a-1; a Part B
token gets ``mask position + intra-span position - 1``, so ``[START]`` sits where its ``[MASK]`` is and the
span's tokens follow it, as they followed in the text. The 2-D positions are kept for a GLM-style model.
``labels`` follow the batch contract: ``labels[i]`` is the target of the logits at ``i``.

The window is used whole and no text is thrown away: Part A + Part B add one [MASK], one [START] and one
[END] per span, so with ``k`` spans a text of ``text_length = seq_length - 2k`` tokens fills the
``seq_length`` positions exactly. The stage-1 datasets are therefore cut into samples of ``text_length``
tokens (``GLMCollator.text_length``), and ``k`` is fixed by the window (``spans_for``), not drawn.
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


def spans_for(seq_length: int, mask_ratio: float, poisson_lambda: float) -> int:
    """Spans per sample so that they cover about ``mask_ratio`` of a text of ``seq_length - 2k`` tokens."""
    mean = poisson_lambda + float(np.exp(-poisson_lambda))  # E[max(1, Poisson(lambda))]
    k = max(1, round(mask_ratio * seq_length / (mean + 2 * mask_ratio)))
    if seq_length - 2 * k < 2 * k:
        raise ValueError(f"a window of {seq_length} positions is too short for blank infilling")
    return k


def sample_spans(text: int, k: int, poisson_lambda: float, rng: np.random.Generator) -> list[tuple[int, int]]:
    """``k`` non-adjacent (start, length) spans with Poisson lengths (>= 1) inside a text of ``text`` tokens."""
    if k < 1 or text < 2 * k:
        raise ValueError(f"a text of {text} tokens is too short for {k} spans")
    lengths = np.maximum(1, rng.poisson(poisson_lambda, k))
    while lengths.sum() > text - k + 1:  # spans plus the k - 1 gaps between them must fit: shorten the longest
        lengths[int(np.argmax(lengths))] -= 1
    # k distinct slots among the kept tokens: span j starts after slot_j kept tokens, so gaps are >= 1.
    slots = np.sort(rng.choice(text - int(lengths.sum()) + 1, k, replace=False))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return [(int(s + o), int(n)) for s, o, n in zip(slots, offsets, lengths, strict=True)]


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
    """Stage-1 samples (``tokens`` of at least ``text_length``, optional ``index``) -> GLM batches of ``seq_length``."""

    mask_id: int
    sop_id: int
    eop_id: int
    pad_id: int
    seq_length: int = 2048
    mask_ratio: float = 0.15
    poisson_lambda: float = 3.0
    seed: int = 0

    @property
    def spans(self) -> int:
        """Spans per sample."""
        return spans_for(self.seq_length, self.mask_ratio, self.poisson_lambda)

    @property
    def text_length(self) -> int:
        """Text tokens per sample: with its spans' [MASK], [START] and [END] they fill the window exactly."""
        return self.seq_length - 2 * self.spans

    def sample(self, tokens: np.ndarray, key: int) -> Infilled:
        """One sample, with spans and their order drawn from a generator seeded by (seed, key)."""
        if len(tokens) < self.text_length:
            raise ValueError(f"a GLM sample needs {self.text_length} tokens, got {len(tokens)} (build the stage-1 "
                             f"samples with seq_length = GLMCollator.text_length)")
        rng = np.random.default_rng([self.seed, key])
        spans = sample_spans(self.text_length, self.spans, self.poisson_lambda, rng)
        order = rng.permutation(len(spans)).tolist()
        return infill(np.asarray(tokens[:self.text_length]), spans, order, self.seq_length, mask_id=self.mask_id,
                      sop_id=self.sop_id, eop_id=self.eop_id, pad_id=self.pad_id)

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

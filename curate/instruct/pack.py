"""Packing: examples grouped into sequences of at most ``seq_len`` tokens, none split across packs.

Best-fit decreasing: examples in order of decreasing length (ties by position), each into the open pack
whose free space is the smallest that still fits it (ties by the older pack), else into a new pack. It
fills packs to within a few percent of ``seq_len`` on instruction data. The packs are then put in a
seeded random order so that training does not see them sorted by length.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

import numpy as np


def best_fit(lengths: Sequence[int], seq_len: int) -> list[list[int]]:
    """Indices of ``lengths`` grouped into packs whose lengths sum to at most ``seq_len``."""
    if any(n > seq_len or n <= 0 for n in lengths):
        raise ValueError(f"every example must have 1..{seq_len} tokens before packing")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    packs: list[list[int]] = []
    free: list[tuple[int, int]] = []  # (free tokens, pack number), sorted
    for i in order:
        n = lengths[i]
        at = bisect.bisect_left(free, (n, -1))
        if at < len(free):
            room, pack = free.pop(at)
        else:
            room, pack = seq_len, len(packs)
            packs.append([])
        packs[pack].append(i)
        if room - n > 0:
            bisect.insort(free, (room - n, pack))
    return packs


def shuffled(packs: list[list[int]], seed: int) -> list[list[int]]:
    """The packs in a seeded random order."""
    return [packs[i] for i in np.random.default_rng(seed).permutation(len(packs))]


def efficiency(lengths: Sequence[int], packs: int, seq_len: int) -> float:
    """The share of non-pad tokens over ``packs`` sequences of ``seq_len``."""
    return float(sum(lengths)) / (packs * seq_len) if packs else 0.0

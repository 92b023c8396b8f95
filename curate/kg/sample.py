"""Sub-graphs of a knowledge graph, seeded and deterministic, at several scales.

- ``entity`` (no sampling): one sub-graph per subject entity, its star (every triple it heads), in
  load order. Every triple is in exactly one.
- Sampling: for each scale of ``SampleConfig.scales``, a share ``seed_fraction`` of the subject
  entities is drawn as seeds with ``random.Random(seed)``, and each seed grows one sub-graph of at most
  ``budget`` triples:

  - ``star``: the seed's own triples, then triples that point at it (shuffled);
  - ``khop``: breadth-first over the undirected graph up to ``k`` hops; an expanded entity brings its
    literal facts and every triple between it and its neighbours (a random subset of neighbours when
    it has more than the budget);
  - ``walk``: a random walk with restart (back to the seed with probability ``restart`` per step) of
    at most ``walk_length`` steps, taking the triples along each edge walked, plus the seed's literal
    facts.
- Hub cap: an entity is expanded (as a seed, by a k-hop step, or by a walk leaving it) in at most
  ``hub_cap`` sampled sub-graphs. Past that it is still named as a neighbour, but its relations are not
  pulled in again, so hubs (``disease``, ``内科``) do not repeat in every document.
- ``cover``: last, the triples no sampled sub-graph took are gathered by head into sub-graphs of at
  most ``budget`` triples, so that every triple appears at least once. The hub cap does not apply: an
  entity with more uncovered triples than the budget appears as often as they need, and no more.

Every function takes ``times``, the per-triple count of sub-graphs that include it, and updates it.
"""

from __future__ import annotations

import math
import random
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # recipe checks read SCALES without loading the graph code (networkx)
    from curate.kg.graph import KG

SCALES = ("star", "khop", "walk")


@dataclass(frozen=True)
class SampleConfig:
    """Scales, seeds per scale, the triple budget and the walk and hub parameters."""

    scales: tuple[str, ...] = SCALES
    seed_fraction: float = 0.3
    budget: int = 20
    k: int = 2
    walk_length: int = 12
    restart: float = 0.15
    hub_cap: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [s for s in self.scales if s not in SCALES]
        if unknown:
            raise ValueError(f"unknown scale(s) {', '.join(unknown)}; known: {', '.join(SCALES)}")
        if not 0 <= self.seed_fraction <= 1 or not 0 <= self.restart < 1:
            raise ValueError("seed_fraction must be in [0, 1] and restart in [0, 1)")
        if min(self.budget, self.k, self.walk_length, self.hub_cap) < 1:
            raise ValueError("budget, k, walk_length and hub_cap must be at least 1")


@dataclass(frozen=True)
class Subgraph:
    """Triple indices (in the order they were taken) grown from a seed entity at one scale."""

    scale: str
    seed: int
    triples: tuple[int, ...]


def _count(times: array, triples: tuple[int, ...]) -> None:
    for t in triples:
        times[t] += 1


def entity_stars(kg: KG, times: array) -> Iterator[Subgraph]:
    """One sub-graph per subject entity: all the triples it heads."""
    for e in kg.subjects():
        triples = tuple(kg.out(e))
        _count(times, triples)
        yield Subgraph("entity", e, triples)


def sample(kg: KG, cfg: SampleConfig, times: array) -> Iterator[Subgraph]:
    """Sampled sub-graphs at each scale, then the coverage pass (see module doc)."""
    rng = random.Random(cfg.seed)
    grower = _Grower(kg, cfg, rng)
    subjects = kg.subjects()
    for scale in cfg.scales:
        n = min(len(subjects), math.ceil(cfg.seed_fraction * len(subjects)))
        for seed in sorted(rng.sample(subjects, n)):
            if grower.expanded[seed] >= cfg.hub_cap:
                continue
            triples = getattr(grower, scale)(seed)
            if triples:
                _count(times, triples)
                yield Subgraph(scale, seed, triples)
    for e in subjects:
        missing = [t for t in kg.out(e) if times[t] == 0]
        for i in range(0, len(missing), cfg.budget):
            triples = tuple(missing[i:i + cfg.budget])
            _count(times, triples)
            yield Subgraph("cover", e, triples)


class _Grower:
    """The growth strategies, sharing the random stream and the per-entity expansion counts."""

    def __init__(self, kg: KG, cfg: SampleConfig, rng: random.Random):
        self.kg, self.cfg, self.rng = kg, cfg, rng
        self.adj = kg.graph.adj
        self.expanded = array("i", bytes(4 * len(kg.keys)))

    def _literals(self, e: int) -> list[int]:
        return [t for t in self.kg.out(e) if self.kg.tail[t] < 0]

    def _neighbours(self, e: int) -> list[int]:
        nbrs = list(self.adj[e])
        if len(nbrs) > self.cfg.budget:
            return self.rng.sample(nbrs, self.cfg.budget)
        self.rng.shuffle(nbrs)
        return nbrs

    def star(self, seed: int) -> tuple[int, ...]:
        """The seed's triples, then those pointing at it, up to the budget."""
        self.expanded[seed] += 1
        head = self.kg.head
        incoming = [t for v in self._neighbours(seed) for t in self.adj[seed][v]["triples"] if head[t] != seed]
        return (*self.kg.out(seed), *incoming)[:self.cfg.budget]

    def khop(self, seed: int) -> tuple[int, ...]:
        """Breadth-first up to ``k`` hops, up to the budget."""
        budget, picked = self.cfg.budget, {}
        frontier, seen = [seed], {seed}
        for _ in range(self.cfg.k):
            nxt = []
            for u in frontier:
                if len(picked) >= budget:
                    break
                if u != seed and self.expanded[u] >= self.cfg.hub_cap:
                    continue
                self.expanded[u] += 1
                picked.update(dict.fromkeys(self._literals(u)))
                for v in self._neighbours(u):
                    picked.update(dict.fromkeys(self.adj[u][v]["triples"]))
                    if v not in seen:
                        seen.add(v)
                        nxt.append(v)
            frontier = nxt
        return tuple(picked)[:budget]

    def walk(self, seed: int) -> tuple[int, ...]:
        """A random walk with restart from the seed, up to the budget."""
        cfg, rng = self.cfg, self.rng
        picked = dict.fromkeys(self._literals(seed))
        self.expanded[seed] += 1
        cur = seed
        for _ in range(cfg.walk_length):
            if len(picked) >= cfg.budget:
                break
            if cur != seed and (rng.random() < cfg.restart or self.expanded[cur] >= cfg.hub_cap):
                cur = seed
                continue
            nbrs = self.adj[cur]
            if not nbrs:
                break
            nxt = rng.choice(list(nbrs))
            if cur != seed:
                self.expanded[cur] += 1
            picked.update(dict.fromkeys(nbrs[nxt]["triples"]))
            cur = nxt
        return tuple(picked)[:cfg.budget]

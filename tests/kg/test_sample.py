"""Sampling: coverage, determinism, budget, hub cap, and the one-star-per-entity mode."""

from __future__ import annotations

import random
from array import array

import pytest

from curate.kg import sample
from curate.kg.graph import Lit
from tests.kg.helpers import from_triples


@pytest.fixture(scope="module")
def hubby():
    """200 diseases, 40 findings; finding f0 is a hub that most diseases point at."""
    rng = random.Random(7)
    triples = []
    for d in range(200):
        findings = {0} if d % 4 else set()
        findings |= {int(40 * rng.random() ** 2) for _ in range(rng.randint(2, 7))}
        triples += [(f"d{d}", "finding", f"f{f}") for f in sorted(findings)]
        if d:
            triples.append((f"d{d}", "is_a", f"d{rng.randrange(d)}"))
        if d % 3 == 0:
            triples.append((f"d{d}", "definition", Lit(f"disease number {d}")))
    kg, _ = from_triples(triples)
    return kg


def run(kg, **kw):
    times = array("i", bytes(4 * len(kg)))
    subs = list(sample.sample(kg, sample.SampleConfig(**kw), times))
    return subs, times


def test_every_triple_is_covered_and_counts_add_up(hubby):
    subs, times = run(hubby, seed=3)
    assert min(times) >= 1
    assert sum(times) == sum(len(s.triples) for s in subs)
    assert {s.scale for s in subs} == {"star", "khop", "walk", "cover"}
    assert all(len(set(s.triples)) == len(s.triples) for s in subs)
    assert [s.scale for s in subs] == sorted((s.scale for s in subs), key=["star", "khop", "walk", "cover"].index)


def test_same_seed_same_subgraphs_other_seed_others(hubby):
    assert run(hubby, seed=1)[0] == run(hubby, seed=1)[0]
    assert run(hubby, seed=1)[0] != run(hubby, seed=2)[0]


@pytest.mark.parametrize("budget", [1, 5, 12])
def test_budget_bounds_every_subgraph(hubby, budget):
    subs, times = run(hubby, budget=budget, seed=5)
    assert max(len(s.triples) for s in subs) <= budget
    assert min(times) >= 1


def test_hub_cap_limits_how_often_a_hub_is_expanded():
    # Diseases point at findings only, one triple per pair; every fourth disease skips the hub f0.
    rng = random.Random(1)
    triples = [(f"d{d}", "finding", f"f{f}") for d in range(150)
               for f in sorted(({0} if d % 4 else set()) | {rng.randrange(1, 30) for _ in range(3)})]
    kg, _ = from_triples(triples)
    hub = kg.keys.index("f0")
    incident = {kg.graph[hub][v]["triples"][0] for v in kg.graph[hub]}

    def expansions(cap):
        subs, _ = run(kg, scales=("khop",), seed_fraction=1.0, budget=500, hub_cap=cap)
        # A k-hop sub-graph seeded at a disease holds more than one triple at the hub only when the
        # hub itself was expanded: the other findings it reaches bring no triple at the hub.
        return sum(1 for s in subs if s.scale == "khop" and len(incident & set(s.triples)) > 1)

    assert expansions(2) <= 2
    assert expansions(100) > 2


def test_entity_stars_cover_each_triple_exactly_once(hubby):
    times = array("i", bytes(4 * len(hubby)))
    subs = list(sample.entity_stars(hubby, times))
    assert set(times) == {1}
    assert all(all(hubby.head[t] == s.seed for t in s.triples) for s in subs)
    assert len(subs) == len(hubby.subjects())


def test_config_is_checked():
    with pytest.raises(ValueError, match="unknown scale"):
        sample.SampleConfig(scales=("star", "tree"))
    with pytest.raises(ValueError, match="at least 1"):
        sample.SampleConfig(budget=0)

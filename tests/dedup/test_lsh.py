"""Near dedup's partitioned reduce: components against a reference, and the same drops and report as
the one-process reduce whatever the partitioning."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from curate.build import reduces
from curate.core import records, shards
from curate.core.executor import Executor
from curate.core.step import Context
from curate.dedup import lsh, near


def _reference_labels(n: int, pairs: np.ndarray) -> np.ndarray:
    """Smallest member of each document's component, by networkx."""
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(map(tuple, pairs.tolist()))
    labels = np.arange(n)
    for comp in nx.connected_components(g):
        labels[list(comp)] = min(comp)
    return labels


@pytest.mark.parametrize("seed", range(40))
def test_components_match_a_reference_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    m = int(rng.integers(0, 2 * n))
    pairs = rng.integers(0, n, size=(m, 2))
    if seed % 4 == 0:  # long chains in both directions: labels must travel both ways
        chain = np.arange(n - 1)
        pairs = np.concatenate([pairs, np.stack([chain + 1, chain], axis=1)[::-1], np.stack([chain, chain + 1], 1)])
    assert near.components(n, pairs).tolist() == _reference_labels(n, pairs).tolist()


def test_components_of_a_chain_pointing_either_way():
    for pairs in (np.array([[i + 1, i] for i in range(60)]), np.array([[i, i + 1] for i in range(60)])):
        assert (near.components(61, pairs) == 0).all()
    star = np.array([[5, 0], [5, 1], [5, 2], [9, 8]])
    assert near.components(10, star).tolist() == [0, 0, 0, 3, 4, 0, 6, 7, 8, 8]


def _corpus(rng, n_base=60, copies=25):
    vocab = [f"w{i}" for i in range(4000)]
    texts = [" ".join(rng.choice(vocab, 120)) for _ in range(n_base)]
    for i in range(copies):  # planted near-duplicates: a few words changed
        words = texts[i % n_base].split()
        for j in rng.choice(len(words), 1 + i % 3, replace=False):  # Jaccard about 0.92, 0.85, 0.78
            words[j] = "changed"
        texts.append(" ".join(words))
    texts.append("too short")  # no shingles: no signature
    order = rng.permutation(len(texts))
    return [texts[i] for i in order]


@pytest.mark.parametrize("verify", ["estimate", "exact", "none"])
def test_partitioned_reduce_equals_one_process(tmp_path, verify):
    rng = np.random.default_rng(3)
    texts = _corpus(rng)
    cfg = near.NearDedupConfig(verify=verify, exclude_boilerplate=False)
    maps = []
    for k in range(3):  # three shards of three sources
        part = texts[k::3]
        table = records.to_table([{"id": f"s{k}/f#{i}", "source": f"s{k}", "text": t, "lang": "en", "meta": {}}
                                  for i, t in enumerate(part)], records.DOCUMENT)
        side = near.signature_step(table, near.SignatureConfig.of(cfg), Context(f"s{k}", rank=k)).side
        path = tmp_path / f"map{k}.parquet"
        pq.write_table(side, path)
        maps.append(str(path))
    # Earlier steps removed some documents (two drop tables, as quality and exact dedup write them): they
    # take no part, whichever alive task reads them.
    full, _ = near.reduce([pq.read_table(p) for p in maps], cfg)
    dup_ids = sorted(full["id"].to_pylist())
    gone = [dup_ids[:2], [*dup_ids[2:3], "s1/f#0"]]
    exclude = []
    for i, ids in enumerate(gone):
        path = tmp_path / f"gone{i}.parquet"
        shards.write(shards.drops_table(pa.table({"id": ids, "reason": ["x"] * len(ids), "detail": [""] * len(ids)})),
                     path)
        exclude.append(str(path))
    removed = {i for ids in gone for i in ids}
    survivors = [pq.read_table(p).filter(pc.invert(pc.is_in(pq.read_table(p)["id"], pa.array(sorted(removed)))))
                 for p in maps]
    expected, expected_stats = near.reduce(survivors, cfg)
    assert expected.num_rows >= 10
    assert not removed & set(expected["id"].to_pylist())
    for partitions in (None, 5, 40):  # 40: more bucket tasks than bands, so keys are hash-partitioned too
        with Executor(1, progress=False) as ex:
            split = near.NearDedupConfig(verify=verify, exclude_boilerplate=False, partitions=partitions)
            drops, stats = reduces.near_dedup(ex, tmp_path / f"p{partitions}", split, maps, exclude)
        got = pq.read_table(drops)
        assert got.to_pylist() == expected.to_pylist(), partitions
        assert stats["report"] == {**expected_stats["report"]}, partitions


def test_a_small_corpus_still_gives_two_workers_a_share_of_each_phase():
    """The bucket and counts phases are cut in two even when one task could hold them (the outputs are
    the same whatever the cut, as the test above shows)."""
    assert [b.bands for b in lsh.bucket_plan(1_000, 4, 8)] == [(0, 1), (2, 3)]
    assert [len(g) for g in lsh.count_plan(1_000, 256)] == [128, 128]
    assert len(lsh.bucket_plan(1_000, 1, 8)) == 2 and len(lsh.count_plan(1_000, 1)) == 1  # one band: key halves

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
    maps = _maps(tmp_path, [texts[k::3] for k in range(3)], cfg)  # three shards of three sources
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


@pytest.mark.parametrize("seed", range(30))
def test_component_labels_number_components_as_scipy_does(seed):
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    edges = rng.integers(0, n, size=(int(rng.integers(0, 2 * n)), 2))
    if seed % 3 == 0:  # chains pointing either way: a root must travel the whole chain
        chain = np.arange(n - 1)
        edges = np.concatenate([edges, np.stack([chain + 1, chain], axis=1)[::-1], np.stack([chain, chain + 1], 1)])
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    assert lsh.component_labels(n, edges).tolist() == connected_components(graph, directed=False)[1].tolist()


def test_component_labels_of_no_edges_and_no_nodes():
    assert lsh.component_labels(3, np.zeros((0, 2), np.int64)).tolist() == [0, 1, 2]
    assert lsh.component_labels(0, np.zeros((0, 2), np.int64)).tolist() == []


def test_distinct_pairs_are_sorted_as_numpy_unique_sorts_them():
    rng = np.random.default_rng(0)
    pairs = rng.integers(0, 50, size=(500, 2))
    assert lsh._distinct(pairs).tolist() == np.unique(pairs, axis=0).tolist()
    assert lsh._distinct(np.zeros((0, 2), np.int64)).shape == (0, 2)


def _maps(tmp_path, shards_texts: list[list[str]], cfg) -> list[str]:
    maps = []
    for k, part in enumerate(shards_texts):
        table = records.to_table([{"id": f"s{k}/f#{i}", "source": f"s{k}", "text": t, "lang": "en", "meta": {}}
                                  for i, t in enumerate(part)], records.DOCUMENT)
        side = near.signature_step(table, near.SignatureConfig.of(cfg), Context(f"s{k}", rank=k)).side
        path = tmp_path / f"map{k}.parquet"
        pq.write_table(side, path)
        maps.append(str(path))
    return maps


def _edited(words: list[str], at: range) -> list[str]:
    return [f"edit{i}" if i in at else w for i, w in enumerate(words)]


def _chain(rng) -> list[str]:
    """A ~ B and B ~ C above the threshold, A and C below it: one cluster only through B."""
    a = [f"w{i}" for i in rng.permutation(3000)[:400]]
    b = _edited(a, range(0, 22))
    c = _edited(b, range(200, 222))
    return [" ".join(x) for x in (a, b, c)]


def _cases(rng) -> dict[str, list[list[str]]]:
    vocab = [f"v{i}" for i in range(5000)]
    base = " ".join(rng.choice(vocab, 150))
    unrelated = [" ".join(rng.choice(vocab, 150)) for _ in range(6)]
    one, two = _chain(rng), _chain(rng)
    return {
        "chain": [[one[0], unrelated[0]], [unrelated[1], two[0]], [*one[1:], *two[1:]]],
        "all duplicates": [[base] * 4, [base] * 3],
        "one record": [[base]],
        "no duplicates": [unrelated[:3], unrelated[3:]],
        "empty shards": [[], [base, base], []],
        "no records": [[]],
        "no shingles": [["too short", "too short"]],
    }


@pytest.mark.parametrize("case", ["chain", "all duplicates", "one record", "no duplicates", "empty shards",
                                  "no records", "no shingles"])
@pytest.mark.parametrize("verify", ["estimate", "exact"])
def test_reduce_phases_on_purpose_built_clusters(tmp_path, case, verify):
    """The build's phases give the one-process reference's drops and report on chains, clusters of
    identical documents, single records and empty inputs, with and without an ``alive`` phase."""
    cfg = near.NearDedupConfig(verify=verify, exclude_boilerplate=False)
    texts = _cases(np.random.default_rng(7))[case]
    maps = _maps(tmp_path, texts, cfg)
    expected, expected_stats = near.reduce([pq.read_table(p) for p in maps], cfg)
    if case == "chain":  # two chains, each one cluster of three kept by its first document
        assert sorted(r["detail"].split()[0] for r in expected.to_pylist()) == ["duplicate_of=s0/f#0"] * 2 + [
            "duplicate_of=s1/f#1"] * 2
        assert expected_stats["report"]["cluster_sizes"][1] == {"size": "3-5", "clusters": 2}
    if case == "all duplicates":
        assert expected.num_rows == 6
    for partitions in (None, 3):  # None: the bucket tasks find the documents that take part themselves
        with Executor(1, progress=False) as ex:
            split = near.NearDedupConfig(verify=verify, exclude_boilerplate=False, partitions=partitions)
            drops, stats = reduces.near_dedup(ex, tmp_path / f"p{partitions}", split, maps, [])
        assert pq.read_table(drops).to_pylist() == expected.to_pylist(), partitions
        assert stats["report"] == expected_stats["report"], partitions


def test_pairs_of_a_band_pair_each_member_with_the_smallest_of_its_bucket():
    rng = np.random.default_rng(5)
    keys = rng.integers(0, 40, 300).astype(np.uint64)  # many buckets of several members, in any order
    idx = np.sort(rng.choice(10_000, 300, replace=False))
    expected = sorted((int(idx[i]), int(idx[np.flatnonzero(keys == keys[i])[0]])) for i in range(300)
                      if np.flatnonzero(keys == keys[i])[0] != i)
    assert sorted(map(tuple, lsh._pairs_of_band(keys, idx).tolist())) == expected
    assert lsh._pairs_of_band(np.arange(5, dtype=np.uint64), np.arange(5)).shape == (0, 2)


class _Listed:
    """Drop tables as a ``Tables`` group yields them."""

    def __init__(self, tables):
        self.tables = tables

    def __iter__(self):
        return iter(self.tables)


@pytest.mark.parametrize("per_probe", [1, 3, 1_000_000])
def test_removed_ids_across_drop_tables_whatever_the_probe_size(monkeypatch, per_probe):
    monkeypatch.setattr(lsh, "DROPS_PER_PROBE", per_probe)
    ids = pa.array([f"d{i}" for i in range(20)])
    drops = _Listed([pa.table({"id": pa.array(["d3", "x"])}), pa.table({"id": pa.array([], pa.string())}),
                     pa.table({"id": pa.array(["d7", "d19", "d3"], pa.large_string())}),
                     pa.table({"id": pa.array(["d0"])})])
    assert np.flatnonzero(lsh.removed_ids(ids, drops)).tolist() == [0, 3, 7, 19]
    assert not lsh.removed_ids(ids, _Listed([])).any()
    assert lsh.removed_ids(pa.array([], pa.string()), drops).size == 0

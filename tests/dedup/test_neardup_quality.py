"""Near dedup on a labelled set of mutated copies: precision and recall at the configured threshold."""

import re

import polars as pl
import pytest

from curate.dedup import minhash, near
from tests.dedup.neardup_set import evaluate, make_pairs


def run_near_dedup(pairs, cfg):
    """Cluster all base and copy documents; return dropped id -> kept id."""
    ids = [f"b{p.family}" for p in pairs] + [f"c{p.family}" for p in pairs]
    texts = [p.base for p in pairs] + [p.copy for p in pairs]
    hashes, offsets = minhash.shingles(texts, cfg.minhash.ngram)
    sigs = minhash.signatures(hashes, offsets, cfg.minhash.num_perm, cfg.minhash.seed)
    sets = ([set() for _ in texts] if cfg.verify != "exact" else
            [hashes[offsets[i]:offsets[i + 1]] for i in range(len(texts))])
    meta = pl.DataFrame({"id": ids, "rank": [0] * len(ids), "quality": [0.0] * len(ids),
                         "length": [len(t) for t in texts]})
    drops, _ = near.cluster(meta, sigs, sets if cfg.verify == "exact" else None, cfg)
    return {i: re.match(r"duplicate_of=(\S+)", d).group(1) for i, d in drops.select("id", "detail").iter_rows()}


@pytest.mark.parametrize("verify", ["estimate", "exact"])
def test_precision_and_recall_at_threshold(verify):
    pairs = make_pairs(240, seed=7)
    cfg = near.NearDedupConfig(verify=verify)
    scores = evaluate(pairs, run_near_dedup(pairs, cfg), cfg.minhash.threshold)
    assert scores["positives"] >= 100
    assert scores["precision"] >= 0.95 and scores["recall"] >= 0.95, scores

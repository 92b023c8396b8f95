"""Near dedup: candidate pairs, components, the keep rule, verification, boilerplate exclusion."""

import itertools

import numpy as np
import polars as pl

from curate.dedup import minhash, near


def _frame(ids, rank=None, quality=None, length=None):
    n = len(ids)
    return pl.DataFrame({"id": ids, "rank": rank or [0] * n, "quality": quality or [0.0] * n,
                         "length": length or [100] * n})


def _sigs(texts, cfg):
    hashes, offsets = minhash.shingles(texts, cfg.minhash.ngram)
    return minhash.signatures(hashes, offsets, cfg.minhash.num_perm, cfg.minhash.seed)


def test_candidate_pairs_and_components():
    keys = np.array([[1, 7], [1, 8], [2, 8], [3, 9], [4, 10]], dtype=np.uint64)
    pairs = near.candidate_pairs(keys)
    assert pairs.tolist() == [[1, 0], [2, 1]]
    assert near.components(5, pairs).tolist() == [0, 0, 0, 3, 4]
    chain = np.array([[i + 1, i] for i in range(50)])
    assert (near.components(51, chain) == 0).all()


def _base(rng, words=400):
    vocab = [f"term{i}" for i in range(3000)]
    return [str(w) for w in rng.choice(vocab, words)]


def test_keep_rule_rank_then_quality_then_length_then_id():
    rng = np.random.default_rng(1)
    base = " ".join(_base(rng))
    cfg = near.NearDedupConfig()
    texts = [base, base + " extra", base, base]
    sigs = _sigs(texts, cfg)
    meta = _frame(["d/1", "c/2", "b/3", "a/4"], rank=[1, 0, 0, 0], quality=[0.9, 0.5, 0.5, 0.5],
                  length=[100, 200, 100, 100])
    drops, report = near.cluster(meta, sigs, None, cfg)
    # rank 0 beats rank 1; among rank 0 the longer c/2 wins (same quality)
    assert drops["id"].to_list() == ["a/4", "b/3", "d/1"]
    assert all(d.startswith("duplicate_of=c/2 jaccard=") for d in drops["detail"])
    assert report["clusters"] == 1 and report["dropped"] == 3
    assert {"size": "3-5", "clusters": 1} in report["cluster_sizes"]
    meta = _frame(["d/1", "c/2", "b/3", "a/4"], quality=[0.1, 0.2, 0.9, 0.3])
    drops, _ = near.cluster(meta, sigs, None, cfg)
    assert drops["detail"][0].startswith("duplicate_of=b/3")  # equal rank: quality decides


def test_verification_removes_pairs_below_threshold():
    rng = np.random.default_rng(2)
    base = _base(rng)
    variant = base[:250] + _base(rng, 150)  # shares a long prefix only: Jaccard about 0.45
    cfg = near.NearDedupConfig()
    sigs = _sigs([" ".join(base), " ".join(variant)], cfg)
    sigs[1, :40] = sigs[0, :40]  # force a shared band: a candidate, but far below the threshold
    meta = _frame(["a", "b"])
    assert near.cluster(meta, sigs, None, cfg)[0].height == 0
    unverified = near.NearDedupConfig(verify="none")
    assert near.cluster(meta, sigs, None, unverified)[0].height == 1


def test_exact_verification_uses_shingle_sets():
    rng = np.random.default_rng(3)
    base = _base(rng)
    near_copy = base[:390] + _base(rng, 10)
    cfg = near.NearDedupConfig(verify="exact")
    hashes, offsets = minhash.shingles([" ".join(base), " ".join(near_copy)], 5)
    sigs = minhash.signatures(hashes, offsets, cfg.minhash.num_perm, 1)
    sets = [np.unique(hashes[offsets[i]:offsets[i + 1]]) for i in range(2)]
    drops, report = near.cluster(_frame(["a", "b"]), sigs, sets, cfg)
    assert drops["id"].to_list() == ["b"] and report["verify"] == "exact"


def test_template_boilerplate_does_not_make_documents_alike():
    # A long template text around a short slot: the documents share ~85% of their shingles.
    fragments = ["Knowledge point: " + " ".join(f"wording{i}" for i in range(120)) + ": ",
                 ". This concludes the point."]
    rng = np.random.default_rng(4)
    vocab = [f"entity{i}" for i in range(500)]
    texts = [fragments[0] + " ".join(rng.choice(vocab, 4)) + fragments[1] for _ in range(60)]
    cfg = near.NearDedupConfig()
    meta = _frame([f"k/{i:02d}" for i in range(60)])
    hashes, offsets = minhash.shingles(texts, 5)
    with_boiler = near.cluster(meta, minhash.signatures(hashes, offsets, cfg.minhash.num_perm, 1), None, cfg)[0]
    hashes, offsets = minhash.shingles(texts, 5, near.exclusion(fragments, 5))
    without = near.cluster(meta, minhash.signatures(hashes, offsets, cfg.minhash.num_perm, 1), None, cfg)[0]
    assert with_boiler.height > 30 and without.height == 0


def test_boilerplate_of_the_bundled_templates():
    hashes = near.boilerplate(5)
    assert hashes.size > 0 and np.all(np.diff(hashes.astype(np.int64)) > 0)


def test_keep_order_is_a_recipe_choice():
    import pytest

    rng = np.random.default_rng(5)
    base = " ".join(_base(rng))
    cfg = near.NearDedupConfig(keep=("length", "rank", "quality", "id"))
    sigs = _sigs([base, base + " extra words"], cfg)
    meta = _frame(["x/1", "y/2"], rank=[0, 1], length=[100, 200])
    assert near.cluster(meta, sigs, None, cfg)[0]["id"].to_list() == ["x/1"]  # longer wins over rank
    assert near.cluster(meta, sigs, None, near.NearDedupConfig())[0]["id"].to_list() == ["y/2"]
    with pytest.raises(ValueError, match=r"near_dedup\.keep"):
        near.NearDedupConfig(keep=("length",))


def test_signature_table_columns_per_document():
    import pyarrow as pa

    from curate.core.step import Context

    texts = ["the patient was treated with amoxicillin for seven days", "", "short",
             "高血压患者应当每天监测血压并按医嘱服用"]
    table = pa.table({"id": ["d#0", "d#1", "d#2", "d#3"], "text": texts})
    cfg = near.SignatureConfig(3, 16, 7, False, True, batch_docs=3)  # two slices
    # Signals of another order and without one document: scores follow ids, a missing one is 0.
    signals = pa.table({"id": ["d#3", "d#0", "d#2"], "quality": [0.25, 0.5, 0.75]})
    side = near.signature_step(table, cfg, Context("s", rank=2, sides={"signals": signals})).side
    assert side["id"].to_pylist() == ["d#0", "d#1", "d#2", "d#3"]
    assert side["quality"].to_pylist() == [0.5, 0.0, 0.75, 0.25] and side["quality"].type == pa.float32()
    assert side["length"].to_pylist() == [len(t) for t in texts] and side["rank"].to_pylist() == [2] * 4
    hashes, offsets = minhash.shingles(texts, 3)
    want = minhash.signatures(hashes, offsets, 16, 7)
    got = np.column_stack([side[f"s{i:03d}"].to_numpy() for i in range(16)])
    assert np.array_equal(got, want)
    assert side["has_sig"].to_pylist() == [True, False, False, True]
    assert side["shingles"].to_pylist() == [
        sorted(set(hashes[a:b].tolist())) for a, b in itertools.pairwise(offsets)]
    alone = near.signature_step(table, cfg, Context("s")).side
    assert alone["quality"].to_pylist() == [0.0] * 4
    empty = near.signature_step(table.slice(0, 0), cfg, Context("s")).side
    assert empty.num_rows == 0 and empty.schema.equals(side.schema)

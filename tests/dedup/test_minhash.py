"""MinHash: tokenisation, shingles, signatures equal to datasketch's, banding."""

import numpy as np
import pytest
from datasketch import MinHash

from curate.dedup import minhash


def _doc_shingles(text, n=3):
    hashes, offsets = minhash.shingles([text], n)
    return set(hashes[offsets[0]:offsets[1]].tolist())


def test_tokens_are_words_and_cjk_characters():
    # Same tokens, different case, punctuation and spacing: same shingles.
    assert _doc_shingles("Community-acquired pneumonia, in ADULTS!") == _doc_shingles(
        "community acquired pneumonia in adults")
    assert _doc_shingles("肺炎链球菌是最常见的病原体") == _doc_shingles("肺炎 链球菌，是最常见的 病原体。")
    assert _doc_shingles("使用 ACE inhibitors 治疗") == _doc_shingles("使用ACE inhibitors治疗")
    assert _doc_shingles("alpha beta gamma") != _doc_shingles("alpha beta delta")


def test_token_hash_is_position_independent_and_documents_do_not_mix():
    texts = ["a b c d", "x y", "a b c d e"]
    hashes, offsets = minhash.shingles(texts, 3)
    per_doc = [set(hashes[offsets[i]:offsets[i + 1]].tolist()) for i in range(3)]
    assert len(per_doc[0]) == 2 and per_doc[1] == set() and per_doc[0] < per_doc[2]
    assert offsets.tolist() == [0, 2, 2, 5]


def test_exclusion_removes_boilerplate_shingles():
    boiler = np.unique(minhash.shingles(["the following symptoms are typical"], 3)[0])
    hashes, _offsets = minhash.shingles(["the following symptoms are typical of asthma"], 3, boiler)
    kept = set(hashes.tolist())
    assert len(kept) == 2 and not kept & set(boiler.tolist())


def test_signatures_equal_datasketch():
    texts = ["the patient was treated with amoxicillin for seven days and recovered fully",
             "高血压患者应当每天监测血压并按医嘱服用降压药物", "short", ""]
    hashes, offsets = minhash.shingles(texts, 3)
    sigs = minhash.signatures(hashes, offsets, 64, 7)
    for i in range(2):
        m = MinHash(num_perm=64, seed=7, scheme="affine32", hashfunc=lambda x: x)
        m.update_batch(hashes[offsets[i]:offsets[i + 1]].tolist())
        assert np.array_equal(m.hashvalues, sigs[i])
    assert (sigs[2] == minhash.EMPTY).all() and (sigs[3] == minhash.EMPTY).all()


def test_permutations_equal_datasketch():
    for num_perm, seed in ((64, 7), (256, 1), (128, 1234)):
        a, b = minhash.permutations(num_perm, seed)
        want_a, want_b = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        assert a.dtype == np.uint32 and np.array_equal(a, want_a) and np.array_equal(b, want_b)



@pytest.mark.parametrize("num_perm", [64, 112, 128, 256])
def test_bands_and_rows_equal_datasketch(num_perm):
    from datasketch import MinHashLSH

    for threshold in (0.5, 0.7, 0.8, 0.85, 0.9, 0.95):
        for fp, fn in ((0.5, 0.5), (0.1, 0.9), (0.9, 0.1)):
            cfg = minhash.MinHashConfig(num_perm=num_perm, threshold=threshold, false_positive_weight=fp,
                                        false_negative_weight=fn)
            try:
                lsh = MinHashLSH(threshold=threshold, num_perm=num_perm, weights=(fp, fn))
            except ValueError:  # a single band
                with pytest.raises(ValueError, match="single band"):
                    minhash.bands_rows(cfg)
                continue
            assert minhash.bands_rows(cfg) == (lsh.b, lsh.r), (threshold, fp, fn)

def test_estimated_jaccard_tracks_true_jaccard():
    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(5000)]
    base = list(rng.choice(words, 400))
    variant = base[:300] + list(rng.choice(words, 100))
    hashes, offsets = minhash.shingles([" ".join(base), " ".join(variant)], 5)
    a, b = (set(hashes[offsets[i]:offsets[i + 1]].tolist()) for i in range(2))
    true = len(a & b) / len(a | b)
    sigs = minhash.signatures(hashes, offsets, 256, 1)
    assert abs(minhash.estimated_jaccard(sigs[0], sigs[1]) - true) < 0.08


def test_bands_rows_and_s_curve():
    bands, rows = minhash.bands_rows(minhash.MinHashConfig(threshold=0.8, num_perm=128, false_positive_weight=0.1,
                                                           false_negative_weight=0.9))
    assert (bands, rows) == (14, 9)
    assert minhash.catch_probability(0.9, bands, rows) > 0.99
    assert minhash.catch_probability(0.5, bands, rows) < 0.05


def test_band_keys_match_only_on_equal_bands():
    sigs = np.array([[1, 2, 3, 4], [1, 2, 9, 9], [5, 2, 3, 4]], dtype=np.uint32)
    keys = minhash.band_keys(sigs, 2, 2)
    assert keys[0, 0] == keys[1, 0] and keys[0, 1] != keys[1, 1]
    assert keys[0, 1] == keys[2, 1] and keys[0, 0] != keys[2, 0]
    assert keys[0, 0] != keys[0, 1]  # bands are salted: the same values in two bands differ


@pytest.mark.parametrize("n", [1, 5])
def test_empty_batch(n):
    hashes, offsets = minhash.shingles([], n)
    assert hashes.size == 0 and offsets.tolist() == [0]
    assert minhash.signatures(hashes, offsets, 8, 1).shape == (0, 8)


def test_one_defaults_table_for_minhash():
    from curate.build import recipes
    from curate.dedup.near import NearDedupConfig

    only_threshold = recipes._near_dedup({"minhash": {"threshold": 0.7}}, "test")
    assert only_threshold.minhash == minhash.MinHashConfig(threshold=0.7)
    assert (only_threshold.minhash.num_perm, only_threshold.minhash.false_positive_weight,
            only_threshold.minhash.false_negative_weight) == (256, 0.1, 0.9)
    assert NearDedupConfig().minhash == minhash.MinHashConfig()

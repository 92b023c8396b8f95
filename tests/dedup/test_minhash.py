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


def _scalar_tokens(text):
    """Token hashes and lengths of one text by the module doc's definition, one character at a time."""
    mask = (1 << 64) - 1
    lowered = text.replace("\x00", " ").lower()
    word, cjk = minhash.char_classes(np.array([ord(c) for c in lowered], dtype=np.uint32).reshape(-1))
    found, current = [], []
    for ch, w, c in zip(lowered, word.tolist(), cjk.tolist(), strict=True):
        if w:
            current.append(ch)
            continue
        if current:
            found.append(current)
            current = []
        if c:
            found.append([ch])
    if current:
        found.append(current)
    hashes = []
    for token in found:
        total = 0
        for k, ch in enumerate(token):
            total = (total + (ord(ch) + 1) * int(minhash._CHAR_MIX) * pow(int(minhash.P), k, 1 << 64)) & mask
        hashes.append(int(minhash.fmix(np.array([total], dtype=np.uint64), 64)[0]))
    return hashes, [len(t) for t in found]


# Edge cases of the batch tokenizer: empty, one word, CJK only, mixed scripts, upper case beyond ASCII, NUL,
# astral CJK and emoji, a token longer than any before it, and texts shorter than a shingle.
TOKEN_EDGES = ["", "word", "中文医学", "Mixed 中文 and Кириллица, ΕΛΛΗΝΙΚΆ", "a\x00b", "𠀀𠀁 😀 x_y",
               "x" * 5000 + " y", "one two", "Ünïcödé ÀÉÎ", "。，！", "   ", "12 345 6-7"]


@pytest.mark.parametrize("extra", [[], ["ΣΟΦΟΣ Σ"], ["İstanbul"], ["葛\U000e0100城 \U000f0000x"]])
def test_batch_tokens_equal_the_per_text_definition(extra):
    # İ, Σ and code points above the tables take the whole-batch lower-casing path; the others the tables.
    texts = TOKEN_EDGES + extra
    hashes, doc, lengths = minhash.tokens(texts)
    assert doc.dtype == np.int64 and lengths.dtype == np.int64 and hashes.dtype == np.uint64
    for i, text in enumerate(texts):
        want_hashes, want_lengths = _scalar_tokens(text)
        assert hashes[doc == i].tolist() == want_hashes, text[:40]
        assert lengths[doc == i].tolist() == want_lengths, text[:40]
    shared = minhash.tokens(texts, minhash.codepoints(texts))
    assert all(np.array_equal(a, b) for a, b in zip(shared, (hashes, doc, lengths), strict=True))


def test_lower_case_table_is_str_lower_for_every_code_point():
    mixed, classes = minhash._tables()
    special = np.flatnonzero(classes[:minhash._TABLE_BELOW] >= minhash._SPECIAL).tolist()
    assert special == [0x130, 0x3A3] and (classes[minhash._TABLE_BELOW:] >= minhash._SPECIAL).all()
    points = [cp for cp in range(minhash._TABLE_BELOW) if not 0xD800 <= cp <= 0xDFFF and cp not in special]
    lowered = [chr(cp).lower() for cp in points]
    assert all(len(ch) == 1 for ch in lowered)
    want = minhash._mixed(np.array([ord(ch) for ch in lowered], dtype=np.uint32))
    assert np.array_equal(mixed[points], want)


def _scalar_signature(doc_hashes, num_perm, seed):
    a, b = minhash.permutations(num_perm, seed)
    if not len(doc_hashes):
        return [int(minhash.EMPTY)] * num_perm
    mixed = minhash.fmix(np.asarray(doc_hashes, dtype=np.uint32), 32).astype(np.uint64)
    return [int(((mixed * int(a[i]) + int(b[i])) & 0xFFFFFFFF).min()) for i in range(num_perm)]


@pytest.mark.parametrize("block", [7, 1 << 16])
def test_signatures_by_blocks_equal_the_per_document_minimum(monkeypatch, block):
    # Small blocks: documents split over many blocks, one longer than a block, empty ones between and at
    # both ends.
    monkeypatch.setattr(minhash, "_BLOCK", block)
    rng = np.random.default_rng(3)
    sizes = [0, 3, 0, 0, 20, 1, 6, 0, 2, 0]
    hashes = rng.integers(0, 1 << 32, sum(sizes), dtype=np.uint64).astype(np.uint32)
    offsets = np.concatenate(([0], np.cumsum(sizes)))
    by_perm = minhash.signatures_by_permutation(hashes, offsets, 16, 5)
    assert by_perm.shape == (16, len(sizes)) and by_perm.dtype == np.uint32
    for d in range(len(sizes)):
        assert by_perm[:, d].tolist() == _scalar_signature(hashes[offsets[d]:offsets[d + 1]], 16, 5)
    assert np.array_equal(minhash.signatures(hashes, offsets, 16, 5), by_perm.T)
    assert minhash.signatures_by_permutation(hashes[:0], np.zeros(1, np.int64), 4, 1).shape == (4, 0)


def test_exclusion_matches_isin():
    rng = np.random.default_rng(9)
    values = rng.integers(0, 1 << 32, 20000, dtype=np.uint64).astype(np.uint32)
    among = np.concatenate([values[::97], values[5:40], rng.integers(0, 1 << 32, 300, dtype=np.uint64)
                            .astype(np.uint32), values[:3]])  # duplicates, unsorted, low bits shared by others
    values[100:200] = among[0] + (1 << 16)  # same low 16 bits as an excluded value, not excluded
    assert np.array_equal(minhash._member(values, among), np.isin(values, among))
    assert not minhash._member(values, np.zeros(0, np.uint32)).any()

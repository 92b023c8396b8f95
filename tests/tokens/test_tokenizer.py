"""Tokenizers: the bundled one, any HF directory (incl. conversion and int32 vocabularies), EOD choice."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curate.build import pipeline, recipes
from curate.tokens import indexed, tokenizer
from tests.conftest import SAMPLES


def test_bundled_tokenizer_round_trips_zh_and_en(tmp_path):
    info = tokenizer.prepare(None, tmp_path / "tok")
    assert info.name == "curate-bpe (bundled)" and info.eod_token == "<|endoftext|>"
    assert info.vocab_size < 65500 and set(info.files) >= {"tokenizer.json", "tokenizer_config.json"}
    tok = tokenizer.load(str(tmp_path / "tok" / "tokenizer.json"))
    for text in ("高血压患者应每日监测血压。", "Community-acquired pneumonia: amoxicillin 1 g tid."):
        ids = tok.encode(text, add_special_tokens=False).ids
        assert tok.decode(ids) == text
        assert len(ids) < len(text.encode())  # it compresses
    for special in tokenizer.SPECIAL_TOKENS:
        assert tok.token_to_id(special) is not None


def test_vocab_only_directory_is_converted_through_transformers(tmp_path):
    bundled = json.loads((tokenizer.BUNDLED / "tokenizer.json").read_text())
    model = bundled["model"]
    gpt2 = tmp_path / "gpt2style"
    gpt2.mkdir()
    (gpt2 / "vocab.json").write_text(json.dumps(model["vocab"]))
    merges = [" ".join(m) if isinstance(m, list) else m for m in model["merges"]]
    (gpt2 / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
    (gpt2 / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "GPT2Tokenizer", "eos_token": "<|endoftext|>", "add_prefix_space": False}))
    info = tokenizer.prepare(str(gpt2), tmp_path / "converted")
    assert (tmp_path / "converted" / "tokenizer.json").is_file()
    converted = tokenizer.load(str(tmp_path / "converted" / "tokenizer.json"))
    original = tokenizer.load(str(tokenizer.BUNDLED / "tokenizer.json"))
    text = "Sepsis bundles save lives"
    assert converted.encode(text, add_special_tokens=False).ids == original.encode(text, add_special_tokens=False).ids
    assert info.eod_id == original.token_to_id("<|endoftext|>")


def test_eod_errors_and_override(tmp_path):
    with pytest.raises(tokenizer.TokenizerError, match="not found"):
        tokenizer.prepare(str(tmp_path / "missing"), tmp_path / "x")
    with pytest.raises(tokenizer.TokenizerError, match="--eod-token"):
        tokenizer.prepare(None, tmp_path / "y", eod_token="</s>")
    info = tokenizer.prepare(None, tmp_path / "z", eod_token="<|im_end|>")
    assert info.eod_token == "<|im_end|>" and info.eod_id == tokenizer.SPECIAL_TOKENS.index("<|im_end|>")


def test_large_vocabulary_writes_int32_shards(tmp_path):
    from tokenizers import AddedToken, Tokenizer

    big = tmp_path / "big"
    big.mkdir()
    tok = Tokenizer.from_file(str(tokenizer.BUNDLED / "tokenizer.json"))
    tok.add_tokens([AddedToken(f"<extra_{i}>", special=True) for i in range(70_000 - tok.get_vocab_size())])
    tok.save(str(big / "tokenizer.json"))
    (big / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<|endoftext|>"}))
    (tmp_path / "p.toml").write_text(f'reader = "promptcblue"\ninputs = ["{SAMPLES / "promptcblue"}"]\n')
    (tmp_path / "mix.toml").write_text(f'name = "big"\ntokenizer = "{big}"\n[[sources]]\nrecipe = "p.toml"\n')
    result = pipeline.run(recipes.load_corpus(tmp_path / "mix.toml"), tmp_path / "out", workers=1, progress=False)
    assert result.manifest["tokenizer"]["dtype"] == "int32" and result.manifest["tokenizer"]["vocab_size"] == 70_000
    reader = indexed.Reader(tmp_path / "out" / "tokens" / "promptcblue_text_document")
    assert reader.index.dtype == np.int32 and reader.num_documents == 24
    mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    ds = mod.IndexedDataset(str(tmp_path / "out" / "tokens" / "promptcblue_text_document"))
    assert ds[0].dtype == np.int32 and ds[0].tolist() == reader[0].tolist()


def test_sizes_are_remembered_per_tokenizer_and_eod_choice(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    first = tokenizer.prepare(None, tmp_path / "a")
    calls = []
    monkeypatch.setattr(tokenizer, "load", lambda path: calls.append(path) or tokenizer.Tokenizer.from_file(path))
    again = tokenizer.prepare(None, tmp_path / "b")
    assert calls == [] and (again.vocab_size, again.eod_id) == (first.vocab_size, first.eod_id)
    other = tokenizer.prepare(None, tmp_path / "c", eod_token="<|im_end|>")  # another choice: loaded, not mixed up
    assert len(calls) == 1 and other.eod_id == tokenizer.SPECIAL_TOKENS.index("<|im_end|>")
    edited = tmp_path / "edited"
    edited.mkdir()
    tok = tokenizer.Tokenizer.from_file(str(tokenizer.BUNDLED / "tokenizer.json"))
    tok.add_tokens(["<extra>"])
    tok.save(str(edited / "tokenizer.json"))
    assert tokenizer.prepare(str(edited), tmp_path / "d").vocab_size == first.vocab_size + 1
    assert len(calls) == 2


def test_the_loaders_larger_bpe_cache_gives_the_librarys_ids(tmp_path):
    from tokenizers import Tokenizer

    tokenizer.prepare(None, tmp_path / "tok")
    path = str(tmp_path / "tok" / "tokenizer.json")
    rng = np.random.default_rng(7)
    letters = list("abcdefghijklmnopqrstuvwxyz") + list("高血压患者应每日监测肺炎阿莫西林")
    # More distinct words than the library's default cache holds (10,000), each seen again later.
    words = ["".join(rng.choice(letters, size=rng.integers(2, 9))) for _ in range(30_000)]
    texts = [" ".join(words[i:i + 40]) for i in range(0, len(words), 40)] * 2
    ours = [e.ids for e in tokenizer.load(path).encode_batch_fast(texts, add_special_tokens=False)]
    stock = [e.ids for e in Tokenizer.from_file(path).encode_batch_fast(texts, add_special_tokens=False)]
    assert ours == stock and sum(map(len, ours)) > 60_000


@pytest.mark.parametrize("append_eod", [True, False])
def test_a_worker_encodes_in_small_calls_with_the_same_ids(tmp_path, monkeypatch, append_eod):
    from curate.tokens import tokenize

    info = tokenizer.prepare(None, tmp_path / "tok")
    rng = np.random.default_rng(3)
    texts = ["" if i % 97 == 0 else
             f"第{i}例患者 blood pressure {int(rng.integers(90, 180))} mmHg，每日监测。" * (1 + i % 5)
             for i in range(3 * tokenizer.SERIAL_ENCODE_DOCS + 17)]
    cfg = tokenize.TokenizeConfig(str(tmp_path / "tok" / "tokenizer.json"), info.fingerprint, info.eod_id, "uint16",
                                  append_eod=append_eod, empty="none")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    assert not tokenizer.serial()
    whole = tokenize.encode(texts, cfg)
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    assert tokenizer.serial()
    small = tokenize.encode(texts, cfg)
    assert np.array_equal(whole[0], small[0]) and np.array_equal(whole[1], small[1])
    assert len(small[1]) == len(texts) and (small[1][::97] == 0).all() and small[1].sum() == len(small[0])

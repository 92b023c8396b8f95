"""The last per-shard pass of a source tokenizes the records it writes: no pass reads them again.

Whichever pass tokenizes, the token files hold exactly the records of the source's last record shards,
in shard order; a source whose plan changes after its read (a keyed source whose versions drop records)
is tokenized from its final shards instead.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.build import documents, pipeline, recipes
from curate.readers import articles
from curate.tokens import indexed, tokenize, tokenizer

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _corpus(path: Path, n: int = 3000) -> Path:
    rows = [{"text": f"Patient {i} 高血压 {i % 7} treated with dose {i} mg. " * (i % 4 + 1)} for i in range(n)]
    rows[5] = {"text": ""}  # an empty document: no sequence
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def _expected(root: Path, shards: list[Path], eod: tokenize.EodRule) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Ids, tokens and document lengths of ``shards`` tokenized one after the other."""
    tok = tokenizer.prepare(None, root / "tokenizer")
    cfg = tokenize.TokenizeConfig(str(Path(tok.path) / "tokenizer.json"), tok.fingerprint, tok.eod_id,
                                  str(indexed.dtype_for_vocab(tok.vocab_size)), append_eod=eod.append, empty=eod.empty)
    table = pa.concat_tables([pq.read_table(p, columns=["id", "text"]) for p in shards])
    flat, lengths = tokenize.encode(table["text"].to_pylist(), cfg)
    return table["id"].to_pylist(), flat, lengths


def _tokens(root: Path, name: str) -> tuple[list[str], np.ndarray, np.ndarray]:
    reader = indexed.Reader(root / "tokens" / name)
    docs = pq.read_table(root / "tokens" / f"{name}.docs.parquet")
    flat = np.concatenate([reader[i] for i in range(len(reader))]) if len(reader) else np.zeros(0)
    return docs["id"].to_pylist(), flat, docs["tokens"].to_numpy()


def _flow(root: Path, source: str) -> dict:
    return json.loads((root / "flow.json").read_text())[source]


def test_documents_are_tokenized_by_their_read_tasks(tmp_path):
    corpus = _corpus(tmp_path / "corpus.jsonl")
    result = documents.run((str(corpus),), ("text",), tmp_path, "c", None, True, workers=1, progress=False,
                           part_bytes=40_000)
    root = result.root
    parts = sorted(p.name for p in (root / "tokens" / "parts" / "c_text").glob("*.bin"))
    assert len(parts) > 3 and parts == [f"corpus.jsonl@{k:04d}.bin" for k in range(len(parts))]  # one per read task
    assert not list((root / "tokens" / "parts" / "c_text" / ".done").glob("*.json"))  # no tokenize task ran
    shards = [root / p for p in _flow(root, "c_text")["passes"][-1]["shards"]]
    ids, flat, lengths = _expected(root, shards, tokenize.megatron_rule(True))
    got_ids, got_flat, got_lengths = _tokens(root, "c_text_document")
    assert got_ids == ids and len(ids) == 3000
    assert np.array_equal(got_lengths, lengths) and np.array_equal(got_flat, flat)
    again = documents.run((str(corpus),), ("text",), tmp_path, "c", None, True, workers=1, progress=False,
                          part_bytes=40_000)
    assert again.ran == 0  # a rerun finds every read (and its tokens) done


def _deduplicated(tmp_path: Path, **settings) -> Path:
    """The root of a build of ``_corpus`` with exact dedup (read, prepare and apply passes)."""
    corpus = _corpus(tmp_path / "corpus.jsonl")
    src = recipes.SourceSpec(name="docs", reader="documents", inputs=(str(corpus),),
                             options=documents.Config(detect_lang=False))
    spec = recipes.CorpusSpec(name="b", sources=(src,), exact_dedup=True, **settings)
    return pipeline.run(spec, tmp_path / "b", workers=1, progress=False, part_bytes=40_000).root


def test_a_build_with_an_apply_pass_tokenizes_in_it(tmp_path):
    root = _deduplicated(tmp_path)
    passes = _flow(root, "docs")["passes"]
    assert passes[-1]["pass"] == "apply"
    shards = [root / p for p in passes[-1]["shards"]]
    parts = sorted(p.name for p in (root / "tokens" / "parts" / "docs").glob("*.bin"))
    assert parts == sorted(f"{Path(p).stem}.bin" for p in passes[-1]["shards"])
    assert not list((root / "tokens" / "parts" / "docs" / ".done").glob("*.json"))  # no tokenize task ran
    ids, flat, lengths = _expected(root, shards, tokenize.CURATE_EOD)
    got_ids, got_flat, got_lengths = _tokens(root, "docs_text_document")
    assert got_ids == ids and 0 < len(ids) < 3000  # exact duplicates dropped, then tokenized
    assert np.array_equal(got_lengths, lengths) and np.array_equal(got_flat, flat)


def test_a_keyed_source_whose_versions_drop_records_is_tokenized_after_them(tmp_path):
    src = recipes.SourceSpec(name="pubmed", reader="articles",
                             inputs=(str(SAMPLES / "articles" / "pubmed_baseline.xml"),
                                     str(SAMPLES / "articles" / "pubmed_update.xml.gz")),
                             options=articles.Config())
    spec = dataclasses.replace(recipes.CorpusSpec(name="p", sources=(src,)), steps=())
    root = pipeline.run(spec, tmp_path / "p", workers=1, progress=False).root
    passes = _flow(root, "pubmed")["passes"]
    assert [p["pass"] for p in passes] == ["read", "prepare"]  # the versions pass came after the read
    read_rows = sum(pq.read_metadata(root / p).num_rows for p in passes[0]["shards"])
    shards = [root / p for p in passes[-1]["shards"]]
    ids, flat, lengths = _expected(root, shards, tokenize.CURATE_EOD)
    got_ids, got_flat, got_lengths = _tokens(root, "pubmed_text_document")
    assert got_ids == ids and len(ids) < read_rows  # the superseded versions are not in the tokens
    assert np.array_equal(got_lengths, lengths) and np.array_equal(got_flat, flat)


def test_the_last_pass_tokenizes_the_tables_it_wrote_from_memory(tmp_path, monkeypatch):
    from_memory = []
    read_back = tokenize._batches

    def spy(path, size, table):
        from_memory.append(table is not None)
        return read_back(path, size, table)

    monkeypatch.setattr(tokenize, "_batches", spy)
    test_a_build_with_an_apply_pass_tokenizes_in_it(tmp_path)
    assert from_memory and all(from_memory)


def test_kept_tables_are_bounded_and_end_with_their_block(tmp_path):
    from curate.core import shards

    small = pa.table({"id": ["a"], "text": ["x"]})
    big = pa.table({"id": ["b"], "text": ["y" * 10_000]})
    with shards.keeping(room=1_000) as kept:
        shards.write(small, tmp_path / "s.parquet")
        shards.write(big, tmp_path / "b.parquet")
    assert list(kept) == [str(tmp_path / "s.parquet")]  # the big one is read back from its file
    shards.write(small, tmp_path / "after.parquet")
    assert list(kept) == [str(tmp_path / "s.parquet")]


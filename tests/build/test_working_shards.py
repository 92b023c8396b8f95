"""Working shards: the records a later pass of the build reads back are written with the recipe's
``working_compression`` (uncompressed unless it says otherwise); a source's last records stay zstd, and the
codec changes nothing the build writes from them."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.build import documents, recipes
from tests.build.test_tokenize_in_last_pass import _deduplicated, _flow


def _codecs(path: Path) -> set[str]:
    meta = pq.read_metadata(path)
    return {meta.row_group(g).column(c).compression
            for g in range(meta.num_row_groups) for c in range(meta.num_columns)}


def test_records_a_later_pass_reads_back_are_uncompressed_and_the_last_records_zstd(tmp_path):
    root = _deduplicated(tmp_path)
    passes = {p["pass"]: [root / s for s in p["shards"]] for p in _flow(root, "docs")["passes"]}
    assert list(passes) == ["read", "prepare", "apply"] and all(len(s) > 1 for s in passes.values())
    for name in ("read", "prepare"):  # working shards: read back by the next pass
        assert all(_codecs(p) == {"UNCOMPRESSED"} for p in passes[name]), name
    assert all("ZSTD" in _codecs(p) for p in passes["apply"])  # the records a user takes away
    assert "ZSTD" in _codecs(root / "ledger.parquet")
    assert sum(pq.read_metadata(p).num_rows for p in passes["read"]) == 3000

    only = documents.run((str(tmp_path / "corpus.jsonl"),), ("text",), tmp_path, "c", None, True, workers=1,
                         progress=False, part_bytes=40_000).root
    [read_pass] = _flow(only, "c_text")["passes"]
    assert all("ZSTD" in _codecs(only / p) for p in read_pass["shards"])  # the read pass's records are the last


def test_a_recipe_chooses_the_codec_of_its_working_records(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "zstd").mkdir()
    plain = _deduplicated(tmp_path / "plain")
    root = _deduplicated(tmp_path / "zstd", working_compression="zstd")
    passes = {p["pass"]: [root / s for s in p["shards"]] for p in _flow(root, "docs")["passes"]}
    assert all(_codecs(p) == {"ZSTD"} for name in ("read", "prepare") for p in passes[name])
    # The codec changes how the working shards are stored, nothing that the build writes from them.
    for name in ("ledger.parquet", "tokens/docs_text_document.bin", "tokens/docs_text_document.idx"):
        assert (root / name).read_bytes() == (plain / name).read_bytes(), name
    for shard in passes["read"]:
        assert pq.read_table(shard).equals(pq.read_table(plain / shard.relative_to(root)))


def test_an_unknown_working_codec_is_a_recipe_error(tmp_path):
    from curate.core import schema

    source = tmp_path / "docs.toml"
    source.write_text('name = "docs"\nreader = "documents"\ninputs = ["corpus.jsonl"]\n')
    recipe = tmp_path / "stage.toml"
    recipe.write_text('working_compression = "gzip9"\n[[sources]]\nrecipe = "docs.toml"\n')
    with pytest.raises(schema.SchemaError, match="working_compression: expected one of 'none', 'zstd', 'lz4', "
                                                 "'snappy'"):
        recipes.load_corpus(recipe)
    recipe.write_text('working_compression = "lz4"\n[[sources]]\nrecipe = "docs.toml"\n')
    assert recipes.load_corpus(recipe).working_compression == "lz4"

"""Parquet shards: tables of hash values are written without dictionary pages, and read back the same."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.core import shards


def _encodings(path, column):
    return set(pq.ParquetFile(path).metadata.row_group(0).column(column).encodings)


def test_hashed_tables_skip_dictionaries_for_their_hash_columns(tmp_path):
    rng = np.random.default_rng(0)
    arrays = {"id": pa.array([f"s/f#{i}" for i in range(1000)]),
              "s000": pa.array(rng.integers(0, 2**32, 1000, dtype=np.uint32))}
    hashed, plain = tmp_path / "hashed.parquet", tmp_path / "plain.parquet"
    shards.write(pa.table(arrays, metadata=shards.HASHED), hashed)
    shards.write(pa.table(arrays), plain)
    assert "RLE_DICTIONARY" not in _encodings(hashed, 1) and "RLE_DICTIONARY" in _encodings(hashed, 0)
    assert "RLE_DICTIONARY" in _encodings(plain, 1)
    for path in (hashed, plain):
        assert shards.read(path).select(["id", "s000"]).equals(pa.table(arrays))


def test_read_gives_the_columns_asked_for_in_that_order_and_names_one_the_shard_lacks(tmp_path):
    """``shards.read`` reads one file (not a dataset) as ``pq.read_table`` does; a column the shard lacks
    is an error that names it, never an empty table."""
    import pytest

    table = pa.table({"id": ["a", "b"], "text": ["x", "y"], "n": [1, 2]}, metadata={b"k": b"v"})
    path = tmp_path / "s.parquet"
    shards.write(table, path)
    assert shards.read(path).equals(pq.read_table(path))
    assert shards.read(path).schema.metadata[b"k"] == b"v"
    assert shards.read(path, columns=["n", "id"]).column_names == ["n", "id"]
    with pytest.raises(pa.ArrowInvalid, match="'missing'"):
        shards.read(path, columns=["id", "missing"])

"""The Megatron indexed-dataset format, byte for byte, and its reading by megatron-core."""

import struct

import numpy as np
import pytest

from curate.tokens import indexed

DOCS = [np.array([5, 6, 7, 0]), np.array([9, 0]), np.array([0]), np.array([1, 2, 3, 4, 5, 0])]


def test_header_and_arrays_byte_layout(tmp_path):
    prefix = tmp_path / "d_text_document"
    indexed.write(prefix, DOCS, np.dtype(np.uint16))
    raw = (tmp_path / "d_text_document.idx").read_bytes()
    assert raw[:9] == b"MMIDIDX\x00\x00"
    version, code, seqs, docs = struct.unpack_from("<QBQQ", raw, 9)
    assert (version, code, seqs, docs) == (1, 8, 4, 5)
    body = raw[34:]
    assert np.frombuffer(body, "<i4", 4).tolist() == [4, 2, 1, 6]
    assert np.frombuffer(body, "<i8", 4, 16).tolist() == [0, 8, 12, 14]  # byte offsets (uint16)
    assert np.frombuffer(body, "<i8", 5, 48).tolist() == [0, 1, 2, 3, 4]
    assert len(raw) == 34 + 4 * 4 + 8 * 4 + 8 * 5
    assert (tmp_path / "d_text_document.bin").read_bytes() == np.concatenate(DOCS).astype("<u2").tobytes()


def test_roundtrip_and_dtype_rule(tmp_path):
    assert indexed.dtype_for_vocab(50_000) == np.uint16
    assert indexed.dtype_for_vocab(65_500) == np.int32
    assert indexed.dtype_for_vocab(151_936) == np.int32
    prefix = tmp_path / "big"
    docs = [np.array([100_000, 3, 0]), np.array([151_000, 0])]
    indexed.write(prefix, docs, np.dtype(np.int32))
    reader = indexed.Reader(prefix)
    assert reader.index.dtype == np.int32 and reader.num_documents == 2
    assert [reader[i].tolist() for i in range(2)] == [d.tolist() for d in docs]


def test_merge_concatenates_in_order(tmp_path):
    indexed.write(tmp_path / "a", DOCS[:2], np.dtype(np.uint16))
    indexed.write(tmp_path / "b", DOCS[2:], np.dtype(np.uint16))
    indexed.write(tmp_path / "empty", [], np.dtype(np.uint16))
    index = indexed.merge([tmp_path / "a", tmp_path / "empty", tmp_path / "b"], tmp_path / "m")
    assert index.doc_indices.tolist() == [0, 1, 2, 3, 4]
    reader = indexed.Reader(tmp_path / "m")
    assert [reader[i].tolist() for i in range(len(reader))] == [d.tolist() for d in DOCS]
    indexed.write(tmp_path / "whole", DOCS, np.dtype(np.uint16))
    assert (tmp_path / "m.idx").read_bytes() == (tmp_path / "whole.idx").read_bytes()
    assert (tmp_path / "m.bin").read_bytes() == (tmp_path / "whole.bin").read_bytes()


def test_reader_rejects_corrupt_files(tmp_path):
    prefix = tmp_path / "d"
    indexed.write(prefix, DOCS, np.dtype(np.uint16))
    idx = tmp_path / "d.idx"
    good = idx.read_bytes()
    idx.write_bytes(b"NOTMAGIC!" + good[9:])
    with pytest.raises(indexed.IndexFormatError, match="not a Megatron MMIDIDX index"):
        indexed.Reader(prefix)
    idx.write_bytes(good[:-8])
    with pytest.raises(indexed.IndexFormatError, match=r"d\.idx: .* implies .*: the file is cut off; rerun"):
        indexed.Reader(prefix)
    idx.write_bytes(good + b"\x00")
    with pytest.raises(indexed.IndexFormatError, match="followed by extra bytes"):
        indexed.Reader(prefix)
    idx.write_bytes(good[:20])
    with pytest.raises(indexed.IndexFormatError, match="shorter than a Megatron index header: the file is cut off"):
        indexed.Reader(prefix)
    idx.write_bytes(good)
    (tmp_path / "d.bin").write_bytes(b"\x00" * 6)
    with pytest.raises(indexed.IndexFormatError, match=r"d\.bin: 6 bytes, its index d\.idx needs .*cut off"):
        indexed.Reader(prefix)
    (tmp_path / "d.bin").unlink()
    with pytest.raises(indexed.IndexFormatError, match=r"d\.bin: missing"):
        indexed.Reader(prefix)


def test_index_that_contradicts_itself_is_refused(tmp_path):
    prefix = tmp_path / "d"
    indexed.write(prefix, DOCS, np.dtype(np.uint16))
    good = (tmp_path / "d.idx").read_bytes()
    seqs = len(DOCS)
    pointers = 34 + 4 * seqs  # the second pointer goes backwards
    bad = bytearray(good)
    bad[pointers + 8:pointers + 16] = struct.pack("<q", 0)
    (tmp_path / "d.idx").write_bytes(bytes(bad))
    with pytest.raises(indexed.IndexFormatError, match="offsets that overlap or go backwards"):
        indexed.read_index(tmp_path / "d.idx")
    bad = bytearray(good)
    bad[34:38] = struct.pack("<i", -1)
    (tmp_path / "d.idx").write_bytes(bytes(bad))
    with pytest.raises(indexed.IndexFormatError, match="negative sequence length"):
        indexed.read_index(tmp_path / "d.idx")


def test_trainer_names_a_cut_off_shard(tmp_path):
    pytest.importorskip("megatron.core")
    from curate.train import megatron_data

    prefix = tmp_path / "d"
    indexed.write(prefix, DOCS, np.dtype(np.uint16))
    data = (tmp_path / "d.bin").read_bytes()
    (tmp_path / "d.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(indexed.IndexFormatError, match=r"d\.bin: .* the file is cut off; rerun the build"):
        megatron_data.parse_blend([1.0, str(prefix)])


def test_inspect_prints_one_line_for_a_cut_off_dataset(tmp_path):
    from click.testing import CliRunner

    from curate.cli import main

    prefix = tmp_path / "d"
    indexed.write(prefix, DOCS, np.dtype(np.uint16))
    (tmp_path / "d.idx").write_bytes((tmp_path / "d.idx").read_bytes()[:-3])
    result = CliRunner().invoke(main, ["inspect", str(prefix)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.startswith("Error: ") and "d.idx" in result.output and "cut off" in result.output
    assert result.output.count("\n") == 1


def test_megatron_core_reads_our_shards(tmp_path):
    pytest.importorskip("torch")
    mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    prefix = tmp_path / "d_text_document"
    indexed.write(prefix, DOCS, np.dtype(np.uint16))
    ds = mod.IndexedDataset(str(prefix))
    assert len(ds) == len(DOCS)
    assert ds.document_indices.tolist() == [0, 1, 2, 3, 4]
    assert ds.sequence_lengths.tolist() == [len(d) for d in DOCS]
    for i, doc in enumerate(DOCS):
        assert ds[i].tolist() == doc.tolist()
    assert ds.get(3, offset=1, length=2).tolist() == [2, 3]


def test_builder_streams_and_leaves_nothing_on_error(tmp_path):
    with indexed.Builder(tmp_path / "s", np.dtype(np.uint16)) as b:
        b.add_documents(np.concatenate(DOCS), np.array([len(d) for d in DOCS]))
        b.add_document(DOCS[0])
    reader = indexed.Reader(tmp_path / "s")
    assert len(reader) == len(DOCS) + 1 and reader[len(DOCS)].tolist() == list(DOCS[0])
    with pytest.raises(RuntimeError), indexed.Builder(tmp_path / "broken", np.dtype(np.uint16)) as b:
        b.add_document(DOCS[0])
        raise RuntimeError("killed")
    assert not list(tmp_path.glob("broken*")) and not list(tmp_path.glob(".broken*"))

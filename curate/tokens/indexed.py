"""Megatron indexed datasets: ``<prefix>.bin`` and ``<prefix>.idx``, writer and reader side by side.

``.bin`` is the token ids of every sequence, back to back, in the index's dtype. ``.idx`` is
little-endian:

=========  ==============  =====================================================================
offset     type            field
=========  ==============  =====================================================================
0          9 bytes         magic ``MMIDIDX\\x00\\x00``
9          ``<Q``          version, 1
17         ``<B``          dtype code (``DTYPE_CODES``): 1 uint8, 2 int8, 3 int16, 4 int32,
                           5 int64, 6 float64, 7 float32, 8 uint16
18         ``<Q``          sequence count S
26         ``<Q``          document count D (documents + 1)
34         int32[S]        sequence lengths, in tokens
..         int64[S]        byte offset of each sequence in ``.bin``
..         int64[D]        document indices: sequence index where each document starts, from 0,
                           ending with S
=========  ==============  =====================================================================

curate writes one sequence per document, ending with the EOD token, so the document indices are
``0, 1, ..., S``; with Megatron's rule for empty documents (``curate build documents``) a document
without tokens has no sequence, and its index repeats the next one's start.
The dtype is uint16 when the vocabulary has fewer than 65,500 ids, else int32.
"""

from __future__ import annotations

import contextlib
import shutil
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curate.core.executor import atomic_path

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
DTYPE_CODES: dict[int, type[np.number]] = {
    1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
    8: np.uint16,
}
_HEADER = struct.Struct("<9sQBQQ")


def dtype_for_vocab(vocab_size: int) -> np.dtype:
    """The token dtype Megatron expects for a vocabulary size."""
    return np.dtype(np.uint16 if vocab_size < 65500 else np.int32)


def dtype_code(dtype: np.dtype) -> int:
    """The ``.idx`` code of a numpy dtype."""
    for code, candidate in DTYPE_CODES.items():
        if np.dtype(candidate) == np.dtype(dtype):
            return code
    raise ValueError(f"dtype {dtype} has no Megatron code")


def bin_path(prefix: str | Path) -> Path:
    """``<prefix>.bin``."""
    return Path(f"{prefix}.bin")


def idx_path(prefix: str | Path) -> Path:
    """``<prefix>.idx``."""
    return Path(f"{prefix}.idx")


def write_index(path: Path, dtype: np.dtype, lengths: np.ndarray, doc_indices: np.ndarray) -> None:
    """Write an ``.idx`` file for sequences of ``lengths`` tokens of ``dtype``, atomically."""
    lengths = np.ascontiguousarray(lengths, dtype="<i4")
    doc_indices = np.ascontiguousarray(doc_indices, dtype="<i8")
    assert doc_indices[0] == 0 and doc_indices[-1] == len(lengths), "document indices must span 0..S"
    assert np.all(np.diff(doc_indices) >= 0), "document indices must be non-decreasing"
    assert np.all(lengths >= 0), "sequence lengths must be non-negative"
    pointers = np.zeros(len(lengths), dtype="<i8")
    np.cumsum(lengths[:-1].astype("<i8") * np.dtype(dtype).itemsize, out=pointers[1:])
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(_HEADER.pack(MAGIC, VERSION, dtype_code(dtype), len(lengths), len(doc_indices)))
        f.write(lengths.tobytes())
        f.write(pointers.tobytes())
        f.write(doc_indices.tobytes())


class Builder:
    """Streaming writer of one dataset, in the manner of Megatron's ``IndexedDatasetBuilder``.

    Tokens go to a temporary ``.bin`` as they come; ``finalize`` writes the ``.idx`` and moves both
    into place, so a dataset is either whole or absent. Used by the build and the tests alike.
    """

    def __init__(self, prefix: str | Path, dtype: np.dtype):
        self.prefix = Path(prefix)
        self.dtype = np.dtype(dtype)
        self.lengths: list[np.ndarray] = []  # sequence lengths
        self._docs: list[np.ndarray] = []  # sequences per document (0 for a document without tokens)
        self._bin = contextlib.ExitStack()
        self._tmp = self._bin.enter_context(atomic_path(bin_path(self.prefix)))
        self._file = self._bin.enter_context(open(self._tmp, "wb"))  # noqa: SIM115 - closed by finalize

    def __enter__(self) -> Builder:
        return self

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self._bin.__exit__(exc_type, *rest)  # the temporary .bin is removed; nothing is left

    def add_document(self, tokens: np.ndarray) -> None:
        """Append one document (a sequence, EOD included)."""
        self.add_documents(np.asarray(tokens), np.array([len(tokens)], np.int64))

    def add_documents(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        """Append documents given back to back in ``flat`` with their ``lengths`` (a document of
        length 0 has no sequence, as Megatron writes an empty document)."""
        lengths = np.asarray(lengths, np.int64)
        assert int(np.sum(lengths)) == len(flat), "lengths do not add up to the tokens given"
        self._file.write(np.ascontiguousarray(flat, dtype=self.dtype).tobytes())
        self.lengths.append(lengths[lengths > 0])
        self._docs.append((lengths > 0).astype(np.int64))

    def add_dataset(self, prefix: str | Path) -> None:
        """Append every document of another dataset of the same dtype (a part, when merging)."""
        index = read_index(idx_path(prefix))
        assert index.dtype == self.dtype, f"{prefix}: dtype {index.dtype}, this dataset is {self.dtype}"
        with open(bin_path(prefix), "rb") as f:
            shutil.copyfileobj(f, self._file, 1 << 22)
        self.lengths.append(index.lengths.astype(np.int64))
        self._docs.append(np.diff(index.doc_indices))

    def finalize(self) -> Index:
        """Close the ``.bin``, write the ``.idx``; both move into place. Returns the index."""
        self._file.close()
        self._bin.close()  # the .bin moves into place
        lengths = np.concatenate(self.lengths) if self.lengths else np.zeros(0, np.int64)
        docs = np.concatenate(self._docs) if self._docs else np.zeros(0, np.int64)
        write_index(idx_path(self.prefix), self.dtype, lengths, np.concatenate([[0], np.cumsum(docs)]))
        return read_index(idx_path(self.prefix))


def write(prefix: str | Path, documents: Iterable[np.ndarray], dtype: np.dtype) -> int:
    """Write ``documents`` (one token array each, EOD included) as one dataset; return the count."""
    with Builder(prefix, dtype) as builder:
        for doc in documents:
            builder.add_document(doc)
    return sum(len(x) for x in builder.lengths)


@dataclass(frozen=True)
class Index:
    """The parsed content of an ``.idx`` file."""

    dtype: np.dtype
    lengths: np.ndarray
    pointers: np.ndarray
    doc_indices: np.ndarray

    @property
    def num_tokens(self) -> int:
        """Total tokens in the dataset."""
        return int(self.lengths.sum(dtype=np.int64))


class IndexFormatError(ValueError):
    """A Megatron dataset file that is not whole or not the format: names the file and what to do."""


_REDO = "rerun the build that wrote it (curate corpus rewrites a shard whose file changed) or copy it again"


def read_index(path: Path) -> Index:
    """Parse and validate an ``.idx`` file; ``IndexFormatError`` says what is wrong."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IndexFormatError(f"{path}: missing; a Megatron dataset is <prefix>.bin and <prefix>.idx") from None
    if len(data) < _HEADER.size:
        raise IndexFormatError(f"{path}: {len(data)} bytes, shorter than a Megatron index header: the file is "
                               f"cut off; {_REDO}")
    magic, version, code, seq_count, doc_count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise IndexFormatError(f"{path}: starts with {magic!r}, not a Megatron MMIDIDX index")
    if version != VERSION or code not in DTYPE_CODES:
        raise IndexFormatError(f"{path}: index version {version}, dtype code {code}: curate reads version "
                               f"{VERSION} with codes {sorted(DTYPE_CODES)}")
    expected = _HEADER.size + seq_count * (4 + 8) + doc_count * 8
    if len(data) != expected:
        cut = "cut off" if len(data) < expected else "followed by extra bytes"
        raise IndexFormatError(f"{path}: {len(data):,} bytes, its header ({seq_count:,} sequences, {doc_count:,} "
                               f"document indices) implies {expected:,}: the file is {cut}; {_REDO}")
    offset = _HEADER.size
    lengths = np.frombuffer(data, "<i4", seq_count, offset)
    pointers = np.frombuffer(data, "<i8", seq_count, offset + 4 * seq_count)
    docs = np.frombuffer(data, "<i8", doc_count, offset + 12 * seq_count)
    index = Index(np.dtype(DTYPE_CODES[code]), lengths, pointers, docs)
    if (problem := _inconsistency(index)) is not None:
        raise IndexFormatError(f"{path}: {problem}; {_REDO}")
    return index


def _inconsistency(index: Index) -> str | None:
    """What in a parsed index contradicts itself (lengths, pointers, document indices), or None."""
    if index.lengths.size and int(index.lengths.min()) < 0:
        return "a negative sequence length"
    if index.pointers.size:
        ends = index.pointers + index.lengths.astype(np.int64) * index.dtype.itemsize
        if int(index.pointers[0]) < 0 or np.any(index.pointers[1:] < ends[:-1]):
            return "sequence byte offsets that overlap or go backwards"
    docs = index.doc_indices
    if docs.size == 0 or docs[0] != 0 or docs[-1] != index.lengths.size or np.any(np.diff(docs) < 0):
        return f"document indices that do not run from 0 to the {index.lengths.size:,} sequences"
    return None


def check(prefix: str | Path) -> Index:
    """Validate ``<prefix>.idx`` and that ``<prefix>.bin`` holds every token it points to; return the index."""
    index = read_index(idx_path(prefix))
    path = bin_path(prefix)
    if not path.is_file():
        raise IndexFormatError(f"{path}: missing beside its index {idx_path(prefix).name}; {_REDO}")
    size = path.stat().st_size
    need = int(index.pointers[-1]) + int(index.lengths[-1]) * index.dtype.itemsize if index.pointers.size else 0
    if size != need:
        cut = "cut off" if size < need else "longer than its index says"
        raise IndexFormatError(f"{path}: {size:,} bytes, its index {idx_path(prefix).name} needs {need:,} "
                               f"({index.num_tokens:,} {index.dtype} tokens): the file is {cut}; {_REDO}")
    return index


class Reader:
    """Random access to the sequences of ``<prefix>.bin/.idx`` (memory-mapped), checked by ``check``."""

    def __init__(self, prefix: str | Path):
        self.index = check(prefix)
        size = bin_path(prefix).stat().st_size
        self._bin = (np.memmap(bin_path(prefix), dtype=self.index.dtype, mode="r") if size
                     else np.zeros(0, self.index.dtype))

    def __len__(self) -> int:
        return len(self.index.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        start = int(self.index.pointers[i]) // self.index.dtype.itemsize
        return np.asarray(self._bin[start:start + int(self.index.lengths[i])])

    @property
    def num_documents(self) -> int:
        """Number of documents (document indices minus one)."""
        return len(self.index.doc_indices) - 1


def merge(parts: list[Path], prefix: Path) -> Index:
    """Concatenate datasets ``parts`` (prefixes, in order) into ``prefix``; return the new index."""
    dtypes = {read_index(idx_path(p)).dtype for p in parts}
    assert len(dtypes) <= 1, f"cannot merge datasets of dtypes {sorted(map(str, dtypes))}"
    builder = Builder(prefix, dtypes.pop() if dtypes else np.dtype(np.uint16))
    for p in parts:
        builder.add_dataset(p)
    return builder.finalize()

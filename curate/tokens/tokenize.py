"""Tokenize documents into Megatron shards: a per-shard map, then a per-source merge.

``tokenize_task`` encodes one Parquet shard with the fast tokenizer in batches
(``encode_batch_fast``, no offsets), appends EOD to each document and writes a part dataset plus
``<part>.ids.parquet`` (record id and token count per document, in shard order).

``append_eod = False`` and ``empty = "none"`` give Megatron's ``preprocess_data.py`` semantics
(``curate build documents``): EOD only with ``--append-eod`` and only after a document that has
tokens, and a document without tokens is a document of no sequence in the index, so the files are
byte-identical to Megatron's.
``merge_task`` concatenates a source's parts, in shard order, into
``<source>_text_document.{bin,idx}`` and ``<source>_text_document.docs.parquet``.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.core import shards
from curate.core.executor import Result, Task
from curate.tokens import indexed, tokenizer

DOCS = pa.schema([("id", pa.string()), ("tokens", pa.int64())])


@dataclass(frozen=True)
class TokenizeConfig:
    """Tokenizer file and fingerprint, EOD id, token dtype, encoding batch size, and the EOD rule:
    ``append_eod`` (after every document), ``empty``: ``"eod"`` (an empty document is one EOD) or
    ``"none"`` (Megatron's: no EOD after an empty document, which then has no sequence)."""

    tokenizer_json: str
    tokenizer_fingerprint: str
    eod_id: int
    dtype: str
    batch_docs: int = 4096
    append_eod: bool = True
    empty: str = "eod"


@dataclass(frozen=True)
class EodRule:
    """When EOD follows a document: ``append`` (after every document with tokens), ``empty``
    (``"eod"``: an empty document is one EOD; ``"none"``: it has no sequence, as in Megatron)."""

    append: bool = True
    empty: str = "eod"


CURATE_EOD = EodRule()


def megatron_rule(append_eod: bool) -> EodRule:
    """The EOD rule of Megatron's ``preprocess_data.py`` with or without ``--append-eod``."""
    return EodRule(append_eod, "none")


def encode(texts: list[str], cfg: TokenizeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of ``texts`` with EOD after each (by the config's rule), flattened, and the
    per-document lengths."""
    tok = tokenizer.load(cfg.tokenizer_json)
    ids = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
    if not cfg.append_eod:
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        return np.fromiter(chain.from_iterable(ids), dtype=cfg.dtype, count=int(lengths.sum())), lengths
    if cfg.empty == "none":
        eod: tuple[int, ...] = (cfg.eod_id,)
        lengths = np.fromiter((len(x) + 1 if x else 0 for x in ids), dtype=np.int64, count=len(ids))
        flat = np.fromiter(chain.from_iterable(chain(x, eod) for x in ids if x), dtype=cfg.dtype,
                           count=int(lengths.sum()))
        return flat, lengths
    lengths = np.fromiter((len(x) + 1 for x in ids), dtype=np.int64, count=len(ids))
    eod = (cfg.eod_id,)
    flat = np.fromiter(chain.from_iterable(chain(x, eod) for x in ids), dtype=cfg.dtype,
                       count=int(lengths.sum()))
    return flat, lengths


def tokenize_task(task: Task) -> Result:
    """Tokenize shard ``inputs[0]`` into the part dataset ``<out_dir>/<name>``."""
    cfg: TokenizeConfig = task.config
    pf = pq.ParquetFile(task.inputs[0])
    prefix = Path(task.out_dir) / task.name
    ids: list[pa.Array] = []
    per_doc: list[np.ndarray] = []
    with indexed.Builder(prefix, np.dtype(cfg.dtype)) as builder:  # the one streaming Megatron writer
        for batch in pf.iter_batches(batch_size=cfg.batch_docs, columns=["id", "text"]):
            flat, doc_lengths = encode(batch.column("text").to_pylist(), cfg)
            builder.add_documents(flat, doc_lengths)
            per_doc.append(doc_lengths)
            ids.append(batch.column("id"))
    lengths = np.concatenate(per_doc) if per_doc else np.zeros(0, np.int64)
    docs = pa.Table.from_arrays(
        [pa.chunked_array(ids, pa.string()) if ids else pa.array([], pa.string()), pa.array(lengths)],
        schema=DOCS)
    shards.write(docs, task.out(".ids.parquet"))
    return Result({"bin": [f"{task.name}.bin"], "idx": [f"{task.name}.idx"],
                   "ids": [f"{task.name}.ids.parquet"]},
                  {"documents": len(lengths), "tokens": int(lengths.sum())})


@dataclass(frozen=True)
class MergeConfig:
    """Part prefixes (in order) to merge into ``<name>``."""

    parts: tuple[str, ...]


def merge_task(task: Task) -> Result:
    """Merge part datasets into ``<out_dir>/<name>.{bin,idx}`` and ``<name>.docs.parquet``."""
    cfg: MergeConfig = task.config
    prefix = Path(task.out_dir) / task.name
    index = indexed.merge([Path(p) for p in cfg.parts], prefix)
    docs = [pq.read_table(f"{p}.ids.parquet", schema=DOCS) for p in cfg.parts]
    table = pa.concat_tables(docs) if docs else DOCS.empty_table()
    documents = len(index.doc_indices) - 1
    assert table.num_rows == documents, "document ids and index disagree"
    shards.write(table, task.out(".docs.parquet"))
    return Result({"bin": [f"{task.name}.bin"], "idx": [f"{task.name}.idx"],
                   "docs": [f"{task.name}.docs.parquet"]},
                  {"documents": documents, "tokens": index.num_tokens})

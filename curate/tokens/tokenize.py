"""Tokenize documents into Megatron shards: a per-shard map, then a per-source merge.

``tokenize_task`` encodes one Parquet shard with the fast tokenizer in batches
(``encode_batch_fast``, no offsets), appends EOD to each document and writes a part dataset plus
``<part>.ids.parquet`` (record id and token count per document, in shard order).
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
    """Tokenizer file and fingerprint, EOD id, token dtype and encoding batch size."""

    tokenizer_json: str
    tokenizer_fingerprint: str
    eod_id: int
    dtype: str
    batch_docs: int = 1024


def encode(texts: list[str], cfg: TokenizeConfig) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of ``texts`` with EOD after each, flattened, and the per-document lengths."""
    tok = tokenizer.load(cfg.tokenizer_json)
    ids = [e.ids for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
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
    with indexed.Builder(prefix, np.dtype(cfg.dtype)) as builder:  # the one streaming Megatron writer
        for batch in pf.iter_batches(batch_size=cfg.batch_docs, columns=["id", "text"]):
            builder.add_documents(*encode(batch.column("text").to_pylist(), cfg))
            ids.append(batch.column("id"))
    lengths = np.concatenate(builder.lengths) if builder.lengths else np.zeros(0, np.int64)
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
    assert table.num_rows == len(index.lengths), "document ids and index disagree"
    shards.write(table, task.out(".docs.parquet"))
    return Result({"bin": [f"{task.name}.bin"], "idx": [f"{task.name}.idx"],
                   "docs": [f"{task.name}.docs.parquet"]},
                  {"documents": len(index.lengths), "tokens": index.num_tokens})

"""Tokenize documents into Megatron shards: a per-shard map, then a per-source merge.

``tokenize_task`` encodes one Parquet shard with the fast tokenizer in batches
(``encode_batch_fast``, no offsets), appends EOD to each document and writes a part dataset plus
``<part>.ids.parquet`` (record id and token count per document, in shard order).

``append_eod = False`` and ``empty = "none"`` give Megatron's ``preprocess_data.py`` semantics
(``curate build documents``): EOD only with ``--append-eod`` and only after a document that has
tokens, and a document without tokens is a document of no sequence in the index, so the files are
byte-identical to Megatron's.
``then_tokenize`` runs a source's last per-shard task (a read, an apply) and then tokenizes the record
shards it wrote into one part dataset, in the same task: the records are not read again by a pass of
their own, and no worker waits for the slowest task of one more pass.
``merge_task`` concatenates a source's parts, in shard order, into
``<source>_text_document.{bin,idx}`` and ``<source>_text_document.docs.parquet``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.core import shards
from curate.core.executor import Result, Task
from curate.tokens import indexed, tokenizer

# Per document of a token dataset, in index order: its record id, its tokens (EOD included) and the characters
# (code points) of its text, which the report's length histograms read instead of the text.
DOCS = pa.schema([("id", pa.string()), ("tokens", pa.int64()), ("chars", pa.int64())])


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
    ids = [e.ids for part in tokenizer.calls(texts) for e in tok.encode_batch_fast(part, add_special_tokens=False)]
    if cfg.append_eod:  # each list gets its EOD in place: one flat pass below, no per-document chain
        every = cfg.empty != "none"
        for x in ids:
            if x or every:
                x.append(cfg.eod_id)
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    return np.fromiter(chain.from_iterable(ids), dtype=cfg.dtype, count=int(lengths.sum())), lengths


def tokenize_task(task: Task) -> Result:
    """Tokenize shard ``inputs[0]`` into the part dataset ``<out_dir>/<name>``."""
    documents, tokens = _tokenize_shards([task.inputs[0]], Path(task.out_dir) / task.name, task.config)
    return Result({"bin": [f"{task.name}.bin"], "idx": [f"{task.name}.idx"],
                   "ids": [f"{task.name}.ids.parquet"]}, {"documents": documents, "tokens": tokens})


def _tokenize_shards(paths: list[str | Path], prefix: Path, cfg: TokenizeConfig,
                     kept: dict[str, pa.Table] | None = None) -> tuple[int, int]:
    """Record shards, in order, into the part dataset ``prefix`` (``.bin``, ``.idx``, ``.ids.parquet``);
    returns its documents and tokens. ``kept``: the shards' tables by path, where still in memory."""
    import pyarrow.compute as pc

    ids: list[pa.Array] = []
    chars: list[pa.Array] = []
    per_doc: list[np.ndarray] = []
    with indexed.Builder(prefix, np.dtype(cfg.dtype)) as builder:  # the one streaming Megatron writer
        for path in paths:
            for batch in _batches(path, cfg.batch_docs, (kept or {}).get(str(path))):
                text = batch.column("text")
                flat, doc_lengths = encode(text.to_pylist(), cfg)
                builder.add_documents(flat, doc_lengths)
                per_doc.append(doc_lengths)
                ids.append(batch.column("id"))
                chars.append(pc.utf8_length(text).cast(pa.int64()))
    lengths = np.concatenate(per_doc) if per_doc else np.zeros(0, np.int64)
    docs = pa.Table.from_arrays(
        [pa.chunked_array(ids, pa.string()) if ids else pa.array([], pa.string()), pa.array(lengths),
         pa.chunked_array(chars, pa.int64()) if chars else pa.array([], pa.int64())], schema=DOCS)
    shards.write(docs, Path(f"{prefix}.ids.parquet"))
    return len(lengths), int(lengths.sum())


def _batches(path: str | Path, size: int, table: pa.Table | None) -> Any:
    """The ``id`` and ``text`` of a record shard in batches of ``size``: from ``table`` (the shard as it was
    written, still in memory) or else from the file."""
    if table is None:
        return pq.ParquetFile(path).iter_batches(batch_size=size, columns=["id", "text"])
    table = table.select(["id", "text"])
    if table.schema != _ID_TEXT:
        table = table.cast(_ID_TEXT)
    return table.to_batches(max_chunksize=size)


_ID_TEXT = pa.schema([("id", pa.string()), ("text", pa.string())])
TOKEN_ROLES = ("bin", "idx", "ids")  # the outputs of a part dataset, by role


@dataclass(frozen=True)
class ThenTokenize:
    """A per-shard task (``fn`` with its ``config``) whose record shards are then tokenized by ``tokenize``
    into the part dataset ``<parts>/<task name>`` (``parts`` relative to the task's ``out_dir``)."""

    fn: Callable[[Task], Result]
    config: Any
    tokenize: TokenizeConfig
    parts: str


def config_for(tok: tokenizer.TokenizerInfo, eod: EodRule) -> TokenizeConfig:
    """The tokenize config of a build's prepared tokenizer and EOD rule."""
    return TokenizeConfig(str(Path(tok.path) / "tokenizer.json"), tok.fingerprint, tok.eod_id,
                          str(indexed.dtype_for_vocab(tok.vocab_size)), append_eod=eod.append, empty=eod.empty)


def in_last_pass(root: Path, cfg: TokenizeConfig) -> Callable[[Task], Task]:
    """A wrapper of a source's last per-shard tasks (whose config names the ``source``): each also tokenizes
    the records it writes into ``<root>/tokens/parts/<source>/``."""

    def wrap(task: Task) -> Task:
        parts = os.path.relpath(Path(root) / "tokens" / "parts" / task.config.source, task.out_dir)
        return dataclasses.replace(task, fn=then_tokenize, config=ThenTokenize(task.fn, task.config, cfg, parts))

    return wrap


def then_tokenize(task: Task) -> Result:
    """Run the wrapped task, then tokenize the record shards it wrote, in order, into one part dataset."""
    cfg: ThenTokenize = task.config
    with shards.keeping() as kept:
        res = cfg.fn(dataclasses.replace(task, fn=cfg.fn, config=cfg.config))
    records = [Path(task.out_dir) / p for p in res.outputs.get("records", [])]
    rel = f"{cfg.parts}/{task.name}"
    documents, tokens = _tokenize_shards(records, Path(task.out_dir) / rel, cfg.tokenize, kept)
    return Result({**res.outputs, "bin": [f"{rel}.bin"], "idx": [f"{rel}.idx"], "ids": [f"{rel}.ids.parquet"]},
                  {**res.stats, "tokenized": {"documents": documents, "tokens": tokens}})


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

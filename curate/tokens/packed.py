"""Packed instruction shards: the on-disk format of stage-2 and stage-3 training data.

A build's ``packed/`` directory holds ``<split>-<NNNNN>.parquet`` files (``train``, ``valid``) and
``info.json``. Each Parquet row is one pack of ``seq_len`` tokens:

- ``input_ids`` list<int32>, exactly ``seq_len`` long, the tail padded with ``pad_id``;
- ``labels`` list<int32>, ``seq_len`` long: the token id where the token carries loss (assistant turns),
  -100 elsewhere (prompt, system and user turns, padding). Not shifted: the trainer shifts;
- ``boundaries`` list<int32>: offsets ``[0, e1, ..., ek]`` (cu_seqlens); example ``j`` occupies
  ``[boundaries[j], boundaries[j + 1])`` and ``ek == num_tokens``; positions from ``ek`` on are padding;
- ``task_id`` list<int32>, one per example (the dataset's id in ``info.json["tasks"]``);
- ``example_id`` list<string>, one per example (the record ids of the ledger);
- ``num_tokens`` int32.

``info.json``: ``seq_len``, ``pad_id``, ``eod_id``, ``tasks`` (name -> id), ``files`` per split, and
counts. The files read with ``datasets.load_dataset("parquet", data_files=...)``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curate.core.executor import atomic_path

IGNORE = -100
SCHEMA = pa.schema([
    ("input_ids", pa.list_(pa.int32())),
    ("labels", pa.list_(pa.int32())),
    ("boundaries", pa.list_(pa.int32())),
    ("task_id", pa.list_(pa.int32())),
    ("example_id", pa.list_(pa.string())),
    ("num_tokens", pa.int32()),
])


def pack_row(examples: Sequence[tuple[str, int, np.ndarray, np.ndarray]], seq_len: int, pad_id: int) -> dict:
    """One pack from ``(example id, task id, input_ids, labels)`` tuples."""
    lengths = [len(ids) for _, _, ids, _ in examples]
    total = sum(lengths)
    assert 0 < total <= seq_len, f"pack of {total} tokens does not fit {seq_len}"
    input_ids = np.full(seq_len, pad_id, np.int32)
    labels = np.full(seq_len, IGNORE, np.int32)
    at = 0
    for (_, _, ids, labs), n in zip(examples, lengths, strict=True):
        assert len(labs) == n, "labels and input_ids differ in length"
        input_ids[at:at + n], labels[at:at + n] = ids, labs
        at += n
    return {"input_ids": input_ids, "labels": labels, "boundaries": np.cumsum([0, *lengths], dtype=np.int32),
            "task_id": [t for _, t, _, _ in examples], "example_id": [e for e, _, _, _ in examples],
            "num_tokens": total}


def write(rows: Sequence[dict], path: Path) -> None:
    """Write packs as one Parquet file, atomically."""
    arrays = [pa.array([r[name] for r in rows], type=SCHEMA.field(name).type) for name in SCHEMA.names]
    with atomic_path(path) as tmp:
        pq.write_table(pa.Table.from_arrays(arrays, schema=SCHEMA), tmp, compression="zstd", row_group_size=512)


def read(path: Path) -> Iterator[dict[str, Any]]:
    """The packs of one file as dicts of numpy arrays, checking the format's invariants."""
    table = pq.read_table(path)
    if table.schema.names != SCHEMA.names:
        raise ValueError(f"{path}: not a packed shard (columns {table.schema.names})")
    for row in table.to_pylist():
        b = row["boundaries"]
        assert b[0] == 0 and b[-1] == row["num_tokens"] and len(row["task_id"]) == len(b) - 1, path
        assert len(row["input_ids"]) == len(row["labels"]), path
        yield {k: np.asarray(v) if k in ("input_ids", "labels", "boundaries", "task_id") else v
               for k, v in row.items()}


def write_info(path: Path, info: dict[str, Any]) -> None:
    """Write ``info.json`` (sorted keys, so builds compare byte for byte)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")


def read_info(directory: Path) -> dict[str, Any]:
    """A packed directory's ``info.json``."""
    return json.loads((Path(directory) / "info.json").read_text(encoding="utf-8"))

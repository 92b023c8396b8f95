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

Readers go through ``info.json``: ``PackedReader`` opens exactly the files it lists for a split, in its
order (never a glob, so a stray or half-written file is never read), with random access by pack and an
index of every example (``example_index``) for trainers that batch by examples.
"""

from __future__ import annotations

import bisect
import json
from collections import OrderedDict
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
    path = Path(directory) / "info.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not whole JSON ({err}); rerun the build that wrote it (`curate corpus`)") from None


def open_shard(path: Path) -> pq.ParquetFile:
    """A packed shard, opened memory-mapped; a cut-off or foreign file is named in a ``ValueError``."""
    try:
        return pq.ParquetFile(path, memory_map=True)
    except (pa.ArrowException, OSError) as err:
        raise ValueError(f"{path}: not a whole Parquet file ({err}); rerun the build that wrote it "
                         "(`curate corpus` rewrites a shard whose file changed)") from None


# ---- reader: one split of a packed directory, through its info.json ------------------------------------------

LIST_COLUMNS = ("input_ids", "labels", "boundaries", "task_id")


def packed_dir(path: str | Path) -> Path:
    """``<build>/packed`` when ``path`` is a build directory, else ``path`` itself."""
    path = Path(path)
    return path / "packed" if (path / "packed").is_dir() else path


def split_files(directory: Path, info: dict[str, Any], split: str) -> list[Path]:
    """The files ``info.json`` lists for ``split``, each checked to exist."""
    entry = (info.get("splits") or {}).get(split)
    if not entry or not entry.get("files"):
        listed = ", ".join(sorted(info.get("splits") or {})) or "none"
        raise FileNotFoundError(f"{directory}/info.json lists no '{split}' files (splits: {listed}); rebuild the "
                                f"stage with `curate corpus` or choose another split")
    files = [directory / name for name in entry["files"]]
    if missing := [f for f in files if not f.is_file()]:
        raise FileNotFoundError(f"{missing[0]}: listed in {directory}/info.json but missing; rebuild the stage "
                                f"with `curate corpus`")
    return files


class PackedReader:
    """Random access to the packs of one split (``reader[i]`` -> dict of numpy arrays), by ``info.json``.

    Row groups are decoded on demand into flat values + offsets per list column, so a pack is a zero-copy
    numpy slice, and kept in an LRU cache of about ``cache_bytes``.
    """

    def __init__(self, build_or_packed_dir: str | Path, split: str = "train", *, cache_bytes: int = 1 << 30):
        directory = packed_dir(build_or_packed_dir)
        if not (directory / "info.json").is_file():
            raise FileNotFoundError(f"{directory}: no info.json, not a packed directory (expected <build>/packed/ "
                                    f"from `curate corpus`)")
        self.directory, self.split = directory, split
        self.info: dict[str, Any] = read_info(directory)
        self.seq_len, self.pad_id = int(self.info["seq_len"]), int(self.info["pad_id"])
        self.files = split_files(directory, self.info, split)
        self._files = [open_shard(f) for f in self.files]
        self._groups: list[tuple[int, int]] = []  # (file, row group) in reading order
        starts = [0]
        for fi, pf in enumerate(self._files):
            if missing := set(LIST_COLUMNS) - set(pf.schema_arrow.names):
                raise ValueError(f"{self.files[fi]}: not a packed shard, columns {sorted(missing)} are missing")
            for g in range(pf.metadata.num_row_groups):
                self._groups.append((fi, g))
                starts.append(starts[-1] + pf.metadata.row_group(g).num_rows)
        self._starts = starts
        self._cache: OrderedDict[int, dict[str, Any]] = OrderedDict()
        self._cache_bytes, self._cached = cache_bytes, 0

    def __len__(self) -> int:
        return self._starts[-1]

    def _group(self, gi: int) -> dict[str, Any]:
        if gi in self._cache:
            self._cache.move_to_end(gi)
            return self._cache[gi]
        fi, g = self._groups[gi]
        table = self._files[fi].read_row_group(g)
        group: dict[str, Any] = {}
        for name in LIST_COLUMNS:
            arr = table.column(name).combine_chunks()
            group[name] = (arr.values.to_numpy(zero_copy_only=False), arr.offsets.to_numpy(zero_copy_only=False))
        group["example_id"] = table.column("example_id") if "example_id" in table.column_names else None
        group["nbytes"] = sum(v.nbytes + o.nbytes for v, o in (group[n] for n in LIST_COLUMNS))
        self._cache[gi] = group
        self._cached += group["nbytes"]
        while self._cached > self._cache_bytes and len(self._cache) > 1:
            self._cached -= self._cache.popitem(last=False)[1]["nbytes"]
        return group

    def __getitem__(self, i: int) -> dict[str, Any]:
        if not 0 <= i < len(self):
            raise IndexError(f"pack {i} out of range (0..{len(self) - 1})")
        gi = bisect.bisect_right(self._starts, i) - 1
        group, r = self._group(gi), i - self._starts[gi]
        row = {name: values[offsets[r]:offsets[r + 1]] for name, (values, offsets) in
               ((n, group[n]) for n in LIST_COLUMNS)}
        if group["example_id"] is not None:
            row["example_id"] = group["example_id"][r].as_py()
        return row

    def example_index(self) -> np.ndarray:
        """Every example of the split as rows ``(pack, start, end, task_id)`` [E, 4] (reads two columns only)."""
        parts = []
        base = 0
        for pf in self._files:
            table = pf.read(columns=["boundaries", "task_id"])
            for bounds, tasks in zip(table.column("boundaries").to_pylist(), table.column("task_id").to_pylist(),
                                     strict=True):
                b = np.asarray(bounds, dtype=np.int64)
                if len(b) < 2 or len(tasks) != len(b) - 1:
                    raise ValueError(f"{self.directory}: pack {base} has boundaries {b.tolist()} for "
                                     f"{len(tasks)} task ids")
                parts.append(np.stack([np.full(len(b) - 1, base), b[:-1], b[1:], np.asarray(tasks)], axis=1))
                base += 1
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros((0, 4), dtype=np.int64)

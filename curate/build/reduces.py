"""The global reduces of a build, planned as partitioned task lists so that no task holds the corpus.

- ``exact_dedup``: the hashes split by their leading bits into partitions; each partition finds its
  duplicate groups (a hash lives in one partition only);
- ``versions``: key events split by a hash of the key (a PMID's versions meet in one partition);
- ``near_dedup``: the phases of ``dedup.lsh`` (buckets, finding the documents that take part themselves
  or after an ``alive`` phase per range of map files; signature columns of the paired documents;
  components, which also writes the drop table and the report).

The drop tables of earlier steps (which ids are gone) are read one table at a time and matched against
a task's own ids, so no task holds every removed id.

Partition counts derive from the input size (rows per task) unless the recipe sets them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from curate.core.executor import Executor, Task
from curate.core.tasks import Read, Tables, TableTaskConfig, table_inputs, table_task
from curate.dedup import exact, lsh, minhash, near

ROWS_PER_PARTITION = 4_000_000  # hash or key rows one exact-dedup or versions partition holds


def partitions(rows: int, override: int | None = None) -> int:
    """Partitions for ``rows`` input rows (at least one), or the recipe's choice."""
    return override or max(1, math.ceil(rows / ROWS_PER_PARTITION))


def _run_tables(ex: Executor, root: Path, step: str, phase: str, configs: list[tuple[Any, Any, tuple[Read, ...]]],
                ) -> list[tuple[Path, dict]]:
    """Run one phase (one task per ``(fn, config, reads)``); returns each output and its stats."""
    tasks = [Task(f"{step}/{phase}/{i}", table_task, table_inputs(reads), str(root / step / phase), f"{i:05d}",
                  TableTaskConfig(fn, cfg, reads)) for i, (fn, cfg, reads) in enumerate(configs)]
    done = ex.run(tasks, f"{step}: {phase}", unit="task")
    return [(done[t.key].files("table")[0], done[t.key].stats) for t in tasks]


@dataclass(frozen=True)
class Partition:
    """One hash partition of ``parts``."""

    part: int
    parts: int


def _bucket(values: pa.ChunkedArray | pa.Array, parts: int) -> pa.Array:
    """The partition of each binary hash or string key: its first 8 bytes (of a blake2b for keys), read
    big-endian, mod ``parts``."""
    import hashlib

    import numpy as np

    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if pa.types.is_fixed_size_binary(arr.type) and arr.type.byte_width >= 8 and arr.null_count == 0:
        width = arr.type.byte_width  # hashes: the leading bytes straight from the buffer, no Python loop
        raw = np.frombuffer(arr.buffers()[1], np.uint8)[arr.offset * width:(arr.offset + len(arr)) * width]
        lead = np.ascontiguousarray(raw.reshape(-1, width)[:, :8]).view(">u8").ravel()
        return pa.array((lead % np.uint64(parts)).astype(np.int64))
    keys = [v if isinstance(v, bytes) else hashlib.blake2b(v.encode(), digest_size=8).digest()
            for v in arr.to_pylist()]
    return pa.array(np.array([int.from_bytes(k[:8], "big") % parts for k in keys], np.int64))


def exact_partition(groups: list[Tables], cfg: Partition) -> tuple[pa.Table, dict]:
    """Duplicates within one hash partition. Groups: hash maps, drop tables of earlier steps (``id``), read
    one at a time and matched against this partition's ids only."""
    maps, drops = groups
    tables = []
    for t in maps:
        if cfg.parts > 1 and t.num_rows:
            t = t.filter(pc.equal(_bucket(t["hash"], cfg.parts), cfg.part))
        if t.num_rows:
            tables.append(t)
    if tables:
        table = pa.concat_tables(tables)
        gone = lsh.removed_ids(table["id"].combine_chunks(), drops)
        tables = [table.filter(pa.array(~gone))] if gone.any() else [table]
    return exact.reduce(tables, exact.ExactDedupConfig())


def exact_dedup(ex: Executor, root: Path, maps: list[str], exclude: list[str], override: int | None = None
                ) -> list[str]:
    """The drop tables of exact dedup, one per hash partition."""
    rows = sum(Tables(Read(tuple(maps))).rows())
    parts = partitions(rows, override)
    reads = (Read(tuple(maps)), Read(tuple(exclude), ("id",)))
    jobs = [(exact_partition, Partition(p, parts), reads) for p in range(parts)]
    out = _run_tables(ex, root, "dedup", "reduce", jobs)
    return [str(p) for p, _ in out]


def versions_partition(groups: list[Tables], cfg: Partition) -> tuple[pa.Table, dict]:
    """Versions resolved within one key partition. Groups: key-event tables."""
    from curate.readers import versions

    (keys,) = groups
    tables = [t.filter(pc.equal(_bucket(t["key"], cfg.parts), cfg.part)) if cfg.parts > 1 and t.num_rows else t
              for t in keys]
    return versions.reduce(tables)


def versions(ex: Executor, root: Path, source: str, keys: list[str], override: int | None = None) -> list[str]:
    """The drop tables of a keyed source's versions, one per key partition."""
    parts = partitions(sum(Tables(Read(tuple(keys))).rows()), override)
    reads = (Read(tuple(keys)),)
    out = _run_tables(ex, root / "sources" / source, "versions", "reduce",
                      [(versions_partition, Partition(p, parts), reads) for p in range(parts)])
    return [str(p) for p, _ in out]


def near_dedup(ex: Executor, root: Path, cfg: near.NearDedupConfig, maps: list[str], exclude: list[str]
               ) -> tuple[str, dict]:
    """Near dedup over the signature maps without the ``exclude`` drop tables; the drop table and report."""
    step = "near_dedup"
    rows = Tables(Read(tuple(maps))).rows()
    n = sum(rows)
    bands, band_rows = minhash.bands_rows(cfg.minhash)
    plan = lsh.bucket_plan(n, bands, band_rows, cfg.partitions)
    ranges = lsh.alive_plan(rows, cfg.partitions)
    taking_part: dict | None = None
    if len(ranges) == 1:  # every id fits one task: each bucket task finds the documents that take part
        plan = [replace(bc, alive=True) for bc in plan]
        second = Read(tuple(exclude), ("id",))
    else:
        alive_out = _run_tables(ex, root, step, "alive", [
            (lsh.alive, cfg, (Read(tuple(maps[a:b]), ("id", "has_sig")), Read(tuple(exclude), ("id",))))
            for a, b in ranges])
        second = Read(tuple(str(p) for p, _ in alive_out))
        taking_part = {k: sum(s[k] for _, s in alive_out) for k in ("documents", "signed")}
    parts = _run_tables(ex, root, step, "buckets", [
        (lsh.buckets, bc, (Read(tuple(maps), bc.columns()), second)) for bc in plan])
    taking_part = taking_part or {k: parts[0][1][k] for k in ("documents", "signed")}
    pairs = Read(tuple(str(p) for p, _ in parts))
    groups = lsh.count_plan(min(n, 2 * sum(s["pairs"] for _, s in parts)), cfg.minhash.num_perm, cfg.partitions)
    jobs: list[tuple[Any, Any, tuple[Read, ...]]] = [
        (lsh.pair_columns, g, (Read(tuple(maps), tuple(lsh.sig_column(c) for c in g)), pairs)) for g in groups]
    if cfg.verify == "exact":  # beside the columns tasks: both need only the pairs
        jobs.append((lsh.exact_verify, cfg, (Read(tuple(maps), ("shingles",)), pairs)))
    out = [str(p) for p, _ in _run_tables(ex, root, step, "columns", jobs)]
    (drops, stats), = _run_tables(ex, root, step, "components", [
        (lsh.components, lsh.ClusterConfig(cfg, taking_part["documents"], taking_part["signed"]),
         (pairs, Read(tuple(out[:len(groups)])), Read(tuple(out[len(groups):])),
          Read(tuple(maps), ("id", "rank", "quality", "length"))))])
    return str(drops), stats

"""The report reads its shards a few files ahead in threads, in order, and stops where its caller stops."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curate.build import aggregate


def test_results_come_in_file_order_and_reading_stops_with_the_caller():
    paths = [Path(f"f{i}") for i in range(40)]
    seen, lock = [], threading.Lock()

    def fn(path: Path) -> str:
        time.sleep(0.002 * (hash(path.name) % 3))  # finish out of order
        with lock:
            seen.append(path)
        return path.name

    assert list(aggregate.per_file(fn, paths)) == [p.name for p in paths]
    seen.clear()
    for name in aggregate.per_file(fn, paths):
        if name == "f2":
            break
    assert len(seen) < 20  # a few files ahead, not all forty


def test_texts_are_found_across_shards(tmp_path):
    paths = []
    for k in range(5):
        ids = [f"s/f#L{k * 100 + i}" for i in range(100)]
        path = tmp_path / f"{k}.parquet"
        pq.write_table(pa.table({"id": ids, "text": [f"text of {i}" for i in ids]}), path, row_group_size=30)
        paths.append(path)
    wanted = {"s/f#L5", "s/f#L250", "s/f#L499", "s/f#missing"}
    assert aggregate.texts(paths, wanted, limit=12) == {"s/f#L5": "text of s/f#", "s/f#L250": "text of s/f#",
                                                         "s/f#L499": "text of s/f#"}
    assert aggregate.texts(paths, set()) == {}

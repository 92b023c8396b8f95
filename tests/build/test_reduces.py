"""Partitioned global reduces give the same drops whatever the partition count."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from curate.build import reduces
from curate.core import shards
from curate.core.executor import Executor
from curate.dedup import exact


def _drops(paths):
    tables = [pq.read_table(p) for p in paths]
    return sorted(pa.concat_tables(tables).to_pylist(), key=lambda r: r["id"])


def test_exact_dedup_partitions(tmp_path):
    texts = [f"document number {i % 37}" for i in range(300)]
    maps = []
    for k in range(3):
        ids = [f"s{k}/f#{i}" for i in range(k, 300, 3)]
        side = pa.table({"hash": pa.array([exact.text_hash(texts[i]) for i in range(k, 300, 3)], pa.binary(16)),
                         "rank": pa.array([k] * len(ids), pa.int32()), "id": ids})
        pq.write_table(side, tmp_path / f"h{k}.parquet")
        maps.append(str(tmp_path / f"h{k}.parquet"))
    gone = tmp_path / "quality.parquet"
    shards.write(shards.drops_table(pa.table({"id": ["s0/f#0"], "reason": ["min_chars"], "detail": [""]})), gone)
    results = []
    for parts in (1, 4, 16):
        with Executor(1, progress=False) as ex:
            results.append(_drops(reduces.exact_dedup(ex, tmp_path / f"p{parts}", maps, [str(gone)], parts)))
    assert results[0] == results[1] == results[2]
    assert len(results[0]) == 300 - 37 - 1  # one copy of each text kept; the quality drop is not a candidate
    assert all(r["id"] != "s0/f#0" for r in results[0])


def test_versions_partitions(tmp_path):
    from curate.readers import KEYS

    rows = []
    for f, name in enumerate(["base.xml", "upd1.xml", "upd2.xml"]):
        for pmid in range(f, 40):
            rows.append((f"pmid:{pmid}", f"a/{name}#PMID{pmid}", "record", "", name, pmid))
    rows.append(("pmid:5", "", "delete", "deleted_citation|deleted", "upd2.xml", 99))
    table = pa.Table.from_arrays([pa.array(c) for c in zip(*rows, strict=True)], schema=KEYS)
    pq.write_table(table, tmp_path / "keys.parquet")
    results = []
    for parts in (1, 3, 8):
        with Executor(1, progress=False) as ex:
            results.append(_drops(reduces.versions(ex, tmp_path / f"p{parts}", "articles",
                                                   [str(tmp_path / "keys.parquet")], parts)))
    assert results[0] == results[1] == results[2]
    assert {r["reason"] for r in results[0]} == {"superseded", "deleted_citation"}

"""``curate audit`` of an instruction build (``manifest.json`` ``kind = "instruct"``), from its files.

Per source, recounted from the shards, the ledger and the packs (not from the manifest's figures):

- the load balances: the source's ``load`` shards + its ``load`` ledger removals = the records the
  manifest says were loaded, and, when the loader counted its input units, units = records + ledger;
- every example loaded is packed (once, or as the weight's copies ``<id>~2``, ...) or removed by a
  ledger row of a later step (guard, select, tokenize), and never both;
- the examples packed per source equal the manifest's ``examples_out``;
- the packed shards and the other outputs match the checksums in ``manifest.json``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq

from curate.core import ledger as ledger_mod
from curate.core.executor import digest


def _ids(paths: list[Path]) -> list[str]:
    return [x for p in paths for x in pq.read_table(p, columns=["id"]).column("id").to_pylist()]


def _packed(root: Path) -> Counter[str]:
    """Examples in the packs by base id (a weight's copy ``<id>~2`` counts for ``<id>``)."""
    found: Counter[str] = Counter()
    for path in sorted((root / "packed").glob("*.parquet")):
        for ids in pq.read_table(path, columns=["example_id"]).column("example_id").to_pylist():
            found.update(i.rsplit("~", 1)[0] if i.rpartition("~")[2].isdigit() else i for i in ids)
    return found


def _source(root: Path, name: str, entry: dict[str, Any], removals: pl.DataFrame, packed: Counter[str],
            lines: list[str], problems: list[str]) -> None:
    mine = removals.filter(pl.col("source") == name)
    loaded = _ids(sorted((root / "sources" / name / "load").glob("*.parquet")))
    at_load = mine.filter(pl.col("step") == "load").height
    records_in = len(loaded) + at_load
    if records_in != entry.get("records_in", records_in):
        problems.append(f"{name}: load recount {records_in} (shards {len(loaded)} + ledger {at_load}) != "
                        f"recorded {entry['records_in']}")
    later = set(mine.filter(pl.col("step") != "load")["id"].to_list())
    out = sum(packed[i] for i in set(loaded))
    both = sorted(i for i in loaded if i in later and packed[i])[:3]
    lost = sorted(i for i in loaded if i not in later and not packed[i])[:3]
    if both:
        problems.append(f"{name}: examples both packed and removed: {both}")
    if lost:
        problems.append(f"{name}: examples loaded but neither packed nor in the ledger: {lost}")
    if "examples_out" in entry and out != entry["examples_out"]:
        problems.append(f"{name}: {out} examples in the packs != {entry['examples_out']} in the manifest")
    status = "MISMATCH" if any(p.startswith(f"{name}:") for p in problems) else "ok"
    lines.append(f"  {name:<18} in {records_in:>8,}  loaded {len(loaded):>8,}  packed {out:>8,}  "
                 f"removed {mine.height:>7,}  {status}")
    stats = entry.get("stats", {})
    if "units_raw" in stats:
        raw, kept, ledgered = (int(stats[k]) for k in ("units_raw", "units_records", "units_ledger"))
        ok = raw == kept + ledgered
        lines.append(f"  {name:<18} input units {raw:,} = {kept:,} in records + {ledgered:,} in the ledger  "
                     f"{'ok' if ok else 'MISMATCH'}")
        if not ok:
            problems.append(f"{name}: {raw - kept - ledgered:,} input units vanished inside the loader")


def audit(root: Path, manifest: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Lines and problems of an instruction build's audit."""
    lines, problems = [f"audit {root} (instruction build)"], []
    table = pl.from_arrow(ledger_mod.read([root / "ledger.parquet"]))
    removals = table.filter(pl.col("action").is_in(list(ledger_mod.REMOVALS)))
    packed = _packed(root)
    for name, entry in manifest.get("sources", {}).items():
        _source(root, name, entry, removals, packed, lines, problems)
    unknown = set(table["source"].unique().to_list()) - set(manifest.get("sources", {}))
    if unknown:
        problems.append(f"ledger rows for sources not in the build: {sorted(unknown)}")
    for out in manifest.get("outputs", []):
        path = root / out["path"]
        if not path.is_file() or digest(path) != out["sha256"]:
            problems.append(f"{out['path']}: missing or checksum differs from manifest.json")
    lines.append(f"  outputs: {len(manifest.get('outputs', []))} files checked against manifest.json")
    return lines, problems

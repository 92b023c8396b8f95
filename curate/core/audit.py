"""``curate audit``: prove from the files of a build that no record was lost.

For every source, recounted from the shards, the ledger and the token index (not from the
manifest's own figures):

- each pass balances: rows of the shards it read = rows of the shards it wrote + the records its
  steps' ledger rows removed (a pass runs several steps fused over each shard);
- each step balances: the records the pass recorded into and out of the step differ by exactly the
  records the step's ledger rows remove, and the steps of a pass chain (out of one = into the next);
- the source balances: records read (kept + removed at read) = final documents + all removals;
- ids balance: every id read is either in the final output or removed, exactly once;
- the raw input balances, for readers that count their input units (``readers`` docstring): units
  counted from the raw files before parsing (lines, rows, items, articles, pages) = units held by
  records + units accounted for by ledger rows, so that nothing vanished inside a reader;
- final output files match the checksums in ``manifest.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from curate.core import ledger as ledger_mod
from curate.core import shards, textbalance
from curate.core.executor import digest
from curate.tokens import indexed


@dataclass
class AuditReport:
    """Per-source lines and the problems found (empty when the build balances)."""

    lines: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing is out of balance."""
        return not self.problems


def _ids(root: Path, paths: list[str], column: str = "id") -> pl.Series:
    frames = [pl.read_parquet(root / p, columns=[column]) for p in paths]
    return pl.concat(frames)[column] if frames else pl.Series(column, [], pl.String)


def _audit_passes(root: Path, name: str, passes: list[dict], removed: Counter, report: AuditReport) -> int:
    """Recount each pass from its shards; returns the records after the last pass."""
    prev = None
    for p in passes:
        out = sum(shards.rows(root / x) for x in p["shards"])
        steps = p["steps"]
        if p["pass"] == "read":
            prev = out
            continue
        into = sum(shards.rows(root / x) for x in p["inputs"])
        if into != prev:
            report.problems.append(f"{name}/{p['pass']}: reads {into} records, the pass before wrote {prev}")
        gone = sum(removed[s["step"]] for s in steps)
        if into != out + gone:
            report.problems.append(f"{name}/{p['pass']}: {into} in != {out} out + {gone} removed")
        expected = into
        for s in steps:
            if s["in"] != expected or s["in"] != s["out"] + removed[s["step"]]:
                report.problems.append(f"{name}/{s['step']}: {s['in']} in (expected {expected}) != {s['out']} "
                                       f"out + {removed[s['step']]} removed")
            expected = s["out"]
        prev = out
    return prev or 0


def _audit_source(root: Path, name: str, flow: dict, removals: pl.DataFrame, report: AuditReport) -> None:
    mine = removals.filter(pl.col("source") == name)
    removed = Counter(dict(mine.group_by("step").len().iter_rows()))
    passes = flow["passes"]
    read_shards = passes[0]["shards"]
    read_out = sum(shards.rows(root / p) for p in read_shards)
    records_in = read_out + removed["read"]
    if records_in != flow["records_in"]:
        report.problems.append(f"{name}: read recount {records_in} != recorded {flow['records_in']}")
    prev = _audit_passes(root, name, passes, removed, report)
    final_ids = _ids(root, passes[-1]["shards"])
    if flow.get("tokens"):
        docs = indexed.Reader(root / flow["tokens"]).num_documents
        if docs != prev:
            report.problems.append(f"{name}/tokens: {docs} documents in the index != {prev} records")
        final_ids = _ids(root, [f"{flow['tokens']}.docs.parquet"])
        prev = docs
    total_removed = sum(removed.values())
    if records_in != prev + total_removed:
        report.problems.append(f"{name}: {records_in} in != {prev} out + {total_removed} removed")
    read_ids = pl.concat([_ids(root, read_shards), mine.filter(pl.col("step") == "read")["id"]])
    later = mine.filter(pl.col("step") != "read")["id"]
    accounted = pl.concat([final_ids, later])
    if accounted.is_duplicated().any():
        dup = accounted.filter(accounted.is_duplicated()).unique().sort().head(3).to_list()
        report.problems.append(f"{name}: ids both kept and removed, or twice: {dup}")
    if set(accounted.to_list()) != set(_ids(root, read_shards).to_list()):
        report.problems.append(f"{name}: final + removed ids differ from the ids read")
    status = "MISMATCH" if any(p.startswith((f"{name}:", f"{name}/")) for p in report.problems) else "ok"
    report.lines.append(f"  {name:<14} in {records_in:>9,}  out {prev:>9,}  removed {total_removed:>8,}"
                        f"  (read ids {len(read_ids):,})  {status}")


def _audit_units(name: str, stats: dict, report: AuditReport) -> None:
    """Raw input units = units in records + units in the ledger (the reader's statistics)."""
    if "units_raw" not in stats:
        report.lines.append(f"  {name:<14} input units: not counted by this reader")
        return
    raw, kept, ledgered = (int(stats[k]) for k in ("units_raw", "units_records", "units_ledger"))
    status = "ok" if raw == kept + ledgered else "MISMATCH"
    report.lines.append(f"  {name:<14} input units {raw:>9,} = {kept:,} in records + {ledgered:,} in the ledger"
                        f"  {status}")
    if status != "ok":
        report.problems.append(f"{name}: {raw:,} input units read but {kept:,} in records + {ledgered:,} in the "
                               f"ledger: {raw - kept - ledgered:,} vanished inside the reader")


def audit(root: Path) -> AuditReport:
    """Audit the build in ``root``."""
    report = AuditReport()
    manifest_path = root / "manifest.json"
    if manifest_path.is_file() and (root / "ledger.parquet").is_file():
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("kind") == "instruct":  # stages 2 and 3: loaded, guarded, selected, packed
            from curate.core import audit_instruct

            report.lines, report.problems = audit_instruct.audit(root, manifest)
            return report
    for name in ("flow.json", "manifest.json", "ledger.parquet"):
        if not (root / name).is_file():
            report.problems.append(f"{root}: missing {name}; is this a curate build directory?")
            return report
    flow = json.loads((root / "flow.json").read_text())
    manifest = json.loads((root / "manifest.json").read_text())
    table = pl.from_arrow(ledger_mod.read([root / "ledger.parquet"]))
    removals = table.filter(pl.col("action").is_in(list(ledger_mod.REMOVALS)))
    report.lines.append(f"audit {root}")
    for name, source_flow in flow.items():
        _audit_source(root, name, source_flow, removals, report)
        _audit_units(name, manifest.get("sources", {}).get(name, {}).get("stats", {}), report)
    text_lines, text_problems = textbalance.audit(root, flow, manifest)  # characters, for sources that cut text
    report.lines += text_lines
    report.problems += text_problems
    unknown = set(table["source"].unique().to_list()) - set(flow)
    if unknown:
        report.problems.append(f"ledger rows for sources not in the build: {sorted(unknown)}")
    for out in manifest["outputs"]:
        path = root / out["path"]
        if not path.is_file() or digest(path) != out["sha256"]:
            report.problems.append(f"{out['path']}: missing or checksum differs from manifest.json")
    report.lines.append(f"  outputs: {len(manifest['outputs'])} files checked against manifest.json")
    return report

"""One ``curate build`` of hostile files, and a view of what it wrote (read-pass records, ledger rows)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq

from curate.core.audit import audit
from tests.hostile.harness import LOSS, TRACEBACK, UNCLEAR, Defect, Run, cli, defects_of_run


@dataclass
class BuildView:
    """The records a build's read pass wrote and its ledger, for one source."""

    root: Path
    source: str
    records: list[dict] = field(default_factory=list)
    ledger: list[dict] = field(default_factory=list)

    @classmethod
    def load(cls, root: Path, source: str) -> BuildView:
        view = cls(root, source)
        flow_path = root / "flow.json"
        if flow_path.is_file():
            flow = json.loads(flow_path.read_text()).get(source, {})
            shards = [root / p for p in flow.get("passes", [{}])[0].get("shards", [])]
        else:
            shards = sorted((root / "sources" / source / "read").glob("*.parquet"))
        for shard in shards:
            for row in pq.read_table(shard, columns=["id", "text", "meta"]).to_pylist():
                meta = row["meta"]
                row["meta"] = json.loads(meta) if isinstance(meta, str) and meta.startswith("{") else {}
                view.records.append(row)
        if (root / "ledger.parquet").is_file():
            view.ledger = pq.read_table(root / "ledger.parquet").to_pylist()
        return view

    def prefix(self, relpath: str) -> str:
        """The id of a file (records inside it are ``<prefix>#<locator>``)."""
        return f"{self.source}/{relpath}"

    def _mine(self, row_id: str, relpath: str) -> bool:
        p = self.prefix(relpath)
        return relpath == "*" or row_id == p or row_id.startswith(p + "#")

    def for_file(self, relpath: str) -> tuple[list[dict], list[dict]]:
        """(records, ledger rows) of one input file; ``*`` for all of them."""
        records = [r for r in self.records if self._mine(r["id"], relpath) or r["meta"].get("file") == relpath]
        rows = [r for r in self.ledger if self._mine(r["id"], relpath)]
        return records, rows

    def mentions(self, text: str) -> bool:
        """Whether ``text`` appears in any record, ledger row or JSON file of the build."""
        if any(text in r["text"] or text in json.dumps(r["meta"], ensure_ascii=False) for r in self.records):
            return True
        if any(text in (r["detail"] or "") or text in r["id"] for r in self.ledger):
            return True
        return any(text in p.read_text(errors="replace") for p in self.root.glob("*.json"))


@dataclass
class BuildOutcome:
    """A finished (or failed) build: the run, the view of its files, the audit, and its own defects."""

    run: Run
    view: BuildView | None
    audited: bool | None  # curate audit passed (None: the build failed, nothing to audit)
    defects: list[Defect]

    @property
    def clean(self) -> bool:
        """No defect of the build as a whole: its files can be checked one by one."""
        return not self.defects


def build(reader: str, inputs: Path | Sequence[str | Path], out: Path, args: Sequence[str] = (), *,
          timeout: float = 45.0, cwd: Path | None = None) -> BuildOutcome:
    """``curate build READER --input INPUT... --out OUT`` in a guarded subprocess, then ``curate audit``."""
    given = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
    run = cli(["build", reader, *(a for i in given for a in ("--input", i)), "--out", out, "--workers", "1",
               "--no-progress", *args], timeout=timeout, cwd=cwd)
    defects = defects_of_run(run)
    root = out / reader
    if run.code not in (0, None) and not defects:
        defects.append(Defect(UNCLEAR, f"the build failed (exit {run.code}): {run.error_line()[:200]}"))
    if run.code != 0:
        view = BuildView.load(root, reader) if (root / "ledger.parquet").is_file() else None
        return BuildOutcome(run, view, None, defects)
    report = audit(root)  # what `curate audit` runs (and exits 1 on); a function here, as builds run in threads
    if not report.ok:
        defects.append(Defect(LOSS, f"curate audit fails: {' | '.join(report.problems)[:300]}"))
    return BuildOutcome(run, BuildView.load(root, reader), report.ok, defects)


def audited(root: Path) -> list[Defect]:
    """Defects unless ``curate audit`` passes on ``root`` (the function the command runs; thread-safe)."""
    try:
        report = audit(root)
    except Exception as err:  # the command would show this as a traceback
        return [Defect(TRACEBACK, f"curate audit: {type(err).__name__}: {err}"[:300])]
    if report.ok:
        return []
    said = " | ".join(report.problems)[:300]
    return [Defect(UNCLEAR if "missing" in said else LOSS, f"curate audit fails: {said}")]

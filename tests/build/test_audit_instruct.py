"""``curate audit`` of an instruction build: loaded = packed + ledgered, recounted from the files."""

from __future__ import annotations

import shutil

import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.cli import main
from curate.core.audit import audit


def test_instruction_build_audits_and_a_lost_example_is_caught(stage2_build, tmp_path):
    result = CliRunner().invoke(main, ["audit", str(stage2_build)])
    assert result.exit_code == 0, result.output
    assert "instruction build" in result.output and "MISMATCH" not in result.output
    broken = tmp_path / "stage2"
    shutil.copytree(stage2_build, broken)
    ledger = pq.read_table(broken / "ledger.parquet")
    assert ledger.num_rows > 0
    pq.write_table(ledger.slice(1), broken / "ledger.parquet")  # one removal no longer accounted for
    report = audit(broken)
    assert not report.ok
    assert any("neither packed nor in the ledger" in p or "load recount" in p for p in report.problems)

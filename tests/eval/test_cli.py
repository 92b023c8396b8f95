"""The model commands through the command line: eval, report stages, annotate, train errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from curate.cli import main


def test_eval_pubmedqa_writes_the_official_predictions(tiny_export: Path, pqal_files: tuple[Path, Path],
                                                      tmp_path: Path) -> None:
    data, test_ids = pqal_files
    out = tmp_path / "eval"
    result = CliRunner().invoke(main, ["eval", "pubmedqa", "--data", str(data), "--test-ids", str(test_ids),
                                       "--model", str(tiny_export), "--out", str(out), "--method", "acc"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output[result.output.index("{"):])["n"] == 6
    predictions = json.loads((out / "predictions.json").read_text())
    assert set(predictions) == set(json.loads(test_ids.read_text())) and set(predictions.values()) <= {
        "yes", "no", "maybe"}


def test_report_stages_from_metrics_files(tiny_export: Path, pqal_files: tuple[Path, Path], tmp_path: Path) -> None:
    data, test_ids = pqal_files
    runner = CliRunner()
    runner.invoke(main, ["eval", "pubmedqa", "--data", str(data), "--test-ids", str(test_ids), "--model",
                         str(tiny_export), "--out", str(tmp_path / "s1")], catch_exceptions=False)
    result = runner.invoke(main, ["report", "stages", f"stage1={tmp_path / 's1' / 'metrics.json'}",
                                  "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "stage1" in (tmp_path / "report" / "stages.md").read_text()
    assert (tmp_path / "report" / "stages.png").read_bytes().startswith(b"\x89PNG")


def test_errors_are_one_line_messages(tmp_path: Path, pqal_files: tuple[Path, Path]) -> None:
    data, test_ids = pqal_files
    runner = CliRunner()
    result = runner.invoke(main, ["eval", "pubmedqa", "--data", str(data), "--test-ids", str(test_ids),
                                  "--model", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1 and "not an HF export" in result.output and "Traceback" not in result.output
    recipe = tmp_path / "bad.toml"
    recipe.write_text("[model]\nconfig = {}\n[pretrain]\nlr_typo = 1.0\n")
    result = runner.invoke(main, ["train", "--stage", "pretrain", "--config", str(recipe)])
    assert result.exit_code == 1 and "lr_typo" in result.output
    result = runner.invoke(main, ["report", "stages", "no-equals-sign"])
    assert result.exit_code == 2 and "LABEL=PATH" in result.output


def test_experiment_needs_an_experiments_table(tmp_path: Path) -> None:
    recipe = tmp_path / "r.toml"
    recipe.write_text('[model]\nconfig = { vocab_size = 64 }\n[adapt]\ndata = "x"\nsave = "y"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["experiment", "table8", "--config", str(recipe)])
    assert result.exit_code == 1 and "no [experiments] table" in result.output
    recipe.write_text(recipe.read_text() + '[experiments]\nout = "o"\npqal = "p"\n', encoding="utf-8")
    result = CliRunner().invoke(main, ["experiment", "table8", "--config", str(recipe)])
    assert result.exit_code == 1 and "test_ids is required" in result.output
    result = CliRunner().invoke(main, ["experiment", "table9", "--config", str(recipe)])
    assert result.exit_code == 2 and "table9" in result.output

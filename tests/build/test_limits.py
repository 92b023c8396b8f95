"""Limits around a build: bounded time per input file (quarantined, named, the build goes on), one build per
directory, and one-line errors naming the file instead of tracebacks."""

from __future__ import annotations

import gzip
import json

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from curate.cli import main
from curate.core.audit import audit


def test_a_file_past_the_read_timeout_is_quarantined_and_the_build_completes(tmp_path):
    qa = tmp_path / "qa"
    qa.mkdir()
    pair = {"question": "How is iron-deficiency anaemia treated?", "answer": "With oral iron and a better diet."}
    (qa / "small.jsonl").write_text(json.dumps(pair) + "\n")
    # gzip: read whole, never cut into byte ranges, so the one read task stands for the whole file
    with gzip.open(qa / "huge.jsonl.gz", "wt") as out:
        out.writelines(json.dumps({**pair, "answer": f"{pair['answer']} {i}"}) + "\n" for i in range(300_000))
    # 2.5 s: the small file reads in time, 300,000 records cannot (the reader is imported before the clock starts).
    (tmp_path / "qa.toml").write_text(f'reader = "qa"\ninputs = ["{qa}"]\nread_timeout = 2.5\n'
                                      "read_timeout_per_mb = 0\n")
    result = CliRunner().invoke(main, ["build", "qa", "--recipe", str(tmp_path / "qa.toml"), "--out",
                                       str(tmp_path / "out"), "--workers", "2", "--strict"])
    assert result.exit_code == 3, result.output  # --strict: something was quarantined
    root = tmp_path / "out" / "qa"
    rows = [r for r in pq.read_table(root / "ledger.parquet").to_pylist() if r["reason"] == "timeout"]
    assert [(r["id"], r["action"]) for r in rows] == [("qa/huge.jsonl.gz", "quarantine")]
    assert "reading 'huge.jsonl.gz' took longer than" in rows[0]["detail"] and "read_timeout" in rows[0]["detail"]
    assert audit(root).ok
    assert json.loads((root / "manifest.json").read_text())["sources"]["qa"]["records_out"] == 1


def test_a_byte_range_of_a_large_file_has_a_limit_for_its_own_size(tmp_path):
    from curate.build import pipeline, recipes

    (tmp_path / "big.jsonl").write_text("".join(json.dumps({"question": f"q{i}?", "answer": "a" * 80}) + "\n"
                                               for i in range(5_000)))
    src = recipes.source_from_dict({"reader": "qa", "inputs": [str(tmp_path / "big.jsonl")], "read_timeout": 10,
                                    "read_timeout_per_mb": 100}, tmp_path, "test")
    tasks = pipeline._bounded(src, pipeline._read_tasks(tmp_path / "build", src, 1000, 100_000))
    assert len(tasks) > 1
    for t in tasks:
        size = t.config.part["end"] - t.config.part["start"]
        assert t.timeout == pytest.approx(10 + 100 * size / 1e6)
        assert f"from line {t.config.part['line']} (bytes {t.config.part['start']}-" in t.on_timeout.what


def _qa_recipe(tmp_path):
    qa = tmp_path / "qa"
    qa.mkdir(exist_ok=True)
    (qa / "a.jsonl").write_text(json.dumps({"question": "What lowers blood pressure?",
                                            "answer": "Less salt, exercise and, when needed, medicines."}) + "\n")
    (tmp_path / "qa.toml").write_text(f'reader = "qa"\ninputs = ["{qa}"]\n')
    (tmp_path / "mix.toml").write_text('name = "mix"\n[[sources]]\nrecipe = "qa.toml"\n')
    return tmp_path / "mix.toml"


def test_a_second_build_of_the_same_directory_fails_at_once(tmp_path):
    from curate.core.lock import BuildLocked, build_lock

    recipe = _qa_recipe(tmp_path)
    root = tmp_path / "out" / "mix"
    with build_lock(root):
        with pytest.raises(BuildLocked, match="in use by another curate build"), build_lock(root):
            pass
        result = CliRunner().invoke(main, ["corpus", str(recipe), "--out", str(tmp_path / "out"), "--workers", "1"])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert f"Error: {root} is in use by another curate build (pid " in result.output
        assert "wait for it to finish, or choose another --out" in result.output
        assert not (root / "manifest.json").exists()
    result = CliRunner().invoke(main, ["corpus", str(recipe), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert (root / ".lock").read_bytes() == b""  # released and emptied: nothing machine-specific is left


def test_errors_are_one_line_naming_the_file_and_debug_shows_the_trace(tmp_path):
    recipe = _qa_recipe(tmp_path)
    out = tmp_path / "out"
    assert CliRunner().invoke(main, ["corpus", str(recipe), "--out", str(out), "--workers", "1"]).exit_code == 0
    manifest = out / "mix" / "manifest.json"
    manifest.write_text(manifest.read_text()[:50])  # half-written
    for command in (["audit", str(out / "mix")], ["report", str(out / "mix")]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and str(manifest) in lines[0] and "not valid JSON" in lines[0], result.output
    debug = CliRunner().invoke(main, ["audit", str(out / "mix"), "--debug"])
    assert debug.exit_code == 1 and type(debug.exception).__name__ == "BadFile"  # raised for the traceback
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(main, ["corpus", str(recipe), "--out", str(tmp_path / "file" / "x")])
    assert result.exit_code == 1 and "Not a directory" in result.output and str(tmp_path / "file") in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_an_unexpected_error_is_one_line_pointing_to_debug(tmp_path, monkeypatch):
    from curate.build import pipeline

    def broken(*args, **kwargs):
        raise TypeError("unsupported operand")

    monkeypatch.setattr(pipeline, "run", broken)
    result = CliRunner().invoke(main, ["corpus", str(_qa_recipe(tmp_path)), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip() == ("Error: internal error: TypeError: unsupported operand (rerun with --debug for "
                                     "the traceback, and please report it)")

"""The command line: each command on small inputs, help texts, clean error messages."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from curate.cli import main
from tests.conftest import SAMPLES


@pytest.fixture
def runner():
    return CliRunner()


def test_help_for_every_command(runner):
    for args in ([], ["corpus"], ["build"], ["build", "articles"], ["build", "qa"], ["build", "exams"],
                 ["build", "promptcblue"], ["build", "books"], ["build", "kg"], ["audit"], ["inspect"],
                 ["tokenizer", "train"]):
        result = runner.invoke(main, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage:" in result.output


def test_build_articles_then_audit_and_inspect(runner, tmp_path):
    result = runner.invoke(main, ["build", "articles", "--input", str(SAMPLES / "articles"), "--out", str(tmp_path),
                                  "--exclude-pmids", str(SAMPLES / "exclude_pmids.txt"), "--tokenizer", "bundled",
                                  "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "read/excluded_pmid: 1" in result.output and "--data-path 1 " in result.output
    root = tmp_path / "articles"
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["sources"]["articles"]["records_out"] > 5
    result = runner.invoke(main, ["audit", str(root)])
    assert result.exit_code == 0 and "balanced" in result.output
    result = runner.invoke(main, ["inspect", str(root / "tokens" / "articles_text_document"), "--index", "-1"])
    assert result.exit_code == 0, result.output
    assert "documents" in result.output and "--- [" in result.output


def test_build_without_tokenizer_writes_records_only(runner, tmp_path):
    result = runner.invoke(main, ["build", "qa", "--input", str(SAMPLES / "qa" / "en_pairs.jsonl"),
                                  "--recipe", str(SAMPLES.parent / "recipes" / "qa.toml"),
                                  "--out", str(tmp_path), "--workers", "1", "--name", "consults"])
    assert result.exit_code == 0, result.output
    root = tmp_path / "consults"
    assert not (root / "tokens").exists()
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["sources"]["consults"]["records_out"] == 19  # the recipe's min_chars drops "ok?"
    assert all(o["path"].endswith(".parquet") or o["path"] == "flow.json" for o in manifest["outputs"])
    assert runner.invoke(main, ["audit", str(root)]).exit_code == 0


def test_audit_detects_a_lost_record(runner, tmp_path):
    import pyarrow.parquet as pq

    runner.invoke(main, ["build", "qa", "--input", str(SAMPLES / "qa" / "en_pairs.jsonl"), "--out", str(tmp_path),
                         "--workers", "1"])
    root = tmp_path / "qa"
    flow = json.loads((root / "flow.json").read_text())
    shard = root / flow["qa"]["passes"][-1]["shards"][0]
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)  # silently lose one record
    result = runner.invoke(main, ["audit", str(root)])
    assert result.exit_code == 1
    assert "MISMATCH" in result.output


def test_clean_errors(runner, tmp_path):
    result = runner.invoke(main, ["build", "qa", "--input", str(tmp_path / "nope*.jsonl"), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "no input matches" in result.output
    bad = tmp_path / "bad.toml"
    bad.write_text('reader = "qa"\ninputs = ["x"]\n[options]\ntemplat = "qa"\n')
    result = runner.invoke(main, ["build", "qa", "--recipe", str(bad), "--out", str(tmp_path)])
    assert result.exit_code == 1 and "options.templat: unknown key 'templat'; did you mean 'template'?" in result.output
    result = runner.invoke(main, ["corpus", str(bad)])
    assert result.exit_code == 1 and "a source recipe (reader = 'qa'), not a mixture recipe" in result.output
    result = runner.invoke(main, ["inspect", str(tmp_path / "missing_text_document")])
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_tokenizer_train(runner, tmp_path):
    out = tmp_path / "tok"
    result = runner.invoke(main, ["tokenizer", "train", "--input", str(SAMPLES / "qa"), "--out", str(out),
                                  "--vocab-size", "600"])
    assert result.exit_code == 0, result.output
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(out))
    assert tok.eos_token == "<|endoftext|>" and len(tok) <= 600
    ids = tok("高血压 hypertension", add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == "高血压 hypertension"


def test_set_reader_options(runner, tmp_path):
    args = ["build", "articles", "--input", str(SAMPLES / "articles" / "pubmed_baseline.xml"), "--out", str(tmp_path),
            "--workers", "1"]
    result = runner.invoke(main, [*args, "--set", f"exclude_pmids={SAMPLES / 'exclude_pmids.txt'}"])
    assert result.exit_code == 0, result.output
    assert "read/excluded_pmid: 1" in result.output
    result = runner.invoke(main, [*args, "--set", "exclude=1"])
    assert result.exit_code == 1
    assert "--set exclude: unknown key 'exclude'; did you mean 'exclude_pmids'?" in result.output


def test_dedup_command_on_record_files(runner, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = " ".join(f"word{i}" for i in range(120))
    near_copy = base.replace("word60", "w")  # shorter: the keep rule prefers the longer original
    rows = {"id": ["a#1", "a#2", "a#3", "a#4"], "text": [base, base.upper(), near_copy, "something else entirely " * 9]}
    (tmp_path / "in").mkdir()
    pq.write_table(pa.table(rows), tmp_path / "in" / "docs.parquet")
    result = runner.invoke(main, ["dedup", str(tmp_path / "in"), "--out", str(tmp_path), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "dedup/exact_duplicate: 1" in result.output and "near_dedup/near_duplicate: 1" in result.output
    ledger = pq.read_table(tmp_path / "dedup" / "ledger.parquet").to_pylist()
    assert {(r["id"], r["detail"].split(" ")[0]) for r in ledger} == {("a#2", "duplicate_of=a#1"),
                                                                    ("a#3", "duplicate_of=a#1")}
    report = (tmp_path / "dedup" / "report.md").read_text()
    assert "| 0.9 |" in report and "kept `a#1`" in report
    assert runner.invoke(main, ["audit", str(tmp_path / "dedup")]).exit_code == 0

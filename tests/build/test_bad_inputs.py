"""Bad input never takes the build down: each case is ledgered with a clear message."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
from click.testing import CliRunner

from curate.cli import main
from curate.core.audit import audit
from tests.readers.test_articles import article, xml


def _write_inputs(tmp_path):
    arts = tmp_path / "articles"
    arts.mkdir()
    full = xml(*(article(n, title=f"Trial {n}.") for n in (1, 2, 3)))
    (arts / "a_good.xml").write_text(xml(article(10, title="Study ten."),
                                         article(11, date="<Year>19x8</Year>", title="Study eleven.")))
    (arts / "b_truncated.xml").write_text(full[: full.index('<PMID Version="1">3') + 5])
    (arts / "c_binary.xml").write_bytes(bytes(range(256)) * 8)
    qa = tmp_path / "qa"
    qa.mkdir()
    good = {"question": "How is iron-deficiency anaemia treated?", "answer": "With oral iron and diet."}
    (qa / "broken.jsonl").write_text(json.dumps(good) + '\n{"question": "cut\n' + json.dumps(good) + "x\n")
    (qa / "invalid_utf8.jsonl").write_bytes(
        json.dumps(good).encode() + b"\n" + b'{"question": "\x80\x81\xff\xfe ?", "answer": "x"}\n')
    (qa / "zh_gb18030.csv").write_bytes(
        "question,answer\n贫血怎么治疗？,补充铁剂，调整饮食，查找出血原因。\n".encode("gb18030"))
    (qa / "empty.jsonl").write_bytes(b"")
    (qa / "binary.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(300))
    (tmp_path / "a.toml").write_text(f'reader = "articles"\ninputs = ["{arts}"]\n[quality]\nmin_chars = 10\n')
    (tmp_path / "q.toml").write_text(f'reader = "qa"\ninputs = ["{qa}"]\n')
    (tmp_path / "mix.toml").write_text('name = "bad"\n[[sources]]\nrecipe = "a.toml"\n'
                                       '[[sources]]\nrecipe = "q.toml"\n')
    return tmp_path / "mix.toml"


def test_bad_inputs_are_quarantined_and_build_completes(tmp_path):
    recipe = _write_inputs(tmp_path)
    runner = CliRunner()
    result = runner.invoke(main, ["corpus", str(recipe), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "quarantined: 7" in result.output
    root = tmp_path / "out" / "bad"
    rows = {(r["id"].split("/", 1)[1], r["action"], r["reason"]): r["detail"]
            for r in pq.read_table(root / "ledger.parquet").to_pylist()
            if r["action"] == "quarantine" or r["reason"] == "malformed_date"}
    expected = {
        ("a_good.xml#PMID11", "modify", "malformed_date"),
        ("b_truncated.xml#item2", "quarantine", "malformed_xml"),  # the cut third article, its PMID lost
        ("c_binary.xml", "quarantine", "malformed_xml"),
        ("broken.jsonl#L2", "quarantine", "malformed_json"),
        ("broken.jsonl#L3", "quarantine", "malformed_json"),
        ("invalid_utf8.jsonl#L2", "quarantine", "undecodable"),
        ("empty.jsonl", "quarantine", "empty_file"),
        ("binary.jsonl", "quarantine", "binary_file"),
    }
    assert set(rows) == expected
    details = " | ".join(rows.values())
    for phrase in ("truncated or malformed", "it is left out, the other articles are read", "invalid JSON",
                   "invalid utf-8 bytes", "empty file", "NUL bytes", "19x8"):
        assert phrase in details
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["quarantined"] == 7
    assert manifest["sources"]["articles"]["records_out"] == 4  # 2 good + 2 read before the break
    assert manifest["sources"]["qa"]["records_out"] == 2  # the two good lines dedup to one, + the zh row
    assert audit(root).ok


def test_strict_fails_on_quarantine(tmp_path):
    recipe = _write_inputs(tmp_path)
    result = CliRunner().invoke(main, ["corpus", str(recipe), "--out", str(tmp_path / "o"), "--strict",
                                       "--workers", "1"])
    assert result.exit_code == 3
    assert "--strict: 7 quarantined" in result.output

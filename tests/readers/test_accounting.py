"""Accounting from the raw input: every line, row or item ends in a record or in the ledger."""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl

from curate import readers
from curate.build import pipeline, recipes
from curate.core.audit import audit
from curate.readers import discover_all
from curate.readers.documents import Config as DocumentsConfig
from curate.readers.qa import Config as QAConfig


def _build(tmp: Path, reader: str, inputs: list[Path], options: object) -> Path:
    src = recipes.SourceSpec(name="src", reader=reader, inputs=tuple(map(str, inputs)), options=options)
    root = tmp / "out"
    pipeline.run(recipes.CorpusSpec(name="src", sources=(src,), steps=()), root, workers=1, progress=False,
                 tokenize_docs=False)
    return root


def _stats(root: Path) -> dict:
    return json.loads((root / "manifest.json").read_text())["sources"]["src"]["stats"]


def test_hostile_record_files_balance_unit_by_unit(tmp_path):
    data = tmp_path / "in"
    (data / "sub").mkdir(parents=True)
    good = {"question": "贫血怎么治疗？", "answer": "补充铁剂。"}
    (data / "a.jsonl").write_bytes(b"\n".join([json.dumps(good).encode(), b"[" * 50_000 + b"]" * 50_000,
                                              json.dumps(good, ensure_ascii=False).encode("gbk"),
                                              b'{"question": "only"}', b"", json.dumps(good).encode()]) + b"\n")
    (data / "b.csv").write_text("question,answer\n" + "".join(f"q{i},a{i}\n" for i in range(8))
                                + 'q8,"a8\n' + "".join(f"q{i},a{i}\n" for i in range(9, 12)))
    (data / "c.json").write_text(json.dumps([good, good, 5]) + "\n}junk")
    (data / "sub" / "d.jsonl").symlink_to(data / "missing.jsonl")  # a broken link
    (data / "sub" / "loop").symlink_to(data)  # a link back up: followed once
    root = _build(tmp_path, "qa", [data], QAConfig())
    stats = _stats(root)
    assert stats["units_raw"] == 5 + 12 + 4 + 1  # non-blank lines, CSV lines past the header, items + junk, link
    assert stats["units_raw"] == stats["units_records"] + stats["units_ledger"]
    ledger = pl.read_parquet(root / "ledger.parquet")
    reasons = dict(zip(ledger["id"].to_list(), ledger["reason"].to_list(), strict=True))
    assert reasons["src/a.jsonl#L2"] == "malformed_json"
    assert not any(k.startswith("src/b.csv") for k in reasons)  # a quote that never closes swallows no row
    assert reasons["src/c.json#item2"] == "malformed_record" and reasons["src/c.json#trailing@line2"] == "trailing_data"
    assert reasons["src/sub/d.jsonl"] == "unreadable_input"
    report = audit(root)
    assert report.ok, report.problems
    assert any("input units" in line and "ok" in line for line in report.lines)


def test_a_reader_that_loses_a_line_fails_the_audit(tmp_path, monkeypatch):
    monkeypatch.setitem(readers.READERS, "lossy", "tests.readers.lossy_reader")
    from tests.readers import lossy_reader

    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["one", "lost", "three"]))
    root = _build(tmp_path, "lossy", [path], lossy_reader.Config())
    report = audit(root)
    assert not report.ok
    assert any("1 vanished inside the reader" in p for p in report.problems)


def test_documents_non_text_fields_are_ledgered_not_written(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ["fine", ["a", "list"], {"k": 1}, 42]))
    root = _build(tmp_path, "documents", [path], DocumentsConfig())
    ledger = pl.read_parquet(root / "ledger.parquet")
    assert ledger["reason"].to_list() == ["non_text_field"] * 3
    assert audit(root).ok


def test_globs_end_on_link_loops_and_report_broken_links(tmp_path):
    (tmp_path / "d" / "e").mkdir(parents=True)
    (tmp_path / "d" / "e" / "x.jsonl").write_text("{}\n")
    (tmp_path / "d" / "e" / "back").symlink_to(tmp_path / "d")
    (tmp_path / "d" / "gone.jsonl").symlink_to(tmp_path / "nowhere")
    files, problems = discover_all([f"{tmp_path}/d/**/*.jsonl"], (".jsonl",))
    assert [rel for _, rel in files] == ["e/x.jsonl"]
    assert [(rel, msg.split(" (")[0]) for _, rel, msg in problems] == [("gone.jsonl", "broken symbolic link")]
    assert os.path.islink(tmp_path / "d" / "e" / "back")


def test_qa_lists_are_lines_and_objects_or_numbers_are_ledgered(tmp_path):
    path = tmp_path / "a.jsonl"
    rows = [{"question": ["第一问", "第二问"], "answer": "答"}, {"question": {"k": 1}, "answer": "x"},
            {"question": "q", "answer": 42}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    root = _build(tmp_path, "qa", [path], QAConfig())
    ledger = pl.read_parquet(root / "ledger.parquet")
    assert ledger["id"].to_list() == ["src/a.jsonl#L2", "src/a.jsonl#L3"]
    assert ledger["reason"].to_list() == ["non_text_field"] * 2
    flow = json.loads((root / "flow.json").read_text())
    text = pl.read_parquet(root / flow["src"]["passes"][0]["shards"][0])["text"][0]
    assert "第一问\n第二问" in text and "[" not in text

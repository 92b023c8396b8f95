"""End-to-end builds: the sample stage-1 corpus, reruns, determinism, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.build import pipeline, recipes
from curate.core.audit import audit
from curate.tokens import indexed, tokenizer
from tests.conftest import ROOT

STAGE1 = ROOT / "recipes" / "stage1.toml"


def _outputs(root: Path) -> dict[str, bytes]:
    """Every data file of a build (markers hold absolute paths in fingerprints, so not those)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".done" not in p.parts}


@pytest.fixture(scope="module")
def stage1(tmp_path_factory):
    root = tmp_path_factory.mktemp("a") / "stage1"
    result = pipeline.run(recipes.load_corpus(STAGE1), root, workers=2, progress=False)
    return result


def test_sample_build_balances(stage1):
    report = audit(stage1.root)
    assert report.ok, report.problems
    manifest = stage1.manifest
    assert set(manifest["sources"]) == {"books", "articles", "exams", "kg", "qa", "promptcblue"}
    for name, s in manifest["sources"].items():
        removed = sum(n for reasons in s["dropped"].values() for n in reasons.values())
        assert s["records_in"] == s["records_out"] + removed, name
        assert s["records_out"] > 0 and s["tokens"] > 0


def test_sample_build_ledgers_every_planted_case(stage1):
    drops = stage1.manifest["drops"]
    assert drops["read"]["no_abstract"] == 1 and drops["read"]["excluded_pmid"] == 1
    assert drops["versions"] == {"superseded": 1, "deleted_citation": 1}
    assert drops["dedup"]["exact_duplicate"] >= 1
    assert drops["quality"]["min_chars"] >= 1
    ledger = pq.read_table(stage1.root / "ledger.parquet").to_pylist()
    dup = next(r for r in ledger if r["reason"] == "exact_duplicate")
    assert dup["detail"].startswith("duplicate_of=qa/")
    assert any(r["reason"] == "malformed_date" and r["action"] == "modify" for r in ledger)
    near_dup = next(r for r in ledger if r["reason"] == "near_duplicate")
    assert near_dup["step"] == "near_dedup" and " jaccard=" in near_dup["detail"]
    phi = [r for r in ledger if r["step"] == "scrub"]
    assert {r["source"] for r in phi} == {"qa"} and any("PHONE=" in r["detail"] for r in phi)
    hits = sorted((r["id"], r["detail"].split(" ")[0]) for r in ledger if r["step"] == "decontam")
    assert hits == [("articles/pubmed_baseline.xml#PMID39000003", "benchmark=pubmedqa"),
                    ("exams/en_mcq.jsonl#L2", "benchmark=medqa")]
    report = (stage1.root / "report.md").read_text()
    assert "| 0.8 |" in report and "PHONE: 2" in report and "- pubmedqa: 1" in report


def test_megatron_core_reads_every_shard(stage1):
    pytest.importorskip("torch")
    mod = pytest.importorskip("megatron.core.datasets.indexed_dataset")
    root, manifest = stage1.root, stage1.manifest
    tok = tokenizer.load(str(root / "tokenizer" / "tokenizer.json"))
    assert manifest["tokenizer"]["eod_id"] == tok.token_to_id("<|endoftext|>")
    for name, s in manifest["sources"].items():
        ds = mod.IndexedDataset(str(root / s["prefix"]))
        assert len(ds) == s["documents"] == s["records_out"], name
        assert int(ds.sequence_lengths.sum()) == s["tokens"], name
        first = ds[0]
        assert first[-1] == manifest["tokenizer"]["eod_id"]
        flow = json.loads((root / "flow.json").read_text())[name]
        final = pq.read_table(root / flow["passes"][-1]["shards"][0], columns=["id", "text"]).to_pylist()[0]
        docs = pq.read_table(root / f"{s['prefix']}.docs.parquet").to_pylist()
        assert docs[0]["id"] == final["id"]
        assert tok.decode(first[:-1].tolist(), skip_special_tokens=False) == final["text"]


def test_blend_string(stage1):
    parts = stage1.manifest["data_path"].split()
    weights = dict(zip(parts[1::2], map(float, parts[::2]), strict=True))
    names = ("books", "articles", "exams", "kg", "qa", "promptcblue")
    assert set(weights) == {f"tokens/{n}_text_document" for n in names}
    # the weights of recipes/stage1.toml's [blend]: Table 2's shares (articles 7.71B of 15.39B) less PromptCBLUE's 1%
    assert abs(sum(weights.values()) - 1) < 1e-4
    assert abs(weights["tokens/articles_text_document"] - 0.99 * 7.71 / 15.39) < 1e-5


def test_rerun_skips_everything(stage1):
    before = _outputs(stage1.root)
    again = pipeline.run(recipes.load_corpus(STAGE1), stage1.root, workers=2, progress=False)
    assert again.ran == 0 and again.skipped == stage1.ran + stage1.skipped
    assert _outputs(stage1.root) == before


def test_two_builds_are_byte_identical(stage1, tmp_path_factory):
    other = tmp_path_factory.mktemp("b") / "stage1"
    pipeline.run(recipes.load_corpus(STAGE1), other, workers=1, progress=False)
    assert _outputs(other) == _outputs(stage1.root)


def _qa_inputs(directory: Path, files: int, rows: int) -> None:
    directory.mkdir(parents=True)
    for f in range(files):
        with open(directory / f"part{f:03d}.jsonl", "w") as out:
            for r in range(rows):
                q = f"Question {f}-{r}: how should condition {r % 97} be treated in patient group {f}?"
                a = f"Answer {f}-{r}: follow guideline {r % 13}, review after {r % 7 + 1} weeks, dose {r}."
                out.write(json.dumps({"question": q, "answer": a}) + "\n")


def _recipe(tmp: Path, inputs: Path) -> Path:
    (tmp / "qa.toml").write_text(f'reader = "qa"\nname = "qa"\ninputs = ["{inputs}"]\n')
    (tmp / "mix.toml").write_text('name = "mix"\nshard_records = 500\n[[sources]]\nrecipe = "qa.toml"\n')
    return tmp / "mix.toml"


@pytest.mark.slow
def test_sigkill_midway_then_resume_is_byte_identical(tmp_path):
    _qa_inputs(tmp_path / "inputs", files=24, rows=1000)
    recipe = _recipe(tmp_path, tmp_path / "inputs")
    cmd = [sys.executable, "-m", "curate", "corpus", str(recipe), "--workers", "1", "--no-progress"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*cmd, "--out", str(killed)], stdout=subprocess.DEVNULL, start_new_session=True)
    markers = killed / "mix" / "sources" / "qa" / "read" / ".done"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if markers.is_dir() and len(list(markers.glob("*.json"))) >= 6:
            os.killpg(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.01)
    assert proc.wait() == -signal.SIGKILL, "build finished before it could be killed"
    assert not (killed / "mix" / "manifest.json").exists()
    resumed = subprocess.run([*cmd, "--out", str(killed)], capture_output=True, text=True, check=True)
    ran, done = map(int, re.search(r"tasks: (\d+) run, (\d+) already done", resumed.stdout).groups())
    assert done >= 6 and ran > 0
    fresh = tmp_path / "fresh"
    subprocess.run([*cmd, "--out", str(fresh)], capture_output=True, check=True)
    assert _outputs(killed / "mix") == _outputs(fresh / "mix")
    assert audit(killed / "mix").ok


def test_shard_limits_split_large_files(tmp_path):
    _qa_inputs(tmp_path / "inputs", files=1, rows=1200)
    root = tmp_path / "out" / "mix"
    result = pipeline.run(recipes.load_corpus(_recipe(tmp_path, tmp_path / "inputs")), root, workers=1,
                          progress=False)
    flow = json.loads((root / "flow.json").read_text())["qa"]
    assert [p["pass"] for p in flow["passes"]] == ["read", "prepare", "apply"]  # three writes of the corpus
    assert [s["step"] for s in flow["passes"][1]["steps"]] == ["clean", "signals", "hashes"]
    assert [s["step"] for s in flow["passes"][2]["steps"]] == ["quality", "dedup"]
    assert [len(p["shards"]) for p in flow["passes"]] == [3, 3, 3]
    assert indexed.Reader(root / "tokens" / "qa_text_document").num_documents == 1200
    assert result.manifest["sources"]["qa"]["records_out"] == 1200


def test_reader_over_all_files_at_once(tmp_path, monkeypatch):
    from curate import readers

    monkeypatch.setitem(readers.READERS, "multi", "tests.readers.multifile_reader")
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text('{"t": "first file sentence here"}\n{broken\n')
    (tmp_path / "in" / "b.jsonl").write_text('{"t": "second file sentence here"}\n')
    spec = recipes.CorpusSpec("m", (recipes.source_from_dict({"reader": "multi", "inputs": [str(tmp_path / "in")]},
                                                            None, "test"),))
    result = pipeline.run(spec, tmp_path / "out", workers=1, tokenize_docs=False, progress=False)
    assert result.ran == 5  # one read task writing one shard; prepare, quality, dedup reduce, apply
    texts = pq.read_table(next((tmp_path / "out" / "sources" / "multi" / "apply").glob("*.parquet")))["text"]
    assert texts.to_pylist() == ["first file sentence here (one of 2 files)",
                                 "second file sentence here (one of 2 files)"]
    assert result.manifest["sources"]["multi"]["records_in"] == 3 and result.manifest["quarantined"] == 1
    assert result.manifest["sources"]["multi"]["stats"] == {"files_seen": 2}
    assert audit(tmp_path / "out").ok


def test_threshold_change_reruns_only_the_apply_pass(tmp_path):
    _qa_inputs(tmp_path / "inputs", files=2, rows=50)
    recipe = _recipe(tmp_path, tmp_path / "inputs")
    root = tmp_path / "out"
    pipeline.run(recipes.load_corpus(recipe), root, workers=1, tokenize_docs=False, progress=False)
    prepared = sorted((root / "sources" / "qa" / "prepare" / ".done").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in prepared]
    (tmp_path / "qa.toml").write_text((tmp_path / "qa.toml").read_text() + "[quality]\nmin_chars = 150\n")
    result = pipeline.run(recipes.load_corpus(recipe), root, workers=1, tokenize_docs=False, progress=False)
    assert [p.stat().st_mtime_ns for p in prepared] == stamps  # signals, hashes, cleaned records reused
    assert result.manifest["drops"]["quality"]["min_chars"] > 0
    # rerun: the two quality decisions, the dedup reduce and the two apply tasks; not read or prepare
    assert result.ran == 5 and result.skipped == 4


def test_near_dedup_threshold_change_reuses_the_signatures(tmp_path):
    _qa_inputs(tmp_path / "inputs", files=2, rows=40)
    recipe = _recipe(tmp_path, tmp_path / "inputs")
    recipe.write_text(recipe.read_text() + "[near_dedup.minhash]\nthreshold = 0.8\n")
    root = tmp_path / "out"
    pipeline.run(recipes.load_corpus(recipe), root, workers=1, tokenize_docs=False, progress=False)
    prepared = sorted((root / "sources" / "qa" / "prepare" / ".done").glob("*.json"))
    stamps = [p.stat().st_mtime_ns for p in prepared]
    recipe.write_text(recipe.read_text().replace("threshold = 0.8", "threshold = 0.7"))
    result = pipeline.run(recipes.load_corpus(recipe), root, workers=1, tokenize_docs=False, progress=False)
    assert [p.stat().st_mtime_ns for p in prepared] == stamps  # signatures and hashes reused
    assert result.manifest["config"]["near_dedup"]["minhash"]["threshold"] == 0.7

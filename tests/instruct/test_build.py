"""Instruction builds end to end: guard, ledger balance, determinism, overlong rule, weights."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curate.benchmarks import pubmedqa
from curate.instruct import build, recipe
from curate.tokens import packed

ABSTRACT = ("BACKGROUND: We studied {n} adults with condition number {n} in a cohort followed for {n} months "
            "at three hospitals. RESULTS: Outcome rates differed by treatment arm {n} after adjustment for age.")


def _write_inputs(d: Path) -> None:
    labels = ["yes"] * 11 + ["no"] * 6 + ["maybe"] * 3
    pqal = {str(30_000_000 + i): {"QUESTION": f"Does treatment {i} improve outcome {i}?",
                                  "CONTEXTS": [ABSTRACT.format(n=i)], "LABELS": ["BACKGROUND"],
                                  "final_decision": label, "LONG_ANSWER": f"Treatment {i} is discussed."}
            for i, label in enumerate(labels)}
    (d / "ori_pqal.json").write_text(json.dumps(pqal))
    test = pubmedqa.official_splits(pqal, folds=0).test
    (d / "test_ground_truth.json").write_text(json.dumps({p: pqal[p]["final_decision"] for p in test}))
    (d / "pqau.json").write_text(json.dumps({"40000001": {"QUESTION": "Is X safe?", "CONTEXTS": ["Some text."],
                                                          "LONG_ANSWER": "X appears safe."}}))
    dialogs = [{"conversations": [{"from": "human", "value": f"Question {i} about headache {'x' * (i * 40)}?"},
                                  {"from": "gpt", "value": f"Answer {i}: rest and fluids."}]} for i in range(8)]
    lines = [json.dumps(x) for x in dialogs] + ['{"conversations": [broken', json.dumps(dialogs[0]),
                                               json.dumps({"conversations": [{"from": "human", "value": "hi"},
                                                                             {"from": "gpt", "value": ""}]})]
    (d / "dialogs.jsonl").write_text("\n".join(lines) + "\n")


def _recipe(d: Path, **extra: str) -> Path:
    settings = {"seq_len": "256", "overlong": '"truncate"', "valid_fraction": "0.0", **extra}
    body = ["name = \"mini\"", "kind = \"instruct\"", "seed = 5", *(f"{k} = {v}" for k, v in settings.items()),
            "[guard]", "[[guard.benchmarks]]", 'name = "pubmedqa"', 'loader = "pubmedqa"',
            f'path = "{d / "ori_pqal.json"}"', f'ids = "{d / "test_ground_truth.json"}"', 'split = "test"',
            "[[sources]]", 'name = "pubmedqa"', 'loader = "pubmedqa"', f'inputs = ["{d / "ori_pqal.json"}"]',
            "[[sources]]", 'name = "pqa_u"', 'loader = "pubmedqa"', 'task = "pubmedqa"',
            f'inputs = ["{d / "pqau.json"}"]',
            "[[sources]]", 'name = "dialogs"', 'loader = "qa"', f'inputs = ["{d / "dialogs.jsonl"}"]', "weight = 2.0"]
    path = d / "mini.toml"
    path.write_text("\n".join(body) + "\n")
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    d = tmp_path / "in"
    d.mkdir()
    _write_inputs(d)
    return d


def _packs(root: Path) -> list[dict]:
    return [r for f in sorted((root / "packed").glob("*.parquet")) for r in packed.read(f)]


def test_guard_refuses_test_items_and_every_record_is_accounted_for(inputs: Path, tmp_path: Path) -> None:
    spec = recipe.load(_recipe(inputs))
    result = build.run(spec, tmp_path / "b", workers=1, progress=False)
    root, manifest = result.root, result.manifest
    test = set(json.loads((inputs / "test_ground_truth.json").read_text()))
    ids = [e for r in _packs(root) for e in r["example_id"]]
    assert not any(i.split("#")[1].split("~")[0] in test for i in ids if i.startswith("pubmedqa"))
    ledger = pq.read_table(root / "ledger.parquet").to_pylist()
    refused = {r["id"].split("#")[1] for r in ledger if r["step"] == "guard"}
    assert refused == test and all("benchmark=pubmedqa" in r["detail"] for r in ledger if r["step"] == "guard")
    # in = out + removed, per source (copies of the weighted source count once)
    for name, s in manifest["sources"].items():
        out = {i.split("~")[0] for i in ids if i.startswith(f"{name}/") or (name == "pubmedqa" and "pubmedqa/" in i)}
        removed = {r["id"].split("~")[0] for r in ledger if r["source"] == name and r["action"] != "modify"}
        assert not out & removed
        if name == "dialogs":  # 8 dialogs, a broken line, a repeat, an empty answer; 2 too long for seq_len
            assert s["records_in"] == len(out) + len(removed) == 11 and len(out) == 6
            assert s["examples_out"] == 2 * len(out)  # weight 2: every example twice
    reasons = Counter((r["source"], r["reason"]) for r in ledger if r["action"] != "modify")
    assert reasons[("dialogs", "malformed_json")] == 1 and reasons[("dialogs", "empty_answer")] == 1
    assert reasons[("dialogs", "exact_duplicate")] == 1 and reasons[("pqa_u", "unlabelled")] == 1
    assert manifest["tasks"] == {"pubmedqa": 0, "dialogs": 1}
    assert 0 < manifest["packing"]["train"]["efficiency"] <= 1


def test_two_builds_are_byte_identical(inputs: Path, tmp_path: Path) -> None:
    spec = recipe.load(_recipe(inputs))
    a = build.run(spec, tmp_path / "a", workers=1, progress=False).root
    b = build.run(spec, tmp_path / "b", workers=2, progress=False).root
    files = sorted(p.relative_to(a) for p in (a / "packed").iterdir())
    assert files and [(a / f).read_bytes() for f in files] == [(b / f).read_bytes() for f in files]
    for name in ("manifest.json", "ledger.parquet"):
        assert (a / name).read_bytes() == (b / name).read_bytes()


def test_overlong_examples_are_truncated_or_dropped_and_ledgered(inputs: Path, tmp_path: Path) -> None:
    cut = build.run(recipe.load(_recipe(inputs, seq_len="64")), tmp_path / "t", workers=1, progress=False)
    drop = build.run(recipe.load(_recipe(inputs, seq_len="64", overlong='"drop"')), tmp_path / "d", workers=1,
                     progress=False)
    assert all(r["num_tokens"] <= 64 for r in _packs(cut.root))
    cut_ledger = pq.read_table(cut.root / "ledger.parquet").to_pylist()
    assert any(r["reason"] == "truncated" and r["action"] == "modify" for r in cut_ledger)
    drop_ledger = pq.read_table(drop.root / "ledger.parquet").to_pylist()
    assert any(r["reason"] == "overlong" and r["action"] == "drop" for r in drop_ledger)
    assert not any(r["reason"] == "truncated" for r in drop_ledger)


def test_valid_split_and_pack_by_task(inputs: Path, tmp_path: Path) -> None:
    spec = recipe.load(_recipe(inputs, valid_fraction="0.3", pack_by_task="true"))
    root = build.run(spec, tmp_path / "v", workers=1, progress=False).root
    info = packed.read_info(root / "packed")
    assert set(info["splits"]) == {"train", "valid"} and info["tasks"] == {"pubmedqa": 0, "dialogs": 1}
    for r in _packs(root):
        assert len(set(r["task_id"].tolist())) == 1  # one task per pack


def test_recipe_errors_are_specific(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "instruct"\n[[sources]]\nname = "a"\nloader = "nope"\ninputs = ["x"]\n')
    with pytest.raises(ValueError, match=r"sources\[0\]\.loader: expected one of 'medqa'.*got the string \"nope\""):
        recipe.load(bad)
    bad.write_text('kind = "instruct"\nseq_lenn = 5\n')
    with pytest.raises(ValueError, match="unknown key"):
        recipe.load(bad)


def test_partitioned_select_and_pack_keep_every_example_once(inputs: Path, tmp_path: Path) -> None:
    whole = build.run(recipe.load(_recipe(inputs, valid_fraction="0.3")), tmp_path / "one", workers=1,
                      progress=False)
    split = build.run(recipe.load(_recipe(inputs, valid_fraction="0.3", partitions="3")), tmp_path / "three",
                      workers=2, progress=False)
    ids = lambda root: sorted(e for r in _packs(root) for e in r["example_id"])  # noqa: E731
    assert ids(split.root) == ids(whole.root) and len(ids(whole.root)) == len(set(ids(whole.root)))
    for root in (whole.root, split.root):
        info = packed.read_info(root / "packed")
        listed = sorted(f for s in info["splits"].values() for f in s["files"])
        assert listed == sorted(p.name for p in (root / "packed").glob("*.parquet"))
    assert (pq.read_table(whole.root / "ledger.parquet").to_pylist()
            == pq.read_table(split.root / "ledger.parquet").to_pylist())  # the same choices, partitioned


def test_pack_output_is_swapped_in_whole(inputs: Path, tmp_path: Path) -> None:
    root = tmp_path / "b"
    (root / "packed").mkdir(parents=True)
    (root / "packed" / "train-00007.parquet").write_bytes(b"stale")  # from an older build with more files
    build.run(recipe.load(_recipe(inputs)), root, workers=1, progress=False)
    assert not (root / "packed" / "train-00007.parquet").exists()
    assert not (root / "packed.new").exists() and not (root / "packed.old").exists()
    assert sorted(packed.read_info(root / "packed")["splits"]["train"]["files"]) == sorted(
        p.name for p in (root / "packed").glob("train-*.parquet"))

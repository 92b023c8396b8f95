"""Instruction loaders on the real public files, PubMedQA parts, and MCQ rendering."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from curate.benchmarks import pubmedqa
from curate.instruct import render, sources
from curate.instruct.recipe import InstructSource

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "instruct"


def _load(loader: str, inputs: list[Path], **options: object) -> tuple[list[dict], list[tuple[str, str, str]]]:
    spec = InstructSource(name=loader, loader=loader, inputs=tuple(map(str, inputs)), task=loader, options=options)
    problems: list[tuple[str, str, str]] = []
    return [r for r, _ in sources.load(spec, problems)], problems


def test_real_promptcblue_lines_become_two_turn_examples(realdata: Path) -> None:
    records, problems = _load("promptcblue", [realdata / "promptcblue" / "train.json"])
    assert len(records) == 80 and not problems
    assert len({r["meta"]["task_dataset"] for r in records}) == 16
    assert all([m["role"] for m in r["messages"]] == ["user", "assistant"] for r in records)


def test_real_sharegpt_conversations_keep_every_turn(realdata: Path) -> None:
    path = realdata / "chinese_qa" / "medical_sft_1K_format.jsonl"
    records, problems = _load("qa", [path])
    assert len(records) + len(problems) == 1000
    raw = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()][:50]
    for record, row in zip(records, raw, strict=False):
        assert len(record["messages"]) == len(row["conversations"])


def test_real_pubmedqa_parts_follow_the_official_split(realdata: Path) -> None:
    path = realdata / "pubmedqa" / "ori_pqal.json"
    truth = set(json.loads((realdata / "pubmedqa" / "test_ground_truth.json").read_text()))
    cv, problems = _load("pubmedqa", [path], part="cv")
    assert len(cv) == 500 and not {r["meta"]["pmid"] for r in cv} & truth
    assert {p[0].split("#")[1] for p in problems} == truth and {p[1] for p in problems} == {"other_part"}
    fold, _ = _load("pubmedqa", [path], part="train_fold", fold=3)
    dev, _ = _load("pubmedqa", [path], part="dev_fold", fold=3)
    assert len(fold) == 450 and len(dev) == 50
    assert {r["meta"]["pmid"] for r in dev} == set(pubmedqa.official_splits(pubmedqa.load_pqal(path)).folds[3])


def test_pubmedqa_unlabelled_items_are_reported_not_trained() -> None:
    records, problems = _load("pubmedqa", [SAMPLES / "pubmedqa" / "ori_pqau.json"])
    assert not records and len(problems) == 20 and {p[1] for p in problems} == {"unlabelled"}


def test_loader_options_are_checked() -> None:
    with pytest.raises(sources.SourceError, match="takes no option"):
        _load("medqa", [SAMPLES / "medqa"], colour="red")
    with pytest.raises(sources.SourceError, match="part 'half'"):
        _load("pubmedqa", [SAMPLES / "pubmedqa" / "ori_pqal.json"], part="half")
    with pytest.raises(sources.SourceError, match="no such file"):
        _load("qa", [SAMPLES / "missing.jsonl"])


def test_phrasings_are_deterministic_spread_and_seeded() -> None:
    items, _ = _load("medqa", [SAMPLES / "medqa"], split="train")
    chosen = [render.mcq_messages(i, seed=1)[1] for i in items]
    assert chosen == [render.mcq_messages(i, seed=1)[1] for i in items]
    assert len(Counter(chosen)) == len(render.phrasings("mcq", "en")) >= 3
    assert chosen != [render.mcq_messages(i, seed=2)[1] for i in items]


def test_mcq_answer_names_the_option_and_carries_the_explanation() -> None:
    items, _ = _load("medmcqa", [SAMPLES / "medmcqa"], split="train")
    item = next(i for i in items if i["explanation"])
    messages, _, lang = render.mcq_messages(item, seed=0)
    correct = next(o["text"] for o in item["options"] if o["label"] == item["answer"])
    assert lang == "en" and messages[0]["role"] == "user" and item["question"] in messages[0]["content"]
    assert messages[1]["content"].startswith(f"The answer is {item['answer']}: {correct.rstrip('.')}")
    assert item["explanation"] in messages[1]["content"]


def test_chinese_items_use_chinese_templates_and_pubmedqa_keeps_its_context() -> None:
    items, _ = _load("exams", [SAMPLES / "exams" / "cmb_style.jsonl"])
    messages, prompt_id, lang = render.mcq_messages(items[0], seed=0)
    assert lang == "zh" and prompt_id.startswith("instruct/mcq/zh/") and messages[1]["content"].startswith("答案：")
    pqa, _ = _load("pubmedqa", [SAMPLES / "pubmedqa" / "ori_pqal.json"])
    messages, prompt_id, _ = render.mcq_messages(pqa[0], seed=0)
    assert prompt_id.startswith("instruct/pubmedqa/en/") and pqa[0]["context"] in messages[0]["content"]
    decision = {"A": "yes", "B": "no", "C": "maybe"}[pqa[0]["answer"]]
    assert messages[1]["content"].startswith(f"The answer is {decision}.")
    assert pqa[0]["meta"]["long_answer"] in messages[1]["content"]


def test_input_folders_are_walked_like_the_corpus_readers(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    (folder / "sub").mkdir(parents=True)
    line = json.dumps({"question": "What treats gout?", "answer": "Colchicine."}) + "\n"
    (folder / "sub" / "a[1].jsonl").write_text(line, encoding="utf-8")
    (folder / "sub" / "up").symlink_to("..")  # a link loop: walked once
    (folder / "gone.jsonl").symlink_to(folder / "nowhere.jsonl")
    records, problems = _load("qa", [folder])
    assert [r["id"] for r in records] == ["qa/sub/a[1].jsonl#L1"]
    assert [(rid, reason) for rid, reason, _ in problems] == [("qa/gone.jsonl", "unreadable_input")]
    records, _ = _load("qa", [folder / "sub" / "a[1].jsonl"])  # glob characters in a named file: literal
    assert [r["id"] for r in records] == ["qa/a[1].jsonl#L1"]

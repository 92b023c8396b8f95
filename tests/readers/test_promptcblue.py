"""PromptCBLUE lines as pre-training text."""

import json

from tests.readers.helpers import run_reader


def test_render_and_bad_lines(tmp_path):
    p = tmp_path / "p.json"
    rows = [
        {"input": "判断以下句子的意图类别：\n胃痛吃什么药\n答：", "target": "治疗方案",
         "answer_choices": ["治疗方案", "病因分析"], "task_type": "cls", "task_dataset": "KUAKE-QIC",
         "sample_id": "train-1"},
        {"input": "找出句子中的疾病实体", "target": "", "task_type": "ner", "task_dataset": "CMeEE-V2",
         "sample_id": "train-2"},
        {"prompt": "wrong fields"},
    ]
    p.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n{broken\n")
    docs, _, ledger = run_reader("promptcblue", p)
    assert [d["text"] for d in docs] == ["判断以下句子的意图类别：\n胃痛吃什么药\n答：治疗方案"]
    assert docs[0]["meta"]["task_dataset"] == "KUAKE-QIC" and docs[0]["meta"]["sample_id"] == "train-1"
    assert [(r["action"], r["reason"]) for r in ledger] == [
        ("drop", "empty_answer"), ("quarantine", "malformed_record"), ("quarantine", "malformed_json")]


def test_sample_file(samples):
    docs, _, rows = run_reader("promptcblue", samples / "promptcblue" / "promptcblue_sample.jsonl")
    assert len(docs) == 24 and rows == []
    assert len({d["meta"]["task_dataset"] for d in docs}) >= 10


def test_real_files(realdata):
    for name in ("train.json", "dev.json"):
        docs, _, rows = run_reader("promptcblue", realdata / "promptcblue" / name)
        assert rows == [] and len(docs) >= 50
        assert all(d["lang"] == "zh" for d in docs)

"""QA pairs, alpaca, ShareGPT and Huatuo-style records, concatenated by template."""

import json

from tests.readers.helpers import run_reader


def _jsonl(path, rows):
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows) + "\n")


def test_shapes_render_through_templates(tmp_path):
    p = tmp_path / "mixed.jsonl"
    _jsonl(p, [
        {"question": "What is asthma?", "answer": "A chronic airway disease."},
        {"instruction": "高血压患者饮食要注意什么？", "input": "", "output": "限制钠盐，多吃蔬菜水果。"},
        {"conversations": [{"from": "system", "value": "You are a doctor."},
                           {"from": "human", "value": "I have a cough."},
                           {"from": "gpt", "value": "How long has it lasted?"},
                           {"from": "human", "value": "Two weeks."},
                           {"from": "gpt", "value": "Please see a doctor for a chest exam."}]},
        {"messages": [{"role": "user", "content": "发烧怎么办？"},
                      {"role": "assistant", "content": "多喝水，必要时退热。"}]},
        {"questions": [["糖尿病能吃水果吗？", "糖尿病人可以吃水果吗"]], "answers": ["血糖稳定时可适量吃低糖水果。"]},
    ])
    docs, _, rows = run_reader("qa", p)
    assert rows == []
    assert [d["text"] for d in docs] == [
        "Question: What is asthma?\nAnswer: A chronic airway disease.",
        "问：高血压患者饮食要注意什么？\n答：限制钠盐，多吃蔬菜水果。",
        "You are a doctor.\nQuestion: I have a cough.\nAnswer: How long has it lasted?\n"
        "Question: Two weeks.\nAnswer: Please see a doctor for a chest exam.",
        "问：发烧怎么办？\n答：多喝水，必要时退热。",
        "问：糖尿病能吃水果吗？\n答：血糖稳定时可适量吃低糖水果。",
    ]
    assert [d["lang"] for d in docs] == ["en", "zh", "en", "zh", "zh"]
    assert docs[2]["meta"]["turns"] == 5 and docs[0]["id"] == "qa/mixed.jsonl#L1"


def test_bad_records_are_ledgered(tmp_path):
    p = tmp_path / "bad.jsonl"
    _jsonl(p, [
        {"question": "ok", "answer": "fine answer"},
        '{"question": "broken',
        {"title": "no fields we know"},
        {"question": "Empty answer?", "answer": "   "},
        {"conversations": [{"from": "alien", "value": "x"}]},
        '["a list"]',
    ])
    docs, _, rows = run_reader("qa", p)
    assert len(docs) == 1
    assert [(r["id"].split("#")[1], r["action"], r["reason"]) for r in rows] == [
        ("L2", "quarantine", "malformed_json"),
        ("L3", "quarantine", "unrecognised_record"),
        ("L4", "drop", "empty_answer"),
        ("L5", "quarantine", "unrecognised_record"),
        ("L6", "quarantine", "malformed_record"),
    ]
    assert "fields: title" in rows[1]["detail"]


def test_sample_files(samples):
    docs, _, rows = run_reader("qa", samples / "qa" / "zh_pairs_gb18030.csv")
    assert len(docs) == 20 and rows == []
    assert all(d["text"].startswith("问：") and d["lang"] == "zh" for d in docs)
    docs, _, rows = run_reader("qa", samples / "qa" / "sharegpt_consults.jsonl")
    assert len(docs) == 12 and rows == [] and max(d["meta"]["turns"] for d in docs) >= 5


def test_real_chinese_sharegpt(realdata):
    docs, _, rows = run_reader("qa", realdata / "chinese_qa" / "medical_sft_1K_format.jsonl")
    assert len(docs) + len(rows) == 1000
    assert len(docs) >= 990
    assert sum(d["lang"] == "zh" for d in docs) >= 900
    assert all("问：" in d["text"] and "答：" in d["text"] for d in docs)

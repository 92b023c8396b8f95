"""Instruction rendering asks for a justification only when the answer gives one, and items whose options
the source lost (spreadsheet errors, "nan", empty cells before real options) are ledgered, not rendered."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.benchmarks import evalsets, mcq
from curate.instruct import render, sources
from curate.instruct.recipe import InstructSource

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "instruct"
ASKS_WHY = ("justification", "explain", "理由")


def _load(loader: str, inputs: list[Path], **options: object) -> tuple[list[dict], list[tuple[str, str, str]]]:
    spec = InstructSource(name=loader, loader=loader, inputs=tuple(map(str, inputs)), task=loader, options=options)
    problems: list[tuple[str, str, str]] = []
    return [r for r, _ in sources.load(spec, problems)], problems


@pytest.mark.parametrize(("loader", "path"), [("medmcqa", "medmcqa"), ("medqa", "medqa"), ("cmmlu", "cmmlu"),
                                              ("exams", "exams"), ("pubmedqa", "pubmedqa/ori_pqal.json")])
def test_a_prompt_asks_why_only_when_the_answer_says_why(loader, path):
    items, _ = _load(loader, [SAMPLES / path])
    assert items
    asked = 0
    for seed in range(3):  # every phrasing, for every item
        for item in items:
            if not item["answer"]:
                continue
            messages, _, _ = render.mcq_messages(item, seed)
            prompt, answer = messages[0]["content"], messages[1]["content"]
            if any(w in prompt for w in ASKS_WHY):
                asked += 1
                assert len(answer) > len(f"The answer is {item['answer']}: ") + 40 or "解析" in answer, (prompt, answer)
            if not (item.get("explanation") or (item.get("meta") or {}).get("long_answer")):
                assert not any(w in prompt for w in ASKS_WHY), prompt
    if loader in ("medmcqa", "pubmedqa"):
        assert asked  # items with an explanation still get the phrasing that asks for one


def test_prompt_three_words_both_cases():
    base = {"id": "x", "dataset": "medqa", "question": "Which drug treats absence seizures?", "context": "",
            "options": [{"label": "A", "text": "Ethosuximide"}, {"label": "B", "text": "Phenytoin"}],
            "answer": "A", "meta": {}}
    for item, word in (({**base, "explanation": "It blocks T-type calcium channels."}, "justification"),
                       ({**base, "explanation": ""}, "nothing else")):
        seed = next(s for s in range(200) if render.mcq_messages(item, s)[1].endswith("prompt_3"))
        assert word in render.mcq_messages(item, seed)[0][0]["content"]


ROWS = [
    {"id": "ok", "question": "Drug of choice for absence seizures?", "opa": "Ethosuximide", "opb": "Phenytoin",
     "opc": "Carbamazepine", "opd": "Valproate", "cop": 1, "exp": ""},
    {"id": "name-error", "question": "Which vitamin deficiency causes scurvy?", "opa": "Vitamin A",
     "opb": "#NAME?", "opc": "Vitamin C", "opd": "Vitamin D", "cop": 3, "exp": ""},
    {"id": "value-error", "question": "Normal adult heart rate?", "opa": "60-100", "opb": "100-140",
     "opc": "20-40", "opd": "#VALUE!", "cop": 1, "exp": ""},
    {"id": "nan-gap", "question": "First-line drug for type 2 diabetes?", "opa": "Metformin", "opb": "nan",
     "opc": "Insulin", "opd": "Sulfonylurea", "cop": 1, "exp": ""},
    {"id": "nan-trailing", "question": "Cause of scurvy?", "opa": "Vitamin C deficiency", "opb": "Iron deficiency",
     "opc": "Zinc deficiency", "opd": "nan", "cop": 1, "exp": ""},
]


def test_lost_options_are_problems_not_examples(tmp_path):
    path = tmp_path / "train.json"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    items, problems = _load("medmcqa", [path])
    assert sorted(i["meta"]["orig_id"] for i in items) == ["nan-trailing", "ok"]
    trailing = next(i for i in items if i["meta"]["orig_id"] == "nan-trailing")
    assert [o["label"] for o in trailing["options"]] == ["A", "B", "C"]  # a trailing "nan" is no option
    assert sorted((p[0].split("#")[1], p[1]) for p in problems) == [("name-error", "corrupt_option"),
                                                                     ("nan-gap", "corrupt_option"),
                                                                     ("value-error", "corrupt_option")]
    assert "option B ('#NAME?')" in next(p[2] for p in problems if "name-error" in p[0])
    for item in items:
        for seed in range(3):
            text = "".join(m["content"] for m in render.mcq_messages(item, seed)[0])
            assert "#NAME?" not in text and "nan" not in text.split()


def test_evaluation_sets_still_index_items_with_lost_options(tmp_path):
    path = tmp_path / "test.json"
    path.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n", encoding="utf-8")
    items = list(evalsets.load_medmcqa(path, problems=[]))
    assert len(items) == 5  # decontamination sees every question
    assert next(i for i in items if i["meta"]["orig_id"] == "name-error")["meta"]["lost_options"] == ["B"]
    with pytest.raises(mcq.CorruptOption):
        mcq.check_options(next(i for i in items if i["meta"]["orig_id"] == "nan-gap"))


def test_exam_reader_ledgers_lost_options(tmp_path):
    from curate.core.ledger import Ledger
    from curate.readers import FileRef, exams

    path = tmp_path / "x.csv"
    path.write_text("Question,A,B,C,D,Answer\n维生素C缺乏可致,坏血病,#NAME?,夜盲症,佝偻病,A\n"
                    "灭活睾酮的器官是,肝脏,肾脏,,,A\n", encoding="utf-8")
    ledger = Ledger("exams", "read")
    docs = list(exams.read(FileRef(path, "x.csv", "exams"), exams.Config(), ledger))
    assert [d["text"] for d in docs] == ["灭活睾酮的器官是肝脏。"]
    assert [(r[0], r[3], r[4]) for r in ledger.rows] == [("exams/x.csv#L2", "quarantine", "corrupt_option")]

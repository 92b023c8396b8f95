"""mcq.parse: every option and answer shape real exam files use, and clear errors for bad rows."""

from __future__ import annotations

import pytest

from curate.benchmarks import mcq


def options(item: dict) -> list[tuple[str, str]]:
    return [(o["label"], o["text"]) for o in item["options"]]


ABC = [("A", "发热"), ("B", "咳嗽"), ("C", "乏力")]


@pytest.mark.parametrize(
    "row",
    [
        {"question": "Q", "options": {"A": "发热", "B": "咳嗽", "C": "乏力"}, "answer": "B"},
        {"题干": "Q", "选项": ["A. 发热", "B、咳嗽", "C 乏力"], "答案": "B"},
        {"stem": "Q", "options": ["发热", "咳嗽", "乏力"], "answer": "B"},
        {"Question": "Q", "options": [{"label": "A", "text": "发热"}, {"label": "B", "text": "咳嗽"},
                                      {"label": "C", "text": "乏力"}], "Answer": "B"},
        {"题目": "Q", "options": [{"key": "a", "value": "发热"}, {"key": "b", "value": "咳嗽"},
                                {"key": "c", "value": "乏力"}], "答案": "B"},
        {"question": "Q", "A": "发热", "B": "咳嗽", "C": "乏力", "D": "", "answer": "B"},
        {"question": "Q", "opa": "发热", "opb": "咳嗽", "opc": "乏力", "cop": 2},
        {"问题": "Q", "options": "A. 发热 B. 咳嗽 C. 乏力", "answer": "B"},
        {"question": "Q", "options": "A 发热\nB 咳嗽\nC 乏力", "answer": "B"},
        {"question": "Q", "options": "（A）发热；（B）咳嗽；（C）乏力", "answer": "B"},
        {"question": "Q", "options": '{"A": "发热", "B": "咳嗽", "C": "乏力"}', "answer": "B"},
        {"question": "Q", "options": "Ａ．发热 Ｂ．咳嗽 Ｃ．乏力", "answer": "Ｂ"},
    ],
    ids=["dict", "labelled-list", "plain-list", "label-text-objects", "key-value-objects", "columns",
         "medmcqa-columns", "one-string", "one-string-lines", "bracketed-labels", "json-string", "full-width"],
)
def test_option_shapes(row: dict) -> None:
    item = mcq.parse(row)
    assert item["question"] == "Q"
    assert options(item) == ABC
    assert item["answer"] == "B"
    assert mcq.answer_texts(item) == ["咳嗽"]
    assert mcq.other_texts(item) == ["发热", "乏力"]


def test_options_written_into_the_stem_are_cut_off() -> None:
    item = mcq.parse({"题干": "肺炎最常见的症状是（ ）\nA. 发热\nB. 咳嗽\nC. 乏力", "答案": "B"})
    assert item["question"] == "肺炎最常见的症状是（ ）"
    assert options(item) == ABC


def test_a_capital_a_in_running_english_is_not_an_option_label() -> None:
    row = {"question": "A 45-year-old man has a cough. Which finding is expected?",
           "options": ["Fever", "Rash"], "answer": "Fever"}
    item = mcq.parse(row)
    assert item["question"] == row["question"]
    assert options(item) == [("A", "Fever"), ("B", "Rash")]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("B", "B"), ("b", "B"), ("ACD", "ACD"), ("A,C", "AC"), ("A、C", "AC"), ("C，A", "AC"),
     ("答案：B", "B"), ("正确答案为 D", "D"), ("Answer: C", "C"), ("B. 咳嗽", "B"), ("(B)", "B"),
     ("咳嗽", "B"), ("乏力。", "C"), (["A", "D"], "AD")],
)
def test_answer_forms(answer: object, expected: str) -> None:
    row = {"question": "Q", "options": ["发热", "咳嗽", "乏力", "头痛"], "answer": answer}
    assert mcq.parse(row)["answer"] == expected


def test_index_fields_have_an_explicit_base() -> None:
    opts = {"question": "Q", "options": ["x", "y", "z"]}
    assert mcq.parse({**opts, "answer_idx": 0})["answer"] == "A"  # 0-based
    assert mcq.parse({**opts, "cop": 1})["answer"] == "A"  # 1-based (MedMCQA)
    assert mcq.parse({**opts, "cop": "3"})["answer"] == "C"  # CSVs give digits as text
    assert mcq.parse({**opts, "answer_idx": "C"})["answer"] == "C"  # MedQA's letter in answer_idx
    fields = mcq.Fields(index_fields=(("label", 0),))
    assert mcq.parse({**opts, "label": 2}, fields)["answer"] == "C"


def test_answer_text_that_looks_like_letters_matches_the_option_text() -> None:
    row = {"question": "Q", "options": {"A": "PE", "B": "DVT"}, "answer": "DVT"}
    assert mcq.parse(row)["answer"] == "B"


def test_context_explanation_and_provenance() -> None:
    row = {"share_content": "患者，女，30岁。", "题干": "Q", "选项": ["x", "y"], "答案": "A",
           "解析": "  因为……  ", "科目": "内科学", "year": 2020, "id": 7, "split": "train"}
    item = mcq.parse(row, id="exams/f.jsonl#L1", dataset="demo")
    assert item["context"] == "患者，女，30岁。"
    assert item["explanation"] == "因为……"
    assert item["meta"] == {"科目": "内科学", "year": 2020, "orig_id": "7"}
    assert (item["id"], item["dataset"], item["split"]) == ("exams/f.jsonl#L1", "demo", "train")


def test_text_is_repaired() -> None:
    item = mcq.parse({"question": "The patientâ€™s fever", "options": ["x", "y"], "answer": "A"})
    assert item["question"] == "The patient’s fever"


def test_fields_from_a_recipe_are_frozen_tuples() -> None:
    fields = mcq.Fields(question=["q"], option_columns=[["c1", "c2"]])
    assert fields.question == ("q",)
    assert fields.option_columns == (("c1", "c2"),)
    item = mcq.parse({"q": "Q", "c1": "x", "c2": "y", "answer": "B"}, fields)
    assert options(item) == [("A", "x"), ("B", "y")]


@pytest.mark.parametrize(
    ("row", "field", "words"),
    [
        ({"question": " ", "options": ["x", "y"], "answer": "A"}, "question", "no question stem"),
        ({"options": ["x", "y"], "answer": "A"}, "question", "no question stem"),
        ({"question": "A. x B. y", "answer": "A"}, "question", "no question stem"),
        ({"question": "Q", "options": ["x"], "answer": "A"}, "options", "found 1 option"),
        ({"question": "Q", "A": "x", "B": "", "answer": "A"}, "A/B/C/D/E/F/G/H", "found 1 option"),
        ({"question": "Q, no options at all", "answer": "A"}, "question (inline options)", "found 0 option"),
        ({"question": "Q", "options": ["x", "y"], "answer": "F"}, "answer", "F, which is not among"),
        ({"question": "Q", "options": ["x", "y"], "答案": "答案：AC"}, "答案", "C, which is not among"),
        ({"question": "Q", "options": ["x", "y"], "answer": "zzz"}, "answer", "neither an option label"),
        ({"question": "Q", "options": ["x", "y"]}, "answer", "no answer"),
        ({"question": "Q", "options": ["x", "y"], "answer": 1}, "answer", "index_fields"),
        ({"question": "Q", "options": ["x", "y"], "cop": 3}, "cop", "outside the 2 options"),
        ({"question": "Q", "options": {"1": "x", "2": "y"}, "answer": "A"}, "options", "not a single letter"),
        ({"question": "Q", "options": [{"label": "A", "text": "x"}, {"label": "A", "text": "y"}],
          "answer": "A"}, "options", "duplicate option labels"),
        ({"question": "Q", "options": [{"name": "x"}, {"name": "y"}], "answer": "A"}, "options",
         "no label/key"),
    ],
)
def test_malformed_rows_raise_with_the_field_named(row: dict, field: str, words: str) -> None:
    with pytest.raises(mcq.MalformedMCQ) as info:
        mcq.parse(row)
    assert info.value.field == field
    assert str(info.value).startswith(f"{field}: ")
    assert words in str(info.value)
    assert info.value.reason == "malformed_mcq"

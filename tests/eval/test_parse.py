"""Answer parsing: the formats models answer in, full-width text, and outputs that name no answer."""

from __future__ import annotations

import pytest

from curate.eval.parse import parse_answer, parse_questions

YNM = [{"label": "A", "text": "yes"}, {"label": "B", "text": "no"}, {"label": "C", "text": "maybe"}]
MCQ = [{"label": k, "text": t} for k, t in zip("ABCD", ["Aspirin", "Heparin", "Warfarin", "Clopidogrel"],
                                                 strict=True)]


@pytest.mark.parametrize(("text", "label"), [
    ("Answer: A", "A"),
    ("answer: b", "B"),
    ("ANSWER:C", "C"),
    ("答案：B", "B"),
    ("答案是C", "C"),
    ("正确答案为（Ｂ）", "B"),  # full-width brackets and letter
    ("答案：Ｃ。", "C"),
    ("The answer is A) yes", "A"),
    ("The answer is A) Yes. The thinking process is logically complete.", "A"),
    ("the answer is (c)", "C"),
    ("The answer is: option B", "B"),
    ("The answer is c.", "C"),
    ("B", "B"),
    ("(B)", "B"),
    ("b.", "B"),
    ("c", "C"),
    ("C) maybe", "C"),
    ("A. Because the 180-day data agree.", "A"),
    ("yes", "A"),
    ("No.", "B"),
    ("Maybe", "C"),
    ("Yes, because the data corroborate it.", "A"),
    ("The answer is yes.", "A"),
    ("Final answer: maybe", "C"),
    ("ANSWER: YES", "A"),
    ("Ａｎｓｗｅｒ：Ｂ", "B"),  # full-width Latin and colon
    ("Step-3: Generate Final Response\nAnswer: C", "C"),
    ("Answer: A\nOn reflection the final answer is B", "B"),  # the last marker wins
])
def test_answers_are_read(text: str, label: str) -> None:
    assert parse_answer(text, YNM) == label


@pytest.mark.parametrize("text", [
    "", "   ", None,
    "the answer is a bit unclear",  # a lower-case word is not a label
    "I think it depends.",
    "Answer: D",  # not one of the options
    "E",
    "no idea",  # an option word that starts a phrase, without punctuation, is not an answer
    "Thinking about the data, nothing can be said.",
    "答案：无法确定",
])
def test_outputs_without_an_answer_give_none(text: str | None) -> None:
    assert parse_answer(text, YNM) is None


def test_mcq_labels_and_option_texts() -> None:
    assert parse_answer("The answer is D", MCQ) == "D"
    assert parse_answer("The answer is heparin.", MCQ) == "B"
    assert parse_answer("Warfarin", MCQ) == "C"
    assert parse_answer("Answer: E", MCQ) is None


def test_default_labels_without_options() -> None:
    assert parse_answer("Answer: E") == "E"
    assert parse_answer("Answer: F") is None


def test_verification_questions_are_split_from_a_plan() -> None:
    plan = ("Here are the verification questions:\n1. Do the 31-180 day data agree?\n2) Was the ranking stable?\n"
            "- Were cardiac patients included?\n\nQ4: Was AMI studied?")
    assert parse_questions(plan, 3) == ["Do the 31-180 day data agree?", "Was the ranking stable?",
                                        "Were cardiac patients included?"]
    assert parse_questions("问题1：数据一致吗？\n问题2：排名稳定吗？", 5) == ["数据一致吗?", "排名稳定吗?"]
    assert parse_questions("check the dates\ncheck the counts", 5) == ["check the dates", "check the counts"]
    assert parse_questions("", 3) == []

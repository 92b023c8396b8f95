"""Strategy prompts render exactly as the snapshot files say (en and zh), and their inputs are checked.

The item is the seed's Table 9 example. To accept a deliberate wording change, rerun with
``CURATE_UPDATE_SNAPSHOTS=1`` and review the diff of ``tests/eval/snapshots/``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from curate.eval import prompts

SNAPSHOTS = Path(__file__).parent / "snapshots"
ITEM = {
    "id": "pubmedqa/table9#1",
    "question": "Measuring hospital mortality rates: are 30-day enough?",
    "context": "OBJECTIVE: We compare 30-day and 180-day postadmission hospital mortality rates for all Medicare "
               "patients and those in three categories of cardiac care.\nPRINCIPAL FINDINGS: Data from the time "
               "period 31-180 days postadmission yield results that corroborate the 0-30 day postadmission data.",
    "options": [{"label": "A", "text": "yes"}, {"label": "B", "text": "no"}, {"label": "C", "text": "maybe"}],
    "meta": {"long_answer": "Using 30-day data is sufficient for the conditions studied."},
}
EXPLANATIONS = [
    {"label": "A", "text": "yes", "explanation": "A) Yes. The 180-day data do not give a different perspective."},
    {"label": "B", "text": "no", "explanation": "B) No. Some conditions have longer-term effects."},
    {"label": "C", "text": "maybe", "explanation": "C) Maybe. It depends on the conditions studied."},
]
JUDGEMENT = "The answer is A) Yes. The thinking process is logically complete and takes the context into account."
SHOTS = [
    {**prompts.item_vars({"question": "Does aspirin reduce the risk of a second stroke?",
                          "context": "RESULTS: Recurrent stroke occurred in 4% with aspirin and 7% with placebo.",
                          "options": ITEM["options"], "id": "s1"}),
     "answer": {"label": "A", "text": "yes"}, "explanation": "Recurrence fell from 7% to 4% with aspirin."},
    {**prompts.item_vars({"question": "Is vitamin C effective against the common cold?", "context": "RESULTS: Cold "
                          "duration did not differ between the groups.", "options": ITEM["options"], "id": "s2"}),
     "answer": {"label": "B", "text": "no"}, "explanation": "The durations did not differ."},
]
CHECKS = [{"question": "Do the 31-180 day data corroborate the 30-day data?", "answer": "Yes, they do."},
          {"question": "Was the ranking of hospitals stable?", "answer": "Largely."}]


def _steps(strategy: str, lang: str) -> list[tuple[str, str]]:
    """Every step of ``strategy`` rendered for the fixed item, in order."""
    item = prompts.item_vars(ITEM)
    if strategy == "direct":
        return [("answer", prompts.render("direct", "answer", lang, item))]
    if strategy == "cot":  # zero-shot
        return [("reason", prompts.render("cot", "reason", lang, item, shots=[]))]
    if strategy == "cot-fewshot":
        return [("explain", prompts.render("cot", "explain", lang, item, answer=ITEM["options"][0])),
                ("reason", prompts.render("cot", "reason", lang, item, shots=SHOTS))]
    annotated = prompts.item_vars(ITEM, long_answer=True)
    if strategy == "long-answer":
        return [("answer", prompts.render("direct", "answer", lang, annotated))]
    if strategy == "long-answer+voc":
        return [("explain A", prompts.render("voc", "explain", lang, annotated, option=annotated["options"][0]))]
    if strategy == "cove":
        return [("draft", prompts.render("cove", "draft", lang, item)),
                ("plan", prompts.render("cove", "plan", lang, item, draft="A) yes", max_checks=3)),
                ("verify", prompts.render("cove", "verify", lang, item, check=CHECKS[0]["question"])),
                ("final", prompts.render("cove", "final", lang, item, draft="A) yes", checks=CHECKS))]
    return [*[("explain " + o["label"], prompts.render("voc", "explain", lang, item, option=o))
              for o in item["options"]],
            ("judge", prompts.render("voc", "judge", lang, item, explanations=EXPLANATIONS)),
            ("final", prompts.render("voc", "final", lang, item, explanations=EXPLANATIONS, judgement=JUDGEMENT))]


def _document(strategy: str, lang: str) -> str:
    return "".join(f"===== {step} =====\n{text}\n" for step, text in _steps(strategy, lang))


@pytest.mark.parametrize("lang", prompts.LANGS)
@pytest.mark.parametrize("strategy", ["direct", "cot", "cot-fewshot", "cove", "voc", "long-answer",
                                      "long-answer+voc"])
def test_prompts_match_snapshots(strategy: str, lang: str) -> None:
    path = SNAPSHOTS / f"{strategy}_{lang}.txt"
    rendered = _document(strategy, lang)
    if os.environ.get("CURATE_UPDATE_SNAPSHOTS"):
        path.write_text(rendered, encoding="utf-8")
    assert path.is_file(), f"no snapshot {path.name}: run with CURATE_UPDATE_SNAPSHOTS=1 and review it"
    assert rendered == path.read_text(encoding="utf-8")


def test_voc_follows_table_9_wording() -> None:
    steps = dict(_steps("voc", "en"))
    assert steps["explain B"].endswith("Step-1: Plan Multi-Choice Verification\nThink about why the answer is B) no.")
    assert "Think about why the answer is C) maybe.\nC) Maybe. It depends" in steps["judge"]
    table_9 = ("Step-2: Execute Multi-Choice Verification\nPlease judge the yes/no/maybe thinking process according "
               "to its logical completeness and context.")
    assert steps["judge"].endswith(table_9)
    assert steps["final"].endswith(f"{table_9}\n{JUDGEMENT}\n\nStep-3: Generate Final Response")


def test_few_shot_cot_shows_the_models_own_explanations_before_the_item() -> None:
    steps = dict(_steps("cot-fewshot", "en"))
    assert steps["explain"].endswith("The answer is A) yes. Explain step by step why this is the answer.")
    reason = steps["reason"]
    first, second, item = reason.index(SHOTS[0]["question"]), reason.index(SHOTS[1]["question"]), reason.index(
        ITEM["question"])
    assert first < second < item
    assert "Let's think step by step. The durations did not differ.\nAnswer: B" in reason
    zero = dict(_steps("cot", "en"))["reason"]
    assert reason.endswith(zero) and SHOTS[0]["question"] not in zero


def test_cove_verification_does_not_see_the_draft_or_options() -> None:
    for lang in prompts.LANGS:
        verify = dict(_steps("cove", lang))["verify"]
        assert "A) yes" not in verify and CHECKS[1]["question"] not in verify
        assert CHECKS[0]["question"] in verify and "30-day and 180-day" in verify


@pytest.mark.parametrize("lang", prompts.LANGS)
def test_both_annotation_strategies_show_the_same_item(lang: str) -> None:
    direct = dict(_steps("long-answer", lang))["answer"]
    voc = dict(_steps("long-answer+voc", lang))["explain A"]
    shared = prompts.render("direct", "answer", lang, prompts.item_vars(ITEM, long_answer=True)).split("\n\n")[0]
    assert direct.startswith(shared) and voc.startswith(shared)
    assert ITEM["meta"]["long_answer"] in shared and "OBJECTIVE" in shared  # abstract and long answer, both


@pytest.mark.parametrize(("args", "message"), [
    (("voc", "explain", "en"), "takes ['option']"),
    (("voc", "summarise", "en"), "has no step 'summarise'"),
    (("tot", "answer", "en"), "unknown strategy 'tot'"),
    (("direct", "answer", "fr"), "unknown language 'fr'"),
])
def test_bad_step_requests_are_named(args: tuple[str, str, str], message: str) -> None:
    with pytest.raises(prompts.PromptError, match=message.replace("[", r"\[").replace("]", r"\]")):
        prompts.render(*args, prompts.item_vars(ITEM))


def test_items_without_options_or_long_answer_are_refused() -> None:
    with pytest.raises(prompts.PromptError, match="no options"):
        prompts.item_vars({**ITEM, "options": []})
    with pytest.raises(prompts.PromptError, match="no long answer"):
        prompts.item_vars({**ITEM, "meta": {}}, long_answer=True)

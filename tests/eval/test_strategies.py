"""Strategies run their steps in order, feed each step the outputs it needs, and batch steps across items."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from curate.eval.cache import CachedBackend
from curate.eval.prompts import PromptError
from curate.eval.strategies import StrategyConfig, answer, answer_many

OPTIONS = [{"label": "A", "text": "yes"}, {"label": "B", "text": "no"}, {"label": "C", "text": "maybe"}]


def item(n: int = 0, long_answer: str = "The drug worked.") -> dict:
    return {"id": f"pubmedqa/test#{n}", "question": f"Does drug {n} work?", "context": f"RESULTS: trial {n}.",
            "options": OPTIONS, "answer": "A", "meta": {"long_answer": long_answer}}


class Scripted:
    """A backend whose reply to a prompt is ``reply(prompt)``; it records every call."""

    def __init__(self, reply: Callable[[str], str]):
        self.identity = {"kind": "scripted", "model": "script"}
        self.reply = reply
        self.calls: list[tuple[list[str], int]] = []

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, on_result: object = None) -> list[str]:
        self.calls.append((list(prompts), max_new_tokens))
        return [self.reply(p) for p in prompts]


def voc_reply(prompt: str) -> str:
    last = prompt.splitlines()[-1]
    if last.startswith("Think about why the answer is"):
        return f"Because {last.split('is ', 1)[1]}"
    if last.startswith("Please judge"):
        return "The answer is B) no. Only the no explanation fits the context."
    if "Step-3" in prompt:
        return "Answer: B"
    raise AssertionError(f"unexpected prompt: {last}")


def test_voc_explains_each_choice_then_judges_then_answers() -> None:
    backend = Scripted(voc_reply)
    result = answer(item(), "voc", backend)
    assert result["label"] == "B" and result["output"] == "Answer: B"
    assert [s["step"] for s in result["steps"]] == ["explain", "explain", "explain", "judge", "final"]
    judge, final = result["steps"][3]["prompt"], result["steps"][4]["prompt"]
    assert "Think about why the answer is C) maybe.\nBecause C) maybe." in judge
    assert "The answer is B) no. Only the no explanation fits the context." in final
    assert [len(p) for p, _ in backend.calls] == [3, 1, 1]  # the three explanations go as one batch
    assert [budget for _, budget in backend.calls] == [384, 384, 32]


def cove_reply(prompt: str) -> str:
    last = prompt.splitlines()[-1]
    if last.startswith("Give a draft answer"):
        return "A) yes, the trial shows it."
    if "verification questions" in last:
        return "1. Did the trial show an effect?\n2. Was the effect significant?\n3. Was it blinded?\n4. Extra?"
    if last.startswith("Question: "):
        return f"reply to {last[10:]}"
    if last.startswith("Revise the draft"):
        return "The answer is (a)"
    raise AssertionError(f"unexpected prompt: {last}")


def test_cove_verifies_independently_and_answers() -> None:
    backend = Scripted(cove_reply)
    result = answer(item(), "cove", backend, cfg=StrategyConfig(max_checks=2))
    assert result["label"] == "A"
    steps = [s["step"] for s in result["steps"]]
    assert steps == ["draft", "plan", "verify", "verify", "final"]
    verify = [s["prompt"] for s in result["steps"] if s["step"] == "verify"]
    assert all("A) yes, the trial" not in p for p in verify)  # independent of the draft
    assert verify[0].endswith("Question: Did the trial show an effect?")
    final = result["steps"][-1]["prompt"]
    assert "Q2: Was the effect significant?\nA2: reply to Was the effect significant?" in final
    assert "Was it blinded" not in final  # max_checks


def test_cove_without_verification_questions_goes_straight_to_the_final_step() -> None:
    backend = Scripted(lambda p: "" if "verification questions" in p else cove_reply(p))
    result = answer(item(), "cove", backend)
    assert [s["step"] for s in result["steps"]] == ["draft", "plan", "final"]
    assert "Verification:\n\nRevise" in result["steps"][-1]["prompt"]


@pytest.mark.parametrize(("strategy", "reply", "label"), [
    ("direct", "Answer: C", "C"),
    ("direct", "I am not sure", None),
    ("cot", "The trial was positive, so...\nAnswer: A", "A"),
    ("long-answer", "答案：B", "B"),
])
def test_single_step_strategies(strategy: str, reply: str, label: str | None) -> None:
    backend = Scripted(lambda p: reply)
    result = answer(item(), strategy, backend, lang="zh", cfg=StrategyConfig(shots=0))
    assert result["label"] == label and len(result["steps"]) == 1
    assert "error" not in result


def test_annotation_strategies_see_the_same_item_and_differ_only_by_voc() -> None:
    backend = Scripted(lambda p: "Answer: A")
    plain = answer(item(), "long-answer", backend)["steps"][0]["prompt"]
    with_voc = answer(item(), "long-answer+voc", Scripted(voc_reply))
    block = plain.split("\n\n")[0]
    assert "Conclusion: The drug worked." in block and "RESULTS: trial 0." in block
    assert all(s["prompt"].startswith(block + "\n\n") for s in with_voc["steps"])
    assert plain == answer(item(), "direct", backend)["steps"][0]["prompt"].replace(
        "RESULTS: trial 0.\n", "RESULTS: trial 0.\nConclusion: The drug worked.\n")


def cot_reply(prompt: str) -> str:
    last = prompt.splitlines()[-1]
    if last.startswith("The answer is"):
        return f"The trial {prompt.split('RESULTS: trial ')[1].split('.')[0]} showed it."
    return "Answer: A"


def test_few_shot_cot_explains_its_examples_once_and_never_shows_an_answered_item(tmp_path: Path) -> None:
    pool = [item(n) | {"answer": "AB"[n % 2]} for n in range(10)]
    items = [item(3), item(4)]
    backend = Scripted(cot_reply)
    cached = CachedBackend(backend, tmp_path / "cache", progress=False)
    with pytest.raises(PromptError, match="needs a pool"):
        answer_many(items, "cot", cached)
    results = answer_many(items, "cot", cached, cfg=StrategyConfig(shots=4), pool=pool)
    shots = results[0]["shots"]
    assert len(shots) == 4 and not {"pubmedqa/test#3", "pubmedqa/test#4"} & set(shots)
    assert [len(p) for p, _ in backend.calls] == [4, 2]  # the explanations once, then the items
    reason = results[0]["steps"][0]["prompt"]
    for shot in shots:
        n = shot.split("#")[1]
        assert f"Let's think step by step. The trial {n} showed it.\nAnswer: " in reason
    assert reason.index("Does drug 3 work?") > max(reason.index(f"Does drug {s.split('#')[1]} work?") for s in shots)
    again = answer_many(items, "cot", cached, cfg=StrategyConfig(shots=4), pool=pool)
    assert again == results and len(backend.calls) == 2  # all cached
    zero = answer_many(items, "cot", backend, cfg=StrategyConfig(shots=0))
    assert "Let's think step by step. The trial" not in zero[0]["steps"][0]["prompt"] and "shots" not in zero[0]
    with pytest.raises(PromptError, match="needs 12 labelled examples"):
        answer_many(items, "cot", backend, cfg=StrategyConfig(shots=12), pool=pool)


def test_items_are_run_in_lockstep_and_bad_items_are_reported() -> None:
    backend = Scripted(voc_reply)
    items = [item(0), item(1, long_answer=""), item(2)]
    results = answer_many(items, "long-answer+voc", backend)
    assert [r["label"] for r in results] == ["B", None, "B"]
    assert "no long answer" in results[1]["error"] and results[1]["steps"] == []
    assert [len(p) for p, _ in backend.calls] == [6, 2, 2]  # one call per step for all items
    assert "Does drug 2 work?" in results[2]["steps"][-1]["prompt"]


def test_unknown_strategy_is_named() -> None:
    with pytest.raises(PromptError, match="unknown strategy 'tot'"):
        answer(item(), "tot", Scripted(lambda p: ""))


def test_voc_on_the_tiny_model_is_deterministic_and_cached(tiny_export: Path, tmp_path: Path) -> None:
    from curate.eval.backends import HFBackend

    cfg = StrategyConfig(reasoning_tokens=6, answer_tokens=4)
    hf = CachedBackend(HFBackend(tiny_export), tmp_path / "cache", progress=False)
    first = answer_many([item(0), item(1)], "voc", hf, cfg=cfg)
    assert hf.misses == 10 and hf.hits == 0
    again = answer_many([item(0), item(1)], "voc", hf, cfg=cfg)
    assert again == first and hf.hits == 10
    assert all(len(r["steps"]) == 5 for r in first)

"""Prompting strategies run against a backend: direct, CoT, CoVe, VoC, and the PQA-U annotation ones.

Each strategy is a small generator program: it yields ``(step, prompts, max_new_tokens)``, receives
the completions, and finally returns the text the answer is parsed from. ``answer_many`` drives the
programs of many items in lockstep, so that each step of every item goes to the backend as one batch
(a local model batches it, an HTTP backend keeps ``concurrency`` requests in flight). Strategies:

- ``direct`` / ``cot``: one step (``answer`` / ``reason``);
- ``cove``: draft, plan verification questions, answer each on its own (the draft is not shown), final;
- ``voc``: explain why each choice could be the answer, judge the explanations, final answer;
- ``long-answer``: PQA-U annotation from the question and the conclusion (``LONG_ANSWER``) alone;
- ``long-answer+voc``: VoC over the abstract with the conclusion added to the context.

The result of an item: ``{"label": "A" | None, "output": final text, "steps": [{step, prompt, output}],
"error": message}`` (``error`` only when the item cannot be prompted, e.g. it has no long answer).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from curate.eval import prompts
from curate.eval.backends import Backend
from curate.eval.parse import parse_answer, parse_questions

Ask = tuple[str, list[str], int]  # step name, prompts, max_new_tokens
Program = Generator[Ask, list[str], str]
Render = Callable[..., str]


@dataclass(frozen=True)
class StrategyConfig:
    """Generation budgets and sampling shared by all steps."""

    reasoning_tokens: int = 384  # explanations, drafts, plans, verification answers, judgements
    answer_tokens: int = 32  # steps that should only state the answer
    max_checks: int = 3  # CoVe verification questions kept from the plan
    temperature: float = 0.0


def _direct(r: Render, options: list[dict], cfg: StrategyConfig) -> Program:
    (out,) = yield "answer", [r("answer")], cfg.answer_tokens
    return out


def _cot(r: Render, options: list[dict], cfg: StrategyConfig) -> Program:
    (out,) = yield "reason", [r("reason")], cfg.reasoning_tokens
    return out


def _cove(r: Render, options: list[dict], cfg: StrategyConfig) -> Program:
    (draft,) = yield "draft", [r("draft")], cfg.reasoning_tokens
    draft = draft.strip()
    (plan,) = yield "plan", [r("plan", draft=draft, max_checks=cfg.max_checks)], cfg.reasoning_tokens
    questions = parse_questions(plan, cfg.max_checks)
    answers = (yield "verify", [r("verify", check=q) for q in questions], cfg.reasoning_tokens) if questions else []
    checks = [{"question": q, "answer": a.strip()} for q, a in zip(questions, answers, strict=True)]
    (final,) = yield "final", [r("final", draft=draft, checks=checks)], cfg.answer_tokens
    return final


def _voc(r: Render, options: list[dict], cfg: StrategyConfig) -> Program:
    explained = yield "explain", [r("explain", option=o) for o in options], cfg.reasoning_tokens
    explanations = [{**o, "explanation": e.strip()} for o, e in zip(options, explained, strict=True)]
    (judgement,) = yield "judge", [r("judge", explanations=explanations)], cfg.reasoning_tokens
    (final,) = yield "final", [r("final", explanations=explanations, judgement=judgement.strip())], cfg.answer_tokens
    return final


@dataclass(frozen=True)
class Strategy:
    """A program, the template set its steps use, and the evidence its item block shows."""

    program: Callable[[Render, list[dict], StrategyConfig], Program]
    templates: str
    context: bool = True  # the abstract / case
    long_answer: bool = False  # PubMedQA's conclusion (annotation only)


STRATEGIES: dict[str, Strategy] = {
    "direct": Strategy(_direct, "direct"),
    "cot": Strategy(_cot, "cot"),
    "cove": Strategy(_cove, "cove"),
    "voc": Strategy(_voc, "voc"),
    "long-answer": Strategy(_direct, "long-answer", context=False, long_answer=True),
    "long-answer+voc": Strategy(_voc, "voc", long_answer=True),
}


def _start(item: Mapping[str, Any], spec: Strategy, lang: str, cfg: StrategyConfig) -> tuple[Program, list[dict]]:
    variables = prompts.item_vars(item, context=spec.context, long_answer=spec.long_answer)

    def render(step: str, **inputs: Any) -> str:
        return prompts.render(spec.templates, step, lang, variables, **inputs)

    return spec.program(render, variables["options"], cfg), variables["options"]


def _ask(backend: Backend, asks: dict[int, Ask], temperature: float) -> dict[int, list[str]]:
    """Every pending step's prompts, one backend call per token budget."""
    replies: dict[int, list[str]] = {i: [] for i in asks}
    for budget in sorted({a[2] for a in asks.values()}):
        owners = [(i, p) for i, (_, ps, b) in asks.items() if b == budget for p in ps]
        outputs = backend.generate([p for _, p in owners], max_new_tokens=budget, temperature=temperature)
        for (i, _), out in zip(owners, outputs, strict=True):
            replies[i].append(out)
    return replies


def answer_many(items: Sequence[Mapping[str, Any]], strategy: str, backend: Backend, lang: str = "en",
                cfg: StrategyConfig = StrategyConfig()) -> list[dict]:
    """Run ``strategy`` on every item, step by step across items; results in the items' order."""
    if strategy not in STRATEGIES:
        raise prompts.PromptError(f"unknown strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    spec = STRATEGIES[strategy]
    results: list[dict | None] = [None] * len(items)
    programs: dict[int, tuple[Program, list[dict]]] = {}
    for i, item in enumerate(items):
        try:
            programs[i] = _start(item, spec, lang, cfg)
        except prompts.PromptError as err:
            results[i] = {"label": None, "output": "", "steps": [], "error": str(err)}
    steps: dict[int, list[dict]] = {i: [] for i in programs}
    asks = {i: program.send(None) for i, (program, _) in programs.items()}
    while asks:
        replies = _ask(backend, asks, cfg.temperature)
        following: dict[int, Ask] = {}
        for i, (step, asked, _) in asks.items():
            steps[i] += [{"step": step, "prompt": p, "output": o} for p, o in zip(asked, replies[i], strict=True)]
            program, options = programs[i]
            try:
                following[i] = program.send(replies[i])
            except StopIteration as done:
                results[i] = {"label": parse_answer(done.value, options), "output": done.value, "steps": steps[i]}
        asks = following
    assert all(r is not None for r in results), "every program ran to its end"
    return results  # type: ignore[return-value]


def answer(item: Mapping[str, Any], strategy: str, backend: Backend, lang: str = "en",
           cfg: StrategyConfig = StrategyConfig()) -> dict:
    """One item's label (or ``None`` when unparseable) and every step's prompt and output."""
    return answer_many([item], strategy, backend, lang, cfg)[0]

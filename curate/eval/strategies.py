"""Prompting strategies run against a backend: direct, CoT, CoVe, VoC, and the PQA-U annotation ones.

Each strategy is a small generator program: it yields ``(step, prompts, max_new_tokens)``, receives
the completions, and finally returns the text the answer is parsed from. ``answer_many`` drives the
programs of many items in lockstep, so that each step of every item goes to the backend as one batch
(a local model batches it, an HTTP backend keeps ``concurrency`` requests in flight). Strategies:

- ``direct``: one step (``answer``);
- ``cot``: one step (``reason``), few-shot by default as in the seed: ``shots`` labelled examples from a
  ``pool`` (never the evaluated items), each with the model's own explanation of its gold answer, generated
  once (``explain``, cached like every request) and shown as worked examples; ``shots=0`` is zero-shot;
- ``cove``: draft, plan verification questions, answer each on its own (the draft is not shown), final;
- ``voc``: explain why each choice could be the answer, judge the explanations, final answer;
- ``long-answer`` / ``long-answer+voc``: PQA-U annotation. Both show the same item (abstract, long answer
  ``LONG_ANSWER``, question, options); the first answers directly, the second through VoC, so they differ
  by VoC alone.

The result of an item: ``{"label": "A" | None, "output": final text, "steps": [{step, prompt, output}],
"error": message}`` (``error`` only when the item cannot be prompted, e.g. it has no long answer).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
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
    shots: int = 3  # few-shot CoT examples with the model's own explanations (0: zero-shot)
    seed: int = 0  # which labelled examples become the shots


def _direct(r: Render, options: list[dict], cfg: StrategyConfig) -> Program:
    (out,) = yield "answer", [r("answer")], cfg.answer_tokens
    return out


def _cot(r: Render, options: list[dict], cfg: StrategyConfig, shots: Sequence[dict] = ()) -> Program:
    (out,) = yield "reason", [r("reason", shots=list(shots))], cfg.reasoning_tokens
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

    program: Callable[..., Program]
    templates: str
    context: bool = True  # the abstract / case
    long_answer: bool = False  # PubMedQA's conclusion (annotation only)
    few_shot: bool = False  # takes worked examples (cot)


STRATEGIES: dict[str, Strategy] = {
    "direct": Strategy(_direct, "direct"),
    "cot": Strategy(_cot, "cot", few_shot=True),
    "cove": Strategy(_cove, "cove"),
    "voc": Strategy(_voc, "voc"),
    "long-answer": Strategy(_direct, "direct", long_answer=True),
    "long-answer+voc": Strategy(_voc, "voc", long_answer=True),
}


def _start(item: Mapping[str, Any], spec: Strategy, lang: str, cfg: StrategyConfig,
           shots: Sequence[dict]) -> tuple[Program, list[dict]]:
    variables = prompts.item_vars(item, context=spec.context, long_answer=spec.long_answer)

    def render(step: str, **inputs: Any) -> str:
        return prompts.render(spec.templates, step, lang, variables, **inputs)

    if spec.few_shot:
        return spec.program(render, variables["options"], cfg, shots=shots), variables["options"]
    return spec.program(render, variables["options"], cfg), variables["options"]


def _gold(item: Mapping[str, Any]) -> dict | None:
    """The option an item's single gold label names, or None."""
    answer = str(item.get("answer") or "")
    return next(({"label": o["label"], "text": o["text"]} for o in item.get("options") or []
                 if len(answer) == 1 and o["label"] == answer), None)


def choose_shots(pool: Iterable[Mapping[str, Any]], k: int, seed: int,
                 exclude: Iterable[str] = ()) -> list[Mapping[str, Any]]:
    """``k`` labelled items of ``pool`` (none of ``exclude``), seeded, taking each gold label in turn."""
    skip = set(exclude)
    labelled = sorted((i for i in pool if _gold(i) and str(i.get("id")) not in skip), key=lambda i: str(i["id"]))
    random.Random(seed).shuffle(labelled)
    by_label: dict[str, list] = {}
    for item in labelled:
        by_label.setdefault(_gold(item)["label"], []).append(item)
    chosen: list[Mapping[str, Any]] = []
    while len(chosen) < k and any(by_label.values()):
        for label in sorted(by_label):
            if by_label[label] and len(chosen) < k:
                chosen.append(by_label[label].pop(0))
    return chosen


def cot_shots(pool: Iterable[Mapping[str, Any]], backend: Backend, lang: str, cfg: StrategyConfig,
              exclude: Iterable[str] = ()) -> list[dict]:
    """Few-shot CoT examples: labelled items with the model's own explanation of why their answer is right."""
    chosen = choose_shots(pool, cfg.shots, cfg.seed, exclude)
    if len(chosen) < cfg.shots:
        raise prompts.PromptError(f"few-shot CoT needs {cfg.shots} labelled examples outside the evaluated items, "
                                  f"found {len(chosen)}: give a larger pool or fewer shots (0: zero-shot)")
    variables = [prompts.item_vars(item) for item in chosen]
    asks = [prompts.render("cot", "explain", lang, v, answer=_gold(item)) for v, item in zip(variables, chosen,
                                                                                              strict=True)]
    outputs = backend.generate(asks, max_new_tokens=cfg.reasoning_tokens, temperature=cfg.temperature) if asks else []
    return [{**v, "id": str(item["id"]), "answer": _gold(item), "explanation": out.strip()}
            for v, item, out in zip(variables, chosen, outputs, strict=True)]


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
                cfg: StrategyConfig = StrategyConfig(), pool: Iterable[Mapping[str, Any]] | None = None) -> list[dict]:
    """Run ``strategy`` on every item, step by step across items; results in the items' order.

    ``pool``: labelled items the few-shot CoT examples are drawn from (items being answered are never drawn).
    """
    if strategy not in STRATEGIES:
        raise prompts.PromptError(f"unknown strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")
    spec = STRATEGIES[strategy]
    shots: list[dict] = []
    if spec.few_shot and cfg.shots > 0:
        if pool is None:
            raise prompts.PromptError("few-shot CoT needs a pool of labelled examples (e.g. the training split): "
                                      "pass pool=..., or shots=0 for zero-shot")
        shots = cot_shots(pool, backend, lang, cfg, exclude=[str(i.get("id")) for i in items])
    results: list[dict | None] = [None] * len(items)
    programs: dict[int, tuple[Program, list[dict]]] = {}
    for i, item in enumerate(items):
        try:
            programs[i] = _start(item, spec, lang, cfg, shots)
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
                if shots:
                    results[i]["shots"] = [shot["id"] for shot in shots]
        asks = following
    assert all(r is not None for r in results), "every program ran to its end"
    return results  # type: ignore[return-value]


def answer(item: Mapping[str, Any], strategy: str, backend: Backend, lang: str = "en",
           cfg: StrategyConfig = StrategyConfig(), pool: Iterable[Mapping[str, Any]] | None = None) -> dict:
    """One item's label (or ``None`` when unparseable) and every step's prompt and output."""
    return answer_many([item], strategy, backend, lang, cfg, pool)[0]

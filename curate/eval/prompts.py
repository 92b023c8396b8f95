"""Step prompts of the prompting strategies, rendered from ``templates/eval/strategies/<strategy>/<lang>/<step>.j2``.

Every step sees the item (``common/<lang>/item.j2``: context, optional conclusion, question, options) plus
the outputs of earlier steps it needs:

- ``direct``: ``answer``;
- ``cot``: ``explain`` (``answer``: why a labelled example's answer is right; the few-shot examples'
  explanations), ``reason`` (``shots``: worked examples with those explanations, empty for zero-shot; then
  reasoning and ``Answer: X`` on the last line);
- ``cove`` (chain-of-verification): ``draft``; ``plan`` (``draft``, ``max_checks``); ``verify`` (``check``:
  one question, answered from the context alone, without the draft); ``final`` (``draft``, ``checks``
  [{question, answer}]);
- ``voc`` (Verification-of-Choice, in the seed's Table 9 words): ``explain`` (``option``, once per choice);
  ``judge`` (``explanations`` [{label, text, explanation}]); ``final`` (``explanations``, ``judgement``).

The PQA-U annotation strategies reuse ``direct`` and ``voc`` with the long answer in the item block.

Wording lives in the templates; this module only assembles their variables and checks them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from curate.text import templates

LANGS = ("en", "zh")
STEPS: dict[str, dict[str, tuple[str, ...]]] = {
    "direct": {"answer": ()},
    "cot": {"explain": ("answer",), "reason": ("shots",)},
    "cove": {"draft": (), "plan": ("draft", "max_checks"), "verify": ("check",), "final": ("draft", "checks")},
    "voc": {"explain": ("option",), "judge": ("explanations",), "final": ("explanations", "judgement")},
}


class PromptError(ValueError):
    """A strategy, step, language or step input that no template provides for."""


def item_vars(item: Mapping[str, Any], *, context: bool = True, long_answer: bool = False) -> dict[str, Any]:
    """The item's template variables; ``context``/``long_answer`` choose the evidence shown (abstract, conclusion)."""
    options = item.get("options") or []
    if not options:
        raise PromptError(f"{item.get('id', '?')}: the item has no options to choose from")
    conclusion = (item.get("meta") or {}).get("long_answer", "") if long_answer else ""
    if long_answer and not conclusion:
        raise PromptError(f"{item.get('id', '?')}: no long answer (meta.long_answer) to annotate from")
    return {"question": item["question"], "context": item.get("context", "") if context else "",
            "long_answer": conclusion, "options": [{"label": o["label"], "text": o["text"]} for o in options]}


def template_id(strategy: str, step: str, lang: str) -> str:
    """The template id of one step, after checking that the strategy, step and language exist."""
    if strategy not in STEPS:
        raise PromptError(f"unknown strategy {strategy!r} (choose from {', '.join(STEPS)})")
    if step not in STEPS[strategy]:
        raise PromptError(f"strategy {strategy!r} has no step {step!r} (its steps: {', '.join(STEPS[strategy])})")
    if lang not in LANGS:
        raise PromptError(f"unknown language {lang!r} (choose from {', '.join(LANGS)})")
    return f"eval/strategies/{strategy}/{lang}/{step}"


def render(strategy: str, step: str, lang: str, item: Mapping[str, Any], **inputs: Any) -> str:
    """The prompt of ``strategy``'s ``step`` for ``item`` (``item_vars`` output) and earlier steps' ``inputs``."""
    tid = template_id(strategy, step, lang)
    expected = set(STEPS[strategy][step])
    if set(inputs) != expected:
        raise PromptError(f"{strategy}/{step} takes {sorted(expected) or 'no inputs'}, got {sorted(inputs)}")
    return templates.render(tid, **item, **inputs)

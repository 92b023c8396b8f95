"""Chat formatting and loss masks: turns to ``input_ids`` and ``labels`` (-100 where no loss).

The conversation is rendered with the tokenizer's own chat template (``apply_chat_template``) when its
``tokenizer_config.json`` has one, else with the project's ChatML template ``templates/chat/chatml.j2``.

Which characters carry loss is found from the template itself, so any template works without
``{% generation %}`` markers: for each assistant turn ``i``, the rendering of ``messages[:i]`` with the
generation prompt is a prefix of the rendering of ``messages[:i + 1]``, and the characters between them
are the assistant's reply and the template's end-of-turn marker (trailing whitespace excluded). A
token carries loss when it starts inside such a span; ``labels`` is then the token id itself (labels are
not shifted: the trainer shifts). A template that is not prefix-stable this way (one that rewrites
earlier turns) fails the example with ``ChatTemplateError`` rather than guessing. A template the Jinja
sandbox refuses (one that reaches for Python internals) or cannot parse fails the build with
``UnusableChatTemplate`` naming the tokenizer, since it would fail every example alike.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from curate.text import templates
from curate.tokens import tokenizer

IGNORE = -100
PROJECT_TEMPLATE = "chat/chatml.j2"


class ChatTemplateError(ValueError):
    """A conversation whose assistant spans cannot be located in the rendered template."""


class UnusableChatTemplate(ValueError):
    """A tokenizer's chat template that can render no conversation: refused by the sandbox, or unparsable."""


@dataclass(frozen=True)
class Encoded:
    """One example's tokens and labels (-100 outside assistant spans)."""

    input_ids: np.ndarray
    labels: np.ndarray


def own_template(tokenizer_dir: str | Path) -> bool:
    """Whether a tokenizer directory ships its own chat template."""
    d = Path(tokenizer_dir)
    if (d / "chat_template.jinja").is_file() or (d / "chat_template.json").is_file():
        return True
    config = d / "tokenizer_config.json"
    return config.is_file() and bool(json.loads(config.read_text(encoding="utf-8")).get("chat_template"))


class _Backend:
    """Renders conversations and tokenizes them with character offsets.

    A tokenizer with its own template goes through transformers' ``apply_chat_template``; otherwise the
    project template is rendered with Jinja (the same sandbox and whitespace rules transformers uses) and
    tokenized with ``tokenizers`` directly, which keeps transformers (and torch) out of build workers.
    """

    def __init__(self, tokenizer_dir: str):
        self.dir = tokenizer_dir
        self.source = "tokenizer" if own_template(tokenizer_dir) else "project"
        if self.source == "tokenizer":
            from transformers import AutoTokenizer

            self.hf = AutoTokenizer.from_pretrained(tokenizer_dir)
        else:
            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            self.template = env.from_string((templates.templates_dir() / PROJECT_TEMPLATE).read_text(encoding="utf-8"))
            self.tok = tokenizer.load(str(Path(tokenizer_dir) / "tokenizer.json"))

    def render(self, messages: Sequence[dict], generation: bool) -> str:
        if self.source == "project":
            return self.template.render(messages=list(messages), add_generation_prompt=generation)
        try:
            return self.hf.apply_chat_template(list(messages), tokenize=False, add_generation_prompt=generation)
        except SecurityError as err:
            raise UnusableChatTemplate(
                f"tokenizer {self.dir}: its chat template reaches outside the Jinja sandbox ({err}); nothing was "
                "rendered with it: use a tokenizer whose chat_template only formats messages") from None
        except TemplateSyntaxError as err:
            raise UnusableChatTemplate(f"tokenizer {self.dir}: its chat template does not parse ({err}, line "
                                       f"{err.lineno}): fix chat_template or remove it to use ChatML") from None
        except TemplateError as err:  # e.g. the template's raise_exception("roles must alternate"): this example
            raise ChatTemplateError(f"the tokenizer's chat template refused the conversation: {err}") from None

    def tokenize(self, texts: list[str]) -> list[tuple[list[int], list[int]]]:
        if self.source == "tokenizer":
            batch = self.hf(texts, add_special_tokens=False, return_offsets_mapping=True)
            return [(ids, [s for s, _ in offs]) for ids, offs in zip(batch["input_ids"], batch["offset_mapping"],
                                                                      strict=True)]
        return [(e.ids, [s for s, _ in e.offsets]) for part in tokenizer.calls(texts)
                for e in self.tok.encode_batch(part, add_special_tokens=False)]


@functools.cache
def _backend(tokenizer_dir: str) -> _Backend:
    return _Backend(tokenizer_dir)


def template_source(tokenizer_dir: str) -> str:
    """``"tokenizer"`` when the tokenizer ships a chat template, else ``"project"``."""
    return "tokenizer" if own_template(tokenizer_dir) else "project"


def render(tokenizer_dir: str, messages: Sequence[dict]) -> tuple[str, list[tuple[int, int]]]:
    """The rendered conversation and the character spans that carry loss."""
    backend = _backend(tokenizer_dir)
    full = backend.render(messages, False)
    spans = []
    for i, message in enumerate(messages):
        if message["role"] != "assistant":
            continue
        before, through = backend.render(messages[:i], True), backend.render(messages[:i + 1], False)
        if not (through.startswith(before) and full.startswith(through)):
            raise ChatTemplateError(f"the chat template is not prefix-stable at turn {i} (it rewrites earlier "
                                    "turns), so the assistant tokens cannot be located")
        end = len(through.rstrip())
        if end > len(before):
            spans.append((len(before), end))
    if not spans:
        raise ChatTemplateError("no assistant turn with content")
    return full, spans


def encode(tokenizer_dir: str, conversations: Sequence[Sequence[dict]]) -> list[Encoded | ChatTemplateError]:
    """Tokens and labels of each conversation (or the error that stopped it), tokenized as one batch."""
    rendered: list[tuple[str, list[tuple[int, int]]] | ChatTemplateError] = []
    for messages in conversations:
        try:
            rendered.append(render(tokenizer_dir, messages))
        except ChatTemplateError as err:
            rendered.append(err)
    texts = [r[0] for r in rendered if not isinstance(r, ChatTemplateError)]
    tokens = _backend(tokenizer_dir).tokenize(texts) if texts else []
    out: list[Encoded | ChatTemplateError] = []
    k = 0
    for r in rendered:
        if isinstance(r, ChatTemplateError):
            out.append(r)
            continue
        ids = np.asarray(tokens[k][0], dtype=np.int32)
        starts = np.asarray(tokens[k][1], dtype=np.int64)
        k += 1
        edges = np.asarray([e for span in r[1] for e in span], dtype=np.int64)  # sorted: s0 e0 s1 e1 ...
        inside = (np.searchsorted(edges, starts, side="right") % 2) == 1
        out.append(Encoded(ids, np.where(inside, ids, IGNORE).astype(np.int32)))
    return out

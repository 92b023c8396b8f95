"""Option scoring: the log-likelihood of each option's continuation given a shared prompt.

A ``Request`` is one item: a context (the prompt) and its options; option ``i`` is scored as the
continuation ``delimiter + options[i]``. Tokenization follows lm-eval-harness (``_encode_pair``):
trailing whitespace of the context moves into the continuation, context + continuation is encoded
whole, and the continuation is what follows the first ``len(encode(context))`` tokens. The model reads
``(context + continuation)[:-1]`` and the continuation tokens are scored (no BOS is added: the bundled
tokenizer has none, and an export's tokenizer adds what its config says, as lm-eval's does).

Methods (all three come from the same forward, so every item carries all of them):

- ``ppl``: lowest mean NLL over the continuation tokens (the seed's perplexity ranking);
- ``acc``: highest summed log-likelihood (lm-eval's ``acc``);
- ``acc_norm``: highest summed log-likelihood per character of the option (lm-eval's ``acc_norm``:
  ``len(options[i])``, the delimiter not counted).

Ties go to the first option (``argmax``). Two forward strategies give the same scores (to float
rounding): ``naive`` feeds each option's full sequence (options batched together, lm-eval's way);
``prefix`` runs the tokens the options share once, keeps the KV cache, and feeds only each option's
remaining tokens, all options as one batch over the cache expanded to the options (``prefix_loop``
feeds them one at a time over a copy of the cache instead).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from curate.eval.model import cache_keyword, output_cache

METHODS = ("ppl", "acc", "acc_norm")
MODES = ("naive", "prefix", "prefix_loop")


@dataclass(frozen=True)
class Request:
    """One item to score: a prompt and its options (each scored as ``delimiter + option``)."""

    context: str
    options: tuple[str, ...]
    delimiter: str = " "
    move_whitespace: bool = True  # lm-eval moves the context's trailing whitespace into the continuation


@dataclass(frozen=True)
class OptionScore:
    """One option's scores: summed log-likelihood, token and character counts, whether greedy decoding gives it."""

    logprob: float
    n_tokens: int
    n_chars: int
    greedy: bool

    @property
    def mean_nll(self) -> float:
        """Mean negative log-likelihood per continuation token (the perplexity-ranking score)."""
        return -self.logprob / self.n_tokens

    @property
    def norm(self) -> float:
        """Summed log-likelihood per character (lm-eval's acc_norm score)."""
        return self.logprob / max(self.n_chars, 1)

    def as_dict(self) -> dict[str, Any]:
        """Every score, for per-item dumps."""
        return {"logprob": self.logprob, "mean_nll": self.mean_nll, "norm": self.norm, "n_tokens": self.n_tokens,
                "n_chars": self.n_chars, "greedy": self.greedy}


def method_value(score: OptionScore, method: str) -> float:
    """The value ``method`` maximises."""
    if method == "ppl":
        return -score.mean_nll
    if method == "acc":
        return score.logprob
    if method == "acc_norm":
        return score.norm
    raise ValueError(f"score: unknown method {method!r}; use one of {', '.join(METHODS)}")


def choose(scores: Sequence[OptionScore], method: str) -> int:
    """Index of the option ``method`` picks (the first on ties)."""
    values = [method_value(s, method) for s in scores]
    return max(range(len(values)), key=lambda i: (values[i], -i))


def encode_pair(tokenizer: Any, context: str, continuation: str, move_whitespace: bool = True
                ) -> tuple[list[int], list[int]]:
    """Context and continuation token ids, split as lm-eval-harness's ``_encode_pair`` splits them."""
    if not context:
        raise ValueError("score: empty context (every option needs a prompt to condition on)")
    n_spaces = len(context) - len(context.rstrip()) if move_whitespace else 0
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = tokenizer.encode(context + continuation)
    n_ctx = len(tokenizer.encode(context))
    cont = whole[n_ctx:]
    if not cont:
        raise ValueError(f"score: continuation {continuation!r} has no tokens of its own after {context[-40:]!r}")
    return whole[:n_ctx], cont


def _pairs(tokenizer: Any, request: Request) -> list[tuple[list[int], list[int]]]:
    if not request.options:
        raise ValueError("score: a request needs at least one option")
    return [encode_pair(tokenizer, request.context, request.delimiter + o, request.move_whitespace)
            for o in request.options]


def _option_score(logprobs: torch.Tensor, cont: list[int], n_chars: int) -> OptionScore:
    """Score from the log-probabilities at the continuation's positions ([len(cont), vocab])."""
    target = torch.tensor(cont, device=logprobs.device)
    picked = logprobs.gather(-1, target[:, None]).squeeze(-1)
    greedy = bool((logprobs.argmax(-1) == target).all())
    return OptionScore(float(picked.double().sum()), len(cont), n_chars, greedy)


def _right_pad(seqs: list[list[int]], pad: int) -> torch.Tensor:
    width = max(len(s) for s in seqs)
    return torch.tensor([s + [pad] * (width - len(s)) for s in seqs], dtype=torch.long)


def _logprobs(logits: torch.Tensor) -> torch.Tensor:
    return torch.log_softmax(logits.float(), dim=-1)


@torch.no_grad()
def _score_naive(model: Any, pairs: list[tuple[list[int], list[int]]], n_chars: list[int], device: Any
                 ) -> list[OptionScore]:
    """Every option as its own full sequence, the options as one right-padded batch (no mask: causal)."""
    inputs = [(ctx + cont)[:-1] for ctx, cont in pairs]
    batch = _right_pad(inputs, 0).to(device)
    # Only the positions that predict continuation tokens need the LM head and a softmax.
    keep = batch.shape[1] - min(len(inp) - len(cont) for inp, (_, cont) in zip(inputs, pairs, strict=True))
    logits = model(batch, logits_to_keep=keep).logits
    offset = batch.shape[1] - logits.shape[1]
    return [_option_score(_logprobs(row[len(inp) - len(cont) - offset:len(inp) - offset]), cont, n)
            for row, inp, (_, cont), n in zip(logits, inputs, pairs, n_chars, strict=True)]


def _common_prefix(a: list[int], b: list[int]) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _shared_length(pairs: list[tuple[list[int], list[int]]]) -> int:
    """Tokens every option's input starts with, no further than any option's context (its first scored logit)."""
    inputs = [(ctx + cont)[:-1] for ctx, cont in pairs]
    return min([len(ctx) for ctx, _ in pairs] + [_common_prefix(inputs[0], inp) for inp in inputs[1:]])


@torch.no_grad()
def _score_prefix(model: Any, pairs: list[tuple[list[int], list[int]]], n_chars: list[int], device: Any,
                  loop: bool) -> list[OptionScore]:
    """The shared prefix once, then each option's remaining tokens over its KV cache."""
    p = _shared_length(pairs)
    if p == 0:  # nothing shared (cannot happen with a common context, but stay correct)
        return _score_naive(model, pairs, n_chars, device)
    inputs = [(ctx + cont)[:-1] for ctx, cont in pairs]
    key = cache_keyword(model)
    out = model(torch.tensor([inputs[0][:p]], device=device), use_cache=True, logits_to_keep=1)
    last = _logprobs(out.logits[0, -1:])  # predicts the token after the prefix
    cache = output_cache(out)
    rests = [inp[p:] for inp in inputs]
    tails: list[torch.Tensor] = [last[:0]] * len(pairs)
    if any(rests):
        if loop:
            for i, rest in enumerate(rests):
                if rest:
                    step = model(torch.tensor([rest], device=device), **{key: copy.deepcopy(cache)}, use_cache=True)
                    tails[i] = _logprobs(step.logits[0])
        else:
            cache.batch_repeat_interleave(len(pairs))
            logits = model(_right_pad(rests, 0).to(device), **{key: cache}, use_cache=True).logits
            tails = [_logprobs(logits[i, :len(rest)]) for i, rest in enumerate(rests)]
    scores = []
    for (_, cont), tail, n in zip(pairs, tails, n_chars, strict=True):
        lp = torch.cat([last, tail])  # positions p-1 .. len(input)-1
        scores.append(_option_score(lp[len(lp) - len(cont):], cont, n))
    return scores


def score(model: Any, tokenizer: Any, request: Request, mode: str = "prefix") -> list[OptionScore]:
    """Scores of every option of one request."""
    if mode not in MODES:
        raise ValueError(f"score: unknown mode {mode!r}; use one of {', '.join(MODES)}")
    pairs = _pairs(tokenizer, request)
    n_chars = [len(o) for o in request.options]
    device = next(model.parameters()).device
    if mode == "naive":
        return _score_naive(model, pairs, n_chars, device)
    return _score_prefix(model, pairs, n_chars, device, loop=mode == "prefix_loop")


def score_all(model: Any, tokenizer: Any, requests: Sequence[Request], mode: str = "prefix",
              progress: bool = False) -> list[list[OptionScore]]:
    """Scores of every option of every request, in order."""
    it = requests
    if progress:
        from tqdm import tqdm

        it = tqdm(requests, desc="scoring", unit="item")
    return [score(model, tokenizer, r, mode) for r in it]


def is_finite(scores: Sequence[OptionScore]) -> bool:
    """Whether every score is a finite number (a NaN means a broken model or dtype)."""
    return all(math.isfinite(s.logprob) for s in scores)

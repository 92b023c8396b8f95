"""The stage-1 blend: Megatron weights derived from each source's tokens and target, and the epochs they imply.

A mixture recipe's ``[blend]`` table states, for every source, its ``tokens`` (the size of the corpus the
blend is meant for: the seed's Table 2 in the default recipe, or your build manifest's
``sources.<name>.tokens``) and one target:

- ``epochs``: passes over the source, relative to the other epoch sources (equal epochs mix by size);
- ``share``: a fixed fraction of the trained tokens (no ``tokens`` needed).

Share sources take their shares; epoch sources split the rest in proportion to ``tokens x epochs``. With
every source at ``epochs = 1`` the weights are the sources' token shares; for Table 2 (books 7.18B,
articles 7.71B, QA 0.24B, KG 0.15B, exams 0.11B) that is 46.7%, 50.1%, 1.6%, 1.0% and 0.7%.

``repeat_limit`` (default 4: about where repeated data stops being nearly as good as new data) is the
number of passes over any source above which the trainer warns, once it knows its token budget
(``epochs_at``, ``report``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_REPEAT_LIMIT = 4.0


class BlendError(ValueError):
    """A ``[blend]`` table that does not describe every source with one valid target."""


@dataclass(frozen=True)
class Target:
    """One source's stated size and target."""

    name: str
    tokens: float | None = None
    epochs: float | None = None
    share: float | None = None


@dataclass(frozen=True)
class Blend:
    """Targets for every source of a mixture, in the recipe's order, and the repeat limit."""

    targets: tuple[Target, ...]
    repeat_limit: float = DEFAULT_REPEAT_LIMIT

    def stated_tokens(self) -> dict[str, float | None]:
        """The tokens the recipe states per source."""
        return {t.name: t.tokens for t in self.targets}


def _number(value: object, what: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise BlendError(f"{where}: {what} must be a positive number, got {value!r}")
    return float(value)


def _target(name: str, entry: object, where: str) -> Target:
    if not isinstance(entry, Mapping):
        raise BlendError(f"{where}: {name} = {{ tokens = ..., epochs = ... }} or {{ share = ... }}, got {entry!r}")
    if unknown := sorted(set(entry) - {"tokens", "epochs", "share"}):
        raise BlendError(f"{where}: {name}: unknown key(s) {', '.join(unknown)}; known: tokens, epochs, share")
    if ("epochs" in entry) == ("share" in entry):
        raise BlendError(f"{where}: {name} needs exactly one target, epochs or share")
    tokens = _number(entry["tokens"], f"{name}.tokens", where) if "tokens" in entry else None
    if "share" in entry:
        share = _number(entry["share"], f"{name}.share", where)
        if share >= 1:
            raise BlendError(f"{where}: {name}.share must be below 1, got {share}")
        return Target(name, tokens, share=share)
    if tokens is None:
        raise BlendError(f"{where}: {name} has epochs but no tokens (state its tokens, e.g. from the build manifest)")
    return Target(name, tokens, epochs=_number(entry["epochs"], f"{name}.epochs", where))


def parse(section: Mapping[str, object], sources: Sequence[str], where: str) -> Blend:
    """The ``[blend]`` table of a mixture recipe whose sources are ``sources`` (every one must be described)."""
    if unknown := sorted(set(section) - {"repeat_limit", "sources"}):
        raise BlendError(f"{where} [blend]: unknown key(s) {', '.join(unknown)}; known: repeat_limit, sources")
    entries = section.get("sources") or {}
    if not isinstance(entries, Mapping):
        raise BlendError(f"{where} [blend]: sources must be a table of source = {{ ... }}")
    missing, extra = [s for s in sources if s not in entries], sorted(set(entries) - set(sources))
    if missing or extra:
        raise BlendError(f"{where} [blend.sources]: every source needs a target and only sources have one "
                         f"(missing: {', '.join(missing) or 'none'}; not a source: {', '.join(extra) or 'none'})")
    targets = tuple(_target(s, entries[s], f"{where} [blend.sources]") for s in sources)
    shares = sum(t.share or 0.0 for t in targets)
    if shares > 1 + 1e-9 or (shares < 1 - 1e-9 and all(t.share is not None for t in targets)):
        raise BlendError(f"{where} [blend.sources]: the shares add up to {shares:g}; they must add up to 1, or to "
                         f"less than 1 with epoch sources taking the rest")
    if shares >= 1 - 1e-9 and any(t.epochs is not None for t in targets):
        raise BlendError(f"{where} [blend.sources]: the shares take all of the tokens, none is left for the epoch "
                         f"sources")
    limit = _number(section.get("repeat_limit", DEFAULT_REPEAT_LIMIT), "repeat_limit", f"{where} [blend]")
    return Blend(targets, limit)


def weights(blend: Blend) -> dict[str, float]:
    """Normalised Megatron weights per source: shares as given, the rest by ``tokens x epochs``."""
    shares = {t.name: t.share for t in blend.targets if t.share is not None}
    mass = {t.name: t.tokens * t.epochs for t in blend.targets if t.epochs is not None}
    rest, total = 1.0 - sum(shares.values()), sum(mass.values())
    return {t.name: shares[t.name] if t.name in shares else rest * mass[t.name] / total for t in blend.targets}


def epochs_at(weights_: Mapping[str, float], tokens: Mapping[str, float], budget: float) -> dict[str, float]:
    """Passes over each source when ``budget`` tokens are drawn with ``weights_`` (``inf`` for an empty source)."""
    total = sum(weights_.values())
    return {name: (w / total * budget / tokens[name]) if tokens.get(name) else math.inf
            for name, w in weights_.items()}


def report(weights_: Mapping[str, float], tokens: Mapping[str, float], budget: float, *,
           repeat_limit: float = DEFAULT_REPEAT_LIMIT,
           stated: Mapping[str, float | None] | None = None) -> tuple[list[str], list[str]]:
    """A table of weight, tokens and epochs per source at ``budget``, and a warning per source above the limit."""
    passes = epochs_at(weights_, tokens, budget)
    width = max(6, *map(len, weights_))
    lines = [f"  {'source':<{width}}  {'weight':>7}  {'tokens here':>14}  {'tokens stated':>14}  {'epochs':>8}"]
    for name, w in weights_.items():
        said = (stated or {}).get(name)
        lines.append(f"  {name:<{width}}  {w:>7.4f}  {tokens.get(name, 0):>14,.0f}  "
                     f"{'-' if said is None else f'{said:,.0f}':>14}  {passes[name]:>8.3g}")
    warnings = [f"{name} would be repeated {n:.3g} times at this budget (repeat_limit {repeat_limit:g}): lower its "
                f"epochs or share in the recipe's [blend], or train on fewer tokens"
                for name, n in passes.items() if n > repeat_limit]
    return lines, warnings

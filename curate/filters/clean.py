"""The clean step: Unicode and whitespace normalisation, then light quality filters.

Normalisation (a kept record that changes gets a ``modify`` row naming what changed):

- ``nfkc``: ``text.safe_nfkc`` (lossless compatibility folds only);
- ``whitespace``: control and zero-width characters, runs of spaces, blank-line runs.

Filters, in order (a dropped record gets a ``drop`` row named after the rule, with the value and
the threshold):

- ``min_length`` / ``max_length``: characters after normalisation;
- ``symbol_ratio``: share of characters that are neither word characters nor whitespace.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from curate import text
from curate.ledger import Ledger


@dataclass(frozen=True)
class CleanConfig:
    """Thresholds of the clean step (recipes set them per source)."""

    nfkc: bool = True
    min_chars: int = 20
    max_chars: int = 5_000_000
    max_symbol_ratio: float = 0.3


def check(body: str, cfg: CleanConfig) -> tuple[str, str] | None:
    """``None`` when ``body`` passes every filter, else ``(rule, detail)`` of the first that fails."""
    if len(body) < cfg.min_chars:
        return "min_length", f"{len(body)} chars < {cfg.min_chars}"
    if len(body) > cfg.max_chars:
        return "max_length", f"{len(body)} chars > {cfg.max_chars}"
    ratio = text.symbol_ratio(body)
    if ratio > cfg.max_symbol_ratio:
        return "symbol_ratio", f"{ratio:.2f} > {cfg.max_symbol_ratio}"
    return None


def clean(table: pa.Table, cfg: CleanConfig, ledger: Ledger) -> pa.Table:
    """Normalise and filter one batch of documents."""
    ids = table["id"].to_pylist()
    keep: list[bool] = []
    bodies: list[str] = []
    for id_, body in zip(ids, table["text"].to_pylist(), strict=True):
        changed = []
        if cfg.nfkc:
            folded = text.safe_nfkc(body)
            if folded != body:
                changed.append("nfkc")
            body = folded
        spaced = text.normalize_whitespace(body)
        if spaced != body:
            changed.append("whitespace")
        body = spaced
        failure = check(body, cfg)
        if failure:
            ledger.drop(id_, *failure)
            keep.append(False)
            continue
        if changed:
            ledger.modify(id_, "normalize", ",".join(changed))
        keep.append(True)
        bodies.append(body)
    kept = table.filter(pa.array(keep, pa.bool_()))
    return kept.set_column(kept.schema.get_field_index("text"), "text", pa.array(bodies, pa.string()))

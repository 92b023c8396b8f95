"""The clean step: Unicode and whitespace normalisation.

- ``nfkc``: ``text.safe_nfkc`` (lossless compatibility folds only);
- ``whitespace``: control and zero-width characters, runs of spaces, blank-line runs.

A kept record that changes gets a ``modify`` row naming what changed; a record left with no text
is dropped (``empty_text``). Length, symbol, repetition and language rules are quality thresholds
(``filters.quality``), applied after the signals are computed.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curate.core.step import Context, Out
from curate.text import batchnorm
from curate.text import normalise as text


@dataclass(frozen=True)
class CleanConfig:
    """Normalisation switches."""

    nfkc: bool = True


def clean(table: pa.Table, cfg: CleanConfig, ctx: Context) -> Out:
    """Normalise one batch of documents (a step)."""
    ledger = ctx.ledger()
    texts = table["text"].to_pylist()
    # Most documents are already normal: those no rule can change skip both passes (NFC is checked apart,
    # quickly, as it is per text). The few others are normalised one by one and put back in the column.
    suspect = batchnorm.clean_candidates(texts, cfg.nfkc)
    if cfg.nfkc:
        suspect |= np.fromiter((not unicodedata.is_normalized("NFC", t) for t in texts), dtype=bool, count=len(texts))
    keep = np.ones(len(texts), dtype=bool)
    changed = np.zeros(len(texts), dtype=bool)
    bodies = []
    ids = table["id"]
    for i in np.flatnonzero(suspect).tolist():
        body, reasons = _normalised(texts[i], cfg)
        if not body:
            ledger.drop(ids[i].as_py(), "empty_text", "no text left after normalisation")
            keep[i] = False
        elif reasons:
            ledger.modify(ids[i].as_py(), "normalize", ",".join(reasons))
            changed[i] = True
            bodies.append(body)
    column = table["text"].combine_chunks().cast(pa.string())
    if bodies:
        column = pc.replace_with_mask(column, pa.array(changed), pa.array(bodies, pa.string()))
    mask = pa.array(keep)
    kept = table.filter(mask)
    kept = kept.set_column(kept.schema.get_field_index("text"), "text", column.filter(mask))
    return Out(kept, ledger.table())


def _normalised(body: str, cfg: CleanConfig) -> tuple[str, list[str]]:
    """A text after the configured normalisations, and the names of those that changed it."""
    changed = []
    if cfg.nfkc:
        folded = text.safe_nfkc(body)
        if folded != body:
            changed.append("nfkc")
        body = folded
    spaced = text.normalize_whitespace(body)
    if spaced != body:
        changed.append("whitespace")
    return spaced, changed

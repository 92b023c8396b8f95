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

import pyarrow as pa

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
    keep: list[bool] = []
    bodies: list[str] = []
    texts = table["text"].to_pylist()
    # Most documents are already normal: those no rule can change skip both passes (NFC is checked apart,
    # quickly, as it is per text).
    suspect = batchnorm.clean_candidates(texts, cfg.nfkc).tolist()
    for id_, body, maybe in zip(table["id"].to_pylist(), texts, suspect, strict=True):
        if not maybe and (not cfg.nfkc or unicodedata.normalize("NFC", body) is body):
            keep.append(True)
            bodies.append(body)
            continue
        changed = []
        if cfg.nfkc:
            folded = text.safe_nfkc(body)
            if folded != body:
                changed.append("nfkc")
            body = folded
        spaced = text.normalize_whitespace(body)
        if spaced != body:
            changed.append("whitespace")
        if not spaced:
            ledger.drop(id_, "empty_text", "no text left after normalisation")
            keep.append(False)
            continue
        if changed:
            ledger.modify(id_, "normalize", ",".join(changed))
        keep.append(True)
        bodies.append(spaced)
    kept = table.filter(pa.array(keep, pa.bool_()))
    kept = kept.set_column(kept.schema.get_field_index("text"), "text", pa.array(bodies, pa.string()))
    return Out(kept, ledger.table())

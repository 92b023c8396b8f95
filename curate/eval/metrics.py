"""Classification metrics of an evaluation: accuracy, macro-F1 and the confusion matrix (no sklearn).

Macro-F1 follows PubMedQA's official ``evaluation.py``, which calls ``sklearn.metrics.f1_score(truth,
preds, average="macro")`` with sklearn's defaults: the labels averaged over are those that occur in
the gold labels or the predictions (a label that occurs in neither is left out, rather than counted as
an F1 of 0 or 1), and a label with no true positives has F1 0 (sklearn's ``zero_division`` result
for precision or recall, which makes F1 0). Per label, F1 = 2TP / (2TP + FP + FN).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _check(gold: Sequence[str], pred: Sequence[str]) -> None:
    if len(gold) != len(pred):
        raise ValueError(f"metrics: {len(gold)} gold labels but {len(pred)} predictions")
    if not gold:
        raise ValueError("metrics: no items to score")


def accuracy(gold: Sequence[str], pred: Sequence[str]) -> float:
    """Fraction of items whose prediction equals the gold label."""
    _check(gold, pred)
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def present_labels(gold: Sequence[str], pred: Sequence[str], order: Sequence[str] = ()) -> list[str]:
    """Labels that occur in gold or predictions: those of ``order`` first, in its order, then the rest sorted."""
    seen = set(gold) | set(pred)
    return [x for x in order if x in seen] + sorted(seen - set(order))


def per_label_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """F1 of each label in ``labels`` (0 when it has no true positive)."""
    _check(gold, pred)
    out = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, pred, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, pred, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, pred, strict=True))
        out[label] = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    return out


def macro_f1(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Unweighted mean F1 over ``labels`` (default: the labels present in gold or predictions, as sklearn)."""
    labels = present_labels(gold, pred) if labels is None else list(labels)
    if not labels:
        raise ValueError("metrics: no labels to average over")
    f1 = per_label_f1(gold, pred, labels)
    return sum(f1.values()) / len(labels)


def confusion(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, dict[str, int]]:
    """``matrix[gold][pred]`` counts over ``labels`` (a prediction outside them is counted under ``"other"``)."""
    _check(gold, pred)
    matrix = {g: {p: 0 for p in labels} for g in labels}
    for g, p in zip(gold, pred, strict=True):
        if g not in matrix:
            raise ValueError(f"metrics: gold label {g!r} is not one of {list(labels)}")
        row = matrix[g]
        key = p if p in row else "other"
        row[key] = row.get(key, 0) + 1
    return matrix


def summary(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 (sklearn's label rule), per-label F1, confusion matrix and ``n``."""
    present = present_labels(gold, pred, labels)
    return {"accuracy": accuracy(gold, pred), "macro_f1": macro_f1(gold, pred, present),
            "f1": per_label_f1(gold, pred, present), "confusion": confusion(gold, pred, labels), "n": len(gold)}


def format_confusion(matrix: Mapping[str, Mapping[str, int]]) -> str:
    """The confusion matrix as a small text table (rows gold, columns predicted)."""
    cols = list(matrix) + (["other"] if any("other" in row for row in matrix.values()) else [])
    width = max(len(c) for c in [*cols, *matrix, "gold\\pred"]) + 1
    lines = ["gold\\pred".ljust(width) + "".join(c.rjust(width) for c in cols)]
    lines += [g.ljust(width) + "".join(str(row.get(c, 0)).rjust(width) for c in cols) for g, row in matrix.items()]
    return "\n".join(lines)

"""Accuracy, macro-F1 (PubMedQA's official sklearn rule) and the confusion matrix on hand-computed cases."""

from __future__ import annotations

import pytest

from curate.eval.metrics import accuracy, confusion, format_confusion, macro_f1, per_label_f1, present_labels, summary

LABELS = ("yes", "no", "maybe")
GOLD = ["yes", "yes", "no", "maybe", "no", "yes"]
PRED = ["yes", "no", "no", "no", "no", "maybe"]


def test_accuracy_by_hand():
    assert accuracy(GOLD, PRED) == pytest.approx(3 / 6)
    assert accuracy(["a"], ["a"]) == 1.0


def test_macro_f1_by_hand():
    # yes: TP 1, FP 0, FN 2 -> 2/4; no: TP 2, FP 2, FN 0 -> 4/6; maybe: TP 0 -> 0
    assert per_label_f1(GOLD, PRED, LABELS) == pytest.approx({"yes": 0.5, "no": 2 / 3, "maybe": 0.0})
    assert macro_f1(GOLD, PRED) == pytest.approx((0.5 + 2 / 3 + 0.0) / 3)


def test_labels_in_neither_gold_nor_predictions_are_left_out_as_sklearn_does():
    gold, pred = ["yes", "no"], ["yes", "yes"]  # maybe occurs nowhere
    assert present_labels(gold, pred, LABELS) == ["yes", "no"]
    assert macro_f1(gold, pred) == pytest.approx((2 / 3 + 0.0) / 2)  # not /3
    assert macro_f1(gold, pred, LABELS) == pytest.approx((2 / 3 + 0.0 + 0.0) / 3)  # explicit labels: counted
    # a label that is only predicted counts, with F1 0
    assert macro_f1(["yes", "yes"], ["yes", "maybe"]) == pytest.approx((2 / 3 + 0.0) / 2)


def test_confusion_rows_are_gold_columns_predicted():
    matrix = confusion(GOLD, PRED, LABELS)
    assert matrix == {"yes": {"yes": 1, "no": 1, "maybe": 1}, "no": {"yes": 0, "no": 2, "maybe": 0},
                      "maybe": {"yes": 0, "no": 1, "maybe": 0}}
    assert confusion(["yes"], ["unparsed"], LABELS)["yes"]["other"] == 1
    text = format_confusion(matrix).splitlines()
    assert text[0].split() == ["gold\\pred", "yes", "no", "maybe"] and text[1].split() == ["yes", "1", "1", "1"]
    with pytest.raises(ValueError, match="gold label 'x'"):
        confusion(["x"], ["yes"], LABELS)


def test_summary_and_bad_inputs():
    s = summary(GOLD, PRED, LABELS)
    assert s["accuracy"] == pytest.approx(0.5) and s["n"] == 6
    assert s["macro_f1"] == pytest.approx(macro_f1(GOLD, PRED)) and list(s["f1"]) == ["yes", "no", "maybe"]
    with pytest.raises(ValueError, match="2 gold labels but 1 predictions"):
        accuracy(["yes", "no"], ["yes"])
    with pytest.raises(ValueError, match="no items"):
        accuracy([], [])

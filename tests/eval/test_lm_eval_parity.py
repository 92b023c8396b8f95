"""Parity with lm-eval-harness: on 50 PubMedQA items, per-option log-likelihoods to 1e-4 and ``acc`` item by item."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.eval.conftest import pqal_items

pytest.importorskip("torch")
pytest.importorskip("lm_eval")

ROOT = Path(__file__).resolve().parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("lm_eval_parity", ROOT / "bench" / "lm_eval_parity.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_our_scores_equal_lm_eval_harness(tiny_export, tmp_path):
    report = _bench().run_parity(tiny_export, pqal_items(50, seed=3), tmp_path, batch_size=16)
    assert report["items"] == 50 and report["options"] == 150
    assert report["prompts_equal"] == 50  # our lm_eval template renders lm-eval's own doc_to_text
    assert report["max_abs_diff"] < 1e-4
    assert report["acc_agree"] == 50
    assert report["acc_ours"] == report["acc_lm_eval"]


def test_compare_notices_a_difference():
    bench = _bench()
    ours = {"1": {"context": "c", "logprobs": [-1.0, -2.0, -3.0], "acc": 1.0}}
    theirs = {"1": {"context": "c", "logprobs": [-1.0, -2.5, -3.0], "acc": 0.0}}
    report = bench.compare(ours, theirs)
    assert report["max_abs_diff"] == pytest.approx(0.5) and report["acc_agree"] == 0
    with pytest.raises(ValueError, match="item sets differ"):
        bench.compare(ours, {})

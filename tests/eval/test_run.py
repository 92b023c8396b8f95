"""Evaluation runs on the tiny export: every method, the official predictions checks, MCQ sets, adapters, generation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from curate.eval.run import PredictionsError, check_predictions, evaluate_mcq, evaluate_pubmedqa  # noqa: E402

LABELS = ("yes", "no", "maybe")


def _read(out: Path) -> tuple[dict, list[dict], dict]:
    preds = json.loads((out / "predictions.json").read_text())
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text().splitlines()]
    return preds, rows, json.loads((out / "metrics.json").read_text())


@pytest.mark.parametrize(("method", "prompt"), [("ppl", "chat"), ("acc", "lm_eval"), ("acc_norm", "chat")])
def test_pubmedqa_methods_write_official_predictions(tiny_export, pqal_files, tmp_path, method, prompt):
    data, truth = pqal_files
    metrics = evaluate_pubmedqa(tiny_export, data, truth, tmp_path / "out", method=method, prompt=prompt)
    preds, rows, saved = _read(tmp_path / "out")
    expected = json.loads(truth.read_text())
    assert set(preds) == set(expected) and set(preds.values()) <= set(LABELS)
    check_predictions(preds, expected)  # what the official evaluation.py asserts
    assert saved == metrics and metrics["n"] == 6 and metrics["method"] == method and metrics["prompt"] == prompt
    assert metrics["model"] == str(tiny_export) and metrics["adapter"] is None
    assert metrics["accuracy"] == pytest.approx(sum(r["pred"] == r["gold"] for r in rows) / 6)
    assert metrics["accuracy_by_method"][method] == metrics["accuracy"]
    assert sum(sum(row.values()) for row in metrics["confusion"].values()) == 6
    for row in rows:
        assert row["gold"] == expected[row["id"]] and row["pred"] == preds[row["id"]] == row["picks"][method]
        assert set(row["scores"]) == set(LABELS)
        assert all({"logprob", "mean_nll", "norm", "n_tokens", "n_chars"} <= set(s) for s in row["scores"].values())


def test_pubmedqa_run_is_deterministic(tiny_export, pqal_files, tmp_path):
    data, truth = pqal_files
    for name in ("a", "b"):
        evaluate_pubmedqa(tiny_export, data, truth, tmp_path / name, method="acc", prompt="lm_eval")
    assert (tmp_path / "a" / "items.jsonl").read_text() == (tmp_path / "b" / "items.jsonl").read_text()


def test_limit_checks_the_evaluated_subset(tiny_export, pqal_files, tmp_path):
    data, truth = pqal_files
    metrics = evaluate_pubmedqa(tiny_export, data, truth, tmp_path, method="ppl", prompt="lm_eval", limit=2)
    assert metrics["n"] == 2 and metrics["limit"] == 2
    assert len(json.loads((tmp_path / "predictions.json").read_text())) == 2


def test_check_predictions_enforces_the_official_rules():
    truth = {"1": "yes", "2": "no"}
    check_predictions({"1": "no", "2": "maybe"}, truth)
    with pytest.raises(PredictionsError, match="1 missing"):
        check_predictions({"1": "no"}, truth)
    with pytest.raises(PredictionsError, match="1 extra"):
        check_predictions({"1": "no", "2": "no", "3": "yes"}, truth)
    with pytest.raises(PredictionsError, match="not one of"):
        check_predictions({"1": "no", "2": "A"}, truth)
    with pytest.raises(PredictionsError, match="fallback_to_ppl"):
        check_predictions({"1": "no", "2": None}, truth)


def test_gold_labels_that_disagree_with_the_data_are_refused(tiny_export, pqal_files, tmp_path):
    data, truth = pqal_files
    wrong = {pmid: ("no" if label == "yes" else "yes") for pmid, label in json.loads(truth.read_text()).items()}
    truth.write_text(json.dumps(wrong))
    with pytest.raises(ValueError, match="gold labels"):
        evaluate_pubmedqa(tiny_export, data, truth, tmp_path / "out")


def test_bad_method_or_prompt_is_refused(tiny_export, pqal_files, tmp_path):
    data, truth = pqal_files
    with pytest.raises(ValueError, match="unknown method"):
        evaluate_pubmedqa(tiny_export, data, truth, tmp_path, method="bleu")
    with pytest.raises(ValueError, match="unknown prompt"):
        evaluate_pubmedqa(tiny_export, data, truth, tmp_path, prompt="alpaca")


def test_mcq_scores_label_and_text(tiny_export, tmp_path):
    mmlu = tmp_path / "anatomy_test.csv"
    mmlu.write_text("Which organ pumps blood?,Heart,Liver,Lung,Kidney,A\n"
                    "Which bone is in the thigh?,Radius,Femur,Ulna,Tibia,B\n"
                    "哪个器官负责过滤血液？,心脏,肝脏,肺,肾脏,D\n")
    for prompt in ("chat", "lm_eval"):
        metrics = evaluate_mcq(tiny_export, "mmlu", mmlu, tmp_path / prompt, prompt=prompt, method="acc")
        preds, rows, _ = _read(tmp_path / prompt)
        assert metrics["n"] == 3 and set(preds.values()) <= set("ABCD") and metrics["dataset"] == "mmlu"
        assert [r["gold"] for r in rows] == ["A", "B", "D"] and set(rows[0]["scores"]) == set("ABCD")
    with pytest.raises(ValueError, match="unknown MCQ loader"):
        evaluate_mcq(tiny_export, "pubmedqa", mmlu, tmp_path)


def _perturb(params) -> None:
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in params:
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)


def test_lora_adapter_changes_the_scores(tiny_export, pqal_files, tmp_path):
    from transformers import AutoModelForCausalLM

    from curate.train.lora import apply_lora, save_adapter

    peft_model = apply_lora(AutoModelForCausalLM.from_pretrained(tiny_export), r=4, dropout=0.0)
    _perturb(p for n, p in peft_model.named_parameters() if "lora_B" in n)
    save_adapter(peft_model, tmp_path / "lora")
    data, truth = pqal_files
    base = evaluate_pubmedqa(tiny_export, data, truth, tmp_path / "base", method="acc", prompt="lm_eval")
    tuned = evaluate_pubmedqa(tiny_export, data, truth, tmp_path / "tuned", method="acc", prompt="lm_eval",
                              adapter=tmp_path / "lora")
    assert tuned["adapter"] == str(tmp_path / "lora") and tuned["adapter_kind"] == "peft"
    score = [json.loads(line)["scores"]["yes"]["logprob"] for line in (tmp_path / "tuned/items.jsonl").open()]
    score_base = [json.loads(line)["scores"]["yes"]["logprob"] for line in (tmp_path / "base/items.jsonl").open()]
    assert base["n"] == tuned["n"] and score != pytest.approx(score_base, abs=1e-3)


def test_cpoly_adapter_routes_every_forward_to_its_task(tiny_export, tmp_path):
    cpoly = pytest.importorskip("curate.train.cpoly")
    from transformers import AutoModelForCausalLM

    from curate.eval.model import ModelLoadError, load_model
    from curate.eval.score import Request, score

    cfg = cpoly.CPolyConfig.from_tasks({"pubmedqa": 0, "medqa": 1}, n_shared=2, rank=2)
    model = cpoly.apply_cpoly(AutoModelForCausalLM.from_pretrained(tiny_export), cfg)
    _perturb(p for n, p in model.named_parameters() if n.rsplit(".", 1)[-1] in cpoly.ADAPTER_PARAMS)
    cpoly.save_cpoly(model, cfg, tmp_path / "cpoly")
    request = Request("Abstract: the trial was small.\nQuestion: Is it safe?\nAnswer:", ("yes", "no", "maybe"))
    with pytest.raises(ModelLoadError, match="pass task="):
        load_model(tiny_export, tmp_path / "cpoly")
    routed = {}
    for task in ("pubmedqa", "medqa"):
        m, tok = load_model(tiny_export, tmp_path / "cpoly", task=task)
        routed[task] = [s.logprob for s in score(m, tok, request, "prefix")]
        assert routed[task] == pytest.approx([s.logprob for s in score(m, tok, request, "naive")], abs=1e-5)
    fresh = AutoModelForCausalLM.from_pretrained(tiny_export)
    merged = cpoly.merge_task(cpoly.load_cpoly(fresh, tmp_path / "cpoly"), 1)
    tok = load_model(tiny_export)[1]
    assert routed["medqa"] == pytest.approx([s.logprob for s in score(merged.eval(), tok, request)], abs=1e-4)
    assert routed["medqa"] != pytest.approx(routed["pubmedqa"], abs=1e-3)


class ScriptedBackend:
    """A generation backend that answers from a script (E2's interface), recording what it was asked."""

    def __init__(self, replies: list[str]):
        self.replies, self.prompts = replies, []

    def generate(self, prompts, *, max_new_tokens, temperature=0.0, stop=None, on_result=None):
        self.prompts += list(prompts)
        out = [self.replies[(len(self.prompts) - len(prompts) + i) % len(self.replies)] for i in range(len(prompts))]
        if on_result:
            for i, o in enumerate(out):
                on_result(i, o)
        return out


def test_generate_parses_answers_and_falls_back_to_ppl(tiny_export, pqal_files, tmp_path):
    pytest.importorskip("curate.eval.strategies")
    data, truth = pqal_files
    backend = ScriptedBackend(["The answer is A) yes", "no idea"])
    metrics = evaluate_pubmedqa(tiny_export, data, truth, tmp_path / "gen", method="generate", backend=backend,
                                fallback_to_ppl=True)
    preds, rows, _ = _read(tmp_path / "gen")
    assert metrics["unparsed"] == 3 and metrics["fallback"] == 3 and len(backend.prompts) == 6
    assert [r["pred"] for r in rows if r["parsed"]] == ["yes"] * 3
    assert all(r["pred"] == r["picks"]["ppl"] for r in rows if not r["parsed"])
    check_predictions(preds, json.loads(truth.read_text()))
    with pytest.raises(PredictionsError, match="fallback_to_ppl"):
        evaluate_pubmedqa(tiny_export, data, truth, tmp_path / "strict", method="generate",
                          backend=ScriptedBackend(["no idea"]))
    assert not (tmp_path / "strict" / "predictions.json").exists()
    assert json.loads((tmp_path / "strict" / "metrics.json").read_text())["unparsed"] == 6


def test_few_shot_cot_draws_its_examples_from_the_training_items(pqal_files, tmp_path):
    data, truth = pqal_files
    backend = ScriptedBackend(["Answer: A"])
    metrics = evaluate_pubmedqa("served", data, truth, tmp_path / "cot", method="generate", strategy="cot",
                                backend=backend, shots=2)
    _, rows, _ = _read(tmp_path / "cot")
    test = set(json.loads(truth.read_text()))
    shots = rows[0]["generation"]["shots"]
    assert metrics["shots"] == 2 and len(shots) == 2 and all(s.startswith("pubmedqa/train#") for s in shots)
    assert not {s.split("#")[1] for s in shots} & test and all(r["generation"]["shots"] == shots for r in rows)
    assert len(backend.prompts) == 2 + 6  # two explanations, once, then one prompt per test item


def test_a_served_model_generates_without_a_local_export(pqal_files, tmp_path):
    pytest.importorskip("curate.eval.strategies")
    data, truth = pqal_files
    metrics = evaluate_pubmedqa("served-model-name", data, truth, tmp_path / "served", method="generate",
                                backend=ScriptedBackend(["Answer: C"]))
    assert metrics["n"] == 6 and metrics["unparsed"] == 0 and metrics["model"] == "served-model-name"
    with pytest.raises(ValueError, match="not an HF export"):  # a fallback needs a local model to score with
        evaluate_pubmedqa("served-model-name", data, truth, tmp_path / "fb", method="generate",
                          backend=ScriptedBackend(["Answer: C"]), fallback_to_ppl=True)


def test_report_stages_table_and_chart(tiny_export, pqal_files, tmp_path):
    from curate.eval.stages import report_stages

    data, truth = pqal_files
    stages = {}
    for i, label in enumerate(("Base", "Stage-1", "Stage-2")):
        path = tmp_path / f"m{i}.json"
        path.write_text(json.dumps({"accuracy": 0.5 + i / 10, "macro_f1": 0.4, "n": 500, "method": "ppl",
                                    "prompt": "chat", "model": f"out/{label}", "adapter": None}))
        stages[label] = path
    stages["Stage-3"] = tiny_export  # an export: evaluated on the test split
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        with pytest.raises(RuntimeError, match="pip install matplotlib"):
            report_stages(stages, tmp_path / "report", data_path=data, test_ids=truth, method="acc")
        assert (tmp_path / "report" / "stages.md").is_file()
    else:
        report_stages(stages, tmp_path / "report", data_path=data, test_ids=truth, method="acc")
        assert (tmp_path / "report" / "stages.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (tmp_path / "report" / "stages.md").read_text().splitlines()
    assert table[0].startswith("| Stage | Accuracy (%) | Macro-F1 (%) | n |")
    assert [row.split(" | ")[0] for row in table[2:]] == ["| Base", "| Stage-1", "| Stage-2", "| Stage-3"]
    assert table[3].split(" | ")[1] == "60.0"
    assert (tmp_path / "report" / "Stage-3" / "metrics.json").is_file()
    with pytest.raises(ValueError, match="pass data_path"):
        report_stages({"Stage-3": tiny_export}, tmp_path / "again")
    with pytest.raises(ValueError, match=r"neither a metrics\.json"):
        report_stages({"x": tmp_path / "missing"}, tmp_path / "again")

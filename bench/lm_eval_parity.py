"""Parity with lm-eval-harness on PubMedQA: our summed log-likelihoods and ``acc`` against lm-eval's, item by item.

    python bench/lm_eval_parity.py [--export DIR] [--items 50] [--batch-size 8]

Writes ``--items`` PubMedQA-L-shaped items of random medical words (or reads ``--data`` ori_pqal.json),
defines a local lm-eval task over them (``dataset_path: json``, lm-eval's own PubMedQA ``doc_to_text``,
choices yes/no/maybe, since the hub is unreachable), runs lm-eval's ``HFLM`` on the export (default: the
tiny test model, built here), runs ``curate.eval.run.evaluate_pubmedqa(prompt="lm_eval", method="acc")``
on the same items, and prints the maximum absolute difference of the per-option log-likelihoods, whether
the prompts are identical, and how many items ``acc`` agrees on.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHOICES = ("yes", "no", "maybe")


def lm_eval_samples(export_dir: Path, jsonl: Path, cache_dir: Path, batch_size: int = 8) -> dict[str, dict[str, Any]]:
    """lm-eval's per-item prompt, option log-likelihoods and ``acc`` on a local PubMedQA task, by PMID."""
    os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from lm_eval.api.task import ConfigurableTask
    from lm_eval.evaluator import evaluate
    from lm_eval.models.huggingface import HFLM
    from lm_eval.tasks.pubmedqa import preprocess_pubmedqa

    task = ConfigurableTask(config={
        "task": "pubmedqa_local", "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(jsonl)}, "cache_dir": str(cache_dir)}, "test_split": "test",
        "output_type": "multiple_choice", "doc_to_text": preprocess_pubmedqa.doc_to_text,
        "doc_to_target": "final_decision", "doc_to_choice": list(CHOICES),
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}]})
    lm = HFLM(pretrained=str(export_dir), device="cpu", dtype="float32", batch_size=batch_size)
    # evaluate() rather than simple_evaluate(): the latter indexes every bundled task YAML first (slow)
    result = evaluate(lm=lm, task_dict={"pubmedqa_local": task}, log_samples=True, verbosity="ERROR")
    return {str(s["doc"]["pubid"]): {"context": s["arguments"][0][0],
                                     "logprobs": [float(r[0][0]) for r in s["resps"]], "acc": float(s["acc"])}
            for s in result["samples"]["pubmedqa_local"]}


def our_samples(export_dir: Path, data: Path, truth: Path, out: Path) -> dict[str, dict[str, Any]]:
    """Our per-item prompt, option log-likelihoods and ``acc`` on the same items, by PMID."""
    from curate.benchmarks.evalsets import load_pubmedqa
    from curate.benchmarks.pubmedqa import load_pqal
    from curate.eval.run import evaluate_pubmedqa, pubmedqa_request

    evaluate_pubmedqa(export_dir, data, truth, out, method="acc", prompt="lm_eval")
    raw = load_pqal(data)
    contexts = {i["meta"]["pmid"]: pubmedqa_request(i, raw[i["meta"]["pmid"]], "lm_eval", export_dir).context
                for i in load_pubmedqa(data, ids=truth, split="test")}
    rows = [json.loads(line) for line in (out / "items.jsonl").read_text(encoding="utf-8").splitlines()]
    return {r["id"]: {"context": contexts[r["id"]], "logprobs": [r["scores"][c]["logprob"] for c in CHOICES],
                      "acc": float(r["pred"] == r["gold"])} for r in rows}


def compare(ours: dict[str, dict], theirs: dict[str, dict]) -> dict[str, Any]:
    """Maximum per-option difference, prompt equality and ``acc`` agreement over the shared PMIDs."""
    if set(ours) != set(theirs):
        raise ValueError(f"parity: item sets differ ({len(set(ours) ^ set(theirs))} PMIDs in one only)")
    diffs = [abs(a - b) for k in ours for a, b in zip(ours[k]["logprobs"], theirs[k]["logprobs"], strict=True)]
    return {"items": len(ours), "options": len(diffs), "max_abs_diff": max(diffs),
            "prompts_equal": sum(ours[k]["context"] == theirs[k]["context"] for k in ours),
            "acc_agree": sum(ours[k]["acc"] == theirs[k]["acc"] for k in ours),
            "acc_ours": sum(v["acc"] for v in ours.values()) / len(ours),
            "acc_lm_eval": sum(v["acc"] for v in theirs.values()) / len(theirs)}


def write_items(items: dict[str, dict], workdir: Path) -> tuple[Path, Path, Path]:
    """``ori_pqal.json``, a ground truth naming every item, and lm-eval's JSON-lines copy (with ``pubid``)."""
    data, truth, jsonl = workdir / "ori_pqal.json", workdir / "test_ground_truth.json", workdir / "pubmedqa.jsonl"
    data.write_text(json.dumps(items), encoding="utf-8")
    truth.write_text(json.dumps({k: v["final_decision"] for k, v in items.items()}), encoding="utf-8")
    jsonl.write_text("".join(json.dumps({"pubid": k, **v}) + "\n" for k, v in items.items()), encoding="utf-8")
    return data, truth, jsonl


def run_parity(export_dir: Path, items: dict[str, dict], workdir: Path, batch_size: int = 8) -> dict[str, Any]:
    """Both sides on ``items`` (PMID -> PQA-L item) and their comparison."""
    data, truth, jsonl = write_items(items, workdir)
    theirs = lm_eval_samples(export_dir, jsonl, workdir / "hf_datasets", batch_size)
    ours = our_samples(export_dir, data, truth, workdir / "ours")
    return compare(ours, theirs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export", type=Path, help="HF export directory (default: the tiny test model, built here)")
    parser.add_argument("--data", type=Path, help="an ori_pqal.json to take items from (default: generated items)")
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=8)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests" / "eval"))
    from conftest import pqal_items, write_export

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        export = args.export or write_export(work / "export")
        if args.data:
            items = dict(list(json.loads(args.data.read_text(encoding="utf-8")).items())[:args.items])
        else:
            items = pqal_items(args.items, words_per_context=120)
        report = run_parity(export, items, work, args.batch_size)
    print(f"items={report['items']} options={report['options']} max_abs_diff={report['max_abs_diff']:.2e} "
          f"prompts_equal={report['prompts_equal']}/{report['items']} "
          f"acc_agree={report['acc_agree']}/{report['items']} acc_ours={report['acc_ours']:.3f} "
          f"acc_lm_eval={report['acc_lm_eval']:.3f}")


if __name__ == "__main__":
    main()

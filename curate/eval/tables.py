"""The seed's Tables 7 and 8 and Figure 6, run end to end from a training recipe and written in its layout.

``curate experiment table7|table8|figure6 --config RECIPE`` (``make table7`` ...) writes into
``[experiments].out``:

- ``table7.md``: PQA-U labelled with ``long-answer`` and with ``long-answer+voc`` by the stage-2 model (or a
  served annotator; both strategies see the abstract and the long answer, VoC is the only difference), the
  annotator's accuracy on the PQA-L test items, then stage 3 on PQA-L + that PQA-U (``recipes/table7/``)
  with LoRA and with full fine-tuning, each scored on the PubMedQA test split;
- ``table8.md``: every mix of ``recipes/table8/``, LoRA for one dataset and C-Poly for several, scored on
  PubMedQA; the C-Poly mix without PubMedQA is "–" and not run, as in the paper (its router cannot
  route a task it was not trained on);
- ``figure6.md`` and ``figure6.png``: PubMedQA accuracy of the base model and after stages 1, 2 and 3.

Every cell is a number or "–". The paper's values sit in a last column for comparison. Steps whose
outputs exist are not run again (``curate.eval.experiments``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curate.eval.experiments import Runner
from curate.text import templates

DASH = "–"
NAMES = {"pubmedqa": "PubMedQA", "medmcqa": "MedMCQA", "medqa": "MedQA"}
# The seed's Table 7 (fine-tuning, strategy) -> accuracy, Table 8 (fine-tuning, datasets) -> accuracy, in its order.
PAPER_TABLE7 = {("lora", "long-answer"): 86.6, ("lora", "long-answer+voc"): 87.6,
                ("full", "long-answer"): 87.8, ("full", "long-answer+voc"): 88.2}
PAPER_TABLE8 = {("cpoly", ("pubmedqa", "medmcqa", "medqa")): 80.6, ("cpoly", ("pubmedqa", "medmcqa")): 80.4,
                ("cpoly", ("pubmedqa", "medqa")): 80.2, ("cpoly", ("medmcqa", "medqa")): None,
                ("lora", ("pubmedqa",)): 78.8, ("lora", ("medmcqa",)): 78.6, ("lora", ("medqa",)): 78.0}
PAPER_FIGURE6 = {"Base": 57.2, "Stage-1": None, "Stage-2": None, "Stage-3": 80.6}
FINETUNING = {"lora": "LoRA", "full": "Full Parameter Tuning", "cpoly": "C-Poly"}
STRATEGY = {"long-answer": "Long Answer", "long-answer+voc": "Long Answer + VoC"}


def shown(path: Path | str) -> str:
    """A path as the tables show it: relative to the working directory when it lies below it."""
    import os

    text = str(path)
    relative = os.path.relpath(text) if os.path.isabs(text) else text
    return text if relative.startswith("..") else relative


def cell(value: float | None) -> str:
    """A percentage with one decimal, or "–"."""
    return DASH if value is None else f"{value:.1f}"


def _percent(metrics: Mapping[str, Any] | None, key: str = "accuracy") -> str:
    return cell(None if metrics is None else 100 * metrics[key])


def _info(runner: Runner, metrics: list[Mapping[str, Any]], model: Path) -> dict[str, Any]:
    return {"model": shown(model), "method": runner.exp.eval_method, "n": metrics[0]["n"] if metrics else 0}


def _write(runner: Runner, name: str, text: str) -> Path:
    path = runner.root / f"{name}.md"
    text = text.rstrip("\n") + "\n"
    path.write_text(text, encoding="utf-8")
    runner.say(f"wrote {shown(path)}\n\n{text}")
    return path


def table7(runner: Runner) -> Path:
    """Run Table 7 (see the module doc) and write ``table7.md``."""
    _, instruct = runner.chain()
    if not runner.exp.table7:
        raise ValueError(f"{runner.config} [experiments]: table7 (the PQA-L + PQA-U recipe) is required")
    backend = runner.annotator(instruct)
    rows, evaluated, total, by_ppl = [], [], 0, {}
    for strategy in ("long-answer", "long-answer+voc"):
        summary, accuracy = runner.annotate(strategy, backend)
        total = summary["attempted"]
        by_ppl[STRATEGY[strategy]] = (summary.get("by_ppl", 0), accuracy.get("by_ppl", 0))
        data = runner.build(runner.exp.table7, name=f"table7-{strategy}",
                            inputs={"pqa_u": [runner.root / "table7" / "annotate" / f"{strategy}.json"]})
        for method in ("lora", "full"):
            export = runner.train("adapt", runner.root / "train" / f"table7-{strategy}-{method}", data=data,
                                  method=method, init=instruct)
            model, adapter = (instruct, export) if method == "lora" else (export, None)
            metrics = runner.evaluate(f"table7-{strategy}-{method}", model, adapter=adapter)
            evaluated.append(metrics)
            rows.append({"method": method, "finetuning": FINETUNING[method], "strategy": STRATEGY[strategy],
                         "pubmedqa": _percent(metrics), "labelled": summary["annotated"],
                         "accuracy": _percent(accuracy), "paper": cell(PAPER_TABLE7[(method, strategy)])})
    rows.sort(key=lambda r: r["method"] != "lora")  # the paper's order: LoRA rows, then full fine-tuning
    info = {**_info(runner, evaluated, instruct),
            "annotator": runner.exp.annotator_model or shown(runner.exp.annotator or instruct)}
    return _write(runner, "table7", templates.render("eval/tables/table7.md", rows=rows, total=total, info=info,
                                                     by_ppl=by_ppl))


def _mixes(directory: Path) -> dict[tuple[str, ...], Path]:
    """Table 8's mix recipes by their datasets (the recipe's source names, in order)."""
    from curate.instruct import recipe

    mixes = {}
    for path in sorted(directory.glob("*.toml")):
        names = tuple(s.name for s in recipe.load(path).sources)
        mixes[names] = path
    if not mixes:
        raise FileNotFoundError(f"{directory}: no Table 8 mix recipes (*.toml)")
    return mixes


def table8(runner: Runner) -> Path:
    """Run Table 8 (see the module doc) and write ``table8.md``."""
    _, instruct = runner.chain()
    if not runner.exp.table8:
        raise ValueError(f"{runner.config} [experiments]: table8 (the directory of mix recipes) is required")
    mixes = _mixes(Path(runner.exp.table8))
    rows, evaluated = [], []
    for (method, datasets), paper in PAPER_TABLE8.items():
        recipe_path = mixes.get(datasets)
        row = {"finetuning": FINETUNING[method], "datasets": [NAMES.get(d, d) for d in datasets],
               "sizes": [DASH], "pubmedqa": DASH, "paper": cell(paper)}
        rows.append(row)
        routable = method == "lora" or "pubmedqa" in datasets
        if recipe_path is None or not routable:  # not attempted: the paper's empty cell, or no recipe for it
            continue
        name = recipe_path.stem
        data = runner.build(recipe_path)
        manifest = json.loads((data / "manifest.json").read_text(encoding="utf-8"))
        row["sizes"] = [str(manifest["sources"][d]["examples_out"]) for d in datasets]
        export = runner.train("adapt", runner.root / "train" / f"table8-{name}", data=data, method=method,
                              init=instruct)
        metrics = runner.evaluate(f"table8-{name}", instruct, adapter=export,
                                  task="pubmedqa" if method == "cpoly" else None)
        evaluated.append(metrics)
        row["pubmedqa"] = _percent(metrics)
    return _write(runner, "table8", templates.render("eval/tables/table8.md", rows=rows,
                                                     info=_info(runner, evaluated, instruct)))


def figure6(runner: Runner) -> Path:
    """Run Figure 6 (see the module doc): ``figure6.md`` and the bar chart ``figure6.png``."""
    from curate.eval.stages import bar_chart

    pretrain, instruct = runner.chain()
    adapt = runner.train("adapt")
    adapter = adapt if runner.stage("adapt").train.method != "full" else None
    stages = {"Base": (runner.base_export(), None, runner.exp.base_prompt),
              "Stage-1": (pretrain, None, runner.exp.base_prompt),
              "Stage-2": (instruct, None, runner.exp.chat_prompt),
              "Stage-3": (instruct if adapter else adapt, adapter, runner.exp.chat_prompt)}
    results, rows = {}, []
    for label, (model, adapter_dir, prompt) in stages.items():
        task = "pubmedqa" if adapter_dir and (adapter_dir / "cpoly_config.json").is_file() else None
        metrics = runner.evaluate(f"figure6-{label.lower()}", model, adapter=adapter_dir, task=task, prompt=prompt)
        results[label] = metrics
        rows.append({"stage": label, "accuracy": _percent(metrics), "macro_f1": _percent(metrics, "macro_f1"),
                     "n": metrics["n"], "prompt": prompt, "model": shown(adapter_dir or model),
                     "paper": cell(PAPER_FIGURE6[label])})
    bar_chart(results, runner.root / "figure6.png", title="PubMedQA accuracy by stage")
    runner.say(f"wrote {runner.root / 'figure6.png'}")
    return _write(runner, "figure6", templates.render("eval/tables/figure6.md", rows=rows))


EXPERIMENTS = {"table7": table7, "table8": table8, "figure6": figure6}

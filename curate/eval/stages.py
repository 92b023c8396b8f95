"""Accuracy per training stage on PubMedQA: a Markdown table and a bar chart in the style of the seed's Figure 6.

``report_stages({"Base": ..., "Stage-1": ..., "Stage-2": ..., "Stage-3": ...}, out_dir)`` takes, per
stage label in display order, either a ``metrics.json`` written by ``evaluate_pubmedqa`` (or the
directory holding one) or an HF export directory, which is then evaluated on the test set into
``out_dir/<label>/`` (``data_path`` and ``test_ids`` required). It writes ``stages.md`` (stage,
accuracy, macro-F1, n, method, prompt, model, adapter) and ``stages.png`` (one bar per stage, its
accuracy in percent written above it). The chart needs matplotlib (``pip install matplotlib``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from curate.eval.run import evaluate_pubmedqa

COLUMNS = ("Stage", "Accuracy (%)", "Macro-F1 (%)", "n", "Method", "Prompt", "Model", "Adapter")


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "stage"


def stage_metrics(label: str, source: str | Path, out_dir: Path, eval_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """A stage's metrics: read from a metrics.json (or its directory), or evaluated from an export directory."""
    path = Path(source)
    if path.is_dir() and (path / "metrics.json").is_file():
        path = path / "metrics.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"stages: {label}: '{path}' is not a metrics.json: {err}") from None
    if path.is_dir() and (path / "config.json").is_file():
        if not eval_kwargs.get("data_path") or not eval_kwargs.get("test_ids"):
            raise ValueError(f"stages: {label}: '{path}' is an export; pass data_path (ori_pqal.json) and test_ids "
                             "(test_ground_truth.json) to evaluate it")
        kwargs = dict(eval_kwargs)
        return evaluate_pubmedqa(path, kwargs.pop("data_path"), kwargs.pop("test_ids"), out_dir / _slug(label),
                                 **kwargs)
    raise ValueError(f"stages: {label}: '{source}' is neither a metrics.json, an evaluation directory, nor an HF "
                     "export directory")


def markdown_table(results: Mapping[str, Mapping[str, Any]]) -> str:
    """The stages as a Markdown table."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" for _ in COLUMNS) + "|"]
    for label, m in results.items():
        cells = [label, f"{100 * m['accuracy']:.1f}", f"{100 * m['macro_f1']:.1f}", str(m.get("n", "")),
                 str(m.get("method", "")), str(m.get("prompt", "")), str(m.get("model", "")),
                 str(m.get("adapter") or "")]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def bar_chart(results: Mapping[str, Mapping[str, Any]], path: Path, title: str = "PubMedQA") -> Path:
    """Accuracy per stage as bars with their values above them (the seed's Figure 6)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RuntimeError("stages: the bar chart needs matplotlib: pip install matplotlib (or install curate "
                           "with the extra that provides it); stages.md was written") from None
    labels = list(results)
    values = [100 * results[k]["accuracy"] for k in labels]
    fig, ax = plt.subplots(figsize=(1.4 * len(labels) + 2, 4), dpi=150)
    bars = ax.bar(labels, values, color=plt.cm.Blues([0.35 + 0.55 * i / max(len(labels) - 1, 1)
                                                     for i in range(len(labels))]), width=0.6, edgecolor="black")
    ax.bar_label(bars, labels=[f"{v:.1f}" for v in values], padding=3)
    ax.set_ylabel("Accuracy (%)")
    ax.set_title(title)
    ax.set_ylim(0, min(100, max(values) + 10) if values else 100)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def report_stages(stage_dirs: Mapping[str, str | Path], out_dir: str | Path, *, data_path: str | Path | None = None,
                  test_ids: str | Path | None = None, method: str = "ppl", prompt: str = "chat",
                  limit: int | None = None) -> dict[str, dict[str, Any]]:
    """Write ``stages.md`` and ``stages.png`` for the stages (label -> metrics.json or export); return the metrics."""
    if not stage_dirs:
        raise ValueError("stages: no stages given (label -> metrics.json or export directory)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kwargs = {"data_path": data_path, "test_ids": test_ids, "method": method, "prompt": prompt, "limit": limit}
    results = {label: stage_metrics(label, source, out, kwargs) for label, source in stage_dirs.items()}
    (out / "stages.md").write_text(markdown_table(results), encoding="utf-8")
    bar_chart(results, out / "stages.png")
    return results

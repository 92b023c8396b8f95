"""Tables 7 and 8 and Figure 6 run end to end at a tiny scale and fill every cell with a number or "–".

One run of all three on the bundled samples (Tables 7 and 8 build their corpora from the real recipes
in recipes/table7/ and recipes/table8/), a micro model, two steps per training and a few evaluation items,
so that CI checks the whole path: chain, annotation, corpora, LoRA, C-Poly and full fine-tuning, scoring,
the paper's layout.
"""

from __future__ import annotations

import re
from pathlib import Path

from curate.eval.experiments import Runner
from curate.eval.tables import EXPERIMENTS
from tests.train.conftest import _toml, write_megatron_build, write_packed_build

ROOT = Path(__file__).resolve().parents[2]
PQA = ROOT / "samples" / "instruct" / "pubmedqa"
NUMBER = re.compile(r"^(–|-?\d+(\.\d+)?)$")
MICRO = {"vocab_size": 6922, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
         "num_attention_heads": 2, "num_key_value_heads": 1, "max_position_embeddings": 2048}


def _recipe(tmp: Path) -> Path:
    stage1 = write_megatron_build(tmp / "stage1")
    stage2 = write_packed_build(tmp / "stage2")
    common = {"micro_batch_size": 2, "global_batch_size": 4, "lr": 1e-3, "train_iters": 2, "seed": 3,
              "log_interval": 1}
    tables = {
        "model": {"config": MICRO},
        "pretrain": {**common, "data": str(stage1), "seq_length": 64, "save": str(tmp / "run" / "pretrain")},
        "instruct": {**common, "data": str(stage2), "save": str(tmp / "run" / "instruct")},
        "adapt": {**common, "data": str(stage2), "save": str(tmp / "run" / "adapt"), "method": "lora",
                  "lora_dropout": 0.0},
        "experiments": {"out": str(tmp / "experiments"), "pqal": str(PQA / "ori_pqal.json"),
                        "test_ids": str(PQA / "test_ground_truth.json"), "pqau": str(PQA / "ori_pqau.json"),
                        "table7": str(ROOT / "recipes" / "table7" / "pqal+pqau.toml"),
                        "table8": str(ROOT / "recipes" / "table8"), "eval_limit": 3, "annotate_limit": 2,
                        "reasoning_tokens": 3, "answer_tokens": 3, "workers": 1},
    }
    text = "\n".join(f"[{name}]\n" + "\n".join(f"{k} = {_toml(v)}" for k, v in values.items())
                     for name, values in tables.items())
    path = tmp / "micro.toml"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def _table(path: Path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.startswith("|")]
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    return [dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True)) for line in lines[2:]]


def test_tables_7_and_8_and_figure_6_fill_every_cell(tmp_path: Path) -> None:
    runner = Runner(_recipe(tmp_path), say=lambda line: None)
    numeric = {"table7": ("PubMedQA", "PQA-U labelled", "Annotator accuracy on PQA-L test (%)", "Paper"),
               "table8": ("PubMedQA", "Paper"), "figure6": ("PubMedQA", "Macro-F1", "n", "Paper")}
    for name, run in EXPERIMENTS.items():
        rows = _table(run(runner))
        assert rows and all(value for row in rows for value in row.values()), name  # no empty cell
        for column in numeric[name]:
            assert all(NUMBER.match(row[column]) for row in rows), (name, column, [r[column] for r in rows])
    table8 = {(r["Fine-tuning"], r["Dataset"]): r for r in _table(tmp_path / "experiments" / "table8.md")}
    assert len(table8) == 7 and table8[("C-Poly", "MedMCQA + MedQA")]["PubMedQA"] == "–"
    assert all(r["PubMedQA"] != "–" for key, r in table8.items() if key != ("C-Poly", "MedMCQA + MedQA"))
    assert not (tmp_path / "experiments" / "train" / "table8-medmcqa+medqa").exists()  # not attempted
    table7 = _table(tmp_path / "experiments" / "table7.md")
    assert [(r["Fine-tuning"], r["Annotation Strategy"]) for r in table7] == [
        ("LoRA", "Long Answer"), ("LoRA", "Long Answer + VoC"), ("Full Parameter Tuning", "Long Answer"),
        ("Full Parameter Tuning", "Long Answer + VoC")]
    assert [r["Stage"] for r in _table(tmp_path / "experiments" / "figure6.md")] == [
        "Base", "Stage-1", "Stage-2", "Stage-3"]
    assert (tmp_path / "experiments" / "figure6.png").read_bytes()[:4] == b"\x89PNG"

"""The steps the seed's experiments are made of, each skipped when its output exists (a rerun resumes).

A ``Runner`` reads a training recipe (its stages and its ``[experiments]`` table) and offers:

- ``chain``: the exports of stages 1 and 2, trained when missing (stage 3 starts from stage 2's);
- ``build``: an instruction corpus from a recipe, with some sources' inputs replaced, into ``<out>/corpus/``,
  tokenized with the training model's tokenizer;
- ``train``: one stage of the recipe with overrides, in this process for one CPU process (``nproc = 1``),
  else under ``torchrun --nproc-per-node nproc`` (the cluster run is the same command);
- ``evaluate``: PubMedQA on the official test split into ``<out>/eval/<name>/``;
- ``annotate``: PQA-U labelled with a strategy, and that annotator's accuracy on the PQA-L test items,
  through the request cache ``<out>/cache/`` (the stage-2 export, or a served model).

``curate.eval.tables`` puts them together into Tables 7 and 8 and Figure 6.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curate.train.config import ExperimentsConfig, TrainConfig, load_config, load_experiments

ADAPTER_FILES = ("config.json", "adapter_config.json", "cpoly_config.json")


def finished(export: Path) -> bool:
    """Whether ``export`` holds a stage's result (a full model or an adapter)."""
    return any((export / name).is_file() for name in ADAPTER_FILES)


def _toml(value: Any) -> str:
    return json.dumps(str(value)) if isinstance(value, str | Path) else json.dumps(value)


@dataclass
class Runner:
    """The experiments of one training recipe; ``out`` overrides ``[experiments].out``."""

    config: Path
    nproc: int = 1
    out: Path | None = None
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))

    def __post_init__(self) -> None:
        self.config = Path(self.config)
        self.exp: ExperimentsConfig = load_experiments(self.config)
        self.root = Path(self.out or self.exp.out)
        self.root.mkdir(parents=True, exist_ok=True)

    def stage(self, stage: str, **overrides: Any) -> TrainConfig:
        """The recipe's ``stage`` with overrides."""
        return load_config(self.config, stage, dict(overrides))

    def train(self, stage: str, save: Path | None = None, **overrides: Any) -> Path:
        """Run ``stage`` (saving into ``save``, default the recipe's) unless its export exists; return the export."""
        if save is not None:
            overrides["save"] = save
        overrides = {k: str(v) if isinstance(v, Path) else v for k, v in overrides.items()}
        cfg = self.stage(stage, **overrides)
        export = cfg.save_dir / "export"
        if finished(export):
            self.say(f"  {stage}: {export} exists, not retrained")
            return export
        sets = [f"{key}={_toml(value)}" for key, value in overrides.items()]
        self.say(f"  {stage}: training into {cfg.save_dir}")
        if self.nproc == 1 and "RANK" not in os.environ:
            from curate.train import loop

            loop.main(stage, str(self.config), overrides=sets)
        else:
            torchrun = shutil.which("torchrun") or "torchrun"
            command = [torchrun, "--standalone", "--nproc-per-node", str(self.nproc), "-m", "curate.cli", "train",
                       "--stage", stage, "--config", str(self.config), *(a for s in sets for a in ("--set", s))]
            subprocess.run(command, check=True)
        if not finished(export):
            raise RuntimeError(f"experiment: training {stage} ended without an export in {export}")
        return export

    def chain(self) -> tuple[Path, Path]:
        """The exports of stages 1 and 2 (trained when missing)."""
        return self.train("pretrain"), self.train("instruct")

    def build(self, recipe: str | Path, *, name: str | None = None,
              inputs: Mapping[str, Sequence[str | Path]] | None = None) -> Path:
        """An instruction corpus from ``recipe`` (``inputs``: source name -> new inputs) into ``<out>/corpus/``."""
        from curate.instruct import build
        from curate.instruct import recipe as instruct_recipe

        spec = instruct_recipe.load(Path(recipe))
        sources = tuple(dataclasses.replace(s, inputs=tuple(str(i) for i in inputs[s.name]))
                        if inputs and s.name in inputs else s for s in spec.sources)
        tokenizer = self.stage("adapt").model.tokenizer
        spec = dataclasses.replace(spec, sources=sources, name=name or spec.name,
                                   tokenizer=None if tokenizer == "bundled" else tokenizer)
        root = self.root / "corpus" / spec.name
        result = build.run(spec, root, workers=self.exp.workers, progress=False)
        self.say(f"  corpus {spec.name}: " + ", ".join(f"{k} {v['examples_out']}"
                                                       for k, v in result.manifest["sources"].items()))
        return root

    def evaluate(self, name: str, model: Path | str, *, adapter: Path | None = None, task: str | None = None,
                 prompt: str | None = None) -> dict[str, Any]:
        """PubMedQA test metrics of ``model`` (+ ``adapter``) into ``<out>/eval/<name>/`` (read back when done)."""
        from curate.eval.run import evaluate_pubmedqa

        out = self.root / "eval" / name
        if (out / "metrics.json").is_file():
            return json.loads((out / "metrics.json").read_text(encoding="utf-8"))
        metrics = evaluate_pubmedqa(model, self.exp.pqal, self.exp.test_ids, out, method=self.exp.eval_method,
                                    prompt=prompt or self.exp.chat_prompt, adapter=adapter, task=task,
                                    limit=self.exp.eval_limit)
        self.say(f"  eval {name}: accuracy {metrics['accuracy']:.3f} on {metrics['n']} items")
        return metrics

    def annotator(self, instruct_export: Path) -> Any:
        """The annotating backend: a served model, or a local export (default: stage 2's), with the request cache."""
        from curate.eval.backends import OpenAIBackend, open_backend
        from curate.eval.cache import CachedBackend

        exp = self.exp
        if exp.annotator_url:
            backend = OpenAIBackend(exp.annotator_url, exp.annotator_model)
        else:
            backend = open_backend(str(exp.annotator or instruct_export))
        return CachedBackend(backend, self.root / "cache", progress=False)

    def annotate(self, strategy: str, backend: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """PQA-U labelled with ``strategy`` (``<out>/table7/annotate/<strategy>.json``) and the annotator's accuracy."""
        from curate.eval.annotate import annotate_pqa_u, annotation_accuracy
        from curate.eval.strategies import StrategyConfig

        exp = self.exp
        if not exp.pqau:
            raise ValueError(f"{self.config} [experiments]: pqau (ori_pqau.json) is required for Table 7")
        cfg = StrategyConfig(reasoning_tokens=exp.reasoning_tokens, answer_tokens=exp.answer_tokens)
        labelled = self.root / "table7" / "annotate" / f"{strategy}.json"
        summary_path = labelled.with_suffix(".summary.json")
        if not summary_path.is_file():
            summary = annotate_pqa_u(exp.pqau, labelled, backend, strategy, test_ids=exp.test_ids,
                                     limit=exp.annotate_limit, cfg=cfg, fallback_to_ppl=exp.annotate_fallback_to_ppl)
            summary_path.write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
        accuracy_path = self.root / "table7" / f"accuracy-{strategy}.json"
        if not accuracy_path.is_file():
            accuracy = annotation_accuracy(exp.pqal, backend, strategy, exp.annotate_limit, ids=exp.test_ids,
                                           split="test", cfg=cfg, fallback_to_ppl=exp.annotate_fallback_to_ppl)
            accuracy_path.write_text(json.dumps(accuracy, indent=1) + "\n", encoding="utf-8")
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        self.say(f"  annotate {strategy}: {summary['annotated']} of {summary['attempted']} PQA-U items labelled "
                 f"({summary.get('by_ppl', 0)} by perplexity ranking)")
        return summary, json.loads(accuracy_path.read_text(encoding="utf-8"))

    def base_export(self) -> Path:
        """The model stage 1 starts from: ``[model].path``, or the seeded initialisation of ``[model].config``."""
        cfg = self.stage("pretrain")
        if cfg.init_dir() is not None:
            return cfg.init_dir()
        out = self.root / "base"
        if not finished(out):
            import torch

            from curate.train import weights
            from curate.train.export import copy_tokenizer

            model = weights.build_meta(cfg.model, None)
            weights.materialise(model, torch.device("cpu"), weights.Plan(None, hf_model=model), cfg.train.seed)
            model.save_pretrained(out)
            copy_tokenizer(cfg.tokenizer_dir, out)
        return out


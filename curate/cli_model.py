"""The model-side commands of ``curate``: ``train``, ``eval``, ``annotate``, ``experiment`` and ``report stages``.

They need the ``[train]`` extra (torch, peft, megatron-core, matplotlib); the curation commands in
``curate.cli`` do not. Each is a thin shell over one library function.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

EXTRA = "pip install -e '.[train]' (on a CPU machine install torch==2.13.0 first)"


def _model_errors(fn: Callable) -> Callable:
    """A missing training extra or an expected error becomes one line, not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ModuleNotFoundError as err:
            if err.name and err.name.split(".")[0] in ("torch", "peft", "megatron", "matplotlib", "accelerate"):
                raise click.ClickException(f"this command needs {err.name}: {EXTRA}") from None
            raise
        except (ValueError, RuntimeError, FileNotFoundError) as err:
            raise click.ClickException(str(err)) from None

    return wrapper


@click.command()
@click.option("--stage", type=click.Choice(["pretrain", "instruct", "adapt"]), required=True,
              help="pretrain: stage 1 on Megatron shards; instruct: stage 2, full fine-tuning on packed shards; "
                   "adapt: stage 3, LoRA or C-Poly on packed shards.")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Training recipe (recipes/train/*.toml): [model] plus one table per stage.")
@click.option("--resume", is_flag=True, help="Continue exactly from the latest complete <save>/step-N/.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override a stage option (lr=1e-4, train_iters=10) or a model option (model.tokenizer=...).")
@click.option("--peak-flops", type=float, default=None,
              help="Peak FLOP/s of one device for MFU [default: from the GPU's name; none on CPU].")
@_model_errors
def train(stage: str, config_path: str, resume: bool, sets: tuple[str, ...], peak_flops: float | None) -> None:
    """Train one stage on this rank; start it with torchrun (or srun under Slurm).

    Reads the torchrun (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT) or Slurm variables; FSDP2 with
    bf16 on GPUs, gloo on CPU. Writes checkpoints to <save>/step-N/, logs to <save>/log.jsonl and
    TensorBoard, and ends with a Hugging Face export in <save>/export/ that the next stage loads.

    \b
    Example:
      torchrun --standalone --nproc-per-node 8 -m curate.cli train --stage pretrain \\
          --config recipes/train/antglm-10b.toml
      curate train --stage adapt --config recipes/train/tiny.toml --set method=cpoly
    """
    from curate.train import loop

    loop.main(stage, config_path, resume, [*sets, *([f"peak_flops={peak_flops}"] if peak_flops else [])])


def _backend_options(fn: Callable) -> Callable:
    options = [
        click.option("--base-url", default=None, help="OpenAI-compatible server (e.g. http://host:8000/v1); "
                     "then --model is the served model's name."),
        click.option("--api-key", envvar="OPENAI_API_KEY", default=None, show_envvar=True),
        click.option("--endpoint", type=click.Choice(["chat", "completions"]), default="chat", show_default=True),
        click.option("--concurrency", type=int, default=8, show_default=True, help="Requests in flight."),
        click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds per request."),
        click.option("--retries", type=int, default=5, show_default=True, help="For 429, 5xx and timeouts."),
        click.option("--batch-size", type=int, default=8, show_default=True, help="Local generation batch."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default="build/cache/generate",
                     show_default=True, help="Every request is cached here; a rerun resumes."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _backend(model: str, adapter: str | None, task: str | None, o: dict[str, Any]) -> Any:
    from curate.eval.backends import open_backend
    from curate.eval.cache import CachedBackend

    backend = open_backend(model, base_url=o["base_url"], api_key=o["api_key"], endpoint=o["endpoint"],
                           concurrency=o["concurrency"], timeout=o["timeout"], retries=o["retries"],
                           adapter=adapter, task=task, batch_size=o["batch_size"])
    return CachedBackend(backend, o["cache_dir"])


_model_option = click.option("--model", required=True,
                             help="A Hugging Face export (e.g. build/train/tiny/instruct/export) or, with "
                                  "--base-url, the served model name.")
_adapter_option = click.option("--adapter", type=click.Path(exists=True, file_okay=False), default=None,
                               help="A LoRA (PEFT) or C-Poly adapter directory from stage 3.")
_task_option = click.option("--task", default=None, help="C-Poly task name (its task id routes every token).")


def _scoring_options(fn: Callable) -> Callable:
    options = [
        click.option("--out", type=click.Path(file_okay=False), required=True,
                     help="Writes metrics.json, predictions.json and items.jsonl (every option's scores)."),
        click.option("--method", type=click.Choice(["ppl", "acc", "acc_norm", "generate"]), default="ppl",
                     show_default=True, help="ppl: lowest mean NLL of the option tokens (perplexity ranking); "
                     "acc: highest summed log-likelihood; acc_norm: per character; generate: parse a generated "
                     "answer."),
        click.option("--prompt", type=click.Choice(["chat", "lm_eval"]), default="chat", show_default=True,
                     help="chat: the stage-2 instruction format; lm_eval: lm-eval-harness's plain prompt."),
        click.option("--strategy", type=click.Choice(["direct", "cot", "cove", "voc"]), default="direct",
                     show_default=True, help="Prompting strategy for --method generate."),
        click.option("--shots", type=int, default=3, show_default=True,
                     help="cot: worked examples, each with the model's own explanation of its gold answer "
                          "(generated once and cached); 0 for zero-shot."),
        click.option("--fallback-to-ppl", is_flag=True, help="Unparseable generations fall back to perplexity."),
        click.option("--limit", type=int, default=None, help="Only the first N items."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group("eval")
def eval_group() -> None:
    """Evaluate a model (an HF export, optionally with an adapter) on PubMedQA or an MCQ set."""


def _evaluation(fn: Callable) -> Callable:
    """The options every evaluation command shares: model, adapter, scoring and generation backend."""
    for decorate in (_model_errors, _backend_options, _scoring_options, _task_option, _adapter_option,
                     _model_option):
        fn = decorate(fn)
    return fn


def _print(summary: dict[str, Any]) -> None:
    keys = ("n", "accuracy", "macro_f1", "method", "prompt", "unparsed")
    click.echo(json.dumps({k: summary[k] for k in keys if k in summary}, indent=2))


@eval_group.command("pubmedqa")
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="ori_pqal.json")
@click.option("--test-ids", type=click.Path(exists=True, dir_okay=False), required=True,
              help="test_ground_truth.json (the official 500 test PMIDs)")
@_evaluation
def eval_pubmedqa(data_path: str, test_ids: str, model: str, adapter: str | None, task: str | None, out: str,
                  method: str, prompt: str, strategy: str, shots: int, fallback_to_ppl: bool, limit: int | None,
                  **o: Any) -> None:
    """PubMedQA test accuracy and macro-F1, with predictions in the official PMID -> label shape.

    \b
    Example:
      curate eval pubmedqa --data ori_pqal.json --test-ids test_ground_truth.json \\
          --model build/train/tiny/instruct/export --adapter build/train/tiny/adapt/export \\
          --out build/eval/stage3
    """
    from curate.eval.run import evaluate_pubmedqa

    backend = _backend(model, adapter, task, o) if method == "generate" else None
    _print(evaluate_pubmedqa(model, data_path, test_ids, out, method=method, prompt=prompt, adapter=adapter,
                             task=task, limit=limit, backend=backend, strategy=strategy,
                             fallback_to_ppl=fallback_to_ppl, shots=shots))


@eval_group.command("mcq")
@click.argument("loader", type=click.Choice(["medqa", "medmcqa", "mmlu", "cmmlu"]))
@click.argument("path", type=click.Path(exists=True))
@click.option("--split", default=None, help="Keep one split (test, dev, ...).")
@click.option("--subjects", default=None, help="MMLU/CMMLU subjects, comma-separated.")
@click.option("--shots-split", default="dev", show_default=True, help="cot: the split its examples come from.")
@_evaluation
def eval_mcq(loader: str, path: str, split: str | None, subjects: str | None, shots_split: str, model: str,
             adapter: str | None, task: str | None, out: str, method: str, prompt: str, strategy: str, shots: int,
             fallback_to_ppl: bool, limit: int | None, **o: Any) -> None:
    """Accuracy on MedQA, MedMCQA, MMLU or CMMLU by option scoring or generation.

    \b
    Example:
      curate eval mcq mmlu data/test --split test --subjects clinical_knowledge,anatomy \\
          --model build/train/tiny/instruct/export --out build/eval/mmlu
    """
    from curate.eval.run import evaluate_mcq

    backend = _backend(model, adapter, task, o) if method == "generate" else None
    _print(evaluate_mcq(model, loader, path, out, split=split, subjects=subjects.split(",") if subjects else None,
                        method=method, prompt=prompt, adapter=adapter, task=task, limit=limit, backend=backend,
                        strategy=strategy, fallback_to_ppl=fallback_to_ppl, shots=shots, shots_split=shots_split))


@click.group()
def annotate() -> None:
    """Pseudo-label data with a model (PubMedQA PQA-U for stage 3)."""


_annotate_fallback = click.option(
    "--fallback-to-ppl", is_flag=True,
    help="A local model's answer that does not parse is taken from the options' perplexity ranking after the "
         "strategy's last prompt (the seed's post-hoc PPL ranking) instead of being left out.")
_strategy_option = click.option("--strategy", type=click.Choice(["long-answer", "long-answer+voc"]),
                                default="long-answer", show_default=True,
                                help="Both show the abstract and the long answer; long-answer answers directly, "
                                     "long-answer+voc through Verification-of-Choice.")


@annotate.command("pqa-u")
@click.argument("pqa_u", type=click.Path(exists=True, dir_okay=False))
@click.option("--out", type=click.Path(dir_okay=False), default="build/annotate/pqa_u_labelled.json",
              show_default=True, help="PQA-L-shaped JSON (final_decision + annotation); the stage-3 recipe reads it.")
@click.option("--test-ids", type=click.Path(exists=True, dir_okay=False), required=True,
              help="test_ground_truth.json: a test PMID in the input stops the run.")
@_strategy_option
@_annotate_fallback
@click.option("--limit", type=int, default=None)
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@_model_option
@_adapter_option
@_task_option
@_backend_options
@_model_errors
def annotate_pqa_u(pqa_u: str, out: str, test_ids: str, strategy: str, limit: int | None, lang: str, model: str,
                   adapter: str | None, task: str | None, fallback_to_ppl: bool, **o: Any) -> None:
    """Label PQA-U from each item's long answer (optionally with Verification-of-Choice).

    \b
    Example:
      curate annotate pqa-u ori_pqau.json --test-ids test_ground_truth.json --strategy long-answer+voc \\
          --model glm-10b --base-url http://gpu01:8000/v1
    """
    from curate.eval.annotate import annotate_pqa_u as run

    summary = run(pqa_u, out, _backend(model, adapter, task, o), strategy, test_ids=test_ids, lang=lang, limit=limit,
                  fallback_to_ppl=fallback_to_ppl)
    click.echo(json.dumps(summary, indent=2, ensure_ascii=False))


@annotate.command("accuracy")
@click.argument("pqa_l", type=click.Path(exists=True, dir_okay=False))
@_strategy_option
@_annotate_fallback
@click.option("--ids", type=click.Path(exists=True, dir_okay=False), default=None, help="test_ground_truth.json")
@click.option("--split", type=click.Choice(["train", "test"]), default=None, help="Measure on one split (needs --ids).")
@click.option("--limit", type=int, default=None)
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="The full result with per-item rows.")
@_model_option
@_adapter_option
@_task_option
@_backend_options
@_model_errors
def annotate_accuracy(pqa_l: str, strategy: str, ids: str | None, split: str | None, limit: int | None, lang: str,
                      out: str | None, model: str, adapter: str | None, task: str | None, fallback_to_ppl: bool,
                      **o: Any) -> None:
    """Measure the annotator on PQA-L items with known labels (unparsed outputs count as wrong)."""
    from curate.eval.annotate import annotation_accuracy

    result = annotation_accuracy(pqa_l, _backend(model, adapter, task, o), strategy, limit, ids=ids, split=split,
                                 lang=lang, fallback_to_ppl=fallback_to_ppl)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    click.echo(json.dumps({k: v for k, v in result.items() if k != "items"}, indent=2))


@click.command()
@click.argument("name", type=click.Choice(["table7", "table8", "figure6"]))
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), required=True,
              help="Training recipe with an [experiments] table (recipes/train/tiny.toml, antglm-10b.toml).")
@click.option("--nproc", type=int, default=1, show_default=True,
              help="Processes per node for training (1: in this process; more: under torchrun).")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Where the tables, runs and evaluations go [default: the recipe's experiments.out].")
@_model_errors
def experiment(name: str, config_path: str, nproc: int, out: str | None) -> None:
    """Run one of the seed's experiments end to end and write it in the paper's layout.

    \b
    table7   PQA-U labelled from the long answer, and with Verification-of-Choice; stage 3 on PQA-L + each,
             with LoRA and full fine-tuning; PubMedQA accuracy and the annotators' -> table7.md
    table8   every mix of recipes/table8/ (LoRA for one dataset, C-Poly for several) -> table8.md
    figure6  PubMedQA accuracy of the base model and after stages 1, 2 and 3 -> figure6.md, figure6.png

    Stages 1 and 2 are trained first when their exports are missing; every finished step is kept, so a
    rerun resumes. Cells the paper leaves empty are "–" and not run.

    \b
    Example:
      curate experiment table8 --config recipes/train/tiny.toml
      curate experiment table7 --config recipes/train/antglm-10b.toml --nproc 8
    """
    from curate.eval.experiments import Runner
    from curate.eval.tables import EXPERIMENTS

    EXPERIMENTS[name](Runner(Path(config_path), nproc, Path(out) if out else None))


@click.group()
def report() -> None:
    """Reports over several runs."""


@report.command("stages")
@click.argument("stages", nargs=-1, required=True, metavar="LABEL=EXPORT_OR_METRICS...")
@click.option("--out", type=click.Path(file_okay=False), default="build/eval/stages", show_default=True)
@click.option("--data", "data_path", type=click.Path(exists=True, dir_okay=False), default=None,
              help="ori_pqal.json (needed when a stage is an export to evaluate).")
@click.option("--test-ids", type=click.Path(exists=True, dir_okay=False), default=None)
@click.option("--method", type=click.Choice(["ppl", "acc", "acc_norm"]), default="ppl", show_default=True)
@click.option("--prompt", type=click.Choice(["chat", "lm_eval"]), default="chat", show_default=True)
@click.option("--limit", type=int, default=None)
@_model_errors
def report_stages(stages: tuple[str, ...], out: str, data_path: str | None, test_ids: str | None, method: str,
                  prompt: str, limit: int | None) -> None:
    """PubMedQA accuracy of each stage's export: stages.md and a stages.png bar chart.

    \b
    Example:
      curate report stages base=models/base stage1=build/train/tiny/pretrain/export \\
          stage2=build/eval/stage2/metrics.json --data ori_pqal.json --test-ids test_ground_truth.json
    """
    from curate.eval.stages import report_stages as run

    pairs = {}
    for item in stages:
        label, sep, source = item.partition("=")
        if not sep:
            raise click.BadParameter(f"expected LABEL=PATH, got {item!r}", param_hint="STAGES")
        pairs[label] = source
    results = run(pairs, out, data_path=data_path, test_ids=test_ids, method=method, prompt=prompt, limit=limit)
    for label, m in results.items():
        click.echo(f"  {label:<12} accuracy {m['accuracy']:.3f}  macro-F1 {m['macro_f1']:.3f}")
    click.echo(f"  wrote {Path(out) / 'stages.md'} and {Path(out) / 'stages.png'}")


COMMANDS = (train, eval_group, annotate, experiment, report)

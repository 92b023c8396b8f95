"""Loading a model to evaluate: an HF export from ``curate train``, optionally with a LoRA or C-Poly adapter.

The adapter type is read from the files in its directory: ``adapter_config.json`` is a PEFT (LoRA)
adapter, ``cpoly_config.json`` a C-Poly adapter. A C-Poly adapter routes every token through one
task's skills: the task is chosen by name (``cpoly_config.json``'s ``tasks`` map) and a forward
pre-hook sets its id for every forward, whatever the batch size (scoring, cached continuations and
``generate`` alike). ``curate.train`` is imported only when an adapter asks for it.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn


class ModelLoadError(ValueError):
    """An export or adapter directory that cannot be loaded; the message says what is missing."""


def adapter_kind(adapter_dir: str | Path) -> str:
    """``"peft"`` or ``"cpoly"``, from the files in ``adapter_dir``."""
    d = Path(adapter_dir)
    if (d / "adapter_config.json").is_file():
        return "peft"
    if (d / "cpoly_config.json").is_file():
        return "cpoly"
    raise ModelLoadError(f"eval: '{d}' is not an adapter directory (it has neither adapter_config.json "
                         "(LoRA/PEFT) nor cpoly_config.json (C-Poly))")


def cpoly_task_id(adapter_dir: str | Path, task: str | None) -> int:
    """The task id of ``task`` in a C-Poly adapter; ``None`` is allowed when the adapter has one task."""
    meta = json.loads((Path(adapter_dir) / "cpoly_config.json").read_text(encoding="utf-8"))
    tasks: dict[str, int] = meta.get("tasks") or {n: i for i, n in enumerate(meta.get("task_names") or [])}
    if task is None:
        if len(tasks) == 1 or meta.get("n_tasks") == 1:
            return 0
        raise ModelLoadError(f"eval: the C-Poly adapter '{adapter_dir}' has {len(tasks)} tasks; pass task= one of "
                             f"{sorted(tasks)}")
    if task not in tasks:
        raise ModelLoadError(f"eval: task {task!r} is not in the C-Poly adapter '{adapter_dir}' "
                             f"(its tasks: {sorted(tasks)})")
    return int(tasks[task])


def _route_task(model: nn.Module, task_id: int) -> None:
    """Set C-Poly task ids (one per sequence) before every forward of ``model``."""
    from curate.train.cpoly import set_task_ids

    def hook(module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs["inputs_embeds"]
        set_task_ids(module, torch.full((ids.shape[0],), task_id, dtype=torch.long, device=ids.device))

    model.register_forward_pre_hook(hook, with_kwargs=True)


def require_export(export_dir: str | Path) -> Path:
    """``export_dir`` as a Path, or ``ModelLoadError`` when it holds no Hugging Face model."""
    export = Path(export_dir)
    if not (export / "config.json").is_file():
        raise ModelLoadError(f"eval: '{export}' is not an HF export (no config.json); pass the directory that "
                             "`curate train` exported")
    return export


def load_model(export_dir: str | Path, adapter: str | Path | None = None, task: str | None = None,
               dtype: torch.dtype = torch.float32, device: str | torch.device = "auto") -> tuple[nn.Module, Any]:
    """``(model, tokenizer)`` in eval mode: the export, with ``adapter`` applied (C-Poly routed to ``task``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    export = require_export(export_dir)
    tok_dir = export if (export / "tokenizer.json").is_file() or (export / "tokenizer_config.json").is_file() \
        else Path(adapter) if adapter else export
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
    except (OSError, ValueError) as err:
        raise ModelLoadError(f"eval: no usable tokenizer in '{tok_dir}': {err}") from None
    # sdpa honours every mask the scorer and generate() pass (padding, cached prefixes); eager is never chosen.
    model = AutoModelForCausalLM.from_pretrained(str(export), dtype=dtype, attn_implementation="sdpa")
    if adapter is not None:
        kind = adapter_kind(adapter)
        if kind == "peft":
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(adapter))
        else:
            from curate.train.cpoly import load_cpoly

            task_id = cpoly_task_id(adapter, task)
            model = load_cpoly(model, adapter)
            _route_task(model, task_id)
    elif task is not None:
        raise ModelLoadError("eval: task= selects a C-Poly task and needs a C-Poly adapter")
    if device == "auto":  # the first GPU when there is one
        device = "cuda" if torch.cuda.is_available() else "cpu"
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, tokenizer


def cache_keyword(model: nn.Module) -> str:
    """The forward keyword that takes a KV cache: ``cache`` (transformers >= 5.x) or ``past_key_values``."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    params = inspect.signature(base.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def output_cache(output: Any) -> Any:
    """The KV cache of a forward's output, under either name."""
    cache = output.get("cache")
    return output.get("past_key_values") if cache is None else cache


def describe(export_dir: str | Path, adapter: str | Path | None = None, task: str | None = None) -> dict[str, Any]:
    """What was evaluated, for metrics files: model path, adapter path and kind, C-Poly task."""
    out: dict[str, Any] = {"model": str(export_dir), "adapter": str(adapter) if adapter else None}
    if adapter:
        out["adapter_kind"] = adapter_kind(adapter)
    if task:
        out["task"] = task
    return out

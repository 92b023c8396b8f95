"""The end of a stage: a Hugging Face directory ``<save>/export/`` that the next stage loads.

Full models are written with ``save_pretrained`` (safetensors + config) from the full state dict
gathered on rank 0, with the tokenizer files copied alongside, so that
``AutoModelForCausalLM.from_pretrained(export)`` and ``AutoTokenizer.from_pretrained(export)`` work.
Adapters are written in their own format (PEFT's for LoRA, C-Poly's) by the adapter module, from
an unsharded copy rebuilt on rank 0; with ``merge`` a merged full model goes to ``export/merged/``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

from curate.train.engine import Dist, barrier


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The unsharded state dict on CPU, on rank 0 (empty on the other ranks)."""
    return get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def copy_tokenizer(tokenizer_dir: Path, out: Path) -> None:
    """Copy the tokenizer files (tokenizer.json, tokenizer_config.json, ...) into ``out``."""
    for f in Path(tokenizer_dir).iterdir():
        if f.is_file():
            shutil.copy2(f, out / f.name)


def export(model: nn.Module, env: Dist, out: Path, *, tokenizer_dir: Path, method: str = "full",
           rebuild: Callable[[], tuple[nn.Module, Any]] | None = None, merge: bool = False,
           dtype: torch.dtype = torch.float32) -> Path:
    """Write the stage's result to ``out`` (collective: every rank must call it)."""
    state = full_state_dict(model)
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
        if method == "full":
            state = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
            model.config.dtype = dtype
            model.save_pretrained(out, state_dict=state)
            copy_tokenizer(tokenizer_dir, out)
        else:
            _export_adapter(state, out, tokenizer_dir=tokenizer_dir, method=method, rebuild=rebuild, merge=merge)
    barrier()
    return out


def _export_adapter(state: dict[str, torch.Tensor], out: Path, *, tokenizer_dir: Path, method: str,
                    rebuild: Callable[[], tuple[nn.Module, Any]] | None, merge: bool) -> None:
    if rebuild is None:
        raise ValueError(f"exporting a {method} adapter needs a rebuild function for an unsharded copy")
    copy, adapter_cfg = rebuild()  # on the meta device: the gathered tensors are assigned, not copied
    missing, unexpected = copy.load_state_dict(state, strict=False, assign=True)
    if unexpected or missing:
        raise RuntimeError(f"export: state dict does not fit the rebuilt {method} model "
                           f"(missing {missing[:3]}, unexpected {unexpected[:3]})")
    if method == "lora":
        from curate.train import lora

        lora.save_adapter(copy, out, merge=merge, tokenizer_dir=tokenizer_dir)
    else:
        from curate.train import cpoly

        cpoly.save_cpoly(copy, adapter_cfg, out)
        copy_tokenizer(tokenizer_dir, out)

"""Stage-3 LoRA through PEFT: wrap a causal LM, save the adapter in PEFT's format, optionally a merged model.

The adapter directory loads with `PeftModel.from_pretrained(base, out_dir)`. With `merge=True`,
`out_dir/merged/` also holds a full Hugging Face model (safetensors + config) with the low-rank update
folded into the base weights, for deployment without PEFT.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora import LoraLayer

DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj")


def apply_lora(
    model: torch.nn.Module,
    *,
    r: int = 8,
    alpha: float = 16,
    dropout: float = 0.05,
    target_modules: Sequence[str] = DEFAULT_TARGETS,
) -> PeftModel:
    """Wrap `model` with a PEFT LoRA adapter; only the adapter parameters stay trainable."""
    if r <= 0:
        raise ValueError(f"lora: rank r must be positive, got {r}")
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in target_modules if t not in names]
    if missing:
        raise ValueError(f"lora: target modules {missing} not found in the model (check target_modules in the recipe)")
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=list(target_modules),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)


def merged_state_dict(model: PeftModel) -> dict[str, torch.Tensor]:
    """Base-model state dict with every LoRA update folded in; the model itself is left untouched."""
    base = model.get_base_model()
    merged: dict[str, torch.Tensor] = {}
    for name, tensor in base.state_dict().items():
        if ".lora_" in name:
            continue
        merged[name.replace(".base_layer.", ".")] = tensor
    for name, module in base.named_modules():
        if not isinstance(module, LoraLayer):
            continue
        weight = module.get_base_layer().weight
        if module.merged:  # already folded in by PEFT's merge_adapter
            continue
        delta = sum(module.get_delta_weight(a) for a in module.active_adapters if a in module.lora_A)
        # Out of place, so that saving a merged copy never perturbs the weights still being trained.
        merged[f"{name}.weight"] = (weight.detach().float() + delta.detach().float()).to(weight.dtype)
    return merged


def _copy_tokenizer(tokenizer_dir: str | Path, out_dir: Path) -> None:
    src = Path(tokenizer_dir)
    if not src.is_dir():
        raise FileNotFoundError(f"lora: tokenizer_dir '{src}' is not a directory (pass the folder with tokenizer.json)")
    for f in src.iterdir():
        if f.is_file():
            shutil.copy2(f, out_dir / f.name)


def save_adapter(
    model: PeftModel,
    out_dir: str | Path,
    merge: bool = False,
    tokenizer_dir: str | Path | None = None,
) -> Path:
    """Save the LoRA adapter in PEFT's format to `out_dir` and, with `merge`, a merged full model in `out_dir/merged/`.

    Call on an unsharded model (single process, or rank 0 after gathering a full state dict).
    """
    if not isinstance(model, PeftModel):
        raise TypeError(f"lora: save_adapter needs a PeftModel (from apply_lora), got {type(model).__name__}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    if tokenizer_dir is not None:
        _copy_tokenizer(tokenizer_dir, out)
    if merge:
        merged_dir = out / "merged"
        merged_dir.mkdir(exist_ok=True)
        base = model.get_base_model()
        # `state_dict=` makes save_pretrained write the merged tensors under the plain HF names.
        base.save_pretrained(merged_dir, state_dict=merged_state_dict(model))
        if tokenizer_dir is not None:
            _copy_tokenizer(tokenizer_dir, merged_dir)
    return out


def trainable_parameters(model: torch.nn.Module) -> int:
    """Number of parameters with requires_grad, the budget compared between adapters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

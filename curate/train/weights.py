"""Model weights per shard: build on the meta device, shard, then fill each rank's shard, one module at a time.

Building a 10B model in fp32 on the host takes 40 GB per rank, 320 GB on an 8-GPU node, before FSDP
keeps 1/8 of it. Here no rank ever holds the whole model:

1. ``build_meta``: the Hugging Face model is built on the meta device (shapes only, no memory); the
   adapters (LoRA, C-Poly) are applied to it there, and ``fully_shard`` shards it there.
2. ``plan``: before sharding, the adapters' initial values are drawn (they are small) and each base
   module is matched to its name in the checkpoint.
3. ``materialise``: ``to_empty`` allocates each rank's shard only; then, module by module in the order
   Hugging Face initialises them (children first), every parameter and buffer is filled:
   - from the checkpoint (``init``): each rank reads only its own rows, through safetensors slices or a
     memory-mapped torch ``.bin``;
   - otherwise (a model built from ``[model].config``, rotary buffers, adapters): the module's own
     initialisation runs on a full-size CPU copy of that one module, seeded, and the rank keeps its rows.
     Every world size therefore starts from the same weights as one process does.

Peak host memory per rank: its shard plus the largest single module (the embedding, in practice).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from curate.train.config import ModelConfig


def build_meta(model_cfg: ModelConfig, init: Path | None) -> nn.Module:
    """The causal LM in fp32 on the meta device: config from ``init`` (an HF directory) or ``[model].config``."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if init is not None:
        if not (init / "config.json").is_file():
            raise FileNotFoundError(f"{init}: no config.json, not a Hugging Face model directory (run the previous "
                                    f"stage first, or set init / model.path)")
        config = AutoConfig.from_pretrained(init)
    elif model_cfg.config:
        config = AutoConfig.for_model(model_cfg.model_type, **model_cfg.config)
    else:
        raise ValueError("[model] needs path = \"<HF dir>\" or config = {...} (a LLaMA-style config)")
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=torch.float32,
                                                attn_implementation=model_cfg.attn_implementation)


@dataclass
class Plan:
    """What ``materialise`` fills each tensor from: checkpoint names by module, adapters' initial values."""

    checkpoint: Path | None
    names: dict[int, str] = field(default_factory=dict)  # id(module) -> its qualified name in the checkpoint
    preset: dict[str, torch.Tensor] = field(default_factory=dict)  # qualified tensor name -> full initial value
    hf_model: nn.Module | None = None  # whose _init_weights initialises base modules


def checkpoint_names(base: nn.Module) -> dict[int, str]:
    """Every module of the plain model by identity, with its qualified name (adapters keep the modules)."""
    return {id(module): name for name, module in base.named_modules()}


def _module_twin(module: nn.Module, names: list[str]) -> nn.Module:
    """A copy of ``module`` whose tensors ``names`` (its own, not its children's) are real CPU tensors."""
    twin = copy.copy(module)
    object.__setattr__(twin, "_parameters", dict(module._parameters))
    object.__setattr__(twin, "_buffers", dict(module._buffers))
    for name in names:
        if name in module._parameters:
            p = module._parameters[name]
            twin._parameters[name] = nn.Parameter(torch.empty(p.shape, dtype=p.dtype), p.requires_grad)
        else:
            b = module._buffers[name]
            twin._buffers[name] = torch.empty(b.shape, dtype=b.dtype)
    return twin


def adapter_presets(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """The initial values of the adapter tensors (LoRA, C-Poly) of a meta model, drawn seeded on the CPU."""
    from curate.train.cpoly import ADAPTER_PARAMS, CPolyLinear

    torch.manual_seed(seed)
    preset: dict[str, torch.Tensor] = {}
    for name, module in model.named_modules():
        if isinstance(module, CPolyLinear):
            twin = _module_twin(module, list(ADAPTER_PARAMS))
            twin.reset_adapter_parameters()
            preset.update({f"{name}.{p}": twin._parameters[p].detach() for p in ADAPTER_PARAMS})
        elif hasattr(module, "reset_lora_parameters") and hasattr(module, "lora_A"):
            twin = copy.copy(module)
            object.__setattr__(twin, "_modules", dict(module._modules))
            for attr in ("lora_A", "lora_B"):
                twin._modules[attr] = copy.deepcopy(module._modules[attr]).to_empty(device="cpu")
            for adapter in module.lora_A:
                twin.reset_lora_parameters(adapter, _lora_init(model, adapter))
                for attr in ("lora_A", "lora_B"):
                    for pname, p in twin._modules[attr][adapter].named_parameters():
                        preset[f"{name}.{attr}.{adapter}.{pname}"] = p.detach()
    return preset


def _lora_init(model: nn.Module, adapter: str) -> Any:
    config = getattr(model, "peft_config", {}).get(adapter)
    return True if config is None else config.init_lora_weights


class Checkpoint:
    """Lazy, sliceable access to an HF directory's tensors (safetensors files, else a memory-mapped ``.bin``)."""

    def __init__(self, directory: Path):
        self.directory = directory
        index = directory / "model.safetensors.index.json"
        self._files: dict[str, Path] = {}
        if index.is_file():
            weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            self._files = {k: directory / f for k, f in weight_map.items()}
        elif (directory / "model.safetensors").is_file():
            from safetensors import safe_open

            with safe_open(str(directory / "model.safetensors"), framework="pt") as f:
                self._files = dict.fromkeys(f.keys(), directory / "model.safetensors")
        self._bin: dict[str, torch.Tensor] = {}
        if not self._files:
            bins = sorted(directory.glob("pytorch_model*.bin"))
            if not bins:
                raise FileNotFoundError(f"{directory}: no model.safetensors(.index.json) or pytorch_model*.bin")
            for b in bins:  # mmap: slicing reads only the pages of the rows asked for
                self._bin.update(torch.load(b, map_location="cpu", mmap=True, weights_only=True))

    def keys(self) -> set[str]:
        """Every tensor name in the checkpoint."""
        return set(self._files) | set(self._bin)

    def read(self, key: str, index: tuple[slice, ...]) -> torch.Tensor:
        """The rows/columns ``index`` of tensor ``key`` (only those bytes are read)."""
        if key in self._bin:
            return self._bin[key][index]
        from safetensors import safe_open

        # Opened per tensor: the file is memory-mapped while open, and the pages read would otherwise stay
        # counted in the process's RSS until the end of the load.
        with safe_open(str(self._files[key]), framework="pt") as f:
            return f.get_slice(key)[index]


def _local_index(tensor: torch.Tensor) -> tuple[torch.Tensor, tuple[slice, ...]]:
    """The local tensor to fill and its slice of the global tensor (everything when not sharded)."""
    if hasattr(tensor, "to_local"):  # a DTensor under FSDP2
        from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

        shape, offset = compute_local_shape_and_global_offset(tensor.shape, tensor.device_mesh, tensor.placements)
        return tensor.to_local(), tuple(slice(o, o + n) for o, n in zip(offset, shape, strict=True))
    return tensor, tuple(slice(0, n) for n in tensor.shape)


def _fill(tensor: torch.Tensor, full_or_reader: Any) -> None:
    local, index = _local_index(tensor)
    if local.numel() == 0:
        return
    value = full_or_reader(index) if callable(full_or_reader) else full_or_reader[index]
    with torch.no_grad():
        local.copy_(value)


def _post_order(module: nn.Module, prefix: str = "") -> Iterator[tuple[str, nn.Module]]:
    for name, child in module.named_children():
        yield from _post_order(child, f"{prefix}.{name}" if prefix else name)
    yield prefix, module


def _checkpoint_key(name: str, keys: set[str], hf_model: nn.Module | None) -> str | None:
    if name in keys:
        return name
    prefix = getattr(hf_model, "base_model_prefix", "")
    for candidate in (name.removeprefix(f"{prefix}."), f"{prefix}.{name}"):
        if candidate in keys:
            return candidate
    return None


def materialise(model: nn.Module, device: torch.device, plan: Plan, seed: int) -> nn.Module:
    """Allocate this rank's shards on ``device`` and fill them (see the module doc); returns ``model``."""
    model.to_empty(device=device)
    ckpt = Checkpoint(plan.checkpoint) if plan.checkpoint is not None else None
    keys = ckpt.keys() if ckpt else set()
    torch.manual_seed(seed)
    missing = []
    for qualified, module in _post_order(model):
        own = [*module._parameters, *module._buffers]
        own = [n for n in own if getattr(module, n) is not None]
        if not own:
            continue
        todo = []
        for name in own:
            full = f"{qualified}.{name}" if qualified else name
            tensor = getattr(module, name)
            base_name = plan.names.get(id(module))
            key = _checkpoint_key(f"{base_name}.{name}" if base_name else name, keys, plan.hf_model) \
                if ckpt and base_name is not None else None
            if full in plan.preset:
                _fill(tensor, plan.preset[full])
            elif key is not None:
                _fill(tensor, lambda index, k=key: ckpt.read(k, index))
            else:
                todo.append(name)
        if todo:
            missing += [f"{qualified}.{n}" for n in todo if n in module._parameters]
            _initialise(module, todo, plan.hf_model)
    if ckpt is not None and (params := [m for m in missing if not m.endswith("inv_freq")]):
        tied = getattr(getattr(plan.hf_model, "config", None), "tie_word_embeddings", False)
        if not (tied and all("lm_head" in m for m in params)):
            raise ValueError(f"{plan.checkpoint}: {len(params)} parameter(s) of the model are not in the checkpoint, "
                             f"e.g. {params[:3]} (is init the model the recipe describes?)")
    return model


def _initialise(module: nn.Module, names: list[str], hf_model: nn.Module | None) -> None:
    """Run the module's Hugging Face initialisation on a full-size CPU twin and keep this rank's part."""
    if hf_model is None:
        raise ValueError(f"{type(module).__name__}: tensors {names} have no checkpoint value and no initialiser")
    twin = _module_twin(module, names)
    with torch.no_grad():
        hf_model._init_weights(twin)
    for name in names:
        _fill(getattr(module, name), getattr(twin, name).detach())


def tie_if_needed(model: nn.Module, sharded: bool) -> None:
    """Re-tie input and output embeddings after ``to_empty`` (which unties them); refused under sharding."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(base.config, "tie_word_embeddings", False):
        return
    if sharded:
        raise ValueError("tied word embeddings (tie_word_embeddings = true) are not supported with FSDP sharding "
                         "yet: untie them in the model config or train on one process")
    base.tie_weights()

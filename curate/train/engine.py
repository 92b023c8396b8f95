"""The engine: torch.distributed from torchrun or Slurm variables, the model, and its FSDP2 wrapping.

One process without any launcher variables is a world of one with no process group. On CPU the
backend is gloo (so that two processes run on one machine); on CUDA it is nccl. Models are FSDP2
sharded (``fully_shard`` per decoder layer, then the root) whenever there is more than one rank or
a GPU; a single CPU process trains the plain model, since sharding over one rank only adds copies.
Models arrive here on the meta device and are sharded before any weight exists (``curate.train.weights``).
"""

from __future__ import annotations

import os
import socket
import subprocess
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from curate.train.config import ATTENTION


@dataclass(frozen=True)
class Dist:
    """Where this process sits: rank, world size, local rank and its device."""

    rank: int
    world: int
    local_rank: int
    device: torch.device

    @property
    def main(self) -> bool:
        """Whether this is rank 0 (the one that logs and exports)."""
        return self.rank == 0


def _slurm_env() -> None:
    """Fill torchrun's variables from Slurm's when only Slurm's are set (``srun python -m ...``)."""
    env = os.environ
    if "RANK" in env or "SLURM_PROCID" not in env or "SLURM_NTASKS" not in env:
        return
    env["RANK"], env["WORLD_SIZE"] = env["SLURM_PROCID"], env["SLURM_NTASKS"]
    env["LOCAL_RANK"] = env.get("SLURM_LOCALID", "0")
    if "MASTER_ADDR" not in env:
        nodes = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
        if not nodes:
            raise RuntimeError("Slurm run without MASTER_ADDR or SLURM_JOB_NODELIST: export MASTER_ADDR=<head node>")
        hosts = subprocess.run(["scontrol", "show", "hostnames", nodes], capture_output=True, text=True, check=True)
        env["MASTER_ADDR"] = hosts.stdout.split()[0]
    env.setdefault("MASTER_PORT", "29500")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def init_distributed() -> Dist:
    """Join the process group described by the environment (torchrun or Slurm); world 1 without one."""
    _slurm_env()
    cuda = torch.cuda.is_available()
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        if not cuda:
            return Dist(0, 1, 0, torch.device("cpu"))
        # One GPU without a launcher: a process group of one, so that FSDP2 still gives bf16 mixed precision.
        os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        os.environ.setdefault("MASTER_PORT", str(_free_port()))
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device("cuda", local) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo", device_id=device if cuda else None)
    return Dist(rank, world, local, device)


def shutdown() -> None:
    """Leave the process group, if any."""
    if dist.is_initialized():
        dist.destroy_process_group()


def all_reduce_sum(value: torch.Tensor) -> torch.Tensor:
    """Sum over ranks (the value itself in a world of one)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def barrier() -> None:
    """Wait for every rank (nothing to wait for in a world of one)."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def attention_of(model: nn.Module) -> str | None:
    """The attention implementation a Hugging Face model runs (None when it does not say)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return getattr(base.config, "_attn_implementation", None)


def require_masked_attention(model: nn.Module) -> None:
    """Refuse a model whose attention would ignore the batch's boolean mask (eager adds it to the scores)."""
    impl = attention_of(model)
    if impl not in ATTENTION:
        raise RuntimeError(f"the model runs {impl!r} attention, which ignores boolean masks (packed examples and "
                           f"GLM's Part A/B would see each other): load it with attn_implementation='sdpa'")


def decoder_layers(model: nn.Module) -> nn.ModuleList:
    """The decoder layers (``model.model.layers``, also under a PEFT wrapper)."""
    for name, module in model.named_modules():
        if name.endswith("layers") and isinstance(module, nn.ModuleList):
            return module
    raise ValueError(f"{type(model).__name__}: no decoder `layers` ModuleList to shard")


def parallelize(model: nn.Module, env: Dist, *, bf16: bool, activation_checkpointing: bool) -> nn.Module:
    """Activation checkpointing, then FSDP2 per decoder layer and at the root (the plain model on one CPU)."""
    if activation_checkpointing:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        base.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    if env.world == 1 and env.device.type == "cpu":
        return model
    from torch.distributed.fsdp import FSDPModule, MixedPrecisionPolicy, fully_shard

    gpu_bf16 = bf16 and env.device.type == "cuda"
    # bf16 compute with fp32 master weights and fp32 gradient reduction; fp32 throughout on CPU.
    mp = MixedPrecisionPolicy(param_dtype=torch.bfloat16 if gpu_bf16 else torch.float32, reduce_dtype=torch.float32)
    # On a meta-device model (curate.train.weights) fully_shard only plans the shards; materialise allocates them.
    for layer in decoder_layers(model):
        fully_shard(layer, mp_policy=mp)
    fully_shard(model, mp_policy=mp)
    # The loop backpropagates loss_sum * world / global_target_tokens on each rank, so the reduce-scatter must
    # divide the summed gradients by exactly the world size. That is FSDP's default today; it is set here so
    # that the loss normalisation does not rest on a default.
    for module in model.modules():
        if isinstance(module, FSDPModule):
            module.set_gradient_divide_factor(float(env.world))
    return model


def sharded(model: nn.Module) -> bool:
    """Whether ``model`` is FSDP2-wrapped."""
    from torch.distributed.fsdp import FSDPModule

    return isinstance(model, FSDPModule)

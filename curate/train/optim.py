"""AdamW with Megatron-style parameter groups and learning-rate schedule (warmup, then cosine/linear/constant)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.optim.lr_scheduler import LambdaLR

from curate.train.config import StageConfig


def param_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Trainable parameters split into decayed (matrices) and not decayed (norms and biases)."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        # Norm weights and biases are vectors; decaying them only pulls scales towards zero.
        (no_decay if p.ndim < 2 or name.endswith(".bias") else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


@dataclass(frozen=True)
class Schedule:
    """Learning rate as a function of the iteration (0-based, the lr used by that iteration's step)."""

    lr: float
    min_lr: float
    warmup: int
    decay_iters: int
    style: str = "cosine"

    def __call__(self, it: int) -> float:
        """The lr of iteration ``it``."""
        if it < self.warmup:
            return self.lr * (it + 1) / self.warmup
        if self.style == "constant":
            return self.lr
        span = max(1, self.decay_iters - self.warmup)
        progress = min(1.0, (it - self.warmup) / span)
        factor = 1.0 - progress if self.style == "linear" else 0.5 * (1.0 + math.cos(math.pi * progress))
        return self.min_lr + (self.lr - self.min_lr) * factor


def schedule(cfg: StageConfig, iters: int) -> Schedule:
    """The schedule of a stage that trains ``iters`` iterations."""
    warmup = cfg.warmup_iters(iters)
    # By default the decay ends at the last iteration (iters - 1), so the final step uses min_lr.
    decay = cfg.lr_decay_iters if cfg.lr_decay_iters is not None else max(warmup + 1, iters - 1)
    return Schedule(cfg.lr, cfg.final_lr(), warmup, decay, cfg.lr_decay_style)


def build(model: nn.Module, cfg: StageConfig, iters: int) -> tuple[torch.optim.Optimizer, LambdaLR]:
    """AdamW over the trainable parameters and a LambdaLR following ``schedule(cfg, iters)``."""
    groups = param_groups(model, cfg.weight_decay)
    if not any(g["params"] for g in groups):
        raise ValueError("no trainable parameters: check the adapter's target_modules")
    opt = torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps,
                            weight_decay=cfg.weight_decay, foreach=True)
    sched = schedule(cfg, iters)
    # LambdaLR multiplies each group's initial lr (cfg.lr) by the factor.
    lr_sched = LambdaLR(opt, lambda it: sched(it) / cfg.lr if cfg.lr else 0.0)
    return opt, lr_sched

"""Optimiser parameter groups and the learning-rate schedule."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn

from curate.train import optim
from curate.train.config import StageConfig


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4)
        self.proj = nn.Linear(4, 4)
        self.norm = nn.LayerNorm(4)
        self.frozen = nn.Linear(4, 4, bias=False)
        self.frozen.weight.requires_grad_(False)


def test_no_weight_decay_on_norms_and_biases() -> None:
    model = _Block()
    decay, no_decay = optim.param_groups(model, 0.1)
    ids = lambda ps: {id(p) for p in ps}  # noqa: E731
    assert ids(decay["params"]) == {id(model.embed.weight), id(model.proj.weight)}
    assert ids(no_decay["params"]) == {id(model.proj.bias), id(model.norm.weight), id(model.norm.bias)}
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0


def test_warmup_then_cosine_to_min_lr() -> None:
    cfg = StageConfig(lr=1.0, min_lr_ratio=0.1, lr_warmup_iters=4, lr_decay_style="cosine")
    s = optim.schedule(cfg, iters=24)
    assert [s(i) for i in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert s(4) == pytest.approx(1.0)
    mid = 4 + (23 - 4) / 2
    assert s(int(mid)) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (int(mid) - 4) / 19)))
    assert s(23) == pytest.approx(0.1)  # the last iteration uses min_lr
    assert s(100) == pytest.approx(0.1)
    values = [s(i) for i in range(4, 24)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_linear_with_warmup_fraction_and_constant() -> None:
    lin = optim.schedule(StageConfig(lr=2.0, min_lr=0.0, lr_warmup_fraction=0.1, lr_decay_style="linear"), 21)
    assert lin.warmup == 2
    assert [lin(i) for i in (0, 1, 2)] == [1.0, 2.0, 2.0]
    assert lin(11) == pytest.approx(1.0)
    assert lin(20) == pytest.approx(0.0)
    const = optim.schedule(StageConfig(lr=0.5, lr_decay_style="constant"), 10)
    assert {const(i) for i in range(10)} == {0.5}


def test_lambda_lr_follows_the_schedule() -> None:
    cfg = StageConfig(lr=0.01, min_lr_ratio=0.1, lr_warmup_iters=2, weight_decay=0.1)
    model = _Block()
    opt, sched = optim.build(model, cfg, iters=10)
    expected = optim.schedule(cfg, 10)
    seen = []
    for _ in range(10):
        seen.append(opt.param_groups[0]["lr"])
        assert opt.param_groups[1]["lr"] == seen[-1]
        opt.step()
        sched.step()
    assert seen == pytest.approx([expected(i) for i in range(10)])


def test_no_trainable_parameters_is_an_error() -> None:
    model = nn.Linear(2, 2)
    model.requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable"):
        optim.build(model, StageConfig(), 5)


def test_adamw_betas_and_eps_from_config() -> None:
    opt, _ = optim.build(_Block(), StageConfig(adam_beta1=0.8, adam_beta2=0.95, adam_eps=1e-6), 5)
    assert opt.defaults["betas"] == (0.8, 0.95) and opt.defaults["eps"] == 1e-6
    assert isinstance(opt, torch.optim.AdamW)

"""The training loop of every stage, readable top to bottom: ``main(stage, config)`` is ``curate train``.

A step takes the next global batch of ``global_batch_size`` samples. What a sample is depends on the
stage: a Megatron sample of ``seq_length`` tokens (pretrain), a pack of ``seq_len`` tokens (instruct),
one example (adapt: the seed's "batch size of 12, 10 epochs" counts examples, so an epoch is
``ceil(N / global_batch_size)`` steps and its last batch may be short). Rank r takes the r-th contiguous
slice of the global batch and splits that into micro-batches, so any world size sees the same global
batch; a rank left without samples in a short batch runs an all-masked micro-batch, so that FSDP's
collectives still meet.

The loss is the summed token cross-entropy of the global batch divided by its number of target tokens
(counted over all micro-batches and ranks before the first backward), so the gradient does not depend
on how the batch is split. Each rank backpropagates ``loss_sum * world / count``; FSDP's reduce-scatter
is set to divide by the world size (``engine.parallelize``), which turns that into the global mean.
Then clip, AdamW step, schedule step, log, evaluate, checkpoint; at the end, the Hugging Face export
that the next stage starts from.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from curate.train import checkpoint, engine, metrics, optim, weights
from curate.train.config import TrainConfig, load_config
from curate.train.engine import Dist
from curate.train.export import export
from curate.train.stagedata import (  # noqa: F401  (StageData and the batches are part of this module's API)
    EpochBatches,
    GlobalBatches,
    StageData,
    batches_for,
    data_module,
    iterations,
    stage_data,
)


def forward_loss(model: nn.Module, batch: dict[str, Any], device: torch.device, routed: bool) -> torch.Tensor:
    """Summed next-token cross-entropy of one micro-batch (labels already shifted, -100 ignored)."""
    mask = batch.get("attention_mask")
    kwargs = {"input_ids": batch["input_ids"].to(device), "position_ids": batch["position_ids"].to(device),
              "attention_mask": None if mask is None else mask.to(device), "use_cache": False}
    if mask is None and "cu_seqlens" in batch:  # packs without a dense mask: flash-attention varlen
        cu, longest = batch["cu_seqlens"].to(device), int(batch["max_seqlen"])
        kwargs.update(cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=longest, max_length_k=longest)
    routing = contextlib.nullcontext()
    if routed:  # C-Poly reads each token's task id
        from curate.train import cpoly

        routing = cpoly.task_context(model, batch["task_ids"].to(device))
    with routing:
        logits = model(**kwargs).logits
        labels = batch["labels"].to(device)
        return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100, reduction="sum")


@dataclass(frozen=True)
class StepStats:
    """What one optimiser step saw, summed over ranks: loss (the global token mean) and its counts."""

    loss: float
    examples: int
    tokens: int
    loss_tokens: int


def train_step(model: nn.Module, micros: list[dict[str, Any]], env: Dist, routed: bool) -> StepStats:
    """Forward and backward over this rank's micro-batches; the loss is normalised over the global batch."""
    local = torch.tensor([sum(int((b["labels"] != -100).sum()) for b in micros),
                          sum(int(b.get("num_tokens", b["input_ids"].numel())) for b in micros),
                          sum(int(b.get("num_examples", b["input_ids"].shape[0])) for b in micros)],
                         dtype=torch.float64)
    count, tokens, examples = engine.all_reduce_sum(local.to(env.device)).tolist()
    # FSDP divides the reduced gradients by the world size (set explicitly in engine.parallelize); scaling each
    # rank's summed loss by world / count makes the result the gradient of the global token mean.
    scale = env.world / max(count, 1.0)
    total = torch.zeros((), dtype=torch.float64, device=env.device)
    for i, batch in enumerate(micros):
        if engine.sharded(model):  # reduce-scatter once per step, after the last micro-batch
            model.set_requires_gradient_sync(i == len(micros) - 1)
        loss_sum = forward_loss(model, batch, env.device, routed)
        (loss_sum * scale).backward()
        total += loss_sum.detach().double()
    loss = engine.all_reduce_sum(total).item() / max(count, 1.0)
    return StepStats(loss, int(examples), int(tokens), int(count))


def idle_batch(batch: dict[str, Any]) -> dict[str, Any]:
    """``batch`` with no targets and no counted tokens: what a rank without samples runs in a short batch."""
    return {**batch, "labels": torch.full_like(batch["labels"], -100), "num_tokens": 0, "num_examples": 0}


def clip_gradients(model: nn.Module, max_norm: float) -> float:
    """Clip the global gradient norm to ``max_norm`` (0: measure only); return the norm before clipping."""
    params = [p for p in model.parameters() if p.grad is not None]
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else math.inf, foreach=True)
    if hasattr(norm, "full_tensor"):  # a DTensor under FSDP2
        norm = norm.full_tensor()
    return float(norm)


@torch.no_grad()
def evaluate(model: nn.Module, data: StageData, env: Dist, cfg: TrainConfig, routed: bool) -> float | None:
    """Mean token loss over the first ``eval_iters`` global batches of the validation set."""
    t = cfg.train
    if data.valid is None or len(data.valid) == 0 or t.eval_iters <= 0:
        return None
    batches = GlobalBatches(len(data.valid), t.global_batch_size, t.micro_batch_size, shuffle=False, seed=t.seed)
    model.eval()
    total = torch.zeros(2, dtype=torch.float64, device=env.device)
    for k in range(t.eval_iters):
        for idx in batches.micro_batches(k, env):
            batch = data.collate([data.valid[i] for i in idx])
            total[0] += forward_loss(model, batch, env.device, routed).double()
            total[1] += (batch["labels"] != -100).sum()
    model.train()
    loss_sum, count = engine.all_reduce_sum(total).tolist()
    return loss_sum / max(count, 1.0)


def _plan(cfg: TrainConfig, data: StageData, iters: int, accum: int, env: Dist) -> str:
    t = cfg.train
    what = {"sample": f"samples of {data.seq_length} tokens", "pack": f"packs of {data.seq_length} tokens",
            "example": "examples"}[data.unit]
    line = (f"{cfg.stage}: {iters} iterations of {t.global_batch_size} {what}, {accum} micro-batch(es) of "
            f"{t.micro_batch_size} per rank x {env.world} rank(s)")
    if data.unit == "example":
        per_epoch = math.ceil(len(data.train) / t.global_batch_size)
        line += f"; {len(data.train):,} examples: {per_epoch} steps per epoch, {iters / per_epoch:g} epochs"
    return line


def build_stage_model(cfg: TrainConfig, data: StageData) -> tuple[nn.Module, Any, weights.Plan]:
    """The stage's model on the meta device (wrapped with its adapter, if any) and how to fill its weights."""
    t = cfg.train
    base = weights.build_meta(cfg.model, cfg.init_dir())
    names = weights.checkpoint_names(base)
    model, adapter_cfg = base, None
    if t.method == "lora":
        model = data_module("lora", cfg.stage).apply_lora(base, r=t.lora_r, alpha=t.lora_alpha,
                                                            dropout=t.lora_dropout, target_modules=t.target_modules)
    elif t.method == "cpoly":
        module = data_module("cpoly", cfg.stage)
        tasks = data.tasks or {"default": 0}
        adapter_cfg = module.CPolyConfig.from_tasks(tasks, n_shared=t.cpoly_shared_skills, rank=t.cpoly_rank,
                                                    n_task_skills=t.cpoly_task_skills,
                                                    target_modules=t.target_modules, combine=t.cpoly_combine)
        model = module.apply_cpoly(base, adapter_cfg)
    plan = weights.Plan(cfg.init_dir(), names, weights.adapter_presets(model, t.seed), hf_model=base)
    return model, adapter_cfg, plan


def adapter_budget(cfg: TrainConfig, data: StageData) -> str:
    """Trainable parameters of the recipe's LoRA and C-Poly side by side, for the stage's targets and tasks."""
    from curate.train import cpoly

    t = cfg.train
    shapes = cpoly.target_shapes(weights.build_meta(cfg.model, cfg.init_dir()), t.target_modules)
    tasks = len(data.tasks or {"default": 0})
    lora = cpoly.count_lora_parameters(t.lora_r, shapes)
    poly = cpoly.count_adapter_parameters(
        cpoly.CPolyConfig(n_tasks=tasks, n_shared=t.cpoly_shared_skills, rank=t.cpoly_rank,
                          n_task_skills=t.cpoly_task_skills), shapes)
    return (f"trainable parameters over {len(shapes)} target layers: LoRA r {t.lora_r}: {lora:,}; C-Poly "
            f"{t.cpoly_shared_skills} shared + {t.cpoly_task_skills} per task x {tasks} task(s), r {t.cpoly_rank}: "
            f"{poly:,} ({poly / max(lora, 1):.2f}x LoRA; training {t.method})")


def setup_model(cfg: TrainConfig, data: StageData, env: Dist) -> nn.Module:
    """Build on meta, shard, then allocate and fill this rank's shard only (``curate.train.weights``)."""
    t = cfg.train
    model, _, plan = build_stage_model(cfg, data)
    engine.require_masked_attention(model)
    model = engine.parallelize(model, env, bf16=t.bf16, activation_checkpointing=t.activation_checkpointing)
    weights.materialise(model, env.device, plan, t.seed)
    weights.tie_if_needed(model, engine.sharded(model))
    return model


def _announce(cfg: TrainConfig, data: StageData, plan: str) -> None:
    """What rank 0 says before a stage: the blend's epochs and warnings, the adapters' sizes, the plan."""
    for note in data.notes:
        print(note, flush=True)
    for warning in data.warnings:
        print(f"warning: {warning}", file=sys.stderr, flush=True)
    if cfg.train.method != "full":
        print(adapter_budget(cfg, data), flush=True)
    print(plan, flush=True)


def train(cfg: TrainConfig, env: Dist, *, resume: bool = False, stop_after: int | None = None,
          data: StageData | None = None) -> list[float]:
    """Run one stage on this rank; return the loss of every iteration run (``stop_after`` simulates a kill)."""
    t = cfg.train
    data = data or stage_data(cfg)
    iters = iterations(cfg, data)
    batches = batches_for(data, t)
    accum = len(batches.micro_batches(0, env))  # checks that the global batch splits over the ranks
    if env.main:
        _announce(cfg, data, _plan(cfg, data, iters, accum, env))
    model = setup_model(cfg, data, env)
    flops = metrics.flops_per_token(model.get_base_model() if hasattr(model, "get_base_model") else model,
                                    data.seq_length)
    optimizer, scheduler = optim.build(model, t, iters)
    last, position = checkpoint.resume(cfg.save_dir, env, model, optimizer, scheduler) if resume \
        else (None, checkpoint.Position())
    log = metrics.Metrics(cfg.save_dir, enabled=env.main, flops_per_token=flops, world=env.world, total_iters=iters,
                          peak=metrics.peak_flops(env.device, t.peak_flops))
    if env.main and last:
        print(f"{cfg.stage}: resumed from {last}", flush=True)
    routed = t.method == "cpoly"
    losses: list[float] = []
    idle = None
    model.train()
    for it in range(position.iteration, iters):
        start = time.perf_counter()
        micros = []
        for idx in batches.micro_batches(it, env):
            if not idx:  # a short batch left this micro-batch empty: run one without targets
                idle = idle or idle_batch(data.collate([data.train[0]]))
            micros.append(data.collate([data.train[i] for i in idx]) if idx else idle)
        step = train_step(model, micros, env, routed)
        grad_norm = clip_gradients(model, t.clip_grad)
        lr = optimizer.param_groups[0]["lr"]
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        position = checkpoint.Position(it + 1, position.consumed + len(batches.global_batch_at(it)))
        losses.append(step.loss)
        if (it + 1) % t.log_interval == 0 or it + 1 == iters:
            log.log(it + 1, loss=step.loss, lr=lr, grad_norm=grad_norm, tokens=step.tokens,
                    seconds=time.perf_counter() - start, examples=step.examples, loss_tokens=step.loss_tokens)
        if t.eval_interval and (it + 1) % t.eval_interval == 0:
            eval_loss = evaluate(model, data, env, cfg, routed)
            if eval_loss is not None:
                log.log_eval(it + 1, eval_loss)
        if t.save_interval and (it + 1) % t.save_interval == 0:
            checkpoint.save(cfg.save_dir, env, model, optimizer, scheduler, position, t.keep_last)
        if stop_after is not None and it + 1 >= stop_after:
            log.close()
            return losses
    log.close()
    export(model, env, cfg.save_dir / "export", tokenizer_dir=cfg.tokenizer_dir, method=t.method,
           rebuild=lambda: build_stage_model(cfg, data)[:2], merge=t.merge,
           dtype=torch.bfloat16 if t.bf16 and env.device.type == "cuda" else torch.float32)
    return losses


def main(stage: str, config_path: str, resume: bool = False, overrides: Sequence[str] | dict | None = None,
         *, stop_after: int | None = None) -> list[float]:
    """``curate train``: run ``stage`` of the recipe at ``config_path`` on this torchrun/Slurm rank."""
    cfg = load_config(config_path, stage, overrides)
    env = engine.init_distributed()
    try:
        return train(cfg, env, resume=resume, stop_after=stop_after)
    finally:
        engine.shutdown()


def _cli(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m curate.train.loop", description=main.__doc__)
    parser.add_argument("--stage", required=True, choices=("pretrain", "instruct", "adapt"))
    parser.add_argument("--config", required=True, help="training recipe (recipes/train/*.toml)")
    parser.add_argument("--resume", action="store_true", help="continue from the latest complete step-N/")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override a stage option (lr=1e-4) or a model option (model.tokenizer=...)")
    parser.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    main(args.stage, args.config, args.resume, args.sets, stop_after=args.stop_after)


if __name__ == "__main__":
    _cli()


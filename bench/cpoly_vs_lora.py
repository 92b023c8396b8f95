"""C-Poly against a single LoRA of the same trainable-parameter budget on a 3-task problem with conflicting targets.

    python bench/cpoly_vs_lora.py [--steps 300] [--lr 3e-3] [--seeds 0 1 2] [--json out.json]

The problem: every task sees the same input distribution (uniform random tokens), but task t labels token
x with perm_t(x), a random permutation of its own. The input never says which task it is, so a single
LoRA can at best predict the mixture of the tasks' answers; its floor, the entropy of the three labels of
each input averaged over inputs, is printed (about ln 3 = 1.0986 nats, less where permutations agree).
C-Poly is told the task id of each token and can learn every mapping, so it can go below that floor.
Both ways of combining C-Poly's skills run: ``outputs`` (the seed's Eq. 1, the default) and ``weights``
(Poly's weighted average of the skills' parameters), with the same skills and parameters.

The base is a tiny LLaMA, random-init then briefly trained in full on a shared task (label = input
token), so that its head can express confident predictions; then it is frozen. Both adapters sit on the
q, k, v, o, gate, up and down projections, with the same scaling (alpha / r = 2), optimiser (AdamW),
learning rate, steps, batches and seed. The LoRA rank is the smallest whose parameter count reaches
C-Poly's (4 shared skills + 1 per task, rank 4), so LoRA gets at least as many parameters. Prints the
per-task eval loss (mean token cross-entropy, nats) of both on held-out batches. One thread by default.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
import transformers

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.train.cpoly import CPolyConfig, apply_cpoly, count_adapter_parameters, task_context  # noqa: E402
from curate.train.lora import apply_lora, trainable_parameters  # noqa: E402

TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Problem:
    """Sizes of the generated multi-task problem and of its training run."""

    n_tasks: int = 3
    vocab: int = 32
    seq_len: int = 16
    batch: int = 16
    steps: int = 300
    lr: float = 3e-3
    eval_batches: int = 8
    pretrain_steps: int = 100
    pretrain_lr: float = 1e-2
    seed: int = 0


def tiny_base(p: Problem, state: dict[str, torch.Tensor] | None = None) -> transformers.LlamaForCausalLM:
    """A tiny LLaMA, random-init from the seed or loaded from `state`."""
    torch.manual_seed(p.seed)
    cfg = transformers.LlamaConfig(
        vocab_size=p.vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
    )
    model = transformers.LlamaForCausalLM(cfg)
    if state is not None:
        model.load_state_dict(state)
    return model


def pretrain_copy(p: Problem) -> dict[str, torch.Tensor]:
    """Briefly train the whole base on a shared task (label = input token), then hand back its weights.

    A random-init head (std 0.02 after a norm) cannot produce confident logits, so without this both
    adapters would be capped well above their floors by the frozen head rather than by the task.
    """
    model = tiny_base(p).train()
    opt = torch.optim.AdamW(model.parameters(), lr=p.pretrain_lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(p.seed + 7)
    identity = torch.arange(p.vocab)[None].expand(p.n_tasks, -1)
    for _ in range(p.pretrain_steps):
        batch = make_batch(p, identity, g)
        per_token_loss(model, batch, routed=False).mean().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def make_batch(p: Problem, perms: torch.Tensor, g: torch.Generator) -> dict[str, torch.Tensor]:
    """Random tokens, one task per sequence, labels = that task's permutation of each token."""
    tasks = torch.randint(0, p.n_tasks, (p.batch,), generator=g)
    x = torch.randint(0, p.vocab, (p.batch, p.seq_len), generator=g)
    labels = perms[tasks[:, None], x]
    return {"input_ids": x, "labels": labels, "task_ids": tasks[:, None].expand(-1, p.seq_len).contiguous()}


def per_token_loss(model: torch.nn.Module, batch: dict[str, torch.Tensor], routed: bool) -> torch.Tensor:
    if routed:
        with task_context(model, batch["task_ids"]):
            logits = model(batch["input_ids"]).logits
    else:
        logits = model(batch["input_ids"]).logits
    flat = torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), batch["labels"].flatten(), reduction="none")
    return flat.view_as(batch["labels"])


def train_and_eval(model: torch.nn.Module, p: Problem, perms: torch.Tensor, routed: bool) -> dict:
    """Train the adapter of `model`, then return per-task eval loss and timing."""
    params = [q for q in model.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=p.lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(p.seed + 1)  # same batches for both methods
    torch.manual_seed(p.seed + 2)  # same Gumbel/dropout stream start
    model.train()
    start = time.perf_counter()
    for _ in range(p.steps):
        loss = per_token_loss(model, make_batch(p, perms, g), routed).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    seconds = time.perf_counter() - start
    model.eval()
    g_eval = torch.Generator().manual_seed(p.seed + 1000)
    sums, counts = torch.zeros(p.n_tasks), torch.zeros(p.n_tasks)
    with torch.no_grad():
        for _ in range(p.eval_batches):
            batch = make_batch(p, perms, g_eval)
            losses = per_token_loss(model, batch, routed)
            sums.index_add_(0, batch["task_ids"].flatten(), losses.flatten())
            counts.index_add_(0, batch["task_ids"].flatten(), torch.ones(losses.numel()))
    per_task = (sums / counts).tolist()
    return {"per_task": per_task, "mean": sum(per_task) / len(per_task), "train_s": seconds,
            "final_train_loss": float(loss.detach())}


def mixture_floor(perms: torch.Tensor) -> float:
    """Lowest loss a task-blind model can reach: entropy of the tasks' labels for each input, averaged."""
    total = 0.0
    for x in range(perms.shape[1]):
        counts = torch.bincount(perms[:, x]).float()
        q = counts[counts > 0] / perms.shape[0]
        total += float(-(q * q.log()).sum())
    return total / perms.shape[1]


def run_experiment(p: Problem = Problem()) -> dict:
    """Train C-Poly and a budget-matched LoRA on the same problem; return params and per-task eval losses."""
    g = torch.Generator().manual_seed(p.seed)
    perms = torch.stack([torch.randperm(p.vocab, generator=g) for _ in range(p.n_tasks)])
    cfg = CPolyConfig(n_tasks=p.n_tasks, n_shared=4, rank=4, n_task_skills=1, alpha=8.0, target_modules=TARGETS)
    base = pretrain_copy(p)
    cpoly = apply_cpoly(tiny_base(p, base), cfg)
    shapes = [(m.base.in_features, m.base.out_features) for m in cpoly.modules() if hasattr(m, "base")]
    cpoly_params = trainable_parameters(cpoly)
    assert cpoly_params == count_adapter_parameters(cfg, shapes)
    lora_rank = math.ceil(cpoly_params / sum(i + o for i, o in shapes))
    lora = apply_lora(tiny_base(p, base), r=lora_rank, alpha=2.0 * lora_rank, dropout=0.0, target_modules=TARGETS)
    weights = apply_cpoly(tiny_base(p, base), replace(cfg, combine="weights"))
    return {
        "problem": asdict(p),
        "cpoly": {"params": cpoly_params, **train_and_eval(cpoly, p, perms, routed=True)},
        "cpoly_weights": {"params": trainable_parameters(weights), **train_and_eval(weights, p, perms, routed=True)},
        "lora": {"params": trainable_parameters(lora), "rank": lora_rank,
                 **train_and_eval(lora, p, perms, routed=False)},
        "mixture_floor": mixture_floor(perms),
    }


def print_table(results: list[dict]) -> None:
    first = results[0]
    print(f"trainable params: C-Poly {first['cpoly']['params']:,} (outputs and weights alike) | "
          f"LoRA r={first['lora']['rank']} {first['lora']['params']:,}")
    n = first["problem"]["n_tasks"]
    print("seed  method         " + "  ".join(f"task{t} loss" for t in range(n)) + "   mean    train_s")
    for r in results:
        for name in ("cpoly", "cpoly_weights", "lora"):
            m = r[name]
            cells = "  ".join(f"{v:10.4f}" for v in m["per_task"])
            print(f"{r['problem']['seed']:4d}  {name:13s}  {cells}  {m['mean']:7.4f}  {m['train_s']:7.1f}")
        print(f"      task-blind floor (entropy of the tasks' labels per input): {r['mixture_floor']:.4f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=Problem.steps)
    parser.add_argument("--lr", type=float, default=Problem.lr)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the model is too small to gain)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = [run_experiment(Problem(steps=args.steps, lr=args.lr, seed=s)) for s in args.seeds]
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Training throughput on CPU: curate's loop against Hugging Face ``Trainer``, same model, data and batch.

Both train the same LLaMA-style model (hidden 256, 4 layers, the bundled tokenizer's vocabulary)
from the same random init on the same random token sequences (no packing), with the same micro and
global batch, AdamW, cosine schedule and gradient clipping, for the same number of steps. The runs
alternate (ours, Trainer, ours, ...) so that load from other processes hits both alike. Each run
records the wall time at the end of every optimiser step; throughput is measured over windows of
steps after a warm-up, and the medians are compared.

    python bench/train_throughput.py [--steps 24] [--repeats 3] [--seq 128] [--micro 4] [--global-batch 8]
                                     [--threads N]

On a shared machine pass ``--threads 1``: with other processes busy, two spinning intra-op threads
per process slow both trainers down several-fold and make the windows noisy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

MODEL = {"vocab_size": 6922, "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
         "num_attention_heads": 8, "num_key_value_heads": 4, "max_position_embeddings": 1024}
WARMUP_STEPS = 4  # first steps pay for allocation and lazy initialisation
WINDOW = 4


class RandomTokens(torch.utils.data.Dataset):
    """Random token sequences of seq_len + 1 tokens (inputs and next-token targets)."""

    def __init__(self, n: int, seq_len: int, vocab: int, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        self.tokens = torch.randint(8, vocab, (n, seq_len + 1), generator=g)

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        # For Trainer: HF causal LMs shift labels themselves, so labels = input_ids.
        return {"input_ids": self.tokens[i, :-1], "labels": self.tokens[i, :-1]}


def window_rates(stamps: list[float], tokens_per_step: int) -> list[float]:
    """Tokens per second over consecutive windows of WINDOW steps, after WARMUP_STEPS steps."""
    stamps = stamps[WARMUP_STEPS:]
    return [WINDOW * tokens_per_step / (stamps[i + WINDOW] - stamps[i])
            for i in range(0, len(stamps) - WINDOW, WINDOW)]


def run_ours(args: argparse.Namespace, data: RandomTokens, workdir: Path) -> list[float]:
    """Step-end timestamps of curate's loop (world of one, the plain model on CPU)."""
    import json

    from curate.train import loop
    from curate.train.config import load_config
    from curate.train.engine import init_distributed

    model = ", ".join(f"{k} = {v}" for k, v in MODEL.items())
    recipe = workdir / "bench.toml"
    save = workdir / f"ours-{time.perf_counter_ns()}"
    recipe.write_text(f"""[model]
config = {{ {model} }}
[pretrain]
data = "{workdir}"
seq_length = {args.seq}
micro_batch_size = {args.micro}
global_batch_size = {args.global_batch}
lr = 1e-3
min_lr_ratio = 0.1
lr_warmup_iters = 2
weight_decay = 0.1
clip_grad = 1.0
train_iters = {args.steps}
seed = 0
save = "{save}"
""", encoding="utf-8")

    def collate(rows: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        tokens = torch.stack(rows)
        return {"input_ids": tokens[:, :-1], "labels": tokens[:, 1:],
                "position_ids": torch.arange(args.seq).expand(len(rows), -1)}

    stage = loop.StageData(data.tokens, collate, args.seq, None, shuffle=True)
    loop.train(load_config(recipe, "pretrain"), init_distributed(), data=stage)
    rows = [json.loads(line) for line in (save / "log.jsonl").read_text().splitlines()]
    return [r["elapsed"] for r in rows if "loss" in r]


def run_trainer(args: argparse.Namespace, data: RandomTokens, workdir: Path) -> list[float]:
    """Step-end timestamps of Hugging Face Trainer with the same settings."""
    from transformers import AutoConfig, AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments

    stamps: list[float] = []

    class Clock(TrainerCallback):
        def on_step_end(self, *_args, **_kwargs) -> None:
            stamps.append(time.perf_counter())

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **MODEL), attn_implementation="sdpa")
    targs = TrainingArguments(
        output_dir=str(workdir / "trainer"), per_device_train_batch_size=args.micro,
        gradient_accumulation_steps=args.global_batch // args.micro, max_steps=args.steps, learning_rate=1e-3,
        lr_scheduler_type="cosine", warmup_steps=2, weight_decay=0.1, max_grad_norm=1.0, adam_beta2=0.999,
        logging_steps=10_000, save_strategy="no", report_to=[], use_cpu=True, dataloader_num_workers=0,
        disable_tqdm=True, seed=0)
    Trainer(model=model, args=targs, train_dataset=data, callbacks=[Clock()]).train()
    return stamps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seq", type=int, default=128)
    parser.add_argument("--micro", type=int, default=4)
    parser.add_argument("--global-batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads [default: torch's]")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = RandomTokens(args.steps * args.global_batch, args.seq, MODEL["vocab_size"])
    tokens_per_step = args.global_batch * args.seq
    rates: dict[str, list[float]] = {"curate": [], "trainer": []}
    paired: list[float] = []  # per repeat: our median over Trainer's, run back to back under similar load
    with tempfile.TemporaryDirectory() as tmp:
        for rep in range(args.repeats):
            for name, run in (("curate", run_ours), ("trainer", run_trainer)):
                got = window_rates(run(args, data, Path(tmp)), tokens_per_step)
                rates[name] += got
                if name == "trainer":
                    paired.append(statistics.median(rates["curate"][-len(got):]) / statistics.median(got))
                print(f"repeat {rep + 1} {name:>8}: " + " ".join(f"{r:,.0f}" for r in got) + " tok/s", flush=True)
    ours, theirs = statistics.median(rates["curate"]), statistics.median(rates["trainer"])
    print(f"\nmodel {MODEL['hidden_size']}x{MODEL['num_hidden_layers']} layers, seq {args.seq}, micro {args.micro}, "
          f"global {args.global_batch}, {args.steps} steps x {args.repeats} repeats, torch threads "
          f"{torch.get_num_threads()}")
    print(f"median tokens/s over {len(rates['curate'])} windows: curate {ours:,.0f}  Trainer {theirs:,.0f}  "
          f"ratio {ours / theirs:.2f}")
    print("ratio per repeat: " + " ".join(f"{r:.2f}" for r in paired) + f"  median {statistics.median(paired):.2f}")


if __name__ == "__main__":
    main()

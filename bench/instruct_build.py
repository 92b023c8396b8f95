"""Stage-2 style instruction build on generated data: throughput and packing efficiency.

    python bench/instruct_build.py [--examples 50000] [--seq-len 2048] [--workers N] [--runs 1]

Generates MedQA-style MCQ JSONL (vignettes of 40-260 words, explanations on a third), ShareGPT
dialogs of 1-4 rounds, and alpaca pairs in roughly equal numbers, with long-tailed lengths, then runs
the instruction build with the bundled tokenizer (project ChatML template). Prints wall time per step,
examples per second, packing efficiency per split (the share of non-pad tokens), and the share of
tokens that carry loss.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.build_throughput import WORDS  # noqa: E402
from curate.instruct import build, recipe  # noqa: E402


def _text(rng: random.Random, lo: int, hi: int) -> str:
    n = min(hi, max(lo, int(rng.lognormvariate(4.2, 0.7))))
    return " ".join(rng.choices(WORDS, k=n)).capitalize() + "."


def generate(d: Path, n: int, seed: int = 0) -> None:
    """MCQ, dialog and alpaca files holding ``n`` examples in total."""
    rng = random.Random(seed)
    with open(d / "train.jsonl", "w") as mcq, open(d / "dialogs.jsonl", "w") as dialogs:
        alpaca = []
        for i in range(n):
            kind = i % 3
            if kind == 0:
                options = {k: _text(rng, 1, 6) for k in "ABCDE"}
                answer = rng.choice("ABCDE")
                mcq.write(json.dumps({"question": f"Case {i}. " + _text(rng, 40, 260), "options": options,
                                      "answer_idx": answer, "answer": options[answer],
                                      "meta_info": "step1"}) + "\n")
            elif kind == 1:
                turns = []
                for _ in range(rng.randint(1, 4)):
                    turns += [{"from": "human", "value": f"Q{i}. " + _text(rng, 8, 120)},
                              {"from": "gpt", "value": _text(rng, 20, 400)}]
                dialogs.write(json.dumps({"conversations": turns}) + "\n")
            else:
                alpaca.append({"instruction": f"Task {i}. " + _text(rng, 5, 60), "input": "",
                               "output": _text(rng, 10, 500)})
    (d / "alpaca.json").write_text(json.dumps(alpaca))


RECIPE = """name = "bench"
kind = "instruct"
seed = 1
seq_len = {seq_len}
valid_fraction = 0.01
[[sources]]
name = "medqa"
loader = "medqa"
inputs = ["{d}/train.jsonl"]
[[sources]]
name = "dialogs"
loader = "qa"
inputs = ["{d}/dialogs.jsonl", "{d}/alpaca.json"]
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=50_000)
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="curate-instruct-bench-"))
    try:
        generate(tmp, args.examples)
        path = tmp / "bench.toml"
        path.write_text(RECIPE.format(seq_len=args.seq_len, d=tmp))
        spec = recipe.load(path)
        walls = []
        for run in range(args.runs):
            out = tmp / f"build{run}"
            start = time.perf_counter()
            result = build.run(spec, out, workers=args.workers, progress=False)
            walls.append(time.perf_counter() - start)
        m = result.manifest
        wall = statistics.median(walls)
        examples = sum(s["examples_out"] for s in m["sources"].values())
        tokens = sum(s["tokens"] for s in m["sources"].values())
        loss = sum(s["loss_tokens"] for s in m["sources"].values())
        print(f"examples {args.examples:,} -> {examples:,} packed; {tokens:,} tokens; loss on {loss / tokens:.1%}")
        print(f"wall {wall:.1f} s (median of {args.runs}) = {examples / wall:,.0f} examples/s; steps: "
              + ", ".join(f"{k} {v:.1f}s" for k, v in result.seconds.items()))
        for split in ("train", "valid"):
            if p := m["packing"].get(split):
                print(f"{split}: {p['packs']:,} packs of {args.seq_len}, efficiency {p['efficiency']:.2%}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

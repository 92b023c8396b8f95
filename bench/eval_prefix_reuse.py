"""Option scoring throughput: prefix KV reuse against naive per-option scoring, same model and items.

    python bench/eval_prefix_reuse.py [--items 40] [--words 250] [--repeats 5] [--threads 1]

A random Llama (hidden 256, 4 layers, 8 heads / 4 KV heads, the bundled 6,922-token vocabulary)
scores PubMedQA-shaped items with abstracts of ``--words`` words and 3 options, with lm-eval's prompt
(options `` yes``/`` no``/`` maybe``) and with the chat prompt (options "The answer is yes." ...).
Modes: ``per_option`` (one full forward per option), ``naive`` (the options' full sequences as one
batch, lm-eval's way), ``prefix`` (the shared prompt once, then the options as one batch over the
expanded KV cache) and ``prefix_loop`` (the options one by one over a copied cache). Each repeat
scores every item in every mode, the modes taking turns; the figure is the median items/s over the
repeats, and the speed-ups are against ``per_option`` and ``naive``. Scores of every mode are checked
equal to ``per_option``'s (1e-4) on the first items.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "eval"))

import torch  # noqa: E402
from conftest import pqal_items, write_export  # noqa: E402

from curate.benchmarks.evalsets import pubmedqa_item  # noqa: E402
from curate.eval.model import load_model  # noqa: E402
from curate.eval.run import pubmedqa_request  # noqa: E402
from curate.eval.score import Request, score  # noqa: E402

MODEL = {"hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4, "num_attention_heads": 8,
         "num_key_value_heads": 4}


def per_option(model, tok, request: Request) -> list:
    """One full forward per option (no sharing at all)."""
    return [s for o in request.options for s in score(model, tok, Request(request.context, (o,), request.delimiter,
                                                                          request.move_whitespace), "naive")]


def bench_prompt(model, tok, requests: list[Request], repeats: int) -> dict[str, float]:
    """Median items/s of every mode on ``requests``; raises if any mode's scores differ from ``per_option``'s.

    Modes take turns within each repeat, so that load from other processes falls on all of them alike.
    """
    modes = {"per_option": lambda r: per_option(model, tok, r), "naive": lambda r: score(model, tok, r, "naive"),
             "prefix": lambda r: score(model, tok, r, "prefix"),
             "prefix_loop": lambda r: score(model, tok, r, "prefix_loop")}
    for fn in modes.values():  # warm-up, and the equality check
        ref = [s.logprob for r in requests[:4] for s in modes["per_option"](r)]
        got = [s.logprob for r in requests[:4] for s in fn(r)]
        if (worst := max(abs(a - b) for a, b in zip(ref, got, strict=True))) > 1e-4:
            raise AssertionError(f"a mode differs from per_option by {worst:.2e}")
    rates: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(repeats):
        for name, fn in modes.items():
            start = time.perf_counter()
            for r in requests:
                fn(r)
            rates[name].append(len(requests) / (time.perf_counter() - start))
    return {name: statistics.median(values) for name, values in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40)
    parser.add_argument("--words", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        export = write_export(Path(tmp) / "export", **MODEL)
        model, tok = load_model(export)
        raw = pqal_items(args.items, seed=1, words_per_context=args.words)
        items = [pubmedqa_item(row, pmid, f"pubmedqa/test#{pmid}", "test", "bench") for pmid, row in raw.items()]
        ctx_tokens = statistics.median(len(tok.encode(pubmedqa_request(i, raw[i["meta"]["pmid"]], "lm_eval",
                                                                       export).context)) for i in items)
        print(f"model: hidden {MODEL['hidden_size']}, {MODEL['num_hidden_layers']} layers; {args.items} items, "
              f"{args.words}-word abstracts (median {ctx_tokens:.0f} prompt tokens), 3 options, "
              f"{args.repeats} repeats, {args.threads} thread(s)")
        for prompt in ("lm_eval", "chat"):
            requests = [pubmedqa_request(i, raw[i["meta"]["pmid"]], prompt, export) for i in items]
            rates = bench_prompt(model, tok, requests, args.repeats)
            cells = "  ".join(f"{k} {v:6.2f} items/s" for k, v in rates.items())
            print(f"{prompt:8s} {cells}  prefix/per_option {rates['prefix'] / rates['per_option']:.2f}x  "
                  f"prefix/naive {rates['prefix'] / rates['naive']:.2f}x  "
                  f"prefix_loop/per_option {rates['prefix_loop'] / rates['per_option']:.2f}x")


if __name__ == "__main__":
    main()

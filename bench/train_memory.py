"""Host peak RSS per rank while a >= 1B-parameter model is set up for FSDP2 training on 2 gloo processes.

Two ways to get a sharded model, each from a config (random init) and from an HF export on disk:

- ``full``: what the trainer did before: every rank builds (or loads) the whole fp32 model with
  ``from_config`` / ``from_pretrained``, then ``fully_shard`` keeps its half;
- ``meta``: what ``curate train`` does now (``curate.train.weights``): build on the meta device,
  ``fully_shard``, then allocate and fill each rank's shard, one module at a time.

Each (way, source) runs in fresh processes; each rank reports its peak RSS (``VmHWM``), its RSS once
ready to build (imports and transformers' modelling code loaded), and the bytes of its parameter shard.
The export is written once under ``--workdir``.

    python bench/train_memory.py                       # a 1.1B LLaMA-style config (TinyLlama's shape)
    python bench/train_memory.py --layers 4            # a smaller check
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import time
from pathlib import Path

import torch
import torch.multiprocessing as mp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _config(args: argparse.Namespace) -> dict:
    return {"vocab_size": 32000, "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": args.layers,
            "num_attention_heads": 32, "num_key_value_heads": 4, "max_position_embeddings": 2048,
            "tie_word_embeddings": False}


def _status_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak) of this process; unlike ru_maxrss, VmHWM starts afresh at exec."""
    with open("/proc/self/status", encoding="utf-8") as f:
        for line in f:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status (Linux only)")


def _full(config: dict, export: Path | None) -> torch.nn.Module:
    """The previous path: the whole model on every rank, then sharded."""
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    if export is not None:
        return AutoModelForCausalLM.from_pretrained(export, dtype=torch.float32, attn_implementation="sdpa")
    return AutoModelForCausalLM.from_config(AutoConfig.for_model("llama", **config), dtype=torch.float32,
                                            attn_implementation="sdpa")


def _worker(rank: int, port: int, way: str, config: dict, export: str | None, out: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    torch.set_num_threads(1)
    from curate.train import engine, weights
    from curate.train.config import ModelConfig

    env = engine.init_distributed()
    # Building a tiny model on meta first loads transformers' lazily imported modelling code (about 140 MB),
    # which either way pays: the baseline is the process ready to build, not the bare interpreter.
    weights.build_meta(ModelConfig(config={**config, "num_hidden_layers": 1, "hidden_size": 64,
                                           "intermediate_size": 64, "vocab_size": 64}), None)
    base_rss = _status_mb("VmRSS")
    start = time.perf_counter()
    init = Path(export) if export else None
    if way == "full":
        model = engine.parallelize(_full(config, init), env, bf16=False, activation_checkpointing=False)
    else:
        model = weights.build_meta(ModelConfig(config=config), init)
        plan = weights.Plan(init, weights.checkpoint_names(model), {}, hf_model=model)
        model = engine.parallelize(model, env, bf16=False, activation_checkpointing=False)
        weights.materialise(model, env.device, plan, seed=0)
    engine.barrier()
    shard = sum(p.to_local().numel() * p.element_size() for p in model.parameters()) / 2**20
    total = sum(p.numel() for p in model.parameters())
    row = {"way": way, "source": "export" if export else "config", "rank": rank, "params": total,
           "peak_rss_mb": _status_mb("VmHWM"), "baseline_rss_mb": base_rss,
           "shard_mb": shard, "seconds": round(time.perf_counter() - start, 1)}
    with open(out, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    engine.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_export(config: dict, path: Path) -> None:
    """One process builds the model layer by layer on meta, fills it and saves it (about one model of RAM)."""
    if (path / "config.json").is_file():
        return
    from curate.train import weights
    from curate.train.config import ModelConfig

    model = weights.build_meta(ModelConfig(config=config), None)
    weights.materialise(model, torch.device("cpu"), weights.Plan(None, hf_model=model), seed=0)
    model.save_pretrained(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layers", type=int, default=22, help="decoder layers (22: 1.1B parameters)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "build" / "bench" / "train_memory")
    parser.add_argument("--sources", default="config,export")
    parser.add_argument("--ways", default="meta,full")
    args = parser.parse_args()
    config = _config(args)
    args.workdir.mkdir(parents=True, exist_ok=True)
    export = args.workdir / f"export-{args.layers}"
    out = args.workdir / "rss.jsonl"
    out.unlink(missing_ok=True)
    if "export" in args.sources:
        _write_export(config, export)
    for source in args.sources.split(","):
        for way in args.ways.split(","):
            mp.start_processes(_worker, args=(_free_port(), way, config, str(export) if source == "export" else None,
                                              str(out)), nprocs=2, start_method="spawn")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    print(f"{rows[0]['params'] / 1e9:.2f}B parameters, fp32, 2 gloo ranks; MB per rank (peak RSS, RSS when ready "
          f"to build, parameter shard)")
    print("| source | way | rank | peak RSS | ready | peak - ready | shard | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['source']} | {r['way']} | {r['rank']} | {r['peak_rss_mb']:,.0f} | {r['baseline_rss_mb']:,.0f} | "
              f"{r['peak_rss_mb'] - r['baseline_rss_mb']:,.0f} | {r['shard_mb']:,.0f} | {r['seconds']} |")


if __name__ == "__main__":
    main()

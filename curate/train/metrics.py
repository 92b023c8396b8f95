"""Training metrics: ``<save>/log.jsonl``, TensorBoard when installed, a progress line, and MFU.

MFU is model FLOPs per second over the peak of all devices. Model FLOPs per token are
``6 N + 12 L H S`` (N non-embedding parameters, L layers, H hidden size, S sequence length: the
weight matmuls forward and backward plus attention scores), as in the PaLM paper's appendix B.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

# Dense bf16 peak per device, by a substring of torch.cuda.get_device_name().
PEAK_FLOPS = {"A100": 312e12, "H100": 989e12, "H200": 989e12, "H800": 989e12, "A800": 312e12, "L40S": 362e12}


def peak_flops(device: torch.device, override: float | None = None) -> float | None:
    """Peak FLOP/s of one device: ``override``, else from the table by GPU name; None on CPU."""
    if override:
        return override
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_FLOPS.items() if k in name), None)


def flops_per_token(model: nn.Module, seq_length: int) -> float:
    """Training FLOPs per token: 6 x non-embedding parameters + 12 x layers x hidden x seq."""
    config = model.config
    embed = model.get_input_embeddings()
    n_embed = sum(p.numel() for p in embed.parameters())
    n_params = sum(p.numel() for p in model.parameters()) - n_embed
    return 6.0 * n_params + 12.0 * config.num_hidden_layers * config.hidden_size * seq_length


class Metrics:
    """Writes one JSON line per logged iteration (rank 0 only) and mirrors scalars to TensorBoard."""

    def __init__(self, save_dir: Path, *, enabled: bool, flops_per_token: float, peak: float | None, world: int,
                 total_iters: int):
        self.enabled = enabled
        self.flops_per_token, self.peak, self.world, self.total = flops_per_token, peak, world, total_iters
        self.start = time.perf_counter()
        self._log = self._tb = None
        if enabled:
            save_dir.mkdir(parents=True, exist_ok=True)
            self._log = open(save_dir / "log.jsonl", "a", encoding="utf-8")  # noqa: SIM115 (closed by close())
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(save_dir / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self._tb = None

    def mfu(self, tokens_per_s: float) -> float | None:
        """Model FLOPs utilisation of all ranks together (None without a known peak)."""
        if not self.peak:
            return None
        return tokens_per_s * self.flops_per_token / (self.world * self.peak)

    def log(self, iteration: int, *, loss: float, lr: float, grad_norm: float, tokens: int, seconds: float,
            **extra: Any) -> dict[str, Any]:
        """Record one iteration (``tokens`` over all ranks, ``seconds`` of wall time it took)."""
        tps = tokens / seconds if seconds > 0 else 0.0
        mfu = self.mfu(tps)
        row = {"iteration": iteration, "loss": loss, "lr": lr, "grad_norm": grad_norm, "tokens": tokens,
               "tokens_per_s": round(tps, 1), "mfu": None if mfu is None else round(mfu, 4),
               "elapsed": round(time.perf_counter() - self.start, 3), **extra}
        if not self.enabled:
            return row
        self._log.write(json.dumps(row) + "\n")
        self._log.flush()
        if self._tb is not None:
            for key in ("loss", "lr", "grad_norm", "tokens_per_s", "mfu", *extra):
                if isinstance(row.get(key), int | float):
                    self._tb.add_scalar(f"train/{key}", row[key], iteration)
        mfu_s = f" mfu {mfu:.1%}" if mfu is not None else ""
        print(f"[{iteration:>6}/{self.total}] loss {loss:.4f} lr {lr:.3g} grad_norm {grad_norm:.3f} "
              f"{tps:,.0f} tok/s{mfu_s}", file=sys.stderr, flush=True)
        return row

    def log_eval(self, iteration: int, loss: float) -> None:
        """Record a validation loss."""
        if not self.enabled:
            return
        self._log.write(json.dumps({"iteration": iteration, "eval_loss": loss}) + "\n")
        self._log.flush()
        if self._tb is not None:
            self._tb.add_scalar("eval/loss", loss, iteration)
        print(f"[{iteration:>6}/{self.total}] eval loss {loss:.4f}", file=sys.stderr, flush=True)

    def close(self) -> None:
        """Flush and close the log files."""
        if self._log is not None:
            self._log.close()
        if self._tb is not None:
            self._tb.close()

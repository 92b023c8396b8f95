"""Step checkpoints with ``torch.distributed.checkpoint`` (DCP): ``<save>/step-N/``.

A step directory holds the DCP shards of the model and optimiser (each rank writes its own
shards; a run with another world size can still load them), ``trainer.json`` (iteration,
consumed samples, scheduler state) from rank 0, ``rng-<rank>.pt`` with each rank's random states,
and last of all the marker ``COMPLETE``. A directory without the marker is a checkpoint that was
being written when the run died, and ``latest`` skips it.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from curate.train.engine import Dist, barrier

MARKER = "COMPLETE"
_STEP = re.compile(r"^step-(\d+)$")


@dataclass(frozen=True)
class Position:
    """Where training stands: iterations done and samples consumed (the data position)."""

    iteration: int = 0
    consumed: int = 0


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and (when present) CUDA random states."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@contextlib.contextmanager
def _single_process_quiet():
    """DCP warns that it assumes one process when there is no process group: that is the intent here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


def steps(save_dir: Path) -> list[tuple[int, Path]]:
    """Complete step checkpoints under ``save_dir``, oldest first."""
    if not save_dir.is_dir():
        return []
    found = []
    for d in save_dir.iterdir():
        m = _STEP.match(d.name)
        if m and (d / MARKER).is_file():
            found.append((int(m.group(1)), d))
    return sorted(found)


def latest(save_dir: Path) -> Path | None:
    """The newest complete step checkpoint, or None."""
    found = steps(save_dir)
    return found[-1][1] if found else None


def save(save_dir: Path, env: Dist, model: nn.Module, optimizer: torch.optim.Optimizer,
         scheduler: torch.optim.lr_scheduler.LRScheduler, position: Position, keep_last: int) -> Path:
    """Write ``<save_dir>/step-<iteration>/`` on every rank, mark it complete, keep the last ``keep_last``."""
    out = save_dir / f"step-{position.iteration}"
    if env.main and out.exists():  # a half-written one from a run that died
        shutil.rmtree(out)
    barrier()
    model_sd, optim_sd = get_state_dict(model, optimizer)
    with _single_process_quiet():
        dcp.save({"model": model_sd, "optim": optim_sd}, checkpoint_id=str(out))
    torch.save(rng_state(), out / f"rng-{env.rank}.pt")
    if env.main:
        trainer = {"iteration": position.iteration, "consumed": position.consumed, "world": env.world,
                   "scheduler": scheduler.state_dict()}
        (out / "trainer.json").write_text(json.dumps(trainer, indent=1), encoding="utf-8")
    barrier()  # every rank's shards are on disk before the marker says so
    if env.main:
        (out / MARKER).write_text("", encoding="utf-8")
        for _, old in steps(save_dir)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return out


def load(step_dir: Path, env: Dist, model: nn.Module, optimizer: torch.optim.Optimizer,
         scheduler: torch.optim.lr_scheduler.LRScheduler) -> Position:
    """Restore model, optimiser, scheduler and random states from ``step_dir``; return the position."""
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    with _single_process_quiet():
        dcp.load(state, checkpoint_id=str(step_dir))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    trainer = json.loads((step_dir / "trainer.json").read_text(encoding="utf-8"))
    scheduler.load_state_dict(trainer["scheduler"])
    rng = step_dir / f"rng-{env.rank}.pt"
    if rng.is_file() and trainer["world"] == env.world:  # another world size: fresh per-rank streams
        set_rng_state(torch.load(rng, weights_only=False))
    return Position(trainer["iteration"], trainer["consumed"])

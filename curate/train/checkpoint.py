"""Step checkpoints with ``torch.distributed.checkpoint`` (DCP): ``<save>/step-N/``.

A step directory holds the DCP shards of the model and optimiser (each rank writes its own
``__<rank>_<n>.distcp``; a run with another world size can still load them) with their index
``.metadata``, ``trainer.json`` (iteration, consumed samples, world size, scheduler state) from rank 0,
``rng-<rank>.pt`` with each rank's random states, and last of all the marker ``COMPLETE``. A directory
without the marker is a checkpoint that was being written when the run died, and is never resumed.

Nothing in a checkpoint can run code when it is loaded. The RNG files hold tensors, numbers and lists
only (the numpy state as a tensor), read with ``torch.load(weights_only=True)``; DCP's ``.metadata``
(a plain pickle) is read by an unpickler that builds only DCP's own metadata classes; DCP's non-tensor
items (the optimiser's hyper-parameters) are read with ``weights_only=True`` too.

``--resume`` (``resume``) validates the newest complete checkpoint before loading it: the ``.metadata``
index reads, every shard it names is on disk and long enough, ``trainer.json`` is whole, and the RNG
files load. A checkpoint that fails any check, or fails to load, is named with its problem and the run
falls back to the previous complete one; when none is left, ``CheckpointError`` says why in one line.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import pickle
import random
import re
import shutil
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch import nn
from torch.distributed.checkpoint import metadata as dcp_metadata
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.api import CheckpointException
from torch.distributed.checkpoint.default_planner import DefaultLoadPlanner
from torch.distributed.checkpoint.filesystem import FileSystemReader, _StorageInfo
from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

from curate.train.engine import Dist, barrier

MARKER = "COMPLETE"
METADATA = ".metadata"
TRAINER = "trainer.json"
_STEP = re.compile(r"^step-(\d+)$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed, with what is wrong and what to do."""


@dataclass(frozen=True)
class Position:
    """Where training stands: iterations done and samples consumed (the data position)."""

    iteration: int = 0
    consumed: int = 0


# --- random states, in a format that holds no code -------------------------------------------------


def rng_state() -> dict[str, Any]:
    """Python, numpy, torch and (when present) CUDA random states, as tensors, numbers and lists."""
    version, words, gauss = random.getstate()
    kind, key, pos, has_gauss, cached = np.random.get_state()
    state = {"python": [version, list(words), gauss],
             "numpy": {"kind": kind, "key": torch.from_numpy(key.astype(np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _numpy_state(value: Any) -> tuple:
    if isinstance(value, dict):  # this module's format
        return (value["kind"], value["key"].numpy().astype(np.uint32), value["pos"], value["has_gauss"],
                value["cached_gaussian"])
    return tuple(value)  # np.random.get_state() as earlier checkpoints stored it


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    version, words, gauss = state["python"]
    random.setstate((version, tuple(words), gauss))
    np.random.set_state(_numpy_state(state["numpy"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# Earlier checkpoints stored numpy's state as an array: these globals rebuild a plain array and nothing else.
_NUMPY_ARRAY = [np.ndarray, np.dtype, np.dtypes.UInt32DType,
                getattr(np, "_core", np.core).multiarray._reconstruct]  # type: ignore[attr-defined]


def read_rng(path: Path) -> dict[str, Any]:
    """Load and check one ``rng-<rank>.pt`` with ``weights_only=True`` (never runs code from the file)."""
    with torch.serialization.safe_globals(_NUMPY_ARRAY):
        state = torch.load(path, weights_only=True, map_location="cpu")
    if not isinstance(state, dict) or not {"python", "numpy", "torch"} <= set(state):
        raise ValueError("not a random-state file (expected python, numpy and torch states)")
    version, words, _ = state["python"]
    if not isinstance(version, int) or len(words) != 625:
        raise ValueError("the Python random state is malformed")
    kind, key, *_ = _numpy_state(state["numpy"])
    if kind != "MT19937" or len(key) != 624:
        raise ValueError("the numpy random state is malformed")
    if not isinstance(state["torch"], torch.Tensor) or state["torch"].dtype != torch.uint8:
        raise ValueError("the torch random state is not a byte tensor")
    return state


# --- DCP reading without pickle's code execution -------------------------------------------------


# What DCP's index is made of: its metadata classes, torch sizes and layouts, paths (dtypes: find_class).
_INDEX_GLOBALS: dict[tuple[str, str], Any] = {(c.__module__, c.__qualname__): c for c in (
    dcp_metadata.Metadata, dcp_metadata.BytesStorageMetadata, dcp_metadata.ChunkStorageMetadata,
    dcp_metadata.MetadataIndex, dcp_metadata.StorageMeta, dcp_metadata.TensorProperties,
    dcp_metadata.TensorStorageMetadata, dcp_metadata._MEM_FORMAT_ENCODING, _StorageInfo, torch.Size,
    pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, pathlib.PureWindowsPath)}
_INDEX_GLOBALS[("torch.serialization", "_get_layout")] = torch.serialization._get_layout


class _MetadataUnpickler(pickle.Unpickler):
    """Builds what ``_INDEX_GLOBALS`` lists and torch dtypes; refuses every other global."""

    def find_class(self, module: str, name: str) -> Any:
        allowed = _INDEX_GLOBALS.get((module, name))
        if allowed is not None:
            return allowed
        if module == "torch" and isinstance(getattr(torch, name, None), torch.dtype | torch.memory_format):
            return getattr(torch, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not part of a checkpoint index")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not part of a checkpoint index")


def read_metadata(path: Path) -> dcp_metadata.Metadata:
    """DCP's ``.metadata`` index, through the restricted unpickler."""
    metadata = _MetadataUnpickler(io.BytesIO(Path(path).read_bytes())).load()
    if not isinstance(metadata, dcp_metadata.Metadata) or not isinstance(metadata.storage_data, dict):
        raise pickle.UnpicklingError(f"holds a {type(metadata).__name__}, not DCP metadata")
    return metadata


class SafeReader(FileSystemReader):
    """DCP's file reader with the index read by ``read_metadata``."""

    def read_metadata(self, *args: Any, **kwargs: Any) -> dcp_metadata.Metadata:
        """The checkpoint's index (the base class would ``pickle.load`` it)."""
        rank = kwargs.get("rank")
        metadata = read_metadata(Path(self.path) / (METADATA if rank is None else f"__{rank}{METADATA}"))
        if getattr(metadata, "storage_meta", None) is None:
            metadata.storage_meta = dcp_metadata.StorageMeta()
        metadata.storage_meta.load_id = self.load_id
        return metadata


class SafePlanner(DefaultLoadPlanner):
    """DCP's default load planner with its non-tensor items read by ``torch.load(weights_only=True)``."""

    def load_bytes(self, read_item: Any, value: io.BytesIO) -> None:
        """Restore one non-tensor item (a number, a tuple of betas, ...)."""
        obj = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], obj)
        else:
            self.state_dict[read_item.dest_index.fqn] = obj


@contextlib.contextmanager
def _single_process_quiet():
    """DCP warns that it assumes one process when there is no process group: that is the intent here."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        yield


# --- the step directories ----------------------------------------------------------------------


def _numbered(save_dir: Path) -> list[tuple[int, Path]]:
    if not save_dir.is_dir():
        return []
    return sorted((int(m.group(1)), d) for d in save_dir.iterdir() if (m := _STEP.match(d.name)) and d.is_dir())


def steps(save_dir: Path) -> list[tuple[int, Path]]:
    """Complete step checkpoints under ``save_dir``, oldest first."""
    return [(n, d) for n, d in _numbered(save_dir) if (d / MARKER).is_file()]


def latest(save_dir: Path) -> Path | None:
    """The newest complete step checkpoint, or None."""
    found = steps(save_dir)
    return found[-1][1] if found else None


def _write_atomic(path: Path, write: Any) -> None:
    """``write(tmp)``, then rename onto ``path``: a reader sees the whole file or none."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


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
    _write_atomic(out / f"rng-{env.rank}.pt", lambda tmp: torch.save(rng_state(), tmp))
    if env.main:
        trainer = {"iteration": position.iteration, "consumed": position.consumed, "world": env.world,
                   "scheduler": scheduler.state_dict()}
        _write_atomic(out / TRAINER, lambda tmp: tmp.write_text(json.dumps(trainer, indent=1), encoding="utf-8"))
    barrier()  # every rank's shards are on disk before the marker says so
    if env.main:
        (out / MARKER).write_text("", encoding="utf-8")
        for _, old in steps(save_dir)[:-keep_last] if keep_last > 0 else []:
            shutil.rmtree(old, ignore_errors=True)
    barrier()
    return out


# --- validation ----------------------------------------------------------------------------------


def _brief(err: BaseException) -> str:
    """A one-line account of a load error (torch's weights-only refusal says which global it met)."""
    if isinstance(err, CheckpointException) and err.failures:  # DCP wraps each rank's error
        rank, (inner, _) = min(err.failures.items())
        return _brief(inner) + (f" (rank {rank})" if len(err.failures) > 1 or rank else "")
    text = str(err)
    m = re.search(r"Unsupported global: GLOBAL (\S+)", text) or re.search(r"(\S+) is not part of a checkpoint", text)
    if m:
        return f"it asks for {m.group(1).rstrip('.')}, which a checkpoint never holds: refused, as it could run code"
    if isinstance(err, pickle.UnpicklingError) or "Weights only load failed" in text:
        return "it holds objects other than tensors, numbers and lists: refused, as it could run code"
    line = " ".join(text.split())
    return f"{type(err).__name__}: {line[:200]}" if line else type(err).__name__


def read_trainer(step_dir: Path) -> dict[str, Any]:
    """``trainer.json``, checked field by field; ``ValueError`` names what is wrong."""
    path = step_dir / TRAINER
    try:
        state = json.loads(path.read_bytes().decode("utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{TRAINER} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{TRAINER} is not whole JSON ({err}): it was cut off or overwritten") from None
    if not isinstance(state, dict):
        raise ValueError(f"{TRAINER} holds a {type(state).__name__}, not the trainer's state")
    for key, kind in (("iteration", int), ("consumed", int), ("world", int), ("scheduler", dict)):
        if not isinstance(state.get(key), kind) or isinstance(state.get(key), bool):
            raise ValueError(f"{TRAINER}: {key!r} is missing or not a{'n' if kind is int else ''} {kind.__name__}")
    if state["iteration"] < 0 or state["consumed"] < 0 or state["world"] < 1:
        raise ValueError(f"{TRAINER}: iteration, consumed or world out of range")
    m = _STEP.match(step_dir.name)
    if m and int(m.group(1)) != state["iteration"]:
        raise ValueError(f"{TRAINER} says iteration {state['iteration']}, the directory {step_dir.name}")
    return state


def _shards_problem(step_dir: Path) -> str | None:
    if not (step_dir / METADATA).is_file():
        return f"{METADATA} (DCP's index of the shards) is missing"
    try:
        metadata = read_metadata(step_dir / METADATA)
    except Exception as err:  # any parse failure means the index is unusable
        return f"{METADATA} cannot be read: {_brief(err)}"
    ends: dict[str, int] = {}
    for info in metadata.storage_data.values():
        if not isinstance(info, _StorageInfo):
            return f"{METADATA} is malformed (a storage entry of type {type(info).__name__})"
        name = str(info.relative_path)
        if Path(name).name != name or name in ("", ".", ".."):
            return f"{METADATA} names a shard outside the checkpoint: {name!r}"
        ends[name] = max(ends.get(name, 0), int(info.offset) + int(info.length))
    for name, end in sorted(ends.items()):
        path = step_dir / name
        if not path.is_file():
            return f"shard {name} is missing"
        if (size := path.stat().st_size) < end:
            return f"shard {name} is truncated ({size:,} of at least {end:,} bytes)"
    return None


def problem(step_dir: Path, env: Dist) -> str | None:
    """What makes ``step_dir`` unusable for this rank (index, shard sizes, trainer state, RNG file), or None."""
    if (found := _shards_problem(step_dir)) is not None:
        return found
    try:
        trainer = read_trainer(step_dir)
    except ValueError as err:
        return str(err)
    if trainer["world"] == env.world:  # another world size starts fresh per-rank streams
        rng = step_dir / f"rng-{env.rank}.pt"
        if not rng.is_file():
            return f"{rng.name} is missing"
        try:
            read_rng(rng)
        except Exception as err:  # whatever the file holds, it is not a state to restore
            return f"{rng.name} cannot be loaded: {_brief(err)}"
    return None


def _agreed(found: str | None, env: Dist) -> str | None:
    """Every rank's verdict on one checkpoint, so that all ranks resume from the same one."""
    if env.world == 1 or not dist.is_initialized():
        return found
    flag = torch.tensor([0 if found is None else 1], dtype=torch.int64, device=env.device)
    dist.all_reduce(flag, op=dist.ReduceOp.SUM)
    if found is None and int(flag.item()):
        return f"{int(flag.item())} other rank(s) found it unusable (see their messages)"
    return found


# --- loading -------------------------------------------------------------------------------------


def load(step_dir: Path, env: Dist, model: nn.Module, optimizer: torch.optim.Optimizer,
         scheduler: torch.optim.lr_scheduler.LRScheduler) -> Position:
    """Restore model, optimiser, scheduler and random states from ``step_dir``; return the position."""
    model_sd, optim_sd = get_state_dict(model, optimizer)
    state = {"model": model_sd, "optim": optim_sd}
    with _single_process_quiet():
        dcp.load(state, storage_reader=SafeReader(str(step_dir)), planner=SafePlanner())
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"])
    trainer = read_trainer(step_dir)
    scheduler.load_state_dict(trainer["scheduler"])
    if trainer["world"] == env.world:  # another world size: fresh per-rank streams
        set_rng_state(read_rng(step_dir / f"rng-{env.rank}.pt"))
    return Position(trainer["iteration"], trainer["consumed"])


def resume(save_dir: Path, env: Dist, model: nn.Module, optimizer: torch.optim.Optimizer,
           scheduler: torch.optim.lr_scheduler.LRScheduler) -> tuple[Path | None, Position]:
    """Load the newest complete checkpoint that passes ``problem`` and loads, falling back step by step.

    Returns (None, the start) when ``save_dir`` holds no complete checkpoint; raises ``CheckpointError``
    when it holds some and none is usable."""
    found = steps(save_dir)
    newest = found[-1][0] if found else -1
    unfinished = [d.name for n, d in _numbered(save_dir) if n > newest and not (d / MARKER).is_file()]
    if unfinished and env.main:
        print(f"note: {', '.join(unfinished)} in {save_dir} not marked {MARKER} (being written when the run "
              "stopped): skipped", file=sys.stderr, flush=True)
    failures = []
    for _, step_dir in reversed(found):
        why = _agreed(problem(step_dir, env), env)
        if why is None:
            try:
                position = load(step_dir, env, model, optimizer, scheduler)
            except (Exception, CheckpointException) as err:  # a shard that reads wrong, a model that does not fit
                why = f"cannot be loaded: {_brief(err)}"
            # Every rank falls back together; the next candidate overwrites whatever this one half-loaded.
            if (why := _agreed(why, env)) is None:
                return step_dir, position
        failures.append(f"{step_dir.name}: {why}")
        if env.main or not why.endswith("(see their messages)"):
            rank = f"rank {env.rank}: " if env.world > 1 else ""
            print(f"warning: {rank}{step_dir}: {why}; trying the previous complete checkpoint",
                  file=sys.stderr, flush=True)
    if failures:
        raise CheckpointError(f"--resume: no usable checkpoint in {save_dir} ({'; '.join(failures)}); "
                              "repair or remove them, or train without --resume to start over")
    return None, Position()

"""Hostile training state: crafted and damaged checkpoints under ``curate train --resume``, damaged
training data, wrong recipe types, and damaged Megatron files under ``curate inspect``.

A damaged newest checkpoint must be named and skipped for the previous complete one (the run then
resumes from ``step-2``), or stop the run with a one-line error naming what is wrong; a crafted pickle
must never run.
"""

from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import numpy as np

from tests.hostile.canaries import marker
from tests.hostile.harness import CODE, UNCLEAR, Defect, Run, defects_of_run, failed_clearly, invoke
from tests.hostile.registry import Ctx, case

ITERS = {"train_iters": 4, "save_interval": 2, "keep_last": 3}


def _recipe(folder: Path, data: Path, save: Path, **pretrain: object) -> Path:
    from tests.train.conftest import write_recipe

    return write_recipe(folder / "train.toml", data, data, save, pretrain={**ITERS, **pretrain})


def _trained(ctx: Ctx) -> tuple[Path, Path]:
    """(stage-1 data, a save dir holding step-2 and step-4), made once."""
    def make(folder: Path) -> tuple[Path, Path]:
        from tests.train.conftest import write_megatron_build

        data = write_megatron_build(folder / "data", docs=60)
        run = _train(_recipe(folder, data, folder / "save"), resume=False)
        assert run.code == 0, run.stderr[-2000:]
        return data, folder / "save" / "pretrain"
    return ctx.shared("trained-tiny", make)  # type: ignore[return-value]


def _train(recipe: Path, *, resume: bool = True, sets: tuple[str, ...] = ()) -> Run:
    args = ["train", "--stage", "pretrain", "--config", recipe, *(["--resume"] if resume else [])]
    return invoke([*args, *(a for s in sets for a in ("--set", s))], timeout=120)


def _resume_damaged(ctx: Ctx, name: str, damage) -> list[Defect]:
    data, save = _trained(ctx)
    folder = ctx.tmp(f"ckpt-{name}")
    shutil.copytree(save, folder / "save" / "pretrain")
    step = folder / "save" / "pretrain" / "step-4"
    payload = damage(step, folder)
    run = _train(_recipe(folder, data, folder / "save"))
    found = defects_of_run(run)
    if isinstance(payload, Path) and payload.exists():
        found.append(Defect(CODE, f"a pickle in {name} ran: {payload.name} was created"))
    if found:
        return found
    if run.code == 0:
        resumed = [line for line in run.stdout.splitlines() if "resumed from" in line]
        if not resumed or "step-2" not in resumed[0]:
            found.append(Defect(UNCLEAR, f"exit 0 but not resumed from the previous good step-2: "
                                         f"{resumed[0] if resumed else 'no resume line'}"))
        return found
    return failed_clearly(run, ["step-4", "rng-0", "trainer.json", ".metadata", "distcp", "checkpoint"])


class _Payload:
    """Unpickling this calls ``os.mkdir(path)``: harmless, and visible."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(self.path),))


def _crafted_rng(step: Path, folder: Path) -> Path:
    payload = marker(folder, "rng-payload-ran")
    (step / "rng-0.pt").write_bytes(pickle.dumps({"python": _Payload(payload)}))
    return payload


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: max(1, path.stat().st_size // 2)])


DAMAGES = {
    "crafted-pickle-in-rng": _crafted_rng,
    "truncated-shard": lambda s, f: _truncate(next(s.glob("*.distcp"))),
    "no-metadata": lambda s, f: (s / ".metadata").unlink(),
    "garbage-rng": lambda s, f: (s / "rng-0.pt").write_bytes(os.urandom(256)),
    "half-written-trainer-json": lambda s, f: _truncate(s / "trainer.json"),
    "no-trainer-json": lambda s, f: (s / "trainer.json").unlink(),
    "only-complete-marker": lambda s, f: [p.unlink() for p in s.iterdir() if p.name != "COMPLETE"],
}


def _register(name: str, damage) -> None:
    case("training", f"resume/{name}", needs="torch")(lambda ctx: _resume_damaged(ctx, name, damage))


for _name, _damage in DAMAGES.items():
    _register(_name, _damage)


def _with_data(ctx: Ctx, name: str, damage, names: list[str], **pretrain: object) -> list[Defect]:
    data, _ = _trained(ctx)
    folder = ctx.tmp(f"train-{name}")
    shutil.copytree(data, folder / "data")
    damage(folder / "data")
    return failed_clearly(_train(_recipe(folder, folder / "data", folder / "save", **pretrain), resume=False), names)


@case("training", "data/truncated-bin", needs="torch")
def truncated_bin(ctx: Ctx) -> list[Defect]:
    return _with_data(ctx, "bin", lambda d: _truncate(d / "tokens" / "count_text_document.bin"),
                      ["count_text_document"])


@case("training", "data/truncated-idx", needs="torch")
def truncated_idx(ctx: Ctx) -> list[Defect]:
    return _with_data(ctx, "idx", lambda d: _truncate(d / "tokens" / "count_text_document.idx"),
                      ["count_text_document"])


@case("training", "data/manifest-without-blend", needs="torch")
def no_blend(ctx: Ctx) -> list[Defect]:
    return _with_data(ctx, "blend", lambda d: (d / "manifest.json").write_text("{}"), ["data_path", "manifest"])


@case("training", "recipe/lr-is-a-word", needs="torch")
def lr_word(ctx: Ctx) -> list[Defect]:
    return _with_data(ctx, "lr", lambda d: None, ["lr"], lr="fast")


@case("training", "recipe/negative-train-iters", needs="torch")
def negative_iters(ctx: Ctx) -> list[Defect]:
    return _with_data(ctx, "iters", lambda d: None, ["train_iters"], train_iters=-1)


@case("training", "recipe/zero-micro-batch", needs="torch")
def zero_micro(ctx: Ctx) -> list[Defect]:
    return _with_data(ctx, "micro", lambda d: None, ["micro_batch_size"], micro_batch_size=0)


@case("training", "save-path-is-a-file", needs="torch")
def save_is_file(ctx: Ctx) -> list[Defect]:
    data, _ = _trained(ctx)
    folder = ctx.tmp("save-file")
    (folder / "save").write_text("not a folder\n")
    return failed_clearly(_train(_recipe(folder, data, folder / "save"), resume=False), ["save", "directory"])


# --- Megatron files under curate inspect --------------------------------------------------------------


def _dataset(ctx: Ctx, name: str) -> Path:
    from curate.tokens import indexed

    folder = ctx.tmp(f"inspect-{name}")
    prefix = folder / "docs_text_document"
    indexed.write(prefix, [np.arange(8, 40, dtype=np.uint16), np.arange(50, 60, dtype=np.uint16)], np.dtype(np.uint16))
    return prefix


def _inspect_damaged(ctx: Ctx, name: str, damage) -> list[Defect]:
    prefix = _dataset(ctx, name)
    damage(prefix)
    return failed_clearly(invoke(["inspect", prefix, "-n", "1"]), ["docs_text_document"])


INSPECT = {
    "truncated-idx": lambda p: _truncate(p.with_suffix(".idx")),
    "truncated-bin": lambda p: _truncate(p.with_suffix(".bin")),
    "idx-bad-magic": lambda p: p.with_suffix(".idx").write_bytes(b"NOTMAGIC" + p.with_suffix(".idx").read_bytes()[8:]),
    "idx-absurd-count": lambda p: p.with_suffix(".idx").write_bytes(
        p.with_suffix(".idx").read_bytes()[:18] + (1 << 60).to_bytes(8, "little")
        + p.with_suffix(".idx").read_bytes()[26:]),
    "idx-missing": lambda p: p.with_suffix(".idx").unlink(),
}


def _register_inspect(name: str, damage) -> None:
    case("outputs", f"inspect/{name}")(lambda ctx: _inspect_damaged(ctx, name, damage))


for _name, _damage in INSPECT.items():
    _register_inspect(_name, _damage)


@case("outputs", "inspect/packed-parquet-truncated")
def packed_truncated(ctx: Ctx) -> list[Defect]:
    from tests.train.conftest import write_packed_build

    folder = ctx.tmp("inspect-packed")
    root = write_packed_build(folder / "b", train_packs=4, valid_packs=1)
    shard = root / "packed" / "train-00000.parquet"
    _truncate(shard)
    return failed_clearly(invoke(["inspect", shard]), ["train-00000.parquet"])

"""Resume: a run stopped after a checkpoint and resumed matches an uninterrupted run, loss for loss.

The runs read the fixture's blended Megatron shards, so the data position is part of what must resume.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.train import checkpoint, loop
from curate.train.config import load_config
from curate.train.engine import init_distributed

from .conftest import write_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


def _cfg(tmp_path: Path, builds: tuple[Path, Path], name: str, **stage: object):
    recipe = write_recipe(tmp_path / f"{name}.toml", builds[0], builds[1], tmp_path / name,
                          pretrain={"train_iters": 7, "save_interval": 2, "keep_last": 2, **stage})
    return load_config(recipe, "pretrain")


def test_resume_matches_uninterrupted_run(tmp_path: Path, builds: tuple[Path, Path]) -> None:
    env = init_distributed()
    full = loop.train(_cfg(tmp_path, builds, "full"), env)
    cfg = _cfg(tmp_path, builds, "cut")
    first = loop.train(cfg, env, stop_after=5)  # "killed" after step 5; step-4 is saved
    assert [n for n, _ in checkpoint.steps(cfg.save_dir)] == [2, 4]  # keep_last = 2
    assert not (cfg.save_dir / "export").exists()
    rest = loop.train(cfg, env, resume=True)
    assert len(rest) == 3  # iterations 5, 6, 7 again from step-4
    assert first[:4] + rest == pytest.approx(full, rel=1e-6, abs=0)
    assert full[-1] < full[0]
    assert (cfg.save_dir / "export" / "model.safetensors").is_file()


def test_incomplete_checkpoint_is_ignored(tmp_path: Path, builds: tuple[Path, Path]) -> None:
    env = init_distributed()
    cfg = _cfg(tmp_path, builds, "partial", train_iters=4)
    loop.train(cfg, env, stop_after=2)
    half = cfg.save_dir / "step-3"
    half.mkdir()  # a checkpoint being written when the run died: no COMPLETE marker
    (half / "rng-0.pt").write_bytes(b"")
    assert checkpoint.latest(cfg.save_dir) == cfg.save_dir / "step-2"
    rest = loop.train(cfg, env, resume=True)
    assert len(rest) == 2

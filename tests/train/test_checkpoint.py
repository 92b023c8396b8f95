"""Checkpoints run no code when loaded, and ``--resume`` falls back from a damaged one to the one before.

One short run saves step-1, step-2 and step-3; each test copies it, damages step-3 (or more) the way a
crash, a full disk or an attacker would, and resumes.
"""

from __future__ import annotations

import io
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from curate.train import checkpoint, loop
from curate.train.config import load_config
from curate.train.engine import init_distributed

from .conftest import write_recipe

pytestmark = pytest.mark.usefixtures("one_thread")


class _Payload:
    """Unpickling this writes ``path``: what a crafted checkpoint file would do."""

    def __init__(self, path: Path):
        self.path = str(path)

    def __reduce__(self):
        return exec, (f"open({self.path!r}, 'w').write('code ran')",)


def _cfg(tmp_path: Path, builds: tuple[Path, Path], save: Path):
    recipe = write_recipe(tmp_path / f"{save.name}.toml", builds[0], builds[1], save,
                          pretrain={"train_iters": 4, "save_interval": 1, "keep_last": 3})
    return load_config(recipe, "pretrain")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, builds: tuple[Path, Path]) -> tuple[Path, list[float]]:
    """A run stopped after iteration 3 (step-1..3 saved), and the losses of an uninterrupted run."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ckpt")
    env = init_distributed()
    full = loop.train(_cfg(root, builds, root / "full"), env)
    cfg = _cfg(root, builds, root / "cut")
    loop.train(cfg, env, stop_after=3)
    assert [n for n, _ in checkpoint.steps(cfg.save_dir)] == [1, 2, 3]
    return cfg.save_dir, full


def _copy(saved: tuple[Path, list[float]], tmp_path: Path, builds: tuple[Path, Path]):
    cfg = _cfg(tmp_path, builds, tmp_path / "run")
    shutil.copytree(saved[0], cfg.save_dir)
    return cfg


def _resume(cfg, capsys: pytest.CaptureFixture[str]) -> tuple[list[float], str]:
    losses = loop.train(cfg, init_distributed(), resume=True)
    return losses, capsys.readouterr().err


def test_crafted_rng_file_runs_no_code_and_resume_falls_back(saved, tmp_path, builds, capsys) -> None:
    cfg = _copy(saved, tmp_path, builds)
    canary = tmp_path / "canary"
    torch.save({"python": _Payload(canary), "numpy": None, "torch": None}, cfg.save_dir / "step-3" / "rng-0.pt")
    with pytest.raises(pickle.UnpicklingError):  # the payload is refused, not run
        checkpoint.read_rng(cfg.save_dir / "step-3" / "rng-0.pt")
    losses, err = _resume(cfg, capsys)
    assert not canary.exists()
    assert "step-3: rng-0.pt cannot be loaded" in err and "exec" in err and "could run code" in err
    assert losses == pytest.approx(saved[1][2:], rel=1e-6, abs=0)  # from step-2: iterations 3 and 4


def test_crafted_payload_is_live(tmp_path: Path) -> None:
    canary = tmp_path / "live"
    pickle.loads(pickle.dumps(_Payload(canary)))
    assert canary.read_text() == "code ran"


def test_crafted_metadata_runs_no_code(saved, tmp_path, builds, capsys) -> None:
    cfg = _copy(saved, tmp_path, builds)
    canary = tmp_path / "canary"
    (cfg.save_dir / "step-3" / ".metadata").write_bytes(pickle.dumps(_Payload(canary)))
    losses, err = _resume(cfg, capsys)
    assert not canary.exists()
    assert "step-3: .metadata cannot be read" in err and "builtins.exec" in err
    assert len(losses) == 2


def test_crafted_non_tensor_item_runs_no_code(tmp_path: Path) -> None:
    """DCP stores non-tensor values (optimiser hyper-parameters) as pickles: they load weights-only."""
    import torch.distributed.checkpoint as dcp

    canary = tmp_path / "canary"
    with checkpoint._single_process_quiet():
        dcp.save({"lr": _Payload(canary), "w": torch.zeros(2)}, checkpoint_id=str(tmp_path / "c"))
        state = {"lr": None, "w": torch.ones(2)}
        with pytest.raises(BaseException, match="exec"):
            dcp.load(state, storage_reader=checkpoint.SafeReader(str(tmp_path / "c")),
                     planner=checkpoint.SafePlanner())
    assert not canary.exists()


@pytest.mark.parametrize("damage, message", [
    ("truncate_shard", "step-3: shard __0_0.distcp is truncated"),
    ("no_metadata", "step-3: .metadata (DCP's index of the shards) is missing"),
    ("garbage_rng", "step-3: rng-0.pt cannot be loaded"),
    ("half_trainer", "step-3: trainer.json is not whole JSON"),
    ("no_rng", "step-3: rng-0.pt is missing"),
    ("wrong_iteration", "trainer.json says iteration 7, the directory step-3"),
    ("escaping_shard", "names a shard outside the checkpoint"),
])
def test_damaged_checkpoint_falls_back(saved, tmp_path, builds, capsys, damage: str, message: str) -> None:
    cfg = _copy(saved, tmp_path, builds)
    step = cfg.save_dir / "step-3"
    if damage == "truncate_shard":
        shard = step / "__0_0.distcp"
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    elif damage == "no_metadata":
        (step / ".metadata").unlink()
    elif damage == "garbage_rng":
        (step / "rng-0.pt").write_bytes(b"\x00garbage" * 100)
    elif damage == "half_trainer":
        text = (step / "trainer.json").read_text()
        (step / "trainer.json").write_text(text[: len(text) // 2])
    elif damage == "no_rng":
        (step / "rng-0.pt").unlink()
    elif damage == "wrong_iteration":
        text = (step / "trainer.json").read_text()
        (step / "trainer.json").write_text(text.replace('"iteration": 3', '"iteration": 7'))
    elif damage == "escaping_shard":
        meta = (step / ".metadata").read_bytes()
        (step / ".metadata").write_bytes(meta.replace(b"__0_0.distcp", b"../x0.distcp"))
    assert checkpoint.problem(step, init_distributed()) is not None
    losses, err = _resume(cfg, capsys)
    assert message in err and "trying the previous complete checkpoint" in err
    assert losses == pytest.approx(saved[1][2:], rel=1e-6, abs=0)


def test_corrupt_shard_content_falls_back_on_load(saved, tmp_path, builds, capsys) -> None:
    """A shard of the right size with garbage inside passes the checks and fails the load: fall back too."""
    cfg = _copy(saved, tmp_path, builds)
    shard = cfg.save_dir / "step-3" / "__0_0.distcp"
    shard.write_bytes(bytes(shard.stat().st_size))
    losses, err = _resume(cfg, capsys)
    assert "step-3: cannot be loaded" in err
    assert len(losses) == 2


def test_every_checkpoint_damaged_stops_with_one_line(saved, tmp_path, builds) -> None:
    cfg = _copy(saved, tmp_path, builds)
    for n in (1, 2, 3):
        (cfg.save_dir / f"step-{n}" / ".metadata").unlink()
    with pytest.raises(checkpoint.CheckpointError) as caught:
        loop.train(cfg, init_distributed(), resume=True)
    text = str(caught.value)
    assert "\n" not in text and str(cfg.save_dir) in text
    assert all(f"step-{n}: .metadata" in text for n in (1, 2, 3)) and "without --resume" in text


def test_cli_prints_one_line_for_unusable_checkpoints(saved, tmp_path, builds) -> None:
    from click.testing import CliRunner

    from curate.cli_model import train

    cfg = _copy(saved, tmp_path, builds)
    for n in (1, 2, 3):
        (cfg.save_dir / f"step-{n}" / "trainer.json").write_text("{")
    result = CliRunner().invoke(train, ["--stage", "pretrain", "--config", str(tmp_path / "run.toml"), "--resume"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no usable checkpoint" in result.output and "trainer.json is not whole JSON" in result.output


def test_rng_state_round_trips_in_the_safe_format(tmp_path: Path) -> None:
    import random

    import numpy as np

    torch.save(checkpoint.rng_state(), tmp_path / "rng.pt")
    expected = (random.random(), float(np.random.rand()), float(torch.rand(1)))
    random.random(), np.random.rand(), torch.rand(1)
    checkpoint.set_rng_state(checkpoint.read_rng(tmp_path / "rng.pt"))
    assert (random.random(), float(np.random.rand()), float(torch.rand(1))) == expected
    assert torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "rng.pt") == []


def test_earlier_rng_format_still_loads(tmp_path: Path) -> None:
    """Checkpoints written before the safe format held numpy's state as an array: read without code."""
    import random

    import numpy as np

    torch.save({"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()},
               tmp_path / "old.pt")
    expected = float(np.random.rand())
    np.random.rand()
    checkpoint.set_rng_state(checkpoint.read_rng(tmp_path / "old.pt"))
    assert float(np.random.rand()) == expected


def test_metadata_unpickler_refuses_other_globals() -> None:
    for payload in (pickle.dumps(_Payload(Path("/nonexistent/x"))), pickle.dumps(io.StringIO)):
        with pytest.raises(pickle.UnpicklingError):
            checkpoint._MetadataUnpickler(io.BytesIO(payload)).load()


def _rank_worker(rank: int, world: int, port: int, recipe: str, out: str) -> None:
    """Train to iteration 3, damage rank 1's RNG file of step-3 (rank 0 sees nothing wrong), resume."""
    import json
    import os

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    from curate.train import engine

    torch.set_num_threads(1)
    env = engine.init_distributed()
    try:
        cfg = load_config(recipe, "pretrain")
        loop.train(cfg, env, stop_after=3)
        if rank == 1:
            (cfg.save_dir / "step-3" / "rng-1.pt").write_bytes(b"not a state")
        engine.barrier()
        Path(out, f"rank{rank}.txt").write_text(str(checkpoint.problem(cfg.save_dir / "step-3", env)))
        losses = loop.train(cfg, env, resume=True)
        Path(out, f"rank{rank}.json").write_text(json.dumps(losses))
    finally:
        engine.shutdown()


def test_two_ranks_fall_back_together(tmp_path: Path, builds: tuple[Path, Path]) -> None:
    """Only rank 1 finds step-3 unusable, yet both ranks resume from step-2."""
    import json
    import socket

    import torch.multiprocessing as mp

    recipe = write_recipe(tmp_path / "two.toml", builds[0], builds[1], tmp_path / "two",
                          pretrain={"train_iters": 4, "save_interval": 1, "keep_last": 3})
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ctx = mp.start_processes(_rank_worker, args=(2, port, str(recipe), str(tmp_path)), nprocs=2,
                             start_method="spawn", join=False)
    for _ in range(600):  # ranks that disagreed on the checkpoint would wait on each other forever
        if ctx.join(timeout=1):
            break
    else:
        for p in ctx.processes:
            p.kill()
        pytest.fail("the ranks did not finish: they resumed from different checkpoints")
    assert (tmp_path / "rank0.txt").read_text() == "None"
    assert (tmp_path / "rank1.txt").read_text().startswith("rng-1.pt cannot be loaded")
    losses = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(losses[0]) == len(losses[1]) == 2  # iterations 3 and 4, from step-2
    assert losses[0] == losses[1]

"""A command-line build spawns its workers before it imports and plans; the executor runs on that pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate import cli
from curate.core import workers
from curate.core.executor import Executor, Task
from tests.core.test_executor import Pid, pid_task


@pytest.fixture(autouse=True)
def _no_early_pool_left():
    yield
    workers._close_early()


def _pids(tmp_path: Path, ex: Executor, n: int = 4) -> set[int]:
    src = tmp_path / "in.txt"
    src.write_text("x")
    tasks = [Task(f"p/{i}", pid_task, (str(src),), str(tmp_path / "out"), f"p{i}", Pid()) for i in range(n)]
    return {int(d.files("out")[0].read_text()) for d in ex.run(tasks, "p").values()}


def test_the_executor_runs_on_the_early_pool(tmp_path):
    workers.start_early(2, ["json"])
    early = workers._EARLY
    assert early is not None
    with Executor(2, progress=False) as ex:
        pids = _pids(tmp_path, ex)
        assert ex._pool is early  # taken, not a second pool
    assert workers._EARLY is None and 1 <= len(pids) <= 2


def test_an_early_pool_of_another_size_is_closed_and_replaced(tmp_path):
    workers.start_early(3, [])
    early = workers._EARLY
    with Executor(2, progress=False) as ex:
        _pids(tmp_path, ex)
        assert ex._pool is not early and ex._pool.workers == 2
    assert early._pool is None  # shut down


def test_one_worker_takes_no_pool(tmp_path):
    workers.start_early(1, [])
    assert workers._EARLY is None


@pytest.mark.parametrize(("line", "executor", "finished", "started"), [
    (True, "local", False, True), (False, "local", False, False), (True, "ray", False, False),
    (True, "local", True, False)])
def test_only_a_command_line_build_with_work_to_do_starts_early(tmp_path, monkeypatch, line, executor, finished,
                                                                 started):
    calls = []
    monkeypatch.setattr(cli, "_COMMAND_LINE", line)
    monkeypatch.setattr(workers, "start_early", lambda n, modules: calls.append(n))
    if finished:
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "manifest.json").write_text("{}")
    cli._early_pool(3, executor, str(tmp_path), "b")
    assert calls == ([3] if started else [])


def test_the_recipe_name_is_read_cheaply(tmp_path):
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "stage1"\n[[sources]]\nreader = "qa"\n')
    assert cli._recipe_name(recipe) == "stage1"
    recipe.write_text("name = [broken")
    assert cli._recipe_name(recipe) is None

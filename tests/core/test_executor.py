"""The executor: fingerprints, skipping finished work, atomic outputs, failures."""

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from curate.core.executor import Executor, Result, Task, TaskError, atomic_path


@dataclass(frozen=True)
class Upper:
    suffix: str = "!"
    fail: bool = False


def upper_task(task: Task) -> Result:
    if task.config.fail:
        raise ValueError("boom")
    text = Path(task.inputs[0]).read_text().upper() + task.config.suffix
    with atomic_path(task.out(".txt")) as tmp:
        tmp.write_text(text)
    return Result({"out": [f"{task.name}.txt"]}, {"chars": len(text)})


def _tasks(tmp_path, cfg=Upper(), n=3):
    tasks = []
    for i in range(n):
        src = tmp_path / f"in{i}.txt"
        if not src.exists():
            src.write_text(f"doc {i}")
        tasks.append(Task(f"t/{i}", upper_task, (str(src),), str(tmp_path / "out"), f"o{i}", cfg))
    return tasks


@pytest.mark.parametrize("workers", [1, 2])
def test_runs_then_skips(tmp_path, workers):
    with Executor(workers, progress=False) as ex:
        done = ex.run(_tasks(tmp_path), "t")
        assert ex.ran == 3 and ex.skipped == 0
        assert done["t/1"].files("out")[0].read_text() == "DOC 1!"
        assert done["t/1"].stats == {"chars": 6} and not done["t/1"].skipped
        again = ex.run(_tasks(tmp_path), "t")
        assert ex.ran == 3 and ex.skipped == 3
        assert all(d.skipped for d in again.values())


def test_changes_invalidate_only_affected_tasks(tmp_path):
    with Executor(1, progress=False) as ex:
        ex.run(_tasks(tmp_path), "t")
        (tmp_path / "in0.txt").write_text("changed")  # input content
        (tmp_path / "out" / "o1.txt").unlink()  # an output went missing
        ex.run(_tasks(tmp_path), "t")
        assert ex.ran == 5 and ex.skipped == 1
        assert (tmp_path / "out" / "o0.txt").read_text() == "CHANGED!"
        ex.run(_tasks(tmp_path, Upper("?")), "t")  # config
        assert ex.ran == 8
        assert (tmp_path / "out" / "o2.txt").read_text() == "DOC 2?"


def test_marker_records_checksums(tmp_path):
    with Executor(1, progress=False) as ex:
        ex.run(_tasks(tmp_path, n=1), "t")
    marker = json.loads((tmp_path / "out" / ".done" / "o0.json").read_text())
    assert marker["outputs"]["out"][0]["bytes"] == len("DOC 0!")
    assert len(marker["outputs"]["out"][0]["sha256"]) == 64


@pytest.mark.parametrize("workers", [1, 2])
def test_failure_names_the_task_and_leaves_no_marker(tmp_path, workers):
    with Executor(workers, progress=False) as ex, pytest.raises(TaskError, match=r"t/[01] failed: boom"):
        ex.run(_tasks(tmp_path, Upper(fail=True), n=2), "t")
    assert not (tmp_path / "out" / ".done" / "o0.json").exists()


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "x.txt"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("partial")
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_output_edited_in_place_is_redone(tmp_path):
    with Executor(1, progress=False) as ex:
        ex.run(_tasks(tmp_path, n=1), "t")
        out = tmp_path / "out" / "o0.txt"
        out.write_text("DOC 9!")  # same size, different content
        ex.run(_tasks(tmp_path, n=1), "t")
        assert ex.ran == 2 and out.read_text() == "DOC 0!"
        import os

        os.utime(out, ns=(1, 1))  # only touched: content still matches the marker
        ex.run(_tasks(tmp_path, n=1), "t")
        assert ex.ran == 2 and ex.skipped == 1

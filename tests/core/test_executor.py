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


@dataclass(frozen=True)
class Pid:
    pass


def pid_task(task: Task) -> Result:
    import os

    with atomic_path(task.out(".pid")) as tmp:
        tmp.write_text(str(os.getpid()))
    return Result({"out": [f"{task.name}.pid"]})


@pytest.mark.parametrize("workers", [1, 2])
def test_a_single_task_runs_in_a_worker_when_there_is_a_pool(tmp_path, workers):
    """A lone task (a global reduce) leaves its memory in a worker, never in the build's own process."""
    import os

    src = tmp_path / "in.txt"
    src.write_text("x")
    with Executor(workers, progress=False) as ex:
        done = ex.run([Task("p/0", pid_task, (str(src),), str(tmp_path / "out"), "p0", Pid())], "p")
    ran_in = int(done["p/0"].files("out")[0].read_text())
    assert (ran_in == os.getpid()) == (workers == 1)


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


@dataclass(frozen=True)
class Slow:
    seconds: float
    block_alarm: bool = False  # stuck where no Python runs: only the parent's hard limit stops it
    die_once: str = ""  # a flag file: the first run kills its own worker
    die_always: bool = False


def slow_task(task: Task) -> Result:
    import os
    import signal
    import time

    cfg = task.config
    if cfg.die_always or (cfg.die_once and not Path(cfg.die_once).exists()):
        if cfg.die_once:
            Path(cfg.die_once).write_text("died")
        os._exit(9)
    if cfg.block_alarm:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    time.sleep(cfg.seconds)
    with atomic_path(task.out(".txt")) as tmp:
        tmp.write_text("done")
    return Result({"out": [f"{task.name}.txt"]}, {"in": 1})


def fallback(task: Task, seconds: float) -> Result:
    with atomic_path(task.out(".late")) as tmp:
        tmp.write_text(f"late after {seconds}")
    return Result({"late": [f"{task.name}.late"]}, {"in": 1, "timed_out": 1})


def _slow(tmp_path, cfg, timeout, name="s", on_timeout=fallback):
    src = tmp_path / "in.txt"
    src.write_text("x")
    return Task(f"slow/{name}", slow_task, (str(src),), str(tmp_path / "out"), name, cfg, timeout=timeout,
                on_timeout=on_timeout)


@pytest.mark.parametrize("workers", [1, 2])
def test_a_task_past_its_deadline_writes_its_fallback(tmp_path, workers):
    with Executor(workers, progress=False) as ex:
        done = ex.run([_slow(tmp_path, Slow(30), 0.5)], "t")["slow/s"]
        assert done.stats == {"in": 1, "timed_out": 1} and done.files("late")[0].read_text() == "late after 0.5"
        assert json.loads((tmp_path / "out" / ".done" / "s.json").read_text())["timed_out"] == 0.5
        ex.run([_slow(tmp_path, Slow(30), 0.5)], "t")
        assert ex.skipped == 1  # the same limit: the fallback stands
        done = ex.run([_slow(tmp_path, Slow(0.1), 20)], "t")["slow/s"]  # a new limit: tried again
        assert done.files("out")[0].read_text() == "done" and ex.ran == 2


def test_a_task_ignoring_its_alarm_is_killed_by_the_parent(tmp_path, monkeypatch):
    import time

    from curate.core import workers

    monkeypatch.setattr(workers, "hard_limit", lambda timeout: timeout + 1.0)
    start = time.monotonic()
    with Executor(2, progress=False) as ex:
        done = ex.run([_slow(tmp_path, Slow(60, block_alarm=True), 0.5), _slow(tmp_path, Slow(0.2), None, "ok")], "t")
        assert "timed_out" in done["slow/s"].stats and done["slow/ok"].files("out")
        assert ex.run([_slow(tmp_path, Slow(0.1), None, "after")], "t")["slow/after"].files("out")  # pool replaced
    assert time.monotonic() - start < 30


def test_a_deadline_without_fallback_fails_the_build_named(tmp_path):
    with Executor(2, progress=False) as ex, pytest.raises(TaskError, match=r"slow/s.*longer than its limit of 0\.3 s"):
        ex.run([_slow(tmp_path, Slow(30), 0.3, on_timeout=None)], "t")


def test_a_lost_worker_costs_only_its_tasks(tmp_path):
    flag = tmp_path / "died"
    with Executor(2, progress=False) as ex:
        done = ex.run([_slow(tmp_path, Slow(0.1, die_once=str(flag)), None, "d"),
                       *(_slow(tmp_path, Slow(0.1), None, f"k{i}") for i in range(4))], "t")
        assert flag.exists() and all(d.files("out") for d in done.values())
        with pytest.raises(TaskError, match=r"died 3 times while running task slow/x"):
            ex.run([_slow(tmp_path, Slow(0.1, die_always=True), None, "x"), _slow(tmp_path, Slow(5), None, "y")],
                   "t")


_ORPHAN_SCRIPT = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.core.test_executor import Slow, _slow
from curate.core.executor import Executor
tmp = Path({tmp!r})
with Executor(2, progress=False) as ex:
    ex.run([_slow(tmp, Slow(120), None, "a"), _slow(tmp, Slow(120), None, "b")], "t")
"""


def test_workers_die_with_their_parent(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    import psutil

    root = str(Path(__file__).resolve().parents[2])
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN_SCRIPT.format(root=root, tmp=str(tmp_path))])
    try:
        deadline = time.monotonic() + 60
        workers = []
        while time.monotonic() < deadline and len(workers) < 2:
            time.sleep(0.2)
            workers = [p for p in psutil.Process(parent.pid).children(recursive=True)
                       if "spawn_main" in " ".join(p.cmdline())]
        assert len(workers) == 2
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    _, alive = psutil.wait_procs(workers, timeout=10)
    for p in alive:  # leave nothing behind when the test fails
        p.kill()
    assert not alive, [p.pid for p in alive]


def imports_task(task: Task) -> Result:
    import sys

    import pymupdf  # noqa: F401

    loaded = sorted(m for m in ("pymupdf.layout", "pymupdf4llm", "onnxruntime") if sys.modules.get(m) is not None)
    with atomic_path(task.out(".json")) as tmp:
        tmp.write_text(json.dumps(loaded))
    return Result({"out": [f"{task.name}.json"]}, {"in": 1})


def test_workers_skip_what_pymupdf_would_import_for_nothing(tmp_path):
    import importlib.util

    if importlib.util.find_spec("pymupdf4llm") is None and importlib.util.find_spec("pymupdf.layout") is None:
        pytest.skip("pymupdf imports neither here")
    assert _in_two_workers(tmp_path, imports_task) == [[], []]


def _in_two_workers(tmp_path, fn) -> list:
    """What two tasks of ``fn`` wrote (JSON), run by a pool of two workers."""
    src = tmp_path / "in.txt"
    src.write_text("x")
    tasks = [Task(f"t/{i}", fn, (str(src),), str(tmp_path / "out"), f"t{i}", i) for i in range(2)]
    with Executor(2, progress=False) as ex:
        done = ex.run(tasks, "t")
    return [json.loads(d.files("out")[0].read_text()) for d in done.values()]


def pandas_task(task: Task) -> Result:
    import sys

    import pyarrow as pa

    pa.Table.from_pylist([{"a": 1, "b": "x"}])  # pyarrow's first conversion looks for pandas
    seen = {"pandas_loaded": "pandas" in sys.modules}
    import pandas  # still importable by any library that wants it

    seen["importable"] = bool(pandas.__version__)
    with atomic_path(task.out(".json")) as tmp:
        tmp.write_text(json.dumps(seen))
    return Result({"out": [f"{task.name}.json"]}, {"in": 1})


def test_workers_convert_with_pyarrow_without_importing_pandas(tmp_path):
    pytest.importorskip("pandas")
    assert _in_two_workers(tmp_path, pandas_task) == [{"pandas_loaded": False, "importable": True}] * 2


def _loaded(job: object, module: str) -> bool:
    import sys

    return module in sys.modules


def test_a_warmed_pool_has_imported_the_modules_before_its_first_task():
    """``warm`` spawns the workers at once and has them import the build's readers, so that the imports
    run beside the parent's planning instead of after it."""
    from types import SimpleNamespace

    from curate.core import workers

    module = "curate.kg.values"  # nothing a worker imports at start pulls it in
    pool = workers.Pool(1)
    try:
        pool.warm([module])
        job = SimpleNamespace(key="k", timeout=None)
        [(_, loaded)] = list(pool.run([(job, module)], _loaded, _loaded))
    finally:
        pool.close()
    assert loaded is True
    cold = workers.Pool(1)
    try:
        [(_, loaded)] = list(cold.run([(job, module)], _loaded, _loaded))
    finally:
        cold.close()
    assert loaded is False


def test_ctrl_c_while_workers_are_spawned_is_delivered_after_the_spawn():
    """A Ctrl-C that another thread receives (a library's thread pool, where SIGINT is not blocked) does not
    interrupt the spawn half-way (a worker would then wait for start-up data that never comes); it is
    raised as soon as the spawn is done."""
    import os
    import signal
    import threading
    import time

    from curate.core import workers

    go = threading.Event()
    sender = threading.Thread(target=lambda: (go.wait(), os.kill(os.getpid(), signal.SIGINT)))
    sender.start()  # before the block: this thread does not block SIGINT
    reached = []
    with pytest.raises(KeyboardInterrupt), workers._sigint_blocked():
        go.set()
        sender.join()
        time.sleep(0.1)
        reached.append("the rest of the spawn")
    assert reached == ["the rest of the spawn"]


class _OnTeardown:
    """Writes its file when the interpreter tears its module down (not when the process ends at once)."""

    def __init__(self, path: str):
        self.path = path

    def __del__(self) -> None:
        Path(self.path).write_text("torn down")


def _leave_marks(job: object, folder: str) -> int:
    import atexit
    import sys

    sys.modules[__name__]._kept = _OnTeardown(f"{folder}/teardown")  # type: ignore[attr-defined]
    atexit.register(lambda: Path(f"{folder}/atexit").write_text("ran"))
    return 1


def test_a_worker_ends_without_tearing_its_interpreter_down(tmp_path):
    """Unloading what a worker imported costs a quarter of a second per worker at the end of every build: a
    worker ends at once when the pool closes, after the exit handlers its tasks registered."""
    from types import SimpleNamespace

    from curate.core import workers

    pool = workers.Pool(1)
    try:
        [(_, result)] = list(pool.run([(SimpleNamespace(key="k", timeout=None), str(tmp_path))], _leave_marks,
                                      _leave_marks))
    finally:
        pool.close()
    assert result == 1
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()


def _loaded_in(job: object, module: str) -> tuple[int, bool]:
    import os
    import sys
    import time

    time.sleep(getattr(job, "sleep", 0))
    return os.getpid(), module in sys.modules


def test_workers_import_the_next_task_lists_modules_once_this_ones_are_handed_out():
    """``then``: a worker imports what the next task list runs once no task of this one is left for it (never
    before this list's tasks: it would hold them up), while another still runs the last one; the worker that
    runs the last task goes on to the next list without importing them first."""
    from types import SimpleNamespace

    from curate.core import workers

    module = "curate.kg.values"  # nothing a worker imports at start pulls it in
    pool = workers.Pool(2)
    try:
        long_job, short_job = (SimpleNamespace(key=k, timeout=None, sleep=s) for k, s in (("long", 1.5), ("short", 0)))
        first = {job.key: result for job, result in
                 pool.run([(long_job, module), (short_job, module)], _loaded_in, _loaded_in, then=(module,))}
        assert not any(loaded for _, loaded in first.values())  # nothing imported ahead of this list's tasks
        busy = pool.run([(SimpleNamespace(key=f"b{i}", timeout=None, sleep=0.5), module) for i in range(2)],
                        _loaded_in, _loaded_in)
        after = dict(result for _, result in busy)
    finally:
        pool.close()
    assert after == {first["long"][0]: False, first["short"][0]: True}

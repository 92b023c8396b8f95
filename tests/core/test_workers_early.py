"""A command-line build spawns its workers before it imports and plans; the executor runs on that pool."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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
    monkeypatch.setattr(cli, "_FAST_EXIT", False)
    monkeypatch.setattr(workers, "start_early", lambda n, modules: calls.append((n, modules)))
    if finished:
        (tmp_path / "b").mkdir()
        (tmp_path / "b" / "manifest.json").write_text("{}")
    cli._early_pool(3, executor, str(tmp_path), "b", ["books"])
    assert calls == ([(3, [*cli._EARLY_MODULES, "curate.readers.books"])] if started else [])
    assert cli._FAST_EXIT is line  # every command-line build ends at once, with or without the early pool


def test_the_recipe_name_and_readers_are_read_cheaply(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "qa.toml").write_text('name = "qa"\nreader = "qa"\n')
    (tmp_path / "src" / "books.toml").write_text('name = "books"\nreader = "books"\n')
    (tmp_path / "src" / "broken.toml").write_text("reader = [broken")
    recipe = tmp_path / "r.toml"
    recipe.write_text('name = "stage1"\n[[sources]]\nrecipe = "src/qa.toml"\n[[sources]]\nrecipe = "src/books.toml"\n'
                      '[[sources]]\nrecipe = "src/broken.toml"\n[[sources]]\nrecipe = "src/missing.toml"\n'
                      '[[sources]]\nweight = 2\n')
    assert cli._recipe_plan(recipe) == ("stage1", ["qa", "books"])  # what cannot be read is left to the full load
    recipe.write_text("name = [broken")
    assert cli._recipe_plan(recipe) == (None, [])


def _curate(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "curate.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=300)


def test_a_command_line_build_ends_at_once_with_its_exit_status_and_its_output(tmp_path):
    """A build from the real command line skips Python's teardown (``cli._leave``): what it printed still
    arrives, its exit status is the one click chose, and the build it wrote is whole."""
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"document {i} about anaemia."}) + "\n" for i in range(50)))
    done = _curate("build", "documents", "--input", str(corpus), "--output-prefix", "out/c", "--workers", "2",
                   "--no-progress", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "tasks:" in done.stdout and "report:" in done.stdout  # flushed before the process ended
    assert json.loads((tmp_path / "out" / "c" / "manifest.json").read_text())["sources"]["c_text"]["records_out"] == 50
    with corpus.open("a") as f:
        f.write('{"text": "cut\n')
    strict = _curate("build", "documents", "--input", str(corpus), "--output-prefix", "out/d", "--workers", "2",
                     "--strict", "--no-progress", cwd=tmp_path)
    assert strict.returncode == 3, strict.stderr
    assert "quarantined" in strict.stdout + strict.stderr
    failed = _curate("build", "documents", "--input", str(tmp_path / "missing.jsonl"), "--output-prefix", "out/e",
                     cwd=tmp_path)
    assert failed.returncode == 1 and "missing.jsonl" in failed.stderr


def test_a_command_line_build_runs_its_exit_handlers_and_skips_the_teardown(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"text": f"document {i} about anaemia."}) + "\n" for i in range(20)))
    # An exit handler writes one file; an object freed only when Python tears its modules down writes the other.
    probe = ("import atexit, pathlib, runpy, sys\n"
             "atexit.register(lambda: pathlib.Path('atexit').write_text('ran'))\n"
             "class Teardown:\n    def __del__(self):\n        pathlib.Path('teardown').write_text('ran')\n"
             "held = Teardown()\n"
             f"sys.argv = ['curate', 'build', 'documents', '--input', {str(corpus)!r}, '--output-prefix', 'out/c', "
             "'--workers', '2', '--no-progress']\n"
             "runpy.run_module('curate.cli', run_name='__main__')\n")
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "atexit").read_text() == "ran"
    assert not (tmp_path / "teardown").exists()
    assert (tmp_path / "out" / "c" / "manifest.json").is_file()


def test_the_quick_exit_steps_aside_for_profilers_threads_and_messages(monkeypatch):
    """``cli._leave`` returns (and Python exits as usual) under a profiler (``python -m cProfile`` writes its
    file after the command returns), while another thread still runs, for a message as exit code, and outside
    a command-line build; had it not, this test's process would have ended here."""
    import threading

    monkeypatch.setattr(cli, "_FAST_EXIT", True)
    sys.setprofile(lambda *args: None)
    try:
        cli._leave(0)
    finally:
        sys.setprofile(None)
    release = threading.Event()
    worker = threading.Thread(target=release.wait)
    worker.start()
    try:
        cli._leave(0)
    finally:
        release.set()
        worker.join()
    cli._leave("a message")
    monkeypatch.setattr(cli, "_FAST_EXIT", False)
    cli._leave(0)


def _reader_tables_filled() -> bool:
    """Whether the books reader's lazily filled tables are filled in this process."""
    if "curate.readers.pdf.text" not in sys.modules:
        return False
    from curate.readers.pdf import fonts, glyphs, symbols
    from curate.readers.pdf import text as pdftext
    from curate.text import normalise

    tables = (pdftext.english_words, pdftext._folds, fonts._raw_bmp, normalise._ftfy, glyphs._stacked,
              symbols._shipped, symbols._stacked)
    return all(t.cache_info().currsize == 1 for t in tables)


def probe_task(task: Task):
    """What a worker started with: its parent, whether the modules were there before its first task, its setup."""
    from curate.core.executor import Result, atomic_path

    setup = sys.modules.get("curate.core.preload")
    seen = {"pid": os.getpid(), "ppid": os.getppid(), "preloaded": "curate.readers.books" in sys.modules
            and getattr(setup, "SERVER", None) == os.getppid(),  # imported by the parent, before the fork
            "layout": sys.modules.get("pymupdf.layout", "absent") is None,
            "threads": os.environ.get("TOKENIZERS_PARALLELISM"), "warm": _reader_tables_filled()}
    with atomic_path(task.out(".json")) as tmp:
        tmp.write_text(json.dumps(seen))
    return Result({"out": [f"{task.name}.json"]})


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is used on Linux")
def test_an_early_pool_forks_its_workers_from_one_server_that_imported_the_modules(tmp_path):
    """The command line's pool imports the build's modules once, in a fork server, and forks its workers
    from it, set up as spawned workers are; they watch the build and end with it."""
    script = (
        "import json, os, sys\n"
        "from pathlib import Path\n"
        "from curate.core import workers\n"
        "from curate.core.executor import Executor, Task\n"
        "from tests.core.test_workers_early import probe_task\n"
        "workers.start_early(2, ['curate.readers.books'])\n"
        "src = Path(sys.argv[1]) / 'in.txt'\n"
        "src.write_text('x')\n"
        "tasks = [Task(f'p/{i}', probe_task, (str(src),), str(Path(sys.argv[1]) / 'out'), f'p{i}', None)\n"
        "         for i in range(4)]\n"
        "with Executor(2, progress=False) as ex:\n"
        "    done = ex.run(tasks, 'p')\n"
        "print(json.dumps([json.loads(d.files('out')[0].read_text()) for d in done.values()]))\n"
        "print(json.dumps({'pid': os.getpid(), 'books': 'curate.readers.books' in sys.modules}))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, env=env,
                          cwd=Path(cli.__file__).parents[1], timeout=300)
    assert done.returncode == 0, done.stderr
    seen, build = (json.loads(line) for line in done.stdout.splitlines()[-2:])
    assert not build["books"]  # imported by the server, not by the build
    assert 1 <= len({s["pid"] for s in seen}) <= 2
    for s in seen:
        assert s["ppid"] != build["pid"]  # forked by the server
        assert s["preloaded"] and s["layout"] and s["threads"] == "false"
        assert s["warm"]  # the books reader's tables, filled once by the server (``books.warm_up``)


def test_warm_up_runs_each_modules_hook_once_asked_and_a_failing_one_is_left_for_first_use(monkeypatch):
    """``workers.warm_up`` runs the ``warm_up()`` of the named modules that have one; one that raises leaves
    its table to be filled on first use (the build goes on)."""
    import types

    calls = []
    good = types.ModuleType("curate_probe_good")
    good.warm_up = lambda: calls.append("good")
    bad = types.ModuleType("curate_probe_bad")

    def fail() -> None:
        calls.append("bad")
        raise OSError("no word list")

    bad.warm_up = fail
    plain = types.ModuleType("curate_probe_plain")
    for m in (good, bad, plain):
        monkeypatch.setitem(sys.modules, m.__name__, m)
    workers.warm_up(["curate_probe_bad", "curate_probe_plain", "curate_probe_good", "not_imported_anywhere"])
    assert calls == ["bad", "good"]


def test_a_spawned_worker_warms_the_modules_it_imports(tmp_path):
    """A pool without a fork server (a library's build) spawns its workers, each importing the build's
    modules and running their warm-up before its first task."""
    pool = workers.Pool(1)
    try:
        pool.warm(["curate.readers.books"])
        src = tmp_path / "in.txt"
        src.write_text("x")
        task = Task("p/0", probe_task, (str(src),), str(tmp_path / "out"), "p0", None)
        from curate.core.executor import execute, fingerprint

        for _, marker in pool.run([(task, fingerprint(task))], execute, None, ()):
            assert marker["key"] == "p/0"
    finally:
        pool.close()
    seen = json.loads((tmp_path / "out" / "p0.json").read_text())
    assert seen["warm"]

"""The local executor: runs tasks over shards in a process pool, resumably.

A ``Task`` names a module-level function, its input files, an output directory and a config. Its
fingerprint is a hash of the function, the config, the code version of every function the task runs
(its module and the ``curate`` modules that module imports: ``core.fingerprint``) and the sha256 of
every input (cached on disk by path, size and mtime).

- Outputs are written atomically (temp file, then ``os.replace``), and when all are in place the
  worker writes a done-marker ``<out_dir>/.done/<name>.json`` holding the fingerprint and the
  outputs' sizes and checksums.
- A task whose marker matches its fingerprint, with its outputs present, is skipped. A rerun does
  nothing; a killed build loses at most the tasks that were in flight.
- Downstream tasks take their inputs from the markers, never from globbing, so stale files left by
  an earlier, different run are never read.

Global steps are written as three ordinary task lists: a per-shard map, one reduce task whose inputs
are all map outputs, and a per-shard apply that also takes the reduce output.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import importlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import curate
from curate.core import fingerprint as fp_mod
from curate.core import workers as workers_mod

MARKERS = ".done"


@dataclass(frozen=True)
class Result:
    """What a task function returns: output file names by role (relative to ``out_dir``) and stats."""

    outputs: dict[str, list[str]]
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Task:
    """One unit of work: ``fn(task) -> Result`` reading ``inputs`` and writing into ``out_dir``."""

    key: str
    fn: Callable[[Task], Result]
    inputs: tuple[str, ...]
    out_dir: str
    name: str
    config: Any = None
    size: int = field(default=1, compare=False)  # progress units (pages of a book, ...); not fingerprinted
    # Seconds the task may run, and the result it writes instead when it runs out (e.g. a quarantine row
    # naming the file): ``on_timeout(task, seconds) -> Result``. Not fingerprinted; a marker written by the
    # fallback is redone when the timeout changes.
    timeout: float | None = field(default=None, compare=False)
    on_timeout: Callable[[Task, float], Result] | None = field(default=None, compare=False, repr=False)

    def out(self, suffix: str) -> Path:
        """Path of an output file of this task: ``<out_dir>/<name><suffix>``."""
        return Path(self.out_dir) / f"{self.name}{suffix}"


@dataclass(frozen=True)
class Done:
    """A finished task: absolute output paths by role, stats, and whether this run skipped it."""

    outputs: dict[str, list[Path]]
    stats: dict[str, Any]
    skipped: bool

    def files(self, role: str) -> list[Path]:
        """Output paths of one role (empty when the task wrote none)."""
        return self.outputs.get(role, [])


@functools.cache
def code_version() -> str:
    """Package version plus a hash of the package's code and templates: any edit invalidates markers."""
    from curate.text.templates import templates_dir

    h = hashlib.sha256()
    roots = [Path(curate.__file__).parent, templates_dir()]
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and p.suffix in (".py", ".j2", ".json") and "__pycache__" not in p.parts:
                h.update(p.relative_to(root).as_posix().encode())
                h.update(p.read_bytes())
    return f"{curate.__version__}+{h.hexdigest()[:16]}"


def digest(path: str | Path) -> str:
    """sha256 of a file, cached by path, size and mtime (``core.fingerprint``)."""
    return fp_mod.digest(path)


def _remember(path: Path, sha: str) -> None:
    fp_mod.remember(path, sha)


def canonical(value: Any) -> Any:
    """JSON-able canonical form of a config (dataclasses, paths, tuples, sets)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(canonical(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{value.__module__}.{value.__qualname__}"
    return value


def _code(value: Any, found: set[str]) -> None:
    """The modules of every function a config refers to (and those it names in ``code_modules()``)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        if hasattr(value, "code_modules"):
            found.update(value.code_modules())
        for f in dataclasses.fields(value):
            _code(getattr(value, f.name), found)
    elif isinstance(value, dict):
        for v in value.values():
            _code(v, found)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for v in value:
            _code(v, found)
    elif callable(value) and hasattr(value, "__module__") and hasattr(value, "__qualname__"):
        found.add(value.__module__)


def fingerprint(task: Task) -> str:
    """Hash of the function, the code versions of what the task runs, config and input checksums."""
    modules = {task.fn.__module__}
    _code(task.config, modules)
    payload = {
        "code": {m: fp_mod.module_version(m) for m in sorted(modules)},
        "fn": f"{task.fn.__module__}.{task.fn.__qualname__}",
        "config": canonical(task.config),
        "inputs": [digest(p) for p in task.inputs],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path next to ``path``; move it into place only if the block succeeds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, value: Any) -> None:
    """Write JSON atomically with sorted keys and a trailing newline (byte-stable)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def _marker_path(task: Task) -> Path:
    return Path(task.out_dir) / MARKERS / f"{task.name}.json"


def _load_done(task: Task, fp: str) -> Done | None:
    marker = _marker_path(task)
    try:
        data = json.loads(marker.read_text())
    except (OSError, ValueError):
        return None
    if data.get("fingerprint") != fp:
        return None
    if data.get("timed_out") is not None and data["timed_out"] != task.timeout:
        return None  # ran out of time before: try again under the new limit
    outputs: dict[str, list[Path]] = {}
    for role, entries in data["outputs"].items():
        paths = []
        for entry in entries:
            p = Path(task.out_dir) / entry["name"]
            if not p.is_file() or p.stat().st_size != entry["bytes"]:
                return None
            if p.stat().st_mtime_ns == entry.get("mtime_ns"):
                _remember(p, entry["sha256"])
            elif digest(p) != entry["sha256"]:  # touched since: trust the content, not the marker
                return None
            paths.append(p)
        outputs[role] = paths
    return Done(outputs, data.get("stats", {}), skipped=True)


def _clear_previous(task: Task) -> None:
    """Remove the outputs an earlier run of this task recorded, and its marker."""
    marker = _marker_path(task)
    with contextlib.suppress(OSError, ValueError, KeyError):
        old = json.loads(marker.read_text())
        for entries in old["outputs"].values():
            for entry in entries:
                (Path(task.out_dir) / entry["name"]).unlink(missing_ok=True)
    marker.unlink(missing_ok=True)


def execute(task: Task, fp: str) -> dict[str, Any]:
    """Run one task and write its done-marker; returns the marker's content. Runs in a worker.

    A task with a ``timeout`` that runs out writes its ``on_timeout`` result instead (or fails)."""
    _clear_previous(task)
    if task.timeout:  # the deadline counts the task's work, not a fresh worker importing the task's code
        modules: set[str] = set()
        _code(task.config, modules)
        for name in sorted(modules):
            with contextlib.suppress(ImportError):
                importlib.import_module(name)
        workers_mod.warm_pyarrow()
    try:
        with workers_mod.deadline(task.timeout):
            result = task.fn(task)
    except workers_mod.TaskTimeout:
        return execute_timed_out(task, fp)
    return _finish(task, fp, result)


def execute_timed_out(task: Task, fp: str) -> dict[str, Any]:
    """Write the fallback result of a task that ran out of time, and its marker (in a worker, or in the
    parent when the worker had to be killed)."""
    if task.on_timeout is None:
        raise TaskError(f"task {task.key} ran longer than its limit of {task.timeout:g} s")
    _clear_previous(task)
    return _finish(task, fp, task.on_timeout(task, task.timeout), timed_out=task.timeout)


def _finish(task: Task, fp: str, result: Result, timed_out: float | None = None) -> dict[str, Any]:
    outputs = {}
    for role, names in result.outputs.items():
        entries = []
        for name in names:
            p = Path(task.out_dir) / name
            st = p.stat()
            # The marker holds the digest (a rerun takes it from there): no write to the on-disk cache, whose
            # commit waits for the disk once per output file.
            entries.append({"name": name, "bytes": st.st_size, "mtime_ns": st.st_mtime_ns,
                            "sha256": fp_mod.digest(p, persist=False)})
        outputs[role] = entries
    marker = {"key": task.key, "fingerprint": fp, "outputs": outputs, "stats": result.stats}
    if timed_out is not None:
        marker["timed_out"] = timed_out
    write_json(_marker_path(task), marker)
    return marker


def _done_from_marker(task: Task, marker: dict[str, Any]) -> Done:
    outputs = {}
    for role, entries in marker["outputs"].items():
        outputs[role] = []
        for entry in entries:
            p = Path(task.out_dir) / entry["name"]
            _remember(p, entry["sha256"])
            outputs[role].append(p)
    return Done(outputs, marker["stats"], skipped=False)


class _NoBar:
    """The progress bar of a run that shows none."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, n: int) -> None:
        return None


def _bar(progress: bool | None, **kwargs: Any) -> Any:
    """A tqdm bar on stderr when ``progress`` (``None``: when stderr is a terminal), else one that shows
    nothing (tqdm is then not imported: a build that shows no bar need not load it)."""
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return _NoBar()
    from tqdm import tqdm

    return tqdm(leave=False, **kwargs)


class Executor:
    """Runs task lists locally: in this process (one worker) or a shared pool of spawned processes.

    Subclasses (``core.ray_executor.RayExecutor``) change only where pending tasks run (``_dispatch``);
    fingerprints, markers and skipping are the same, so every executor writes the same files.
    """

    kind = "local"

    def __init__(self, workers: int | None = None, progress: bool | None = None):
        self.workers = workers_mod.count(workers)
        self.progress = progress
        self._pool: workers_mod.Pool | None = None
        self.ran = 0
        self.skipped = 0
        self.seconds: dict[str, float] = {}  # wall time per task list, by its description

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(abort=exc[0] is not None)

    def close(self, abort: bool = False) -> None:
        """Shut the worker pool down; ``abort`` (the build failed or was interrupted) kills the workers at once."""
        if self._pool is not None:
            self._pool.close(abort)
            self._pool = None

    def warm(self, modules: Sequence[str]) -> None:
        """Start the worker pool now, each worker importing ``modules`` (a build's readers) while this process
        plans the first pass: a build with more than one worker starts it at its first task anyway, after
        the planning (opening inputs, hashing them) instead of beside it. Local executor only."""
        if self.kind == "local" and self.workers > 1 and self._pool is None:
            self._pool = workers_mod.take_early(self.workers) or workers_mod.Pool(self.workers)
            self._pool.warm(list(modules))

    def run(self, tasks: Sequence[Task], desc: str, unit: str = "shard", then: Sequence[str] = ()) -> dict[str, Done]:
        """Run ``tasks`` (skipping finished ones) and return their results by task key. ``then``: modules the next
        task list needs, which a pool's workers import once no task of this list is left for them (a worker
        that would wait for the others' last tasks imports them then, not at its first task of the next list)."""
        start = time.perf_counter()
        try:
            return self._run(tasks, desc, unit, tuple(then))
        finally:
            self.seconds[desc] = self.seconds.get(desc, 0.0) + time.perf_counter() - start

    def _run(self, tasks: Sequence[Task], desc: str, unit: str, then: tuple[str, ...]) -> dict[str, Done]:
        keys = [t.key for t in tasks]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{desc}: duplicate task keys")
        done: dict[str, Done] = {}
        pending: list[tuple[Task, str]] = []
        for task in tasks:
            fp = fingerprint(task)
            previous = _load_done(task, fp)
            if previous is None:
                pending.append((task, fp))
            else:
                done[task.key] = previous
        self.skipped += len(tasks) - len(pending)
        self.ran += len(pending)
        total = sum(t.size for t in tasks)
        with _bar(self.progress, total=total, initial=total - sum(t.size for t, _ in pending), desc=desc,
                  unit=unit) as bar:
            for task, marker in self._dispatch(pending, desc, then):
                done[task.key] = _done_from_marker(task, marker)
                bar.update(task.size)
        return {t.key: done[t.key] for t in tasks}

    def _dispatch(self, pending: list[tuple[Task, str]], desc: str,
                  then: tuple[str, ...]) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Run pending tasks; yield each with its marker as it finishes. A failure raises ``TaskError``."""
        # One worker: tasks run here, no process to start. Their deadline is the alarm alone (Python code,
        # regular expressions and parsers that call back into Python stop at it); the parent's hard limit needs
        # a worker process to kill. With a pool, a single task (a global reduce) runs in a worker too: its
        # memory leaves with the task, and this process holds only plans and markers, whatever the corpus.
        if self.workers == 1 or not pending:
            for task, fp in pending:
                try:
                    marker = execute(task, fp)
                except Exception as err:
                    raise TaskError(f"{desc}: task {task.key} failed: {err}") from err
                yield task, marker
            return
        if self._pool is None:  # one pool for the whole build, started on first need
            self._pool = workers_mod.take_early(self.workers) or workers_mod.Pool(self.workers)
        try:
            yield from self._pool.run(pending, execute, execute_timed_out, then)
        except workers_mod.WorkerLost as err:
            raise TaskError(f"{desc}: {err}") from err
        except Exception as err:
            task = getattr(err, "job", None)
            raise TaskError(f"{desc}: task {task.key if task else '?'} failed: {err}") from err


EXECUTORS = ("local", "ray")


def make_executor(kind: str = "local", workers: int | None = None, progress: bool | None = None,
                  address: str | None = None) -> Executor:
    """An executor by name: ``local`` (processes on this machine) or ``ray`` (tasks on a Ray cluster)."""
    if kind == "local":
        return Executor(workers, progress)
    if kind == "ray":
        from curate.core.ray_executor import RayExecutor

        return RayExecutor(address, workers, progress)
    raise ValueError(f"unknown executor {kind!r}; choose one of {', '.join(EXECUTORS)}")


class TaskError(RuntimeError):
    """A task raised; the build stops with the task named."""

"""The local executor's worker processes: one pool per build, dying with it, supervised.

- **One pool per build.** The executor spawns its workers once, at the start of a build (``warm``: each
  imports the build's readers while the parent plans the first pass) or on the first task list with
  work, and keeps them for every later pass; a worker imports what its tasks need once.
- **Workers die with their parent.** Each worker asks the kernel for SIGKILL when its parent dies
  (``PR_SET_PDEATHSIG`` on Linux; elsewhere a thread that watches the parent's pid), so a killed build
  leaves no process behind.
- **Ctrl-C is the parent's.** Workers are started with SIGINT blocked (a signal mask survives the spawn's
  exec), so the terminal's Ctrl-C, sent to the whole process group, never interrupts a worker half-way
  through its imports; the parent stops on it and kills its workers.
- **Deadlines.** A task with a ``timeout`` runs under an alarm (``deadline``) that raises
  ``TaskTimeout`` in the task (a ``BaseException``: no ``except Exception`` in a reader swallows it);
  the executor then writes the task's fallback result (``Task.on_timeout``: e.g. a quarantine row
  naming the file). Python code, regular expressions and parsers that call back into Python stop at
  the alarm; a task stuck where no Python code runs (a C library) is killed by the parent at
  ``hard_limit(timeout)`` and its fallback written by the parent (in a pool, not for a build with one
  worker, whose tasks run in its own process).
- **Memory goes back after a large task.** A worker runs many tasks, some large (a global reduce): after
  one that leaves it holding ``RELEASE_ABOVE`` (512 MiB) or more, pyarrow's pool and glibc's free lists are
  handed back (``release_memory``), so a worker's resident size is that of its current task (or that
  bound), not its largest.
- **Lean workers.** A worker imports only what its tasks need, and never the modules pymupdf would load for
  features curate does not use (``skip_unused_imports``); it ends without unloading them (``_exit_at_once``).
- **Lost workers.** A worker that dies (killed, out of memory) breaks the pool: the pool is replaced
  and the tasks that were not finished are submitted again; a task that was running in
  ``MAX_ATTEMPTS`` pools that broke fails the build, named.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

MAX_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1


# A BaseException, like KeyboardInterrupt: raised into a task, never caught by its ``except Exception``.
class TaskTimeout(BaseException):
    """A task ran past its deadline (raised inside it by the alarm)."""


class WorkerLost(RuntimeError):
    """A worker process died while running a task, more than once."""


def hard_limit(timeout: float) -> float:
    """Seconds after which the parent kills a worker whose task ignored its alarm."""
    return timeout + max(10.0, 0.25 * timeout)


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise ``TaskTimeout`` in the block after ``seconds`` (only in the main thread; elsewhere, and
    without a limit, the block runs unbounded here and the parent's hard limit applies)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def _expired(signum: int, frame: Any) -> None:
        raise TaskTimeout(seconds)

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# A worker whose resident size after a task is below this keeps the memory its task freed for the next task:
# handing back, then faulting in again, the few hundred megabytes of an ordinary task cost 3% of a stage-1
# build (system time); a task that grew past it (a global reduce, a large book) hands its memory back.
RELEASE_ABOVE = 512 << 20


def release_memory(above: int = RELEASE_ABOVE) -> None:
    """Hand the memory a finished task freed back to the system when the process holds ``above`` bytes or more
    (or its size is unknown): pyarrow's pool and glibc's free lists (a process keeps its peak otherwise, so
    one large reduce would stay resident for the rest of the build). No garbage collection: a full one costs
    a tenth of a second or more, and tasks free their tables and arrays by reference counting."""
    size = resident_bytes()
    if size is not None and size < above:
        return
    arrow = sys.modules.get("pyarrow")
    if arrow is not None:
        with contextlib.suppress(AttributeError):
            arrow.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def resident_bytes() -> int | None:
    """This process's resident size now (Linux's ``/proc/self/statm``), or None where it cannot be read."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return None


@functools.cache
def _malloc_trim() -> Callable | None:
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        return ctypes.CDLL(None).malloc_trim  # glibc; musl has none
    except (OSError, AttributeError):
        return None


@functools.cache
def warm_pyarrow() -> None:
    """Make pyarrow load what it loads on its first conversion of Python values (it imports pandas, when
    installed, to check for pandas objects: about a second in a fresh process), outside a task's deadline."""
    import pyarrow as pa

    pa.array([""])


def _die_with_parent(parent: int, forked: bool = False) -> None:
    """End this worker when the build (``parent``) dies. A spawned worker asks the kernel for SIGKILL when its
    parent dies. A worker ``forked`` by the build's fork server has the server as its parent, which stays up
    while any worker holds the pipe it watches: such a worker watches the build itself (``_watch``)."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if forked:
            _watch(parent)
            return
    else:  # no pdeathsig: poll the parent's pid

        def watch() -> None:
            while os.getppid() == parent:
                time.sleep(1.0)
            os._exit(1)

        threading.Thread(target=watch, daemon=True).start()
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _watch(build: int) -> None:
    """End this process at once when process ``build`` ends: a thread waits on a pidfd of it (readable when it
    ends), or polls it each second where there is no pidfd."""
    try:
        pidfd: int | None = os.pidfd_open(build)
    except ProcessLookupError:  # gone already
        os._exit(1)
    except (AttributeError, OSError):
        pidfd = None

    def wait() -> None:
        if pidfd is not None:
            import select

            select.select([pidfd], [], [])
        else:
            while True:
                time.sleep(1.0)
                try:
                    os.kill(build, 0)
                except ProcessLookupError:
                    break
                except PermissionError:
                    pass
        os._exit(1)

    threading.Thread(target=wait, name="curate-watch-build", daemon=True).start()


# Modules that pymupdf imports when they are installed (pymupdf 2 depends on both) and that curate never uses:
# the layout analyser loads an ONNX model at import, pymupdf4llm pulls in onnxruntime and numpy. Seconds per
# process, paid by every worker that opens a PDF.
UNUSED_IMPORTS = ("pymupdf.layout", "pymupdf4llm")


def skip_unused_imports() -> None:
    """Make later imports of ``UNUSED_IMPORTS`` fail (pymupdf then goes without them), in a process that runs
    curate alone: a worker, or the command line."""
    for name in UNUSED_IMPORTS:
        if name not in sys.modules:
            sys.modules[name] = None  # type: ignore[assignment]


_NOTICES: Any = None


def pyarrow_without_pandas() -> None:
    """Make pyarrow's one look for pandas find none, in a process that runs curate alone (a worker, or a
    build on the command line). pyarrow looks on its first conversion of Python values (to recognise pandas
    objects) and imports it: half a second or more per fresh process; curate never hands it pandas
    objects. pandas itself stays importable for any library that wants it."""
    if "pandas" in sys.modules:
        return
    import pyarrow as pa

    sys.meta_path.insert(0, _NoPandas())
    try:
        pa.array([""])
    finally:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _NoPandas)]


class _NoPandas:
    """An import finder that fails the import of pandas (while pyarrow looks for it)."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name.partition(".")[0] == "pandas":
            raise ImportError("pandas is not used by curate's workers")


def _exit_at_once() -> None:
    """End a worker without tearing the interpreter down: a worker leaves when the pool closes, its tasks
    done and their outputs written, and unloading what it imported (pymupdf, pyarrow, polars and their
    thread pools) takes a quarter of a second or more per worker, which the build would wait for."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(0)  # a pool worker's exit status is 0 on every path that gets here (see ``_init_worker``)


def _init_worker(parent: int, notices: Any, forked: bool = False) -> None:
    global _NOTICES
    _die_with_parent(parent, forked)
    # Registered before the handlers a worker's tasks add (atexit runs the last registered first), so those
    # still run; concurrent.futures' worker loop returns 0 whether its tasks or initializer failed or not.
    atexit.register(_exit_at_once)
    skip_unused_imports()
    pyarrow_without_pandas()
    _NOTICES = notices
    # Each worker is one of N parallel processes; keep libraries from each spawning N threads too.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("POLARS_MAX_THREADS", "1")


# Linux: a fork server's workers die with the build through it (``_die_with_parent``).
_FORK_SERVER = sys.platform.startswith("linux")


def _stop_fork_server() -> None:
    """End this process's fork server once its workers are gone (it would leave when this process ends):
    a build's processes are all gone when it returns, their CPU time counted as its children's, and the
    next pool starts a server of its own modules."""
    from multiprocessing import forkserver

    stop = getattr(getattr(forkserver, "_forkserver", None), "_stop", None)  # multiprocessing's own, for its tests
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()


def _with_sigint_blocked(fn: Callable[[], Any]) -> threading.Thread:
    """Run ``fn`` in a new thread that has SIGINT blocked (a thread inherits its creator's signal mask), so
    that the processes it starts have it blocked too (Ctrl-C is the parent's: see ``_sigint_blocked``)."""
    thread = threading.Thread(target=fn, name="curate-workers-start", daemon=True)
    if hasattr(signal, "pthread_sigmask"):
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            thread.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    else:
        thread.start()
    return thread


@contextlib.contextmanager
def _sigint_blocked() -> Iterator[None]:
    """SIGINT held off while this thread spawns workers, then delivered: the workers inherit the blocked
    mask (Ctrl-C is the parent's), and a Ctrl-C never lands between a worker's start and the parent's
    write of its start-up data (the worker would then die with a traceback). Blocking the signal in this
    thread is not enough for that: the kernel may hand it to another thread (a library's thread pool),
    whose C handler flags it for this thread's next bytecode; so the Python handler is deferred too."""
    if not hasattr(signal, "pthread_sigmask") or threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    handler = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)  # a pending SIGINT is recorded here
        signal.signal(signal.SIGINT, handler)
        if caught:
            if callable(handler):
                handler(signal.SIGINT, None)  # Python's default raises KeyboardInterrupt
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), signal.SIGINT)


def _started(fn: Callable, key: str, *args: Any) -> Any:
    """Tell the parent which process runs ``key`` (for its hard limit), run ``fn(*args)``, then hand back the
    memory it freed."""
    if _NOTICES is not None:
        _NOTICES.put((key, os.getpid(), time.time()))
    try:
        return fn(*args)
    finally:
        release_memory()


def _warm(modules: tuple[str, ...]) -> None:
    """Import ``modules`` in a worker before its first task comes, and run their ``warm_up`` (one that fails
    is the task's to report)."""
    import importlib

    for name in modules:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    warm_up(modules)


def warm_up(modules: Iterable[str]) -> None:
    """Run ``warm_up()`` of each imported module in ``modules`` that has one: a module's tables that do not
    depend on the input (a word list, code-point tables), which its code otherwise fills on first use in
    every worker. It runs once in a fork server (whose workers start with them filled) or in each spawned
    worker while the build plans; a failure leaves the table to be filled on first use."""
    for name in modules:
        fn = getattr(sys.modules.get(name), "warm_up", None)
        if callable(fn):
            with contextlib.suppress(Exception):
                fn()


# The fork server's first module: it sets the server up as ``_init_worker`` sets up a spawned worker, before
# the server imports the build's modules, so that the workers forked from it start that way. Its last
# module runs the ``warm_up`` of the modules before it.
PRELOAD_SETUP = "curate.core.preload"
PRELOAD_WARM = "curate.core.preloaded"


class Pool:
    """A process pool that survives lost workers and enforces hard deadlines.

    Its workers are spawned: each a fresh interpreter that imports what its tasks need. With ``preload`` (on
    Linux) they are forked from a fork server instead, one fresh interpreter that imports the modules
    ``preload`` once: every worker then starts with them imported, and the build pays the imports (half a
    second or more) once rather than once per worker. That server is the process's only one
    (multiprocessing's), so ``preload`` is for a process that runs one build: the command line's."""

    def __init__(self, workers: int, preload: tuple[str, ...] | None = None):
        self.workers = workers
        self.preload = preload if preload is not None and _FORK_SERVER else None
        self._pool: ProcessPoolExecutor | None = None
        self._notices: Any = None
        self._warming: threading.Thread | None = None

    def _get(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn" if self.preload is None else "forkserver")
            if self.preload is not None:
                ctx.set_forkserver_preload([PRELOAD_SETUP, *self.preload, PRELOAD_WARM])  # read when the server starts
            self._notices = ctx.SimpleQueue()  # written through at once: a worker may die right after
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init_worker,
                                             initargs=(os.getpid(), self._notices, self.preload is not None))
        return self._pool

    def warm(self, modules: list[str]) -> None:
        """Start the workers now, each importing ``modules``, without waiting for them: the imports (a second
        or more per worker) overlap what the parent does before its first task list. A pool with a fork
        server starts in a thread: the first start waits for the server's imports."""
        pool = self._get()
        if self.preload is None:
            with _sigint_blocked():  # a submit spawns a worker
                for _ in range(self.workers):
                    pool.submit(_warm, tuple(modules))
            return
        previous = self._warming
        if previous is None:  # the server itself starts here, at once: a thread starts late while this one imports
            from multiprocessing import forkserver

            # A server that cannot start here is started (and its failure reported) by the first submit.
            with _sigint_blocked(), contextlib.suppress(Exception):
                forkserver.ensure_running()

        def start() -> None:
            if previous is not None:
                previous.join()
            for _ in range(self.workers):
                pool.submit(_warm, tuple(modules))

        self._warming = _with_sigint_blocked(start)

    def ready(self) -> None:
        """Wait for the thread that starts the workers, if one does."""
        if self._warming is not None:
            self._warming.join()
            self._warming = None

    def close(self, abort: bool = False) -> None:
        """Stop the workers: after their running tasks, or at once (``abort``: Ctrl-C, a failed build)."""
        self.ready()
        if self._pool is None:
            return
        if abort:
            for proc in list((getattr(self._pool, "_processes", None) or {}).values()):
                with contextlib.suppress(OSError, ValueError, AttributeError):
                    proc.kill()
        self._pool.shutdown(wait=not abort, cancel_futures=True)
        self._pool = None
        if self.preload is not None:
            _stop_fork_server()

    def _drain(self, running: dict[str, tuple[int, float]]) -> None:
        with contextlib.suppress(OSError, EOFError, ValueError):
            while not self._notices.empty():
                key, pid, start = self._notices.get()
                running[key] = (pid, start)

    def run(self, jobs: list[tuple[Any, Any]], fn: Callable, timed_out: Callable,
            then: tuple[str, ...] = ()) -> Iterator[tuple[Any, Any]]:
        """Run ``fn(job, arg)`` for every ``(job, arg)`` (a job has ``key`` and ``timeout``); yield each job with
        its result as it finishes, or with ``timed_out(job, arg)`` when the parent had to kill its worker. A
        job that raises stops the run: the exception propagates with ``.job`` set. All workers but one import
        the modules ``then`` once no job is left for them (queued behind the jobs): the first to run out of jobs,
        while another still runs the last one; the last to finish goes on to the next jobs at once."""
        todo = list(jobs)
        attempts: dict[str, int] = {}
        while todo:
            pool = self._get()
            with _sigint_blocked():  # a submit may spawn a worker
                futures: dict[Future, tuple[Any, Any]] = {pool.submit(_started, fn, job.key, job, arg): (job, arg)
                                                          for job, arg in todo}
                for _ in range(self.workers - 1 if then else 0):
                    pool.submit(_warm, then)
            todo, running, killed, broke = [], {}, set(), False
            waiting = set(futures)
            while waiting:
                finished, waiting = wait(waiting, timeout=1.0, return_when=FIRST_COMPLETED)
                self._drain(running)
                for fut in finished:
                    job, arg = futures[fut]
                    try:
                        result = fut.result()
                    except BrokenProcessPool:
                        broke = True
                        if job.key in killed:
                            yield job, timed_out(job, arg)
                        else:
                            todo.append((job, arg))
                        continue
                    except BaseException as err:
                        for other in waiting:
                            other.cancel()
                        err.job = job  # type: ignore[attr-defined]
                        raise
                    running.pop(job.key, None)
                    yield job, result
                killed |= self._kill_overdue([futures[f][0] for f in waiting], running)
            if broke:  # start a new pool, for what is left of this run or the next one
                procs = dict(getattr(self._pool, "_processes", None) or {})  # pid -> Process, to tell who died
                self._pool.shutdown(wait=True, cancel_futures=True)
                self._pool = None
                # The pool terminates the other workers when one dies: the one that died otherwise is the culprit.
                died = {pid for pid, p in procs.items() if p.exitcode not in (None, -signal.SIGTERM)}
                self._charge(todo, {k: v for k, v in running.items() if not died or v[0] in died}, killed, attempts)

    @staticmethod
    def _charge(todo: list[tuple[Any, Any]], running: dict[str, tuple[int, float]], killed: set[str],
                attempts: dict[str, int]) -> None:
        """Count a lost worker against the tasks that were running (not when the parent killed one for its
        deadline); fail once a task has been running in ``MAX_ATTEMPTS`` broken pools, or the pool broke
        that often before any task started (workers that cannot start)."""
        if killed:
            return
        keys = [job.key for job, _ in todo if job.key in running] or ["(starting workers)"]
        for key in keys:
            attempts[key] = attempts.get(key, 0) + 1
            if attempts[key] >= MAX_ATTEMPTS:
                what = f"while running task {key}" if key in running else "before running any task"
                raise WorkerLost(f"a worker process died {attempts[key]} times {what} (killed, or out of memory?)")

    def _kill_overdue(self, jobs: list[Any], running: dict[str, tuple[int, float]]) -> set[str]:
        now, killed = time.time(), set()
        for job in jobs:
            if job.timeout and job.key in running:
                pid, start = running[job.key]
                if now - start > hard_limit(job.timeout):
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    killed.add(job.key)
        return killed


def count(workers: int | None) -> int:
    """The number of workers a build runs (``None``: every CPU core this process may use)."""
    return max(1, workers or len(os.sched_getaffinity(0)))


_EARLY: Pool | None = None


def start_early(workers: int, modules: list[str]) -> None:
    """Spawn a command-line build's pool first thing, each worker importing ``modules``: their imports (half
    a second each) then overlap the parent's own imports and planning instead of following them. The
    executor takes the pool (``take_early``); one nobody took is killed at exit."""
    global _EARLY
    if _EARLY is None and workers > 1:
        _EARLY = Pool(workers, preload=tuple(modules))
        _EARLY.warm(modules)
        atexit.register(_close_early)


def take_early(workers: int) -> Pool | None:
    """The pool ``start_early`` spawned, if it has ``workers`` workers (one of another size is closed)."""
    global _EARLY
    pool, _EARLY = _EARLY, None
    if pool is not None and pool.workers != workers:
        pool.close(abort=True)
        return None
    return pool  # its workers may still be starting: the first submit waits for them


def _close_early() -> None:
    global _EARLY
    if _EARLY is not None:
        _EARLY.close(abort=True)
        _EARLY = None

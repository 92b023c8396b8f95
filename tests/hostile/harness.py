"""Running hostile cases: commands under a hard timeout and a network guard, and the defect classes.

A case runs curate the way a user would (the ``curate`` command in a subprocess, or the same click
command in this process for the cheap cases) and returns the defects it saw, each in one class:

- ``silent loss``: an input unit (line, row, item, page) neither in the output nor in the ledger;
- ``silent corruption``: output that is not what the input said (a Python repr, mojibake);
- ``traceback``: a Python traceback reached the user (no ``--debug`` was given);
- ``hang``: the command outlived its hard timeout (it is killed, with its process group);
- ``memory``: peak resident memory above the case's bound;
- ``network``: a connection or name lookup was attempted (refused by the guard, or a canary was hit);
- ``outside read``: a file outside the inputs was read (a ``file://`` reference, an external entity);
- ``code execution``: a payload in the data ran (its marker appeared);
- ``unclear error``: the command failed (or quarantined) without saying which file or key is wrong,
  or accepted input it should have refused.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

LOSS, CORRUPT, TRACEBACK, HANG, MEMORY = "silent loss", "silent corruption", "traceback", "hang", "memory"
NETWORK, OUTSIDE, CODE, UNCLEAR = "network", "outside read", "code execution", "unclear error"
CLASSES = (LOSS, CORRUPT, TRACEBACK, HANG, MEMORY, NETWORK, OUTSIDE, CODE, UNCLEAR)

GUARD = Path(__file__).resolve().parent / "guard"
REPO = Path(__file__).resolve().parents[2]
TRACE = "Traceback (most recent call last)"


@dataclass(frozen=True)
class Defect:
    """One thing a case did wrong: its class and what exactly."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass
class Run:
    """What a command did: exit code (None when killed at the timeout), output, time, memory, network."""

    args: list[str]
    code: int | None
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float = 0.0
    net: list[str] = field(default_factory=list)

    @property
    def timed_out(self) -> bool:
        return self.code is None

    def error_line(self) -> str:
        """The user-facing error: click's ``Error: ...`` line (the last one), else the last stderr line."""
        lines = [line.strip() for line in self.stderr.splitlines() if line.strip()]
        errors = [line for line in lines if line.lower().startswith("error")]
        return errors[-1] if errors else (lines[-1] if lines else "")


def defects_of_run(run: Run, limit_mb: float | None = None) -> list[Defect]:
    """The defects any command can show whatever it was asked: hang, traceback, network, memory."""
    found = []
    if run.timed_out:
        found.append(Defect(HANG, f"still running after {run.seconds:.0f} s: curate {' '.join(run.args)}"))
    if TRACE in run.stderr or TRACE in run.stdout:
        tail = [line for line in run.stderr.splitlines() if line.strip()][-1:] or ["?"]
        found.append(Defect(TRACEBACK, tail[0].strip()[:200]))
    if run.net:
        found.append(Defect(NETWORK, "; ".join(sorted(set(run.net)))[:200]))
    if limit_mb is not None and run.peak_mb > limit_mb:
        found.append(Defect(MEMORY, f"peak {run.peak_mb:,.0f} MB > {limit_mb:,.0f} MB"))
    return found


def failed_clearly(run: Run, names: Sequence[str], *, accept: bool = False) -> list[Defect]:
    """Defects unless ``run`` failed with a one-line error naming one of ``names`` (a key path, a file).

    With ``accept``, succeeding is also right (the caller then checks what was built)."""
    found = defects_of_run(run)
    if found or (accept and run.code == 0):
        return found
    if run.code == 0:
        return [Defect(UNCLEAR, f"accepted (exit 0) instead of an error naming {' or '.join(names)}")]
    line = run.error_line()
    if not line:
        return [Defect(UNCLEAR, f"exit {run.code} with no message")]
    if names and not any(n.lower() in line.lower() for n in names):
        return [Defect(UNCLEAR, f"message names none of {', '.join(names)}: {line[:200]}")]
    return []


# --- subprocesses ------------------------------------------------------------------------------


def guarded_env(net_log: Path, allow: Sequence[str] = (), extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a guarded subprocess: the socket guard on PYTHONPATH, a plain terminal."""
    # Offline switches are dropped too: the guard, not a library setting, must show that nothing reaches out.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CURATE_HOSTILE", "PYTEST")) and k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    env["PYTHONPATH"] = os.pathsep.join([str(GUARD), str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update({"CURATE_HOSTILE_NET_LOG": str(net_log), "CURATE_HOSTILE_ALLOW": ",".join(allow),
                "CURATE_HOSTILE_PEAK_LOG": str(net_log.with_name("peak.log")),
                "NO_COLOR": "1", "COLUMNS": "200", "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"})
    env.update(extra or {})
    return env


def spawn(args: Sequence[str], *, cwd: Path | None = None, allow: Sequence[str] = (),
          env: dict[str, str] | None = None, python: Sequence[str] = ("-m", "curate.cli"),
          preexec: object = None) -> tuple[subprocess.Popen, Path]:
    """Start ``curate ARGS`` (or ``python ...``) guarded, in its own process group; returns it and its log dir.
    ``env`` adds variables to the guarded environment."""
    logs = Path(tempfile.mkdtemp(prefix="hostile-run-"))
    with open(logs / "stdout", "wb") as out, open(logs / "stderr", "wb") as err:  # files: no pipe fills up
        proc = subprocess.Popen([sys.executable, *python, *args], stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                cwd=cwd, env=guarded_env(logs / "net.log", allow, env), start_new_session=True,
                                preexec_fn=preexec)  # type: ignore[arg-type]
    return proc, logs


def finish(proc: subprocess.Popen, logs: Path, args: Sequence[str], timeout: float, started: float,
           *, reap_group: bool = True) -> Run:
    """Wait for ``proc`` up to ``timeout`` (then kill its whole group) and collect what it did."""
    code: int | None = None
    usage = None
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            code = os.waitstatus_to_exitcode(status)
            break
        if time.monotonic() - started > timeout:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            _, _, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.02)
    proc.returncode = -9 if code is None else code  # reaped here; keep Popen from waiting again
    seconds = time.monotonic() - started
    if reap_group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)  # stray workers of a failed or killed run
    net_log = logs / "net.log"
    peaks = [int(x) for x in _read(logs / "peak.log").split()]  # each process's own peak (see the guard)
    run = Run(list(args), code, _read(logs / "stdout"), _read(logs / "stderr"), seconds,
              peak_mb=max(peaks) / 1024 if peaks else (usage.ru_maxrss / 1024 if usage else 0.0),
              net=net_log.read_text().splitlines() if net_log.is_file() else [])
    shutil.rmtree(logs, ignore_errors=True)
    return run


def _read(path: Path) -> str:
    return path.read_bytes().decode("utf-8", "replace") if path.is_file() else ""


def cli(args: Sequence[str], *, timeout: float = 60, cwd: Path | None = None, allow: Sequence[str] = (),
        env: dict[str, str] | None = None, python: Sequence[str] = ("-m", "curate.cli"),
        preexec: object = None) -> Run:
    """Run ``curate ARGS`` in a guarded subprocess under a hard timeout."""
    args = [str(a) for a in args]
    started = time.monotonic()
    proc, logs = spawn(args, cwd=cwd, allow=allow, env=env, python=python, preexec=preexec)
    return finish(proc, logs, args, timeout, started)


# --- in this process -----------------------------------------------------------------------------


class Hang(BaseException):
    """Raised by the alarm when an in-process case outlives its timeout (not an ``Exception``, so that
    the code under test cannot swallow it)."""


@contextlib.contextmanager
def alarm(seconds: float) -> Iterator[None]:
    """Raise ``Hang`` in the main thread after ``seconds``."""

    def ring(signum: int, frame: object) -> None:
        raise Hang(f"still running after {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def no_network(allow: Sequence[str] = ()) -> Iterator[list[str]]:
    """Refuse and record connections (except to ``allow`` ``host:port``) and name lookups in this process."""
    seen: list[str] = []
    originals = {m: getattr(socket.socket, m) for m in ("connect", "connect_ex")}
    lookup = socket.getaddrinfo

    def make(method: str) -> object:
        def guarded(self: socket.socket, address: object, *args: object) -> object:
            if (self.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
                    and f"{address[0]}:{address[1]}" not in allow):
                seen.append(f"{method} {address!r}")
                raise OSError(101, f"network disabled by the hostile-input guard: {address!r}")
            return originals[method](self, address, *args)
        return guarded

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in ("localhost", "127.0.0.1", "::1", "", None):
            seen.append(f"getaddrinfo {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup disabled: {host!r}")
        return lookup(host, *args, **kwargs)

    for m in originals:
        setattr(socket.socket, m, make(m))
    socket.getaddrinfo = getaddrinfo
    try:
        yield seen
    finally:
        for m, fn in originals.items():
            setattr(socket.socket, m, fn)
        socket.getaddrinfo = lookup


def invoke(args: Sequence[str], *, timeout: float = 60, allow: Sequence[str] = ()) -> Run:
    """Run the ``curate`` click command in this process (cheap cases): same exit codes and messages as
    the command line; an exception that escapes the command counts as a traceback shown to the user."""
    from click.testing import CliRunner

    from curate.cli import main

    args = [str(a) for a in args]
    started = time.monotonic()
    code: int | None
    escaped: BaseException | None = None
    with no_network(allow) as seen:
        try:
            with alarm(timeout):
                result = CliRunner().invoke(main, args, catch_exceptions=True)
        except Hang:
            return Run(args, None, "", "", time.monotonic() - started, net=list(seen))
        except BaseException as err:  # e.g. torch's CheckpointException, which is no Exception
            if isinstance(err, KeyboardInterrupt):
                raise
            escaped = err
    if escaped is not None:
        return Run(args, 1, "", TRACE + ":\n" + "".join(traceback.format_exception(escaped)),
                   time.monotonic() - started, net=list(seen))
    stderr = result.stderr
    code = result.exit_code
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        stderr += TRACE + ":\n" + "".join(traceback.format_exception(result.exception))
        code = 1
    return Run(args, code, result.stdout, stderr, time.monotonic() - started, net=list(seen))


def names_in(text: str, *names: str) -> bool:
    """Whether ``text`` mentions any of ``names`` (case-insensitive)."""
    return any(re.search(re.escape(n), text, re.I) for n in names)

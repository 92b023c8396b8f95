"""The hostile cases: a registry shared by the tests (``tests/hostile/test_*.py``) and ``bench/hostile.py``.

A case is a function ``run(ctx) -> list[Defect]`` registered under a group and a kebab-case name. Its
input files are generated inside ``ctx`` (never committed). ``xfail`` names the defect the case shows
before the fix that should close it; the tests mark it ``xfail(strict=False)`` so that the suite stays
green, and the bench ignores the mark and counts what really happens.

File cases (one hostile input file for one reader) are declared, not written: ``file_case`` takes the
file's bytes and what must come out (``Expect``). The file cases of one reader share one build (one
``curate build`` over a folder holding all their files); when that build is not clean (a failure, a
traceback, a hang, an unbalanced audit), each of them is built again alone, so that every defect is
charged to the file that caused it.
"""

from __future__ import annotations

import importlib
import itertools
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from tests.hostile import harness
from tests.hostile.builds import BuildOutcome, build
from tests.hostile.harness import CORRUPT, LOSS, OUTSIDE, UNCLEAR, Defect

MODULES = ("cases_text", "cases_documents", "cases_files", "cases_recipes", "cases_processes", "cases_training",
           "cases_http", "cases_network")
GROUPS = ("readers", "recipes", "outputs", "processes", "training", "http", "network", "code")


@dataclass(frozen=True)
class Case:
    """One hostile case."""

    group: str
    name: str
    run: Callable[[Ctx], list[Defect]]
    xfail: str | None = None  # the defect it shows until fixed: "<class>: <what> (<where in the code>)"
    expensive: bool = False  # several seconds: marked, still run
    needs: str | None = None  # "non-root" (permission cases) or "torch"
    parallel: bool = False  # runs only subprocesses: may run beside other cases (``Ctx.prefetch``)

    @property
    def id(self) -> str:
        return f"{self.group}/{self.name}"

    def skip_reason(self) -> str | None:
        """Why this case cannot run here, or None."""
        if self.needs == "non-root" and os.geteuid() == 0:
            return "permissions do not bind root; run as a normal user"
        if self.needs == "torch":
            try:
                import torch  # noqa: F401
            except ModuleNotFoundError:
                return "needs the [train] extra (torch)"
        return None


CASES: dict[str, Case] = {}


def case(group: str, name: str, *, xfail: str | None = None, expensive: bool = False, needs: str | None = None,
         parallel: bool = False) -> Callable[[Callable[[Ctx], list[Defect]]], Callable[[Ctx], list[Defect]]]:
    """Register ``fn(ctx) -> defects`` as a case; ``parallel`` when it only runs subprocesses (no ``invoke``)."""
    assert group in GROUPS, group

    def register(fn: Callable[[Ctx], list[Defect]]) -> Callable[[Ctx], list[Defect]]:
        c = Case(group, name, fn, xfail, expensive, needs, parallel)
        assert c.id not in CASES, f"duplicate case {c.id}"
        CASES[c.id] = c
        return fn

    return register


# --- file cases ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expect:
    """What one hostile file must give.

    ``units`` physical units (lines, rows, items) must each end as a record or a ledger row of their own
    (or, with ``whole``, the file as one ledger row: binary, empty, encrypted files). ``good`` strings
    must be in the output text; ``reason`` (a regex) must match the reason of one of the file's ledger
    rows; ``forbid`` strings must not be in the output (a repr, mojibake); ``secret`` strings must be
    nowhere in the build (a file outside the inputs)."""

    units: int = 0
    good: tuple[str, ...] = ()
    whole: bool = False
    reason: str = ""
    forbid: tuple[str, ...] = ()
    secret: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileCase:
    """Files (relative path -> bytes, made on demand) for one reader, and what they must give."""

    reader: str
    name: str
    files: Callable[[Path], dict[str, bytes | Callable[[Path], object]]]  # folder -> {relpath: bytes or maker}
    expect: Expect
    args: tuple[str, ...] = ()
    isolated: bool = False  # never shares a build (may hang, or reads all files together)
    timeout: float = 45.0
    check: Callable[[BuildOutcome, str], list[Defect]] | None = None  # extra checks on (outcome, main file)


FILE_CASES: dict[str, FileCase] = {}


def file_case(reader: str, name: str, files: Callable[[Path], dict] | dict, expect: Expect,
              *, xfail: str | None = None, args: Sequence[str] = (), isolated: bool = False, timeout: float = 45.0,
              expensive: bool = False, needs: str | None = None, group: str = "readers",
              check: Callable[[BuildOutcome, str], list[Defect]] | None = None) -> None:
    """Register a file case: ``files`` (or a function of the case's folder giving them) read by ``reader``.

    A file's value is its bytes, or a function that makes the entry at a path (a link, a named pipe);
    files in sub-folders keep their names, the others get a prefix in a shared build."""
    make = files if callable(files) else (lambda _folder, fixed=files: fixed)
    fc = FileCase(reader, name, make, expect, tuple(args), isolated, timeout, check)
    FILE_CASES[f"{group}/{reader}/{name}"] = fc  # the same id as the case's
    case(group, f"{reader}/{name}", xfail=xfail, expensive=expensive, needs=needs, parallel=True)(
        lambda ctx: ctx.check_file(fc))


def _locator(row_id: str, prefix: str) -> str | None:
    return row_id[len(prefix) + 1:] if row_id.startswith(prefix + "#") else None


def check_file(outcome: BuildOutcome, fc: FileCase, relpath: str) -> list[Defect]:
    """The defects of one file in a finished build."""
    found = list(outcome.defects)
    if outcome.view is None:
        return found
    records, rows = outcome.view.for_file(relpath)
    if fc.reader == "kg":  # a graph's documents come from all its files together
        records = outcome.view.records
    texts = [r["text"] for r in records]
    e = fc.expect
    if missing := [g for g in e.good if not any(g in t for t in texts)]:
        found.append(Defect(LOSS, f"{relpath}: {len(missing)} good unit(s) not in the output: "
                                  f"{', '.join(map(repr, missing[:6]))}"))
    prefix = outcome.view.prefix(relpath)
    unit_rows = [r for r in rows if r["action"] in ("drop", "quarantine") and _locator(r["id"], prefix)]
    whole_rows = [r for r in rows if r["id"] == prefix]
    if e.whole and not rows:
        found.append(Defect(LOSS, f"{relpath}: no ledger row for a file that gave no records"))
    elif not e.whole and (accounted := len(records) + len(unit_rows) + _absorbed(records)) < e.units:
        how = f"{len(records)} records + {len(unit_rows)} ledger rows"
        if whole_rows:
            how += f", and one row for the whole file ({whole_rows[0]['reason']})"
        found.append(Defect(LOSS, f"{relpath}: {e.units} units in, {accounted} accounted ({how})"))
    if e.reason and not any(re.search(e.reason, r["reason"]) for r in rows):
        got = ", ".join(sorted({r["reason"] for r in rows})) or "none"
        found.append(Defect(UNCLEAR, f"{relpath}: no ledger row with a reason like {e.reason!r} (got {got})"))
    for bad in e.forbid:
        if hit := next((t for t in texts if bad in t), None):
            at = hit.index(bad)
            found.append(Defect(CORRUPT, f"{bad!r} in the output: ...{hit[max(0, at - 40):at + 40]!r}..."))
    for secret in e.secret:
        if outcome.view.mentions(secret):
            found.append(Defect(OUTSIDE, f"{secret!r} (from a file outside the inputs) is in the build"))
    if fc.check:
        found += fc.check(outcome, relpath)
    return found


def _absorbed(records: list[dict]) -> int:
    """Units a merged record says it absorbed (``meta.absorbed``: a count or a list of locators)."""
    n = 0
    for r in records:
        value = r["meta"].get("absorbed")
        n += len(value) if isinstance(value, list) else value if isinstance(value, int) else 0
    return n


# --- the context a run of cases shares --------------------------------------------------------------


def jobs() -> int:
    """Builds run at once: ``CURATE_HOSTILE_JOBS``, else the cores available (at most 4)."""
    return int(os.environ.get("CURATE_HOSTILE_JOBS") or min(4, len(os.sched_getaffinity(0))))


@dataclass
class Ctx:
    """Scratch space, shared builds and prefetched results of one run of the cases."""

    base: Path
    _count: itertools.count = field(default_factory=itertools.count)
    _done: dict[str, tuple[BuildOutcome, str]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _shared: dict[str, object] = field(default_factory=dict)
    _shared_lock: threading.Lock = field(default_factory=threading.Lock)
    _results: dict[str, list[Defect] | BaseException] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)  # wall time per case, shared build or prefetch

    def shared(self, key: str, make: Callable[[Path], object]) -> object:
        """``make(folder)``, once per run of the cases (a build several cases inspect or copy)."""
        with self._shared_lock:
            if key not in self._shared:
                self._shared[key] = make(self.tmp(key))
            return self._shared[key]

    def run(self, c: Case) -> list[Defect]:
        """The defects of case ``c`` (computed by ``prefetch`` if it was given the case)."""
        if c.id in self._results:
            result = self._results.pop(c.id)
            if isinstance(result, BaseException):
                raise result
            return result
        return self._timed(c.id, c.run, self)

    def _timed(self, key: str, fn: Callable, *args: object) -> object:
        started = time.monotonic()
        try:
            return fn(*args)
        finally:
            self.seconds[key] = self.seconds.get(key, 0.0) + time.monotonic() - started

    def tmp(self, name: str) -> Path:
        """A fresh directory for one case."""
        with self._lock:
            n = next(self._count)
        path = self.base / f"{n:03d}-{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)[:60]}"
        path.mkdir(parents=True)
        return path

    def check_file(self, fc: FileCase) -> list[Defect]:
        """The defects of ``fc``'s files (built now unless prefetched)."""
        key = _key(fc)
        if key not in self._done:
            self.prefetch([CASES[key]])
        outcome, relpath = self._done[key]
        return check_file(outcome, fc, relpath)

    def prefetch(self, cases: Sequence[Case]) -> None:
        """Run the parallel ``cases`` now, ``jobs()`` at a time: the file cases' builds (shared builds and
        isolated cases first, then, alone, the members of any shared build that was not clean) and the
        other cases that only run subprocesses. ``run`` then returns their results."""
        todo = [k for k in dict.fromkeys(c.id for c in cases if c.parallel and not c.skip_reason())
                if k not in self._done and k not in self._results]
        groups: dict[tuple, list[str]] = {}
        for k in (k for k in todo if k in FILE_CASES):
            fc = FILE_CASES[k]
            groups.setdefault(("alone", k) if fc.isolated else ("batch", fc.reader, fc.args), []).append(k)
        with ThreadPoolExecutor(jobs()) as pool:
            shared = {g: pool.submit(self._timed, f"shared build: {g[1]}", self._batch, ks)
                      for g, ks in groups.items() if g[0] == "batch" and len(ks) > 1}
            waits = [pool.submit(self._timed, ks[0], self._alone, ks[0]) for g, ks in groups.items() if g not in shared]
            others = {k: pool.submit(self._timed, k, CASES[k].run, self) for k in todo if k not in FILE_CASES}
            for g, future in shared.items():
                outcome, names = future.result()
                for k in groups[g]:
                    if outcome.clean:
                        self._done[k] = (outcome, names[k])
                    else:
                        waits.append(pool.submit(self._timed, k, self._alone, k))
            for future in waits:
                future.result()
            for k, future in others.items():
                try:
                    self._results[k] = future.result()
                except Exception as err:  # a broken case, reported when its test asks
                    self._results[k] = err

    def _write(self, folder: Path, fc: FileCase, tag: str) -> str:
        files = fc.files(folder)
        main = ""
        for rel, data in files.items():
            target = folder / (f"{tag}{rel}" if tag and "/" not in rel else rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            if callable(data):  # makes the entry itself: a link, a pipe
                data(target)
            else:
                target.write_bytes(data)
            main = main or target.relative_to(folder).as_posix()
        return main

    def _batch(self, keys: list[str]) -> tuple[BuildOutcome, dict[str, str]]:
        first = FILE_CASES[keys[0]]
        folder = self.tmp(f"batch-{first.reader}") / "in"
        folder.mkdir()
        names = {k: self._write(folder, FILE_CASES[k], f"{i:02d}-") for i, k in enumerate(keys)}
        return build(first.reader, folder, folder.parent / "out", first.args, timeout=60 + 5 * len(keys)), names

    def _alone(self, key: str) -> None:
        fc = FILE_CASES[key]
        folder = self.tmp(key) / "in"
        folder.mkdir()
        main = self._write(folder, fc, "")
        self._done[key] = (build(fc.reader, folder, folder.parent / "out", fc.args, timeout=fc.timeout), main)


def _key(fc: FileCase) -> str:
    return next(k for k, v in FILE_CASES.items() if v is fc)


def load() -> dict[str, Case]:
    """Import every case module (which registers its cases) and return the registry."""
    for name in MODULES:
        importlib.import_module(f"tests.hostile.{name}")
    return CASES


def of(group: str) -> list[Case]:
    """The cases of one group, in registration order."""
    return [c for c in load().values() if c.group == group]


__all__ = ["CASES", "Case", "Ctx", "Expect", "case", "file_case", "harness", "load", "of"]

"""What a task's fingerprint is made of: the code of its steps and the digests of its inputs.

- **Code.** A function's version is a hash of its module's source and of every ``curate`` module
  that module imports, transitively (read from the source text, so lazy imports inside
  functions count too), plus the templates when ``curate.text.templates`` is among them. A config
  may name more modules through a ``code_modules()`` method (a reader chosen by name). Editing
  ``eval/`` or a docstring in an unrelated wing changes no curation step's version.
- **Inputs.** sha256 digests, cached in memory and on disk (``$CURATE_CACHE_DIR``, default
  ``~/.cache/curate/digests.sqlite``), keyed by path, size and modification time, so a rerun does
  not re-hash the raw inputs.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
import sqlite3
import threading
from pathlib import Path

import curate


@functools.cache
def _source(module: str) -> tuple[str, str] | None:
    """(path, source) of a ``curate`` module, or None when it is not one."""
    if not module.startswith("curate"):
        return None
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return spec.origin, Path(spec.origin).read_text(encoding="utf-8")


# Import statements of ``curate`` modules, read from the source text (comments removed first): twenty times
# faster than walking the syntax tree, which every build paid for each module of its steps. Text that only
# looks like an import (in a docstring) can add a module to a closure, never drop one.
_COMMENT = re.compile(r"#[^\n]*")
_FROM = re.compile(r"^[ \t]*from[ \t]+(curate(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_IMPORT = re.compile(r"^[ \t]*import[ \t]+(curate[^\n]*)", re.M)


def _names(clause: str) -> list[str]:
    """The imported names of ``a, b as c`` or ``(a,\n b)``."""
    return [part.split()[0] for part in clause.strip("()").replace("\\\n", " ").split(",") if part.split()]


@functools.cache
def _imports(module: str) -> frozenset[str]:
    """The ``curate`` modules ``module`` imports anywhere in its source (lazy imports in functions too)."""
    found = _source(module)
    if found is None:
        return frozenset()
    text = _COMMENT.sub("", found[1])
    names: set[str] = set()
    for m in _FROM.finditer(text):
        names.add(m[1])
        names.update(f"{m[1]}.{n}" for n in _names(m[2]))  # submodules imported by name
    for m in _IMPORT.finditer(text):
        names.update(_names(m[1]))
    return frozenset(n for n in names if n.startswith("curate") and _source(n) is not None)


@functools.cache
def closure(module: str) -> tuple[str, ...]:
    """``module`` and every ``curate`` module it imports, transitively, sorted."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen or _source(name) is None:
            continue
        seen.add(name)
        todo.extend(_imports(name))
        parent = name.rpartition(".")[0]
        if parent and parent != "curate":
            todo.append(parent)  # a package's __init__ runs before its modules
    return tuple(sorted(seen))


@functools.cache
def _templates_digest() -> str:
    from curate.text.templates import templates_dir

    h = hashlib.sha256()
    root = templates_dir()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@functools.cache
def module_version(module: str) -> str:
    """Hash of a module's code closure (and the templates, when it renders any)."""
    h = hashlib.sha256(curate.__version__.encode())
    names = closure(module)
    for name in names:
        h.update(name.encode())
        h.update(_source(name)[1].encode())
    if "curate.text.templates" in names:
        h.update(_templates_digest().encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------------
# Input digests


def _cache_path() -> Path:
    root = Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate")
    return root / "digests.sqlite"


class DigestCache:
    """sha256 digests by (path, size, mtime): in memory, and on disk across runs."""

    def __init__(self) -> None:
        self.memory: dict[tuple[str, int, int], str] = {}
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._pid = 0

    def _conn(self) -> sqlite3.Connection | None:
        if self._db is None or self._pid != os.getpid():
            try:
                path = _cache_path()
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(path, timeout=30, check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("CREATE TABLE IF NOT EXISTS digests (path TEXT, size INTEGER, mtime INTEGER, "
                                 "sha256 TEXT, PRIMARY KEY (path, size, mtime))")
                self._pid = os.getpid()
            except (OSError, sqlite3.Error):  # a read-only home: the memory cache still works
                self._db = None
        return self._db

    def get(self, key: tuple[str, int, int]) -> str | None:
        """A cached digest, or None."""
        if key in self.memory:
            return self.memory[key]
        with self._lock:
            db = self._conn()
            if db is None:
                return None
            try:
                row = db.execute("SELECT sha256 FROM digests WHERE path=? AND size=? AND mtime=?", key).fetchone()
            except sqlite3.Error:
                return None
        if row:
            self.memory[key] = row[0]
        return row[0] if row else None

    def put(self, key: tuple[str, int, int], sha: str, persist: bool = True) -> None:
        """Remember a digest (on disk too unless ``persist`` is False)."""
        self.memory[key] = sha
        if not persist:
            return
        with self._lock:
            db = self._conn()
            if db is None:
                return
            try:
                db.execute("INSERT OR REPLACE INTO digests VALUES (?, ?, ?, ?)", (*key, sha))
                db.commit()
            except sqlite3.Error:
                pass


DIGESTS = DigestCache()


def digest(path: str | Path, persist: bool = True) -> str:
    """sha256 of a file, cached by path, size and mtime (on disk too unless ``persist`` is False)."""
    st = os.stat(path)
    key = (str(Path(path).absolute()), st.st_size, st.st_mtime_ns)
    sha = DIGESTS.get(key) if persist else DIGESTS.memory.get(key)
    if sha is None:
        with open(path, "rb") as f:
            sha = hashlib.file_digest(f, "sha256").hexdigest()
        DIGESTS.put(key, sha, persist)
    return sha


def remember(path: Path, sha: str) -> None:
    """Record the digest of a file this run just wrote or verified (memory only: outputs change)."""
    st = path.stat()
    DIGESTS.put((str(path.absolute()), st.st_size, st.st_mtime_ns), sha, persist=False)

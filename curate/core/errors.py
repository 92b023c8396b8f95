"""Errors users can act on, and the one line the command line shows for any error.

Library code raises specific errors whose message names the file and what to do (``RecipeError``,
``InputError``, ``BuildLocked``, ``BadFile`` ...). ``describe`` turns any exception into one line for the
command line: the message of an expected error; for an ``OSError`` the file, the system's reason and
what usually fixes it; for anything else the error and a pointer to ``--debug`` (the traceback).
"""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import Any


class BadFile(ValueError):
    """A file the build wrote or reads back is truncated or corrupt."""

    def __init__(self, path: Path | str, problem: str, fix: str = "rebuild it, or restore it from a copy"):
        super().__init__(f"{path}: {problem}; {fix}")
        self.path = str(path)


def load_json(path: Path | str, what: str = "file") -> Any:
    """A JSON file's content; a truncated or malformed one raises ``BadFile`` naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise BadFile(path, f"{what} is not valid JSON (truncated or half-written?): {err}") from None


_FIXES = {
    errno.EACCES: "check its permissions, or choose another --out",
    errno.EPERM: "check its permissions, or choose another --out",
    errno.EROFS: "the filesystem is read-only: choose another --out",
    errno.ENOSPC: "the disk is full: free space, or choose another --out",
    errno.EDQUOT: "the disk quota is exceeded: free space, or choose another --out",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "a part of the path is a file, not a directory",
    errno.EISDIR: "a directory is where a file should be",
    errno.EMFILE: "too many open files: raise the limit (ulimit -n)",
}


def _first_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0] if lines else ""


def describe(err: BaseException) -> str:
    """One line for ``err``: what went wrong, on which file, and what to do."""
    from curate.core.executor import TaskError

    if isinstance(err, TaskError) and err.__cause__ is not None and isinstance(err.__cause__, OSError):
        return f"{_first_line(str(err).split(' failed: ')[0])} failed: {describe(err.__cause__)}"
    if isinstance(err, OSError) and (err.filename or err.errno in _FIXES):
        name = f" '{err.filename}'" if err.filename else ""
        reason = err.strerror or _first_line(str(err))
        fix = _FIXES.get(err.errno or 0)
        return f"cannot use{name}: {reason}" + (f" ({fix})" if fix else "")
    if isinstance(err, AssertionError):  # an on-disk format's invariant (e.g. a Megatron index) does not hold
        return (f"invalid data: {_first_line(str(err)) or 'a check failed'} (the file may be truncated or corrupt: "
                "rebuild it; --debug shows where)")
    from curate.core.schema import SchemaError

    if isinstance(err, SchemaError):  # one line per problem in the recipe, all of them at once
        return "\n".join(line.strip() for line in str(err).splitlines() if line.strip())
    # A KeyError's message is only the missing key: a bug, not something the user can act on.
    if isinstance(err, (ValueError, OSError, RuntimeError, LookupError)) and not isinstance(err, KeyError) \
            and _first_line(str(err)):
        return _first_line(str(err))
    return (f"internal error: {type(err).__name__}: {_first_line(str(err))} (rerun with --debug for the traceback, "
            "and please report it)")

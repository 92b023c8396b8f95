"""Input discovery: files, directories and globs into the sorted input files of a source.

Directories are walked recursively for files with one of the reader's suffixes, skipping hidden files
and folders (a build keeps its ledger parts and markers there); files named explicitly are taken
whatever their suffix, so that the reader can report an unsupported one. Symbolic links are followed
once: a folder reached a second time (a link loop, or two links to one folder) is not walked again,
and ``**`` globs go through the same walk, so they always end.

An input that names an existing path is taken literally, even when it holds glob characters
(``data[1].jsonl``); only otherwise is it a glob. Folders to ``exclude`` (the build's own output, when
``--out`` lies inside an input folder) are never walked, so a rerun does not read its own shards.

What cannot be read is never skipped in silence: a folder that cannot be listed, a file that cannot
be opened, a broken link and a file name that is not valid UTF-8 (it cannot be written into ids and
manifests) are returned as problems, which the build turns into quarantine rows. Relative paths (the
ids) are relative to the folders named as inputs (their common folder), so they do not move when
files are added or cannot be read.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path


class InputError(ValueError):
    """The inputs named on the command line or in a recipe do not exist."""


def _has_suffix(path: Path, suffixes: Iterable[str]) -> bool:
    name = path.name.lower()
    name = name[:-3] if name.endswith(".gz") else name
    return any(name.endswith(s) for s in suffixes)


def _walk(top: Path, problems: list[tuple[Path, str]], seen: set[tuple[int, int]]) -> Iterator[Path]:
    """Every non-hidden file under ``top`` (links followed once); unreadable entries into ``problems``."""
    stack = [top]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError as err:
            problems.append((folder, f"cannot open folder ({err.strerror})"))
            continue
        if (st.st_dev, st.st_ino) in seen:  # a link loop, or a folder linked twice: walked once
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as err:
            problems.append((folder, f"cannot list folder ({err.strerror}); fix its permissions or leave it out"))
            continue
        for entry in reversed(entries):
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                if entry.is_dir():
                    stack.append(path)
                elif entry.is_file():
                    yield path
                elif entry.is_symlink():
                    problems.append((path, f"broken symbolic link (to {os.readlink(path)!r})"))
            except OSError as err:
                problems.append((path, f"cannot open ({err.strerror})"))


def _pattern(spec: str) -> re.Pattern[str]:
    """A regex for a glob with ``**`` (any folders), ``*``, ``?`` and ``[...]``."""
    out, i = [], 0
    while i < len(spec):
        if spec.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif spec.startswith("**", i):
            out.append(".*")
            i += 2
        elif spec[i] == "*":
            out.append("[^/]*")
            i += 1
        elif spec[i] == "?":
            out.append("[^/]")
            i += 1
        elif spec[i] == "[" and (j := spec.find("]", i + 1)) > i:
            out.append(spec[i:j + 1].replace("[!", "[^"))
            i = j + 1
        else:
            out.append(re.escape(spec[i]))
            i += 1
    return re.compile("".join(out) + "/?")


def _matches(spec: str, problems: list[tuple[Path, str]], seen: set[tuple[int, int]]) -> list[Path]:
    if "**" not in spec:
        return [Path(m) for m in sorted(glob.glob(spec))]
    base = spec[:spec.index("**")].rpartition("/")[0] or "."
    rx = _pattern(os.path.normpath(spec) if spec.startswith("./") else spec)
    found = set()
    for path in _walk(Path(base), problems, seen):
        rel = path.as_posix() if base != "." else os.path.relpath(path)
        for candidate in [rel, *(p.as_posix() for p in Path(rel).parents if p.as_posix() != ".")]:
            if rx.fullmatch(candidate):
                found.add(Path(candidate))
                break
    return sorted(found)


def _printable(name: str) -> str:
    """A path as text that UTF-8 can hold: undecodable bytes of a file name as ``\\xe9`` escapes."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _utf8(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _excluded(exclude: Iterable[str | Path]) -> set[tuple[int, int]]:
    """The (device, inode) of each existing folder to leave out of every walk."""
    out = set()
    for folder in exclude:
        try:
            st = os.stat(folder)
        except OSError:
            continue  # not made yet: nothing of it to read
        out.add((st.st_dev, st.st_ino))
    return out


def _named_root(spec: str, literal: bool) -> Path:
    """The folder an input names: itself, a file's folder, or the folder part of a glob before its magic."""
    if not literal:
        parts = Path(spec).parts
        spec = str(Path(*parts[:next(i for i, p in enumerate(parts) if glob.has_magic(p))]) or ".")
        return Path(spec).resolve()
    path = Path(spec).resolve() if os.path.exists(spec) else Path(os.path.abspath(spec))  # a broken link: itself
    return path if path.is_dir() else path.parent


def discover_all(inputs: Iterable[str | Path], suffixes: Iterable[str], exclude: Iterable[str | Path] = ()
                 ) -> tuple[list[tuple[Path, str]], list[tuple[Path, str, str]]]:
    """Sorted ``(path, relpath)`` input files and ``(path, relpath, problem)`` for what cannot be read;
    folders in ``exclude`` (a build's output) are not walked."""
    suffixes = tuple(suffixes)
    found: set[Path] = set()
    problems: list[tuple[Path, str]] = []
    seen = _excluded(exclude)
    roots: list[Path] = []
    for spec in map(str, inputs):
        literal = os.path.lexists(spec) or not glob.has_magic(spec)
        matches = [Path(spec)] if literal else _matches(spec, problems, seen)
        if not matches or not all(os.path.lexists(m) for m in matches):
            raise InputError(f"no input matches {spec!r}")
        roots.append(_named_root(spec, literal))
        for m in matches:
            if m.is_dir():
                found.update(p for p in _walk(m, problems, seen) if _has_suffix(p, suffixes))
            elif m.is_file():
                found.add(m)
            else:
                problems.append((m, "broken symbolic link" if m.is_symlink() else "not a file or folder"))
    files = []
    for p in sorted({p.resolve() for p in found}):
        if not _utf8(p):
            problems.append((p, "the file name is not valid UTF-8, so it cannot be named in ids and manifests; "
                                "rename it to UTF-8 (e.g. convmv -f latin1 -t utf8 --notest)"))
        elif os.access(p, os.R_OK):
            files.append(p)
        else:
            problems.append((p, "cannot open (permission denied); fix its permissions or leave it out"))
    bad = sorted({(Path(os.path.abspath(p)), msg) for p, msg in problems})
    if not files and not bad:
        raise InputError(f"no input files with suffix {', '.join(suffixes)} in {', '.join(map(str, inputs))}")
    root = Path(os.path.commonpath(roots + [p.parent for p in files] + [p.parent for p, _ in bad]))
    return ([(p, p.relative_to(root).as_posix()) for p in sorted(files)],
            [(p, _printable(p.relative_to(root).as_posix()), msg) for p, msg in bad])


def discover(inputs: Iterable[str | Path], suffixes: Iterable[str],
             exclude: Iterable[str | Path] = ()) -> list[tuple[Path, str]]:
    """The readable input files as sorted ``(path, relpath)`` pairs (see ``discover_all``)."""
    return discover_all(inputs, suffixes, exclude)[0]

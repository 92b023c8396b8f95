"""Builds whose inputs or outputs live on object storage or any fsspec filesystem.

Paths may be URLs (``s3://``, ``gs://``, ``hdfs://``, ``memory://``, ...); credentials come from each
store's usual environment variables and configuration files (``AWS_*`` and ``~/.aws``, Google
application credentials, ...), through fsspec and the store's own library (``s3fs``, ``gcsfs``).

- **Inputs** are staged into a local cache (``$CURATE_CACHE_DIR/inputs``), keyed by URL, size and
  ETag (or modification time), so readers see ordinary files with the same relative paths, and
  record ids are the same as for a local copy of the inputs. An unchanged input is not fetched again.
- **Outputs**: a build runs in a local working copy (``$CURATE_CACHE_DIR/builds``) and is published
  to the URL file by file, each object written whole by one PUT under its final, write-once name
  (an object store never shows a half-written object), the done-markers after the files they name,
  and ``manifest.json`` last: a reader that finds the manifest finds the whole build. A rerun first
  fetches the published markers and outputs, so it resumes where a lost driver stopped.
- Every request is retried with backoff on errors and throttling (``RETRIES``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from curate.core.lock import LOCK  # the build lock: local to the machine that builds, never published

T = TypeVar("T")
RETRIES = 8


def is_url(path: str | Path) -> bool:
    """Whether ``path`` names a remote or non-local filesystem (has a scheme other than ``file``)."""
    text = str(path)
    return "://" in text and not text.startswith("file://")


def filesystem(url: str) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path inside it."""
    from fsspec.core import url_to_fs

    return url_to_fs(url)


def retry(fn: Callable[[], T], what: str, attempts: int = RETRIES) -> T:
    """``fn()``, retried with exponential backoff (0.2 s doubling, at most 10 s) on any error."""
    for attempt in range(attempts):
        try:
            return fn()
        except FileNotFoundError:
            raise
        except Exception as err:  # throttling, 5xx, dropped connections
            if attempt == attempts - 1:
                raise OSError(f"{what}: failed after {attempts} attempts: {err}") from err
            time.sleep(min(10.0, 0.2 * 2**attempt))
    raise AssertionError("unreachable")


def cache_dir() -> Path:
    """The local cache for staged inputs and working copies of remote builds."""
    return Path(os.environ.get("CURATE_CACHE_DIR") or Path.home() / ".cache" / "curate")


def _stamp(info: dict[str, Any]) -> str:
    return str(info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or "")


def _files(fs: Any, root: str) -> dict[str, dict[str, Any]]:
    """Every file under ``root`` (or ``root`` itself) with its info, by path relative to ``root``."""
    if retry(lambda: fs.isfile(root), f"stat {root}"):
        return {"": fs.info(root)}
    found = retry(lambda: fs.find(root, detail=True), f"list {root}")
    return {os.path.relpath(p, root.rstrip("/")): info for p, info in found.items() if info.get("type") != "directory"}


def stage_in(url: str) -> str:
    """A local path holding ``url`` (a file or a folder), fetched into the cache when new or changed."""
    fs, root = filesystem(url)
    # The mirror keeps the remote layout (scheme, bucket, keys), so ids built from paths relative to
    # the inputs' common folder are the same as for a local copy of the same tree.
    local_root = cache_dir() / "inputs" / url.split("://", 1)[0] / root.strip("/")
    for rel, info in sorted(_files(fs, root).items()):
        target = local_root / rel if rel else local_root
        stamp = target.with_name(f".{target.name}.stamp")
        want = f"{info.get('size')}:{_stamp(info)}"
        if target.is_file() and stamp.is_file() and stamp.read_text() == want:
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.part{os.getpid()}")
        remote = f"{root.rstrip('/')}/{rel}" if rel else root
        retry(lambda remote=remote, tmp=tmp: fs.get_file(remote, str(tmp)), f"fetch {remote}")
        os.replace(tmp, target)
        stamp.write_text(want)
    return str(local_root)


def localize(value: Any) -> Any:
    """``value`` (a recipe spec) with every URL string replaced by its staged local copy."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: localize(getattr(value, f.name)) for f in dataclasses.fields(value)}
        changed = {k: v for k, v in changes.items() if v is not getattr(value, k)}
        return dataclasses.replace(value, **changed) if changed else value
    if isinstance(value, tuple):
        items = tuple(localize(v) for v in value)
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, list):
        return [localize(v) for v in value]
    if isinstance(value, dict):
        return {k: localize(v) for k, v in value.items()}
    if isinstance(value, str) and is_url(value):
        return stage_in(value)
    return value


def working_copy(url: str) -> Path:
    """The local working directory of the build published at ``url``, with its published state fetched."""
    local = cache_dir() / "builds" / hashlib.sha1(url.encode()).hexdigest()[:16] / Path(url.rstrip("/")).name
    local.mkdir(parents=True, exist_ok=True)
    fs, root = filesystem(url)
    if retry(lambda: fs.exists(root), f"stat {url}"):
        for rel, info in _files(fs, root).items():
            target = local / rel
            if target.is_file() and target.stat().st_size == info.get("size"):
                continue  # this machine built it; the marker check decides whether it is still good
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.part{os.getpid()}")
            retry(lambda rel=rel, tmp=tmp: fs.get_file(f"{root.rstrip('/')}/{rel}", str(tmp)), f"fetch {rel}")
            os.replace(tmp, target)
    return local


def publish(local: Path, url: str, last: tuple[str, ...] = ("manifest.json",)) -> int:
    """Upload the build in ``local`` to ``url``: data files, then done-markers, then ``last``. Files
    already there with the same size and content are skipped; returns the number uploaded."""
    fs, root = filesystem(url)
    remote = _files(fs, root) if retry(lambda: fs.exists(root), f"stat {url}") else {}
    files = sorted(p for p in local.rglob("*") if p.is_file() and ".part" not in p.name and p.name != LOCK)
    rel = [p.relative_to(local).as_posix() for p in files]
    order = sorted(range(len(files)), key=lambda i: (rel[i] in last, ".done" in rel[i].split("/"), rel[i]))
    sent = 0
    for i in order:
        info = remote.get(rel[i])
        if info and info.get("size") == files[i].stat().st_size and _same(info, files[i]):
            continue
        target = f"{root.rstrip('/')}/{rel[i]}"
        retry(lambda i=i, target=target: fs.put_file(str(files[i]), target), f"upload {target}")
        sent += 1
    return sent


def _same(info: dict[str, Any], path: Path) -> bool:
    """Whether a remote object (by its ETag, an MD5 for single-part uploads) holds ``path``'s bytes."""
    etag = str(info.get("ETag") or info.get("etag") or "").strip('"')
    if len(etag) != 32:
        return False
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest() == etag

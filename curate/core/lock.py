"""One build at a time per build directory.

A build holds an exclusive ``flock`` on ``<build>/.lock`` while it runs, and writes who holds it (pid,
host, command, start time) into the file. A second build of the same directory fails at once with
``BuildLocked`` naming the holder. The kernel releases the lock when the holder exits, however it
exits (SIGKILL included), so a stale file never blocks a rerun; a finished build leaves the file empty,
and it is not published.

Where it holds: local disks; NFS, where Linux clients map ``flock`` onto NFS byte-range locks (NFSv4,
or v3 with lockd). A filesystem without lock support (Lustre mounted without ``-o flock``, some FUSE
filesystems) gets a warning and no lock. Builds published to object storage run in a local working
copy, which is what is locked: two machines publishing to the same URL are not excluded (object
stores have no locks); give each build its own URL.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path

LOCK = ".lock"


class BuildLocked(RuntimeError):
    """Another process is building into the same directory."""


@contextlib.contextmanager
def build_lock(root: Path) -> Iterator[None]:
    """Hold ``root``'s build lock for the block, or raise ``BuildLocked`` at once."""
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no flock
        yield
        return
    root.mkdir(parents=True, exist_ok=True)
    path = root / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                print(f"warning: cannot lock {root} ({err.strerror}): concurrent builds into it are not excluded",
                      file=sys.stderr)
                yield
                return
            holder = path.read_text(errors="replace").strip() or "another process"
            raise BuildLocked(f"{root} is in use by another curate build ({holder}): wait for it to finish, or "
                              "choose another --out") from None
        command = " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))[:200]
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, `{command}`, since "
                     f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # a finished build leaves an empty file: builds stay byte-identical
    finally:
        os.close(fd)  # closing the descriptor releases the lock

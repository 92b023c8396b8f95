"""Canaries that tell whether a build reached out: a loopback server that never answers, a file that
records being opened, and a marker directory that a payload would create.

The subprocess guard refuses Python's own connections, but C libraries (libxml2, mupdf) open their own
sockets and files; these canaries catch those too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path

_LIVE: list[object] = []  # canaries of this process, kept alive until it exits


class HttpCanary:
    """A server on 127.0.0.1 that accepts connections, counts them and never answers (a silent server:
    a client without a deadline hangs on it)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.hits = 0
        self.held: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()
        _LIVE.append(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            self.held.append(conn)  # held open, never answered


class FileCanary:
    """A named pipe that notes whether anyone opened it for reading; it then reads as ``content``.

    A writer thread blocks in ``open`` until a reader comes; ``close`` releases it if none came."""

    def __init__(self, path: Path, content: bytes = b"{}") -> None:
        self.path = path
        self.content = content
        self.opened = False
        self._done = threading.Event()
        os.mkfifo(path)
        threading.Thread(target=self._feed, daemon=True).start()
        _LIVE.append(self)

    def _feed(self) -> None:
        with contextlib.suppress(OSError), open(self.path, "wb") as f:
            if not self._done.is_set():
                self.opened = True
                f.write(self.content)
        self._done.set()

    def close(self) -> bool:
        """Stop waiting for a reader; returns whether one came."""
        opened = self.opened
        if not self._done.is_set():
            self._done.set()
            with contextlib.suppress(OSError):
                fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # lets the writer's open return
                os.close(fd)
        return opened


def marker(folder: Path, name: str = "payload-ran") -> Path:
    """The path a payload creates when it runs (it must not exist before)."""
    path = folder / name
    assert not path.exists()
    return path

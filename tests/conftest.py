"""Shared fixtures: the repository's sample data and the optional real public files."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture
def samples() -> Path:
    """The bundled sample data directory."""
    return SAMPLES


@pytest.fixture
def realdata() -> Path:
    """``../shared/realdata``; tests using it skip when it is absent (a user's clone has none)."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA


class Isolation:
    """What a test did outside its sandbox: network attempts (each also refused) and files opened
    outside the allowed roots (recorded only)."""

    def __init__(self) -> None:
        self.network: list[str] = []
        self.files: list[str] = []
        self.roots: tuple[str, ...] | None = None

    def watch_files(self, *roots: Path | str) -> None:
        """Record files opened outside ``roots``, the interpreter, its packages and the repository."""
        import site
        import sys

        system = (sys.prefix, sys.base_prefix, sys.exec_prefix, *site.getsitepackages(), str(ROOT), *_SYSTEM)
        self.roots = tuple(os.path.realpath(r) for r in (*system, *roots))


# What the interpreter and libraries read about the machine itself: devices, time zones, locales, the OS name.
_SYSTEM = ("/dev", "/proc", "/sys", "/usr/share/zoneinfo", "/etc/localtime", "/etc/timezone", "/usr/lib/locale",
           "/usr/share/locale", "/usr/lib/os-release", "/etc/os-release", "/etc/mime.types")


_ISOLATION: list[Isolation] = []  # the active guard; audit hooks cannot be removed, so one hook checks this
_NETWORK_EVENTS = {"socket.connect", "socket.connect_ex", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                   "socket.gethostbyname", "socket.gethostbyname_ex", "socket.gethostbyaddr", "urllib.Request",
                   "http.client.connect", "ftplib.connect", "smtplib.connect"}


def _audit(event: str, args: tuple) -> None:
    if not _ISOLATION:
        return
    guard = _ISOLATION[-1]
    if event in _NETWORK_EVENTS:
        if event.startswith("socket.connect") or event in ("socket.sendto", "socket.sendmsg"):
            sock = args[0]
            if getattr(sock, "family", None) == socket.AF_UNIX:  # local IPC, not the network
                return
        guard.network.append(f"{event} {args[1:] if event.startswith('socket.') else args}")
        raise OSError(f"network access during a test that forbids it: {event}")
    if event == "open" and guard.roots is not None and isinstance(args[0], str | bytes | os.PathLike):
        path = os.path.realpath(os.fsdecode(args[0]))
        if not any(path == r or path.startswith(r.rstrip("/") + "/") for r in guard.roots):
            guard.files.append(path)


@pytest.fixture
def no_network() -> Iterator[Isolation]:
    """Refuse (and record) every network access during the test; fail it if any was tried."""
    if not getattr(_audit, "installed", False):
        sys.addaudithook(_audit)
        _audit.installed = True  # type: ignore[attr-defined]
    guard = Isolation()
    _ISOLATION.append(guard)
    try:
        yield guard
    finally:
        _ISOLATION.remove(guard)
    assert guard.network == [], f"network access attempted: {guard.network[:5]}"

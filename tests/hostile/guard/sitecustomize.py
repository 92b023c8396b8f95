"""Loaded by every Python process of a hostile-input run (through PYTHONPATH): no network; peak memory.

A connection to anything but the loopback ports named in ``CURATE_HOSTILE_ALLOW`` and any host-name
lookup are refused and written to ``CURATE_HOSTILE_NET_LOG``, so that a build which tries the network
fails loudly there instead of reaching out. Worker processes inherit the environment, so they are
guarded too. Unix sockets (multiprocessing's own plumbing) are left alone.

At exit each process appends its peak resident memory (``VmHWM``, which starts afresh at ``exec``, unlike
the ``ru_maxrss`` of a child forked from a big test process) to ``CURATE_HOSTILE_PEAK_LOG``.
"""

from __future__ import annotations

import atexit
import os
import socket

_LOG = os.environ.get("CURATE_HOSTILE_NET_LOG")
_ALLOW = {a for a in os.environ.get("CURATE_HOSTILE_ALLOW", "").split(",") if a}
_LOCAL = {"localhost", "127.0.0.1", "::1", "", None}


def _note(what: str) -> None:
    if _LOG:
        with open(_LOG, "a", encoding="utf-8") as f:
            f.write(f"{os.getpid()} {what}\n")


def _allowed(address: object) -> bool:
    if not isinstance(address, tuple) or len(address) < 2:
        return True  # AF_UNIX paths and the like
    return f"{address[0]}:{address[1]}" in _ALLOW


def _guard(method: str) -> None:
    original = getattr(socket.socket, method)

    def guarded(self: socket.socket, address: object, *args: object) -> object:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _allowed(address):
            _note(f"{method} {address!r}")
            raise OSError(101, f"network disabled by the hostile-input guard: {address!r}")
        return original(self, address, *args)

    setattr(socket.socket, method, guarded)


def _guard_lookup() -> None:
    original = socket.getaddrinfo

    def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in _LOCAL:
            _note(f"getaddrinfo {host!r}")
            raise socket.gaierror(socket.EAI_NONAME, f"name lookup disabled by the hostile-input guard: {host!r}")
        return original(host, *args, **kwargs)

    socket.getaddrinfo = getaddrinfo


if _LOG:
    for _method in ("connect", "connect_ex"):
        _guard(_method)
    _guard_lookup()


def _peak() -> None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
        with open(os.environ["CURATE_HOSTILE_PEAK_LOG"], "a", encoding="ascii") as f:
            f.write(f"{kb}\n")
    except (OSError, StopIteration, ValueError):
        pass


if os.environ.get("CURATE_HOSTILE_PEAK_LOG"):
    atexit.register(_peak)

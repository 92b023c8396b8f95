"""A hostile OpenAI-compatible server: dripping bytes, huge and compressed bodies, error statuses, bodies
that are not what they claim; and the command line against it.

The backend must finish each request within its deadline (``timeout`` per attempt, ``retries``), keep its
memory bounded, and fail with ``BackendError`` naming the URL; nothing else may escape.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.hostile.harness import (
    HANG,
    MEMORY,
    REPO,
    TRACEBACK,
    UNCLEAR,
    Defect,
    Hang,
    alarm,
    cli,
    failed_clearly,
    invoke,
    no_network,
)
from tests.hostile.registry import Ctx, case

OK_BODY = {"choices": [{"message": {"role": "assistant", "content": "yes"}, "index": 0}]}
MB = 1 << 20


@functools.cache
def gzip_bomb() -> bytes:
    """400 MB of zeros in about 400 KB of gzip."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9, mtime=0) as f:
        for _ in range(400):
            f.write(bytes(MB))
    return out.getvalue()


class Server(ThreadingHTTPServer):
    """Answers ``POST /<behaviour>/v1/chat/completions`` as the behaviour says; counts requests per behaviour."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def url(self, behaviour: str) -> str:
        return f"http://{self.address}/{behaviour}"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args: object) -> None:
        pass

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()

    def _json(self, status: int, body: object, **headers: str) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        self._head(status, {"Content-Type": "application/json", "Content-Length": str(len(raw)), **headers})
        self.wfile.write(raw)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        behaviour = self.path.strip("/").split("/")[0]
        with self.server.lock:
            n = self.server.seen[behaviour] = self.server.seen.get(behaviour, 0) + 1
        try:
            if behaviour == "drip-body":
                self._head(200, {"Content-Type": "application/json", "Content-Length": "100000"})
                for _ in range(200):
                    self.wfile.write(b" ")
                    self.wfile.flush()
                    time.sleep(2)
            elif behaviour == "drip-headers":
                for byte in b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(2)
            elif behaviour == "silent":
                time.sleep(600)
            elif behaviour in ("huge", "huge-unsized"):
                sized = {"Content-Length": str(400 * MB)} if behaviour == "huge" else {"Connection": "close"}
                self._head(200, {"Content-Type": "application/json", **sized})
                chunk = b"[" * MB
                for _ in range(400):
                    self.wfile.write(chunk)
            elif behaviour == "gzip-bomb":
                self._head(200, {"Content-Type": "application/json", "Content-Encoding": "gzip",
                                 "Content-Length": str(len(gzip_bomb()))})
                self.wfile.write(gzip_bomb())
            elif behaviour == "429-once":
                self._json(429, {"error": {"message": "slow down"}}, **{"Retry-After": "0"}) if n == 1 else \
                    self._json(200, OK_BODY)
            elif behaviour == "500-once":
                self._json(500, {"error": {"message": "overloaded"}}) if n == 1 else self._json(200, OK_BODY)
            elif behaviour == "500":
                self._json(500, {"error": {"message": "internal error"}})
            elif behaviour == "400":
                self._json(400, {"error": {"message": "model 'm' does not exist"}})
            elif behaviour == "malformed":
                self._json(200, b"{'choices': [tru")
            elif behaviour == "no-choices":
                self._json(200, {"object": "chat.completion", "choices": []})
            elif behaviour == "null-content":
                self._json(200, {"choices": [{"message": {"role": "assistant", "content": None}}]})
            elif behaviour == "deep-json":
                self._json(200, b'{"choices": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
            elif behaviour == "html":
                self._json(200, b"<html><body>502 Bad Gateway</body></html>")
            elif behaviour == "redirect":
                self._head(302, {"Location": "http://10.255.255.1/v1/chat/completions", "Content-Length": "0"})
            else:
                self._json(200, OK_BODY)
        except OSError:  # the client gave up, as it should
            pass


_SERVER: list[Server] = []


def server() -> Server:
    """One scripted server for this process."""
    if not _SERVER:
        _SERVER.append(Server())
    return _SERVER[0]


def call(behaviour: str, *, answer: bool = False, timeout: float = 1.0, retries: int = 0,
         limit: float = 20) -> list[Defect]:
    """Defects of one generation request against ``behaviour``: it must come back with the answer (``answer``)
    or raise ``BackendError`` naming the URL, within (retries + 1) x timeout (plus a margin)."""
    from curate.eval.backends import BackendError, OpenAIBackend

    srv = server()
    backend = OpenAIBackend(srv.url(behaviour), "m", timeout=timeout, retries=retries, backoff=lambda a: 0.05)
    started = time.monotonic()
    text, error = None, None
    with no_network([srv.address]) as seen:
        try:
            with alarm(limit):
                text = backend.generate(["Is aspirin an NSAID?"], max_new_tokens=4)[0]
        except Hang:
            return [Defect(HANG, f"{behaviour}: no answer or error after {limit:.0f} s (timeout {timeout} s)")]
        except BackendError as err:
            error = err
        except Exception as err:  # anything else reaches the user as a traceback
            return [Defect(TRACEBACK, f"{behaviour}: {type(err).__name__}: {str(err)[:160]}")]
    found = [Defect("network", "; ".join(seen))] if seen else []
    took = time.monotonic() - started
    if took > (bound := (retries + 1) * timeout + 5):
        found.append(Defect(HANG, f"{behaviour}: {took:.1f} s, more than (retries + 1) x timeout + 5 = {bound:.0f} s"))
    if answer and error is not None:
        found.append(Defect(UNCLEAR, f"{behaviour}: not retried to an answer: {error}"))
    elif not answer and error is None:
        found.append(Defect(UNCLEAR, f"{behaviour}: accepted as the answer {text!r}"))
    elif error is not None and srv.address not in str(error):
        found.append(Defect(UNCLEAR, f"{behaviour}: the error names no URL: {error}"))
    return found


for _name, _kw in (("drip-body", {}), ("drip-headers", {}), ("silent", {})):
    case("http", f"{_name}-past-timeout")(lambda ctx, n=_name, k=_kw: call(n, **k))
for _name in ("500", "400", "malformed", "no-choices", "null-content", "html", "redirect"):
    case("http", f"status-or-body-{_name}")(lambda ctx, n=_name: call(n, retries=1))
case("http", "deep-json-body")(lambda ctx: call("deep-json"))
case("http", "429-then-answer")(lambda ctx: call("429-once", answer=True, retries=1))
case("http", "500-then-answer")(lambda ctx: call("500-once", answer=True, retries=1))


@case("http", "connection-refused")
def refused(ctx: Ctx) -> list[Defect]:
    import socket

    from curate.eval.backends import BackendError, OpenAIBackend

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        with no_network([f"127.0.0.1:{port}"]), alarm(20):
            OpenAIBackend(f"http://127.0.0.1:{port}", "m", timeout=1, retries=1, backoff=lambda a: 0.05).generate(
                ["x"], max_new_tokens=1)
    except BackendError:
        return []
    except Hang:
        return [Defect(HANG, "a refused connection was not given up")]
    except Exception as err:
        return [Defect(TRACEBACK, f"{type(err).__name__}: {err}")]
    return [Defect(UNCLEAR, "a refused connection gave an answer")]


MEMORY_SCRIPT = """
import sys
from curate.eval.backends import BackendError, OpenAIBackend
try:
    OpenAIBackend(sys.argv[1], "m", timeout=30, retries=0).generate(["x"], max_new_tokens=1)
    print("ANSWERED")
except BackendError as err:
    print("REFUSED", err)
"""


def _bounded(behaviour: str, limit_mb: float = 400) -> list[Defect]:
    srv = server()
    run = cli([srv.url(behaviour)], python=("-c", MEMORY_SCRIPT), allow=[srv.address], timeout=60)
    found = []
    if run.timed_out:
        found.append(Defect(HANG, f"{behaviour}: still reading after 60 s"))
    elif "REFUSED" not in run.stdout:
        found.append(Defect(UNCLEAR if "ANSWERED" in run.stdout else TRACEBACK,
                            f"{behaviour}: {(run.stdout + run.stderr).strip().splitlines()[-1:]}"))
    if run.peak_mb > limit_mb:
        found.append(Defect(MEMORY, f"{behaviour}: peak {run.peak_mb:,.0f} MB > {limit_mb:,.0f} MB"))
    return found


case("http", "400mb-body-with-length", expensive=True)(lambda ctx: _bounded("huge"))
case("http", "400mb-body-without-length", expensive=True)(lambda ctx: _bounded("huge-unsized"))
case("http", "gzip-bomb-body", expensive=True)(lambda ctx: _bounded("gzip-bomb"))


@case("http", "cli-annotate-against-failing-server")
def cli_annotate(ctx: Ctx) -> list[Defect]:
    srv = server()
    data = REPO / "samples" / "instruct" / "pubmedqa"
    out = ctx.tmp("annotate") / "labelled.json"
    run = invoke(["annotate", "pqa-u", data / "ori_pqau.json", "--test-ids", data / "test_ground_truth.json",
                  "--out", out, "--limit", "2", "--model", "m", "--base-url", srv.url("500"), "--retries", "0",
                  "--timeout", "2", "--cache-dir", out.parent / "cache"], allow=[srv.address], timeout=60)
    return failed_clearly(run, [srv.address, "500"])


"""The OpenAI-compatible backend and the request cache against a real HTTP server on 127.0.0.1.

The server answers scripted completions, chosen by the prompt: ``FAIL500-ONCE`` (500, then success),
``FAIL500`` (always 500), ``SLOW-ONCE`` / ``SLOW`` (sleeps past the client timeout once / always),
``CUT-ONCE`` (the body is cut short once), ``BADJSON``, ``DEEPJSON`` (nested 200,000 deep), ``NOCHOICES``,
``BAD400``, ``LIMIT429-ONCE``,
``DRIP-HEAD`` / ``DRIP-BODY`` (the status line / the body one byte every 0.2 s, 12 s in all), ``HUGE`` /
``HUGE-UNSIZED`` (400 MB of body, with / without a Content-Length); anything else is echoed back after
``delay``. Each log entry counts the body bytes the server managed to send before the client hung up.
It logs every request and the most requests it ever had in flight.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from curate.eval.backends import BackendError, OpenAIBackend
from curate.eval.cache import CachedBackend, request_key

ROOT = Path(__file__).resolve().parents[2]


class ScriptedServer(ThreadingHTTPServer):
    """A threading HTTP server with a request log and an in-flight counter."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.lock = threading.Lock()
        self.log: list[dict] = []  # {prompt, path, answered, auth}
        self.in_flight = self.max_in_flight = 0
        self.delay = 0.0
        self.answer_limit: int | None = None  # hold every request after this many were let through, until `gate`
        self.admitted = 0
        self.gate = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def seen(self, prompt: str) -> int:
        with self.lock:
            return sum(entry["prompt"] == prompt for entry in self.log)

    def answered(self) -> list[str]:
        with self.lock:
            return [entry["prompt"] for entry in self.log if entry["answered"]]


class Handler(BaseHTTPRequestHandler):
    server: ScriptedServer

    def log_message(self, *args: object) -> None:  # keep pytest output clean
        pass

    def _send(self, status: int, body: bytes | dict, headers: dict[str, str] | None = None) -> None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)
        except OSError:  # the client gave up (timeout) or was killed
            pass

    def do_POST(self) -> None:
        srv = self.server
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        chat = self.path.endswith("/chat/completions")
        prompt = body["messages"][-1]["content"] if chat else body["prompt"]
        with srv.lock:
            count = sum(e["prompt"] == prompt for e in srv.log)  # earlier requests for this prompt
            entry = {"prompt": prompt, "path": self.path, "answered": False, "body": body, "sent": 0,
                     "auth": self.headers.get("Authorization")}
            srv.log.append(entry)
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
            hold = srv.answer_limit is not None and srv.admitted >= srv.answer_limit
            srv.admitted += not hold
        try:
            if hold:
                srv.gate.wait(30)
                return
            self._respond(prompt, count, chat, entry)
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _trickle(self, prompt: str, entry: dict) -> None:
        """Send slowly or endlessly until done or the client hangs up; ``entry['sent']`` counts body bytes."""
        body = json.dumps({"choices": [{"message": {"content": "late"}}]}).encode().ljust(60)
        try:
            if prompt == "DRIP-HEAD":
                for byte in b"HTTP/1.0 200 OK\r\nContent-Length: 60\r\n\r\n":
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.2)
                self.wfile.write(body)
                entry["sent"] = len(body)
                return
            self.send_response(200)
            if prompt == "DRIP-BODY":
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                for byte in body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    entry["sent"] += 1
                    time.sleep(0.2)
                return
            if prompt == "HUGE":
                self.send_header("Content-Length", str(400_000_000))
            self.end_headers()
            chunk = b" " * 2**20
            while entry["sent"] < 400_000_000:
                self.wfile.write(chunk)
                entry["sent"] += len(chunk)
        except OSError:  # the client hung up, as it should
            pass

    def _respond(self, prompt: str, count: int, chat: bool, entry: dict) -> None:
        time.sleep(self.server.delay)
        if prompt in ("DRIP-HEAD", "DRIP-BODY", "HUGE", "HUGE-UNSIZED"):
            return self._trickle(prompt, entry)
        if prompt == "BAD400":
            return self._send(400, {"error": {"message": "model 'nope' does not exist", "type": "invalid_request"}})
        if prompt == "FAIL500" or (prompt == "FAIL500-ONCE" and count == 0):
            return self._send(500, {"error": {"message": "engine overloaded"}})
        if prompt == "LIMIT429-ONCE" and count == 0:
            return self._send(429, {"error": {"message": "rate limited"}}, {"Retry-After": "0"})
        if prompt == "SLOW" or (prompt == "SLOW-ONCE" and count == 0):
            time.sleep(1.0)
        if prompt == "CUT-ONCE" and count == 0:  # the connection drops in the middle of the body
            self.send_response(200)
            self.send_header("Content-Length", "500")
            self.end_headers()
            self.wfile.write(b'{"choices": [')
            return None
        if prompt == "BADJSON":
            return self._send(200, b'{"choices": [{"message": ')
        if prompt == "DEEPJSON":
            return self._send(200, b'{"choices": ' + b"[" * 200_000 + b"]" * 200_000 + b"}")
        if prompt == "NOCHOICES":
            return self._send(200, {"object": "chat.completion", "choices": []})
        text = f"echo:{prompt}"
        choice = {"index": 0, "message": {"role": "assistant", "content": text}} if chat else {"index": 0, "text": text}
        self._send(200, {"id": "x", "object": "chat.completion", "choices": [choice]})
        with self.server.lock:
            entry["answered"] = True


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    srv = ScriptedServer()
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.gate.set()
    srv.shutdown()
    srv.server_close()


def _client(server: ScriptedServer, **kwargs: object) -> OpenAIBackend:
    return OpenAIBackend(server.url, "tiny", **{"backoff": lambda attempt: 0.01, "timeout": 5.0, **kwargs})


def test_concurrency_reaches_and_never_exceeds_the_limit(server: ScriptedServer) -> None:
    server.delay = 0.15
    prompts = [f"q{i}" for i in range(16)]
    out = _client(server, concurrency=4).generate(prompts, max_new_tokens=8)
    assert out == [f"echo:{p}" for p in prompts]
    assert server.max_in_flight == 4
    assert all(server.seen(p) == 1 for p in prompts)


def test_request_body_and_headers(server: ScriptedServer) -> None:
    _client(server, api_key="sk-test").generate(["hello"], max_new_tokens=7, temperature=0.5, stop=["\n\n"])
    entry = server.log[0]
    assert entry["path"] == "/v1/chat/completions" and entry["auth"] == "Bearer sk-test"
    assert entry["body"] == {"model": "tiny", "max_tokens": 7, "temperature": 0.5, "stop": ["\n\n"],
                             "messages": [{"role": "user", "content": "hello"}]}
    completions = OpenAIBackend(server.url + "/v1/", "tiny", endpoint="completions")
    assert completions.generate(["raw prompt"], max_new_tokens=3) == ["echo:raw prompt"]
    assert server.log[-1]["path"] == "/v1/completions" and server.log[-1]["body"]["prompt"] == "raw prompt"


def test_a_500_then_success_is_retried(server: ScriptedServer) -> None:
    assert _client(server).generate(["FAIL500-ONCE", "LIMIT429-ONCE", "CUT-ONCE", "ok"], max_new_tokens=4) == [
        "echo:FAIL500-ONCE", "echo:LIMIT429-ONCE", "echo:CUT-ONCE", "echo:ok"]
    assert [server.seen(p) for p in ("FAIL500-ONCE", "LIMIT429-ONCE", "CUT-ONCE", "ok")] == [2, 2, 2, 1]


def test_persistent_5xx_gives_a_clear_error_after_the_retries(server: ScriptedServer) -> None:
    with pytest.raises(BackendError, match=r"HTTP 500: engine overloaded \(gave up after 3 attempts\)"):
        _client(server, retries=2).generate(["FAIL500"], max_new_tokens=4)
    assert server.seen("FAIL500") == 3


def test_a_timeout_is_retried_then_a_clear_error(server: ScriptedServer) -> None:
    assert _client(server, timeout=0.3).generate(["SLOW-ONCE"], max_new_tokens=4) == ["echo:SLOW-ONCE"]
    assert server.seen("SLOW-ONCE") == 2
    with pytest.raises(BackendError, match=r"timed out.*timeout 0.3 s.*gave up after 2 attempts"):
        _client(server, timeout=0.3, retries=1).generate(["SLOW"], max_new_tokens=4)
    assert server.seen("SLOW") == 2


@pytest.mark.parametrize("prompt", ["DRIP-HEAD", "DRIP-BODY"])
def test_a_dripping_server_cannot_outlast_the_total_deadline(server: ScriptedServer, prompt: str) -> None:
    # Every byte arrives well within any per-read timeout; only a deadline on the whole request stops it.
    with pytest.raises(BackendError, match=r"timed out \(timeout 1 s for the whole request\)"):
        _client(server, timeout=1.0, retries=0).generate([prompt], max_new_tokens=4)
    entry = next(e for e in server.log if e["prompt"] == prompt)
    assert entry["sent"] < 60 and not entry["answered"]  # the client hung up long before the 12 s drip ended


@pytest.mark.parametrize("prompt", ["HUGE", "HUGE-UNSIZED"])
def test_a_huge_response_is_refused_as_it_streams_in(server: ScriptedServer, prompt: str) -> None:
    with pytest.raises(BackendError, match=r"max_response_bytes=33,554,432 \(not retried\)"):
        _client(server).generate([prompt], max_new_tokens=4)  # the default cap, 32 MiB
    entry = next(e for e in server.log if e["prompt"] == prompt)
    assert server.seen(prompt) == 1 and entry["sent"] < 100_000_000  # stopped far short of the 400 MB body


def test_a_4xx_is_not_retried(server: ScriptedServer) -> None:
    with pytest.raises(BackendError, match=r"HTTP 400: model 'nope' does not exist \(not retried"):
        _client(server).generate(["BAD400"], max_new_tokens=4)
    assert server.seen("BAD400") == 1


def test_malformed_json_and_missing_choices_are_clear_errors(server: ScriptedServer) -> None:
    with pytest.raises(BackendError, match=r"/v1/chat/completions: malformed JSON in the response"):
        _client(server).generate(["BADJSON"], max_new_tokens=4)
    with pytest.raises(BackendError, match=r"/v1/chat/completions: the response's JSON is nested too deeply"):
        _client(server).generate(["DEEPJSON"], max_new_tokens=4)
    with pytest.raises(BackendError, match="the response has no choices"):
        _client(server).generate(["NOCHOICES"], max_new_tokens=4)
    assert server.seen("BADJSON") == 1 and server.seen("NOCHOICES") == 1


def test_connection_refused_is_retried_then_named() -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = OpenAIBackend(f"http://127.0.0.1:{port}", "tiny", retries=1, backoff=lambda a: 0.01)
    with pytest.raises(BackendError, match=r"127.0.0.1:\d+/v1/chat/completions: .*Connection.*gave up after 2"):
        backend.generate(["x"], max_new_tokens=2)


def test_one_failure_still_delivers_the_other_completions(server: ScriptedServer) -> None:
    seen: dict[int, str] = {}
    with pytest.raises(BackendError, match="HTTP 400"):
        _client(server, concurrency=2).generate(["a", "BAD400", "b"], max_new_tokens=2, on_result=seen.__setitem__)
    assert seen.get(0) == "echo:a"


def test_the_cache_answers_repeats_without_requests(server: ScriptedServer, tmp_path: Path) -> None:
    cached = CachedBackend(_client(server), tmp_path / "cache", progress=False)
    assert cached.generate(["x", "y", "x"], max_new_tokens=4) == ["echo:x", "echo:y", "echo:x"]
    assert server.seen("x") == 1  # a duplicate inside one batch is asked once
    assert cached.generate(["y", "x"], max_new_tokens=4) == ["echo:y", "echo:x"]
    assert len(server.log) == 2 and (cached.hits, cached.misses) == (2, 2)
    cached.generate(["x"], max_new_tokens=5)  # other parameters: another request
    assert server.seen("x") == 2
    key = request_key(cached.identity, "y", {"max_new_tokens": 4, "temperature": 0.0, "stop": None})
    entry = json.loads(cached.path(key).read_text())
    assert cached.path(key).parent.name == key[:2] and entry["output"] == "echo:y" and entry["prompt"] == "y"
    cached.path(key).write_text('{"key": "trunc')  # a damaged entry is a miss, then rewritten
    assert cached.generate(["y"], max_new_tokens=4) == ["echo:y"] and server.seen("y") == 2
    assert json.loads(cached.path(key).read_text())["output"] == "echo:y"


RUNNER = """
import sys
from curate.eval.backends import OpenAIBackend
from curate.eval.cache import CachedBackend
backend = CachedBackend(OpenAIBackend(sys.argv[1], "tiny", concurrency=2, timeout=30), sys.argv[2], progress=False)
out = backend.generate([f"item {i}" for i in range(20)], max_new_tokens=16)
assert out == [f"echo:item {i}" for i in range(20)], out
print("done", backend.hits, backend.misses)
"""


def test_a_killed_run_resumes_without_repeating_answered_requests(server: ScriptedServer, tmp_path: Path) -> None:
    script, cache = tmp_path / "run.py", tmp_path / "cache"
    script.write_text(RUNNER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server.answer_limit = 6  # answer six requests, then hold the rest until the client is dead
    proc = subprocess.Popen([sys.executable, str(script), server.url, str(cache)], env=env)
    deadline = time.monotonic() + 30
    while len(list(cache.rglob("*.json"))) < 6 or server.in_flight < 2:
        assert proc.poll() is None and time.monotonic() < deadline, "the first run did not reach the kill point"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    first = server.answered()
    assert len(first) == 6 and len(list(cache.rglob("*.json"))) == 6
    assert not list(cache.rglob("*.tmp"))  # no torn entry left behind
    held = [e["prompt"] for e in server.log if not e["answered"]]  # in flight at the kill: never answered
    assert 1 <= len(held) <= 2
    server.answer_limit = None
    server.gate.set()
    done = subprocess.run([sys.executable, str(script), server.url, str(cache)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["done", "6", "14"]
    answered = server.answered()
    assert sorted(answered) == sorted(f"item {i}" for i in range(20))  # every request answered exactly once
    second_run = [e["prompt"] for e in server.log[len(first) + len(held):]]
    assert not set(second_run) & set(first)  # nothing answered before the kill was sent again


def test_open_backend_picks_the_server_when_a_url_is_given(server: ScriptedServer) -> None:
    from curate.eval.backends import open_backend

    backend = open_backend("tiny", base_url=server.url, endpoint="completions", concurrency=3)
    assert isinstance(backend, OpenAIBackend) and backend.identity == {"kind": "openai-completions", "model": "tiny"}
    assert backend.concurrency == 3 and backend.url == f"{server.url}/v1/completions"
    with pytest.raises(ValueError, match="adapter and task apply to a local model"):
        open_backend("tiny", base_url=server.url, adapter="lora/")

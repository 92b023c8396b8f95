"""Builds whose inputs and outputs live on an S3 API (moto's server mode on loopback): the same bytes as
a local build for the stage-1, 2 and 3 samples; errors and throttling are retried, nothing is lost."""

from __future__ import annotations

import http.client
import http.server
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from curate.core.audit import audit
from tests.conftest import ROOT
from tests.core.conftest import data as _data

pytest.importorskip("moto")
s3fs = pytest.importorskip("s3fs")
BUCKET = "curate-test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Flaky(http.server.ThreadingHTTPServer):
    """A proxy in front of the S3 server that fails requests while ``failing`` is on, up to ``budget`` of
    them: every fourth with a 500, every seventh with a 503 SlowDown (throttling)."""

    daemon_threads = True

    def __init__(self, upstream: int):
        self.upstream, self.count, self.failing, self.failed, self.budget = upstream, 0, False, 0, 40
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def _proxy(self) -> None:
        server: Flaky = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with server.lock:
            server.count += 1
            fail = (server.failing and server.failed < server.budget
                    and (server.count % 4 == 0 or server.count % 7 == 0))
            server.failed += fail
        if fail:
            status, code = (503, "SlowDown") if server.count % 7 == 0 else (500, "InternalError")
            payload = f"<Error><Code>{code}</Code><Message>injected</Message></Error>".encode()
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        conn = http.client.HTTPConnection("127.0.0.1", server.upstream, timeout=60)
        conn.request(self.command, self.path, body=body, headers={k: v for k, v in self.headers.items()})
        resp = conn.getresponse()
        data = resp.read()
        self.send_response(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        conn.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _proxy


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """A moto S3 server and a failing proxy before it, on loopback, stopped by the fixture."""
    port = _free_port()
    tmp = tmp_path_factory.mktemp("s3")
    log = open(tmp / "moto.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen([str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    proxy = Flaky(port)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    env = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.server_address[1]}", "CURATE_CACHE_DIR": str(tmp / "cache")}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        fs = s3fs.S3FileSystem()
        fs.mkdir(BUCKET)
        fs.put(str(ROOT / "samples"), f"{BUCKET}/samples", recursive=True)
        recipes = tmp / "recipes"
        recipes.mkdir()
        for p in (ROOT / "recipes").glob("*.toml"):  # the sample recipes, reading their inputs from the bucket
            (recipes / p.name).write_text(p.read_text().replace('"../samples/', f'"s3://{BUCKET}/samples/'))
        yield {"env": env, "recipes": recipes, "proxy": proxy, "tmp": tmp}
    finally:
        proxy.shutdown()
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        log.close()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _corpus(recipe: Path, out: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "curate", "corpus", str(recipe), "--out", out, "--no-progress",
                           "--workers", "2"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def _download(url: str, local: Path) -> Path:
    shutil.rmtree(local, ignore_errors=True)
    s3fs.S3FileSystem(skip_instance_cache=True).get(url.removeprefix("s3://"), str(local), recursive=True)
    return local


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["stage1", "stage2", "stage3"])
def test_s3_build_is_byte_identical_to_local(s3, local_build, tmp_path, stage):
    remote = _corpus(s3["recipes"] / f"{stage}.toml", f"s3://{BUCKET}/builds")
    assert remote.returncode == 0, remote.stderr
    got = _download(f"s3://{BUCKET}/builds/{stage}", tmp_path / "got")
    assert _data(got) == _data(local_build(stage))
    assert "manifest.json" in os.listdir(got) and any(p.name == ".done" for p in got.rglob(".done"))


@pytest.mark.slow
def test_errors_and_throttling_are_retried(s3, tmp_path):
    proxy: Flaky = s3["proxy"]
    mix = s3["recipes"] / "flaky.toml"
    mix.write_text('name = "flaky"\n[[sources]]\nrecipe = "qa.toml"\n[[sources]]\nrecipe = "articles.toml"\n')
    proxy.failing = True
    try:
        result = _corpus(mix, f"s3://{BUCKET}/flaky")
    finally:
        proxy.failing = False
    assert result.returncode == 0, result.stderr
    assert proxy.failed == proxy.budget  # every injected failure was met, and retried
    got = _download(f"s3://{BUCKET}/flaky/flaky", tmp_path / "got")
    report = audit(got)
    assert report.ok, report.problems
    checked = subprocess.run([sys.executable, "-m", "curate", "audit", f"s3://{BUCKET}/flaky/flaky"],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0 and "balanced" in checked.stdout, checked.stderr

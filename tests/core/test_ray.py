"""The Ray executor on a real two-node cluster on loopback: the same bytes as the local executor for
the stage-1, 2 and 3 sample builds, a worker node killed mid-build, the driver killed then rerun."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.core.conftest import corpus, data

pytest.importorskip("ray")
RAY = Path(sys.executable).with_name("ray")
HOST = "127.0.0.2"  # loopback, but not the literal 127.0.0.1 that Ray swaps for the machine's address


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _node(args: list[str], tmp: Path, name: str) -> subprocess.Popen:
    log = open(tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats", f"--node-ip-address={HOST}",
                             "--num-cpus=1", "--object-store-memory=80000000", *args],
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, "RAY_TMPDIR": str(tmp)})


def _wait_nodes(address: str, n: int, deadline: float) -> None:
    while time.time() < deadline:
        out = subprocess.run([str(RAY), "status", f"--address={address}"], capture_output=True, text=True)
        if out.returncode == 0 and len(re.findall(r"^\s*1 node_", out.stdout, re.M)) >= n:
            return
        time.sleep(1)
    raise RuntimeError(f"the Ray cluster at {address} did not reach {n} nodes")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # `ray start --block` stops its node's processes on SIGTERM
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class Cluster:
    """A head and a second node started by the test, stopped by it (by process group, never by name)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        port = _free_port()
        self.address = f"{HOST}:{port}"
        self.head = _node(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp}",
                           "--ray-client-server-port", str(_free_port())], tmp, "head")
        _wait_nodes(self.address, 1, time.time() + 120)
        self.worker = _node([f"--address={self.address}"], tmp, "worker")
        _wait_nodes(self.address, 2, time.time() + 120)

    def stop(self) -> None:
        for proc in (self.worker, self.head):
            _stop(proc)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("ray"))
    try:
        yield c
    finally:
        c.stop()


def _corpus(recipe: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return corpus(ROOT / "recipes" / recipe, str(out), *extra)


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["stage1", "stage2", "stage3"])
def test_ray_build_is_byte_identical_to_local(cluster, local_build, tmp_path, stage):
    ray = _corpus(f"{stage}.toml", tmp_path / "ray", "--executor", "ray", "--ray-address", cluster.address)
    assert ray.returncode == 0, ray.stderr
    assert data(tmp_path / "ray" / stage) == data(local_build(stage))


@pytest.fixture(scope="module")
def qa_local(tmp_path_factory):
    """A small QA corpus (8 files) and its local build, the reference for the fault tests."""
    from tests.build.test_pipeline import _qa_inputs, _recipe

    tmp = tmp_path_factory.mktemp("qa")
    _qa_inputs(tmp / "inputs", files=8, rows=150)
    recipe = _recipe(tmp, tmp / "inputs")
    assert _corpus(str(recipe), tmp / "local", "--workers", "2").returncode == 0
    return recipe, data(tmp / "local" / "mix")


def _start(recipe: Path, out: Path, address: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "curate", "corpus", str(recipe), "--out", str(out), "--no-progress",
                             "--executor", "ray", "--ray-address", address], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_markers(folder: Path, n: int, proc: subprocess.Popen) -> None:
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        if folder.is_dir() and len(list(folder.glob("*.json"))) >= n:
            return
        time.sleep(0.02)
    raise AssertionError("the build finished (or stalled) before the fault could be injected")


@pytest.mark.slow
def test_driver_killed_then_rerun_resumes(cluster, qa_local, tmp_path):
    recipe, expected = qa_local
    build = _start(recipe, tmp_path / "ray", cluster.address)
    _wait_markers(tmp_path / "ray" / "mix" / "sources" / "qa" / "read" / ".done", 3, build)
    os.killpg(build.pid, signal.SIGKILL)
    build.wait()
    again = _corpus(str(recipe), tmp_path / "ray", "--executor", "ray", "--ray-address", cluster.address)
    assert again.returncode == 0, again.stderr
    ran, done = map(int, re.search(r"tasks: (\d+) run, (\d+) already done", again.stdout).groups())
    assert done >= 3 and ran > 0
    assert data(tmp_path / "ray" / "mix") == expected


@pytest.mark.slow
def test_worker_node_killed_midway(cluster, qa_local, tmp_path):  # last: the cluster keeps one node after it
    recipe, expected = qa_local
    build = _start(recipe, tmp_path / "ray", cluster.address)
    _wait_markers(tmp_path / "ray" / "mix" / "sources" / "qa" / "read" / ".done", 2, build)
    _stop(cluster.worker)  # the second node dies with its tasks in flight; Ray re-runs them on the head
    _, err = build.communicate(timeout=600)
    assert build.returncode == 0, err
    assert data(tmp_path / "ray" / "mix") == expected

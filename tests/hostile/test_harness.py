"""The harness itself can fail: each detector sees what it is there to see."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.hostile import harness
from tests.hostile.builds import BuildOutcome, BuildView
from tests.hostile.canaries import FileCanary, HttpCanary
from tests.hostile.harness import HANG, LOSS, NETWORK, TRACEBACK, UNCLEAR, Run
from tests.hostile.registry import Expect, FileCase, check_file

PY = ("-c",)


def kinds(defects: list) -> set[str]:
    return {d.kind for d in defects}


def test_subprocess_guard_refuses_and_records_connections() -> None:
    canary = HttpCanary()
    script = f"import urllib.request\nurllib.request.urlopen('{canary.url}', timeout=5)"
    run = harness.cli([], python=(*PY, script), timeout=30)
    assert NETWORK in kinds(harness.defects_of_run(run))
    assert canary.hits == 0  # refused before it left the process
    lookup = harness.cli([], python=(*PY, "import socket; socket.getaddrinfo('example.org', 80)"), timeout=30)
    assert any("example.org" in line for line in lookup.net)


def test_in_process_guard_refuses_connections() -> None:
    canary = HttpCanary()
    with harness.no_network() as seen, pytest.raises(OSError):
        urllib.request.urlopen(canary.url, timeout=5)
    assert seen and canary.hits == 0
    with socket.create_connection(("127.0.0.1", int(canary.url.rsplit(":", 1)[1])), timeout=5):
        pass  # outside the guard the canary is reachable, so a miss above means the guard worked
    deadline = time.monotonic() + 5
    while canary.hits == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert canary.hits == 1


def test_hang_and_traceback_are_seen() -> None:
    slow = harness.cli([], python=(*PY, "import time; time.sleep(60)"), timeout=1)
    assert slow.timed_out and HANG in kinds(harness.defects_of_run(slow))
    crash = harness.cli([], python=(*PY, "raise ValueError('boom')"), timeout=30)
    assert TRACEBACK in kinds(harness.defects_of_run(crash))


def test_clear_failure_needs_a_message_naming_the_culprit() -> None:
    def run(code: int, stderr: str) -> Run:
        return Run([], code, "", stderr, 0.1)

    assert harness.failed_clearly(run(1, "Error: recipe x.toml: weight must be a number"), ["weight"]) == []
    assert kinds(harness.failed_clearly(run(1, "Error: could not convert string to float"), ["weight"])) == {UNCLEAR}
    assert kinds(harness.failed_clearly(run(0, ""), ["weight"])) == {UNCLEAR}
    assert harness.failed_clearly(run(0, ""), ["weight"], accept=True) == []


def test_memory_peak_is_measured() -> None:
    run = harness.cli([], python=(*PY, "x = bytearray(300 << 20); x[::4096] = b'1' * len(x[::4096])"), timeout=30)
    assert run.peak_mb > 250
    assert harness.MEMORY in kinds(harness.defects_of_run(run, limit_mb=200))


def test_file_canary_sees_a_read(tmp_path: Path) -> None:
    read = FileCanary(tmp_path / "secret", b"s3cret")
    assert read.path.read_bytes() == b"s3cret"
    assert read.close()
    untouched = FileCanary(tmp_path / "other")
    assert not untouched.close()


def _outcome(tmp_path: Path, records: list[dict], ledger: list[dict]) -> BuildOutcome:
    view = BuildView(tmp_path, "qa", records, ledger)
    return BuildOutcome(Run([], 0, "", "", 0.1), view, True, [])


def test_unit_accounting_sees_a_lost_row(tmp_path: Path) -> None:
    fc = FileCase("qa", "t", lambda f: {}, Expect(units=3, good=("a1", "a3")))
    rec = [{"id": f"qa/f.csv#L{i}", "text": f"Question: a{i}", "meta": {}} for i in (1, 3)]
    assert kinds(check_file(_outcome(tmp_path, rec, []), fc, "f.csv")) == {LOSS}
    row = {"id": "qa/f.csv#L2", "action": "quarantine", "reason": "malformed_record", "detail": "line 2"}
    assert check_file(_outcome(tmp_path, rec, [row]), fc, "f.csv") == []
    whole = {"id": "qa/f.csv", "action": "quarantine", "reason": "binary_file", "detail": "NUL"}
    assert kinds(check_file(_outcome(tmp_path, [], [whole]), fc, "f.csv")) == {LOSS}
    binary = FileCase("qa", "b", lambda f: {}, Expect(whole=True, reason="binary"))
    assert check_file(_outcome(tmp_path, [], [whole]), binary, "f.csv") == []
    assert LOSS in kinds(check_file(_outcome(tmp_path, [], []), binary, "f.csv"))


def test_forbidden_and_secret_text_is_seen(tmp_path: Path) -> None:
    fc = FileCase("qa", "t", lambda f: {}, Expect(forbid=("['",), secret=("S3CRET",)))
    rec = [{"id": "qa/f.jsonl#L1", "text": "Question: ['a', 'b']", "meta": {}}]
    (tmp_path / "manifest.json").write_text(json.dumps({"note": "S3CRET"}))
    assert kinds(check_file(_outcome(tmp_path, rec, []), fc, "f.jsonl")) == {harness.CORRUPT, harness.OUTSIDE}

"""Hostile outputs and processes: read-only or occupied ``--out``, two builds at once, kills, a full disk,
damaged build directories under ``curate audit`` and damaged Megatron files under ``curate inspect``."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import time
from pathlib import Path

from tests.hostile.builds import audited, build
from tests.hostile.cases_text import jsonl
from tests.hostile.harness import (
    HANG,
    LOSS,
    UNCLEAR,
    Defect,
    cli,
    defects_of_run,
    failed_clearly,
    finish,
    invoke,
    spawn,
)
from tests.hostile.registry import Ctx, case

BUILD = ["--no-progress"]


def corpus_input(folder: Path, files: int = 12, lines: int = 1500) -> Path:
    """A QA folder big enough that a build is still running a second after it starts."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in range(files):
        (folder / f"part{f:02d}.jsonl").write_bytes(b"\n".join(jsonl(f"p{f}x", lines)) + b"\n")
    return folder


def _build_args(inputs: Path, out: Path, workers: int = 2) -> list[str]:
    return ["build", "qa", "--input", str(inputs), "--out", str(out), "--workers", str(workers), *BUILD]


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pids: list[int]) -> list[int]:
    import psutil

    return [p for p in pids if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]


def _start_with_workers(args: list[str], want: int = 2, within: float = 60) -> tuple[object, Path, list[int], float]:
    started = time.monotonic()
    proc, logs = spawn(args)
    while time.monotonic() - started < within and proc.poll() is None:
        kids = _children(proc.pid)
        if len(kids) >= want:
            return proc, logs, kids, started
        time.sleep(0.05)
    return proc, logs, _children(proc.pid), started


def _outputs(root: Path) -> set[tuple[str, str]]:
    manifest = json.loads((root / "manifest.json").read_text())
    return {(o["path"], o["sha256"]) for o in manifest["outputs"]}


@case("processes", "sigkill-parent-leaves-no-workers", parallel=True, expensive=True)
def sigkill_parent(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("sigkill-parent")
    proc, logs, workers, started = _start_with_workers(_build_args(corpus_input(root / "in"), root / "out"))
    if not workers:
        finish(proc, logs, [], 5, started)
        return [Defect(UNCLEAR, "the build started no worker processes to test with")]
    os.kill(proc.pid, signal.SIGKILL)  # the parent alone, as the OOM killer or a scheduler does
    deadline = time.monotonic() + 8
    while _alive(workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _alive(workers)
    finish(proc, logs, [], 5, started)  # reaps the parent and kills any stragglers
    return [Defect(HANG, f"{len(left)} worker(s) still running 8 s after the parent was killed")] if left else []


@case("processes", "sigint-stops-cleanly", parallel=True, expensive=True)
def sigint(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("sigint")
    proc, logs, workers, started = _start_with_workers(_build_args(corpus_input(root / "in"), root / "out"))
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground group
    run = finish(proc, logs, ["build", "qa", "(Ctrl-C)"], 20, started, reap_group=False)
    # multiprocessing's resource tracker leaves when it reads the end of its pipe, a moment after the parent
    left, until = _alive(workers), time.monotonic() + 3
    while left and time.monotonic() < until:
        time.sleep(0.1)
        left = _alive(left)
    with_group = [Defect(HANG, f"{len(left)} worker(s) still running after Ctrl-C")] if left else []
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    if run.code == 0:
        return with_group  # it had finished: nothing to stop
    return defects_of_run(run) + with_group


@case("processes", "killed-build-rerun-is-identical", parallel=True, expensive=True)
def killed_rerun(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("killed-rerun")
    reference = _finished(ctx)
    inputs = reference.parents[1] / "in"
    proc, logs, _, started = _start_with_workers(_build_args(inputs, root / "out"))
    os.killpg(proc.pid, signal.SIGKILL)  # mid-build: the workers have just started
    finish(proc, logs, [], 5, started)
    rerun = build("qa", inputs, root / "out")
    found = list(rerun.defects)
    if not found and _outputs(root / "out" / "qa") != _outputs(reference):
        found.append(Defect(LOSS, "the rerun of a killed build differs from a clean build"))
    return found


@case("outputs", "two-builds-on-one-out-at-once", parallel=True, expensive=True)
def two_builds(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("two-builds")
    args = _build_args(_finished(ctx).parents[1] / "in", root / "out")
    started = time.monotonic()
    (a, la), (b, lb) = spawn(args), spawn(args)
    runs = [finish(a, la, args, 120, started), finish(b, lb, args, 120, started)]
    found = [d for r in runs for d in defects_of_run(r)]
    for r in runs:
        if r.code not in (0, None) and not found:
            found += failed_clearly(r, ["out", "lock", "another", "running", "in use"])
    if not found and any(r.code == 0 for r in runs):
        found += audited(root / "out" / "qa")
    return found


@case("outputs", "out-is-a-file")
def out_is_file(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("out-file")
    (root / "occupied").write_text("a file, not a folder\n")
    (root / "q.jsonl").write_bytes(b"\n".join(jsonl("of", 2)) + b"\n")
    return failed_clearly(invoke(["build", "qa", "--input", root / "q.jsonl", "--out", root / "occupied",
                                  "--workers", "1", *BUILD]), ["occupied"])


@case("outputs", "out-read-only", needs="non-root",
      xfail="traceback: a read-only --out raises PermissionError (build/pipeline.py)")
def out_read_only(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("out-ro")
    (root / "q.jsonl").write_bytes(b"\n".join(jsonl("or", 2)) + b"\n")
    (root / "ro").mkdir()
    (root / "ro").chmod(0o555)
    try:
        run = invoke(["build", "qa", "--input", root / "q.jsonl", "--out", root / "ro", "--workers", "1", *BUILD])
    finally:
        (root / "ro").chmod(0o755)
    return failed_clearly(run, ["ro", "permission", "read-only"])


@case("outputs", "out-unknown-url-scheme")
def out_unknown_scheme(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("out-scheme")
    (root / "q.jsonl").write_bytes(b"\n".join(jsonl("os", 2)) + b"\n")
    return failed_clearly(invoke(["build", "qa", "--input", root / "q.jsonl", "--out", "nosuchfs://bucket/x",
                                  "--workers", "1", *BUILD]), ["nosuchfs"])


def _limit_file_size() -> None:  # runs in the child before exec: a disk that fills at 16 KB per file
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16 << 10, 16 << 10))


@case("outputs", "disk-full", parallel=True)
def disk_full(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("disk-full")
    inputs = corpus_input(root / "in", files=1, lines=6000)
    run = cli(_build_args(inputs, root / "out", workers=1), timeout=60, preexec=_limit_file_size)
    return failed_clearly(run, ["too large", "space", "out", "write"])


def _finished(ctx: Ctx) -> Path:
    """A finished QA build (made once), to copy and damage."""
    def make(folder: Path) -> Path:
        outcome = build("qa", corpus_input(folder / "in", files=4, lines=200), folder / "out")
        assert outcome.clean, outcome.defects
        return folder / "out" / "qa"
    return ctx.shared("finished-qa-build", make)  # type: ignore[return-value]


def _copy(ctx: Ctx, name: str) -> Path:
    dest = ctx.tmp(name) / "qa"
    shutil.copytree(_finished(ctx), dest)
    return dest


@case("outputs", "rerun-after-corrupt-done-marker", parallel=True)
def corrupt_marker(ctx: Ctx) -> list[Defect]:
    root = _copy(ctx, "corrupt-marker")
    shutil.copytree(_finished(ctx).parents[1] / "in", root.parent / "in")
    marker = next((root / "sources" / "qa" / "read" / ".done").glob("*.json"))
    marker.write_bytes(b"{not json")
    outcome = build("qa", root.parent / "in", root.parent)
    found = list(outcome.defects)
    if not found and _outputs(root) != _outputs(_finished(ctx)):
        found.append(Defect(LOSS, "the rerun after a damaged marker differs from the first build"))
    return found


@case("outputs", "rerun-after-damaged-shard", parallel=True)
def damaged_shard(ctx: Ctx) -> list[Defect]:
    root = _copy(ctx, "damaged-shard")
    shutil.copytree(_finished(ctx).parents[1] / "in", root.parent / "in")
    shard = next((root / "sources" / "qa" / "read").glob("*.parquet"))
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, new content: the marker's checksum no longer matches
    shard.write_bytes(bytes(data))
    os.utime(shard, ns=(time.time_ns(), time.time_ns()))
    outcome = build("qa", root.parent / "in", root.parent)
    found = list(outcome.defects)
    if not found and _outputs(root) != _outputs(_finished(ctx)):
        found.append(Defect(LOSS, "the rerun after a damaged shard differs from the first build"))
    return found


def _audit_damaged(ctx: Ctx, name: str, damage: str, names: list[str]) -> list[Defect]:
    root = _copy(ctx, name)
    if damage == "flow":
        (root / "flow.json").write_text("{\"qa\": {\"passes\": [")
    elif damage == "ledger":
        ledger = root / "ledger.parquet"
        ledger.write_bytes(ledger.read_bytes()[:100])
    elif damage == "shard":
        next((root / "sources" / "qa" / "apply").glob("*.parquet")).unlink()
    elif damage == "manifest":
        (root / "manifest.json").write_text("")
    return failed_clearly(invoke(["audit", root]), names)


@case("outputs", "audit-truncated-flow-json")
def audit_flow(ctx: Ctx) -> list[Defect]:
    return _audit_damaged(ctx, "audit-flow", "flow", ["flow.json"])


@case("outputs", "audit-truncated-ledger")
def audit_ledger(ctx: Ctx) -> list[Defect]:
    return _audit_damaged(ctx, "audit-ledger", "ledger", ["ledger.parquet"])


@case("outputs", "audit-missing-output-shard")
def audit_shard(ctx: Ctx) -> list[Defect]:
    return _audit_damaged(ctx, "audit-shard", "shard", ["apply", ".parquet"])


@case("outputs", "audit-empty-manifest")
def audit_manifest(ctx: Ctx) -> list[Defect]:
    return _audit_damaged(ctx, "audit-manifest", "manifest", ["manifest.json"])


@case("outputs", "audit-catches-a-removed-record")
def audit_tampered(ctx: Ctx) -> list[Defect]:
    import pyarrow.parquet as pq

    root = _copy(ctx, "audit-tampered")
    shard = next((root / "sources" / "qa" / "apply").glob("*.parquet"))
    table = pq.read_table(shard)
    pq.write_table(table.slice(1), shard)  # one record gone, no ledger row
    run = invoke(["audit", root])
    found = defects_of_run(run)
    if run.code == 0:
        found.append(Defect(LOSS, "curate audit passes a build with a record removed from its output"))
    return found


@case("outputs", "audit-not-a-build")
def audit_not_build(ctx: Ctx) -> list[Defect]:
    return failed_clearly(invoke(["audit", ctx.tmp("empty-dir")]), ["flow.json", "build"])


@case("outputs", "audit-instruction-build", parallel=True)
def audit_instruct(ctx: Ctx) -> list[Defect]:
    from tests.hostile.harness import REPO

    root = ctx.tmp("audit-instruct")
    (root / "i.toml").write_text(f'name = "i"\nkind = "instruct"\nseq_len = 512\n[[sources]]\nname = "medqa"\n'
                                 f'loader = "medqa"\ninputs = ["{REPO}/samples/instruct/medqa/train.jsonl"]\n')
    run = cli(["corpus", root / "i.toml", "--out", root / "out", "--workers", "1", *BUILD], timeout=90)
    return defects_of_run(run) + (audited(root / "out" / "i") if run.code == 0 else
                                  [Defect(UNCLEAR, f"the instruction build failed: {run.error_line()}")])


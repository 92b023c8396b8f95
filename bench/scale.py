"""Scale of a stage-1 build: wall time per step, peak memory of the largest process, corpus rewrites.

    python bench/scale.py --docs 250000 500000 1000000 2000000 [--workers N] [--executor ray --ray-address A]
    python bench/scale.py --near-only --docs 10000000
    python bench/scale.py --near-only --docs 1000000 --executor ray   # a 2-node loopback cluster of its own

Generates stage-1 data: PubMed-style abstracts (JSON lines through the ``documents`` reader) and QA
pairs (``qa`` reader), two to one, with about 10% planted near-duplicates (a copy with one to three
words changed) and 1% exact copies, in files of 50,000 records (copies planted within a file), from
the English words of the bundled samples. Then runs ``curate corpus`` on a
recipe with clean, quality thresholds, exact and MinHash near dedup (256 permutations, threshold
0.8, the stage-1 settings), decontamination against the sample PubMedQA and MedQA files, and
tokenization with the bundled tokenizer. ``--near-only`` runs ``curate dedup`` (exact and near
dedup alone) instead.

Prints one JSON line per size: documents, wall seconds, seconds per step, microseconds per
document (wall, and CPU of the build's processes), peak RSS of the largest single process (sampled
every 0.2 s over the build and all its workers, Ray's included) and per pass, the passes that wrote
the corpus and their bytes, what was dropped, and the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
def _vocab(rng: np.random.Generator) -> np.ndarray:
    """The English words of the bundled samples (abstracts, QA, exams), so that tokenization, quality
    signals and shingles see real word forms; common words come often, as in real text."""
    import re

    words: dict[str, int] = {}
    for path in (ROOT / "samples").rglob("*"):
        if path.suffix in (".jsonl", ".json", ".xml", ".txt", ".md", ".csv") and path.stat().st_size < 5_000_000:
            for w in re.findall(r"[A-Za-z][a-z]{1,14}", path.read_text(encoding="utf-8", errors="ignore")):
                words[w.lower()] = words.get(w.lower(), 0) + 1
    ranked = sorted(words, key=lambda w: (-words[w], w))
    weights = 1.0 / np.arange(1, len(ranked) + 1)  # Zipf
    return rng.choice(np.array(ranked), size=200_000, p=weights / weights.sum())


def _texts(rng: np.random.Generator, vocab: np.ndarray, n: int, low: int, high: int) -> list[str]:
    """``n`` texts of ``low`` to ``high`` words, drawn in chunks (word arrays of the whole corpus would
    not fit in memory at 10M documents)."""
    out: list[str] = []
    for start in range(0, n, 10_000):
        lengths = rng.integers(low, high, min(10_000, n - start))
        flat = vocab[rng.integers(0, len(vocab), int(lengths.sum()))].tolist()
        at = 0
        for k in lengths:
            out.append(" ".join(flat[at:at + k]))
            at += k
    return out


def _plant(rng: np.random.Generator, texts: list[str]) -> int:
    """Replace about 10% of texts by near copies of another text and 1% by exact copies."""
    n = len(texts)
    planted = 0
    for i in np.flatnonzero(rng.random(n) < 0.11):
        src = int(rng.integers(0, n))
        if src == i:
            continue
        words = texts[src].split()
        if rng.random() < 0.9:
            for j in rng.choice(len(words), int(rng.integers(1, 4)), replace=False):
                words[j] = "variant"
        texts[i] = " ".join(words)
        planted += 1
    return planted


def _open(path: Path, gz: bool):
    return gzip.open(path.with_suffix(".jsonl.gz"), "wt", compresslevel=1) if gz else open(path, "w")


def generate(n: int, directory: Path, seed: int = 0, per_file: int = 50_000, qa_share: float = 1 / 3,
             gz: bool = False) -> dict:
    """Write ``n`` records (abstracts, and ``qa_share`` QA pairs) as JSON-lines files (gzipped with ``gz``), one
    file at a time (near copies are planted within a file); returns counts."""
    rng = np.random.default_rng(seed)
    vocab = _vocab(rng)
    n_abs = n - int(n * qa_share)
    (directory / "abstracts").mkdir(parents=True)
    (directory / "qa").mkdir()
    planted = 0
    for f, start in enumerate(range(0, n_abs, per_file)):
        texts = _texts(rng, vocab, min(per_file, n_abs - start), 120, 260)
        planted += _plant(rng, texts)
        with _open(directory / "abstracts" / f"part{f:04d}.jsonl", gz) as out:
            for i, t in enumerate(texts, start):
                out.write(json.dumps({"id": f"pmid{i}", "text": f"BACKGROUND: {t}.", "lang": "en"}) + "\n")
    for f, start in enumerate(range(0, n - n_abs, per_file)):
        texts = _texts(rng, vocab, min(per_file, n - n_abs - start), 40, 90)
        planted += _plant(rng, texts)
        with _open(directory / "qa" / f"part{f:04d}.jsonl", gz) as out:
            for t in texts:
                words = t.split()
                q, a = " ".join(words[:len(words) // 3]), " ".join(words[len(words) // 3:])
                out.write(json.dumps({"question": f"What about {q}?", "answer": f"Answer: {a}."}) + "\n")
    return {"documents": n, "planted": planted}


def recipe(directory: Path) -> Path:
    """The stage-1-like recipe over the generated files."""
    samples = ROOT / "samples" / "eval"
    (directory / "abstracts.toml").write_text(
        f'name = "abstracts"\nreader = "documents"\ninputs = ["{directory / "abstracts"}"]\n'
        "[quality]\nmin_chars = 200\nmax_symbol_ratio = 0.2\n")
    (directory / "qa.toml").write_text(
        f'name = "qa"\nreader = "qa"\ninputs = ["{directory / "qa"}"]\n[quality]\nmin_chars = 40\n')
    (directory / "scale.toml").write_text(f"""name = "scale"
seed = 1
tokenizer = "bundled"
shard_records = 50000
[near_dedup]
verify = "estimate"
[near_dedup.minhash]
threshold = 0.8
num_perm = 256
ngram = 5
false_positive_weight = 0.1
false_negative_weight = 0.9
[decontam]
[[decontam.benchmarks]]
name = "pubmedqa"
loader = "pubmedqa"
path = "{samples / 'pubmedqa_sample.json'}"
ids = "{samples / 'pubmedqa_test_ids.json'}"
[[decontam.benchmarks]]
name = "medqa"
loader = "medqa"
path = "{samples / 'medqa_sample.jsonl'}"
[[sources]]
recipe = "abstracts.toml"
[[sources]]
recipe = "qa.toml"
""")
    return directory / "scale.toml"


class PeakRSS:
    """Largest resident set of any one process in a tree (and of Ray's workers), sampled every 0.2 s; the
    samples (time, the build's own process, the largest other one) are kept for per-pass figures."""

    def __init__(self, pid: int, extra: str | None = None):
        import psutil

        self.psutil = psutil
        self.root = psutil.Process(pid)
        self.extra = extra  # a substring of other processes' command lines to watch (Ray workers)
        self.peak = 0
        self.peak_name = ""
        self.samples: list[tuple[float, int, int]] = []  # (time, driver rss, largest other rss)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _procs(self) -> list:
        procs = [self.root]
        with contextlib.suppress(self.psutil.Error):
            procs += self.root.children(recursive=True)
        if self.extra:
            for p in self.psutil.process_iter(["cmdline"]):
                if self.extra in " ".join(p.info["cmdline"] or []):
                    procs.append(p)
        return procs

    def _run(self) -> None:
        while not self._stop.is_set():
            driver = other = 0
            for p in self._procs():
                try:
                    rss = p.memory_info().rss
                    if rss > self.peak:
                        self.peak, self.peak_name = rss, " ".join(p.cmdline()[:4])[:80]
                except self.psutil.Error:
                    continue
                if p.pid == self.root.pid:
                    driver = rss
                else:
                    other = max(other, rss)
            self.samples.append((time.time(), driver, other))
            time.sleep(0.2)

    def stop(self) -> tuple[int, str]:
        self._stop.set()
        self._thread.join()
        return self.peak, self.peak_name

    def per_pass(self, passes: list[dict]) -> list[dict]:
        """Peak RSS (MB) of the driver and of the largest other process within each pass of ``passes``
        (``desc, start, end``), and after the last one (ledger, manifest, report)."""
        spans = [(p["desc"], p["start"], p["end"]) for p in passes]
        if passes:
            spans.append(("(after the passes)", passes[-1]["end"], float("inf")))
        out = []
        for desc, start, end in spans:
            inside = [(d, o) for t, d, o in self.samples if start <= t <= end + 0.25]  # a short pass: the next sample
            if inside:
                out.append({"pass": desc, "s": round(min(end, self.samples[-1][0]) - start, 1),
                            "driver_mb": round(max(d for d, _ in inside) / 2**20),
                            "worker_mb": round(max(o for _, o in inside) / 2**20)})
        return out


# Runs the command line with ``Executor.run`` timed: one JSON line per task list (desc, start, end) to the file
# named by the first argument, so that the sampler's figures can be told per pass.
TRACED = """import json, sys, time
from curate.core import executor
log, sys.argv = sys.argv[1], ["curate", *sys.argv[2:]]
plain = executor.Executor.run
def run(self, tasks, desc, unit="shard"):
    start = time.time()
    try:
        return plain(self, tasks, desc, unit)
    finally:
        with open(log, "a") as f:
            f.write(json.dumps({"desc": desc, "tasks": len(tasks), "start": start, "end": time.time()}) + "\\n")
executor.Executor.run = run
from curate.cli import main
main()
"""


class LoopbackCluster:
    """A Ray head and a second node on loopback (one CPU each), started and stopped by the bench (by process
    group, never by name)."""

    HOST = "127.0.0.2"  # loopback, but not the literal 127.0.0.1 that Ray swaps for the machine's address

    def __init__(self, tmp: Path):
        import socket

        self.tmp = tmp
        tmp.mkdir(parents=True, exist_ok=True)
        with socket.socket() as a, socket.socket() as b:
            a.bind((self.HOST, 0))
            b.bind((self.HOST, 0))
            port, client = a.getsockname()[1], b.getsockname()[1]
        self.address = f"{self.HOST}:{port}"
        self.nodes = [self._node(["--head", f"--port={port}", "--include-dashboard=false", f"--temp-dir={tmp}",
                                  "--ray-client-server-port", str(client)], "head")]
        self._wait(1)
        self.nodes.append(self._node([f"--address={self.address}"], "worker"))
        self._wait(2)

    def _node(self, args: list[str], name: str) -> subprocess.Popen:
        ray = Path(sys.executable).with_name("ray")
        log = open(self.tmp / f"{name}.log", "w")  # noqa: SIM115 - closed with the process
        cmd = [str(ray), "start", "--block", "--disable-usage-stats", f"--node-ip-address={self.HOST}", "--num-cpus=1",
               "--object-store-memory=200000000", *args]
        return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                env={**os.environ, "RAY_TMPDIR": str(self.tmp)})

    def _wait(self, n: int) -> None:
        ray = Path(sys.executable).with_name("ray")
        deadline = time.time() + 180
        while time.time() < deadline:
            out = subprocess.run([str(ray), "status", f"--address={self.address}"], capture_output=True, text=True)
            if out.returncode == 0 and len(re.findall(r"^\s*1 node_", out.stdout, re.M)) >= n:
                return
            time.sleep(1)
        self.stop()
        raise SystemExit(f"the Ray cluster at {self.address} did not reach {n} nodes")

    def stop(self) -> None:
        import signal

        for proc in reversed(self.nodes):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def _cpu() -> float:
    """CPU seconds (user and system) of every finished child process and its reaped descendants (a local
    build's workers; not a Ray cluster's): less sensitive than wall time to a machine shared with others."""
    import resource

    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run(n: int, work: Path, args: argparse.Namespace) -> dict:
    data = work / f"data{n}"
    t0 = time.perf_counter()
    gen = generate(n, data, qa_share=0.0 if args.near_only else 1 / 3, gz=args.gzip)
    gen_s = time.perf_counter() - t0
    out = work / f"out{n}"
    trace = work / f"passes{n}.jsonl"
    trace.unlink(missing_ok=True)
    python = [sys.executable, "-c", TRACED, str(trace)]
    if args.near_only:
        cmd = [*python, "dedup", str(data / "abstracts"), "--out", str(out),
               "--name", "scale", "--no-progress", "--num-perm", "256", "--threshold", "0.8"]
    else:
        cmd = [*python, "corpus", str(recipe(data)), "--out", str(out), "--no-progress"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    if args.executor == "ray":
        cmd += ["--executor", "ray", "--ray-address", args.ray_address]
    start = time.perf_counter()
    load_before = os.getloadavg()[0]
    cpu_before = _cpu()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watch = PeakRSS(proc.pid, "ray::" if args.executor == "ray" else None)
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - start
    cpu = _cpu() - cpu_before
    peak, who = watch.stop()
    if proc.returncode:
        raise SystemExit(f"build failed:\n{stderr[-3000:]}")
    steps = dict(re.findall(r"([\w:_ ]+?) ([\d.]+)s", stdout.split("time:")[-1]))
    build = out / "scale"
    flow = json.loads((build / "flow.json").read_text())
    passes: dict[str, int] = {}
    for f in flow.values():
        for p in f["passes"]:
            passes[p["pass"]] = passes.get(p["pass"], 0) + sum((build / s).stat().st_size for s in p["shards"])
    manifest = json.loads((build / "manifest.json").read_text())
    result = {"documents": n, "planted": gen["planted"], "generate_s": round(gen_s, 1), "wall_s": round(wall, 1),
              "us_per_doc": round(wall / n * 1e6, 1), "cpu_s": round(cpu, 1),
              "cpu_us_per_doc": round(cpu / n * 1e6, 1), "peak_rss_mb": round(peak / 2**20), "peak_process": who,
              "rewrites": len(passes), "pass_bytes": passes, "steps_s": {k.strip(): float(v) for k, v in steps.items()},
              "drops": manifest["drops"], "executor": args.executor,
              "load": [round(load_before, 1), round(os.getloadavg()[0], 1)],
              "passes": watch.per_pass([json.loads(line) for line in trace.read_text().splitlines()])}
    if not args.keep:
        shutil.rmtree(data)
        shutil.rmtree(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, nargs="+", default=[250_000, 500_000, 1_000_000, 2_000_000])
    parser.add_argument("--near-only", action="store_true", help="curate dedup (exact + near) instead of a build")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--executor", choices=["local", "ray"], default="local")
    parser.add_argument("--ray-address", default=None,
                        help="a running cluster [default with --executor ray: a head and a second node on loopback]")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory [default: a temp dir]")
    parser.add_argument("--keep", action="store_true", help="keep the generated data and builds")
    parser.add_argument("--gzip", action="store_true", help="gzip the generated inputs (a third of the disk)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="curate-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cluster = None
    if args.executor == "ray" and not args.ray_address:  # a two-node cluster on loopback, for this run only
        cluster = LoopbackCluster(work / "ray")
        args.ray_address = cluster.address
    try:
        for n in args.docs:
            print(json.dumps(run(n, work, args)), flush=True)
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()

"""Near dedup against datatrove's MinHash pipeline: wall time, precision and recall on the labelled pairs.

    python bench/neardup_vs_datatrove.py --datatrove /path/to/venv/bin/python [--pairs 2000] [--runs 3]

The documents are ``bench/neardup_eval.py``'s (``tests/dedup/neardup_set.py``): ``--pairs`` base
documents, half English and half Chinese, each with one copy mutated down to a Jaccard similarity
of 1.0 ... 0.3 on 5-token shingles; a pair is a positive when it reaches 0.8. They are shuffled into
two JSONL files (ids ``b<i>`` and ``c<i>``) that every variant reads, end to end, in a subprocess:

- ``curate``: ``curate dedup IN --no-exact --workers W`` (near dedup alone, its defaults: 256
  permutations, 23 bands x 11 rows, 5-token shingles with CJK characters as tokens, threshold 0.8,
  candidates verified on the signature estimate);
- ``dt-default``: datatrove's MinhashConfig defaults (5-grams, 14 buckets x 8 hashes) and its
  default word tokenizer (English, spaCy);
- ``dt-matched``: datatrove with curate's bands and rows (5-grams, 23 x 11), English tokenizer;
- ``dt-cmn``: the same with datatrove's Mandarin tokenizer (``cmn``: spaCy zh with jieba words),
  the setting of datatrove's that sees Chinese words, on all documents.

datatrove runs in its own environment (``--datatrove PYTHON``, or ``$DATATROVE_PYTHON``), through
``bench/datatrove_minhash.py``: its four stages with ``LocalPipelineExecutor``, W workers, W tasks
for signatures and filter (one per input file), one per bucket, one for clusters. Without a python
that has datatrove, only curate runs. Variants alternate within each repeat (``--runs``); the table
gives medians, ratios of medians (datatrove / curate: how many times curate's speed) and the load.
"Steps" is the near-dedup work alone: curate's build times without its read pass (prepare: the
signatures; the near-dedup reduce phases; apply), datatrove's four stages (without interpreter start).

Side environment: ``python3.11 -m venv dt-venv && dt-venv/bin/pip install
"datatrove[processing,io]==0.10.1" spacy jieba``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from curate.dedup import minhash  # noqa: E402
from tests.dedup.neardup_set import Pair, evaluate, make_pairs  # noqa: E402

DRIVER = ROOT / "bench" / "datatrove_minhash.py"
THRESHOLD = minhash.MinHashConfig().threshold
NEEDS = "datatrove.pipeline.dedup.minhash, datatrove.pipeline.readers, xxhash, spacy, regex, orjson"
SETUP = 'python3.11 -m venv dt-venv && dt-venv/bin/pip install "datatrove[processing,io]==0.10.1" spacy jieba'


def variants() -> dict[str, dict | None]:
    """Variant name -> datatrove settings (None: curate)."""
    bands, rows = minhash.bands_rows(minhash.MinHashConfig())
    ngram = minhash.MinHashConfig().ngram
    return {"curate": None,
            "dt-default": {"buckets": 14, "rows": 8, "ngram": 5, "language": "eng"},
            "dt-matched": {"buckets": bands, "rows": rows, "ngram": ngram, "language": "eng"},
            "dt-cmn": {"buckets": bands, "rows": rows, "ngram": ngram, "language": "cmn"}}


def _side_version(python: str, modules: str) -> tuple[str | None, str]:
    """datatrove's version in ``python`` if ``modules`` import there, else None and the last error line."""
    code = f"import importlib.metadata as m, {modules}; print(m.version('datatrove'))"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, str(exc)
    if done.returncode != 0:
        return None, (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
    return done.stdout.strip(), ""


def side_check(python: str | None, names: list[str]) -> tuple[list[str], str]:
    """The datatrove variants among ``names`` that ``python`` can run, and a line saying why or why not."""
    asked = [n for n in names if n != "curate"]
    if not asked:
        return [], "datatrove: no datatrove variant asked for"
    if not python:
        return [], f"datatrove: skipped (no --datatrove PYTHON, no $DATATROVE_PYTHON); side environment: {SETUP}"
    version, error = _side_version(python, NEEDS)
    if version is None:
        return [], f"datatrove: skipped ({python}: {error}); side environment: {SETUP}"
    line = f"datatrove {version} ({python})"
    if "dt-cmn" in asked and _side_version(python, NEEDS + ", jieba")[0] is None:
        asked.remove("dt-cmn")
        line += "; dt-cmn skipped (no jieba there)"
    return asked, line


def write_corpus(pairs: list[Pair], folder: Path, files: int, seed: int) -> int:
    """Every base and copy as JSONL lines, shuffled into ``files`` files; returns the bytes written."""
    docs = [{"id": f"{kind}{p.family}", "text": text} for kind in "bc" for p in pairs
            for text in [p.base if kind == "b" else p.copy]]
    random.Random(seed).shuffle(docs)
    folder.mkdir(parents=True)
    for i in range(files):
        with open(folder / f"part-{i}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(d, ensure_ascii=False) + "\n" for d in docs[i::files])
    return sum(p.stat().st_size for p in folder.iterdir())


def _curate_drops(root: Path) -> dict[str, str]:
    import polars as pl

    ledger = pl.read_parquet(root / "ledger.parquet").filter(pl.col("reason") == "near_duplicate")
    return {i: re.match(r"duplicate_of=(\S+)", d).group(1) for i, d in ledger.select("id", "detail").iter_rows()}


def run_curate(corpus: Path, work: Path, workers: int) -> dict:
    """``curate dedup`` with near dedup only: wall, its step times, and the drops from its ledger."""
    cmd = [sys.executable, "-m", "curate", "dedup", str(corpus), "--out", str(work), "--name", "dedup",
           "--no-exact", "--workers", str(workers), "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"curate dedup failed ({done.returncode}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    line = next(x for x in done.stdout.splitlines() if x.strip().startswith("time:"))
    stages = {k.strip(): float(v) for k, v in re.findall(r"([^,:][^,]*?) ([\d.]+)s(?=,|$)", line.split("time:", 1)[1])}
    steps = sum(v for k, v in stages.items() if not k.startswith("read"))
    return {"wall": wall, "steps": steps, "stages": stages, "drops": _curate_drops(work / "dedup")}


def run_datatrove(python: str, corpus: Path, work: Path, workers: int, files: int, settings: dict) -> dict:
    """The datatrove driver in the side environment: wall, its four stage times and the drops."""
    result = work / "result.json"
    cmd = [python, str(DRIVER), str(corpus), str(work / "dt"), "--tasks", str(files), "--workers", str(workers),
           "--result", str(result), *[a for k, v in settings.items() for a in (f"--{k}", str(v))]]
    work.mkdir(parents=True)
    with open(work / "log.txt", "w", encoding="utf-8") as log:
        start = time.perf_counter()
        code = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=work).returncode
        wall = time.perf_counter() - start
    if code != 0:
        tail = (work / "log.txt").read_text(encoding="utf-8", errors="replace")[-2000:]
        raise SystemExit(f"datatrove driver failed ({code}): {' '.join(cmd)}\n{tail}")
    out = json.loads(result.read_text(encoding="utf-8"))
    return {"wall": wall, "steps": sum(out["stages"].values()), "stages": out["stages"], "drops": out["drops"]}


def scores(pairs: list[Pair], drops: dict[str, str]) -> dict[str, dict]:
    """Precision and recall against the labelled pairs, per language and over all."""
    result = {}
    for lang in ("en", "zh", "all"):
        subset = [p for p in pairs if lang in ("all", p.lang)]
        families = {p.family for p in subset}
        mine = {d: k for d, k in drops.items() if int(d[1:]) in families}
        result[lang] = evaluate(subset, mine, THRESHOLD)
    return result


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(results: dict[str, list[dict]], pairs: list[Pair], loads: list[float]) -> None:
    """The table: medians, ratios of medians against curate, precision and recall."""
    base = results.get("curate")
    print(f"\nload average (1 min) during the runs: {min(loads):.1f} - {max(loads):.1f} on {os.cpu_count()} CPUs")
    print("| variant | end to end s | datatrove / curate | steps s | datatrove / curate | "
          "precision | recall en / zh / all |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, runs in results.items():
        wall, steps = _median(runs, "wall"), _median(runs, "steps")
        ratio = (f"{wall / _median(base, 'wall'):.1f}x", f"{steps / _median(base, 'steps'):.1f}x") if base else ("", "")
        s = scores(pairs, runs[0]["drops"])
        same = all(r["drops"] == runs[0]["drops"] for r in runs)
        print(f"| {name} | {wall:.1f} | {ratio[0] if name != 'curate' else '1.0x'} | {steps:.1f} | "
              f"{ratio[1] if name != 'curate' else '1.0x'} | {s['all']['precision']:.3f} | "
              f"{s['en']['recall']:.3f} / {s['zh']['recall']:.3f} / {s['all']['recall']:.3f} |"
              + ("" if same else " (drops differ between runs)"))
    print("\nstage medians (s):")
    for name, runs in results.items():
        keys = list(dict.fromkeys(k for r in runs for k in r["stages"]))
        cells = ", ".join(f"{k} {statistics.median(r['stages'].get(k, 0.0) for r in runs):.2f}" for k in keys)
        print(f"  {name}: {cells}")
    for name, runs in results.items():
        s = scores(pairs, runs[0]["drops"])["all"]
        print(f"  {name}: {s['true_positives']} of {s['positives']} positives found, {s['false_positives']} false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datatrove", default=os.environ.get("DATATROVE_PYTHON"),
                        help="python of an environment with datatrove [default: $DATATROVE_PYTHON; none: curate only]")
    parser.add_argument("--pairs", type=int, default=2000, help="labelled pairs (documents: twice this)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--runs", type=int, default=3, help="repeats; the variants alternate within each")
    parser.add_argument("--workers", type=int, default=2, help="curate workers; datatrove workers and tasks")
    parser.add_argument("--variants", default=",".join(variants()),
                        help="comma-separated, of: " + ", ".join(variants()))
    args = parser.parse_args()
    table = variants()
    names = [n.strip() for n in args.variants.split(",") if n.strip()]
    unknown = [n for n in names if n not in table]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(table)}")
    runnable, line = side_check(args.datatrove, [n for n in names if n != "curate"])
    print(line)
    names = [n for n in names if n == "curate" or n in runnable]
    start = time.perf_counter()
    pairs = make_pairs(args.pairs, args.seed)
    work = Path(tempfile.mkdtemp(prefix="curate-vs-datatrove-"))
    try:
        size = write_corpus(pairs, work / "in", args.workers, args.seed)
        print(f"{2 * len(pairs):,} documents ({size / 1e6:.1f} MB, {args.workers} JSONL files) "
              f"in {time.perf_counter() - start:.0f} s; variants: {', '.join(names)}")
        results: dict[str, list[dict]] = {n: [] for n in names}
        loads = []
        for run in range(args.runs):
            for name in names[run % len(names):] + names[:run % len(names)]:  # rotate who goes first
                loads.append(os.getloadavg()[0])
                out = work / f"{name}-{run}"
                r = (run_curate(work / "in", out, args.workers) if table[name] is None else
                     run_datatrove(args.datatrove, work / "in", out, args.workers, args.workers, table[name]))
                results[name].append(r)
                print(f"run {run + 1} {name}: {r['wall']:.1f} s end to end, steps {r['steps']:.1f} s, "
                      f"{len(r['drops'])} dropped (load {loads[-1]:.1f})", flush=True)
                shutil.rmtree(out, ignore_errors=True)
        loads.append(os.getloadavg()[0])
        report(results, pairs, loads)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

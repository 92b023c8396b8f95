"""Peak memory of a build over files with one huge line (or one huge element), per reader and format.

    python bench/huge_line_memory.py [--mb 50] [--work DIR]

Each case is a file of ``--mb`` MB on a single line (plus a few good records around it), built by
``curate build <reader>`` in a fresh process tree (``--workers 2``). The peak is the largest resident
set of the build and its workers (``getrusage(RUSAGE_CHILDREN)`` of a wrapper process that runs only
the build). It prints, per case: peak RSS, the ledger reasons, and whether ``curate audit`` balances
(input units = records + ledgered units). The goal: under 1 GB, the huge line ledgered, the rest read.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
WRAP = """
import resource, subprocess, sys
proc = subprocess.run(sys.argv[1:], capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, proc.returncode)
sys.stderr.write(proc.stderr.decode(errors="replace")[-2000:])
"""


def _qa(n: int, k: int) -> bytes:
    return json.dumps({"question": f"What treats case {k}?", "answer": f"Rest and fluids for case {k}."}).encode()


def cases(folder: Path, mb: int) -> list[tuple[str, str, Path]]:
    """(name, reader, input file) of each case, written into ``folder``."""
    body = b"x" * (mb << 20)
    made = []

    def put(name: str, reader: str, data: bytes) -> None:
        path = folder / name
        path.write_bytes(data)
        made.append((name, reader, path))

    good = b"\n".join(_qa(0, k) for k in (2, 3)) + b"\n"
    put("qa-single-line.jsonl", "qa", b'{"question": "Huge?", "answer": "' + body + b'"}\n' + good)
    put("qa-utf16.jsonl", "qa", ('{"question": "Huge?", "answer": "' + "x" * (mb << 20) + '"}\n'
                                 + good.decode()).encode("utf-16"))
    put("qa-document.json", "qa", b'[{"question": "Huge?", "answer": "' + body + b'"}]')
    put("article-single-line.txt", "articles", b"Huge article " + body)
    abstract = b"<Abstract><AbstractText>" + body + b"</AbstractText></Abstract>"
    article = (b'<PubmedArticle><MedlineCitation><PMID Version="1">%d</PMID><Article><ArticleTitle>T</ArticleTitle>'
               b"%s</Article></MedlineCitation></PubmedArticle>")
    put("pubmed-single-line.xml", "articles", b"<PubmedArticleSet>" + article % (1, abstract)
        + article % (2, b"<Abstract><AbstractText>Fine.</AbstractText></Abstract>") + b"</PubmedArticleSet>")
    return made


def run(name: str, reader: str, path: Path, out: Path) -> dict:
    """Build one case; its peak RSS, ledger reasons and audit result."""
    cmd = [sys.executable, "-m", "curate.cli", "build", reader, "--input", str(path), "--out", str(out),
           "--workers", "2", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", WRAP, *cmd], capture_output=True, text=True, env=env)
    peak_kb, rc = map(int, proc.stdout.split()[-2:])
    ledger = out / reader / "ledger.parquet"
    reasons = sorted(set(pq.read_table(ledger).column("reason").to_pylist())) if ledger.is_file() else []
    audit = subprocess.run([sys.executable, "-m", "curate.cli", "audit", str(out / reader)], capture_output=True,
                           text=True, env=env)
    return {"case": name, "peak_mb": peak_kb / 1024, "build_rc": rc, "reasons": reasons,
            "audit": "ok" if audit.returncode == 0 else audit.stdout[-300:] + proc.stderr[-300:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="huge_line-"))
    (work / "in").mkdir(parents=True, exist_ok=True)
    print(f"load average {os.getloadavg()[0]:.1f}\n")
    print("| case | peak RSS MB | build exit | ledger reasons | audit |\n|---|---:|---:|---|---|")
    for name, reader, path in cases(work / "in", args.mb):
        got = run(name, reader, path, work / "out" / name)
        print(f"| {got['case']} | {got['peak_mb']:,.0f} | {got['build_rc']} | {', '.join(got['reasons'])} | "
              f"{got['audit']} |", flush=True)
        path.unlink()


if __name__ == "__main__":
    main()

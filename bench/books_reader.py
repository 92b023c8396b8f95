"""The books reader alone, per page: pages/s in one process, against raw ``page.get_text()``.

    python bench/books_reader.py [--books 0] [--pages 40] [--runs 6] [--inner 2] [--against DIR ...]
                                 [--profile 25]

The files are the mix of ``books_throughput.py`` (``../shared/realdata``'s 417-page and 36-page
textbooks and its three papers, 476 pages) or, with ``--books N``, N generated books of about
``--pages`` pages. Each run is a fresh process that imports the reader, reads every file once to warm
up (word list, caches), then times ``--inner`` reads of all of them (``books.read_whole``, as the build
reads a book: layout, tables, glyph map, sections) and one raw ``get_text()`` pass: wall seconds and
CPU seconds (user + system). CPU time is the steadier figure on a shared machine.

``--against`` names other checkouts of curate (another branch's worktree): their runs alternate with
this checkout's, and each run also hashes every record, statistic and ledger row the reader gave, so
that a speed change that changes the output shows. ``--profile N`` prints cProfile's top N functions
(own time) of one read in this checkout.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read_all(files: list[Path]) -> tuple[int, str]:
    """Pages read and a hash of every record, statistic and ledger row of the books reader."""
    from curate.core.ledger import Ledger
    from curate.readers import FileRef, books

    cfg, pages, digest = books.Config(), 0, hashlib.sha256()
    for f in files:
        ledger = Ledger("books", "read")
        gen = books.read_whole(FileRef(f, f.name, "books"), cfg, ledger)
        try:
            while True:
                digest.update(json.dumps(next(gen), ensure_ascii=False, sort_keys=True).encode())
        except StopIteration as stop:
            pages += stop.value["pages"]
            digest.update(json.dumps(stop.value, sort_keys=True).encode())
        for row in ledger.rows:
            digest.update(json.dumps(list(row), ensure_ascii=False, default=str).encode())
    return pages, digest.hexdigest()


def _child(folder: str, inner: int) -> None:
    """One run in this process: a warm-up read, ``inner`` timed reads, one raw pass (JSON on stdout)."""
    from curate.readers.pdf import pymupdf

    files = sorted(Path(folder).glob("*.pdf"))
    pages, digest = read_all(files)
    runs = []
    for _ in range(inner):
        cpu, wall = _cpu(), time.perf_counter()
        assert read_all(files)[0] == pages
        runs.append((time.perf_counter() - wall, _cpu() - cpu))
    cpu, wall = _cpu(), time.perf_counter()
    for f in files:
        with pymupdf.open(f) as doc:
            for page in doc:
                page.get_text()
    raw = (time.perf_counter() - wall, _cpu() - cpu)
    print(json.dumps({"pages": pages, "digest": digest, "runs": runs, "raw": raw}))


def run(root: Path, folder: Path, inner: int) -> dict:
    """One child run with the curate of checkout ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", str(folder), str(inner)], cwd=root, env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def compare(folder: Path, roots: list[Path], runs: int, inner: int) -> None:
    """Alternate the checkouts' runs; print medians of wall and CPU pages/s and the ratio to raw."""
    results: dict[Path, list[dict]] = {r: [] for r in roots}
    for i in range(runs):
        for root in roots if i % 2 == 0 else roots[::-1]:
            results[root].append(run(root, folder, inner))
    print(f"{folder.name}: {results[roots[0]][0]['pages']:,} pages; {runs} runs of {inner} reads each, alternating"
          f" (load average {os.getloadavg()[0]:.1f})")
    first = None
    for root, rs in results.items():
        pages = rs[0]["pages"]
        wall = statistics.median(w for r in rs for w, _ in r["runs"])
        cpu = statistics.median(c for r in rs for _, c in r["runs"])
        raw_cpu = statistics.median(r["raw"][1] for r in rs)
        digests = {r["digest"] for r in rs}
        first = first or (cpu, digests)
        same = "" if root == roots[0] else ("  output identical" if digests == first[1] else "  OUTPUT DIFFERS")
        print(f"  {root!s:<40} wall {wall:6.2f} s ({pages / wall:5.0f} pages/s)  CPU {cpu:6.2f} s "
              f"({pages / cpu:5.0f} pages/s, {raw_cpu / cpu:4.0%} of raw get_text's {pages / raw_cpu:4.0f})"
              + ("" if root == roots[0] else f"  {cpu / first[0]:4.2f}x this checkout's CPU{same}"))


def profile(folder: Path, top: int) -> None:
    """cProfile's top functions (own time) of one read of every file, after a warm-up read."""
    files = sorted(folder.glob("*.pdf"))
    read_all(files)
    prof = cProfile.Profile()
    prof.enable()
    read_all(files)
    prof.disable()
    pstats.Stats(prof).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=0, help="generated books instead of the real mix")
    parser.add_argument("--pages", type=int, default=40, help="pages per generated book (about)")
    parser.add_argument("--runs", type=int, default=6, help="fresh processes per checkout")
    parser.add_argument("--inner", type=int, default=2, help="timed reads per process")
    parser.add_argument("--against", nargs="*", default=[], help="other checkouts of curate to alternate with")
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's top N functions of one read")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(ROOT))
        _child(args.child[0], int(args.child[1]))
        return
    sys.path.insert(0, str(ROOT / "bench"))
    import books_throughput

    with tempfile.TemporaryDirectory(prefix="curate-books-reader-") as tmp:
        folder = Path(tmp) / ("generated" if args.books else "mix")
        if args.books:
            books_throughput.generate(folder, args.books, args.pages)
        elif not books_throughput._mix(folder):
            sys.exit("../shared/realdata is absent: pass --books N to time generated books")
        compare(folder, [ROOT, *(Path(a).resolve() for a in args.against)], args.runs, args.inner)
        if args.profile:
            profile(folder, args.profile)


if __name__ == "__main__":
    main()

"""Books: ``curate build books`` pages/s against raw ``page.get_text()`` pages/s, and memory.

    python bench/books_throughput.py [--mix 1] [--books 12] [--pages 80] [--runs 5] [--rss 10,100]
        [--baseline CHECKOUT]

Generates books with the sample typesetter (``samples/books/typeset.py``): English books in two
columns and Chinese books in one (one in four), with an outline, running heads, page numbers, a
ruled table every few pages, figures, citations and back matter. Then, interleaved ``--runs``
times on the same files:

- raw: ``pymupdf.open(f)`` and ``page.get_text()`` on every page, nothing else;
- reader: ``books.read_whole`` over every file in a fresh process, timed on its second pass (layout,
  tables, sections, text repair);
- build, 1 worker / 2 workers: ``pipeline.run`` of a fresh ``curate build books`` (read, clean,
  quality signals, exact dedup; no tokenizer), in a new output folder and a new process each time
  (timed after its imports: its caches cold and its workers started, as a user's build has them).

With ``--baseline DIR`` (another checkout, e.g. ``git worktree add ../main main``), that checkout's
reader and builds run too, interleaved with these, and every build's records and ledger are checked
against the baseline's. It prints the median pages/s of each and the ratio to raw, for the generated books and, when
``../shared/realdata`` is there, for ``--real`` copies of its two-column PDF (denser pages in real
fonts) and for its two XeLaTeX textbooks (``--textbooks``; digits without Unicode, so the glyph
map is inferred). Memory: for each count in ``--rss``,
a fresh process builds that many small generated books (8 pages each) with one worker and reports
its peak RSS; the ratio of the largest to the smallest count is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "samples" / "books"))

from curate.readers.pdf import pymupdf  # noqa: E402  # as the reader imports it (without its layout model)

EN_WORDS = ("patients treatment blood pressure kidney heart failure insulin glucose therapy dose clinical "
            "diagnosis infection chronic acute risk mortality cardiovascular renal hepatic serum assessment "
            "examination symptoms disease management monitoring adverse effects outcome guideline elderly "
            "children pregnancy medication combination reduction increase decrease sodium potassium vascular "
            "resistance artery stroke complication prevention screening laboratory measurement physician "
            "nurse hospital admission discharge follow-up long-term well-known evidence-based").split()
ZH_CLAUSES = ("糖尿病是一组以慢性高血糖为特征的代谢性疾病", "长期高血糖可导致多种组织器官的慢性损害",
              "高血压是最常见的慢性病之一", "治疗目标是降低心脑血管并发症的风险", "应定期监测血压和血糖",
              "生活方式干预是所有患者的基础治疗", "药物治疗应从小剂量开始", "老年患者应注意体位性低血压",
              "慢性肾脏病患者需要监测血钾和肌酐", "患者教育贯穿疾病管理的全过程", "急性并发症需要立即住院治疗",
              "血脂异常是动脉粥样硬化的重要危险因素", "戒烟限酒和规律运动有助于控制病情")


def _en_paragraph(rng: random.Random) -> str:
    sentences = []
    for _ in range(rng.randint(3, 6)):
        words = rng.choices(EN_WORDS, k=rng.randint(10, 22))
        cite = f" [{rng.randint(1, 60)}]" if rng.random() < 0.2 else ""
        sentences.append(" ".join(words).capitalize() + cite + ".")
    return " ".join(sentences)


def _zh_paragraph(rng: random.Random) -> str:
    return "".join("，".join(rng.sample(ZH_CLAUSES, rng.randint(2, 4))) + "。" for _ in range(rng.randint(2, 4)))


def make_book(path: Path, seed: int, pages: int) -> int:
    """Typeset one generated book of about ``pages`` pages; return its page count."""
    rng = random.Random(seed)
    cjk = seed % 4 == 3
    from typeset import Book, Style  # only here: spawned build workers import this file again

    style = Style(columns=1, size=10.5, leading=17.0, indent=21.0) if cjk else Style()
    book = Book(cjk=cjk, style=style, heads=("Generated Handbook", f"Chapter {seed}") if not cjk
                else ("内科学", f"第{seed}章"), first_number=1 + seed)
    para = _zh_paragraph if cjk else _en_paragraph
    chapter = 0
    while book.doc.page_count < pages:
        chapter += 1
        book.chapter(f"第{chapter}章 疾病{chapter}" if cjk else f"Chapter {chapter} Disorder {chapter}")
        for section in range(1, rng.randint(3, 6)):
            book.heading(f"{chapter}.{section} " + ("概述" if cjk else "Clinical features"), level=2)
            for k in range(rng.randint(3, 7)):
                book.paragraph(para(rng))
                if k == 1 and rng.random() < 0.3:
                    rows = [["Item", "Value", "Unit"]] + [[f"Item {i}", str(rng.randint(1, 99)), "mg"]
                                                         for i in range(rng.randint(3, 6))]
                    book.table(f"{'表' if cjk else 'Table '}{chapter}-{section} Values", rows)
                if k == 2 and rng.random() < 0.15:
                    book.figure(("图" if cjk else "Figure ") + f"{chapter}-{section} Course", ["axis"])
    book.heading("参考文献" if cjk else "References", level=1)
    for i in range(8):
        book.paragraph(f"[{i + 1}] Author A. Title of a reference {i}. Journal. 2020;{i}:1-9.", size=8.0)
    book.save(str(path), f"Generated book {seed}")
    return book.doc.page_count


def generate(folder: Path, books: int, pages: int, first_seed: int = 0) -> int:
    """Write ``books`` generated books into ``folder``; return the total page count."""
    folder.mkdir(parents=True, exist_ok=True)
    return sum(make_book(folder / f"book{seed:04d}.pdf", seed, pages) for seed in range(first_seed, first_seed + books))


def raw(files: list[Path]) -> int:
    """Plain text extraction of every page."""
    n = 0
    for f in files:
        with pymupdf.open(f) as doc:
            for page in doc:
                page.get_text()
                n += 1
    return n


def reader(files: list[Path]) -> int:
    """The books reader over every file, in this process."""
    from curate.core.ledger import Ledger
    from curate.readers import FileRef, books

    cfg, n = books.Config(), 0
    for f in files:
        gen = books.read_whole(FileRef(f, f.name, "books"), cfg, Ledger("books", "read"))
        try:
            while True:
                next(gen)
        except StopIteration as stop:
            n += stop.value["pages"]
    return n


def spec(folder: Path) -> Any:
    """The recipe of a ``curate build books`` of ``folder``."""
    from curate.build import recipes

    src = recipes.source_from_dict({"reader": "books", "inputs": [str(folder)]}, None, "bench")
    return recipes.CorpusSpec(name="books", sources=(src,))


def build(folder: Path, out: Path, workers: int, recipe: Any = None) -> dict:
    """A fresh ``curate build books`` of ``folder`` without tokenizing."""
    from curate.build import pipeline

    return pipeline.run(recipe or spec(folder), out, workers=workers, tokenize_docs=False, progress=False).manifest


def _build_child(folder: str, out: str, workers: str) -> None:
    """Time one build in this fresh process, its modules imported and its recipe read first (as ``curate
    build`` has them before it starts), its caches cold and its workers new: what a user's build pays. As
    ``curate build books`` does, the workers are spawned first thing, importing the reader while this
    process imports its own modules."""
    from curate import cli
    from curate.core import workers as workers_mod

    workers_mod.skip_unused_imports()  # as the command line does
    workers_mod.start_early(int(workers), [*cli._EARLY_MODULES, "curate.readers.books"])
    from curate.build import pipeline  # noqa: F401
    from curate.readers import books  # noqa: F401

    workers_mod.pyarrow_without_pandas()
    recipe = spec(Path(folder))
    t = time.perf_counter()
    manifest = build(Path(folder), Path(out), int(workers), recipe)
    print(time.perf_counter() - t, manifest["sources"]["books"]["stats"]["pages"])


def _in(checkout: Path) -> dict:
    """``subprocess.run`` arguments that run Python with ``checkout``'s ``curate`` package."""
    return {"cwd": checkout, "env": {**os.environ, "PYTHONPATH": str(checkout)}, "check": True,
            "capture_output": True, "text": True}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fresh_build(folder: Path, out: Path, workers: int, checkout: Path = ROOT) -> tuple[float, int, float]:
    """Seconds and pages of a build in a fresh process (``_build_child`` of ``checkout``'s copy of this file),
    and the CPU seconds of that process and its workers (imports included)."""
    cpu = _children_cpu()
    result = subprocess.run([sys.executable, str(checkout / "bench" / "books_throughput.py"), "--build-child",
                             str(folder), str(out), str(workers)], **_in(checkout))
    seconds, pages = result.stdout.split()[-2:]
    return float(seconds), int(pages), _children_cpu() - cpu


def child_reader(folder: Path, checkout: Path) -> float:
    """Seconds of ``checkout``'s reader over the books in ``folder``, in a fresh process (its second pass: warm,
    as a long build's workers have it)."""
    code = ("import sys, time\nfrom pathlib import Path\nsys.path.insert(0, 'bench')\n"
            "import books_throughput as bench\nfiles = sorted(Path(sys.argv[1]).glob('*.pdf'))\n"
            "bench.reader(files)\nt = time.perf_counter()\nbench.reader(files)\nprint(time.perf_counter() - t)\n")
    result = subprocess.run([sys.executable, "-c", code, str(folder)], **_in(checkout))
    return float(result.stdout.split()[-1])


def _rss_child(folder: str, out: str) -> None:
    build(Path(folder), Path(out), workers=1)
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(max(self_kb, children_kb))


def peak_rss(folder: Path, out: Path) -> float:
    """Peak RSS in MB of a fresh process that builds ``folder`` with one worker."""
    result = subprocess.run([sys.executable, __file__, "--rss-child", str(folder), str(out)],
                            check=True, capture_output=True, text=True)
    return int(result.stdout.split()[-1]) / 1024


def compare(folder: Path, out: Path, runs: int, baseline: Path | None = None) -> dict:
    """Time raw extraction, the reader and the build on the books in ``folder``, interleaved (and those of the
    ``baseline`` checkout, whose builds must write the same records and ledger)."""
    files = sorted(folder.glob("*.pdf"))
    pages = raw(files)
    names = ["raw get_text", "reader only", "build, 1 worker", "build, 2 workers"]
    if baseline is not None:
        names[2:2] = ["reader only (baseline)"]
        names += ["build, 1 worker (baseline)", "build, 2 workers (baseline)"]
    times: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names if name.startswith("build")}
    load = os.getloadavg()[0]
    for run in range(runs):
        for name in times:
            checkout = baseline if "(baseline)" in name else ROOT
            t = time.perf_counter()
            if name == "raw get_text":
                assert raw(files) == pages
            elif name.startswith("reader only"):
                times[name].append(child_reader(folder, checkout))
                continue
            else:
                workers = 1 if "1 worker" in name else 2
                seconds, built, cpu = fresh_build(folder, out / _slug(name, run), workers, checkout)
                assert built == pages
                times[name].append(seconds)
                cpus[name].append(cpu)
                continue
            times[name].append(time.perf_counter() - t)
    base = pages / statistics.median(times["raw get_text"])
    print(f"{folder.name}: {len(files)} books, {pages:,} pages; median of {runs} interleaved runs "
          f"(load {load:.1f} -> {os.getloadavg()[0]:.1f})")
    for name, ts in times.items():
        rate = pages / statistics.median(ts)
        cpu = f"  CPU {statistics.median(cpus[name]):5.2f} s (process tree, imports included)" if name in cpus else ""
        print(f"  {name:<28} {statistics.median(ts):7.2f} s  {rate:8.0f} pages/s  {rate / base:6.0%} of raw{cpu}")
    if baseline is not None:
        _same_as_baseline(out, runs)
    return json.loads((out / _slug("build, 2 workers", runs - 1) / "manifest.json").read_text()
                      )["sources"]["books"]["stats"]


def _slug(name: str, run: int) -> str:
    return f"{name.replace(' ', '').replace(',', '-')}-{run}"


def _same_as_baseline(out: Path, runs: int) -> None:
    """Every build's ledger and records equal the baseline's 2-worker build of the same run."""
    differ = []
    for run in range(runs):
        want = _written(out / _slug("build, 2 workers (baseline)", run))
        for name in ("build, 1 worker", "build, 2 workers", "build, 1 worker (baseline)"):
            if _written(out / _slug(name, run)) != want:
                differ.append(f"{name} (run {run + 1})")
    print("  records and ledger " + ("byte-identical to the baseline's" if not differ
                                     else "DIFFER from the baseline's: " + ", ".join(differ)))


def _written(root: Path) -> tuple[bytes, list]:
    """A build's ledger file and its final records, in order (however they are cut into shards)."""
    import pyarrow.parquet as pq

    flow = json.loads((root / "flow.json").read_text())
    shards = flow["books"]["passes"][-1]["shards"]
    return (root / "ledger.parquet").read_bytes(), [r for p in shards for r in pq.read_table(root / p).to_pylist()]


def _mix(folder: Path) -> bool:
    """One long book and several papers from ``../shared/realdata`` (False when it is absent)."""
    data = ROOT.parent / "shared" / "realdata"
    files = sorted(data.glob("books-zh/*/main.pdf")) + sorted(data.glob("pdfs/**/*.pdf"))
    if not files:
        return False
    folder.mkdir()
    for pdf in files:
        shutil.copy(pdf, folder / (f"{pdf.parent.name}.pdf" if pdf.name == "main.pdf" else pdf.name))
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", type=int, default=12)
    parser.add_argument("--pages", type=int, default=80, help="pages per generated book (about)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--real", type=int, default=20, help="copies of ../shared/realdata's PDF to time too "
                        "(0 to skip; skipped when absent)")
    parser.add_argument("--textbooks", type=int, default=1, help="time the shared XeLaTeX textbooks too (0: skip)")
    parser.add_argument("--mix", type=int, default=1, help="time a mix of one long book and several papers from "
                        "../shared/realdata (its 417-page textbook, the other textbook, its papers; 0: skip)")
    parser.add_argument("--rss", default="10,100", help="book counts for the memory check ('' to skip)")
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout of curate (e.g. a git "
                        "worktree of main) whose reader and builds are timed too, interleaved, and whose builds must "
                        "write the same records and ledger")
    parser.add_argument("--rss-child", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--build-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.build_child and not args.rss_child:
        import compileall

        # As an installed package has it (where PYTHONDONTWRITEBYTECODE is set, every process would compile
        # curate's modules again: a tenth of a second each).
        for checkout in (ROOT, *([args.baseline] if args.baseline else [])):
            compileall.compile_dir(str(checkout / "curate"), quiet=1, workers=1)
    if args.rss_child:
        _rss_child(*args.rss_child)
        return
    if args.build_child:
        _build_child(*args.build_child)
        return
    with tempfile.TemporaryDirectory(prefix="curate-books-bench-") as tmp:
        tmp = Path(tmp)
        t = time.perf_counter()
        if args.mix and _mix(tmp / "mix"):
            compare(tmp / "mix", tmp / "out-mix", args.runs, args.baseline)
        if args.books:
            pages = generate(tmp / "generated", args.books, args.pages)
            print(f"generated {args.books} books, {pages:,} pages in {time.perf_counter() - t:.1f}s")
            stats = compare(tmp / "generated", tmp / "out-generated", args.runs, args.baseline)
            print("  removed: " + ", ".join(f"{k} {stats[k]:,}" for k in
                                             ("tables_removed", "figures_removed", "running_heads_removed",
                                              "page_numbers_removed", "back_matter_cut") if k in stats))
        real = ROOT.parent / "shared" / "realdata" / "pdfs"
        if args.real and real.is_dir():
            (tmp / "realdata").mkdir()
            for i in range(args.real):
                for pdf in real.glob("*.pdf"):
                    shutil.copy(pdf, tmp / "realdata" / f"{pdf.stem}-{i:03d}.pdf")
            compare(tmp / "realdata", tmp / "out-real", args.runs, args.baseline)
        textbooks = ROOT.parent / "shared" / "realdata" / "books-zh"
        if args.textbooks and textbooks.is_dir():
            (tmp / "textbooks").mkdir()
            for pdf in textbooks.glob("*/main.pdf"):
                shutil.copy(pdf, tmp / "textbooks" / f"{pdf.parent.name}.pdf")
            compare(tmp / "textbooks", tmp / "out-textbooks", args.runs, args.baseline)
        counts = [int(c) for c in args.rss.split(",") if c]
        if counts:
            rss = {}
            for count in counts:
                generate(tmp / f"rss{count}", count, 8, first_seed=1000)
                rss[count] = peak_rss(tmp / f"rss{count}", tmp / f"rss-out{count}")
                print(f"peak RSS, {count} generated books of 8 pages, 1 worker: {rss[count]:.0f} MB")
            print(f"  ratio {max(counts)} / {min(counts)} books: {rss[max(counts)] / rss[min(counts)]:.2f}")


if __name__ == "__main__":
    main()

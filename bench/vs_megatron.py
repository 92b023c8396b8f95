"""curate against Megatron-LM's ``tools/preprocess_data.py`` on the same documents, in one run.

    python bench/vs_megatron.py [--docs 100000] [--runs 3] [--workers 2] \\
        [--megatron-python /work/wt/megatron-venv/bin/python] [--work DIR] [--baseline CHECKOUT]

The corpus: ``--docs`` JSON lines ``{"text": ...}`` (about 60% Chinese), each 2-6 sentences drawn
(seeded) from the real files of ``../shared/realdata`` (PubMedQA abstracts, Chinese medical QA and
exams, PromptCBLUE), or from the bundled samples when that folder is absent; a 32k byte-level BPE
is trained on it (``curate tokenizer train``'s trainer). Then, interleaved, ``--runs`` times each
(the order rotates per run), every variant as a fresh process timed by wall clock:

- ``megatron``: ``preprocess_data.py --append-eod --workers N`` with ``HuggingFaceTokenizer``,
  from the tarball in ``../shared/anchors`` (needs a side environment: see its README);
- ``curate documents``: ``curate build documents --append-eod --workers N``;
- ``curate stage 1``: ``curate corpus`` with a stage-1 recipe over the same file (clean, quality
  thresholds, exact and near dedup, decontamination against the sample evaluation sets, tokenize);
- ``curate documents (baseline)`` and ``curate stage 1 (baseline)``, with ``--baseline DIR``: the same
  builds run by another checkout of curate (``git worktree add DIR <commit>``), to measure a change
  against its base in the same run; their ledgers and ``.bin/.idx`` must be byte-identical to the
  checkout's own, and their ``.docs.parquet`` too, or equal on every column both have where one
  version added a column;
- ``raw limit``: a process that reads the lines, then ``encode_batch_fast`` over the texts in
  batches of 4,096 (all cores; faster than one batch of everything), ids pulled into Python lists,
  nothing written. Two figures: the encode alone (the limit) and the whole process;
- ``raw limit, curate's BPE cache``: the same encode with the tokenizer's BPE word cache set as curate's
  loader sets it (``tokenizer.BPE_CACHE_WORDS``; the library's default is 10,000 words), so that a ratio
  to the raw limit can be read with and without what the cache alone gives.

Before timing, the Python code of every variant (curate's, the baseline's and Megatron's trees) is
byte-compiled, as an installed package has it. It checks that curate's and Megatron's ``.bin/.idx`` are
byte-identical, and prints the medians, the CPU seconds of each variant (user + system of its whole
process tree: the figure that a machine shared with other work disturbs least), the medians of the
per-run ratios, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
ANCHOR = ROOT.parent / "shared" / "anchors" / "megatron-lm-core_v0.16.1-tools.tar.gz"
CURATE = [sys.executable, "-m", "curate.cli"]
_SPLIT = re.compile(r"(?<=[.!?。！？；])\s*")

RAW = """
import json, sys, time
from tokenizers import Tokenizer
start = time.perf_counter()
tok = Tokenizer.from_file(sys.argv[2])
if len(sys.argv) > 3:  # the BPE word cache curate's loader sets (the library's default: 10,000 words)
    tok.model._resize_cache(int(sys.argv[3]))
with open(sys.argv[1], encoding="utf-8") as f:
    texts = [json.loads(line)["text"] for line in f]
t0 = time.perf_counter()
tokens = 0
for i in range(0, len(texts), 4096):  # faster than one batch of everything (the CPU caches)
    ids = [e.ids for e in tok.encode_batch_fast(texts[i:i + 4096], add_special_tokens=False)]
    tokens += sum(map(len, ids)) + len(ids)
t1 = time.perf_counter()
print(json.dumps({"encode": t1 - t0, "tokens": tokens}))
"""


def _sentences() -> tuple[list[str], list[str]]:
    """English and Chinese sentences of the real files (or of the bundled samples)."""
    en, zh = [], []
    if REALDATA.is_dir():
        for item in json.loads((REALDATA / "pubmedqa" / "ori_pqal.json").read_text()).values():
            en += _SPLIT.split(" ".join(item["CONTEXTS"]) + " " + item["LONG_ANSWER"])
        for line in (REALDATA / "chinese_qa" / "medical_sft_1K_format.jsonl").read_text().splitlines():
            for turn in json.loads(line)["conversations"]:
                zh += _SPLIT.split(turn["value"])
        for path in sorted((REALDATA / "promptcblue").glob("*.json")):
            for line in path.read_text().splitlines():
                row = json.loads(line)
                zh += _SPLIT.split(row["input"] + row["target"])
        for path in sorted((REALDATA / "cmmlu").rglob("*.csv")):
            zh += [line.replace(",", "，") for line in path.read_text().splitlines()[1:]]
    else:
        for path in sorted((ROOT / "samples").rglob("*.jsonl")):
            for value in re.findall(r'"[^"]{20,}"', path.read_text()):
                (zh if re.search(r"[\u4e00-\u9fff]", value) else en).append(value.strip('"'))
    clean = [s.strip() for s in en if len(s.strip()) > 20], [s.strip() for s in zh if len(s.strip()) > 8]
    return clean


def make_corpus(path: Path, docs: int, seed: int = 0) -> None:
    """``docs`` JSON lines of 2-6 real sentences each, about 60% Chinese (deterministic)."""
    en, zh = _sentences()
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(docs):
            lang_zh = rng.random() < 0.6
            pool, sep = (zh, "") if lang_zh else (en, " ")
            f.write(json.dumps({"text": sep.join(rng.choices(pool, k=rng.randint(2, 6)))}, ensure_ascii=False) + "\n")


def train_tokenizer(corpus: Path, out: Path, vocab: int) -> None:
    """A byte-level BPE of ``vocab`` ids trained on the corpus."""
    sys.path.insert(0, str(ROOT))
    from curate.tokens import tokenizer

    with open(corpus, encoding="utf-8") as f:
        tokenizer.train((json.loads(line)["text"] for line in f), vocab, out)


def stage1_recipe(work: Path, corpus: Path, tok: Path) -> Path:
    """A stage-1 recipe over the corpus with every step of ``recipes/stage1.toml``."""
    samples = ROOT / "samples" / "eval"
    source = work / "documents.toml"
    source.write_text(f'name = "documents"\nreader = "documents"\ninputs = ["{corpus}"]\n'
                      '[options]\ndetect_lang = false\n[clean]\n[quality]\n', encoding="utf-8")
    recipe = work / "stage1.toml"
    recipe.write_text(f'''name = "stage1"
seed = 1234
tokenizer = "{tok}"
[near_dedup]
verify = "estimate"
[near_dedup.minhash]
threshold = 0.8
num_perm = 256
ngram = 5
[decontam]
ngram_words = 13
ngram_cjk_chars = 20
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
recipe = "{source}"
''', encoding="utf-8")
    return recipe


_CPU: list[float] = []  # CPU seconds (user + system, the process and all it waited for) of each timed command


def compiled(folders: list[Path]) -> None:
    """Byte-compile the Python code every variant runs from a source tree (curate's, Megatron's), as an installed
    package has it: where ``PYTHONDONTWRITEBYTECODE`` is set, Python would otherwise compile each module again in
    every process (a tenth of a second or more per process)."""
    import compileall

    for folder in folders:
        compileall.compile_dir(str(folder), quiet=1, workers=1)


def _timed(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, str]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    _CPU.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(map(str, cmd))}\n"
                         f"{proc.stdout[-2000:]}{proc.stderr[-3000:]}")
    return seconds, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--vocab", type=int, default=32_000)
    parser.add_argument("--megatron-python", default=str(ROOT.parent / "megatron-venv" / "bin" / "python"))
    parser.add_argument("--work", type=Path, default=None, help="Keep the corpus and tokenizer here (reused).")
    parser.add_argument("--baseline", type=Path, default=None,
                        help="Another curate checkout whose stage-1 build runs as one more variant.")
    parser.add_argument("--skip", default="", help="Variants to leave out, comma separated.")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="vs_megatron-"))
    work.mkdir(parents=True, exist_ok=True)
    corpus, tok = work / f"corpus-{args.docs}.jsonl", work / f"bpe-{args.docs}-{args.vocab}"
    if not corpus.is_file():
        make_corpus(corpus, args.docs)
    if not (tok / "tokenizer.json").is_file():
        train_tokenizer(corpus, tok, args.vocab)
    mlm = work / "megatron"
    if not (mlm / "tools" / "preprocess_data.py").is_file():
        mlm.mkdir(exist_ok=True)
        with tarfile.open(ANCHOR) as tar:
            tar.extractall(mlm, filter="data")
    recipe = stage1_recipe(work, corpus, tok)
    compiled([ROOT / "curate", mlm, *([args.baseline / "curate"] if args.baseline else [])])
    with open(corpus, "rb") as f:
        docs = sum(1 for _ in f)
    size = corpus.stat().st_size
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = work / "runs"
    cache_words = _cache_words()
    variants = {
        "megatron": lambda out: _timed([args.megatron_python, "-W", "ignore", str(mlm / "tools" / "preprocess_data.py"),
                                        "--input", str(corpus), "--output-prefix", str(out / "mg"),
                                        "--tokenizer-type", "HuggingFaceTokenizer", "--tokenizer-model", str(tok),
                                        "--append-eod", "--workers", str(args.workers)],
                                       {**os.environ, "PYTHONPATH": str(mlm)})[0],
        "curate documents": lambda out: _timed([*CURATE, "build", "documents", "--input", str(corpus),
                                                "--output-prefix", str(out / "bench"), "--tokenizer", str(tok),
                                                "--append-eod", "--workers", str(args.workers), "--no-progress"],
                                               env)[0],
        "curate stage 1": lambda out: _timed([*CURATE, "corpus", str(recipe), "--out", str(out), "--workers",
                                              str(args.workers), "--no-progress"], env)[0],
        "raw limit": lambda out: _raw(corpus, tok, out),
        "raw limit, curate's BPE cache": lambda out: _raw(corpus, tok, out, cache_words),
    }
    if args.baseline:
        base_env = {**os.environ, "PYTHONPATH": str(args.baseline.resolve())}
        variants["curate documents (baseline)"] = lambda out: _timed(
            [*CURATE, "build", "documents", "--input", str(corpus), "--output-prefix", str(out / "bench"),
             "--tokenizer", str(tok), "--append-eod", "--workers", str(args.workers), "--no-progress"],
            base_env, cwd=args.baseline)[0]
        variants["curate stage 1 (baseline)"] = lambda out: _timed(
            [*CURATE, "corpus", str(recipe), "--out", str(out), "--workers", str(args.workers), "--no-progress"],
            base_env, cwd=args.baseline)[0]
    skip = set(filter(None, args.skip.split(",")))
    names = [n for n in variants if n not in skip]
    times: dict[str, list[float]] = {n: [] for n in [*names, "raw process"]}
    cpu: dict[str, list[float]] = {n: [] for n in names}
    load_before = os.getloadavg()
    tokens = None
    for r in range(args.runs):
        for name in names[r % len(names):] + names[:r % len(names)]:
            out = runs / f"{name.replace(' ', '_')}-{r}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            result = variants[name](out)
            cpu[name].append(_CPU[-1])
            if name == "raw limit":
                encode, whole, tokens = result
                times["raw limit"].append(encode)
                times["raw process"].append(whole)
            elif name.startswith("raw limit"):
                times[name].append(result[0])
            else:
                times[name].append(result)
            print(f"run {r}: {name} {times[name][-1]:.2f} s, CPU {cpu[name][-1]:.1f} s", file=sys.stderr)
    load_after = os.getloadavg()
    _identical(runs, args.runs, names)
    _same_build(runs, args.runs, names)
    _table(times, args, docs, size, tokens, load_before, load_after)
    print("\nCPU seconds (user + system of the process tree; the raw limit's is its whole process), median:")
    print(" | ".join(f"{name} {statistics.median(values):.1f}" for name, values in cpu.items() if values))


def _cache_words() -> int:
    """The BPE word cache curate's tokenizer loader sets."""
    sys.path.insert(0, str(ROOT))
    from curate.tokens.tokenizer import BPE_CACHE_WORDS

    return BPE_CACHE_WORDS


def _raw(corpus: Path, tok: Path, out: Path, cache: int | None = None) -> tuple[float, float, int]:
    (out / "raw.py").write_text(RAW)
    whole, stdout = _timed([sys.executable, str(out / "raw.py"), str(corpus), str(tok / "tokenizer.json"),
                            *([str(cache)] if cache else [])])
    data = json.loads(stdout)
    return data["encode"], whole, data["tokens"]


def _identical(runs: Path, n: int, names: list[str]) -> None:
    if "megatron" not in names:
        return
    mg = runs / "megatron-0" / "mg_text_document"
    for name, prefix in (("curate documents", "bench/tokens/bench_text_document"),
                         ("curate documents (baseline)", "bench/tokens/bench_text_document"),
                         ("curate stage 1", None)):
        if name not in names or prefix is None:
            continue
        for r in range(n):
            ours = runs / f"{name.replace(' ', '_')}-{r}" / prefix
            same = all(Path(f"{ours}{s}").read_bytes() == Path(f"{mg}{s}").read_bytes() for s in (".bin", ".idx"))
            print(f"{name} run {r}: .bin/.idx {'byte-identical to' if same else 'DIFFER from'} Megatron's")
            if not same:
                raise SystemExit(1)


def _same_build(runs: Path, n: int, names: list[str]) -> None:
    """The baseline's ledgers and token files equal the checkout's own, run by run."""
    builds = {"curate stage 1": ("stage1", "documents_text_document"),
              "curate documents": ("bench", "bench_text_document")}
    for name, (build, prefix) in builds.items():
        if f"{name} (baseline)" not in names or name not in names:
            continue
        files = (f"{build}/ledger.parquet", *(f"{build}/tokens/{prefix}{s}" for s in (".bin", ".idx")))
        docs = f"{build}/tokens/{prefix}.docs.parquet"
        for r in range(n):
            ours = runs / f"{name.replace(' ', '_')}-{r}"
            base = runs / f"{name.replace(' ', '_')}_(baseline)-{r}"
            differ = [f for f in files if (ours / f).read_bytes() != (base / f).read_bytes()]
            same_docs, added = _same_docs(ours / docs, base / docs)
            if not same_docs:
                differ.append(docs)
            verdict = f"DIFFER from the baseline: {', '.join(differ)}" if differ else "byte-identical to the baseline"
            note = f" (.docs.parquet: equal on the columns both have; only one has {', '.join(added)})" if added else ""
            print(f"{name} run {r}: ledger, .bin/.idx and .docs.parquet {verdict}{note}")
            if differ:
                raise SystemExit(1)


def _same_docs(ours: Path, base: Path) -> tuple[bool, list[str]]:
    """Whether two ``.docs.parquet`` files are equal: byte for byte, or, when one version added or
    dropped a column, on every column both have. Also the columns that only one has."""
    if ours.read_bytes() == base.read_bytes():
        return True, []
    import pyarrow.parquet as pq

    a, b = pq.read_table(ours), pq.read_table(base)
    shared = [c for c in a.column_names if c in b.column_names]
    added = sorted(set(a.column_names) ^ set(b.column_names))
    return bool(added) and a.select(shared).equals(b.select(shared)), added


def _table(times: dict[str, list[float]], args: argparse.Namespace, docs: int, size: int, tokens: int | None,
           before: tuple[float, ...], after: tuple[float, ...]) -> None:
    print(f"\n{docs:,} documents, {size / 1e6:.1f} MB, {tokens or 0:,} tokens (EOD included), {args.vocab:,}-id BPE, "
          f"{args.workers} workers, {args.runs} interleaved runs; load average {before[0]:.1f} before, "
          f"{after[0]:.1f} after\n")
    print("| variant | median s | documents/s | x Megatron (median of ratios) | of raw limit (median of ratios) |")
    print("|---|---:|---:|---:|---:|")
    for name, values in times.items():
        if not values:
            continue
        med = statistics.median(values)
        vs_mg = (statistics.median(m / v for m, v in zip(times["megatron"], values, strict=True))
                 if times.get("megatron") else None)
        vs_raw = (statistics.median(r / v for r, v in zip(times["raw limit"], values, strict=True))
                  if times.get("raw limit") else None)
        print(f"| {name} | {med:.2f} | {docs / med:,.0f} | {vs_mg:.2f}x | {vs_raw:.2f} |" if vs_mg and vs_raw else
              f"| {name} | {med:.2f} | {docs / med:,.0f} | {vs_mg or 0:.2f}x | {vs_raw or 0:.2f} |")


if __name__ == "__main__":
    main()

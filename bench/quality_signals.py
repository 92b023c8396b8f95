"""Quality signals: cost per document of the signals step before and after, side by side.

    python bench/quality_signals.py [--runs 5] [--docs 20000] [--baseline REV]

The baseline is ``curate/filters/quality.py`` as it was at ``REV`` (default: the commit before the
signals were vectorised and selected), loaded from git beside the current module, so both run in one
process on the same documents, interleaved. Documents: the real files in ``../shared/realdata``
(PubMedQA abstracts, Chinese medical conversations, PromptCBLUE) when present, and generated
stage-1-like abstracts (``bench/scale.py``'s generator), in batches of 2,048 as a build runs them.

Variants, each timed over all documents per run (medians of ``--runs``):

- ``baseline``: every signal (what the step computed for every build);
- ``all``: every signal, current code (every threshold on); ``all but language``: without ``lang`` and
  ``lang_score``, whose fastText call per document costs the same in both;
- ``stage1``: the columns the bundled stage-1 recipes need (their thresholds, plus the quality score
  that near dedup's keep rule reads);
- ``no-score``: the same without near dedup (the basic signals alone);
- ``pass: baseline`` / ``pass: stage1``: the signals plus the MinHash signatures of the same prepare
  pass (256 permutations), where the current code tokenizes each batch once for both.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyarrow as pa  # noqa: E402

from curate.build import recipes  # noqa: E402
from curate.core.step import ANNOTATE, Context, Step, run_chain  # noqa: E402
from curate.dedup import near  # noqa: E402
from curate.filters import quality  # noqa: E402

BASELINE = "766b360"  # the last commit whose signals step computed every signal, per document in Python
REAL = ROOT.parent / "shared" / "realdata"


def _baseline(rev: str):
    """``curate.filters.quality`` as of ``rev``, as a separate module."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:curate/filters/quality.py"], check=True,
                            capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_quality.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("baseline_quality", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["baseline_quality"] = module
    spec.loader.exec_module(module)
    return module


def _real_texts() -> list[str]:
    texts: list[str] = []
    if not REAL.is_dir():
        return texts
    pqal = json.loads((REAL / "pubmedqa" / "ori_pqal.json").read_text())
    texts += [" ".join(v["CONTEXTS"]) + "\n" + v["LONG_ANSWER"] for v in pqal.values()]
    for line in (REAL / "chinese_qa" / "medical_sft_1K_format.jsonl").read_text().splitlines():
        texts.append("\n".join(turn["value"] for turn in json.loads(line)["conversations"]))
    for name in ("train.json", "dev.json"):
        for line in (REAL / "promptcblue" / name).read_text().splitlines():
            row = json.loads(line)
            texts.append(f"{row['input']}\n{row['target']}")
    return texts


def _generated(n: int) -> list[str]:
    sys.path.insert(0, str(ROOT / "bench"))
    import numpy as np
    from scale import _texts, _vocab

    rng = np.random.default_rng(0)
    return [f"BACKGROUND: {t}." for t in _texts(rng, _vocab(rng), n, 120, 260)]


def _stage1_columns() -> tuple[str, ...]:
    """The union of the columns the bundled stage-1 sources need, with the quality score."""
    spec = recipes.load_corpus(ROOT / "recipes" / "stage1.toml")
    return tuple(c for c in quality.COLUMNS if any(c in quality.needed(s.quality) for s in spec.sources))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--docs", type=int, default=20_000, help="documents in all (real ones first)")
    parser.add_argument("--baseline", default=BASELINE, help="git revision of the baseline quality.py")
    args = parser.parse_args()
    old = _baseline(args.baseline)
    real = _real_texts()[: args.docs]
    texts = real + _generated(args.docs - len(real))
    batches = [pa.table({"id": [str(i) for i in range(s, s + len(texts[s:s + 2048]))], "text": texts[s:s + 2048]})
               for s in range(0, len(texts), 2048)]
    stage1 = _stage1_columns()
    basic = quality.needed(quality.QualityConfig(min_chars=None, max_chars=None, max_symbol_ratio=None), score=False)
    no_lang = tuple(c for c in quality.COLUMNS if c not in quality.LANG)
    sig = near.SignatureConfig.of(near.NearDedupConfig())
    ctx = Context("bench", rank=0)

    def pass_of(signals_fn, cfg) -> list[Step]:
        return [Step("signals", signals_fn, cfg, ANNOTATE), Step("signatures", near.signature_step, sig, ANNOTATE)]

    variants = {
        "baseline": lambda b: old.signals_step(b, old.SignalsConfig(), ctx),
        "all": lambda b: quality.signals_step(b, quality.SignalsConfig(quality.COLUMNS), ctx),
        "all but language": lambda b: quality.signals_step(b, quality.SignalsConfig(no_lang), ctx),
        "stage1": lambda b: quality.signals_step(b, quality.SignalsConfig(stage1), ctx),
        "no-score": lambda b: quality.signals_step(b, quality.SignalsConfig(basic), ctx),
        "pass: baseline": lambda b: run_chain(b, pass_of(old.signals_step, old.SignalsConfig()), ctx),
        "pass: stage1": lambda b: run_chain(b, pass_of(quality.signals_step, quality.SignalsConfig(stage1)), ctx),
    }
    for fn in variants.values():  # warm-up: the language model, permutations, boilerplate shingles
        fn(batches[0])
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(args.runs):
        for name, fn in variants.items():
            start = time.perf_counter()
            for b in batches:
                fn(b)
            times[name].append(time.perf_counter() - start)
    n = len(texts)
    base = statistics.median(times["baseline"])
    base_pass = statistics.median(times["pass: baseline"])
    print(f"{n:,} documents ({len(real):,} real, {n - len(real):,} generated), {sum(map(len, texts)) / n:.0f} "
          f"characters on average; stage-1 columns: {', '.join(stage1)}")
    print("| variant | µs/document (median) | vs baseline |")
    print("|---|---:|---:|")
    for name, values in times.items():
        ref = base_pass if name.startswith("pass") else base
        print(f"| {name} | {statistics.median(values) / n * 1e6:.1f} | {statistics.median(values) / ref:.2f} |")


if __name__ == "__main__":
    main()

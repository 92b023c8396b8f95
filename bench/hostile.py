"""Run every hostile-input case of ``tests/hostile/`` and print what happened, by group and defect class.

    python bench/hostile.py                      # all cases (about as long as the tests)
    python bench/hostile.py --only readers/kg --only http
    python bench/hostile.py --json build/hostile.json --times

Unlike the tests, the bench ignores the ``xfail`` marks: it counts what really happens. A case with
defects is ``known`` when its ``xfail`` names the defect, ``NEW`` otherwise; a case that passes although
marked is listed as ``fixed`` (its mark can go). Exits 1 when any case has a defect.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.hostile.harness import CLASSES, Defect  # noqa: E402 - after the path
from tests.hostile.registry import GROUPS, Case, Ctx, load  # noqa: E402


def run_cases(cases: list[Case], ctx: Ctx) -> dict[str, list[Defect] | str]:
    """Defects per case id, or the reason it was skipped (``str``)."""
    results: dict[str, list[Defect] | str] = {}
    runnable = [c for c in cases if not c.skip_reason()]
    ctx.prefetch(runnable)
    for c in cases:
        if reason := c.skip_reason():
            results[c.id] = reason
            continue
        try:
            results[c.id] = ctx.run(c)
        except Exception as err:  # a broken case is a finding too; the bench goes on
            results[c.id] = [Defect("harness error", f"{type(err).__name__}: {err}")]
    return results


def summary(cases: list[Case], results: dict[str, list[Defect] | str], seconds: float, label: str) -> list[str]:
    """The table: cases tried and OK per group, defects per class, then every case with a defect."""
    tried = [c for c in cases if not isinstance(results[c.id], str)]
    bad = [c for c in tried if results[c.id]]
    lines = [f"hostile-input cases on {label}: {len(tried)} kinds tried, {len(tried) - len(bad)} OK, "
             f"{len(bad)} with defects; {len(cases) - len(tried)} skipped; {seconds:.0f} s", ""]
    lines.append(f"{'group':<12}{'tried':>7}{'OK':>6}{'defects':>9}")
    for group in GROUPS:
        mine = [c for c in tried if c.group == group]
        if mine:
            n_bad = sum(1 for c in mine if results[c.id])
            lines.append(f"{group:<12}{len(mine):>7}{len(mine) - n_bad:>6}{n_bad:>9}")
    lines.append(f"{'total':<12}{len(tried):>7}{len(tried) - len(bad):>6}{len(bad):>9}")
    per_class = Counter(kind for c in bad for kind in {d.kind for d in results[c.id]})  # type: ignore[union-attr]
    lines += ["", "defects by class (cases showing it):"]
    lines += [f"  {kind:<20}{per_class.get(kind, 0):>4}" for kind in (*CLASSES, *sorted(set(per_class) - set(CLASSES)))]
    if bad:
        lines += ["", "cases with defects (known: the xfail mark names it; NEW: not marked):"]
    for c in bad:
        lines.append(f"  {'known' if c.xfail else 'NEW  '} {c.id}")
        lines += [f"          {d}"[:220] for d in results[c.id]]  # type: ignore[union-attr]
    fixed = [c for c in tried if c.xfail and not results[c.id]]
    if fixed:
        lines += ["", "marked xfail but passing now (fixed):"] + [f"  {c.id}" for c in fixed]
    skipped = [c for c in cases if isinstance(results[c.id], str)]
    if skipped:
        lines += ["", "skipped:"] + [f"  {c.id}: {results[c.id]}" for c in skipped]
    return lines


def _label() -> str:
    try:
        def git(*args: str) -> str:
            return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                                  check=True).stdout.strip()

        dirty = " + uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
        return f"{git('rev-parse', '--abbrev-ref', 'HEAD')} at {git('rev-parse', '--short', 'HEAD')}{dirty}"
    except (OSError, subprocess.CalledProcessError):
        return "this checkout"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="run the cases whose id contains TEXT (repeatable)")
    parser.add_argument("--skip-expensive", action="store_true", help="leave out the cases marked expensive")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--times", action="store_true", help="print the wall time of each case and shared build")
    args = parser.parse_args(argv)
    cases = [c for c in load().values() if (not args.only or any(t in c.id for t in args.only))
             and not (args.skip_expensive and c.expensive)]
    ctx = Ctx(Path(tempfile.mkdtemp(prefix="curate-hostile-")))
    started = time.monotonic()
    results = run_cases(cases, ctx)
    seconds = time.monotonic() - started
    for line in summary(cases, results, seconds, _label()):
        print(line)
    if args.times:
        print("\nwall time (s), slowest first:")
        for key, s in sorted(ctx.seconds.items(), key=lambda kv: -kv[1]):
            print(f"  {s:7.1f}  {key}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({c.id: {"group": c.group, "xfail": c.xfail, "skipped": results[c.id]}
                                         if isinstance(results[c.id], str) else
                                         {"group": c.group, "xfail": c.xfail,
                                          "defects": [{"class": d.kind, "detail": d.detail} for d in results[c.id]]}
                                         for c in cases}, indent=1, ensure_ascii=False))
    return 1 if any(r and not isinstance(r, str) for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())

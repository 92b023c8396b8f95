"""Hostile recipes and options: wrong types, out-of-range values, unknown keys, paths that escape.

Each must fail before any work with a one-line error that names the key, or (where the value has one
obvious meaning) be taken with that meaning and lose nothing.
"""

from __future__ import annotations

from pathlib import Path

from tests.hostile.builds import BuildView
from tests.hostile.cases_text import jsonl
from tests.hostile.harness import LOSS, REPO, UNCLEAR, Defect, Run, failed_clearly, invoke
from tests.hostile.registry import Ctx, case

ROWS = 5


def corpus(ctx: Ctx, name: str, *, source: str = "", top: str = "", entry: str = "", tail: str = "",
           title: str = "mix") -> tuple[Run, Path]:
    """``curate corpus`` on a one-source recipe over a small QA file, with extra TOML at each place."""
    root = ctx.tmp(f"recipe-{name}")
    (root / "data").mkdir()
    (root / "data" / "q.jsonl").write_bytes(b"\n".join(jsonl(f"r{name[:3]}", ROWS)) + b"\n")
    (root / "src.toml").write_text(f'reader = "qa"\ninputs = ["data"]\n{source}\n')
    (root / "mix.toml").write_text(f'name = "{title}"\n{top}\n[[sources]]\nrecipe = "src.toml"\n{entry}\n{tail}\n')
    return invoke(["corpus", root / "mix.toml", "--out", root / "out", "--workers", "1", "--no-progress"],
                  timeout=60), root


def refused(ctx: Ctx, name: str, names: list[str], **toml: str) -> list[Defect]:
    run, _ = corpus(ctx, name, **toml)
    return failed_clearly(run, names)


def _all_read(run: Run, root: Path) -> list[Defect]:
    if run.code != 0:
        return []
    view = BuildView.load(root / "out" / "mix", "qa")
    return [] if len(view.records) == ROWS else [
        Defect(LOSS, f"exit 0, but {len(view.records)} of {ROWS} records read")]


CASES = [
    # name, toml pieces, names the error must mention
    ("template-is-a-number", {"source": "[options]\ntemplate = 42"}, ["template"]),
    ("template-does-not-exist", {"source": '[options]\ntemplate = "no_such_family"'}, ["template", "no_such_family"]),
    ("template-path-escapes", {"source": '[options]\ntemplate = "../../../../etc/passwd"'}, ["template"]),
    ("weight-is-a-word", {"entry": 'weight = "heavy"'}, ["weight"]),
    ("weight-is-negative", {"entry": "weight = -1.0"}, ["weight"]),
    ("seed-is-a-word", {"top": 'seed = "abc"'}, ["seed"]),
    ("seed-is-a-float", {"top": "seed = 1.5"}, ["seed"]),
    ("exact-dedup-is-a-string", {"top": 'exact_dedup = "no"'}, ["exact_dedup"]),
    ("shard-records-zero", {"top": "shard_records = 0"}, ["shard_records"]),
    ("partitions-zero", {"top": "partitions = 0"}, ["partitions"]),
    ("partitions-is-a-word", {"top": 'partitions = "many"'}, ["partitions"]),
    ("unknown-top-level-key", {"top": "sed = 1"}, ["sed"]),
    ("unknown-source-key", {"source": "wieght = 1"}, ["wieght"]),
    ("unknown-reader-option", {"source": '[options]\nquestoin_fields = ["q"]'}, ["questoin_fields"]),
    ("unknown-quality-threshold", {"source": "[quality]\nmin_charz = 5"}, ["min_charz"]),
    ("negative-min-chars", {"source": "[quality]\nmin_chars = -5"}, ["min_chars"]),
    ("fraction-above-one", {"source": "[quality]\nmax_dup_line_frac = 2.5"}, ["max_dup_line_frac"]),
    ("threshold-is-a-string", {"source": '[quality]\nmax_symbol_ratio = "0.3"'}, ["max_symbol_ratio"]),
    ("minhash-threshold-above-one", {"tail": "[near_dedup]\n[near_dedup.minhash]\nthreshold = 1.5"}, ["threshold"]),
    ("minhash-zero-permutations", {"tail": "[near_dedup]\n[near_dedup.minhash]\nnum_perm = 0"}, ["num_perm"]),
    ("nfkc-is-a-string", {"source": '[clean]\nnfkc = "false"'}, ["nfkc"]),
    ("scrub-is-a-string", {"source": 'scrub = "yes"'}, ["scrub"]),  # a table, true or false
    ("inputs-is-a-number", {"source": "inputs = 42"}, ["inputs"]),
    ("reader-is-a-number", {"source": "reader = 5"}, ["reader"]),
    ("unknown-key-in-a-sources-entry", {"entry": "wieght = 2.0"}, ["wieght"]),
    ("decontam-ngram-zero", {"tail": "[decontam]\nngram_words = 0\n[[decontam.benchmarks]]\nname = \"m\"\n"
                                     f'loader = "medqa"\npath = "{REPO}/samples/instruct/medqa/test.jsonl"'},
     ["ngram_words"]),
    ("tokenizer-path-missing", {"top": 'tokenizer = "no/such/tokenizer"'}, ["tokenizer", "no/such"]),
]


def _register(name: str, toml: dict[str, str], names: list[str]) -> None:
    case("recipes", f"corpus/{name}")(lambda ctx: refused(ctx, name, names, **toml))


for _name, _toml, _names in CASES:
    _register(_name, _toml, _names)


@case("recipes", "corpus/question-fields-is-one-string")
def question_fields_string(ctx: Ctx) -> list[Defect]:
    """``question_fields = "question"`` means the one field: taken as such (nothing lost), or refused."""
    run, root = corpus(ctx, "qfields", source='[options]\nquestion_fields = "question"\nanswer_fields = "answer"')
    return failed_clearly(run, ["question_fields"], accept=True) + _all_read(run, root)


@case("recipes", "corpus/name-escapes-out")
def name_escapes(ctx: Ctx) -> list[Defect]:
    run, root = corpus(ctx, "escape", title="../escaped-build")
    found = failed_clearly(run, ["name"], accept=True)
    if (root / "escaped-build").exists():
        found.append(Defect(UNCLEAR, "name = '../escaped-build' wrote the build outside --out"))
    return found


def instruct(ctx: Ctx, name: str, names: list[str], *, top: str = "", entry: str = "") -> list[Defect]:
    """``curate corpus`` on a one-dataset instruction recipe (the MedQA sample) with extra TOML."""
    root = ctx.tmp(f"instruct-{name}")
    (root / "i.toml").write_text(f'name = "i"\nkind = "instruct"\n{top}\n[[sources]]\nname = "medqa"\n'
                                 f'loader = "medqa"\ninputs = ["{REPO}/samples/instruct/medqa/train.jsonl"]\n{entry}\n')
    run = invoke(["corpus", root / "i.toml", "--out", root / "out", "--workers", "1", "--no-progress"], timeout=60)
    return failed_clearly(run, names)


INSTRUCT = [
    ("weight-is-a-word", {"entry": 'weight = "heavy"'}, ["weight"]),
    ("seed-is-a-word", {"top": 'seed = "abc"'}, ["seed"]),
    ("seq-len-negative", {"top": "seq_len = -5"}, ["seq_len"]),
    ("valid-fraction-is-a-word", {"top": 'valid_fraction = "lots"'}, ["valid_fraction"]),
    ("max-examples-is-a-string", {"entry": 'max_examples = "10"'}, ["max_examples"]),
    ("overlong-unknown", {"top": 'overlong = "squash"'}, ["overlong"]),
    ("task-is-a-number", {"entry": 'task = 5'}, ["task"]),
]


def _register_instruct(name: str, toml: dict[str, str], names: list[str]) -> None:
    case("recipes", f"instruct/{name}")(lambda ctx: instruct(ctx, name, names, **toml))


for _name, _toml, _names in INSTRUCT:
    _register_instruct(_name, _toml, _names)


@case("recipes", "corpus/recipe-not-toml")
def not_toml(ctx: Ctx) -> list[Defect]:
    root = ctx.tmp("not-toml")
    (root / "mix.toml").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(200)))
    return failed_clearly(invoke(["corpus", root / "mix.toml", "--workers", "1"]), ["mix.toml"])


@case("recipes", "corpus/recipe-with-bom")
def recipe_bom(ctx: Ctx) -> list[Defect]:
    run, root = corpus(ctx, "bom")
    (root / "mix.toml").write_bytes(b"\xef\xbb\xbf" + (root / "mix.toml").read_bytes())
    run = invoke(["corpus", root / "mix.toml", "--out", root / "out2", "--workers", "1", "--no-progress"])
    return failed_clearly(run, ["mix.toml"], accept=True)


def _kg(ctx: Ctx, name: str, sets: list[str], names: list[str]) -> list[Defect]:
    root = ctx.tmp(f"kg-set-{name}")
    (root / "g.ttl").write_text('@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n'
                                '<http://e.org/D1> rdfs:label "flu" .\n')
    args = ["build", "kg", "--input", root / "g.ttl", "--out", root / "out", "--workers", "1", "--no-progress"]
    return failed_clearly(invoke([*args, *(a for s in sets for a in ("--set", s))]), names)


@case("recipes", "set/kg-budget-is-a-word")
def kg_budget_word(ctx: Ctx) -> list[Defect]:
    return _kg(ctx, "budget", ["budget=abc"], ["budget"])


@case("recipes", "set/kg-unknown-scale")
def kg_unknown_scale(ctx: Ctx) -> list[Defect]:
    return _kg(ctx, "scale", ['scales=["nope"]'], ["scales", "nope"])


@case("recipes", "set/unknown-option")
def set_unknown(ctx: Ctx) -> list[Defect]:
    return _kg(ctx, "unknown", ["budgte=3"], ["budgte"])


@case("recipes", "set/not-key-value")
def set_malformed(ctx: Ctx) -> list[Defect]:
    return _kg(ctx, "malformed", ["budget"], ["budget", "KEY=VALUE"])


__all__ = ["UNCLEAR"]

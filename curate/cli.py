"""The ``curate`` command line: thin shells over library functions.

Exit codes: 0 success; 1 an error (bad recipe, missing input, failed step) or an unbalanced audit;
2 usage error; 3 ``--strict`` and some input was quarantined.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from curate import __version__

_DEBUG = bool(os.environ.get("CURATE_DEBUG"))


def _fail_cleanly(fn: Callable) -> Callable:
    """Turn any error into one line naming the file and what to do (``core.errors.describe``); with
    ``--debug`` (or ``CURATE_DEBUG=1``) the traceback instead."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
            raise
        except Exception as err:
            if _DEBUG:
                raise
            from curate.core.errors import describe

            raise click.ClickException(describe(err)) from None

    return wrapper


_COMMAND_LINE = False


def _alone() -> None:
    """A build from the real command line runs alone in its process: pyarrow need not look for pandas
    (``core.workers``); a build invoked from Python code leaves its caller's pyarrow as it is."""
    if _COMMAND_LINE:
        from curate.core.workers import pyarrow_without_pandas

        pyarrow_without_pandas()


# What every build's workers import (the readers' and steps' modules follow with the build's plan).
_EARLY_MODULES = ["curate.readers.readtask", "curate.core.tasks", "curate.tokens.tokenize"]


def _early_pool(workers: int | None, executor: str, out: str, name: str | None,
                readers: list[str] | None = None) -> None:
    """A build from the real command line on local workers spawns them before it imports and plans
    (``core.workers.start_early``), each importing the modules every build's tasks run and the modules of
    ``readers`` (the build's reader names), unless ``out/name`` holds a finished build that will run no task.
    Such a build also ends without tearing its interpreter down (``_leave``)."""
    global _FAST_EXIT
    if not _COMMAND_LINE:
        return
    _FAST_EXIT = True
    if executor != "local":
        return
    if name is not None and "://" not in out and (Path(out) / name / "manifest.json").is_file():
        return
    from curate.core import workers as workers_mod

    # A reader's module is curate.readers.<name> (one a user registered elsewhere is imported with the plan).
    modules = [*_EARLY_MODULES, *(f"curate.readers.{r}" for r in readers or [])]
    workers_mod.start_early(workers_mod.count(workers), modules)


def _recipe_plan(recipe: Path) -> tuple[str | None, list[str]]:
    """The ``name`` of a corpus recipe and the readers of its sources, read cheaply for the early pool
    (what cannot be read is left out: the full load reports why)."""
    from curate.core.config import RecipeError, load_toml, resolve

    try:
        data = load_toml(recipe)
    except (OSError, RecipeError):
        return None, []
    name = data.get("name")
    readers = []
    for entry in data.get("sources", []) if isinstance(data.get("sources"), list) else []:
        try:
            reader = load_toml(Path(resolve(recipe.parent, entry["recipe"]))).get("reader")
        except (OSError, RecipeError, KeyError, TypeError):
            continue
        if isinstance(reader, str) and reader.isidentifier() and reader not in readers:
            readers.append(reader)
    return (name if isinstance(name, str) and name else None), readers


_FAST_EXIT = False  # a build from the real command line: its process ends without tearing Python down


def _leave(code: Any) -> None:
    """End a command-line build's process now that its work is written and its output printed, without
    unloading what it imported (pyarrow, pymupdf, tokenizers, ...: a tenth of a second or more that the
    user would wait for): the exit handlers run, the streams are flushed, then the process exits with
    ``code``. Left to Python's usual exit when another thread still runs, ``code`` is a message, or a
    profiler, tracer or debugger watches the process (``python -m cProfile`` writes its file after the
    command returns)."""
    import threading

    if not _FAST_EXIT or not (code is None or isinstance(code, int)) or sys.getprofile() or sys.gettrace():
        return
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    import atexit
    import contextlib

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed pipe: nothing left to say
            stream.flush()
    os._exit(code or 0)


class _Main(click.Group):
    """The ``curate`` group: ``--debug`` is accepted anywhere on the command line, and no command's error
    reaches the user as a traceback without it."""

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        global _DEBUG, _COMMAND_LINE
        if args is None:  # the real command line: this process runs curate alone
            _COMMAND_LINE = True
            from curate.core.workers import skip_unused_imports

            skip_unused_imports()
        args = list(sys.argv[1:] if args is None else args)
        end = args.index("--") if "--" in args else len(args)
        _DEBUG = "--debug" in args[:end] or bool(os.environ.get("CURATE_DEBUG"))
        args = [a for i, a in enumerate(args) if not (a == "--debug" and i < end)]
        if not _COMMAND_LINE or not kwargs.get("standalone_mode", True):
            return super().main(args, *rest, **kwargs)
        try:
            return super().main(args, *rest, **kwargs)
        except SystemExit as done:  # how click ends the real command line, every time
            _leave(done.code)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        return _fail_cleanly(super().invoke)(ctx)


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="curate")
@click.option("--debug", is_flag=True, help="Show the full traceback of an error (accepted anywhere on the command "
              "line; or set CURATE_DEBUG=1).")
def main(debug: bool) -> None:
    """curate: turn raw medical sources into training corpora for LLM adaptation.

    \b
    Typical use:
      curate corpus recipes/stage1.toml            # all stage-1 sources -> Megatron shards
      curate build articles --input pubmed/ --out build/
      curate audit build/stage1                    # prove records in = out + dropped
      curate inspect build/stage1/tokens/articles_text_document
      curate report build/stage1 --open           # the build report in a browser
    """


def _report(result: Any, strict: bool, lines: list[str] | None = None) -> None:
    from curate.core import manifest

    for line in lines if lines is not None else manifest.summary(result.manifest, result.root):
        click.echo(line)
    click.echo(f"  tasks: {result.ran} run, {result.skipped} already done")
    steps = ", ".join(f"{step} {s:.1f}s" for step, s in result.seconds.items() if s >= 0.05)
    click.echo(f"  time: {steps or 'nothing to do'}")
    if (result.root / "report.html").is_file():
        click.echo(f"  report: {result.root / 'report.html'}")
    if strict and result.manifest["quarantined"]:
        click.echo(f"--strict: {result.manifest['quarantined']} quarantined item(s); failing", err=True)
        sys.exit(3)


_common = [
    click.option("--workers", type=click.IntRange(min=1), default=None,
                 help="Worker processes [default: all CPU cores available]."),
    click.option("--strict", is_flag=True, help="Exit with code 3 if any input was quarantined."),
    click.option("--progress/--no-progress", default=None,
                 help="Progress bars on stderr [default: when stderr is a terminal]."),
    click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                 help="Where tasks run: local processes, or a Ray cluster (pip install 'curate[ray]'); "
                 "the outputs are the same."),
    click.option("--ray-address", default=None, metavar="HOST:PORT",
                 help="Ray cluster to join with --executor ray [default: RAY_ADDRESS, else the local "
                 "cluster 'ray start' made]."),
]


def _with_common(fn: Callable) -> Callable:
    for option in reversed(_common):
        fn = option(fn)
    return fn


@main.command()
@click.argument("recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", default="build", show_default=True,
              help="Parent directory or URL (s3://bucket/prefix, gs://..., any fsspec filesystem); the build "
              "goes to OUT/<recipe name>.")
@click.option("--tokenizer", "tokenizer_path", type=click.Path(exists=True, file_okay=False),
              default=None, help="Local Hugging Face tokenizer directory [default: the recipe's, "
              "else the bundled BPE].")
@click.option("--eod-token", default=None, help="Token appended after each document "
              "[default: the tokenizer's eos_token].")
@_with_common
@_fail_cleanly
def corpus(recipe: Path, out: str, tokenizer_path: str | None, eod_token: str | None,
           workers: int | None, strict: bool, progress: bool | None, executor: str, ray_address: str | None) -> None:
    """Build a corpus from a mixture RECIPE.

    A pre-training recipe (stage 1) is read, cleaned, deduplicated, decontaminated and tokenized into
    Megatron shards; the summary ends with the Megatron --data-path blend. An instruction recipe
    (kind = "instruct", stages 2 and 3) is loaded, rendered through the chat template with loss masks,
    guarded against evaluation-set leakage and packed into Parquet shards under OUT/<name>/packed/.

    Reruns skip finished work; a killed build resumes where it stopped.

    \b
    Example:
      curate corpus recipes/stage1.toml --out build
      curate corpus recipes/stage2.toml --out build
    """
    _early_pool(workers, executor, out, *_recipe_plan(recipe))
    import dataclasses

    from curate.build import pipeline, recipes
    from curate.core.config import is_instruct

    if is_instruct(recipes.load_toml(recipe)):
        from curate.instruct import recipe as instruct_recipe

        _instruct(instruct_recipe.load(recipe), out, tokenizer_path, workers, strict, progress, executor,
                  ray_address)
        return
    spec = recipes.load_corpus(recipe)
    if tokenizer_path:
        spec = dataclasses.replace(spec, tokenizer=str(Path(tokenizer_path).resolve()))
    if eod_token:
        spec = dataclasses.replace(spec, eod_token=eod_token)
    _alone()
    result = pipeline.run(spec, _under(out, spec.name), workers=workers, progress=progress, executor=executor,
                          address=ray_address)
    _report(result, strict)


def _under(out: str, name: str) -> Path | str:
    """``out/name``: a local path, or a URL when ``out`` is one."""
    return f"{out.rstrip('/')}/{name}" if "://" in out else Path(out) / name


def _instruct(spec: Any, out: str, tokenizer_path: str | None, workers: int | None, strict: bool,
              progress: bool | None, executor: str, ray_address: str | None) -> None:
    """Build an instruction recipe (``kind = "instruct"``) into packed shards and print its summary."""
    import dataclasses

    from curate.instruct import build, outputs

    if tokenizer_path:
        spec = dataclasses.replace(spec, tokenizer=str(Path(tokenizer_path).resolve()))
    result = build.run(spec, _under(out, spec.name), workers=workers, progress=progress, executor=executor,
                       address=ray_address)
    _report(result, strict, outputs.summary(result.manifest, result.root))


def _parse_set(values: tuple[str, ...]) -> dict[str, Any]:
    from curate.core.config import RecipeError, parse_overrides

    try:
        return parse_overrides(values)
    except RecipeError as err:
        raise click.BadParameter(str(err), param_hint="--set") from None


@main.group()
def build() -> None:
    """Build one source into cleaned, deduplicated Document shards (Parquet).

    Output goes to OUT/<source>/: record shards per step under sources/<source>/<step>/, ledger.parquet,
    flow.json and manifest.json. Pass --tokenizer to also write Megatron shards.
    """


def _build_command(reader: str, summary: str, extra: list[Callable] | None = None) -> None:
    @build.command(reader, help=summary)
    @click.option("--input", "inputs", multiple=True, help="Input file, directory or glob "
                  "(repeatable) [default: the recipe's inputs].")
    @click.option("--out", default="build", show_default=True,
                  help="Parent directory or URL (s3://...); the build goes to OUT/<source>.")
    @click.option("--recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path),
                  help="Source recipe (TOML) with options and clean thresholds.")
    @click.option("--name", help="Source name used in ids and paths [default: the reader name].")
    @click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                  help="Reader option (repeatable), e.g. --set template=qa.")
    @click.option("--tokenizer", "tokenizer_path", default=None,
                  help="Also tokenize into Megatron shards with this tokenizer directory "
                  "('bundled' for the default BPE).")
    @_with_common
    @_fail_cleanly
    def command(inputs: tuple[str, ...], out: str, recipe: Path | None, name: str | None,
                sets: tuple[str, ...], tokenizer_path: str | None, workers: int | None, strict: bool,
                progress: bool | None, executor: str, ray_address: str | None, **reader_options: Any) -> None:
        _early_pool(workers, executor, out, None if recipe else name or reader, [reader])
        import dataclasses

        from curate.build import pipeline, recipes
        from curate.build.schema import check_options

        options = {k: v for k, v in reader_options.items() if v is not None}
        options.update(_parse_set(sets))
        if recipe:
            src = recipes.load_source(recipe)
            check_options(src.reader, options)
            merged = {**{f.name: getattr(src.options, f.name)
                         for f in dataclasses.fields(src.options)}, **options}
            src = dataclasses.replace(src, options=recipes.make_config(
                type(src.options), merged, Path.cwd(), "--set"))
        else:
            check_options(reader, options)
            src = recipes.source_from_dict({"reader": reader, "options": options}, Path.cwd(), "--set")
        if inputs:
            src = dataclasses.replace(src, inputs=tuple(i if "://" in i else os.path.abspath(i) for i in inputs))
        if name:
            src = dataclasses.replace(src, name=name)
        if not src.inputs:
            raise click.UsageError("no inputs: pass --input or a --recipe with inputs")
        tok = None if tokenizer_path in (None, "bundled") else str(Path(tokenizer_path).resolve())
        spec = recipes.CorpusSpec(name=src.name, sources=(src,), tokenizer=tok)
        _alone()
        result = pipeline.run(spec, _under(out, src.name), workers=workers, tokenize_docs=tokenizer_path is not None,
                              progress=progress, executor=executor, address=ray_address)
        _report(result, strict)

    for option in reversed(extra or []):
        command = option(command)


_build_command("articles", "PubMed XML (.xml, .xml.gz) abstracts and text/Markdown/HTML articles.",
               [click.option("--exclude-pmids", type=click.Path(exists=True, dir_okay=False),
                             help="PMID list to leave out (one per line, or a JSON object whose keys "
                             "are PMIDs, e.g. PubMedQA's ori_pqal.json).")])
_build_command("qa", "Question-answer pairs and consultations (JSONL, JSON, CSV, alpaca, ShareGPT).")
_build_command("exams", "Multiple-choice exam questions rewritten into knowledge points.")
_build_command("promptcblue", "PromptCBLUE JSON lines rendered as pre-training text.")
_build_command("books", "Medical books (PDF, EPUB, MOBI, XPS, FB2) into clean chapter or section text. PHI "
               "(e-mail addresses, phone numbers, ids) is replaced by placeholders unless a --recipe says "
               "scrub = false.",
               [click.option("--pdf-password", default=None, help="Password for encrypted PDFs.")])
_build_command("kg", "Knowledge graphs (RDF, TSV/CSV triples, JSON/CSV entity records) verbalised as text.",
               [click.option("--sample-subgraphs/--no-sample-subgraphs", default=None,
                             help="Sample sub-graphs at several scales (stars, k-hop, random walks) "
                             "with full triple coverage, instead of one document per entity."),
                click.option("--format", "format", default=None,
                             help="Input format: tsv or csv for triple and entity tables whatever their suffix "
                             "(.spo, .txt), or an rdflib format for RDF (turtle, nt, xml, json-ld) "
                             "[default: from the suffix, else from the content]."),
                click.option("--seed", type=int, default=None, help="Sampling seed."),
                click.option("--lang", type=click.Choice(["zh", "en", "auto"]), default=None,
                             help="Language of the verbalised text [default: auto, from the labels].")])


@build.command("documents")
@click.option("--input", "inputs", multiple=True, required=True,
              help="JSON lines, Parquet (or CSV) file, directory or glob (repeatable).")
@click.option("--json-keys", "json_keys", multiple=True, default=("text",), show_default=True,
              help="Field(s) holding text, one Megatron dataset each (repeatable, or space/comma separated).")
@click.option("--output-prefix", default="build/documents", show_default=True,
              help="Megatron-style prefix DIR/NAME: the build goes to DIR/NAME/ and the token files to "
              "DIR/NAME/tokens/NAME_<key>_document.{bin,idx}.")
@click.option("--tokenizer", "tokenizer_path", default="bundled", show_default=True,
              help="Local Hugging Face tokenizer directory, or 'bundled'.")
@click.option("--append-eod", is_flag=True, help="Append the tokenizer's EOD token after each document that "
              "has tokens (as Megatron's --append-eod).")
@click.option("--steps", default="", metavar="STEP,...", help="Curation to run before tokenizing (default none: "
              "the text is written as it is): clean, scrub, quality, dedup, near_dedup.")
@click.option("--recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Source recipe whose [clean], [quality] and [scrub] tables the steps use.")
@click.option("--id-field", default="", help="Field holding a unique record id to keep [default: ids from the "
              "position, <file>#L<line>].")
@click.option("--part-size", type=click.IntRange(min=0), default=4, show_default=True, metavar="MIB",
              help="Files larger than this are read in parts of this size by parallel tasks (0: whole).")
@_with_common
@_fail_cleanly
def build_documents(inputs: tuple[str, ...], json_keys: tuple[str, ...], output_prefix: str,
                    tokenizer_path: str, append_eod: bool, steps: str, recipe: Path | None, id_field: str,
                    part_size: int, **run: Any) -> None:
    """Tokenize already-clean documents into Megatron shards, like Megatron-LM's preprocess_data.py.

    The text is not changed unless --steps asks for it, so the .bin/.idx files are byte-identical to
    preprocess_data.py's with the same --json-keys, --append-eod and tokenizer. Every record that is
    not written (a broken line, a missing or non-text field) is in ledger.parquet.

    \b
    Example (Megatron: --input corpus.jsonl --json-keys text --output-prefix data/corpus --append-eod):
      curate build documents --input corpus.jsonl --json-keys text --output-prefix data/corpus --append-eod \\
          --tokenizer /models/qwen --workers 16     # -> data/corpus/tokens/corpus_text_document.bin
    """
    keys = tuple(k for item in json_keys for k in item.replace(",", " ").split())
    out, _, prefix = output_prefix.rstrip("/").rpartition("/")
    _early_pool(run["workers"], run["executor"], out or ".", prefix, ["documents"])
    from curate.build import documents

    tok = None if tokenizer_path == "bundled" else str(Path(tokenizer_path).resolve())
    options = _run_options(run)
    strict = options.pop("strict")
    _alone()
    result = documents.run(tuple(i if "://" in i else os.path.abspath(i) for i in inputs), keys, out or ".", prefix,
                           tok, append_eod, tuple(s for s in steps.replace(",", " ").split()), recipe,
                           id_field, part_bytes=part_size << 20, **options)
    _report(result, strict)


def _standalone(inputs: tuple[str, ...], out: str, name: str, steps: tuple[str, ...], text_field: str,
                run: dict[str, Any], scrub: object = None, **spec: object) -> None:
    """Run one or two build steps alone over record files with a text field."""
    _early_pool(run["workers"], run["executor"], out, name, ["documents"])
    from curate.build import pipeline, recipes
    from curate.readers.documents import Config

    src = recipes.SourceSpec(name=name, reader="documents",
                             inputs=tuple(i if "://" in i else os.path.abspath(i) for i in inputs),
                             options=Config(text_field=text_field), scrub=scrub)
    corpus = recipes.CorpusSpec(name=name, sources=(src,), steps=steps, **spec)
    strict = run.pop("strict")
    _alone()
    _report(pipeline.run(corpus, _under(out, name), tokenize_docs=False, **run), strict)


def _run_options(run: dict[str, Any]) -> dict[str, Any]:
    """The common options as ``pipeline.run`` keywords (plus ``strict``)."""
    return {"workers": run["workers"], "progress": run["progress"], "executor": run["executor"],
            "address": run["ray_address"], "strict": run["strict"]}


def _standalone_options(default_name: str) -> list[Callable]:
    return [
        click.argument("inputs", nargs=-1, required=True),
        click.option("--out", default="build", show_default=True,
                     help="Parent directory or URL (s3://...); the result goes to OUT/<name>."),
        click.option("--name", default=default_name, show_default=True, help="Name of the result (and source)."),
        click.option("--text-field", default="text", show_default=True, help="Field holding the text."),
        *_common,
    ]


def _with(options: list[Callable]) -> Callable:
    def decorate(fn: Callable) -> Callable:
        for option in reversed(options):
            fn = option(fn)
        return fn
    return decorate


@main.command()
@_with(_standalone_options("dedup"))
@click.option("--threshold", type=float, default=None, help="Jaccard similarity that makes a near duplicate "
              "[default: 0.8, as in dedup.minhash.MinHashConfig].")
@click.option("--num-perm", type=int, default=None, help="MinHash permutations [default: 256].")
@click.option("--ngram", type=int, default=None, help="Shingle size in tokens (words; CJK characters) [default: 5].")
@click.option("--verify", type=click.Choice(["estimate", "exact", "none"]), default="estimate", show_default=True,
              help="How candidate pairs are confirmed: signature estimate, exact shingle Jaccard, or not at all.")
@click.option("--exact/--no-exact", default=True, show_default=True, help="Also remove exact duplicates first.")
@_fail_cleanly
def dedup(inputs: tuple[str, ...], out: str, name: str, text_field: str, threshold: float | None,
          num_perm: int | None, ngram: int | None, verify: str, exact: bool, **run: Any) -> None:
    """Remove exact and near duplicates (MinHash LSH) from record files INPUTS.

    INPUTS are Parquet shards (e.g. another build's sources/*/quality), JSONL or CSV with a text
    field. The kept records and a ledger naming each dropped record's kept copy and estimated
    Jaccard similarity go to OUT/NAME; report.md shows the S-curve and sample clusters.
    """
    from curate.dedup.minhash import MinHashConfig
    from curate.dedup.near import NearDedupConfig

    given = {"ngram": ngram, "num_perm": num_perm, "threshold": threshold}
    near = NearDedupConfig(minhash=MinHashConfig(**{k: v for k, v in given.items() if v is not None}), verify=verify)
    _standalone(inputs, out, name, ("dedup", "near_dedup"), text_field, _run_options(run), exact_dedup=exact,
                near_dedup=near)


@main.command()
@_with(_standalone_options("scrub"))
@_fail_cleanly
def scrub(inputs: tuple[str, ...], out: str, name: str, text_field: str, **run: Any) -> None:
    """Replace PHI/PII (e-mails, phones, resident ids, card numbers, IPs, URLs with queries) by typed
    placeholders in record files INPUTS; counts per type go to the ledger and report.md."""
    from curate.filters.phi import ScrubConfig

    _standalone(inputs, out, name, ("scrub",), text_field, _run_options(run), scrub=ScrubConfig())


@main.command()
@_with(_standalone_options("decontam"))
@click.option("--benchmark", "benchmarks", multiple=True, metavar="LOADER:PATH[:IDS]",
              help="Evaluation set (repeatable): loader pubmedqa, medqa, medmcqa, mmlu, cmmlu or jsonl, its file, "
              "and for pubmedqa an optional test-id list, e.g. pubmedqa:ori_pqal.json:test_ground_truth.json.")
@click.option("--recipe", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A corpus recipe whose [decontam] section names the benchmarks.")
@_fail_cleanly
def decontam(inputs: tuple[str, ...], out: str, name: str, text_field: str, benchmarks: tuple[str, ...],
             recipe: Path | None, **run: Any) -> None:
    """Remove records of INPUTS that overlap evaluation sets (13-word n-grams; CJK character n-grams)
    or carry their PMIDs. Every hit is a ledger row naming the benchmark, item and n-gram."""
    from curate.build import recipes

    if recipe:
        data = recipes.load_toml(recipe)
        if "decontam" not in data:
            raise click.UsageError(f"{recipe} has no [decontam] section")
        spec = recipes.decontam_spec(data["decontam"], recipe.parent, str(recipe))
    elif benchmarks:
        entries = []
        for item in benchmarks:
            loader, _, rest = item.partition(":")
            path, _, ids = rest.partition(":")
            if not path:
                raise click.BadParameter(f"expected LOADER:PATH[:IDS], got {item!r}", param_hint="--benchmark")
            names = [e["name"] for e in entries]
            entry = {"name": loader if loader not in names else f"{loader}{len(names)}", "loader": loader,
                     "path": path, **({"ids": ids} if ids else {})}
            entries.append(entry)
        spec = recipes.decontam_spec({"benchmarks": entries}, Path.cwd(), "--benchmark")
    else:
        raise click.UsageError("name the evaluation sets with --benchmark or --recipe")
    _standalone(inputs, out, name, ("decontam",), text_field, _run_options(run), decontam=spec)


@main.command()
@click.argument("build_dir")
@_fail_cleanly
def audit(build_dir: str) -> None:
    """Check that records in = records out + dropped, per source and per step, in BUILD_DIR.

    Recounts from the shards, the ledger and the token index; exits 1 on any imbalance. BUILD_DIR may
    be a URL (s3://...): the published build is fetched into the local cache first.
    """
    from curate.core import storage
    from curate.core.audit import audit as run_audit

    if storage.is_url(build_dir):
        root = storage.working_copy(build_dir)
    elif Path(build_dir).is_dir():
        root = Path(build_dir)
    else:
        raise click.BadParameter(f"{build_dir!r} is not a build directory", param_hint="BUILD_DIR")
    report = run_audit(root)
    for line in report.lines:
        click.echo(line)
    for problem in report.problems:
        click.echo(f"  PROBLEM: {problem}", err=True)
    if not report.ok:
        sys.exit(1)
    click.echo("  balanced: every record is in the output or in the ledger")


@main.command()
@click.argument("path", type=click.Path(path_type=Path))
@click.option("-n", "count", type=int, default=None, help="Show the first N documents [3] or packs [1].")
@click.option("--index", "indices", multiple=True, type=int, help="Show document or pack I (repeatable; "
              "negative counts from the end).")
@click.option("--tokenizer", "tokenizer_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Tokenizer directory [default: the one recorded by the build].")
@click.option("--color/--no-color", "colour", default=None,
              help="Mark loss-carrying tokens of packs in colour [default: on a terminal, unless NO_COLOR is "
              "set]; otherwise they are shown between ⟦ and ⟧.")
@_fail_cleanly
def inspect(path: Path, count: int | None, indices: tuple[int, ...], tokenizer_dir: Path | None,
            colour: bool | None) -> None:
    """Print training data as text: a Megatron dataset PATH (prefix without .bin/.idx) or packed Parquet.

    For a packed shard (packed/train-00000.parquet) or a packed/ directory, each pack is split into its
    examples at the boundaries, with record id, task and token span, and the tokens that carry loss
    (labels not -100: the replies) marked.

    \b
    Example:
      curate inspect build/stage1/tokens/articles_text_document -n 2
      curate inspect build/stage2/packed/train-00000.parquet --index 0
    """
    from curate.tokens import inspect as inspect_mod

    if path.is_dir() or (path.suffix == ".parquet" and not path.name.endswith(".docs.parquet")):
        try:
            total, packs = inspect_mod.show_packs(path, list(indices), count or 1, tokenizer_dir)
        except (IndexError, ValueError) as err:
            raise click.ClickException(str(err)) from None
        colour = colour if colour is not None else sys.stdout.isatty() and "NO_COLOR" not in os.environ
        click.echo(f"{path}: {total:,} packs")
        for pack in packs:
            for line in inspect_mod.render_pack(pack, colour):
                click.echo(line, color=colour)
        return
    prefix = Path(str(path).removesuffix(".docs.parquet").removesuffix(".bin").removesuffix(".idx"))
    try:
        reader, docs = inspect_mod.show(prefix, list(indices), count or 3, tokenizer_dir)
    except (IndexError, ValueError) as err:  # out of range; a cut-off or foreign dataset file
        raise click.ClickException(str(err)) from None
    click.echo(f"{prefix}: {reader.num_documents:,} documents, {reader.index.num_tokens:,} tokens, "
               f"dtype {reader.index.dtype}")
    for doc in docs:
        click.echo(f"\n--- [{doc.index}] {doc.id or ''} ({doc.tokens} tokens)")
        click.echo(doc.text)


@main.group()
def tokenizer() -> None:
    """Train or check tokenizers."""


@tokenizer.command("train")
@click.option("--input", "inputs", multiple=True, required=True,
              help="Files, directories or globs: Parquet shards (text column), text/Markdown/HTML, "
              "JSON/JSONL/CSV records, PubMed XML (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write tokenizer.json and tokenizer_config.json to.")
@click.option("--vocab-size", default=32000, show_default=True, help="Target vocabulary size.")
@click.option("--min-frequency", default=2, show_default=True, help="Minimum pair count for a merge.")
@_fail_cleanly
def tokenizer_train(inputs: tuple[str, ...], out: Path, vocab_size: int, min_frequency: int) -> None:
    """Train a byte-level BPE (zh and en) with curate's special tokens on your corpus."""
    from curate.readers import discover
    from curate.tokens import tokenizer as tok_mod

    suffixes = (".parquet", ".txt", ".md", ".html", ".htm", ".jsonl", ".json", ".csv", ".tsv", ".xml")
    files = [p for p, _ in discover(inputs, suffixes)]
    skipped: list[str] = []
    tok = tok_mod.train(tok_mod.training_texts(files, skipped), vocab_size, out, min_frequency)
    click.echo(f"trained on {len(files) - len(skipped)} files: vocabulary {tok.get_vocab_size():,} -> {out}")
    for line in skipped:
        click.echo(f"  skipped unreadable file {line}", err=True)


def _register_model_commands() -> None:
    from curate.cli_model import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


class _ReportGroup(click.Group):
    """A group whose first argument, when it names no subcommand, is a build directory."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["build", *args]
        return super().parse_args(ctx, args)


@click.command("build")
@click.argument("build_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--open", "open_", is_flag=True, help="Open report.html in the default browser.")
@click.option("--budget", type=float, default=None, metavar="TOKENS",
              help="Training tokens the epochs per source are computed for [default: the corpus size].")
@_fail_cleanly
def report_build(build_dir: Path, open_: bool, budget: float | None) -> None:
    """Regenerate report.html, report.md and report.json of a finished BUILD_DIR.

    \b
    Example:
      curate report build/stage1 --open
      curate report build/stage1 --budget 15e9
    """
    from curate.build import report as report_mod

    path = report_mod.regenerate(build_dir, budget)
    click.echo(f"report: {path} ({path.stat().st_size:,} bytes)")
    if open_:
        click.launch(str(path))


def _register_report_group() -> None:
    """``curate report BUILD_DIR`` beside the subcommands the model side registers (``report stages``)."""
    model = main.commands.get("report")
    group = _ReportGroup("report", help="Build reports: `curate report BUILD_DIR [--open]` regenerates a build's "
                         "report.html; `curate report stages ...` compares training stages.")
    group.add_command(report_build)
    for name, command in (model.commands.items() if isinstance(model, click.Group) else ()):
        group.add_command(command, name)
    main.add_command(group)


_register_model_commands()
_register_report_group()

if __name__ == "__main__":  # `python -m curate.cli`, as torchrun starts it
    main()

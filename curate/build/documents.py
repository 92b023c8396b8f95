"""``curate build documents``: already-clean JSON lines or Parquet into Megatron shards.

The drop-in for Megatron-LM's ``tools/preprocess_data.py``: one source per ``--json-keys`` key, each
written to ``<prefix>_<key>_document.{bin,idx}``, with Megatron's EOD rule (``--append-eod``; an empty
document has no sequence) and no change to the text by default, so the files are byte-identical to
Megatron's for the same documents and tokenizer. Large files are read in parts by parallel tasks;
``steps`` turns on curation (``clean``, ``quality``, ``dedup``, ``near_dedup``, ``scrub``), with the
thresholds of a source recipe when one is given.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from curate.build import pipeline, recipes
from curate.readers.documents import Config
from curate.tokens import tokenize

STEPS = ("clean", "scrub", "quality", "dedup", "near_dedup")


def spec(inputs: tuple[str, ...], keys: tuple[str, ...], prefix: str, tokenizer: str | None,
         steps: tuple[str, ...] = (), recipe: Path | None = None, id_field: str = "") -> recipes.CorpusSpec:
    """The build of ``curate build documents``: a source ``<prefix>_<key>`` per key, in key order."""
    if unknown := sorted(set(steps) - set(STEPS)):
        raise recipes.RecipeError(f"unknown step(s) {', '.join(unknown)}; choose from {', '.join(STEPS)}")
    if len(set(keys)) != len(keys) or not keys:
        raise recipes.RecipeError(f"--json-keys must name distinct keys, got {' '.join(keys) or 'none'}")
    base = recipes.load_source(recipe) if recipe else None
    near = None
    if "near_dedup" in steps:
        from curate.dedup.near import NearDedupConfig

        near = NearDedupConfig()
    sources = []
    for key in keys:
        options = Config(text_field=key, id_field=id_field, detect_lang=False)
        src = recipes.SourceSpec(name=f"{prefix}_{key}", reader="documents", inputs=inputs, options=options)
        if base is not None:
            src = dataclasses.replace(src, clean=base.clean, quality=base.quality, scrub=base.scrub)
        if "scrub" in steps and src.scrub is None:
            from curate.filters.phi import ScrubConfig

            src = dataclasses.replace(src, scrub=ScrubConfig())
        sources.append(src)
    return recipes.CorpusSpec(name=prefix, sources=tuple(sources), tokenizer=tokenizer, steps=tuple(steps),
                              exact_dedup="dedup" in steps, near_dedup=near)


def run(inputs: tuple[str, ...], keys: tuple[str, ...], out: str | Path, prefix: str, tokenizer: str | None,
        append_eod: bool, steps: tuple[str, ...] = (), recipe: Path | None = None, id_field: str = "",
        **run_options: Any) -> pipeline.BuildResult:
    """Build ``<out>/<prefix>/`` with ``tokens/<prefix>_<key>_document.{bin,idx}`` per key."""
    corpus = spec(inputs, keys, prefix, tokenizer, steps, recipe, id_field)
    names = {f"{prefix}_{key}": f"{prefix}_{key}_document" for key in keys}
    root = f"{str(out).rstrip('/')}/{prefix}" if "://" in str(out) else Path(out) / prefix
    return pipeline.run(corpus, root, eod=tokenize.megatron_rule(append_eod), names=names, **run_options)

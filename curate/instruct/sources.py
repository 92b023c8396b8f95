"""Instruction sources: each dataset's published format loaded as ``Example`` or ``MCQ`` records.

``load(spec)`` yields ``(record, kind)`` pairs, kind ``"example"`` (chat turns, ``records.EXAMPLE``)
or ``"mcq"`` (``records.MCQ``, rendered into turns later), and appends ``(id, reason, message)`` to
``problems`` for every item it cannot load, so the builder can ledger it: among them, reason
``corrupt_option``, the multiple-choice items with an option the source lost (a spreadsheet error such
as ``#NAME?``, or ``nan``; see ``mcq.check_options``), which are not rendered.

Loaders (``SourceSpec.loader``):

- ``medqa``, ``medmcqa``, ``mmlu``, ``cmmlu``: the ``evalsets`` loaders (options ``split``,
  ``subjects``);
- ``pubmedqa``: PQA-L, PQA-U (pseudo-labelled by ``curate annotate``) or PQA-A files; option ``ids``
  (the official ``test_ground_truth.json``) and ``part``: ``all``, ``cv`` (PQA-L minus the official
  test split), ``train_fold``/``dev_fold`` with ``fold`` (the official ten dev folds), ``pqa_a_train``,
  ``pqa_a_dev`` (the official PQA-A split); items of other parts and items without a
  ``final_decision`` are dropped (ledgered ``other_part`` and ``unlabelled``);
- ``exams``: physician-exam MCQ rows in any shape ``readers.mcq`` parses (JSONL, JSON, CSV);
- ``promptcblue``: ``{input, target, answer_choices, task_type, task_dataset, sample_id}`` lines;
- ``qa``: every shape ``readers.qa`` detects (ShareGPT and other conversations, alpaca, Huatuo
  ``questions``/``answers`` lists, 问/答, question/answer, query/response, medical_case/doctor_diagnosis,
  ...), in any container, ``.txt`` included.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from curate.benchmarks import evalsets, mcq, pubmedqa
from curate.readers import qa as qa_reader
from curate.readers.inputs import InputError, discover_all
from curate.text import normalise as text
from curate.text.textio import NotText, Problem, iter_records

Problems = list[tuple[str, str, str]]
SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")
MCQ_LOADERS = ("medqa", "medmcqa", "mmlu", "cmmlu")
PUBMEDQA_PARTS = ("all", "cv", "train_fold", "dev_fold", "pqa_a_train", "pqa_a_dev", "test")
LOADERS = (*MCQ_LOADERS, "pubmedqa", "exams", "promptcblue", "qa")


class SourceError(ValueError):
    """A source that cannot be loaded at all (a missing file, an unknown option)."""


def _files(paths: tuple[str, ...], suffixes: tuple[str, ...], source: str,
           problems: Problems) -> list[tuple[Path, str]]:
    """Every input file with its path relative to the input it was found under (``readers.inputs``:
    links followed once, names with glob characters taken literally); what cannot be read is a problem."""
    found = []
    for base in paths:
        try:
            files, bad = discover_all([base], suffixes)
        except InputError:
            if not os.path.lexists(base):
                raise SourceError(f"no such file or directory: {base}") from None
            continue  # a folder without input files
        found += files
        problems += [(f"{source}/{rel}", "unreadable_input", f"{rel}: {msg}") for _, rel, msg in bad]
    return found


def _rows(source: str, paths: tuple[str, ...], problems: Problems,
          suffixes: tuple[str, ...] = SUFFIXES) -> Iterator[tuple[str, str, dict]]:
    """``(id, locator, row)`` for every readable row; unreadable files and lines become problems."""
    for path, rel in _files(paths, suffixes, source, problems):
        try:
            for locator, row in iter_records(path):
                rid = f"{source}/{rel}#{locator}"
                if isinstance(row, Problem):
                    problems.append((rid, row.reason, f"{rel} {locator}: {row.message}"))
                else:
                    yield rid, locator, row
        except NotText as err:
            problems.append((f"{source}/{rel}", err.reason, f"{rel}: {err}"))


def _evalset(spec: Any, problems: Problems) -> Iterator[tuple[dict, str]]:
    loader = evalsets.LOADERS[spec.loader]
    known = set(inspect.signature(loader).parameters) - {"path", "problems"}
    if unknown := sorted(set(spec.options) - known):
        raise SourceError(f"{spec.name}: loader {spec.loader!r} takes no option(s) {', '.join(unknown)}; "
                          f"its options: {', '.join(sorted(known))}")
    for path in spec.inputs:
        found: list[tuple[str, str]] = []
        try:
            yield from ((item, "mcq") for item in loader(path, problems=found, **spec.options))
        except evalsets.EvalSetError as err:
            problems.append((f"{spec.name}/{Path(path).name}", "unreadable_file", str(err)))
        problems += [(item_id, "malformed_mcq", message) for item_id, message in found]


def _pubmedqa_keep(path: str, part: str, fold: int | None) -> set[str] | None:
    """The PMIDs of the official split part ``part`` of file ``path`` (None: keep all)."""
    if part == "all":
        return None
    data = pubmedqa.load_pqal(path)
    if part in ("pqa_a_train", "pqa_a_dev"):
        train, dev = pubmedqa.pqa_a_splits(list(data))
        return set(train if part == "pqa_a_train" else dev)
    splits = pubmedqa.official_splits(data, folds=10 if part.endswith("_fold") else 0)
    if part == "test":
        return set(splits.test)
    if part == "cv":
        return set(splits.cv)
    if fold is None:
        raise SourceError(f"pubmedqa: part {part!r} needs a fold number (fold = 0..9)")
    return set(splits.train(fold) if part == "train_fold" else splits.folds[fold])


def _pubmedqa(spec: Any, problems: Problems) -> Iterator[tuple[dict, str]]:
    options = dict(spec.options)
    part, fold = options.pop("part", "all"), options.pop("fold", None)
    if part not in PUBMEDQA_PARTS:
        raise SourceError(f"{spec.name}: pubmedqa part {part!r} is not one of {', '.join(PUBMEDQA_PARTS)}")
    if unknown := sorted(set(options) - {"ids", "split"}):
        raise SourceError(f"{spec.name}: pubmedqa takes no option(s) {', '.join(unknown)}")
    for path in spec.inputs:
        keep = _pubmedqa_keep(path, part, fold)
        found: list[tuple[str, str]] = []
        for item in evalsets.load_pubmedqa(path, problems=found, **options):
            pmid = item["meta"]["pmid"]
            if keep is not None and pmid not in keep:
                problems.append((item["id"], "other_part", f"PMID {pmid} is not in part {part!r}"
                                 + (f" (fold {fold})" if fold is not None else "")))
                continue
            if not item["answer"]:
                problems.append((item["id"], "unlabelled", f"PMID {pmid} has no final_decision "
                                 "(pseudo-label PQA-U with `curate annotate pqa-u` first)"))
                continue
            yield item, "mcq"
        problems += [(item_id, "malformed_mcq", message) for item_id, message in found]


def _exams(spec: Any, problems: Problems) -> Iterator[tuple[dict, str]]:
    fields = mcq.Fields(**spec.options.get("fields", {}))
    for rid, _, row in _rows(spec.name, spec.inputs, problems):
        try:
            item = mcq.parse(row, fields, id=rid, dataset=spec.name, split=str(row.get("split") or ""))
        except mcq.MalformedMCQ as err:
            problems.append((rid, err.reason, str(err)))
            continue
        for key in ("exam_type", "exam_class", "question_type", "subject"):
            if isinstance(row.get(key), str):
                item["meta"][key] = row[key]
        yield item, "mcq"


def _message(role: str, content: Any) -> dict[str, str]:
    return {"role": role, "content": text.fix(str(content or "")).strip()}


def _promptcblue(spec: Any, problems: Problems) -> Iterator[tuple[dict, str]]:
    for rid, locator, row in _rows(spec.name, spec.inputs, problems):
        prompt, target = row.get("input"), row.get("target")
        if prompt is None or target is None:
            problems.append((rid, "malformed_record", f"{locator}: needs string 'input' and 'target'"))
            continue
        if not isinstance(prompt, str) or not isinstance(target, str):
            problems.append((rid, "non_text_field", f"{locator}: 'input' and 'target' must be text, got "
                             f"{type(prompt).__name__} and {type(target).__name__}"))
            continue
        meta = {k: row.get(k) for k in ("sample_id", "task_type", "task_dataset")}
        yield {"id": rid, "messages": [_message("user", prompt), _message("assistant", target)],
               "meta": meta}, "example"


def _qa(spec: Any, problems: Problems) -> Iterator[tuple[dict, str]]:
    cfg = qa_reader.Config(**spec.options)
    for rid, locator, row in _rows(spec.name, spec.inputs, problems, qa_reader.SUFFIXES):
        try:
            turns = qa_reader.turns_of(row, cfg)
        except qa_reader.UnknownShape as err:
            problems.append((rid, "unrecognised_record", f"{locator}: {err}"))
            continue
        except qa_reader.NonText as err:
            problems.append((rid, "non_text_field", f"{locator}: {err}"))
            continue
        meta = {f"orig_{k}": row[k] for k in ("id", "department", "title") if isinstance(row.get(k), (str, int))}
        yield {"id": rid, "messages": [_message(t["role"], t["content"]) for t in turns], "meta": meta}, "example"


def _complete(items: Iterator[tuple[dict, str]], problems: Problems) -> Iterator[tuple[dict, str]]:
    """MCQ items whose options the source did not lose (``#NAME?``, ``nan``); the others become problems."""
    for record, kind in items:
        if kind == "mcq":
            try:
                mcq.check_options(record)
            except mcq.CorruptOption as err:
                problems.append((record["id"], err.reason, str(err)))
                continue
        yield record, kind


def load(spec: Any, problems: Problems) -> Iterator[tuple[dict, str]]:
    """The records of one instruction source (``recipe.InstructSource``) with their kind."""
    if spec.loader in MCQ_LOADERS:
        return _complete(_evalset(spec, problems), problems)
    loaders = {"pubmedqa": _pubmedqa, "exams": _exams, "promptcblue": _promptcblue, "qa": _qa}
    if spec.loader not in loaders:
        raise SourceError(f"{spec.name}: unknown loader {spec.loader!r}; one of {', '.join(LOADERS)}")
    return _complete(loaders[spec.loader](spec, problems), problems)

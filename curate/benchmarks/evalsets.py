"""Evaluation sets in their published formats, loaded as ``MCQ`` records (``records.MCQ`` fields).

One loader per format, each ``load_<name>(path, *, split=None, problems=None, ...) -> Iterator[dict]``:

- ``medqa``: MedQA JSONL, ``{question, options: {A: ..}, answer_idx, answer, meta_info}``;
- ``medmcqa``: MedMCQA JSON lines, ``{id, question, opa..opd, cop (1-4), exp, subject_name, topic_name,
  choice_type}``; the published test split has no ``cop`` and gives items with an empty answer;
- ``pubmedqa``: ``ori_pqal.json``-shaped, PMID -> ``{QUESTION, CONTEXTS, LABELS, MESHES, YEAR,
  final_decision, LONG_ANSWER, reasoning_*_pred}`` (PQA-U has no ``final_decision``: empty answer;
  PQA-A has the same shape). Options yes/no/maybe; the context is the abstract with its section
  labels. ``ids`` names the official test split (``test_ground_truth.json``, PMID -> label, or a text
  file of PMIDs): items listed there are split ``test``, the others ``train``; without it the split
  is the file's stem (``ori_pqal``);
- ``mmlu``: headerless CSV ``question,A,B,C,D,answer``; subject and split from the file name
  (``clinical_knowledge_test.csv``);
- ``cmmlu``: CSV with a header ``,Question,A,B,C,D,Answer`` (also C-Eval's ``id,question,..``); the
  subject is the file's stem, the split its directory (``test/anatomy.csv``);
- ``jsonl``: any JSON lines (or JSON, CSV, Parquet) file with a text field: records whose
  ``question`` holds the text.

``path`` may be a directory (every file of the format below it, sorted) except for PubMedQA;
``split`` keeps the items of one split. Files are read through ``textio`` (UTF-8 or GB18030, ``.gz``).
Ids are ``<dataset>/<split>#<native id>`` (PMID, MedMCQA id, ``L<line>``); MMLU and CMMLU add the
subject: ``mmlu/test/anatomy#L3``.

A file that cannot be read raises ``EvalSetError``. A malformed item inside a readable file raises
``EvalSetError`` too, unless the caller passes a list as ``problems``: then ``(item id, message)`` is
appended to it and the item is skipped, so that the caller can ledger or count it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from curate.benchmarks import mcq
from curate.readers.pubmed import load_pmid_list
from curate.text import normalise as text
from curate.text.textio import NotText, Problem, base_suffix, iter_csv_rows, iter_records

Problems = list[tuple[str, str]]


class EvalSetError(ValueError):
    """An evaluation-set file or item that cannot be loaded; the message names the file and the item."""


def input_files(path: str | Path, suffixes: Iterable[str] = (".csv", ".json", ".jsonl", ".ndjson")) -> list[Path]:
    """``path`` itself, or the files below a directory whose format suffix is one of ``suffixes``."""
    path = Path(path)
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.is_file() and base_suffix(p) in tuple(suffixes))
    if not path.is_file():
        raise EvalSetError(f"{path}: no such file or directory")
    return [path]


def _report(problems: Problems | None, path: Path, item_id: str, message: str) -> None:
    if problems is None:
        raise EvalSetError(f"{path}: {item_id}: {message} (pass problems=[] to skip malformed items)")
    problems.append((item_id, message))


def _records(path: Path) -> Iterator[tuple[str, dict | Problem]]:
    try:
        yield from iter_records(path)
    except NotText as err:
        raise EvalSetError(f"{path}: {err}") from None


def _parse(row: Mapping[str, Any] | Problem, fields: mcq.Fields, item_id: str, dataset: str, split: str,
           path: Path, problems: Problems | None, **meta: Any) -> Iterator[dict]:
    """Zero or one MCQ record from a raw row (a malformed row is reported, see the module doc)."""
    if isinstance(row, Problem):
        _report(problems, path, item_id, row.message)
        return
    try:
        item = mcq.parse(row, fields, id=item_id, dataset=dataset, split=split)
    except mcq.MalformedMCQ as err:
        _report(problems, path, item_id, str(err))
        return
    item["meta"].update({"file": path.name, **meta})
    yield item


_SPLITS = ("train", "dev", "val", "validation", "test", "auxiliary_train")


def _stem(path: Path) -> str:
    return path.name.split(".")[0]


def _dir_split(path: Path) -> str:
    return path.parent.name if path.parent.name in _SPLITS else ""


MEDQA_FIELDS = mcq.Fields(answer=("answer_idx", "answer"), index_fields=(), meta=("meta_info",))


def load_medqa(path: str | Path, *, split: str | None = None, problems: Problems | None = None) -> Iterator[dict]:
    """MedQA JSONL items; the split is the file's stem (``test.jsonl``)."""
    for file in input_files(path, (".jsonl", ".json")):
        file_split = _stem(file)
        if split and file_split != split:
            continue
        for locator, row in _records(file):
            yield from _parse(row, MEDQA_FIELDS, f"medqa/{file_split}#{locator}", "medqa", file_split, file,
                              problems)


MEDMCQA_FIELDS = mcq.Fields(answer=(), index_fields=(("cop", 1),), explanation=("exp",), id=("id",),
                            meta=("subject_name", "topic_name", "choice_type"))


def load_medmcqa(path: str | Path, *, split: str | None = None, problems: Problems | None = None) -> Iterator[dict]:
    """MedMCQA items (JSON lines with a 1-based ``cop``); the split is the file's stem."""
    for file in input_files(path, (".json", ".jsonl")):
        file_split = _stem(file)
        if split and file_split != split:
            continue
        for locator, row in _records(file):
            native = row.get("id") if isinstance(row, dict) else None
            item_id = f"medmcqa/{file_split}#{native or locator}"
            unanswered = isinstance(row, dict) and row.get("cop") in (None, "", -1, "-1")
            if unanswered:  # the published test split: parse with a stand-in answer, then clear it
                row = {**row, "cop": 1}
            for item in _parse(row, MEDMCQA_FIELDS, item_id, "medmcqa", file_split, file, problems):
                if unanswered:
                    item["answer"] = ""
                yield item


PUBMEDQA_OPTIONS = (("A", "yes"), ("B", "no"), ("C", "maybe"))
_DECISION = {body: label for label, body in PUBMEDQA_OPTIONS}
_NO_LABEL = {"", "UNLABELLED", "UNLABELED"}


def pubmedqa_item(row: Mapping[str, Any], pmid: str, item_id: str, split: str, file: str) -> dict:
    """One PubMedQA entry as an MCQ record; raise ``ValueError`` when it is malformed."""
    question = mcq.clean(row.get("QUESTION"))
    contexts = row.get("CONTEXTS")
    if not question:
        raise ValueError("QUESTION is missing or empty")
    if not isinstance(contexts, list) or not any(isinstance(c, str) and c.strip() for c in contexts):
        raise ValueError("CONTEXTS must be a non-empty list of strings")
    labels = row.get("LABELS") or []
    if not isinstance(labels, list) or len(labels) != len(contexts):
        labels = [""] * len(contexts)
    parts = [(f"{label.strip()}: " if str(label).strip().upper() not in _NO_LABEL else "") + mcq.clean(body)
             for label, body in zip(labels, contexts, strict=True) if mcq.clean(body)]
    decision = mcq.clean(row.get("final_decision")).lower()
    if decision and decision not in _DECISION:
        raise ValueError(f"final_decision {decision!r} is not yes, no or maybe")
    meta = {"pmid": pmid, "year": mcq.clean(row.get("YEAR")) or None, "meshes": row.get("MESHES") or [],
            "long_answer": text.normalize_whitespace(mcq.clean(row.get("LONG_ANSWER"))),
            "reasoning_required_pred": row.get("reasoning_required_pred"),
            "reasoning_free_pred": row.get("reasoning_free_pred"), "file": file}
    return {"id": item_id, "dataset": "pubmedqa", "split": split, "question": text.normalize_whitespace(question),
            "context": "\n".join(parts), "options": [{"label": a, "text": b} for a, b in PUBMEDQA_OPTIONS],
            "answer": _DECISION.get(decision, ""), "explanation": "",
            "meta": {k: v for k, v in meta.items() if v is not None}}


def load_pubmedqa(path: str | Path, *, ids: str | Path | None = None, split: str | None = None,
                  problems: Problems | None = None) -> Iterator[dict]:
    """PubMedQA items (PQA-L, PQA-U or PQA-A shape); ``ids`` marks the test split, ``split`` filters."""
    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"{path}: pubmedqa needs one ori_pqa*.json file")
    test = load_pmid_list(str(ids)) if ids else None
    if split and test is None and split != path.stem:
        raise EvalSetError(f"{path}: split={split!r} needs ids=<test id list> (e.g. test_ground_truth.json); "
                           f"without it every item is split {path.stem!r}")
    seen = set()
    for locator, row in _records(path):
        pmid = locator
        if isinstance(row, dict):
            pmid = str(next((row[k] for k in ("_key", "pubid", "PMID", "pmid") if row.get(k)), locator))
        seen.add(pmid)
        item_split = path.stem if test is None else ("test" if pmid in test else "train")
        if split and item_split != split:
            continue
        item_id = f"pubmedqa/{item_split}#{pmid}"
        if isinstance(row, Problem):
            _report(problems, path, item_id, row.message)
            continue
        try:
            yield pubmedqa_item(row, pmid, item_id, item_split, path.name)
        except ValueError as err:
            _report(problems, path, item_id, str(err))
    if test is not None and split in (None, "test") and (missing := sorted(test - seen)):
        _report(problems, path, "pubmedqa/test", f"{len(missing)} PMID(s) of {Path(ids).name} are not in the "
                                                  f"file, e.g. {', '.join(missing[:3])}")


def _csv_rows(path: Path) -> Iterator[tuple[int, list[str] | Problem]]:
    """Rows of a headerless CSV with their first line numbers (quoted newlines allowed)."""
    try:
        yield from iter_csv_rows(path)
    except NotText as err:
        raise EvalSetError(f"{path}: {err}") from None


_MMLU_NAME = re.compile(rf"^(.+?)_({'|'.join(_SPLITS)})$")
MMLU_COLUMNS = ("question", "A", "B", "C", "D", "answer")


def load_mmlu(path: str | Path, *, split: str | None = None, subjects: Iterable[str] | None = None,
              problems: Problems | None = None) -> Iterator[dict]:
    """MMLU items from headerless CSVs; ``subjects`` keeps some subjects (``clinical_knowledge``, ...)."""
    wanted = set(subjects) if subjects else None
    for file in input_files(path, (".csv",)):
        m = _MMLU_NAME.match(_stem(file))
        subject, file_split = (m.group(1), m.group(2)) if m else (_stem(file), _dir_split(file))
        if (wanted and subject not in wanted) or (split and file_split != split):
            continue
        prefix = "/".join(p for p in ("mmlu", file_split, subject) if p)
        for n, row in _csv_rows(file):
            item_id = f"{prefix}#L{n}"
            if not isinstance(row, Problem) and len(row) != len(MMLU_COLUMNS):
                row = Problem("malformed_record", f"{len(row)} fields; MMLU rows are question,A,B,C,D,answer")
            record = row if isinstance(row, Problem) else dict(zip(MMLU_COLUMNS, row, strict=True))
            yield from _parse(record, mcq.Fields(), item_id, "mmlu", file_split, file, problems, subject=subject)


def load_cmmlu(path: str | Path, *, split: str | None = None, subjects: Iterable[str] | None = None,
               problems: Problems | None = None) -> Iterator[dict]:
    """CMMLU-style items from CSVs with a header; subject from the file's stem, split from its directory."""
    wanted = set(subjects) if subjects else None
    for file in input_files(path, (".csv",)):
        subject, file_split = _stem(file), _dir_split(file)
        if (wanted and subject not in wanted) or (split and file_split != split):
            continue
        prefix = "/".join(p for p in ("cmmlu", file_split, subject) if p)
        for locator, row in _records(file):
            native = next((row[k] for k in ("", "id") if isinstance(row, dict) and row.get(k)), None)
            yield from _parse(row, mcq.Fields(), f"{prefix}#{native or locator}", "cmmlu", file_split, file,
                              problems, subject=subject)


def load_jsonl_text(path: str | Path, field: str = "text", *, dataset: str = "jsonl", split: str | None = None,
                    problems: Problems | None = None) -> Iterator[dict]:
    """Records of any JSONL (or JSON, CSV, Parquet) file whose ``field`` holds text, as ``question``."""
    for file in input_files(path, (".jsonl", ".ndjson", ".json", ".csv", ".tsv", ".parquet")):
        file_split = _stem(file)
        if split and file_split != split:
            continue
        for locator, row in _records(file):
            item_id = f"{dataset}/{file_split}#{locator}"
            body = row.get(field) if isinstance(row, dict) else None
            if isinstance(row, Problem) or not isinstance(body, str) or not body.strip():
                message = row.message if isinstance(row, Problem) else f"no text in field {field!r}"
                _report(problems, file, item_id, message)
                continue
            meta = {"file": file.name, "pmid": str(row["pmid"]) if row.get("pmid") else None}
            yield {"id": item_id, "dataset": dataset, "split": file_split,
                   "question": text.normalize_whitespace(mcq.clean(body)), "context": "", "options": [],
                   "answer": "", "explanation": "", "meta": {k: v for k, v in meta.items() if v}}


LOADERS: dict[str, Callable[..., Iterator[dict]]] = {
    "pubmedqa": load_pubmedqa,
    "medqa": load_medqa,
    "medmcqa": load_medmcqa,
    "mmlu": load_mmlu,
    "cmmlu": load_cmmlu,
    "jsonl": load_jsonl_text,
}

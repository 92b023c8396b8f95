"""PQA-U pseudo-labelling (the seed's "LLM-annotated PQA-U", Table 7) and an honest measure of its accuracy.

``annotate_pqa_u`` asks a backend for each unlabelled item's decision with a strategy from
``curate.eval.strategies``. Both strategies show the same item (the abstract, the long answer
``LONG_ANSWER``, the question and the options), so that they differ by Verification-of-Choice alone:
``long-answer`` answers directly, ``long-answer+voc`` explains each choice, judges the explanations and
then answers. The output has PQA-L's shape, so the stage-3 recipe reads it like ``ori_pqal.json``::

    {PMID: {...the input fields..., "final_decision": "yes" | "no" | "maybe",
            "annotation": {"strategy": ..., "rationale": ..., "model": ...}}}

The rationale is the VoC judgement, or the model's answer for ``long-answer``. Items that cannot be
annotated (the output names no answer, or the item is malformed or has no long answer) are left out and
listed in a sidecar ``<out stem>.problems.jsonl`` (``{pmid, reason, output}``). With ``fallback_to_ppl``
(a local model only) an answer that does not parse is replaced by the seed's post-hoc perplexity ranking:
the option whose ``Answer: X`` has the lowest perplexity after the strategy's last prompt (for VoC, after
the explanations and the judgement); ``annotation.answered_by`` says which (``generation`` or ``ppl``).

Test PMIDs are REFUSED, not skipped: PQA-U and the PQA-L test set are disjoint, so a test PMID in the
input means a wrong or contaminated file, and the run stops with ``AnnotationError`` before any request.
``test_ids`` (the official ``test_ground_truth.json`` or a PMID list) is required; pass ``()`` to opt out
of the check knowingly.

``annotation_accuracy`` runs the same annotator on PQA-L items, whose gold labels are known; unparsed
outputs count as wrong. When the annotating model was tuned on PQA-L, measure on items it never saw
(``split="test"`` with ``ids``).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from curate.benchmarks.evalsets import pubmedqa_item
from curate.benchmarks.pubmedqa import load_pqal
from curate.eval.backends import Backend
from curate.eval.strategies import STRATEGIES, StrategyConfig, answer_many
from curate.readers.pubmed import load_pmid_list

ANNOTATION_STRATEGIES = ("long-answer", "long-answer+voc")
Labelled = tuple[str, dict[str, Any], dict[str, Any]]  # pmid, item, strategy result


class AnnotationError(ValueError):
    """An annotation run that must not start (test PMIDs in the input, a bad strategy or test id list)."""


def _test_pmids(test_ids: str | Path | Collection[str] | None) -> frozenset[str]:
    if test_ids is None:
        raise AnnotationError("annotate: pass test_ids (PubMedQA's test_ground_truth.json) so that test PMIDs can "
                              "be refused; pass an empty list to skip the check knowingly")
    if isinstance(test_ids, str | Path):
        try:
            return load_pmid_list(str(test_ids))
        except (OSError, ValueError) as err:
            raise AnnotationError(f"annotate: cannot read test ids '{test_ids}': {err}") from None
    return frozenset(str(p) for p in test_ids)


def _items(data: dict[str, Any], path: Path, problems: list[dict]) -> Iterator[tuple[str, dict]]:
    """PMID and MCQ item of every well-formed entry; malformed ones go to ``problems``."""
    for pmid, row in data.items():
        try:
            if not isinstance(row, dict):
                raise ValueError("the entry is not a JSON object")
            yield pmid, pubmedqa_item(row, pmid, f"pubmedqa/{path.stem}#{pmid}", path.stem, path.name)
        except ValueError as err:
            problems.append({"pmid": pmid, "reason": "malformed", "output": str(err)})


def _local_model(backend: Any) -> Any:
    """The local HF backend inside ``backend`` (which may be a cache around it), or an error."""
    inner = backend
    while inner is not None and not hasattr(inner, "tokenizer"):  # HFBackend; a cache holds it as .backend
        inner = getattr(inner, "backend", None)
    if inner is None:
        raise AnnotationError("annotate: fallback_to_ppl scores the options with a local model; a served model "
                              "has none here (annotate without the fallback)")
    return inner


def _ppl_label(local: Any, item: dict, result: dict) -> str | None:
    """The option whose ``Answer: X`` is most likely after the strategy's last prompt (post-hoc PPL ranking)."""
    from curate.eval.score import Request, choose, score

    if not result["steps"]:
        return None
    request = Request(local.format(result["steps"][-1]["prompt"]),
                      tuple(f"Answer: {o['label']}" for o in item["options"]), delimiter="", move_whitespace=False)
    return item["options"][choose(score(local.model, local.tokenizer, request), "ppl")]["label"]


def _label(items: Sequence[tuple[str, dict]], backend: Backend, strategy: str, lang: str,
           cfg: StrategyConfig | None, chunk: int, fallback_to_ppl: bool = False) -> Iterator[Labelled]:
    """Strategy results, ``chunk`` items per lockstep run (bounded memory; the cache makes reruns cheap)."""
    if strategy not in STRATEGIES:
        raise AnnotationError(f"annotate: unknown strategy {strategy!r} (use {' or '.join(ANNOTATION_STRATEGIES)})")
    local = _local_model(backend) if fallback_to_ppl else None
    with tqdm(total=len(items), desc=f"annotate {strategy}", unit="item", disable=None) as bar:
        for start in range(0, len(items), chunk):
            part = items[start:start + chunk]
            results = answer_many([i for _, i in part], strategy, backend, lang, cfg or StrategyConfig())
            bar.update(len(part))
            for (pmid, item), result in zip(part, results, strict=True):
                result["answered_by"] = "generation"
                if result["label"] is None and local is not None and (label := _ppl_label(local, item, result)):
                    result.update(label=label, answered_by="ppl")
                yield pmid, item, result


def _decision(item: dict, label: str | None) -> str | None:
    return next((o["text"] for o in item["options"] if o["label"] == label), None)


def _rationale(result: dict) -> str:
    judged = [s["output"] for s in result["steps"] if s["step"] == "judge"]
    return (judged[-1] if judged else result["output"]).strip()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def problems_path(out_path: str | Path) -> Path:
    """The sidecar listing the items left out of ``out_path``."""
    out = Path(out_path)
    return out.with_name(f"{out.name.split('.')[0]}.problems.jsonl")


def annotate_pqa_u(pqa_u_path: str | Path, out_path: str | Path, backend: Backend, strategy: str = "long-answer",
                   *, test_ids: str | Path | Collection[str] | None = None, lang: str = "en",
                   limit: int | None = None, cfg: StrategyConfig | None = None, chunk: int = 256,
                   fallback_to_ppl: bool = False) -> dict:
    """Pseudo-label a PQA-U file into PQA-L-shaped JSON at ``out_path``; returns a summary (see module doc)."""
    if strategy not in ANNOTATION_STRATEGIES:
        raise AnnotationError(f"annotate: strategy must be {' or '.join(ANNOTATION_STRATEGIES)}, not {strategy!r}")
    path = Path(pqa_u_path)
    try:
        data = load_pqal(path)
    except ValueError as err:
        raise AnnotationError(f"annotate: {err}") from None
    if leaked := sorted(set(data) & _test_pmids(test_ids)):
        raise AnnotationError(f"annotate: {path}: {len(leaked)} PMID(s) of the PubMedQA test set are in the input "
                              f"(e.g. {', '.join(leaked[:3])}); PQA-U never holds test items, so this is the wrong "
                              "file or a contaminated one: remove them and rerun")
    problems: list[dict] = []
    items = list(_items(data, path, problems))[:limit]
    annotated: dict[str, Any] = {}
    model = str(backend.identity.get("model", ""))
    for pmid, item, result in _label(items, backend, strategy, lang, cfg, chunk, fallback_to_ppl):
        decision = _decision(item, result["label"])
        if decision is None:
            reason = "no long answer" if "long answer" in result.get("error", "") else "unparseable"
            problems.append({"pmid": pmid, "reason": reason, "output": result.get("error") or result["output"]})
            continue
        annotated[pmid] = {**data[pmid], "final_decision": decision,
                           "annotation": {"strategy": strategy, "rationale": _rationale(result), "model": model,
                                          "answered_by": result["answered_by"]}}
    out = Path(out_path)
    _write_atomic(out, json.dumps(annotated, ensure_ascii=False, indent=1) + "\n")
    _write_atomic(problems_path(out), "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in problems))
    return {"input": len(data), "attempted": len(items), "annotated": len(annotated), "left_out": len(problems),
            "by_ppl": sum(v["annotation"]["answered_by"] == "ppl" for v in annotated.values()),
            "reasons": dict(Counter(p["reason"] for p in problems)),
            "labels": dict(Counter(v["final_decision"] for v in annotated.values())), "strategy": strategy,
            "model": model, "out": str(out), "problems": str(problems_path(out))}


def annotation_accuracy(pqa_l_path: str | Path, backend: Backend, strategy: str = "long-answer",
                        limit: int | None = None, *, ids: str | Path | None = None, split: str | None = None,
                        lang: str = "en", cfg: StrategyConfig | None = None, chunk: int = 256,
                        fallback_to_ppl: bool = False) -> dict:
    """The annotator's accuracy on PQA-L items with gold labels (unparsed outputs count as wrong)."""
    path = Path(pqa_l_path)
    try:
        data = load_pqal(path)
    except ValueError as err:
        raise AnnotationError(f"annotate: {err}") from None
    if split and not ids:
        raise AnnotationError("annotate: split needs ids (test_ground_truth.json) to know which items are test")
    test = load_pmid_list(str(ids)) if ids else None
    problems: list[dict] = []
    items = [(pmid, item) for pmid, item in _items(data, path, problems) if item["answer"]
             and (split is None or ("test" if pmid in test else "train") == split)][:limit]
    if not items:
        raise AnnotationError(f"annotate: {path}: no labelled items to measure (split={split!r})")
    confusion: dict[str, Counter] = {}
    rows = []
    for pmid, item, result in _label(items, backend, strategy, lang, cfg, chunk, fallback_to_ppl):
        gold, pred = _decision(item, item["answer"]), _decision(item, result["label"])
        confusion.setdefault(gold, Counter())[pred or "unparsed"] += 1
        rows.append({"pmid": pmid, "gold": gold, "pred": pred, "answered_by": result["answered_by"]})
    correct = sum(r["gold"] == r["pred"] for r in rows)
    parsed = sum(r["pred"] is not None for r in rows)
    return {"strategy": strategy, "model": str(backend.identity.get("model", "")), "n": len(rows),
            "correct": correct, "accuracy": correct / len(rows), "unparsed": len(rows) - parsed,
            "by_ppl": sum(r["answered_by"] == "ppl" for r in rows),
            "accuracy_parsed": correct / parsed if parsed else None, "malformed": len(problems),
            "confusion": {g: dict(c) for g, c in confusion.items()}, "items": rows}

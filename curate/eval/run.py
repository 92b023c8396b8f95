"""Evaluation runs: PubMedQA on its official test split, and MCQ sets, written as predictions, items and metrics.

Outputs in ``out_dir``:

- ``predictions.json``: item id -> predicted label; for PubMedQA the official ``{PMID: "yes"|"no"|"maybe"}``
  shape, checked as the official script checks it (keys equal the test set, labels in yes/no/maybe);
- ``items.jsonl``: per item ``id``, ``gold``, ``pred``, each option's scores (summed log-likelihood, mean
  NLL, per-character score, token and character counts, greedy flag) and the pick of every scoring
  method, so that items can be compared one by one with lm-eval-harness; ``generate`` adds its steps;
- ``metrics.json``: accuracy, macro-F1, per-label F1, confusion, ``n``, method, prompt, the model and
  adapter, and the accuracy every scoring method would have had (they share one forward).

Prompts (templates in ``templates/eval/score/``): ``lm_eval`` is lm-eval-harness's plain prompt with
options `` yes``/`` no``/`` maybe`` (MCQ: `` A. <text>``); ``chat`` is the stage-2 training prompt as a user
turn through the chat template with the generation prompt, each option scored as the assistant's
reply worded as in training ("The answer is yes."). Method ``generate`` answers with a prompting
strategy through a generation backend (``curate.eval.strategies``); with ``fallback_to_ppl`` an
unparseable answer falls back to perplexity ranking with the same prompt.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from curate.benchmarks.evalsets import LOADERS, load_pubmedqa
from curate.benchmarks.pubmedqa import LABELS, load_pqal
from curate.eval import metrics
from curate.eval.model import describe, load_model, require_export
from curate.eval.score import METHODS, OptionScore, Request, choose, score
from curate.instruct import chat
from curate.readers.pubmed import load_pmid_list
from curate.text import normalise as text
from curate.text import templates

PROMPTS = ("chat", "lm_eval")
SCORE_DIR = "eval/score"


class PredictionsError(ValueError):
    """A predictions file that would fail the official checks."""


def check_predictions(predictions: Mapping[str, str], test_ids: Iterable[str], labels: Sequence[str] = LABELS) -> None:
    """Raise unless the keys are exactly ``test_ids`` and every label is one of ``labels`` (the official checks)."""
    expected = set(test_ids)
    missing, extra = sorted(expected - set(predictions)), sorted(set(predictions) - expected)
    if missing or extra:
        raise PredictionsError(f"eval: predictions must cover all and only the test items: {len(missing)} missing "
                               f"(e.g. {missing[:3]}), {len(extra)} extra (e.g. {extra[:3]})")
    bad = sorted(k for k, v in predictions.items() if v not in labels)
    if bad:
        hint = (" (unparseable generations: rerun with fallback_to_ppl=True; cached requests are not sent again)"
                if any(predictions[k] is None for k in bad) else "")
        raise PredictionsError(f"eval: {len(bad)} predictions are not one of {list(labels)}, e.g. "
                               f"{bad[0]}: {predictions[bad[0]]!r}{hint}")


def chat_prefix(tokenizer_dir: str | Path, user: str) -> str:
    """The chat-formatted prompt for one user turn, ending with the assistant's generation prompt."""
    full, spans = chat.render(str(tokenizer_dir), [{"role": "user", "content": user},
                                                   {"role": "assistant", "content": "x"}])
    return full[:spans[0][0]]


def pubmedqa_request(item: Mapping[str, Any], raw: Mapping[str, Any], prompt: str, tokenizer_dir: str | Path
                     ) -> Request:
    """The scoring request of a PubMedQA item (``raw``: its ``ori_pqal.json`` entry, for lm-eval's prompt)."""
    words = [o["text"] for o in item["options"]]
    if prompt == "lm_eval":
        context = templates.render(f"{SCORE_DIR}/pubmedqa_lm_eval", contexts=raw["CONTEXTS"], question=raw["QUESTION"])
        return Request(context, tuple(words))
    user = templates.render(f"{SCORE_DIR}/pubmedqa_chat", context=item["context"], question=item["question"])
    replies = [templates.render(f"{SCORE_DIR}/pubmedqa_chat_option", answer_texts=[w], explanation="") for w in words]
    return Request(chat_prefix(tokenizer_dir, user), tuple(replies), delimiter="", move_whitespace=False)


def mcq_request(item: Mapping[str, Any], prompt: str, tokenizer_dir: str | Path) -> Request:
    """The scoring request of an MCQ item: options as label and text."""
    options = list(item["options"])
    if prompt == "lm_eval":
        context = templates.render(f"{SCORE_DIR}/mcq_lm_eval", context=item.get("context") or "",
                                   question=item["question"], options=options)
        return Request(context, tuple(templates.render(f"{SCORE_DIR}/mcq_lm_eval_option", **o) for o in options))
    lang = item_lang(item)
    user = templates.render(f"{SCORE_DIR}/mcq_chat", lang=lang, context=item.get("context") or "",
                            question=item["question"], options=options, multi=False)
    replies = [templates.render(f"{SCORE_DIR}/mcq_chat_option", lang=lang, answer=o["label"], answer_texts=[o["text"]],
                                explanation="") for o in options]
    return Request(chat_prefix(tokenizer_dir, user), tuple(replies), delimiter="", move_whitespace=False)


def item_lang(item: Mapping[str, Any]) -> str:
    """``zh`` or ``en`` from an item's question and options (PubMedQA is English)."""
    if item.get("dataset") == "pubmedqa":
        return "en"
    return text.detect_lang(" ".join([item["question"], *(o["text"] for o in item["options"])]))


def _check_method(method: str, prompt: str) -> None:
    if method not in (*METHODS, "generate"):
        raise ValueError(f"eval: unknown method {method!r}; use one of {', '.join((*METHODS, 'generate'))}")
    if prompt not in PROMPTS:
        raise ValueError(f"eval: unknown prompt {prompt!r}; use one of {', '.join(PROMPTS)}")


def _scored_row(item_id: str, gold: str, words: Sequence[str], scores: Sequence[OptionScore]) -> dict[str, Any]:
    """A per-item record: every option's scores and every method's pick."""
    return {"id": item_id, "gold": gold, "scores": {w: s.as_dict() for w, s in zip(words, scores, strict=True)},
            "picks": {m: words[choose(scores, m)] for m in METHODS}}


def _generated(item: Mapping[str, Any], result: Mapping[str, Any]) -> str | None:
    """The option text a strategy's answer names (it may give a label ``A`` or the text ``yes``), or None."""
    label = result.get("label")
    if label is None:
        return None
    for o in item["options"]:
        if str(label).strip().lower() in (o["label"].lower(), o["text"].lower()):
            return o["text"] if item.get("dataset") == "pubmedqa" else o["label"]
    return None


def _option_words(item: Mapping[str, Any]) -> list[str]:
    """What a prediction names: PubMedQA's option words (yes/no/maybe), other sets' labels (A, B, ...)."""
    return [o["text"] if item.get("dataset") == "pubmedqa" else o["label"] for o in item["options"]]


def _predict_scored(model: Any, tokenizer: Any, items: Sequence[Mapping[str, Any]], requests: Sequence[Request],
                    keys: Sequence[str], golds: Sequence[str], method: str) -> list[dict]:
    """Per-item rows with every method's pick; ``pred`` is ``method``'s."""
    from tqdm import tqdm

    rows = []
    for item, request, key, gold in tqdm(list(zip(items, requests, keys, golds, strict=True)), desc=f"eval {method}",
                                         unit="item"):
        row = _scored_row(key, gold, _option_words(item), score(model, tokenizer, request))
        row["pred"] = row["picks"][method]
        rows.append(row)
    return rows


def _predict_generated(loaded: Any, items: Sequence[Mapping[str, Any]], requests: Sequence[Request],
                       keys: Sequence[str], golds: Sequence[str], gen: Mapping[str, Any]) -> list[dict]:
    """Per-item rows from a prompting strategy; unparseable answers fall back to ``ppl`` when asked."""
    from curate.eval.strategies import StrategyConfig, answer_many  # only generation runs need it

    results: dict[int, dict] = {}
    cfg = StrategyConfig(shots=gen["shots"])
    for lang in sorted({item_lang(item) for item in items}):  # one batched run per language
        idx = [i for i, item in enumerate(items) if item_lang(item) == lang]
        pool = [p for p in gen["pool"] if item_lang(p) == lang] if gen["pool"] is not None else None
        for i, result in zip(idx, answer_many([dict(items[i]) for i in idx], gen["strategy"], gen["backend"], lang,
                                              cfg, pool), strict=True):
            results[i] = result
    rows = []
    for i, (item, request, key, gold) in enumerate(zip(items, requests, keys, golds, strict=True)):
        pred = _generated(item, results[i])
        row: dict[str, Any] = {"id": key, "gold": gold, "generation": results[i], "parsed": pred is not None}
        if pred is None and gen["fallback_to_ppl"]:
            scored = _scored_row(key, gold, _option_words(item), score(*loaded(), request))
            row.update(scores=scored["scores"], picks=scored["picks"], fallback=True)
            pred = scored["picks"]["ppl"]
        row["pred"] = pred
        rows.append(row)
    return rows


def _predict(export_dir: str | Path, adapter: str | Path | None, task: str | None, items: Sequence[Mapping[str, Any]],
             requests: Sequence[Request], keys: Sequence[str], golds: Sequence[str], method: str,
             gen: Mapping[str, Any] | None) -> list[dict]:
    """Rows by scoring, or by generation (whose fallback reuses a local backend's model, or loads one once)."""
    if gen is None:
        return _predict_scored(*load_model(export_dir, adapter, task), items, requests, keys, golds, method)
    backend, cache = gen["backend"], {}

    def loaded() -> tuple[Any, Any]:
        if not cache:
            own = getattr(backend, "model", None), getattr(backend, "tokenizer", None)
            cache["m"] = own if own[0] is not None and own[1] is not None else load_model(export_dir, adapter, task)
        return cache["m"]

    return _predict_generated(loaded, items, requests, keys, golds, gen)


def _metrics(rows: Sequence[Mapping[str, Any]], labels: Sequence[str], info: Mapping[str, Any]) -> dict[str, Any]:
    golds = [r["gold"] for r in rows]
    preds = [r["pred"] if r["pred"] is not None else "unparsed" for r in rows]
    out = {**metrics.summary(golds, preds, labels), **info}
    if rows and all("picks" in r for r in rows):
        out["accuracy_by_method"] = {m: metrics.accuracy(golds, [r["picks"][m] for r in rows]) for m in METHODS}
    if info.get("method") == "generate":
        out["unparsed"] = sum(not r["parsed"] for r in rows)
        out["fallback"] = sum(bool(r.get("fallback")) for r in rows)
    return out


def _write(out_dir: str | Path, rows: Sequence[Mapping[str, Any]], summary: Mapping[str, Any]) -> Path:
    """``items.jsonl`` and ``metrics.json`` (predictions are written once they pass their checks)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with (out / "items.jsonl").open("w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    (out / "metrics.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return out


def _write_predictions(out_dir: str | Path, predictions: Mapping[str, Any]) -> None:
    Path(out_dir, "predictions.json").write_text(json.dumps(predictions, indent=1) + "\n", encoding="utf-8")


def _needs_local_model(export_dir: str | Path, method: str, backend: Any, fallback_to_ppl: bool) -> bool:
    """Whether the run scores with a local export (checked here); a served model generating alone does not."""
    if method == "generate" and backend is not None and not fallback_to_ppl:
        return False
    require_export(export_dir)
    return True


def _generation(method: str, export_dir: str | Path, adapter: str | Path | None, task: str | None, backend: Any,
                strategy: str, fallback_to_ppl: bool, shots: int, pool: Any) -> dict[str, Any] | None:
    if method != "generate":
        return None
    if backend is None:
        from curate.eval.backends import HFBackend

        backend = HFBackend(export_dir, adapter=adapter, task=task)
    return {"backend": backend, "strategy": strategy, "fallback_to_ppl": fallback_to_ppl, "shots": shots,
            "pool": list(pool()) if strategy == "cot" and shots > 0 else None}


def evaluate_pubmedqa(export_dir: str | Path, data_path: str | Path, test_ids: str | Path, out_dir: str | Path, *,
                      method: str = "ppl", prompt: str = "chat", adapter: str | Path | None = None,
                      task: str | None = None, limit: int | None = None, backend: Any = None,
                      strategy: str = "direct", fallback_to_ppl: bool = False, shots: int = 3) -> dict[str, Any]:
    """Evaluate on PubMedQA's test split (``test_ids``: ``test_ground_truth.json`` or a PMID list); returns metrics.

    Few-shot CoT (``strategy="cot"``, ``shots`` > 0) draws its examples from the labelled non-test items.
    """
    _check_method(method, prompt)
    local = _needs_local_model(export_dir, method, backend, fallback_to_ppl)
    test_set = load_pmid_list(str(test_ids))
    truth = json.loads(Path(test_ids).read_text(encoding="utf-8")) if Path(test_ids).suffix == ".json" else None
    items = list(load_pubmedqa(data_path, ids=test_ids, split="test"))[:limit]
    raw = load_pqal(data_path)
    keys = [item["meta"]["pmid"] for item in items]
    if unlabelled := [k for k, item in zip(keys, items, strict=True) if not item["answer"]]:
        raise ValueError(f"eval: {len(unlabelled)} test items of {data_path} have no final_decision, e.g. PMID "
                         f"{unlabelled[0]} (evaluate on PQA-L, ori_pqal.json)")
    golds = [dict(zip("ABC", LABELS, strict=True))[item["answer"]] for item in items]
    if isinstance(truth, dict) and (wrong := [k for k, g in zip(keys, golds, strict=True) if truth.get(k, g) != g]):
        raise ValueError(f"eval: {len(wrong)} gold labels of {test_ids} differ from {data_path}, e.g. PMID {wrong[0]}")
    requests = [pubmedqa_request(item, raw[k], prompt, export_dir) if local else None
                for item, k in zip(items, keys, strict=True)]
    gen = _generation(method, export_dir, adapter, task, backend, strategy, fallback_to_ppl, shots,
                      lambda: load_pubmedqa(data_path, ids=test_ids, split="train"))
    rows = _predict(export_dir, adapter, task, items, requests, keys, golds, method, gen)
    info = {"method": method, "prompt": prompt, "limit": limit, **describe(export_dir, adapter, task)}
    if gen is not None:
        info.update(strategy=strategy, shots=shots if strategy == "cot" else None)
    summary = _metrics(rows, LABELS, info)
    _write(out_dir, rows, summary)
    predictions = {r["id"]: r["pred"] for r in rows}
    check_predictions(predictions, test_set if limit is None else keys)
    _write_predictions(out_dir, predictions)
    return summary


def evaluate_mcq(export_dir: str | Path, loader: str, path: str | Path, out_dir: str | Path, *,
                 split: str | None = None, subjects: Sequence[str] | None = None, method: str = "ppl",
                 prompt: str = "chat", adapter: str | Path | None = None, task: str | None = None,
                 limit: int | None = None, backend: Any = None, strategy: str = "direct",
                 fallback_to_ppl: bool = False, shots: int = 3, shots_split: str = "dev") -> dict[str, Any]:
    """Evaluate on an MCQ set (medqa, medmcqa, mmlu, cmmlu); items without one gold label are predicted only.

    Few-shot CoT draws its examples from ``shots_split`` of the same files (never the evaluated split).
    """
    _check_method(method, prompt)
    local = _needs_local_model(export_dir, method, backend, fallback_to_ppl)
    if loader not in ("medqa", "medmcqa", "mmlu", "cmmlu"):
        raise ValueError(f"eval: unknown MCQ loader {loader!r}; use medqa, medmcqa, mmlu or cmmlu")
    kwargs: dict[str, Any] = {"split": split}
    if subjects and loader in ("mmlu", "cmmlu"):
        kwargs["subjects"] = subjects
    items = list(LOADERS[loader](path, **kwargs))[:limit]
    if not items:
        raise ValueError(f"eval: no {loader} items in {path} (split={split!r}, subjects={subjects})")
    requests = [mcq_request(item, prompt, export_dir) if local else None for item in items]
    if strategy == "cot" and shots > 0 and shots_split == split:
        raise ValueError(f"eval: few-shot examples come from split {shots_split!r}, the split being evaluated; "
                         f"choose another shots_split (or shots=0)")
    gen = _generation(method, export_dir, adapter, task, backend, strategy, fallback_to_ppl, shots,
                      lambda: LOADERS[loader](path, **{**kwargs, "split": shots_split}))
    rows = _predict(export_dir, adapter, task, items, requests, [i["id"] for i in items],
                    [i["answer"] for i in items], method, gen)
    labels = sorted({o["label"] for item in items for o in item["options"]})
    graded = [r for r in rows if len(r["gold"]) == 1]
    info = {"method": method, "prompt": prompt, "dataset": loader, "split": split, "limit": limit,
            "ungraded": len(rows) - len(graded), **describe(export_dir, adapter, task)}
    summary = _metrics(graded, labels, info) if graded else info
    _write(out_dir, rows, summary)
    _write_predictions(out_dir, {r["id"]: r["pred"] for r in rows})
    return summary

"""PQA-U annotation: PQA-L-shaped output, problems sidecar, test PMIDs refused, honest accuracy."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path

import pytest

from curate.benchmarks.evalsets import load_pubmedqa
from curate.eval.annotate import AnnotationError, annotate_pqa_u, annotation_accuracy, problems_path

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "instruct" / "pubmedqa"
PQAU, PQAL, TEST = SAMPLES / "ori_pqau.json", SAMPLES / "ori_pqal.json", SAMPLES / "test_ground_truth.json"
LETTER = {"yes": "A", "no": "B", "maybe": "C"}


def _question(prompt: str) -> str:
    return next(line[len("Question: "):] for line in prompt.splitlines() if line.startswith("Question: "))


class ByQuestion:
    """Answers ``Answer: <letter of answers[question]>``; a question mapped to None gets no answer."""

    def __init__(self, answers: dict[str, str | None]):
        self.identity = {"kind": "scripted", "model": "annotator-1"}
        self.answers, self.prompts = answers, []

    def generate(self, prompts: Sequence[str], *, max_new_tokens: int, temperature: float = 0.0,
                 stop: Sequence[str] | None = None, on_result: object = None) -> list[str]:
        self.prompts += prompts
        out = []
        for p in prompts:
            decision = self.answers[_question(p)]
            last = p.splitlines()[-1]
            if "Think about why" in last:
                out.append("An explanation.")
            elif last.startswith("Please judge"):
                out.append(f"The {decision} explanation is consistent with the context.")
            else:
                out.append(f"Answer: {LETTER[decision]}" if decision else "I cannot tell.")
        return out


def _pqau() -> dict:
    return json.loads(PQAU.read_text(encoding="utf-8"))


def _scripted_pqau(unparseable: int = 2) -> tuple[dict, dict[str, str | None]]:
    data = _pqau()
    answers: dict[str, str | None] = {row["QUESTION"]: ("yes", "no", "maybe")[zlib.crc32(pmid.encode()) % 3]
                                      for pmid, row in data.items()}
    for pmid in list(data)[:unparseable]:
        answers[data[pmid]["QUESTION"]] = None
    return data, answers


@pytest.mark.parametrize("strategy", ["long-answer", "long-answer+voc"])
def test_output_is_pqa_l_shaped_and_loads_with_the_labels(strategy: str, tmp_path: Path) -> None:
    data, answers = _scripted_pqau()
    out = tmp_path / "pqa_u_labelled.json"
    summary = annotate_pqa_u(PQAU, out, ByQuestion(answers), strategy, test_ids=TEST)
    skipped = list(data)[:2]
    assert summary["input"] == len(data) and summary["annotated"] == len(data) - 2
    assert summary["left_out"] == 2 and summary["reasons"] == {"unparseable": 2}
    written = json.loads(out.read_text(encoding="utf-8"))
    assert set(written) == set(data) - set(skipped)
    for pmid, row in written.items():
        assert {k: v for k, v in row.items() if k not in ("final_decision", "annotation")} == data[pmid]
        assert row["final_decision"] == answers[row["QUESTION"]]
        assert row["annotation"]["strategy"] == strategy and row["annotation"]["model"] == "annotator-1"
        assert row["annotation"]["rationale"]
    if strategy == "long-answer+voc":
        pmid = next(iter(written))
        assert "consistent with the context" in written[pmid]["annotation"]["rationale"]
    items = list(load_pubmedqa(out))  # the stage-3 recipe's loader
    assert {i["meta"]["pmid"]: i["answer"] for i in items} == {
        p: LETTER[r["final_decision"]] for p, r in written.items()}
    problems = [json.loads(line) for line in problems_path(out).read_text().splitlines()]
    assert [p["pmid"] for p in problems] == skipped and problems[0]["output"] == "I cannot tell."


def test_test_pmids_are_refused_before_any_request(tmp_path: Path) -> None:
    data = _pqau()
    test_pmid = next(iter(json.loads(TEST.read_text())))
    data[test_pmid] = json.loads(PQAL.read_text())[test_pmid]
    bad = tmp_path / "ori_pqau.json"
    bad.write_text(json.dumps(data))
    backend = ByQuestion({})
    with pytest.raises(AnnotationError, match=rf"1 PMID\(s\) of the PubMedQA test set .*{test_pmid}"):
        annotate_pqa_u(bad, tmp_path / "out.json", backend, test_ids=TEST)
    assert backend.prompts == [] and not (tmp_path / "out.json").exists()
    with pytest.raises(AnnotationError, match="pass test_ids"):
        annotate_pqa_u(PQAU, tmp_path / "out.json", backend)


def test_limit_malformed_items_and_unknown_strategy(tmp_path: Path) -> None:
    data, answers = _scripted_pqau(unparseable=0)
    first = next(iter(data))
    data[first] = {**data[first], "LONG_ANSWER": ""}
    data["99999999"] = {"QUESTION": "", "CONTEXTS": []}
    path = tmp_path / "ori_pqau.json"
    path.write_text(json.dumps(data))
    summary = annotate_pqa_u(path, tmp_path / "out.json", ByQuestion(answers), test_ids=[], limit=4)
    assert summary["attempted"] == 4 and summary["annotated"] == 3
    assert summary["reasons"] == {"malformed": 1, "no long answer": 1}
    with pytest.raises(AnnotationError, match="strategy must be long-answer or long-answer\\+voc"):
        annotate_pqa_u(path, tmp_path / "out.json", ByQuestion(answers), "cot", test_ids=[])


def test_annotation_accuracy_on_labelled_items() -> None:
    gold = {row["QUESTION"]: row["final_decision"] for row in json.loads(PQAL.read_text()).values()}
    questions = list(gold)
    answers: dict[str, str | None] = dict(gold)
    wrong = {"yes": "no", "no": "maybe", "maybe": "yes"}
    for q in questions[:6]:
        answers[q] = wrong[gold[q]]
    for q in questions[6:8]:
        answers[q] = None
    result = annotation_accuracy(PQAL, ByQuestion(answers), "long-answer")
    n = len(gold)
    assert result["n"] == n and result["correct"] == n - 8 and result["unparsed"] == 2
    assert result["accuracy"] == pytest.approx((n - 8) / n)  # unparsed outputs count as wrong
    assert result["accuracy_parsed"] == pytest.approx((n - 8) / (n - 2))
    assert sum(sum(row.values()) for row in result["confusion"].values()) == n
    assert sum(row.get("unparsed", 0) for row in result["confusion"].values()) == 2
    test = annotation_accuracy(PQAL, ByQuestion(answers), "long-answer", ids=TEST, split="test", limit=10)
    test_pmids = set(json.loads(TEST.read_text()))
    assert test["n"] == 10 and {r["pmid"] for r in test["items"]} <= test_pmids
    with pytest.raises(AnnotationError, match="split needs ids"):
        annotation_accuracy(PQAL, ByQuestion(answers), split="test")


def test_unparsed_answers_fall_back_to_the_options_perplexity_with_a_local_model(tiny_export: Path,
                                                                                 tmp_path: Path) -> None:
    from curate.eval.backends import HFBackend
    from curate.eval.cache import CachedBackend
    from curate.eval.score import Request, choose, score
    from curate.eval.strategies import StrategyConfig, answer

    local = HFBackend(tiny_export)
    backend = CachedBackend(local, tmp_path / "cache", progress=False)
    cfg = StrategyConfig(reasoning_tokens=3, answer_tokens=3)  # a random model: nothing it writes parses
    plain = annotate_pqa_u(PQAU, tmp_path / "plain.json", backend, "long-answer+voc", test_ids=TEST, limit=3, cfg=cfg)
    assert plain["annotated"] == 0 and plain["reasons"] == {"unparseable": 3}
    ranked = annotate_pqa_u(PQAU, tmp_path / "ppl.json", backend, "long-answer+voc", test_ids=TEST, limit=3, cfg=cfg,
                            fallback_to_ppl=True)
    assert ranked["annotated"] == ranked["by_ppl"] == 3
    out = json.loads((tmp_path / "ppl.json").read_text())
    pmid, row = next(iter(out.items()))
    assert row["annotation"]["answered_by"] == "ppl"
    # the label is the option whose "Answer: X" is most likely after VoC's last prompt (explanations + judgement)
    item = next(i for i in load_pubmedqa(PQAU) if i["meta"]["pmid"] == pmid)
    final = answer(item, "long-answer+voc", backend, cfg=cfg)["steps"][-1]["prompt"]
    scores = score(local.model, local.tokenizer, Request(local.format(final), ("Answer: A", "Answer: B", "Answer: C"),
                                                         delimiter="", move_whitespace=False))
    assert row["final_decision"] == ("yes", "no", "maybe")[choose(scores, "ppl")]
    accuracy = annotation_accuracy(PQAL, backend, "long-answer", 4, ids=TEST, split="test", cfg=cfg,
                                   fallback_to_ppl=True)
    assert accuracy["unparsed"] == 0 and accuracy["by_ppl"] == 4


def test_the_perplexity_fallback_needs_a_local_model(tmp_path: Path) -> None:
    _, answers = _scripted_pqau()
    with pytest.raises(AnnotationError, match="scores the options with a local model"):
        annotate_pqa_u(PQAU, tmp_path / "o.json", ByQuestion(answers), test_ids=TEST, fallback_to_ppl=True)

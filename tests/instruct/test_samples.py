"""The bundled instruction samples (samples/instruct): each file loads through its loader with the counts,
splits and labels the README states; broken lines become problems; no PMID collides with other samples."""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from curate.benchmarks import evalsets
from curate.instruct import sources
from curate.instruct.recipe import InstructSource
from curate.readers import qa as qa_reader
from curate.text import normalise as text
from curate.text.textio import Problem, iter_records
from tests.readers.helpers import run_reader

ROOT = Path(__file__).resolve().parents[2] / "samples"
INSTRUCT = ROOT / "instruct"
PUBMEDQA = INSTRUCT / "pubmedqa"
CLINICAL = ("clinical_knowledge", "medical_genetics", "anatomy", "professional_medicine", "college_medicine",
            "college_biology")


def _load(loader: str, inputs: list[Path]) -> tuple[list[dict], list[tuple[str, str, str]]]:
    """Records and problems of one source as the instruction builder loads it."""
    spec = InstructSource(name=loader, loader=loader, inputs=tuple(map(str, inputs)), task=loader)
    problems: list[tuple[str, str, str]] = []
    return [record for record, _ in sources.load(spec, problems)], problems


def _split_counts(items: list[dict]) -> dict[str, int]:
    return dict(Counter(i["split"] for i in items))


def test_medqa_splits_options_and_answers() -> None:
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_medqa(INSTRUCT / "medqa", problems=problems))
    assert problems == []
    assert _split_counts(items) == {"dev": 8, "test": 8, "train": 33}
    assert {len(i["options"]) for i in items} == {4, 5}
    assert {i["meta"]["meta_info"] for i in items} == {"step1", "step2&3"}
    for locator, row in iter_records(INSTRUCT / "medqa" / "train.jsonl"):
        assert row["options"][row["answer_idx"]] == row["answer"], locator  # answer text matches its letter
    assert len(Counter(i["answer"] for i in items)) == 5  # answers are spread over A-E, not one letter


def test_medmcqa_splits_and_unanswered_test() -> None:
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_medmcqa(INSTRUCT / "medmcqa", problems=problems))
    assert problems == []
    assert _split_counts(items) == {"dev": 8, "test": 5, "train": 35}
    assert all(i["answer"] == "" for i in items if i["split"] == "test")
    assert all(len(i["answer"]) == 1 for i in items if i["split"] != "test")
    ids = [i["meta"]["orig_id"] for i in items]
    assert len(set(ids)) == len(ids) and all(re.fullmatch(r"[0-9a-f-]{36}", x) for x in ids)
    rows = [row for _, row in iter_records(INSTRUCT / "medmcqa" / "train.json")]
    assert any(not row["exp"] for row in rows) and any(row["exp"] is None for row in rows)
    assert {row["choice_type"] for row in rows} == {"single", "multi"}


def _pubmedqa(name: str, **options: object) -> list[dict]:
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_pubmedqa(PUBMEDQA / name, problems=problems, **options))
    assert problems == []
    return items


def test_pubmedqa_labelled_set_and_test_split() -> None:
    items = _pubmedqa("ori_pqal.json", ids=PUBMEDQA / "test_ground_truth.json")
    assert Counter(i["answer"] for i in items) == {"A": 33, "B": 20, "C": 7}  # yes, no, maybe
    assert _split_counts(items) == {"test": 30, "train": 30}
    raw = json.loads((PUBMEDQA / "ori_pqal.json").read_text(encoding="utf-8"))
    for pmid, row in raw.items():
        words = sum(len(c.split()) for c in row["CONTEXTS"])
        assert 80 <= words <= 200, pmid
        assert len(row["LABELS"]) == len(row["CONTEXTS"]) and row["LONG_ANSWER"] and row["MESHES"]
        assert {row["reasoning_required_pred"], row["reasoning_free_pred"]} <= {"yes", "no", "maybe"}


def test_pubmedqa_unlabelled_and_generated_sets() -> None:
    unlabelled = _pubmedqa("ori_pqau.json")
    assert len(unlabelled) == 20 and all(i["answer"] == "" and i["meta"]["long_answer"] for i in unlabelled)
    generated = _pubmedqa("ori_pqaa.json")
    assert len(generated) == 20 and {i["answer"] for i in generated} == {"A", "B"}  # yes and no only
    raw = json.loads((PUBMEDQA / "ori_pqau.json").read_text(encoding="utf-8"))
    assert not any("final_decision" in r or "reasoning_free_pred" in r for r in raw.values())


def test_pubmedqa_test_ids_are_the_official_split() -> None:
    pubmedqa = pytest.importorskip("curate.benchmarks.pubmedqa", reason="official splits missing")
    data = pubmedqa.load_pqal(PUBMEDQA / "ori_pqal.json")
    body = (PUBMEDQA / "test_ground_truth.json").read_text(encoding="utf-8")
    truth = json.loads(body)
    assert list(truth) == pubmedqa.official_splits(data, folds=0).test  # same PMIDs in the same order
    assert all(truth[p] == data[p]["final_decision"] for p in truth)
    assert body == json.dumps(truth, indent=4)  # the published file's layout: indent 4, no final newline


def _pmids_elsewhere() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "eval").glob("*.json"):
        found |= set(json.loads(path.read_text(encoding="utf-8")))
    for path in (ROOT / "articles").glob("*.xml*"):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        found |= set(re.findall(r"<PMID[^>]*>(\d+)</PMID>", data.decode("utf-8")))
    found |= set(re.findall(r"^\d+$", (ROOT / "exclude_pmids.txt").read_text(encoding="utf-8"), re.M))
    return found


def test_pubmedqa_pmids_are_unique_and_collide_with_no_other_sample() -> None:
    pmids = [p for name in ("ori_pqal.json", "ori_pqau.json", "ori_pqaa.json")
             for p in json.loads((PUBMEDQA / name).read_text(encoding="utf-8"))]
    assert len(pmids) == 100 and len(set(pmids)) == 100
    assert all(re.fullmatch(r"[1-9]\d{7}", p) for p in pmids)
    elsewhere = _pmids_elsewhere()
    assert len(elsewhere) > 10  # the scan found the other samples' PMIDs
    assert not set(pmids) & elsewhere


def _grams(body: str, n: int = 13) -> set[str]:
    words = re.findall(r"[a-z0-9]+", body.casefold())
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def test_no_two_pubmedqa_or_medqa_items_share_a_13_gram() -> None:
    # Templated abstracts would share boilerplate 13-grams, and the leakage guard would then drop
    # unrelated training items as contaminated; each item's text must be its own.
    items = [i for name in ("ori_pqal.json", "ori_pqau.json", "ori_pqaa.json") for i in _pubmedqa(name)]
    items += list(evalsets.load_medqa(INSTRUCT / "medqa"))
    owner: dict[str, str] = {}
    shared = []
    for item in items:
        texts = [item["question"], item["context"], item["meta"].get("long_answer", "")]
        for gram in set().union(*map(_grams, texts)):
            if owner.setdefault(gram, item["id"]) != item["id"]:
                shared.append((owner[gram], item["id"], gram))
    assert shared == []


def test_mmlu_subjects_splits_and_quoted_newline() -> None:
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_mmlu(INSTRUCT / "mmlu", problems=problems))
    assert problems == []
    per_subject = Counter((i["split"], i["meta"]["subject"]) for i in items)
    assert all(per_subject["dev", s] == 5 and 5 <= per_subject["test", s] <= 8 for s in CLINICAL)
    assert per_subject["test", "high_school_physics"] == 5
    clinical = list(evalsets.load_mmlu(INSTRUCT / "mmlu", subjects=CLINICAL, split="test"))
    assert {i["meta"]["subject"] for i in clinical} == set(CLINICAL)
    assert any("\n" in i["question"] and "," in i["question"] for i in items)


def test_cmmlu_subjects_and_index_ids() -> None:
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_cmmlu(INSTRUCT / "cmmlu", problems=problems))
    assert problems == []
    per_subject = Counter((i["split"], i["meta"]["subject"]) for i in items)
    for subject in ("anatomy", "clinical_knowledge", "traditional_chinese_medicine"):
        assert per_subject["dev", subject] == 5 and 5 <= per_subject["test", subject] <= 8
    assert per_subject["test", "high_school_physics"] == 5
    assert "cmmlu/test/anatomy#0" in {i["id"] for i in items}
    assert all(text.detect_lang(i["question"]) == "zh" for i in items)


def test_exam_files_parse_and_their_broken_lines_are_problems() -> None:
    # CMB names its options "option" and MLEC-QA its stem "qtext": the default mcq.Fields know both,
    # so recipes/stage2.toml reads the whole exams directory without field options.
    items, problems = _load("exams", [INSTRUCT / "exams" / "cmb_style.jsonl"])
    assert len(items) == 40
    assert {i["meta"]["exam_class"] for i in items} >= {"临床执业医师", "执业西药师"}
    assert any(len(i["answer"]) > 1 for i in items)  # multiple-answer questions (多项选择题)
    assert [(p[0].rsplit("#", 1)[1], p[1]) for p in problems] == [("L17", "malformed_json"), ("L30", "malformed_mcq")]
    assert "no answer" in problems[1][2]
    mlec, problems = _load("exams", [INSTRUCT / "exams" / "mlecqa_style.jsonl"])
    assert len(mlec) == 10 and problems == [] and all(i["meta"]["orig_id"].startswith("mlec-") for i in mlec)


def test_promptcblue_splits_and_tasks() -> None:
    for split, count in (("train", 40), ("dev", 10)):
        items, problems = _load("promptcblue", [INSTRUCT / "promptcblue" / f"{split}.jsonl"])
        assert len(items) == count and problems == []
        assert all(i["meta"]["sample_id"].startswith(f"{split}-") for i in items)
        assert len({i["meta"]["task_dataset"] for i in items}) >= 8
        assert all(m["content"] for i in items for m in i["messages"])
    rows = [row for _, row in iter_records(INSTRUCT / "promptcblue" / "train.jsonl")]
    assert all(r["answer_choices"] is None or isinstance(r["answer_choices"], list) for r in rows)
    assert any(r["answer_choices"] is None for r in rows)


def _turns(path: Path) -> tuple[list[list[dict]], list[Problem]]:
    dialogs, broken = [], []
    for _, row in iter_records(path):
        if isinstance(row, Problem):
            broken.append(row)
        else:
            dialogs.append(qa_reader.turns_of(row, qa_reader.Config()))
    return dialogs, broken


def test_qa_files_in_each_shape() -> None:
    wuma, broken = _turns(INSTRUCT / "qa" / "wuma_qa.jsonl")
    assert len(wuma) == 21 and [p.reason for p in broken] == ["malformed_json"]
    assert sum(1 for d in wuma if not d[1]["content"]) == 1  # the one empty answer
    huatuo, broken = _turns(INSTRUCT / "qa" / "huatuo_wiki.jsonl")
    assert len(huatuo) == 20 and not broken and all(len(d) == 2 and d[1]["content"] for d in huatuo)
    dialogs, broken = _turns(INSTRUCT / "qa" / "sharegpt_dialogs.jsonl")
    assert len(dialogs) == 15 and not broken
    rounds = [sum(t["role"] == "assistant" for t in d) for d in dialogs]
    assert set(rounds) == {2, 3} and sum(d[0]["role"] == "system" for d in dialogs) >= 3
    assert {text.detect_lang(d[1]["content"] if d[0]["role"] == "system" else d[0]["content"])
            for d in dialogs} == {"zh", "en"}
    alpaca, broken = _turns(INSTRUCT / "qa" / "alpaca_en.json")
    assert len(alpaca) == 20 and not broken and all(d[1]["content"] for d in alpaca)


def test_builder_sources_report_broken_qa_lines_without_raising() -> None:
    items, problems = _load("qa", [INSTRUCT / "qa"])
    assert len(items) == 21 + 20 + 15 + 20
    assert [(p[0], p[1]) for p in problems] == [("qa/wuma_qa.jsonl#L9", "malformed_json")]


def test_readme_lists_every_sample_file() -> None:
    readme = (INSTRUCT / "README.md").read_text(encoding="utf-8")
    files = [p.relative_to(INSTRUCT).as_posix() for p in INSTRUCT.rglob("*") if p.is_file() and p.name != "README.md"]
    assert len(files) > 30
    assert [f for f in files if f not in readme] == []


@pytest.mark.parametrize(("reader", "name", "kept", "ledgered"), [
    ("qa", "qa/wuma_qa.jsonl", 20, [("malformed_json", "quarantine"), ("empty_answer", "drop")]),
    ("qa", "qa/huatuo_wiki.jsonl", 20, []),
    ("qa", "qa/sharegpt_dialogs.jsonl", 15, []),
    ("qa", "qa/alpaca_en.json", 20, []),
    ("promptcblue", "promptcblue/train.jsonl", 40, []),
    ("exams", "exams/cmb_style.jsonl", 40, [("malformed_json", "quarantine"), ("malformed_mcq", "quarantine")]),
    ("exams", "exams/mlecqa_style.jsonl", 10, []),
])
def test_pretraining_readers_ledger_the_bad_lines(reader: str, name: str, kept: int,
                                                  ledgered: list[tuple[str, str]]) -> None:
    records, _, rows = run_reader(reader, INSTRUCT / name)
    assert len(records) == kept
    assert [(r["reason"], r["action"]) for r in rows] == ledgered

"""evalsets: one loader per published format, on small files in each format, and on real PubMedQA."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.benchmarks import evalsets
from curate.core import records


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def options(item: dict) -> list[tuple[str, str]]:
    return [(o["label"], o["text"]) for o in item["options"]]


MEDQA = [
    {"question": "A 23-year-old woman presents with dysuria. Which drug is most appropriate?",
     "answer": "Nitrofurantoin", "options": {"A": "Ampicillin", "B": "Ceftriaxone", "C": "Doxycycline",
                                             "D": "Nitrofurantoin", "E": "Tetracycline"},
     "meta_info": "step2&3", "answer_idx": "D"},
    {"question": "Which nerve is injured in a midshaft humerus fracture?", "answer": "Radial nerve",
     "options": {"A": "Radial nerve", "B": "Ulnar nerve", "C": "Median nerve", "D": "Axillary nerve"},
     "meta_info": "step1", "answer_idx": "A"},
    {"question": "Broken item whose answer is not an option", "answer": "X",
     "options": {"A": "One", "B": "Two"}, "meta_info": "step1", "answer_idx": "F"},
]


def test_medqa(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "test.jsonl", MEDQA)
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_medqa(path, problems=problems))
    assert [i["id"] for i in items] == ["medqa/test#L1", "medqa/test#L2"]
    first = items[0]
    assert (first["dataset"], first["split"], first["answer"]) == ("medqa", "test", "D")
    assert options(first)[4] == ("E", "Tetracycline")
    assert first["meta"]["meta_info"] == "step2&3"
    assert problems == [("medqa/test#L3", problems[0][1])] and "F" in problems[0][1]
    records.to_table(items, records.MCQ)  # the records fit the MCQ schema


def test_a_malformed_item_raises_without_a_problems_list(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "test.jsonl", MEDQA)
    with pytest.raises(evalsets.EvalSetError, match=r"test\.jsonl: medqa/test#L3: .*F"):
        list(evalsets.load_medqa(path))


def test_medqa_directory_and_split_filter(tmp_path: Path) -> None:
    write_jsonl(tmp_path / "US" / "train.jsonl", MEDQA[:1])
    write_jsonl(tmp_path / "US" / "test.jsonl", MEDQA[1:2])
    assert [i["id"] for i in evalsets.load_medqa(tmp_path)] == ["medqa/test#L1", "medqa/train#L1"]
    assert [i["split"] for i in evalsets.load_medqa(tmp_path, split="train")] == ["train"]


def test_unreadable_file_raises(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(evalsets.EvalSetError, match="binary"):
        list(evalsets.load_medqa(path))
    with pytest.raises(evalsets.EvalSetError, match="no such file"):
        list(evalsets.load_medqa(tmp_path / "missing.jsonl"))


MEDMCQA_DEV = [
    {"question": "Drug of choice for absence seizures is", "exp": "Ethosuximide is preferred in children.",
     "cop": 3, "opa": "Phenytoin", "opb": "Carbamazepine", "opc": "Ethosuximide", "opd": "Phenobarbitone",
     "subject_name": "Pharmacology", "topic_name": "Antiepileptics", "id": "45258d3d-b974-44dd-a161-c3fccbdadd88",
     "choice_type": "single"},
    {"question": "Most common site of carcinoid tumour", "exp": "", "cop": 1, "opa": "Appendix",
     "opb": "Ileum", "opc": "Rectum", "opd": "Stomach", "subject_name": "Surgery", "topic_name": None,
     "id": "b1c2", "choice_type": "single"},
]


def test_medmcqa(tmp_path: Path) -> None:
    # MedMCQA ships JSON lines under a .json name.
    dev = write_jsonl(tmp_path / "dev.json", MEDMCQA_DEV)
    items = list(evalsets.load_medmcqa(dev))
    assert [i["id"] for i in items] == ["medmcqa/dev#45258d3d-b974-44dd-a161-c3fccbdadd88", "medmcqa/dev#b1c2"]
    first = items[0]
    assert first["answer"] == "C"  # cop is 1-based
    assert options(first) == [("A", "Phenytoin"), ("B", "Carbamazepine"), ("C", "Ethosuximide"),
                              ("D", "Phenobarbitone")]
    assert first["explanation"] == "Ethosuximide is preferred in children."
    assert first["meta"]["subject_name"] == "Pharmacology" and first["meta"]["choice_type"] == "single"
    assert items[1]["answer"] == "A"


def test_medmcqa_test_split_has_no_answers(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k not in ("cop", "exp")} for r in MEDMCQA_DEV]
    items = list(evalsets.load_medmcqa(write_jsonl(tmp_path / "test.json", rows)))
    assert [(i["split"], i["answer"]) for i in items] == [("test", ""), ("test", "")]
    assert len(items[0]["options"]) == 4


def pqa_entry(question: str, decision: str | None) -> dict:
    entry = {"QUESTION": question,
             "CONTEXTS": ["We enrolled 120 adults with chronic cough.", "Cough scores fell by half at week 8."],
             "LABELS": ["METHODS", "RESULTS"], "MESHES": ["Cough", "Humans"], "YEAR": "2014",
             "reasoning_required_pred": "yes", "reasoning_free_pred": "yes",
             "LONG_ANSWER": "Gabapentin reduced chronic cough in adults."}
    if decision is not None:
        entry["final_decision"] = decision
    return entry


@pytest.fixture
def pqal(tmp_path: Path) -> Path:
    data = {"1001": pqa_entry("Does gabapentin reduce chronic cough?", "yes"),
            "1002": pqa_entry("Is cough duration linked to asthma?", "maybe"),
            "1003": pqa_entry("Do inhaled steroids cure cough?", "no")}
    path = tmp_path / "ori_pqal.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_pubmedqa_record(pqal: Path) -> None:
    items = list(evalsets.load_pubmedqa(pqal))
    assert [i["id"] for i in items] == ["pubmedqa/ori_pqal#1001", "pubmedqa/ori_pqal#1002", "pubmedqa/ori_pqal#1003"]
    first = items[0]
    assert options(first) == [("A", "yes"), ("B", "no"), ("C", "maybe")]
    assert [i["answer"] for i in items] == ["A", "C", "B"]
    assert first["context"] == ("METHODS: We enrolled 120 adults with chronic cough.\n"
                                "RESULTS: Cough scores fell by half at week 8.")
    meta = first["meta"]
    assert meta["pmid"] == "1001" and meta["year"] == "2014" and meta["meshes"] == ["Cough", "Humans"]
    assert meta["long_answer"] == "Gabapentin reduced chronic cough in adults."
    assert meta["reasoning_required_pred"] == "yes" and meta["reasoning_free_pred"] == "yes"
    records.to_table(items, records.MCQ)


def test_pubmedqa_unlabelled_has_an_empty_answer(tmp_path: Path) -> None:
    path = tmp_path / "ori_pqau.json"
    path.write_text(json.dumps({"2001": pqa_entry("Does sleep loss raise blood pressure?", None)}), encoding="utf-8")
    (item,) = evalsets.load_pubmedqa(path)
    assert (item["id"], item["split"], item["answer"]) == ("pubmedqa/ori_pqau#2001", "ori_pqau", "")
    assert len(item["options"]) == 3


@pytest.mark.parametrize("ids_text, name", [('{"1001": "yes", "1003": "no"}', "test_ground_truth.json"),
                                            ("1001\n1003\n", "test_pmids.txt")])
def test_pubmedqa_test_ids_and_split_filter(pqal: Path, ids_text: str, name: str) -> None:
    ids = pqal.parent / name
    ids.write_text(ids_text, encoding="utf-8")
    every = list(evalsets.load_pubmedqa(pqal, ids=ids))
    assert [i["split"] for i in every] == ["test", "train", "test"]
    test = list(evalsets.load_pubmedqa(pqal, ids=ids, split="test"))
    assert [i["id"] for i in test] == ["pubmedqa/test#1001", "pubmedqa/test#1003"]
    assert [i["id"] for i in evalsets.load_pubmedqa(pqal, ids=ids, split="train")] == ["pubmedqa/train#1002"]


def test_pubmedqa_errors(pqal: Path) -> None:
    with pytest.raises(evalsets.EvalSetError, match="needs ids"):
        list(evalsets.load_pubmedqa(pqal, split="test"))
    ids = pqal.parent / "ids.txt"
    ids.write_text("1001\n9999\n", encoding="utf-8")
    problems: list[tuple[str, str]] = []
    assert len(list(evalsets.load_pubmedqa(pqal, ids=ids, split="test", problems=problems))) == 1
    assert problems == [("pubmedqa/test", "1 PMID(s) of ids.txt are not in the file, e.g. 9999")]
    bad = pqal.parent / "ori_bad.json"
    bad.write_text(json.dumps({"1": {"QUESTION": "Q?", "CONTEXTS": []},
                               "2": {**pqa_entry("Q?", "perhaps")}}), encoding="utf-8")
    problems = []
    assert list(evalsets.load_pubmedqa(bad, problems=problems)) == []
    assert [p[0] for p in problems] == ["pubmedqa/ori_bad#1", "pubmedqa/ori_bad#2"]
    assert "CONTEXTS" in problems[0][1] and "perhaps" in problems[1][1]


MMLU_ROWS = ('"Which structure passes through the foramen ovale?",Mandibular nerve,Maxillary nerve,Facial nerve,'
             'Optic nerve,A\n'
             '"The hepatic portal vein is formed by\nwhich two veins?","Splenic, superior mesenteric",'
             'Renal and gonadal,Azygos and hemiazygos,Cystic and gastric,A\n'
             'Too few fields,A,B,C\n')


def test_mmlu_subject_and_split_from_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "test" / "clinical_knowledge_test.csv"
    path.parent.mkdir()
    path.write_text(MMLU_ROWS, encoding="utf-8")
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_mmlu(path, problems=problems))
    assert [i["id"] for i in items] == ["mmlu/test/clinical_knowledge#L1", "mmlu/test/clinical_knowledge#L2"]
    assert items[0]["meta"]["subject"] == "clinical_knowledge" and items[0]["split"] == "test"
    assert items[1]["question"] == "The hepatic portal vein is formed by\nwhich two veins?"
    assert options(items[1])[0] == ("A", "Splenic, superior mesenteric")
    assert [i["answer"] for i in items] == ["A", "A"]
    assert problems == [("mmlu/test/clinical_knowledge#L4", "4 fields; MMLU rows are question,A,B,C,D,answer")]


def test_mmlu_directory_with_subject_filter(tmp_path: Path) -> None:
    for name in ("anatomy_test.csv", "anatomy_dev.csv", "astronomy_test.csv"):
        (tmp_path / name).write_text(MMLU_ROWS.split("Too few")[0], encoding="utf-8")
    items = list(evalsets.load_mmlu(tmp_path, subjects=["anatomy"], split="test"))
    assert {i["id"].split("#")[0] for i in items} == {"mmlu/test/anatomy"}
    assert len(items) == 2
    assert len(list(evalsets.load_mmlu(tmp_path, subjects=["anatomy"]))) == 4


CMMLU = (",Question,A,B,C,D,Answer\n"
         "0,下列哪项是糖尿病的典型症状？,多饮多尿,皮疹,脱发,耳鸣,A\n"
         "1,高血压患者首选的降压药物不包括,氢氯噻嗪,氨氯地平,依那普利,地塞米松,D\n")


def test_cmmlu_header_shape_in_gb18030(tmp_path: Path) -> None:
    path = tmp_path / "test" / "clinical_medicine.csv"
    path.parent.mkdir()
    path.write_bytes(CMMLU.encode("gb18030"))
    items = list(evalsets.load_cmmlu(path))
    assert [i["id"] for i in items] == ["cmmlu/test/clinical_medicine#0", "cmmlu/test/clinical_medicine#1"]
    assert items[0]["question"] == "下列哪项是糖尿病的典型症状？"
    assert options(items[1])[3] == ("D", "地塞米松") and items[1]["answer"] == "D"
    assert items[0]["meta"]["subject"] == "clinical_medicine" and items[0]["split"] == "test"


def test_jsonl_text(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "heldout.jsonl", [{"text": "  A held-out  passage. ", "pmid": 42},
                                                    {"body": "no text field"}])
    problems: list[tuple[str, str]] = []
    items = list(evalsets.load_jsonl_text(path, problems=problems))
    assert [(i["id"], i["question"], i["meta"].get("pmid")) for i in items] == [
        ("jsonl/heldout#L1", "A held-out passage.", "42")]
    assert problems == [("jsonl/heldout#L2", "no text in field 'text'")]
    (item,) = evalsets.load_jsonl_text(path, "body", dataset="notes", problems=[])
    assert item["id"] == "notes/heldout#L2" and item["question"] == "no text field"


def test_loader_table() -> None:
    assert set(evalsets.LOADERS) == {"pubmedqa", "medqa", "medmcqa", "mmlu", "cmmlu", "jsonl"}
    assert evalsets.LOADERS["jsonl"] is evalsets.load_jsonl_text


def test_real_pubmedqa_test_split(realdata: Path) -> None:
    folder = realdata / "pubmedqa"
    truth = json.loads((folder / "test_ground_truth.json").read_text(encoding="utf-8"))
    problems: list[tuple[str, str]] = []
    test = list(evalsets.load_pubmedqa(folder / "ori_pqal.json", ids=folder / "test_ground_truth.json",
                                       split="test", problems=problems))
    assert problems == []
    assert len(test) == 500 and {i["meta"]["pmid"] for i in test} == set(truth)
    labels = {"A": "yes", "B": "no", "C": "maybe"}
    assert all(labels[i["answer"]] == truth[i["meta"]["pmid"]] for i in test)
    train = list(evalsets.load_pubmedqa(folder / "ori_pqal.json", ids=folder / "test_ground_truth.json",
                                        split="train"))
    assert len(train) == 500 and not {i["meta"]["pmid"] for i in train} & set(truth)
    records.to_table(test, records.MCQ)

"""The exam reader on the bundled samples: counts, templates, and what each knowledge point says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from curate.benchmarks import mcq
from curate.core.ledger import QUARANTINE, Ledger
from curate.readers import FileRef, exams
from curate.text.textio import NotText, iter_records

FILES = ("en_mcq.jsonl", "zh_exam.jsonl", "zh_exam_gb18030.csv")
CJK = "\u4e00-\u9fff\u3000-\u303f\uff00-\uffef"


def read(path: Path, relpath: str, cfg: exams.Config | None = None) -> tuple[list[dict], Ledger]:
    ledger = Ledger("exams", "read")
    docs = list(exams.read(FileRef(path, relpath, "exams"), cfg or exams.Config(), ledger))
    return docs, ledger


@pytest.fixture(scope="module")
def samples_read() -> dict[str, tuple[dict[str, dict], Ledger]]:
    root = Path(__file__).resolve().parents[2] / "samples" / "exams"
    out = {}
    for name in FILES:
        docs, ledger = read(root / name, name)
        out[name] = ({d["meta"]["locator"]: d for d in docs}, ledger)
    return out


@pytest.fixture(scope="module")
def rows() -> dict[tuple[str, str], dict]:
    """The raw sample rows, parsed, keyed by (file, locator): the options each document came from."""
    root = Path(__file__).resolve().parents[2] / "samples" / "exams"
    parsed = {}
    for name in FILES:
        for locator, row in iter_records(root / name):
            try:
                parsed[name, locator] = mcq.parse(row)
            except mcq.MalformedMCQ:
                continue
    return parsed


def statement(doc: dict) -> str:
    """The knowledge point without its explanation paragraph."""
    return doc["text"].split("\n\n")[0]


def test_counts_and_quarantines(samples_read: dict) -> None:
    counts = {name: (len(docs), len(ledger.rows)) for name, (docs, ledger) in samples_read.items()}
    assert counts == {"en_mcq.jsonl": (15, 1), "zh_exam.jsonl": (15, 1), "zh_exam_gb18030.csv": (8, 0)}


def test_bad_rows_become_quarantine_rows_with_reasons(samples_read: dict) -> None:
    rows = [row for _, ledger in samples_read.values() for row in ledger.rows]
    assert [(r[0], r[3], r[4]) for r in rows] == [
        ("exams/en_mcq.jsonl#L16", QUARANTINE, "malformed_mcq"),
        ("exams/zh_exam.jsonl#L16", QUARANTINE, "malformed_mcq"),
    ]
    assert "question: no question stem" in rows[0][5]
    assert "答案: answer 'F' names option(s) F, which is not among the options A, B, C, D" in rows[1][5]


EXPECTED_TEMPLATES = {
    "en_mcq.jsonl": ["which", "what", "which", "cloze", "negative_except", "negative_which", "replace", "which",
                     "statement", "replace", "what", "what", "fallback", "which", "which"],
    "zh_exam.jsonl": ["superlative", "superlative", "which", "negative_which", "negative", "negative_include",
                      "cloze", "cloze", "subject", "superlative", "which", "statement", "superlative", "superlative",
                      "reason"],
    "zh_exam_gb18030.csv": ["cloze", "which", "subject", "negative", "negative_which", "superlative", "subject",
                            "superlative"],
}


def test_template_ids(samples_read: dict) -> None:
    for name, expected in EXPECTED_TEMPLATES.items():
        docs, _ = samples_read[name]
        lang = "en" if name.startswith("en") else "zh"
        assert [d["meta"]["template"] for d in docs.values()] == [f"exams/{lang}/{t}" for t in expected]


def test_document_shape_and_provenance(samples_read: dict) -> None:
    docs, _ = samples_read["en_mcq.jsonl"]
    doc = docs["L8"]
    assert doc["id"] == "exams/en_mcq.jsonl#L8"
    assert (doc["source"], doc["lang"]) == ("exams", "en")
    assert doc["meta"] == {"file": "en_mcq.jsonl", "locator": "L8", "template": "exams/en/which", "form": "positive",
                           "answer": "ACE", "subject": "Biochemistry"}
    zh_docs, _ = samples_read["zh_exam.jsonl"]
    assert zh_docs["L9"]["meta"]["answer"] == "ACD"
    assert zh_docs["L9"]["meta"]["科目"] == "急诊医学"
    assert all(d["lang"] == "zh" for d in zh_docs.values())


def test_known_statements(samples_read: dict) -> None:
    en, _ = samples_read["en_mcq.jsonl"]
    zh, _ = samples_read["zh_exam.jsonl"]
    gb, _ = samples_read["zh_exam_gb18030.csv"]
    assert statement(en["L1"]) == ("Streptococcus pneumoniae is the most common cause of community-acquired "
                                   "pneumonia in adults.")
    assert statement(en["L2"]).endswith("in leads II, III, and aVF. The most likely diagnosis is inferior wall "
                                        "myocardial infarction.")
    assert statement(en["L4"]).endswith("the preferred first-line antihypertensive drug class is an ACE inhibitor.")
    assert statement(en["L7"]).endswith("Her infection is most likely caused by Escherichia coli.")
    assert statement(en["L8"]) == "Acetoacetate, Beta-hydroxybutyrate and Acetone are ketone bodies."
    assert statement(en["L9"]) == "Regarding warfarin, its anticoagulant effect is monitored with the INR."
    assert statement(en["L10"]).endswith("This patient most likely has Poststreptococcal glomerulonephritis.")
    assert statement(en["L15"]) == "N-acetylcysteine is the antidote for acetaminophen overdose."
    assert statement(zh["L1"]) == "大叶性肺炎最常见的病原体是肺炎链球菌。"
    assert statement(zh["L3"]) == "血清铁蛋白降低是缺铁性贫血最早出现的实验室改变。"
    assert statement(zh["L8"]) == "痰中找到结核分枝杆菌是确诊肺结核最可靠的依据。"
    assert statement(zh["L9"]) == ("有机磷农药中毒的急救措施包括立即脱离中毒现场、早期足量使用阿托品"
                                   "和使用胆碱酯酶复能剂。")
    assert statement(zh["L11"]) == "治疗癫痫失神发作首选乙琥胺。"
    assert statement(zh["L13"]) == "青霉素过敏性休克首选的抢救药物是肾上腺素。"
    assert statement(gb["L2"]) == "成人心肺复苏时胸外按压的频率为100～120次/分。"
    assert statement(gb["L3"]) == "蚊是流行性乙型脑炎的主要传播媒介。"


def all_docs(samples_read: dict) -> list[tuple[str, dict]]:
    return [(name, d) for name, (docs, _) in samples_read.items() for d in docs.values()]


def test_every_point_states_the_answer_without_the_question(samples_read: dict, rows: dict) -> None:
    for name, doc in all_docs(samples_read):
        item = rows[name, doc["meta"]["locator"]]
        point = statement(doc)
        for answer in mcq.answer_texts(item):
            assert answer.rstrip("。.").casefold() in point.casefold(), (doc["id"], answer)
        assert "?" not in point and "？" not in point, doc["id"]
        assert not re.search(r"(?:^|\s)[(（]?[A-E][.．、)）]\s*\S", point), doc["id"]  # no option list
        assert "（ ）" not in point and "____" not in point, doc["id"]
        if "negative" not in doc["meta"]["template"]:  # distractors are not stated
            for other in mcq.other_texts(item):
                assert other.casefold() not in point.casefold(), (doc["id"], other)


def test_chinese_has_no_spaces_and_chinese_punctuation(samples_read: dict) -> None:
    for _, doc in all_docs(samples_read):
        if doc["lang"] != "zh":
            continue
        assert not re.search(f"[{CJK}][ \t\u3000]+[{CJK}]", doc["text"]), doc["id"]
        for paragraph in doc["text"].split("\n\n"):
            assert paragraph.endswith("。"), doc["id"]
            assert not re.search(f"[{CJK}][,:;]", paragraph), doc["id"]


def test_english_sentences_are_well_formed(samples_read: dict) -> None:
    for _, doc in all_docs(samples_read):
        if doc["lang"] != "en":
            continue
        for paragraph in doc["text"].split("\n\n"):
            assert paragraph[0].isupper() and paragraph.endswith("."), (doc["id"], paragraph)
            assert "\n" not in paragraph, doc["id"]
            assert not re.search(r"\.\.|\?\.|[,;:]\.|\s[.,;:]|\s{2,}", paragraph), (doc["id"], paragraph)


NEGATION = {  # how each negative template says that the answer is not true
    "exams/en/negative_except": "except {}:",
    "exams/en/negative_which": "but not {}.",
    "exams/zh/negative_which": "而{}不",
    "exams/zh/negative_include": "，不包括{}。",
    "exams/zh/negative": "。“{}”的说法",
}


def test_negative_questions_do_not_assert_the_false_option(samples_read: dict, rows: dict) -> None:
    seen = set()
    for name, doc in all_docs(samples_read):
        template = doc["meta"]["template"]
        if "negative" not in template:
            continue
        seen.add(template)
        item = rows[name, doc["meta"]["locator"]]
        point = statement(doc)
        (answer,) = mcq.answer_texts(item)
        marker = NEGATION[template].format(answer[:1].lower() + answer[1:] if template.startswith(
            "exams/en") else answer)
        # The answer appears once, only inside the negation; every other option is stated as true.
        assert point.casefold().count(answer.casefold()) == 1, doc["id"]
        assert marker.casefold() in point.casefold(), (doc["id"], marker, point)
        for other in mcq.other_texts(item):
            assert other.rstrip("。").casefold() in point.casefold(), (doc["id"], other)
            assert point.casefold().find(other.rstrip("。").casefold()) < point.casefold().find(
                marker.casefold()) or template == "exams/en/negative_except", doc["id"]
    assert seen == set(NEGATION)


def test_explanations_follow_and_lose_answer_letters(samples_read: dict) -> None:
    en, _ = samples_read["en_mcq.jsonl"]
    zh, _ = samples_read["zh_exam.jsonl"]
    assert en["L4"]["text"].endswith("\n\nExplanation: ACE inhibitors lower intraglomerular pressure and slow "
                                     "the progression of diabetic kidney disease.")
    assert "answer is B" not in en["L4"]["text"]
    assert zh["L2"]["text"].endswith("\n\n解析：硝酸甘油舌下含服1～2分钟起效，能迅速扩张冠状动脉和静脉，"
                                     "缓解心绞痛发作。")
    assert "故选A" not in zh["L2"]["text"]


def test_explanations_can_be_left_out(samples: Path) -> None:
    docs, _ = read(samples / "exams" / "en_mcq.jsonl", "en_mcq.jsonl", exams.Config(include_explanation=False))
    assert len(docs) == 15
    assert not any("Explanation" in d["text"] or "\n" in d["text"] for d in docs)


def test_gb18030_csv_reads(samples: Path) -> None:
    raw = (samples / "exams" / "zh_exam_gb18030.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    docs, ledger = read(samples / "exams" / "zh_exam_gb18030.csv", "zh_exam_gb18030.csv")
    assert len(docs) == 8 and not ledger.rows
    assert "人体最大的内分泌腺是甲状腺。" in docs[5]["text"]


def test_output_is_deterministic(samples: Path) -> None:
    for name in FILES:
        first, ledger1 = read(samples / "exams" / name, name)
        second, ledger2 = read(samples / "exams" / name, name)
        assert json.dumps(first, ensure_ascii=False) == json.dumps(second, ensure_ascii=False)
        assert ledger1.rows == ledger2.rows


def test_unreadable_lines_are_quarantined_and_the_rest_read(tmp_path: Path) -> None:
    good = {"question": "Which of the following is an opioid antagonist?", "options": ["Naloxone", "Morphine"],
            "answer": "A"}
    path = tmp_path / "mixed.jsonl"
    path.write_text(json.dumps(good) + "\n{broken json\n[1, 2]\n", encoding="utf-8")
    docs, ledger = read(path, "mixed.jsonl")
    assert [statement(d) for d in docs] == ["Naloxone is an opioid antagonist."]
    assert [(r[0], r[4]) for r in ledger.rows] == [("exams/mixed.jsonl#L2", "malformed_json"),
                                                   ("exams/mixed.jsonl#L3", "malformed_record")]


def test_a_whole_unreadable_file_raises_not_text(tmp_path: Path) -> None:
    path = tmp_path / "binary.jsonl"
    path.write_bytes(b"\x00\x01\x02 not text")
    with pytest.raises(NotText):
        read(path, "binary.jsonl")


def test_field_config_from_a_recipe_mapping(tmp_path: Path) -> None:
    path = tmp_path / "custom.jsonl"
    path.write_text(json.dumps({"prompt": "Insulin is secreted by ____ cells.", "choices": ["alpha", "beta"],
                                "gold": 1}) + "\n", encoding="utf-8")
    cfg = exams.Config(fields={"question": ["prompt"], "index_fields": [["gold", 0]]})
    docs, ledger = read(path, "custom.jsonl", cfg)
    assert not ledger.rows
    assert statement(docs[0]) == "Insulin is secreted by beta cells."
    assert docs[0]["meta"]["template"] == "exams/en/cloze"


def point(question: str, options: list[str], answer: str) -> tuple[str, str]:
    item = mcq.parse({"question": question, "options": options, "answer": answer})
    body, _, template = exams.knowledge_point(item, exams.Config(include_explanation=False))
    return template.rsplit("/", 1)[1], body


@pytest.mark.parametrize(
    ("question", "options", "answer", "template", "expected"),
    [
        ("Which of the following statements about digoxin is false?",
         ["It inhibits the Na+/K+-ATPase.", "Hypokalemia increases its toxicity.",
          "It is cleared mainly by the liver."],
         "C", "negative_statement", 'Regarding digoxin, the following statements are true: It inhibits the '
         'Na+/K+-ATPase; Hypokalemia increases its toxicity. The statement "It is cleared mainly by the liver" '
         "is false."),
        ("Which of the following drugs does NOT cause hyperkalemia?", ["Spironolactone", "Lisinopril", "Furosemide"],
         "C", "negative_which", "Each of Spironolactone and Lisinopril causes hyperkalemia, but not Furosemide."),
        ("Which of the following are NOT ketone bodies?", ["Acetoacetate", "Lactate", "Pyruvate", "Acetone"], "BC",
         "negative_which", "Acetoacetate and Acetone are ketone bodies, but not Lactate and Pyruvate."),
        ("Which of the following drugs did NOT cause hyperkalemia in this trial?",
         ["Spironolactone", "Lisinopril", "Furosemide"], "C", "negative",
         "The following drugs did cause hyperkalemia in this trial: this holds for Spironolactone and Lisinopril, "
         "but not for Furosemide."),
        ("A man has anaphylaxis after a bee sting. Which of the following should this patient receive?",
         ["Intramuscular epinephrine", "Oral loratadine"], "A", "replace",
         "A man has anaphylaxis after a bee sting. This patient should receive Intramuscular epinephrine."),
        ("Which of the following is this patient at greatest risk for?", ["Gout", "Colon cancer"], "B", "replace",
         "This patient is at greatest risk for Colon cancer."),
        ("Which of the following is this patient's most likely diagnosis?", ["Gout", "Pseudogout"], "A", "what",
         "This patient's most likely diagnosis is Gout."),
        ("Which of the following is correct?", ["aspirin is an NSAID.", "heparin is a vitamin"], "A", "statement",
         "Aspirin is an NSAID."),
        ("The ____ nerve innervates the diaphragm.", ["vagus", "phrenic"], "B", "cloze",
         "The phrenic nerve innervates the diaphragm."),
        ("下列各项均是肺炎的表现，除外", ["发热", "咳嗽", "脱发"], "C", "negative_except",
         "发热和咳嗽均是肺炎的表现，脱发除外。"),
        ("下列不属于肺炎症状的是", ["发热", "咳嗽", "脱发"], "C", "negative_which",
         "发热和咳嗽属于肺炎症状，而脱发不属于。"),
        ("阿司匹林不属于下列哪类药物", ["解热镇痛药", "抗血小板药", "抗凝血酶药"], "C", "negative_include",
         "阿司匹林属于解热镇痛药和抗血小板药，不属于抗凝血酶药。"),
        ("下列属于肺炎症状的是", ["发热", "便秘", "脱发"], "A", "cleft", "属于肺炎症状的是发热。"),
        ("下列说法正确的是（ ）", ["阿司匹林属于非甾体抗炎药。", "青霉素属于大环内酯类"], "A", "statement",
         "阿司匹林属于非甾体抗炎药。"),
        ("（ ）和（ ）是肺炎的常见症状", ["发热", "咳嗽", "脱发"], "AB", "cloze", "发热和咳嗽是肺炎的常见症状。"),
        ("肺炎的首选治疗：", ["抗生素", "手术"], "A", "superlative", "肺炎的首选治疗为抗生素。"),
        ("肺 炎 的 首选 治疗 是 什么？", ["抗生素", "手术"], "A", "which", "肺炎的首选治疗是抗生素。"),
        # Every option marked in a negative question: nothing true is left to state, so no negation is
        # dropped and no marked option is asserted as true.
        ("Which of the following is NOT a vitamin?", ["Iron", "Zinc"], "AB", "fallback",
         "Which of the following is NOT a vitamin: the answer is Iron and Zinc."),
        ("下列哪项不是维生素", ["铁", "锌"], "AB", "fallback", "下列哪项不是维生素，答案为铁和锌。"),
    ],
)
def test_patterns(question: str, options: list[str], answer: str, template: str, expected: str) -> None:
    assert point(question, options, answer) == (template, expected)


def test_a_list_stem_is_one_line_per_item_and_an_object_is_ledgered(tmp_path: Path) -> None:
    path = tmp_path / "lists.jsonl"
    rows = [{"question": ["Which drug", "is first line for gout ex1?"], "options": {"A": "Colchicine", "B": "Iron"},
             "answer": "A"},
            {"question": {"text": "Which vitamin ex2?"}, "options": {"A": "C", "B": "K"}, "answer": "A"},
            {"question": "Which drug is first line ex3?", "options": {"A": "Aspirin", "B": "Iron"}, "answer": "A",
             "explanation": 42}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    docs, ledger = read(path, "lists.jsonl")
    assert [d["text"] for d in docs] == ["Which drug\nis first line for gout ex1: the answer is Colchicine."]
    assert [(r[0].rsplit("#", 1)[1], r[3], r[4]) for r in ledger.rows] == [
        ("L2", QUARANTINE, "non_text_field"), ("L3", QUARANTINE, "non_text_field")]
    assert "'question'" in ledger.rows[0][5] and "dict" in ledger.rows[0][5]

"""Short and lightly edited evaluation items: caught with their options or on their own; generic phrasing,
topic sentences and prose that names the options are not."""

from __future__ import annotations

import pytest

from curate.benchmarks import decontam
from curate.benchmarks.decontam import DecontamConfig

from .test_decontam import run

FUZZY, PLAIN = DecontamConfig(), DecontamConfig(fuzzy=False)

# About 20 words: one changed word in the middle leaves no intact 13-gram.
MEDMCQA = {"id": "medmcqa/dev#a1", "question": "Most common site of carcinoid tumour in the gastrointestinal tract "
           "according to recent large population based registry data is", "meta": {},  # 19 words
           "options": [{"label": "A", "text": "Appendix"}, {"label": "B", "text": "Ileum"},
                       {"label": "C", "text": "Rectum"}, {"label": "D", "text": "Stomach"}], "answer": "B"}
# 11 CJK characters: shorter than the 20-character n-gram, and than the 12 that may count alone.
CMMLU = {"id": "cmmlu/test/anatomy#7", "question": "阑尾根部的体表投影位于", "meta": {},
         "options": [{"label": k, "text": t} for k, t in zip("ABCD", (
             "两侧髂前上棘连线的中点", "脐与左髂前上棘连线的中点", "脐与右髂前上棘连线的中外三分之一交点",
             "剑突与脐连线的中点"), strict=True)],
         "answer": "C"}
SHORT = {"id": "medmcqa/dev#b2", "question": "Chief cells of the stomach secrete", "meta": {},
         "options": [{"label": "A", "text": "Hydrochloric acid"}, {"label": "B", "text": "Pepsinogen"},
                     {"label": "C", "text": "Gastrin"}, {"label": "D", "text": "Intrinsic factor"}], "answer": "B"}
YESNO = {"id": "pubmedqa/test#123", "question": "Is ferritin reliable in haemodialysis?", "meta": {},
         "options": [{"label": "A", "text": "yes"}, {"label": "B", "text": "no"}, {"label": "C", "text": "maybe"}],
         "answer": "B"}
# Exam framing recurs across a benchmark's items, so its words weigh little next to each item's own.
CAUSES = ["anaemia in pregnancy", "community acquired pneumonia", "acute pancreatitis", "upper gastrointestinal "
          "bleeding", "heart failure", "chronic cough", "secondary hypertension", "hypothyroidism", "dementia",
          "osteoporosis", "erectile dysfunction", "infertility in women", "neonatal jaundice", "stroke in the young",
          "sudden cardiac death", "pleural effusion", "ascites", "haematuria", "hyponatraemia", "hypercalcaemia",
          "peripheral neuropathy", "epilepsy in adults", "lower back pain", "hip pain in children", "otitis media",
          "conjunctivitis", "glaucoma", "cataract", "blindness worldwide", "deafness in infants", "meningitis",
          "encephalitis", "sepsis", "cellulitis", "osteomyelitis", "septic arthritis", "gout", "renal stones",
          "urinary tract infection", "pyelonephritis"]
OTHERS = [{"id": f"gen#{i}", "question": f"Which of the following is the most common cause of {w}?", "meta": {},
           "options": [{"label": "A", "text": "yes"}, {"label": "B", "text": "no"}, {"label": "C", "text": "maybe"}],
           "answer": "A"} for i, w in enumerate(CAUSES)]


# Three words: one changed leaves two (0.67), and the options say which item it is.
VIRCHOW = {"id": "medmcqa/dev#c3", "question": "Virchow node is", "meta": {}, "answer": "B",
           "options": [{"label": k, "text": t} for k, t in zip("ABCD", (
               "Right axillary lymph node", "Left supraclavicular lymph node", "Periumbilical nodule",
               "Left inguinal lymph node"), strict=True)]}
# Options that repeat the question's own words: the question, not the options, is where it is found.
ECHO = {"id": "cmmlu/test/human_sexuality#13", "question": "社会生活中的生物学男女最终反映为社会文化设定的",
        "meta": {}, "answer": "A", "options": [{"label": k, "text": t} for k, t in zip(
            "ABCD", ("社会学男女", "生物学男女", "文化学男女", "人类学男女"), strict=True)]}


@pytest.fixture(scope="module")
def indexes() -> dict[str, decontam.Index]:
    sets = {"medmcqa": [MEDMCQA, SHORT, VIRCHOW], "cmmlu": [CMMLU, ECHO], "pubmedqa": [YESNO], "other": OTHERS}
    return {"fuzzy": decontam.build_index(sets, FUZZY), "plain": decontam.build_index(sets, PLAIN)}


def _paper(item: dict, question: str | None = None, order: str = "ABCD", sep: str = "\n") -> str:
    options = {o["label"]: o["text"] for o in item["options"]}
    lines = [question or item["question"], *(f"{new}. {options[old]}" for new, old in zip("ABCD", order, strict=False)
                                              if old in options)]
    return sep.join(lines)


def _hits(texts: list[str], index: decontam.Index, cfg: DecontamConfig) -> list[str]:
    _, ledger = run(texts, index, cfg)
    return [r[5] for r in ledger.rows]


def test_issue_cases_are_caught_only_by_the_fuzzy_match(indexes) -> None:
    edited = MEDMCQA["question"].replace("tract", "system")  # word 10 of 19
    zh = CMMLU["question"].replace("体表", "体面")
    texts = [f"Revision notes.\n{_paper(MEDMCQA, edited)}\nMore notes follow here.",
             f"Revision notes. {edited}? Carcinoid tumours are rare.",  # the question alone, 20 words
             f"复习资料。\n{_paper(CMMLU, zh, order='DCBA')}\n请作答。"]
    hits = _hits(texts, indexes["fuzzy"], FUZZY)
    assert len(hits) == 3 and all("match=fuzzy" in h for h in hits)
    assert "benchmark=cmmlu item=cmmlu/test/anatomy#7" in hits[2] and "with_options=true" in hits[2]
    assert "with_options=false" in hits[1]
    assert _hits(texts, indexes["plain"], PLAIN) == []


def test_reformatted_copies_of_a_short_item_are_caught(indexes) -> None:
    paper = _paper(SHORT)
    texts = [paper, paper.upper(), paper.replace(" ", "\n"), _paper(SHORT, order="DBCA"),
             _paper(SHORT, "Chief cells of the stomach produce"), "Q: " + _paper(SHORT, sep="  ")]
    assert len(_hits(texts, indexes["fuzzy"], FUZZY)) == len(texts)


def test_a_question_whose_options_repeat_its_words_is_found_in_its_place(indexes) -> None:
    edited = ECHO["question"].replace("生物学", "生勿学")
    texts = [f"课后练习：\n{_paper(ECHO, edited, order='BADC')}\n答案见书后。", f"摘抄：{edited}。"]
    hits = _hits(texts, indexes["fuzzy"], FUZZY)
    assert len(hits) == 2 and all("item=cmmlu/test/human_sexuality#13 match=fuzzy" in h for h in hits)
    assert all("ngram='社会生活中的生勿学男女最终反映为社会文化设定的'" in h for h in hits)


def test_a_few_words_with_one_changed_count_with_every_option_beside_them(indexes) -> None:
    edited = "Virchow gland is"
    caught = [_paper(VIRCHOW, edited, order="DCAB"), _paper(VIRCHOW, edited, sep=" ").upper()]
    kept = [  # some of the options, or none
        "\n".join([edited, "A. Left supraclavicular lymph node", "B. Right axillary lymph node", "C. Spleen"]),
        f"{edited} not a term used in this atlas. Left supraclavicular lymph node: see page 12.",
    ]
    hits = _hits(caught + kept, indexes["fuzzy"], FUZZY)
    assert len(hits) == 2 and all("item=medmcqa/dev#c3 match=fuzzy similarity=0.67 with_options=true "
                                  "ngram='virchow gland is'" in h for h in hits)


def test_prose_naming_the_options_and_generic_phrasing_are_kept(indexes) -> None:
    texts = [
        # a textbook sentence with the stem and every option, in running prose
        "In the gastric glands the chief cells of the stomach secrete pepsinogen, while parietal cells release "
        "hydrochloric acid together with intrinsic factor, and G cells in the antrum produce gastrin.",
        # the same exam framing about other diseases
        "Which of the following is the most common cause of acute kidney injury? Dehydration is.",
        "Which of the following is the most common cause of anaemia in children? Iron deficiency.",
        # a question on the same topic in other words
        "Is serum ferritin still a reliable test for iron stores in people on haemodialysis? It can mislead.",
        # the five-word question of a yes/no item without its options: a topic sentence, too short alone
        "Is ferritin reliable in haemodialysis? Nephrologists debate it in every dialysis unit.",
        "阑尾炎的体表压痛点在哪里？通常位于右下腹麦氏点。",
    ]
    assert _hits(texts, indexes["fuzzy"], FUZZY) == []


def test_generic_options_count_only_as_the_whole_list_after_the_question(indexes) -> None:
    hits = _hits([_paper(YESNO), _paper(YESNO, "Is ferritin useful in haemodialysis?")], indexes["fuzzy"], FUZZY)
    assert len(hits) == 2 and all("item=pubmedqa/test#123" in h for h in hits)
    # Two of its three options beside the question: any yes/no question reads so, not this item.
    survey = "Is ferritin reliable in haemodialysis? Answer yes or no on the form and hand it back."
    assert _hits([survey], indexes["fuzzy"], FUZZY) == []


def test_index_file_keeps_the_short_items(indexes, tmp_path) -> None:
    indexes["fuzzy"].save(tmp_path / "index.parquet")
    loaded = decontam.Index.load(tmp_path / "index.parquet")
    text = _paper(CMMLU, CMMLU["question"].replace("体表", "体面"))
    assert _hits([text], loaded, FUZZY) == _hits([text], indexes["fuzzy"], FUZZY) != []
    with pytest.raises(ValueError, match="fuzzy=True"):
        loaded.check(PLAIN)


def test_guard_refuses_a_short_item_in_an_instruction_example(indexes) -> None:
    import pyarrow as pa

    from curate.core.step import Context
    from curate.instruct.build import guard

    edited = CMMLU["question"].replace("体表", "体面")
    rows = [{"id": "exams/a.jsonl#L1", "source": "exams", "task": "mcq", "meta": "{}",
             "messages": [{"role": "user", "content": _paper(CMMLU, edited)}, {"role": "assistant", "content": "C"}]},
            {"id": "exams/a.jsonl#L2", "source": "exams", "task": "mcq", "meta": "{}",
             "messages": [{"role": "user", "content": "阑尾炎的压痛点在哪里？"},
                          {"role": "assistant", "content": "麦氏点"}]}]
    ctx = Context("exams", "guard", resources={decontam.INDEX: indexes["fuzzy"]})
    out = guard(pa.Table.from_pylist(rows), FUZZY, ctx)
    assert out.kept["id"].to_pylist() == ["exams/a.jsonl#L2"]
    assert "item=cmmlu/test/anatomy#7" in out.ledger["detail"][0].as_py()

"""decontam: planted evaluation items are caught through reformatting, related text is not, PMIDs,
answers, the index file, the ledger, the build tasks, and the real PubMedQA test split."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from curate.benchmarks import decontam, evalsets, ngrams
from curate.benchmarks.decontam import DecontamConfig
from curate.build.recipes import Benchmark, DecontamSpec
from curate.core import records, shards
from curate.core.executor import Task
from curate.core.ledger import Ledger
from curate.core.step import Context, Step
from curate.core.tasks import ArtifactConfig, ChainConfig, Resource, artifact_task, chain_task

CFG = DecontamConfig()

HIP = {
    "question": "Does early mobilisation after hip fracture surgery shorten the hospital stay of older adults?",
    "context": "BACKGROUND: Hip fractures in older adults lead to long hospital stays and loss of independence. "
               "Early mobilisation is recommended by several guidelines, but its effect on the length of stay "
               "has rarely been measured in routine care.\nMETHODS: We reviewed 812 patients aged 65 years or "
               "older who underwent surgical repair of a hip fracture at three regional hospitals between 2015 "
               "and 2019, comparing those who stood within 24 hours of surgery with those who stood later.\n"
               "RESULTS: Patients mobilised within 24 hours stayed a median of 9 days (IQR 7-12) against 13 days "
               "for the others, and fewer were discharged to nursing homes.",
    "pmid": "30000001",
}
FERRITIN = {
    "question": "Is serum ferritin a reliable marker of iron deficiency in patients on maintenance haemodialysis?",
    "context": "OBJECTIVE: Ferritin rises with inflammation, which is common in kidney failure, so a normal value "
               "may hide depleted iron stores.\nMETHODS: Bone marrow iron was graded in 96 haemodialysis "
               "patients and compared with serum ferritin, transferrin saturation and C-reactive protein.\n"
               "RESULTS: One third of the patients with absent marrow iron had a ferritin above 200 ng/mL; "
               "transferrin saturation below 20% identified them better than ferritin alone.",
    "pmid": "30000002",
}

# Same topics and vocabulary, different sentences: not contamination.
RELATED = [
    "Getting patients out of bed soon after hip fracture repair is part of most orthogeriatric pathways. "
    "Physiotherapists assess older adults on the first day after surgery, and a shorter hospital stay is one "
    "of several outcomes that audits of early mobilisation report, together with delirium and mortality.",
    "In people receiving haemodialysis, ferritin behaves as an acute phase reactant, so inflammation can push "
    "it up even when iron stores are low. Many nephrologists therefore read ferritin together with transferrin "
    "saturation and C-reactive protein before prescribing intravenous iron to patients with kidney failure.",
]


def pubmedqa_item(entry: dict, split: str = "test") -> dict:
    return {"id": f"pubmedqa/{split}#{entry['pmid']}", "dataset": "pubmedqa", "split": split,
            "question": entry["question"], "context": entry["context"],
            "options": [{"label": "A", "text": "yes"}, {"label": "B", "text": "no"},
                        {"label": "C", "text": "maybe"}],
            "answer": "A", "explanation": "", "meta": {"pmid": entry["pmid"]}}


def reformat(text: str, seed: int) -> str:
    """Change case, whitespace and punctuation the way a scraped or re-typed copy would."""
    rng = random.Random(seed)
    text = text.upper() if seed % 2 else text.lower()
    text = text.replace(",", "").replace(";", ",").replace(": ", " - ").replace("(", "[").replace(")", "]")
    text = re.sub(r"\.\s", lambda m: rng.choice([" . ", ".\n\n", "!  "]), text)
    return re.sub(r" ", lambda m: rng.choice([" ", "  ", "\n", "\t", " \u00a0"]), text)


def docs_table(texts: list[str], metas: list[dict] | None = None):
    metas = metas or [{} for _ in texts]
    rows = [{"id": f"corpus/f.jsonl#L{i + 1}", "source": "corpus", "text": t, "lang": "en", "meta": m}
            for i, (t, m) in enumerate(zip(texts, metas, strict=True))]
    return records.to_table(rows, records.DOCUMENT)


def run(texts: list[str], index: decontam.Index, cfg: DecontamConfig = CFG, metas: list[dict] | None = None):
    out = decontam.decontaminate(docs_table(texts, metas), cfg,
                                 Context("corpus", "decontam", resources={decontam.INDEX: index}))
    ledger = Ledger("corpus", "decontam")
    ledger.rows = [tuple(r.values()) for r in out.ledger.to_pylist()]
    return out.kept, ledger


@pytest.fixture(scope="module")
def index() -> decontam.Index:
    return decontam.build_index({"pubmedqa": [pubmedqa_item(HIP), pubmedqa_item(FERRITIN)]}, CFG)


def test_tokens_ignore_case_accents_width_and_punctuation() -> None:
    a = ngrams.tokenize(["Naïve T-cells (CD4+), Ｈｂ 12.5 g/dL"])
    b = ngrams.tokenize(["NAIVE t cells cd4 hb 12 5 G DL"])
    assert np.array_equal(a.streams["latin"][0], b.streams["latin"][0])
    assert a.words(a.streams["latin"][2], "latin") == "naive t cells cd4 hb 12 5 g dl"


def test_planted_questions_and_contexts_are_caught_through_reformatting(index: decontam.Index) -> None:
    planted = []
    for seed, entry in enumerate((HIP, FERRITIN)):
        planted.append(f"Forum post. {reformat(entry['question'], seed)} Thanks for any advice.")
        for j, section in enumerate(entry["context"].split("\n")):
            planted.append(f"Notes copied from a review:\n{reformat(section, seed + j)}\nEnd of notes.")
    kept, ledger = run(planted + RELATED, index)
    assert kept["text"].to_pylist() == RELATED  # every plant dropped, the related text kept
    items = ["30000001"] * 4 + ["30000002"] * 4
    for row, pmid in zip(ledger.rows, items, strict=True):
        assert row[2:5] == ("decontam", "drop", "contamination")
        assert re.fullmatch(rf"benchmark=pubmedqa item=pubmedqa/test#{pmid} ngram='[a-z0-9 ]+'", row[5]), row[5]
    words = ledger.rows[1][5].split("ngram='")[1].rstrip("'")
    assert len(words.split()) == 13 and words in ngrams.normalize(re.sub(r"[^\w]+", " ", HIP["context"]))


def test_related_text_on_the_same_topics_is_not_caught(index: decontam.Index) -> None:
    kept, ledger = run(RELATED + [reformat(t, 3) for t in RELATED], index)
    assert kept.num_rows == 4 and ledger.rows == []


def test_order_schema_and_ids_of_kept_rows(index: decontam.Index) -> None:
    texts = [RELATED[0], HIP["question"], RELATED[1], "", FERRITIN["question"]]
    kept, ledger = run(texts, index)
    assert kept.schema == records.DOCUMENT
    assert kept["id"].to_pylist() == ["corpus/f.jsonl#L1", "corpus/f.jsonl#L3", "corpus/f.jsonl#L4"]
    assert [r[0] for r in ledger.rows] == ["corpus/f.jsonl#L2", "corpus/f.jsonl#L5"]


def test_pmid_exclusion(index: decontam.Index) -> None:
    metas = [{"pmid": "30000002", "file": "a.xml"}, {"pmid": 30000001}, {"pmid": "999"}, {"refs": {"pmid": "30000001"}}]
    kept, ledger = run(["unrelated text one", "unrelated text two", "three", "four"], index, metas=metas)
    assert [r[5] for r in ledger.rows] == ["benchmark=pubmedqa pmid=30000002", "benchmark=pubmedqa pmid=30000001"]
    assert kept.num_rows == 2
    kept, ledger = run(["unrelated text one"], index, DecontamConfig(exclude_pmids=False), metas=metas[:1])
    assert kept.num_rows == 1 and ledger.rows == []


MCQ = {"id": "mmlu/test/nutrition#L7", "question": "Which vitamin deficiency causes scurvy in humans?",
       "options": [{"label": "A", "text": "Vitamin C deficiency impairing collagen synthesis in connective tissue"},
                   {"label": "B", "text": "Vitamin D"}], "answer": "A", "meta": {}}
QA_DOC = ("Quiz. Which vitamin deficiency causes scurvy in humans? Vitamin C deficiency impairing collagen "
          "synthesis in connective tissue.")


@pytest.mark.parametrize("index_answers, caught", [(True, True), (False, False)])
def test_answers_are_indexed_with_their_question(index_answers: bool, caught: bool) -> None:
    # Question (7 words) and answer (9 words) are each too short to count; together they are 16.
    cfg = DecontamConfig(index_answers=index_answers)
    index = decontam.build_index({"mmlu": [MCQ]}, cfg)
    _, ledger = run([QA_DOC, MCQ["options"][0]["text"]], index, cfg)
    assert [r[0] for r in ledger.rows] == (["corpus/f.jsonl#L1"] if caught else [])
    if caught:
        assert "item=mmlu/test/nutrition#L7 ngram='which vitamin deficiency causes scurvy" in ledger.rows[0][5]


@pytest.mark.parametrize("fuzzy", [False, True])
def test_short_texts_count_whole_from_the_minimum_length(fuzzy: bool) -> None:
    items = [{"id": "q#9", "question": "Do statins lower the risk of recurrent ischaemic stroke?", "meta": {}},
             {"id": "q#5", "question": "Does coffee raise blood pressure?", "meta": {}}]
    cfg = DecontamConfig(fuzzy=fuzzy)
    index = decontam.build_index({"b": items}, cfg)
    assert index.settings["short"]["latin"] == [9]
    _, ledger = run(["Title: do statins lower the risk of recurrent ischaemic stroke. Abstract follows.",
                     "Does coffee raise blood pressure? A common question.",
                     "do statins lower the risk of recurrent stroke"], index, cfg)
    # The third lacks one word of nine: an edited copy, which only the fuzzy match sees.
    assert [r[0] for r in ledger.rows] == ["corpus/f.jsonl#L1", *(["corpus/f.jsonl#L3"] if fuzzy else [])]
    if fuzzy:
        assert "match=fuzzy similarity=0.89 with_options=false ngram='do statins lower the risk of recurrent stroke'" \
            in ledger.rows[1][5]


ZH = {"id": "cmmlu/test/clinical_medicine#3",
      "question": "患者男性，58岁，确诊2型糖尿病6年，空腹血糖7.8毫摩尔每升，肾小球滤过率为每分钟52毫升，"
                  "此时关于二甲双胍的使用，下列哪一项处理最恰当？",
      "options": [{"label": "A", "text": "立即停用二甲双胍并改用胰岛素"},
                  {"label": "B", "text": "维持原剂量并定期复查肾功能"}],
      "answer": "B", "meta": {}}
ZH_MIXED = {"id": "zh#mixed", "meta": {},
            "question": "长期服用Metformin的老年患者应每年监测维生素B12水平以免出现周围神经病变"}


def longest_common_cjk(a: str, b: str) -> int:
    a, b = ("".join(re.findall(r"[\u4e00-\u9fff]", ngrams.normalize(x))) for x in (a, b))
    return max((k for i in range(len(a)) for k in range(1, len(a) - i + 1) if a[i:i + k] in b), default=0)


def test_cjk_planted_items_are_caught_and_near_misses_are_not() -> None:
    index = decontam.build_index({"cmmlu": [ZH, ZH_MIXED]}, CFG)
    planted = [
        "试题回忆：" + ZH["question"].replace("，", ", ").replace("？", "?").replace("58", "５８"),
        "　".join(ZH["question"][:40]),  # a space between every character
        "复习资料：长期服用 metformin 的老年患者，应每年监测维生素 b12 水平，以免出现周围神经病变。",
        # Numbers belong to the Latin stream, so a copy with other numbers still has the item's ideographs.
        ZH["question"].replace("58", "63").replace("6年", "9年").replace("52", "40"),
    ]
    near = [  # same topic, shares fewer than 20 consecutive ideographs with the item
        "一位63岁女性糖尿病患者，病程9年，空腹血糖8.1毫摩尔每升，估算肾小球滤过率每分钟40毫升，医生建议调整二甲双胍剂量。",
        "二甲双胍是2型糖尿病的一线用药，肾小球滤过率下降时需要减量，老年患者应定期复查肾功能。",
    ]
    assert all(longest_common_cjk(t, ZH["question"]) < CFG.ngram_cjk_chars for t in near)
    kept, ledger = run(planted + near, index)
    assert kept["text"].to_pylist() == near
    assert [r[5].split(" ngram=")[0] for r in ledger.rows] == [
        "benchmark=cmmlu item=cmmlu/test/clinical_medicine#3"] * 2 + ["benchmark=cmmlu item=zh#mixed",
                                                                 "benchmark=cmmlu item=cmmlu/test/clinical_medicine#3"]
    assert re.fullmatch(r"[\u4e00-\u9fff]{20}", ledger.rows[0][5].split("ngram='")[1].rstrip("'"))


def test_min_matches() -> None:
    index = decontam.build_index({"pubmedqa": [pubmedqa_item(HIP)]}, CFG)
    words = ngrams.normalize(re.sub(r"[^\w]+", " ", HIP["context"])).split()
    one, two = " ".join(words[:13]), " ".join(words[:14])  # 1 and 2 distinct 13-grams
    cfg = DecontamConfig(min_matches=2)
    _, ledger = run([one, two], index, cfg)
    assert [r[0] for r in ledger.rows] == ["corpus/f.jsonl#L2"]
    _, ledger = run([one, two], index)
    assert len(ledger.rows) == 2


def test_save_load_round_trip(tmp_path: Path, index: decontam.Index) -> None:
    path = tmp_path / "index.parquet"
    index.save(path)
    loaded = decontam.Index.load(path)
    assert np.array_equal(loaded.hashes, index.hashes) and np.array_equal(loaded.items, index.items)
    assert (loaded.item_ids, loaded.item_benchmarks, loaded.item_pmids) == (
        index.item_ids, index.item_benchmarks, index.item_pmids)
    assert loaded.settings == index.settings and loaded.pmids == {"30000001": 0, "30000002": 1}
    texts = [HIP["question"], RELATED[0]]
    assert run(texts, loaded)[1].rows == run(texts, index)[1].rows != []
    with pytest.raises(ValueError, match=r"ngram_words=13 \(config: 10\)"):
        run(texts, loaded, DecontamConfig(ngram_words=10))
    pq.write_table(pq.read_table(path).replace_schema_metadata({}), tmp_path / "plain.parquet")
    with pytest.raises(ValueError, match="not a decontamination index"):
        decontam.Index.load(tmp_path / "plain.parquet")


def test_hits_by_benchmark(index: decontam.Index) -> None:
    other = decontam.build_index({"medqa": [{"id": "medqa/test#L1", "question": RELATED[0], "meta": {}}]}, CFG)
    _, ledger = run([HIP["question"], FERRITIN["question"], RELATED[1]], index)
    _, more = run([RELATED[0]], other)
    ledger.rows += more.rows
    ledger.modify("x", "normalize", "whitespace")
    assert decontam.hits_by_benchmark(ledger.rows) == {"medqa": 1, "pubmedqa": 2}
    assert decontam.hits_by_benchmark(ledger.table()) == {"medqa": 1, "pubmedqa": 2}


def test_build_tasks(tmp_path: Path) -> None:
    data = {e["pmid"]: {"QUESTION": e["question"], "CONTEXTS": e["context"].split("\n"), "LABELS": [],
                        "MESHES": [], "YEAR": "2020", "final_decision": "yes", "LONG_ANSWER": ""}
            for e in (HIP, FERRITIN)}
    (tmp_path / "ori_pqal.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "ids.txt").write_text("30000001\n", encoding="utf-8")
    spec = DecontamSpec((Benchmark("pubmedqa", "pubmedqa", str(tmp_path / "ori_pqal.json"),
                                   {"ids": str(tmp_path / "ids.txt"), "split": "test"}),), CFG)
    assert decontam.index_inputs(spec) == (str(tmp_path / "ori_pqal.json"), str(tmp_path / "ids.txt"))
    artifact = ArtifactConfig(decontam.index_for, decontam.Index.save, spec)
    result = artifact_task(Task("decontam/index", artifact_task, decontam.index_inputs(spec),
                                str(tmp_path / "decontam"), "index", artifact))
    assert result.stats["items"] == {"pubmedqa": 1} and result.stats["pmids"] == 1
    index_path = tmp_path / "decontam" / result.outputs["artifact"][0]
    shard = tmp_path / "in.parquet"
    shards.write(docs_table([reformat(HIP["context"], 1), FERRITIN["context"], RELATED[0]]), shard)
    cfg = ChainConfig("corpus", (Step("decontam", decontam.decontaminate, CFG),),
                      resources=(Resource(decontam.INDEX, (str(index_path),), decontam.load_index),))
    task = Task("corpus/decontam/in", chain_task, (str(shard), str(index_path)), str(tmp_path / "out"), "in", cfg)
    done = chain_task(task)
    assert done.stats["in"] == 3 and done.stats["out"] == 2
    ledger = pq.read_table(tmp_path / "out" / done.outputs["ledger"][0]).to_pylist()
    assert [(r["id"], r["step"], r["reason"]) for r in ledger] == [("corpus/f.jsonl#L1", "decontam", "contamination")]
    wrong = DecontamSpec((Benchmark("medqa", "medqa", str(tmp_path / "ori_pqal.json"), {"ids": "x"}),), CFG)
    with pytest.raises(ValueError, match=r"loader 'medqa' takes no option\(s\) ids; its options: split"):
        decontam.index_for(wrong)


def test_real_pubmedqa_test_items_are_caught(realdata: Path) -> None:
    folder = realdata / "pubmedqa"
    load = lambda split: list(evalsets.load_pubmedqa(  # noqa: E731
        folder / "ori_pqal.json", ids=folder / "test_ground_truth.json", split=split))
    test, train = load("test"), load("train")
    assert len(test) == 500 and len(train) == 500
    index = decontam.build_index({"pubmedqa": test}, CFG)
    rng = random.Random(7)
    planted = rng.sample(test, 50)
    texts = [f"From a course reader.\n{reformat(i['context'], n)}\nDiscussion follows." for n, i in enumerate(planted)]
    texts += [f"{i['question']}\n{i['context']}\n{i['meta']['long_answer']}" for i in rng.sample(train, 50)]
    kept, ledger = run(texts, index)
    assert [r[5].split(" ngram=")[0] for r in ledger.rows] == [
        f"benchmark=pubmedqa item={i['id']}" for i in planted]
    assert kept.num_rows == 50


def test_a_batch_is_tokenized_as_its_texts_one_by_one() -> None:
    """The batch is normalised at once: each text's tokens are still its own, whatever is next to it (a
    NUL inside a text, accents at a text's start, letters that fold into several)."""
    import numpy as np

    from curate.benchmarks import ngrams

    texts = ["\u0301Abc d", "Straße\x00ΣΑΣ x", "", "ﬁle Ǆ 高血压", "e\u0308", "\u0308x y"]
    batch = ngrams.tokenize(texts)
    seqs = batch.sequences(len(texts))
    assert len(seqs) == len(texts)
    for i, text in enumerate(texts):
        assert np.array_equal(seqs[i], ngrams.tokenize([text]).hashes), text

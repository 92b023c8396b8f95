"""The knowledge-graph reader on the bundled sample graphs, the CLI build, and a real ontology."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from curate.build import recipes
from curate.cli import main
from curate.core.audit import audit
from curate.core.ledger import Ledger
from curate.readers import FileRef, discover, kg
from tests.conftest import ROOT

RECIPE = ROOT / "recipes" / "kg.toml"
CJK = "\u4e00-\u9fff"


def read(inputs, cfg: kg.Config) -> tuple[list[dict], list[tuple], dict]:
    """(documents, ledger rows, statistics) of ``read_all`` over ``inputs``."""
    refs = [FileRef(p, rel, "kg") for p, rel in discover([str(i) for i in inputs], kg.SUFFIXES)]
    ledger = Ledger("kg", "read")
    items = kg.read_all(refs, cfg, ledger)
    docs = []
    while True:
        try:
            docs.append(next(items))
        except StopIteration as stop:
            return docs, ledger.rows, stop.value


@pytest.fixture(scope="module")
def recipe_options() -> kg.Config:
    return recipes.load_source(RECIPE).options


@pytest.fixture(scope="module", params=[False, True], ids=["stars", "sampled"])
def sample_read(request, recipe_options):
    cfg = dataclasses.replace(recipe_options, sample_subgraphs=request.param)
    return read([ROOT / "samples" / "kg"], cfg)


def test_every_triple_is_covered(sample_read):
    docs, _, stats = sample_read
    assert stats["triples"] > 200 and stats["triples_covered"] == stats["triples"]
    covered = {tid for d in docs for tid in d["meta"]["triples"]}
    assert len(covered) == stats["triples"]
    assert stats["documents"] == len(docs) and stats["subgraphs"] >= len(docs) - stats["documents_split"]
    assert stats["mean_times_covered"] >= 1


def test_sampling_covers_triples_more_than_once(recipe_options):
    _, _, stars = read([ROOT / "samples" / "kg"], recipe_options.__class__(relations=recipe_options.relations))
    _, _, sampled = read([ROOT / "samples" / "kg"], recipe_options)
    assert stars["mean_times_covered"] == stars["max_times_covered"] == 1
    assert sampled["mean_times_covered"] > 1.2
    assert {k for k in sampled if k.startswith("subgraphs_")} == {"subgraphs_star", "subgraphs_khop",
                                                                  "subgraphs_walk", "subgraphs_cover"}


def test_no_blank_node_ids_or_iris_in_text(sample_read):
    docs, _, _ = sample_read
    for d in docs:
        assert not re.search(r"_:|https?://|\b[DST]00\d\d\b|\bC0099123\b|example\.org", d["text"]), d["id"]


def test_zh_text_has_no_spaces_between_chinese_words(sample_read):
    docs, _, _ = sample_read
    zh = [d for d in docs if d["lang"] == "zh"]
    assert len(zh) >= 10
    for d in zh:
        assert not re.search(rf"[{CJK}]\s+[{CJK}]", d["text"]), d["text"]


def test_bad_input_is_in_the_ledger(sample_read):
    _, rows, stats = sample_read
    assert sorted((r[0], r[3], r[4]) for r in rows) == [
        ("kg/en_respiratory.ttl#tb65ae66a52bf", "drop", "unnamed_entity"),   # ex:C0099123, no label
        ("kg/en_treatments.nt#L11", "quarantine", "malformed_rdf"),          # statement without ' .'
        ("kg/en_treatments.nt#tc33cb43f2cdf", "drop", "self_loop"),
        ("kg/zh_diseases.json#item10", "quarantine", "malformed_record"),    # no name field
        ("kg/zh_diseases.json#t513ac2b7739d", "drop", "self_loop"),          # 中耳炎 并发症 中耳炎
        ("kg/zh_diseases_gb18030.csv#L6", "quarantine", "malformed_record"),  # empty name
    ]
    assert stats["duplicate_triples"] == 2 and stats["deprecated_triples"] == 1


def test_ids_and_meta(sample_read):
    docs, _, _ = sample_read
    ids = [d["id"] for d in docs]
    assert len(set(ids)) == len(ids)
    files = {"en_respiratory.ttl", "en_treatments.nt", "zh_diseases.json", "zh_diseases_gb18030.csv",
             "zh_categories.spo", "zh_disease_table_gb18030.csv"}
    for d in docs:
        m = d["meta"]
        assert re.fullmatch(rf"kg/{m['scale']}/[^/#\s]+#\d+", d["id"]), d["id"]
        assert m["triples"] and all(re.fullmatch(r"[0-9a-f]{12}", t) for t in m["triples"])
        assert set(m["files"]) <= files and m["templates"] and m["seed_name"] and m["subjects"]
        assert all(t.startswith(f"kg/{d['lang']}/") for t in m["templates"])
    assert any("感冒" in d["meta"]["subjects"] for d in docs)


def test_what_the_sample_documents_say(recipe_options):
    docs, _, _ = read([ROOT / "samples" / "kg"], kg.Config(relations=recipe_options.relations, min_doc_chars=0))
    by_id = {d["id"]: d["text"] for d in docs}
    # zh_categories.spo says 感冒 类别 疾病, and is read first
    assert by_id["kg/entity/感冒#1"].startswith("感冒属于疾病。感冒是由多种病毒引起的上呼吸道感染，"
                                              "多数患者一周左右自愈。感冒的症状包括发热、咳嗽、鼻塞、流涕、咽痛和乏力。")
    assert by_id["kg/entity/D0003#1"] == (
        "Influenza is a kind of respiratory system disease. Influenza is also known as flu or grippe. "
        "Influenza is a viral infectious disease that results in infection of the respiratory tract and is "
        "caused by an influenza virus. Symptoms of influenza include fever and cough. Influenza is treated "
        "with oseltamivir. Influenza is transmitted through droplet transmission.")
    assert by_id["kg/entity/D0004#1"].startswith("Pneumonia is a common complication of influenza in older "
                                                 "adults. Pneumonia is a kind of respiratory system disease. "
                                                 "Symptoms of pneumonia include shortness of breath,")
    assert "kg/entity/D0007#1" not in by_id  # obsolete


def test_same_seed_same_output_other_seed_other_output(recipe_options):
    a = read([ROOT / "samples" / "kg"], recipe_options)
    b = read([ROOT / "samples" / "kg"], recipe_options)
    c = read([ROOT / "samples" / "kg"], dataclasses.replace(recipe_options, seed=99))
    assert a == b
    assert [d["text"] for d in a[0]] != [d["text"] for d in c[0]]
    assert a[2]["triples_covered"] == c[2]["triples_covered"] == a[2]["triples"]


SCRIPT = """
import hashlib, json, sys
from curate.build import recipes
from tests.readers.test_kg import read, RECIPE, ROOT
docs, rows, stats = read([ROOT / "samples" / "kg"], recipes.load_source(RECIPE).options)
print(hashlib.sha256(json.dumps([docs, rows, stats], sort_keys=True, ensure_ascii=False).encode()).hexdigest())
"""


def test_output_does_not_depend_on_hash_randomisation():
    digests = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout
        digests.add(out.strip())
    assert len(digests) == 1


def test_lang_option_forces_the_language(recipe_options):
    docs, _, _ = read([ROOT / "samples" / "kg" / "zh_diseases.json"], dataclasses.replace(recipe_options, lang="en"))
    assert {d["lang"] for d in docs} == {"en"}
    assert any("Symptoms of 感冒 include 发热" in d["text"] for d in docs)


def test_unreadable_file_is_quarantined_and_the_rest_loads(tmp_path, recipe_options):
    (tmp_path / "good.tsv").write_text("flu\thas_symptom\tfever\n", encoding="utf-8")
    (tmp_path / "bad.owl").write_text("<rdf:RDF", encoding="utf-8")
    (tmp_path / "empty.nt").write_text("", encoding="utf-8")
    docs, rows, stats = read([tmp_path], kg.Config(relations=recipe_options.relations))
    assert [d["text"] for d in docs] == ["A symptom of flu is fever."]
    assert sorted((r[0], r[4]) for r in rows) == [("kg/bad.owl", "malformed_rdf"), ("kg/empty.nt", "empty_file")]
    assert stats["triples"] == stats["triples_covered"] == 1


def test_config_errors_are_clear():
    with pytest.raises(recipes.RecipeError, match="unknown scale"):
        kg.Config(scales=("star", "forest"))
    with pytest.raises(recipes.RecipeError, match="lang must be zh, en or auto"):
        kg.Config(lang="fr")


def test_cli_build_then_audit(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["build", "kg", "--recipe", str(RECIPE), "--sample-subgraphs", "--seed", "3",
                                  "--out", str(tmp_path), "--workers", "1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert re.search(r"kg: .*triples_covered [\d,]+", result.output)
    manifest = json.loads((tmp_path / "kg" / "manifest.json").read_text())
    stats = manifest["sources"]["kg"]["stats"]
    assert stats["triples_covered"] == stats["triples"] and stats["subgraphs_walk"] > 0
    assert manifest["sources"]["kg"]["records_out"] > 20
    assert audit(tmp_path / "kg").ok


def test_disease_ontology_classes_definitions_and_parents(realdata):
    rdflib = pytest.importorskip("rdflib")
    path = realdata / "disease_ontology" / "DO_cancer_slim.owl"
    if not path.is_file():
        pytest.skip("DO_cancer_slim.owl is not present")
    docs, rows, stats = read([path], kg.Config())
    assert stats["triples_covered"] == stats["triples"] > 2000
    text = "\n".join(d["text"] for d in docs)
    low = text.lower()
    assert not re.search(r"https?://|_:|\bDOID_\d", text)
    g = rdflib.Graph().parse(path)
    label = {s: str(o) for s, o in g.subject_objects(rdflib.RDFS.label)}
    obsolete = set(g.subjects(rdflib.OWL.deprecated, None))
    classes = [c for c in g.subjects(rdflib.RDF.type, rdflib.OWL.Class) if c in label and c not in obsolete]
    assert len(classes) > 700
    assert [c for c in classes if label[c].lower() not in low] == []  # every labelled class is mentioned
    iao = rdflib.URIRef("http://purl.obolibrary.org/obo/IAO_0000115")
    sentences = {s.strip().lower() for s in re.split(r"(?<=\.)\s+|\n", text)}
    checked = 0
    for c in classes:
        for d in g.objects(c, iao):  # "<label> is a <definition, first letter lowered>." or "<label>: ..."
            body = re.sub(r"\b([a-z]+(?:_[a-z]+)+)\b", lambda m: m[1].replace("_", " "), str(d).rstrip(". "))
            first, *_ = body.split(" ", 1)
            lead = "is " if first in ("A", "An", "The", "Any") else ": "
            expected = f"{label[c]} {lead}{body[:1].lower() + body[1:]}" if lead == "is " else f"{label[c]}: {body}"
            expected = expected.split(". ")[0].lower()  # the sentences are split apart above
            assert any(s.startswith(expected) for s in sentences), expected
            checked += 1
        for parent in g.objects(c, rdflib.RDFS.subClassOf):
            if parent in label:
                # alone ("X is a kind of P") or with the other classes whose one fact it is ("X, Y and Z are
                # kinds of P")
                assert any((s.startswith(f"{label[c].lower()} is a kind of") or (
                    " are kinds of " in s and label[c].lower() in s.split(" are kinds of ")[0]))
                    and label[parent].lower() in s for s in sentences), (label[c], label[parent])
                checked += 1
    assert checked > 1000
    assert not any(r[4] in ("malformed_rdf", "reader_error") for r in rows)

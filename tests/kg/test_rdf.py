"""RDF and OWL semantics: labels, definitions, synonyms, restrictions, annotations, obsolete terms."""

from __future__ import annotations

from tests.kg.helpers import facts, from_files

EX = "http://example.org/"
HEADER = """@prefix ex: <http://example.org/> .
@prefix rdf: <http://www.w3.org/1999/02/22-rdf-syntax-ns#> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
@prefix skos: <http://www.w3.org/2004/02/skos/core#> .
@prefix obo: <http://purl.obolibrary.org/obo/> .
@prefix oio: <http://www.geneontology.org/formats/oboInOwl#> .
"""


def graph(tmp_path, body: str):
    path = tmp_path / "g.ttl"
    path.write_text(HEADER + body, encoding="utf-8")
    return from_files([path])


def test_restrictions_read_as_relations(tmp_path):
    kg, _, b = graph(tmp_path, """
ex:hasSymptom rdfs:label "has symptom"@en .
ex:D1 rdfs:label "influenza"@en ;
    rdfs:subClassOf ex:D0 , [ a owl:Restriction ; owl:onProperty ex:hasSymptom ; owl:someValuesFrom ex:S1 ] .
ex:D0 rdfs:label "viral disease"@en .
ex:S1 rdfs:label "fever"@en .
ex:D2 rdfs:label "pneumonia"@en ;
    owl:equivalentClass [ owl:intersectionOf ( ex:D0 [ a owl:Restriction ; owl:onProperty ex:hasSymptom ;
                                                      owl:someValuesFrom ex:S2 ] ) ] .
ex:S2 rdfs:label "cough"@en .
ex:D3 rdfs:label "other"@en ; rdfs:subClassOf [ owl:unionOf ( ex:D1 ex:D2 ) ] .
""")
    assert facts(kg) == {("influenza", "is_a", "viral disease"), ("influenza", f"{EX}hasSymptom", "fever"),
                         ("pneumonia", "is_a", "viral disease"), ("pneumonia", f"{EX}hasSymptom", "cough")}
    assert b.stats["skipped_class_expression"] == 1
    assert kg.rel_name(kg.rel_keys.index(f"{EX}hasSymptom"), "en") == "has symptom"
    assert not any(k.startswith("_:") for k in (kg.keys[h] for h in kg.head))


def test_labels_definitions_synonyms_and_what_is_skipped(tmp_path):
    kg, _, b = graph(tmp_path, """
oio:hasDbXref a owl:AnnotationProperty .
ex:note a owl:AnnotationProperty .
ex:D1 a owl:Class ;
    rdfs:label "influenza"@en , "流行性感冒"@zh ;
    skos:prefLabel "flu (preferred)"@fr ;
    oio:hasExactSynonym "flu"@en ;
    oio:hasRelatedSynonym "grippe"@en ;
    obo:IAO_0000115 "A viral infectious disease of the respiratory tract."@en ;
    skos:definition "流行性感冒是由流感病毒引起的急性呼吸道传染病。"@zh ;
    rdfs:comment "Seasonal epidemics occur every winter."@en ;
    oio:hasDbXref "ICD10CM:J11" ;
    ex:note "reviewed" ;
    oio:creation_date "2020-01-01" ;
    rdf:type ex:InfectiousDisease .
ex:InfectiousDisease rdfs:label "infectious disease"@en .
[] a owl:Axiom ; owl:annotatedSource ex:D1 ; owl:annotatedProperty obo:IAO_0000115 ; oio:hasDbXref "PMID:1" .
""")
    assert facts(kg) == {
        ("influenza", "synonym", "flu"),
        ("influenza", "definition", "A viral infectious disease of the respiratory tract."),
        ("influenza", "definition", "流行性感冒是由流感病毒引起的急性呼吸道传染病。"),
        ("influenza", "comment", "Seasonal epidemics occur every winter."),
        ("influenza", "type", "infectious disease")}
    d1 = kg.keys.index(f"{EX}D1")
    assert kg.name(d1, "zh") == "流行性感冒" and kg.name(d1, "fr") == "flu (preferred)"
    assert b.stats["skipped_annotation"] == 3 + 4  # xref, note, creation date; the axiom's 4 statements
    assert b.stats["skipped_schema"] >= 3  # the two declarations and rdf:type owl:Class


def test_deprecated_and_label_only_classes(tmp_path):
    kg, _, b = graph(tmp_path, """
<http://example.org/onto/sample_onto.owl> a owl:Ontology .
ex:D1 a owl:Class ; rdfs:label "old flu"@en ; owl:deprecated true ; rdfs:subClassOf ex:D2 .
ex:D2 a owl:Class ; rdfs:label "respiratory disease"@en ; oio:hasDbXref "MESH:D012140" .
ex:D3 a owl:Class ; rdfs:label "capillary lymphangioma"@en .
ex:D4 a owl:Class ; rdfs:label "asthma"@en ; rdfs:subClassOf ex:D2 .
""")
    assert facts(kg) == {("asthma", "is_a", "respiratory disease"),
                         ("capillary lymphangioma", "in_ontology", "sample onto")}
    assert b.stats["deprecated_triples"] == 1 and b.stats["label_only_classes"] == 1

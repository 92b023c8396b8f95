"""RDF loading: N-Triples line by line, rdflib formats, salvage of broken Turtle, determinism."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curate.core.ledger import Ledger
from curate.kg import load
from curate.kg.graph import Lit
from curate.text.textio import NotText
from tests.kg.helpers import facts, from_files

EX = "http://example.org/"
LABEL = "<http://www.w3.org/2000/01/rdf-schema#label>"


def statements(path: Path, fmt: str | None = None) -> tuple[list, Ledger]:
    ledger = Ledger("kg", "read")
    where = lambda loc: f"kg/{path.name}#{loc}"  # noqa: E731
    fmt = fmt or load._sniff(path.suffix, path.read_bytes()[:100])
    if fmt == "nt":
        return list(load._ntriples(path, 0, ledger, where)), ledger
    return load._rdflib(path, fmt, 0, ledger, where), ledger


def test_ntriples_terms_escapes_and_comments(tmp_path):
    path = tmp_path / "a.nt"
    path.write_text(
        "# a comment line\n"
        f'<{EX}a> {LABEL} "fl\\u00FC \\"quoted\\"\\n2"@en-GB .\n'
        f"_:b1 <{EX}p> <{EX}c> . # trailing comment\n"
        f'<{EX}a> <{EX}dose> "5"^^<http://www.w3.org/2001/XMLSchema#integer> .\n'
        f"<{EX}a> <{EX}p> _:b1 <{EX}graph> .\n", encoding="utf-8")
    got, ledger = statements(path)
    assert got == [
        (f"{EX}a", LABEL[1:-1], Lit('flü "quoted"\n2', "en-gb", None)),
        ("_:f0b1", f"{EX}p", f"{EX}c"),
        (f"{EX}a", f"{EX}dose", Lit("5", None, "http://www.w3.org/2001/XMLSchema#integer")),
        (f"{EX}a", f"{EX}p", "_:f0b1"),
    ]
    assert ledger.rows == []


def test_malformed_ntriples_lines_are_quarantined_and_the_rest_loads(tmp_path):
    path = tmp_path / "bad.nt"
    path.write_bytes(
        f"<{EX}a> <{EX}p> <{EX}b> .\n"
        f"<{EX}a> <{EX}p> <{EX}c>\n"                      # no final dot
        f'<{EX}a> "not a predicate" <{EX}c> .\n'
        f"<{EX}a> <{EX}p> <{EX}d> .\n".encode()
        + b"<http://example.org/a> <http://example.org/p> \"\xff\xfe\" .\n")
    got, ledger = statements(path)
    assert [s[2] for s in got] == [f"{EX}b", f"{EX}d"]
    rows = {r[0]: (r[3], r[4], r[5]) for r in ledger.rows}
    assert rows["kg/bad.nt#L2"][:2] == ("quarantine", "malformed_rdf")
    assert "expected ' .' at the end of the statement" in rows["kg/bad.nt#L2"][2]
    assert "expected an IRI <...> as predicate at column" in rows["kg/bad.nt#L3"][2]
    assert rows["kg/bad.nt#L5"][1] == "undecodable"


TURTLE = """@prefix ex: <http://example.org/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .

ex:a rdfs:label "alpha" ;
    ex:p ex:b .

ex:b rdfs:label "beta" ;
    ex:p ex:c "unterminated .

ex:c rdfs:label "gamma" ;
    ex:p [ rdfs:label "anonymous" ] .
"""


def test_broken_turtle_is_salvaged_block_by_block(tmp_path):
    path = tmp_path / "broken.ttl"
    path.write_text(TURTLE, encoding="utf-8")
    got, ledger = statements(path, "turtle")
    assert (f"{EX}a", f"{EX}p", f"{EX}b") in got
    assert any(s == f"{EX}c" and o == Lit("gamma") for s, _, o in got)
    assert not any(s == f"{EX}b" for s, _, _ in got)
    [row] = ledger.rows
    assert row[0] == "kg/broken.ttl#L7-8" and row[4] == "malformed_rdf"
    assert row[5].startswith("kg: lines 7-8: line 8:")
    assert row[5].endswith("left out; the file's other lines gave 5 statements, which were loaded")
    assert len(got) == 5
    assert ("_:f0b0", "http://www.w3.org/2000/01/rdf-schema#label", Lit("anonymous")) in got


def test_broken_turtle_without_blank_lines_loses_only_the_broken_statement(tmp_path):
    """No blank line to cut at: the file is halved at statement ends until the broken one is alone."""
    body = [f'ex:s{i} rdfs:label "label {i}" ;\n    ex:p ex:o{i} .' for i in range(40)]
    body[23] = 'ex:s23 rdfs:label "label 23 ;\n    ex:p ex:o23 .'  # an unterminated string, lines 49-50
    body[30] = 'ex:s30 rdfs:label """a long string.\nIts second line ends in a full stop.\n""" .'
    path = tmp_path / "dense.ttl"
    path.write_text("@prefix ex: <http://example.org/> .\n@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> "
                    ".\n" + "\n".join(body) + "\n", encoding="utf-8")
    got, ledger = statements(path, "turtle")
    [row] = ledger.rows
    assert row[0] == "kg/dense.ttl#L49-50", row
    assert len(got) == 39 * 2 - 1  # every statement but s23's two; s30 has one, across three lines
    assert row[5].endswith(f"left out; the file's other lines gave {len(got)} statements, which were loaded")
    assert (f"{EX}s30", "http://www.w3.org/2000/01/rdf-schema#label",
            Lit("a long string.\nIts second line ends in a full stop.\n")) in got


def test_broken_turtle_that_gives_nothing_says_so(tmp_path):
    path = tmp_path / "one.ttl"
    path.write_text('@prefix ex: <http://example.org/> .\nex:a ex:p "unterminated ;\n    ex:q ex:b .\n',
                    encoding="utf-8")
    got, ledger = statements(path, "turtle")
    [row] = ledger.rows
    assert got == [] and row[0] == "kg/one.ttl#L2-3"
    assert row[5].endswith("left out; no other line of the file parsed either, so nothing of it was loaded")


def test_turtle_broken_throughout_stops_after_a_bounded_number_of_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(load, "MAX_BAD_PIECES", 5)
    path = tmp_path / "junk.ttl"
    path.write_text("\n".join(f"ex:a{i} ex:p ex:b{i} ." for i in range(200)) + "\n", encoding="utf-8")
    got, ledger = statements(path, "turtle")  # the prefix ex: is never declared
    assert got == [] and len(ledger.rows) == 6
    assert ledger.rows[-1][0] == "kg/junk.ttl#L6-200" and "not parsed after 5 broken statements" in ledger.rows[-1][5]


def test_broken_rdf_xml_quarantines_the_file(tmp_path):
    path = tmp_path / "bad.owl"
    path.write_text('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                    "<rdf:Description>", encoding="utf-8")
    with pytest.raises(NotText, match="malformed RDF \\(xml\\)") as err:
        statements(path)
    assert err.value.reason == "malformed_rdf"


def test_unknown_format_and_empty_file(tmp_path):
    path = tmp_path / "a.ttl"
    path.write_text("<a> <b> <c> .", encoding="utf-8")
    with pytest.raises(NotText, match="unknown RDF format 'bogus'"):
        load._rdflib(path, "bogus", 0, Ledger("kg", "read"), str)
    (tmp_path / "e.ttl").write_text("  \n", encoding="utf-8")
    with pytest.raises(NotText, match="empty file"):
        load._rdflib(tmp_path / "e.ttl", "turtle", 0, Ledger("kg", "read"), str)


def test_owl_files_are_sniffed_and_format_overrides(tmp_path):
    ttl = tmp_path / "onto.owl"  # Turtle under an .owl name
    ttl.write_text('@prefix ex: <http://example.org/> .\nex:D1 ex:treated_with ex:aspirin .\nex:D1 '
                   '<http://www.w3.org/2000/01/rdf-schema#label> "headache" .\n', encoding="utf-8")
    kg, _, _ = from_files([ttl])
    assert facts(kg) == {("headache", f"{EX}treated_with", "aspirin")}
    txt = tmp_path / "graph.txt"  # no RDF suffix: read as N-Triples because the format says so
    txt.write_text(f"<{EX}fever> <{EX}treated_with> <{EX}paracetamol> .\n", encoding="utf-8")
    kg, _, _ = from_files([txt], fmt="nt")
    assert facts(kg) == {("fever", f"{EX}treated_with", "paracetamol")}


def test_json_ld_and_json_records_are_told_apart(tmp_path):
    doc = {"@context": {"ex": EX, "name": "http://www.w3.org/2000/01/rdf-schema#label"},
           "@id": "ex:flu", "name": "influenza", "ex:has_symptom": {"@id": "ex:fever", "name": "fever"}}
    (tmp_path / "g.json").write_text(json.dumps(doc), encoding="utf-8")
    (tmp_path / "r.json").write_text(json.dumps([{"name": "感冒", "症状": ["发热"]}]), encoding="utf-8")
    kg, ledger, _ = from_files([tmp_path / "g.json", tmp_path / "r.json"])
    assert facts(kg) == {("influenza", f"{EX}has_symptom", "fever"), ("感冒", "症状", "发热")}
    assert ledger.rows == []


def test_blank_nodes_are_numbered_by_first_appearance_not_by_rdflib(tmp_path):
    path = tmp_path / "b.ttl"
    path.write_text('@prefix ex: <http://example.org/> .\nex:a ex:p [ ex:q "1" ] , [ ex:q "2" ] .\n',
                    encoding="utf-8")
    first, _ = statements(path, "turtle")
    second, _ = statements(path, "turtle")
    assert first == second
    assert {s for s, _, _ in first if s.startswith("_:")} == {"_:f0b0", "_:f0b1"}

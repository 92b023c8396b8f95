"""RDF parsing reads nothing but the input: no network, no other file, bounded XML entity expansion."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from curate.core.ledger import Ledger
from curate.kg import parsing
from curate.readers import FileRef
from curate.readers import kg as reader
from curate.text.textio import NotText

RDF_NS = 'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#"'


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """A loopback HTTP server that serves a JSON-LD context and a DTD and records every request."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = json.dumps({"@context": {"name": "http://www.w3.org/2000/01/rdf-schema#label"}}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/ld+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", hits
    httpd.shutdown()
    httpd.server_close()


def _read(tmp_path: Path, name: str, text: str | bytes, **options: object) -> tuple[list[dict], Ledger]:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    ledger = Ledger("kg", "read")
    docs = list(reader.read_all([FileRef(path, name, "kg")], reader.Config(**options), ledger))
    return docs, ledger


def _jsonld(context: object) -> str:
    return json.dumps({"@context": context, "@id": "http://example.org/flu", "name": "influenza"})


def test_remote_jsonld_context_is_not_fetched(tmp_path, server) -> None:
    url, hits = server
    docs, ledger = _read(tmp_path, "a.jsonld", _jsonld(f"{url}/context.jsonld"))
    [row] = ledger.rows
    assert row[4] == "external_reference" and f"'{url}/context.jsonld' is not read" in row[5]
    assert "[options.jsonld_contexts]" in row[5] and docs == []
    assert hits == []  # rdflib on its own fetches it


def test_remote_context_inside_a_list_or_a_scoped_term_is_not_fetched(tmp_path, server) -> None:
    url, hits = server
    scoped = [{"ex": "http://example.org/"}, {"name": {"@id": "ex:name", "@context": f"{url}/scoped"}}]
    for context in ([{"ex": "http://example.org/"}, f"{url}/listed"], scoped):
        _, ledger = _read(tmp_path, "b.jsonld", _jsonld(context))
        assert [r[4] for r in ledger.rows] == ["external_reference"]
    assert hits == []


def test_file_context_outside_the_inputs_is_not_read(tmp_path) -> None:
    secret = tmp_path / "secret.jsonld"
    secret.write_text(json.dumps({"@context": {"name": "http://example.org/SECRET"}}))
    docs, ledger = _read(tmp_path, "c.jsonld", _jsonld(secret.as_uri()))
    assert [r[4] for r in ledger.rows] == ["external_reference"] and docs == []


def test_context_named_in_the_recipe_is_used_with_its_imports(tmp_path, server) -> None:
    url, hits = server
    (tmp_path / "base.jsonld").write_text(json.dumps({"@context": {"name": "http://www.w3.org/2000/01/rdf-schema#label"}}))
    (tmp_path / "main.jsonld").write_text(json.dumps({"@context": {"@import": f"{url}/base", "ex": "http://example.org/",
                                                                   "cause": "ex:cause"}}))
    doc = json.dumps({"@context": f"{url}/main", "@graph": [
        {"@id": "ex:flu", "name": "influenza", "cause": {"@id": "ex:virus"}},
        {"@id": "ex:virus", "name": "influenza virus"}]})
    contexts = {f"{url}/main": str(tmp_path / "main.jsonld"), f"{url}/base/": str(tmp_path / "base.jsonld")}
    docs, ledger = _read(tmp_path, "d.jsonld", doc, jsonld_contexts=contexts)
    assert ledger.rows == [] and hits == []
    assert "influenza virus" in " ".join(d["text"] for d in docs)
    assert reader.Config(jsonld_contexts=contexts).side_inputs() == tuple(sorted(contexts.values()))


def test_recipe_context_must_be_a_local_file(tmp_path) -> None:
    from curate.core.config import RecipeError

    for local in ("https://schema.org/docs/jsonldcontext.json", str(tmp_path / "absent.jsonld")):
        with pytest.raises(RecipeError, match="must name a local file"):
            reader.Config(jsonld_contexts={"https://schema.org/": local})


def test_context_file_is_part_of_the_read_task_fingerprint(tmp_path) -> None:
    from curate.build import pipeline, recipes

    (tmp_path / "ctx.jsonld").write_text(json.dumps({"@context": {}}))
    (tmp_path / "g.jsonld").write_text(_jsonld({}))
    recipe = tmp_path / "kg.toml"
    recipe.write_text('reader = "kg"\ninputs = ["g.jsonld"]\n[options.jsonld_contexts]\n'
                      '"https://example.org/ctx" = "ctx.jsonld"\n')
    src = recipes.load_source(recipe)
    [task] = pipeline._read_tasks(tmp_path / "build", src, 1000, 0)
    assert str(tmp_path / "ctx.jsonld") in task.inputs  # so its sha256 is in the task's fingerprint


def _dtd(entities: str, body: str) -> str:
    return f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF [\n{entities}\n]>\n<rdf:RDF {RDF_NS}>\n{body}</rdf:RDF>\n'


def billion_laughs(size: int) -> str:
    """An OWL file of about ``size`` bytes whose labels are entities that double ten times, ten times over."""
    entities = '<!ENTITY lol0 "lol">\n' + "\n".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    line = '<rdf:Description rdf:about="http://example.org/c{}"><rdfs:label>&lol9;</rdfs:label></rdf:Description>\n'
    body = "".join(line.format(i) for i in range(size // len(line)))
    return _dtd(entities, body)


def test_billion_laughs_is_one_quarantine_row_at_once(tmp_path) -> None:
    text = billion_laughs(1_300_000)
    assert len(text) > 1_250_000
    docs, ledger = _read(tmp_path, "lol.owl", text)
    [row] = ledger.rows
    assert row[0] == "kg/lol.owl" and row[4] == "entity_expansion" and "billion laughs" in row[5]
    assert docs == []


def test_entities_expanding_past_the_budget_stop_the_parse(tmp_path, monkeypatch) -> None:
    """Entities small enough each, used often enough to exceed the characters a file of its size may give."""
    monkeypatch.setattr(parsing, "EXPANSION_FLOOR", 0)
    body = "".join(f'<rdf:Description rdf:about="http://example.org/{i}"><rdfs:label>&big;</rdfs:label>'
                   "</rdf:Description>\n" for i in range(100))
    text = _dtd(f'<!ENTITY big "{"x" * 2_000}">', body)
    with pytest.raises(NotText, match="beyond the limit") as err:
        parsing.parse(text.encode(), "xml", "file:///a.owl")
    assert err.value.reason == "entity_expansion"
    monkeypatch.setattr(parsing, "EXPANSION_FLOOR", 1_000_000)
    assert len(parsing.parse(text.encode(), "xml", "file:///a.owl")) == 100


def test_ontology_entities_for_iri_prefixes_still_expand(tmp_path) -> None:
    text = _dtd('<!ENTITY obo "http://purl.obolibrary.org/obo/">\n<!ENTITY doid "&obo;DOID_">',
                '<rdf:Description rdf:about="&doid;162"><rdfs:label>cancer &amp; tumours</rdfs:label>'
                '<rdfs:subClassOf rdf:resource="&obo;DOID_4"/></rdf:Description>\n')
    got = [(str(s), str(p), str(o)) for s, p, o in parsing.parse(text.encode(), "xml", "file:///a.owl")]
    assert ("http://purl.obolibrary.org/obo/DOID_162", "http://www.w3.org/2000/01/rdf-schema#label",
            "cancer & tumours") in got
    assert ("http://purl.obolibrary.org/obo/DOID_162", "http://www.w3.org/2000/01/rdf-schema#subClassOf",
            "http://purl.obolibrary.org/obo/DOID_4") in got


def test_external_entity_is_refused_not_read(tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    text = _dtd(f'<!ENTITY e SYSTEM "{secret.as_uri()}">',
                '<rdf:Description rdf:about="http://example.org/a"><rdfs:label>&e;</rdfs:label></rdf:Description>\n')
    docs, ledger = _read(tmp_path, "xxe.owl", text)
    [row] = ledger.rows
    assert row[4] == "external_reference" and secret.as_uri() in row[5]
    assert "TOP SECRET" not in json.dumps(docs)


def test_external_dtd_and_owl_imports_are_not_fetched(tmp_path, server) -> None:
    url, hits = server
    text = (f'<?xml version="1.0"?>\n<!DOCTYPE rdf:RDF SYSTEM "{url}/owl.dtd">\n'
            f'<rdf:RDF {RDF_NS} xmlns:owl="http://www.w3.org/2002/07/owl#">\n'
            f'<owl:Ontology rdf:about="http://example.org/o"><owl:imports rdf:resource="{url}/other.owl"/>'
            '</owl:Ontology>\n<owl:Class rdf:about="http://example.org/flu"><rdfs:label>influenza</rdfs:label>'
            "</owl:Class>\n</rdf:RDF>\n")
    docs, ledger = _read(tmp_path, "imports.owl", text)
    assert hits == [] and ledger.rows == []
    assert any("influenza" in d["text"].lower() for d in docs)
    ttl = f"@prefix owl: <http://www.w3.org/2002/07/owl#> .\n<http://example.org/o> owl:imports <{url}/x.ttl> .\n"
    _read(tmp_path, "imports.ttl", ttl)
    assert hits == []


def test_real_ontology_parses_as_rdflib_parses_it(realdata: Path) -> None:
    import rdflib

    data = (realdata / "disease_ontology" / "DO_cancer_slim.owl").read_bytes()
    ours = parsing.parse(data, "xml", "file:///DO.owl")
    store = parsing.Recorder()
    rdflib.Graph(store=store).parse(data=data, format="xml", publicID="file:///DO.owl")
    plain = [(s, p, o) for s, p, o in store.seen if not isinstance(s, rdflib.BNode) and not isinstance(o, rdflib.BNode)]
    assert [(s, p, o) for s, p, o in ours if not isinstance(s, rdflib.BNode) and not isinstance(o, rdflib.BNode)] \
        == plain
    assert len(ours) == len(store.seen) == 14666

"""Hostile documents: PubMed XML and articles, PDF books, knowledge-graph files (RDF, JSON-LD, tables)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hostile.builds import BuildOutcome
from tests.hostile.canaries import FileCanary, HttpCanary
from tests.hostile.harness import LOSS, NETWORK, OUTSIDE, UNCLEAR, Defect
from tests.hostile.registry import Expect, file_case


def _text_or_reason(outcome: BuildOutcome, rel: str, marker: str, wrong: str) -> list[Defect]:
    """The ``marker`` text is in the output, or the file has a ledger row with a reason other than ``wrong``."""
    if outcome.view is None:
        return []
    records, rows = outcome.view.for_file(rel)
    if any(marker in r["text"] for r in records) or any(r["reason"] != wrong for r in rows):
        return []
    return [Defect(LOSS, f"{rel}: {marker!r} is not in the output, and the ledger says only {wrong!r}")]


# --- PubMed XML and articles ----------------------------------------------------------------------


def pubmed_article(pmid: int, extra: str = "") -> str:
    """One ``PubmedArticle`` whose abstract carries the marker ``pm<pmid>x``."""
    return (f'<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>'
            f"<Article><Journal><JournalIssue><PubDate><Year>2020</Year></PubDate></JournalIssue></Journal>"
            f"<ArticleTitle>Trial {pmid} of inhaled steroids.</ArticleTitle><Abstract><AbstractText>Asthma "
            f"control improved in trial pm{pmid}x of children with persistent wheeze{extra}.</AbstractText>"
            f"</Abstract><Language>eng</Language></Article></MedlineCitation></PubmedArticle>")


def pubmed(*articles: str, doctype: str = "") -> bytes:
    """A ``PubmedArticleSet`` file."""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}<PubmedArticleSet>\n' + "\n".join(articles)
            + "\n</PubmedArticleSet>\n").encode()


def _xxe(folder: Path) -> dict[str, bytes]:
    canary = FileCanary(folder.parent / "xxe-secret.txt", b"SECRET-XXE-7781")
    _OPENED["articles/pubmed-xxe-local-file"] = canary
    doctype = f'<!DOCTYPE PubmedArticleSet [<!ENTITY xxe SYSTEM "file://{canary.path}">]>\n'
    return {"xxe.xml": pubmed(pubmed_article(901), pubmed_article(902, " &xxe;"), doctype=doctype)}


def _dtd(folder: Path) -> dict[str, bytes]:
    server = HttpCanary()
    _SERVERS["articles/pubmed-remote-dtd"] = server
    doctype = f'<!DOCTYPE PubmedArticleSet SYSTEM "{server.url}/pubmed.dtd">\n'
    return {"dtd.xml": pubmed(pubmed_article(911), pubmed_article(912), doctype=doctype)}


_OPENED: dict[str, FileCanary] = {}
_SERVERS: dict[str, HttpCanary] = {}


def opened(key: str):
    """A check that the file canary of ``key`` was never opened."""
    def check(outcome: BuildOutcome, rel: str) -> list[Defect]:
        canary = _OPENED.get(key)
        return [Defect(OUTSIDE, f"{canary.path.name} (outside the inputs) was opened")] if canary and canary.close() \
            else []
    return check


def contacted(key: str):
    """A check that the HTTP canary of ``key`` saw no connection."""
    def check(outcome: BuildOutcome, rel: str) -> list[Defect]:
        server = _SERVERS.get(key)
        return [Defect(NETWORK, f"{server.hits} connection(s) to {server.url}")] if server and server.hits else []
    return check


LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10 if i else "ha" * 5}">' for i in range(10))

file_case("articles", "pubmed-xxe-local-file", _xxe,
          Expect(units=2, good=("pm901x",), secret=("SECRET-XXE-7781",)),
          check=opened("articles/pubmed-xxe-local-file"))
file_case("articles", "pubmed-billion-laughs",
          {"laughs.xml": pubmed(pubmed_article(921, " &l9;"), pubmed_article(922),
                                doctype=f"<!DOCTYPE PubmedArticleSet [{LAUGHS}]>\n")},
          Expect(reason="malformed|entity|xml"))
file_case("articles", "pubmed-remote-dtd", _dtd, Expect(units=2, good=("pm911x", "pm912x")),
          check=contacted("articles/pubmed-remote-dtd"))
file_case("articles", "pubmed-malformed-article-mid-file",
          {"mid.xml": pubmed(pubmed_article(931), pubmed_article(932).replace("</ArticleTitle>", ""),
                             pubmed_article(933), pubmed_article(934))},
          Expect(units=4, good=("pm931x", "pm933x", "pm934x")))
file_case("articles", "pubmed-truncated",
          {"cut.xml": pubmed(*(pubmed_article(940 + i) for i in range(1, 5)))[:-700]},
          Expect(good=("pm941x", "pm942x"), reason="malformed|truncat"))
file_case("articles", "pubmed-wrong-root", {"other.xml": b"<?xml version='1.0'?><html><body>x</body></html>"},
          Expect(whole=True, reason="unsupported|format"))
file_case("articles", "pubmed-gzip-truncated",
          lambda folder: {"cut.xml.gz": __import__("gzip").compress(
              pubmed(*(pubmed_article(950 + i) for i in range(1, 40))), mtime=0)[:400]},
          Expect(reason="."))
file_case("articles", "markdown-deep-nesting", {"deep.md": b"# Title\n\n" + b">" * 50_000 + b" quoted text mk1\n"
                                                + b"\nPlain paragraph mk2 about asthma control.\n"},
          Expect(units=1, good=("mk2",)))
file_case("articles", "html-deep-nesting", {"deep.html": b"<html><head><title>t</title></head><body>"
                                            + b"<div>" * 30_000 + b"Deep text hd1 about asthma."
                                            + b"</div>" * 30_000 + b"<p>Shallow hd2 text about asthma.</p>"
                                            + b"</body></html>"},
          Expect(), check=lambda o, rel: _text_or_reason(o, rel, "hd2", "empty_text"))
file_case("articles", "html-gbk-declared-utf8",
          {"gbk.html": ('<html><head><meta charset="utf-8"><title>高血压</title></head><body><p>高血压患者应低盐饮食 '
                        'hc1，规律服药。</p></body></html>').encode("gbk")},
          Expect(units=1, good=("低盐饮食",)))
file_case("articles", "text-file-binary", {"scan.txt": b"%PDF-1.4\n" + bytes(range(256)) * 8},
          Expect(whole=True, reason="binary"))

# --- PDF books ---------------------------------------------------------------------------------------


def _pdf(pages: list[list[str]], **save: object) -> bytes:
    import pymupdf

    doc = pymupdf.open()
    for lines in pages:
        page = doc.new_page()
        y = 72
        for line in lines:
            page.insert_text((72, y), line, fontsize=11)
            y += 16
    data = doc.tobytes(garbage=3, deflate=False, **save)
    doc.close()
    return data


def _prose(tag: str, n: int = 30) -> list[str]:
    return [f"Line {i} of chapter one {tag}{i} describes asthma control in children." for i in range(1, n + 1)]


def _text_pdf(pages: list[list[str]], inject: tuple[int, int, bytes] | None = None) -> bytes:
    """A PDF with one Helvetica content stream per page; ``inject`` = (page, after line, bytes)."""
    n = len(pages)
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [%s] /Count %d >>" % (b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(n)), n),
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"]
    for p, lines in enumerate(pages):
        ops = [b"BT /F1 11 Tf 72 760 Td 14 TL"]
        for i, line in enumerate(lines, 1):
            ops.append(b"(%s) '" % line.encode("latin-1"))
            if inject and inject[:2] == (p, i):
                ops.append(inject[2])
        stream = b"\n".join([*ops, b"ET"])
        objs.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
                    b"/Contents %d 0 R >>" % (5 + 2 * p))
        objs.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    return _raw_pdf(objs)


def _damaged_stream(folder: Path) -> dict[str, bytes]:
    # The first page's content stream breaks after its third line: an unterminated string swallows the rest.
    return {"damaged.pdf": _text_pdf([_prose("bk"), _prose("bl")], inject=(0, 3, b"<< /Broken [ (no end"))}


def _zero_pages(folder: Path) -> dict[str, bytes]:
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"]
    return {"zero.pdf": _raw_pdf(objs)}


def _page_cycle(folder: Path) -> dict[str, bytes]:
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 2 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>"]
    return {"cycle.pdf": _raw_pdf(objs)}


def _raw_pdf(objs: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def _encrypted(folder: Path) -> dict[str, bytes]:
    import pymupdf

    return {"locked.pdf": _pdf([_prose("be")], encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")}


file_case("books", "pdf-damaged-content-stream", _damaged_stream,
          Expect(good=("bl30",), reason="damag|corrupt|broken|page"))
file_case("books", "pdf-encrypted", _encrypted, Expect(whole=True, reason="encrypt"))
file_case("books", "pdf-zero-pages", _zero_pages, Expect(whole=True, reason="corrupt|empty|page"))
file_case("books", "pdf-truncated", lambda f: {"cut.pdf": _pdf([_prose("bt"), _prose("bu")])[:-900]},
          Expect(reason="."))
file_case("books", "pdf-page-tree-cycle", _page_cycle, Expect(whole=True), timeout=30)
file_case("books", "html-named-pdf", {"page.pdf": b"<!DOCTYPE html><html><body>not a book</body></html>"},
          Expect(whole=True, reason="not_pdf|corrupt|format"))
file_case("books", "pdf-empty", {"empty.pdf": b""}, Expect(whole=True, reason="empty"))

# --- knowledge graphs ---------------------------------------------------------------------------------

TTL_HEAD = ("@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .\n"
            "@prefix ex: <http://example.org/kg/> .\n")


def _ttl_no_blank_lines(folder: Path) -> dict[str, bytes]:
    lines = [f'ex:D{i} rdfs:label "disease kg{i}"@en ; rdfs:subClassOf ex:D0 .' for i in range(1, 9)]
    lines[3] = 'ex:D4 rdfs:label "disease kg4 ;; broken'
    return {"broken.ttl": (TTL_HEAD + 'ex:D0 rdfs:label "disorder kg0"@en .\n' + "\n".join(lines) + "\n").encode()}


def _salvage_claim(outcome: BuildOutcome, rel: str) -> list[Defect]:
    if outcome.view is None:
        return []
    rows = [r for r in outcome.view.ledger if "loaded" in (r["detail"] or "") and rel in r["id"]]
    texts = " ".join(r["text"] for r in outcome.view.records)
    if rows and "kg8" not in texts:
        return [Defect(UNCLEAR, f"the ledger says {rows[0]['detail'][-40:]!r} but no statement of the file was "
                                "loaded")]
    return []


def _jsonld_remote(folder: Path) -> dict[str, bytes]:
    server = HttpCanary()
    _SERVERS["kg/jsonld-remote-context"] = server
    doc = {"@context": f"{server.url}/context.jsonld", "@id": "http://example.org/kg/D1", "label": "disease kj1"}
    return {"remote.jsonld": json.dumps(doc).encode()}


def _jsonld_file(folder: Path) -> dict[str, bytes]:
    context = {"@context": {"label": "http://www.w3.org/2000/01/rdf-schema#label",
                            "@vocab": "http://secret.example/SECRET-CONTEXT-4417/"}}
    canary = FileCanary(folder.parent / "context.jsonld", json.dumps(context).encode())
    _OPENED["kg/jsonld-file-context"] = canary
    doc = {"@context": f"file://{canary.path}", "@id": "http://example.org/kg/D1", "label": "disease kf1",
           "symptom": "fever"}
    return {"local.jsonld": json.dumps(doc).encode()}


def _owl_xxe(folder: Path) -> dict[str, bytes]:
    canary = FileCanary(folder.parent / "owl-secret.txt", b"SECRET-OWL-5521")
    _OPENED["kg/owl-xxe-local-file"] = canary
    return {"xxe.owl": _owl(f'<!DOCTYPE rdf:RDF [<!ENTITY xxe SYSTEM "file://{canary.path}">]>', "&xxe;")}


def _owl_dtd(folder: Path) -> dict[str, bytes]:
    server = HttpCanary()
    _SERVERS["kg/owl-remote-dtd"] = server
    return {"dtd.owl": _owl(f'<!DOCTYPE rdf:RDF SYSTEM "{server.url}/owl.dtd">', "fever ko1")}


def _owl(doctype: str, label: str) -> bytes:
    return (f'<?xml version="1.0"?>\n{doctype}\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
            'xmlns:rdfs="http://www.w3.org/2000/01/rdf-schema#" xmlns:owl="http://www.w3.org/2002/07/owl#">'
            f'<owl:Class rdf:about="http://example.org/kg/D1"><rdfs:label>{label}</rdfs:label></owl:Class>'
            "</rdf:RDF>\n").encode()


def _owl_laughs(folder: Path) -> dict[str, bytes]:
    # Under expat's amplification limit (about 30x), but 1.3 MB of references: tens of MB of label text.
    refs = "&l;" * 430_000
    return {"laughs.owl": _owl(f'<!DOCTYPE rdf:RDF [<!ENTITY l "{"ha" * 45}">]>', refs)}


ALONE = dict(isolated=True, timeout=60)  # may hang or reach out if a guard breaks: kept out of the shared build
# (60 s: a hang is caught all the same, and a machine shared with other jobs may take 20 s for the build)
file_case("kg", "turtle-error-without-blank-lines", _ttl_no_blank_lines, Expect(reason="malformed"),
          check=_salvage_claim)
file_case("kg", "turtle-deep-nesting",
          {"deep.ttl": (TTL_HEAD + "ex:D1 ex:p " + "[ ex:p " * 5000 + '"x"' + " ]" * 5000 + " .\n").encode()},
          Expect(reason="."))
file_case("kg", "owl-billion-laughs", _owl_laughs, Expect(reason="."), expensive=True, **ALONE)
file_case("kg", "owl-xxe-local-file", _owl_xxe, Expect(secret=("SECRET-OWL-5521",)),
          check=opened("kg/owl-xxe-local-file"))
file_case("kg", "owl-remote-dtd", _owl_dtd, Expect(), check=contacted("kg/owl-remote-dtd"))
file_case("kg", "jsonld-remote-context", _jsonld_remote, Expect(reason="."),
          check=contacted("kg/jsonld-remote-context"), **ALONE)
file_case("kg", "jsonld-file-context-outside-inputs", _jsonld_file, Expect(secret=("SECRET-CONTEXT-4417",)),
          check=opened("kg/jsonld-file-context"))
file_case("kg", "ntriples-bad-line",
          {"bad.nt": b'<http://e.org/D1> <http://www.w3.org/2000/01/rdf-schema#label> "flu kn1" .\n'
                     b"<http://e.org/D2> broken line\n"
                     b'<http://e.org/D3> <http://www.w3.org/2000/01/rdf-schema#label> "cold kn3" .\n'},
          Expect(reason="malformed"))
file_case("kg", "turtle-empty", {"empty.ttl": b""}, Expect(whole=True, reason="empty"))
file_case("kg", "entity-json-nested-values",
          {"ents.json": json.dumps([{"name": "感冒", "症状": [{"名称": "发热", "程度": 2}], "科室": {"一级": "内科"}},
                                    {"name": "肺炎", "症状": ["咳嗽", "发热"]}], ensure_ascii=False).encode()},
          Expect(forbid=("{'", "[{"), reason="malformed"))

_ = LOSS

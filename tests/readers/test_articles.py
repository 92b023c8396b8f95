"""PubMed XML and text/Markdown/HTML articles."""

import gzip

from curate.readers import articles
from tests.readers.helpers import run_reader

ARTICLE = """<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM"><PMID Version="1">{pmid}</PMID>
<Article PubModel="Print"><Journal><JournalIssue><PubDate>{date}</PubDate></JournalIssue>
<Title>Test Journal</Title></Journal><ArticleTitle>{title}</ArticleTitle>{abstract}
<Language>eng</Language></Article>
<MeshHeadingList><MeshHeading><DescriptorName UI="D1">Asthma</DescriptorName></MeshHeading></MeshHeadingList>
</MedlineCitation><PubmedData><ArticleIdList><ArticleId IdType="doi">10.1/x{pmid}</ArticleId></ArticleIdList>
</PubmedData></PubmedArticle>"""

STRUCTURED = ('<Abstract><AbstractText Label="BACKGROUND" NlmCategory="BACKGROUND">Asthma is common.'
              '</AbstractText><AbstractText Label="RESULTS" NlmCategory="RESULTS">FEV<sub>1</sub> rose by '
              '12% in <i>all</i> groups.</AbstractText><CopyrightInformation>© 2024 X.</CopyrightInformation>'
              '</Abstract>')


def article(pmid, abstract=STRUCTURED, date="<Year>2021</Year><Month>Mar</Month>", title="Inhaled steroids."):
    return ARTICLE.format(pmid=pmid, abstract=abstract, date=date, title=title)


def xml(*items):
    return '<?xml version="1.0" encoding="UTF-8"?>\n<PubmedArticleSet>\n' + "\n".join(items) + "\n</PubmedArticleSet>\n"


def test_structured_abstract_title_and_meta(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(xml(article(1)))
    (doc,), deletes, rows = run_reader("articles", p)
    assert doc["text"] == ("Inhaled steroids.\n\nBACKGROUND: Asthma is common.\n"
                           "RESULTS: FEV1 rose by 12% in all groups.")
    assert doc["id"] == "articles/a.xml#PMID1" and doc["key"] == "pmid:1" and doc["lang"] == "en"
    assert doc["meta"]["year"] == 2021 and doc["meta"]["month"] == 3 and doc["meta"]["mesh"] == ["Asthma"]
    assert doc["meta"]["doi"] == "10.1/x1" and doc["meta"]["structured"] is True
    assert "©" not in doc["text"] and not deletes and not rows


def test_no_abstract_bad_date_translated_title_and_exclusion(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(xml(
        article(2, abstract=""),
        article(3, date="<Year>20I9</Year><Month>Foo</Month>"),
        article(4, date="<MedlineDate>1998 Dec-1999 Jan</MedlineDate>", title="[Gout in primary care]."),
        article(5),
    ))
    excl = tmp_path / "pmids.txt"
    excl.write_text("# labelled set\n5\n99\n")
    docs, _, rows = run_reader("articles", p, articles.Config(exclude_pmids=str(excl)))
    assert [d["meta"]["pmid"] for d in docs] == ["3", "4"]
    assert docs[0]["meta"].get("year") is None
    assert docs[1]["meta"]["year"] == 1998 and docs[1]["text"].startswith("Gout in primary care\n")
    got = {(r["id"], r["action"], r["reason"]) for r in rows}
    assert got == {("articles/a.xml#PMID2", "drop", "no_abstract"),
                   ("articles/a.xml#PMID3", "modify", "malformed_date"),
                   ("articles/a.xml#PMID5", "drop", "excluded_pmid")}
    assert "20I9" in next(r["detail"] for r in rows if r["reason"] == "malformed_date")


def test_exclusion_list_from_pubmedqa_json(tmp_path):
    p = tmp_path / "a.xml"
    p.write_text(xml(article(7), article(8)))
    excl = tmp_path / "ori_pqal.json"
    excl.write_text('{"7": {"QUESTION": "q"}}')
    docs, _, rows = run_reader("articles", p, articles.Config(exclude_pmids=str(excl)))
    assert [d["meta"]["pmid"] for d in docs] == ["8"] and rows[0]["reason"] == "excluded_pmid"


def test_delete_citation_and_gzip(tmp_path):
    p = tmp_path / "update.xml.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write(xml(article(10), "<DeleteCitation><PMID Version=\"1\">11</PMID><PMID Version=\"1\">12</PMID>"
                    "</DeleteCitation>"))
    docs, deletes, _ = run_reader("articles", p)
    assert [d["meta"]["pmid"] for d in docs] == ["10"]
    assert [d.key for d in deletes] == ["pmid:11", "pmid:12"]


def test_truncated_xml_keeps_articles_before_the_break(tmp_path):
    p = tmp_path / "cut.xml"
    full = xml(article(20), article(21), article(22))
    p.write_text(full[: full.index("<PMID Version=\"1\">22") + 10])
    docs, _, rows = run_reader("articles", p)
    assert [d["meta"]["pmid"] for d in docs] == ["20", "21"]
    (row,) = rows
    assert row["action"] == "quarantine" and row["reason"] == "malformed_xml"
    assert "truncated or malformed at line 17" in row["detail"] and "the other articles are read" in row["detail"]
    assert row["id"] == "articles/cut.xml#item2"


def test_a_malformed_article_is_one_row_and_the_rest_is_read(tmp_path):
    p = tmp_path / "bad.xml"
    broken = article(31).replace("</ArticleTitle>", "</ArticleTitl>")
    p.write_text(xml(article(30), broken, article(32), article(31)))
    docs, _, rows = run_reader("articles", p)
    assert [d["id"] for d in docs] == ["articles/bad.xml#PMID30", "articles/bad.xml#PMID32",
                                       "articles/bad.xml#PMID31.2"]
    (row,) = rows
    assert (row["id"], row["reason"]) == ("articles/bad.xml#PMID31", "malformed_xml")
    assert "PMID 31 is truncated or malformed at line 12, column 70" in row["detail"]
    assert "mismatched tag" in row["detail"]


def test_not_pubmed_and_empty_and_binary(tmp_path):
    other = tmp_path / "other.xml"
    other.write_text("<rss><item/></rss>")
    empty = tmp_path / "empty.xml"
    empty.write_bytes(b"")
    binary = tmp_path / "bin.xml"
    binary.write_bytes(bytes(range(256)))
    for path, reason in ((other, "unsupported_format"), (empty, "empty_file"), (binary, "malformed_xml")):
        docs, _, rows = run_reader("articles", path)
        assert docs == [] and [r["reason"] for r in rows] == [reason], path


def test_text_markdown_html(tmp_path):
    md = tmp_path / "a.md"
    md.write_text("---\ntitle: Heart failure\n---\n# Living well\n\nSalt **matters** a [lot](http://x).\n"
                  "![fig](a.png)\n\n| Class | Symptoms |\n|---|---|\n| I | none |\n\n- walk daily\n")
    (doc,), _, _ = run_reader("articles", md)
    assert doc["text"].split("\n") == ["Living well", "", "Salt matters a lot.", "", "- walk daily"]
    assert doc["meta"]["title"] == "Heart failure" and doc["meta"]["format"] == "markdown"
    html = tmp_path / "a.html"
    html.write_text("<html><head><title>T</title><style>p{}</style><script>var x;</script></head><body>"
                    "<nav>Home | About</nav><article><h1>Vaccines</h1><p>Vaccines save&nbsp;lives &amp; "
                    "money.</p><table><tr><td>cell</td></tr></table><ul><li>MMR</li></ul></article>"
                    "<footer>© clinic</footer></body></html>")
    (doc,), _, _ = run_reader("articles", html)
    assert doc["text"] == "Vaccines\nVaccines save lives & money.\n- MMR"
    assert doc["meta"]["title"] == "Vaccines"
    txt = tmp_path / "zh.txt"
    txt.write_bytes("感冒与流感\n\n流感起病急，全身症状明显。".encode("gb18030"))
    (doc,), _, _ = run_reader("articles", txt)
    assert doc["text"].startswith("感冒与流感") and doc["meta"]["encoding"] == "gb18030"
    assert doc["lang"] == "zh"


def test_sample_articles(samples):
    docs, deletes, rows = run_reader("articles", samples / "articles" / "pubmed_baseline.xml")
    assert len(docs) == 9 and [(d.key, d.reason) for d in deletes] == [("pmid:39000007", "superseded")]
    assert {r["reason"] for r in rows} == {"no_abstract", "malformed_date"}
    docs, deletes, rows = run_reader("articles", samples / "articles" / "pubmed_update.xml.gz")
    assert [d["meta"]["pmid"] for d in docs] == ["39000004", "39000011"]
    assert [d.key for d in deletes] == ["pmid:39000006"]


def test_real_pubmed_file(realdata):
    docs, _, rows = run_reader("articles", realdata / "pubmed_xml" / "pubmed-29768149.xml")
    assert rows == [] and len(docs) == 1
    doc = docs[0]
    assert doc["meta"]["pmid"] == "29768149" and doc["meta"]["year"]
    title, body = doc["text"].split("\n\n", 1)
    assert title and len(body) > 200 and "<" not in doc["text"]


def test_pubmed_streaming_memory_is_bounded(tmp_path):
    """Peak memory grows by a few bytes per article (its PMID, to tell repeats apart), never by its text."""
    import tracemalloc

    long_abstract = STRUCTURED.replace("Asthma is common.", "Asthma is common. " * 200)  # ~3.6 KB each

    def peak_for(n):
        p = tmp_path / f"big{n}.xml"
        p.write_text(xml(*(article(i, abstract=long_abstract, title=f"Trial number {i}.") for i in range(n))))
        tracemalloc.start()
        count = sum(1 for _ in run_reader_iter(p))
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert count == n
        return peak

    small, large = peak_for(500), peak_for(4000)
    per_article = (large - small) / 3500
    assert per_article < 300, (small, large)


def run_reader_iter(path):
    from curate.core.ledger import Ledger
    from curate.readers import FileRef, pubmed

    yield from pubmed.read(FileRef(path, path.name, "articles"), articles.Config(), Ledger("articles", "read"))

"""PubMed XML cut into articles and into parts: a split read gives the records, ids and ledger of a whole read."""

from __future__ import annotations

import gzip
import io
import itertools
import zlib

import pytest

from curate.core.ledger import Ledger
from curate.readers import Delete, FileRef, articles, pubmed, pubmed_units
from tests.readers.test_articles import STRUCTURED, article, xml

DELETE = '<DeleteCitation><PMID Version="1">900</PMID><PMID Version="1">901</PMID></DeleteCitation>'
NO_PMID = ("<PubmedArticle><MedlineCitation><Article><ArticleTitle>T</ArticleTitle>"
           "</Article></MedlineCitation></PubmedArticle>")


def corpus(n: int = 120) -> str:
    """Articles with repeated PMIDs, no abstract, no PMID, malformed ones, deletions, Chinese text."""
    items = []
    for i in range(n):
        pmid = 1000 + i % 37  # PMIDs come back, in other parts of the file
        if i % 29 == 3:
            items.append(article(pmid).replace("</ArticleTitle>", "</ArticleTitl>"))
        elif i % 31 == 4:
            items.append(NO_PMID)
        elif i % 23 == 5:
            items.append(DELETE)
        elif i % 19 == 6:
            items.append(article(pmid, abstract=""))
        else:
            items.append(article(pmid, title=f"Trial {i}: 哮喘吸入激素 " + "word " * (i % 11),
                                 abstract=STRUCTURED.replace("common.", f"common {i}.")))
    return xml(*items)


def read(path, part=None):
    """(items as comparable tuples, ledger rows, ledger units, raw units) of a file or part."""
    ledger = Ledger("articles", "read")
    ref = FileRef(path, path.name, "articles", part)
    items = [("delete", i.key) if isinstance(i, Delete) else (i["id"], i["text"], i["meta"]["pmid"])
             for i in pubmed.read(ref, articles.Config(), ledger)]
    return items, ledger.rows, sum(u for u in ledger.units if u is not None), articles.count_units(ref, None)


def split_read(path, parts):
    items, rows = [], []
    for part in parts:
        got, ledger_rows, ledger_units, raw = read(path, part)
        records = sum(1 for g in got if g[0] != "delete")
        assert raw == records + ledger_units, part  # every part accounts for its own articles
        items += got
        rows += ledger_rows
    return items, rows


def test_plain_file_split_at_articles_reads_as_whole(tmp_path):
    path = tmp_path / "baseline.xml"
    path.write_text(corpus(), encoding="utf-8")
    parts = articles.parts(path, articles.Config(), 3000)
    assert parts and len(parts) > 10 and "member" not in parts[0]
    data = path.read_bytes()
    for a, b in itertools.pairwise(parts):
        assert a["end"] == b["start"] and pubmed_units.UNIT.match(data, b["start"])
        assert b["line"] == data[:b["start"]].count(b"\n") + 1
    whole_items, whole_rows, whole_units, raw = read(path)
    assert raw == corpus().count("<PubmedArticle>")
    assert raw == sum(1 for i in whole_items if i[0] != "delete") + whole_units
    assert {r[4] for r in whole_rows} == {"malformed_xml", "malformed_record", "no_abstract"}
    assert any(i[0].endswith("#PMID1003.3") for i in whole_items)  # a PMID repeated across parts
    assert split_read(path, parts) == (whole_items, whole_rows)


def gzip_members(data: bytes, cuts: list[int]) -> bytes:
    """``data`` as concatenated gzip members cut at the given offsets (anywhere: inside tags too)."""
    bounds = [0, *cuts, len(data)]
    return b"".join(gzip.compress(data[a:b], mtime=0) for a, b in itertools.pairwise(bounds))


def test_gzip_members_are_parts_and_read_as_whole(tmp_path):
    data = corpus().encode()
    at_tag = data.index(b"<PubmedArticle>", len(data) // 3) + 7  # inside a start tag
    path = tmp_path / "multi.xml.gz"
    path.write_bytes(gzip_members(data, [len(data) // 5, at_tag, len(data) // 2, len(data) * 3 // 4]) + b"\0" * 8)
    parts = articles.parts(path, articles.Config(), 1000)
    assert parts and len(parts) == 5 and all("member" in p for p in parts[1:])
    assert [p["start"] for p in parts] == [0, len(data) // 5, at_tag, len(data) // 2, len(data) * 3 // 4]
    whole = read(path)
    assert split_read(path, parts) == whole[:2]
    single = tmp_path / "single.xml.gz"
    single.write_bytes(gzip.compress(data))
    assert articles.parts(single, articles.Config(), 1000) is None  # one member: read whole
    truncated = tmp_path / "truncated.xml.gz"
    truncated.write_bytes(path.read_bytes()[:-40])
    assert articles.parts(truncated, articles.Config(), 1000) is None  # the reader reports it, read whole


def test_one_member_gzip_is_not_decompressed_to_plan(tmp_path, monkeypatch):
    data = corpus().encode()
    single, multi = tmp_path / "single.xml.gz", tmp_path / "multi.xml.gz"
    single.write_bytes(gzip.compress(data))
    multi.write_bytes(gzip_members(data, [len(data) // 2]))
    calls = []
    plan_gzip = pubmed_units._plan_gzip
    monkeypatch.setattr(pubmed_units, "_plan_gzip", lambda f, n: calls.append(f.name) or plan_gzip(f, n))
    assert pubmed_units.plan(single, 1000) is None and calls == []
    assert len(pubmed_units.plan(multi, 1000)) == 2 and calls == [str(multi)]


def test_a_member_boundary_inside_an_article_keeps_it_in_its_part(tmp_path):
    data = corpus(40).encode()
    mid = data.index(b"<AbstractText", len(data) // 2)
    path = tmp_path / "m.xml.gz"
    path.write_bytes(gzip_members(data, [mid]))
    parts = pubmed_units.plan(path, 100)
    assert parts and len(parts) == 2
    assert split_read(path, parts) == read(path)[:2]


def test_header_entities_never_reach_articles(tmp_path):
    """Billion laughs and external entities declared in the DOCTYPE: the article using them is one row."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP SECRET")
    laughs = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{k} "{f"&l{k - 1};" * 10}">' for k in range(1, 10))
    header = (f'<?xml version="1.0"?>\n<!DOCTYPE PubmedArticleSet [{laughs}'
              f'<!ENTITY xxe SYSTEM "file://{secret}">]>\n')
    body = xml(article(1), article(2, title="&l9;"), article(3, title="&xxe;"), article(4))
    path = tmp_path / "evil.xml"
    path.write_text(header + body.split("\n", 1)[1])
    items, rows, _, raw = read(path)
    assert [i[2] for i in items] == ["1", "4"] and raw == 4
    assert [(r[0], r[4]) for r in rows] == [("articles/evil.xml#PMID2", "malformed_xml"),
                                            ("articles/evil.xml#PMID3", "malformed_xml")]
    assert all("undefined entity" in r[5] for r in rows) and "SECRET" not in repr(items)


def test_oversized_article_is_ledgered_without_being_held(tmp_path, monkeypatch):
    monkeypatch.setattr(pubmed_units.textio, "MAX_RECORD_BYTES", 4000)
    monkeypatch.setattr(pubmed_units, "CHUNK", 512)
    path = tmp_path / "big.xml"
    path.write_text(xml(article(1), article(2, title="long " * 3000), article(3)))
    items, rows, units, raw = read(path)
    assert [i[2] for i in items] == ["1", "3"] and raw == 3 and units == 1
    ((rid, *_, reason, detail),) = rows
    assert (rid, reason) == ("articles/big.xml#PMID2", "oversized_record") and "15,8" in detail


def test_units_report_lines_and_stop_at_the_part_end():
    data = xml(article(1), DELETE, article(2)).encode()
    got = list(pubmed_units.units(io.BytesIO(data)))
    assert [line for line, _ in got] == [3, 10, 11]
    assert [u[:15] for _, u in got] == [b"<PubmedArticle>", b"<DeleteCitation", b"<PubmedArticle>"]
    assert got[-1][1].rstrip().endswith(b"</PubmedArticle>")  # the root's end tag is not part of it
    second = data.index(b"<DeleteCitation")
    f = io.BytesIO(data)
    f.seek(second)
    assert [line for line, _ in pubmed_units.units(f, second, second + 1, 10)] == [10]


@pytest.mark.parametrize("head,root", [
    (b'<?xml version="1.0"?><!-- <x> --><!DOCTYPE PubmedArticleSet PUBLIC "a" "b.dtd"><PubmedArticleSet>',
     "PubmedArticleSet"),
    (b'<!DOCTYPE r [<!ENTITY a "<rss>">]>\n<PubmedArticleSet>', "PubmedArticleSet"),
    (b"<rss><item/></rss>", "rss"),
    (b"no markup", None),
])
def test_root_tag_skips_prolog(head, root):
    assert pubmed_units.root_tag(head) == root


def test_corrupt_gzip_member_keeps_the_articles_before_it(tmp_path):
    data = corpus(40).encode()
    blob = bytearray(gzip_members(data, [len(data) // 2]))
    second = blob.index(b"\x1f\x8b", 10)
    blob[second + 40:second + 60] = b"\xff" * 20  # damage the second member's deflate stream
    path = tmp_path / "bad.xml.gz"
    path.write_bytes(bytes(blob))
    assert pubmed_units.plan(path, 100) is None
    items, rows, _, _ = read(path)
    assert items and rows[-1][4] == "corrupt_file" and rows[-1][0].endswith("#gzip")
    with pytest.raises((OSError, EOFError, zlib.error)):
        gzip.decompress(bytes(blob))


def test_real_article_repeated_reads_the_same_split_or_whole(realdata, tmp_path):
    """The real NCBI file (its DOCTYPE, character references such as &#946;) as a set of 30 articles."""
    src = (realdata / "pubmed_xml" / "pubmed-29768149.xml").read_text(encoding="utf-8")
    head, rest = src.split("<PubmedArticle>", 1)
    one = "<PubmedArticle>" + rest.rsplit("</PubmedArticleSet>", 1)[0]
    path = tmp_path / "real.xml.gz"
    data = (head + "".join(one.replace("29768149", str(29768149 + k % 7)) for k in range(30))
            + "</PubmedArticleSet>\n").encode()
    path.write_bytes(gzip_members(data, list(range(len(data) // 9, len(data), len(data) // 9))))
    parts = pubmed_units.plan(path, len(data) // 9)
    assert parts and len(parts) >= 8
    whole = read(path)
    assert len(whole[0]) == 30 and whole[1] == [] and whole[3] == 30
    assert split_read(path, parts) == whole[:2]
    assert "β" in whole[0][0][1] and whole[0][7][0].endswith("#PMID29768149.2")


def test_joined_files_read_as_one(tmp_path):
    """Whole PubMed files joined (``cat a.xml.gz b.xml.gz``): the second header is no part of an article."""
    first, second = xml(article(1), article(2)), xml(article(3), DELETE, article(4))
    doctype = '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle//EN" "pubmed.dtd">\n'
    second = second.replace("<PubmedArticleSet>", doctype + "<PubmedArticleSet>")
    path = tmp_path / "joined.xml.gz"
    path.write_bytes(gzip.compress(first.encode()) + gzip.compress(second.encode()))
    items, rows, _, raw = read(path)
    assert [i[2] if i[0] != "delete" else i[1] for i in items] == ["1", "2", "3", "pmid:900", "pmid:901", "4"]
    assert rows == [] and raw == 4
    parts = pubmed_units.plan(path, 10)
    assert len(parts) == 2 and split_read(path, parts) == (items, rows)

"""PubMed XML (``PubmedArticleSet``, plain or ``.xml.gz``) into abstract documents, streamed.

- Parsed with ``iterparse``; each ``PubmedArticle`` is cleared once read and the root emptied, so
  memory stays bounded by one article whatever the file size.
- The title is prepended; structured abstracts keep their section labels (``BACKGROUND: ...``);
  inline markup (``<i>``, ``<sup>``) is flattened to its text. The layout is the template
  ``articles/pubmed``.
- Articles without an abstract are dropped (``no_abstract``), taking earlier versions of their PMID
  with them; PMIDs in the exclusion list are
  dropped (``excluded_pmid``); an unparseable date keeps the article and flags it
  (``malformed_date``).
- Each record carries the key ``pmid:<PMID>`` and ``DeleteCitation`` entries become ``Delete``
  events, so that update files supersede and delete earlier versions (``readers.versions``).
- A truncated or malformed file keeps the articles read before the break and quarantines the rest.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from curate.core.ledger import Ledger
from curate.readers import Delete, FileRef
from curate.text import normalise as text
from curate.text import templates
from curate.text.textio import NotText, open_binary

_ARTICLE = re.compile(rb"<Pubmed(?:Book)?Article[\s>]")
_YEAR = re.compile(r"\b(1[6-9]\d\d|20\d\d)\b")
_MONTHS = {m: i for i, m in enumerate(
    ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)}


@functools.cache
def load_pmid_list(path: str) -> frozenset[str]:
    """PMIDs from a text file (one per line, ``#`` comments) or a JSON object/list (keys or items)."""
    import json

    raw = Path(path).read_text(encoding="utf-8-sig")
    if Path(path).suffix == ".json":
        value = json.loads(raw)
        return frozenset(str(k).strip() for k in value)
    return frozenset(line.split("#", 1)[0].strip() for line in raw.splitlines()) - {""}


def count_articles(path: Path) -> int:
    """``PubmedArticle`` and ``PubmedBookArticle`` start tags in the (decompressed) bytes, without parsing:
    the units the reader must account for, also when the XML breaks off."""
    count, carry = 0, b""
    try:
        with open_binary(path) as f:
            while chunk := f.read(1 << 22):
                data = carry + chunk
                count += len(_ARTICLE.findall(data, 0, max(0, len(data) - 24)))
                carry = data[max(0, len(data) - 24):]
    except (OSError, EOFError):  # a truncated gzip stream: count what it held
        pass
    return count + len(_ARTICLE.findall(carry))


def _text(elem: ET.Element | None) -> str:
    return text.fix(" ".join("".join(elem.itertext()).split())) if elem is not None else ""


def _title(article: ET.Element) -> str:
    title = _text(article.find("ArticleTitle"))
    if title.startswith("[") and title.rstrip(".").endswith("]"):  # translated titles: "[Title]."
        title = title.rstrip(".")[1:-1]
    return title


def _date(pubdate: ET.Element | None) -> tuple[int | None, int | None, str]:
    """(year, month, raw) from ``PubDate``; year None when the date cannot be read."""
    if pubdate is None:
        return None, None, ""
    raw = " ".join(f"{c.tag}={(c.text or '').strip()}" for c in pubdate)
    medline = pubdate.findtext("MedlineDate")
    year_text = (pubdate.findtext("Year") or medline or "").strip()
    match = _YEAR.search(year_text)
    year = int(match.group(1)) if match and (medline or year_text == match.group(1)) else None
    month_text = (pubdate.findtext("Month") or "").strip().lower()
    month = int(month_text) if month_text.isdigit() else _MONTHS.get(month_text[:3])
    if month is not None and not 1 <= month <= 12:
        month = None
    return year, month, raw


def _sections(abstract: ET.Element) -> list[dict[str, str]]:
    sections = []
    for part in abstract.findall("AbstractText"):
        body = _text(part)
        if body:
            label = (part.get("Label") or "").strip()
            sections.append({"label": label.upper() if label.isupper() else label, "text": body})
    return sections


def _article(elem: ET.Element, ref: FileRef, cfg, ledger: Ledger, seen: dict[str, int]) -> dict | Delete | None:
    citation = elem.find("MedlineCitation")
    if citation is None:
        citation = elem.find("BookDocument")  # PubmedBookArticle
    pmid = (citation.findtext("PMID") or "").strip() if citation is not None else ""
    if not pmid:
        ledger.quarantine(ref.id(f"item{len(seen)}"), "malformed_record", "article without a PMID")
        return None
    seen[pmid] = seen.get(pmid, 0) + 1
    rid = ref.id(f"PMID{pmid}" + (f".{seen[pmid]}" if seen[pmid] > 1 else ""))
    article = citation.find("Article")
    article = citation if article is None else article
    if cfg.exclude_pmids and pmid in load_pmid_list(cfg.exclude_pmids):
        ledger.drop(rid, "excluded_pmid", f"PMID {pmid} is in {Path(cfg.exclude_pmids).name}")
        return None
    abstract = article.find("Abstract")
    sections = _sections(abstract) if abstract is not None else []
    if not sections:
        ledger.drop(rid, "no_abstract", f"PMID {pmid} has no abstract")
        # A revised version without an abstract still replaces any earlier version that had one.
        return Delete(f"pmid:{pmid}", "superseded", "superseded by a version without abstract")
    title = _title(article)
    year, month, raw_date = _date(article.find("Journal/JournalIssue/PubDate"))
    if year is None:
        ledger.modify(rid, "malformed_date", f"PMID {pmid}: unreadable PubDate ({raw_date or 'missing'}); "
                      "year left empty")
    body = templates.render(cfg.template, title=title, sections=sections)
    meta = {
        "file": ref.relpath, "pmid": pmid, "year": year, "month": month, "title": title,
        "journal": _text(article.find("Journal/Title")) or None,
        "language": article.findtext("Language"),
        "mesh": [_text(d) for d in citation.findall("MeshHeadingList/MeshHeading/DescriptorName")] or None,
        "doi": elem.findtext("PubmedData/ArticleIdList/ArticleId[@IdType='doi']"),
        "structured": any(s["label"] for s in sections),
    }
    return {"id": rid, "source": ref.source, "text": body, "lang": text.detect_lang(body), "meta": meta,
            "key": f"pmid:{pmid}"}


def read(ref: FileRef, cfg, ledger: Ledger) -> Iterator[dict | Delete]:
    """Stream articles and deletions from one PubMed XML file."""
    with open_binary(ref.path) as f:
        if not f.read(1):
            raise NotText("empty file", "empty_file")
        f.seek(0)
        seen: dict[str, int] = {}
        root = None
        try:
            for event, elem in ET.iterparse(f, events=("start", "end")):
                if root is None:
                    root = elem
                    if elem.tag != "PubmedArticleSet":
                        raise NotText(f"root element is <{elem.tag}>, not <PubmedArticleSet>",
                                      "unsupported_format")
                if event != "end":
                    continue
                if elem.tag in ("PubmedArticle", "PubmedBookArticle"):
                    record = _article(elem, ref, cfg, ledger, seen)
                    if record is not None:
                        yield record
                    root.clear()
                elif elem.tag == "DeleteCitation":
                    for pmid in elem.iter("PMID"):
                        yield Delete(f"pmid:{(pmid.text or '').strip()}")
                    root.clear()
        except ET.ParseError as err:
            line, col = err.position
            ledger.quarantine(ref.id(f"rest@line{line}"), "malformed_xml",
                              f"articles: '{ref.relpath}' is truncated or malformed at line {line}, "
                              f"column {col} ({err}); {len(seen)} articles before it were read, "
                              "the rest of the file is lost", units=None)
        except (OSError, EOFError) as err:  # gzip: truncated stream or bad CRC
            ledger.quarantine(ref.id("gzip"), "corrupt_file",
                              f"articles: '{ref.relpath}': {err}; {len(seen)} articles before it were read",
                              units=None)

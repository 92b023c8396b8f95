"""PubMed XML (``PubmedArticleSet``, plain or ``.xml.gz``) into abstract documents, streamed.

- Cut into its units (``PubmedArticle``, ``PubmedBookArticle``, ``DeleteCitation``) by
  ``pubmed_units`` and each unit parsed alone, so memory stays bounded by one article whatever the
  file size, a malformed or truncated article is one ledger row (``malformed_xml``) and the next one
  is read, and no entity declared in the header reaches an article (no DTD, entity or external
  reference is ever resolved). A large file is read in parts (``parts``) with the records of a
  whole-file read: an uncompressed one cut at article boundaries, a gzip one at its members.
- The title is prepended; structured abstracts keep their section labels (``BACKGROUND: ...``);
  inline markup (``<i>``, ``<sup>``) is flattened to its text. The layout is the template
  ``articles/pubmed``.
- Articles without an abstract are dropped (``no_abstract``), taking earlier versions of their PMID
  with them; PMIDs in the exclusion list are
  dropped (``excluded_pmid``); an unparseable date keeps the article and flags it
  (``malformed_date``).
- Each record carries the key ``pmid:<PMID>`` and ``DeleteCitation`` entries become ``Delete``
  events, so that update files supersede and delete earlier versions (``readers.versions``).
- A gzip stream that breaks off keeps the articles read before the break and quarantines the rest.
"""

from __future__ import annotations

import functools
import re
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path

from curate.core.ledger import Ledger
from curate.readers import Delete, FileRef, pubmed_units
from curate.text import normalise as text
from curate.text import templates, textio
from curate.text.textio import NotText, open_binary

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


def count_articles(path: Path, part: dict | None = None) -> int:
    """Articles in the file or part, counted from the bytes (``pubmed_units.count_articles``)."""
    return pubmed_units.count_articles(path, part)


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


class _Seen:
    """PMIDs read so far in the file (a part starts from the counts before it), for ids of repeats."""

    def __init__(self, part: dict | None):
        self.before: dict[str, int] = dict(part["seen"]) if part else {}
        self.counts: dict[str, int] = {}
        self.distinct = part["distinct"] if part else 0

    def add(self, pmid: str) -> int:
        if pmid not in self.counts and pmid not in self.before:
            self.distinct += 1
        self.counts[pmid] = self.counts.get(pmid, self.before.get(pmid, 0)) + 1
        return self.counts[pmid]

    def rid(self, ref: FileRef, pmid: str | None) -> str:
        """The id of the next unit: ``PMID<n>`` (``.2``, ``.3`` for repeats), ``item<k>`` without a PMID."""
        if not pmid:
            return ref.id(f"item{self.distinct}")
        n = self.add(pmid)
        return ref.id(f"PMID{pmid}" + (f".{n}" if n > 1 else ""))


def _article(elem: ET.Element, rid: str, pmid: str | None, ref: FileRef, cfg, ledger: Ledger) -> dict | Delete | None:
    citation = elem.find("MedlineCitation")
    if citation is None:
        citation = elem.find("BookDocument")  # PubmedBookArticle
    if not pmid or citation is None:
        ledger.quarantine(rid, "malformed_record", "article without a PMID")
        return None
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


def parts(path: Path, cfg, part_bytes: int) -> list[dict] | None:
    """Parts of a large PubMed XML file at article boundaries, or gzip members (``pubmed_units.plan``)."""
    return pubmed_units.plan(path, part_bytes)


_DECLARED = re.compile(rb"<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9._-]+)")


def read(ref: FileRef, cfg, ledger: Ledger) -> Iterator[dict | Delete]:
    """Articles and deletions of one PubMed XML file (or of ``ref.part``), unit by unit."""
    part = ref.part
    head = _head(ref.path)
    if not head.strip():
        raise NotText("empty file", "empty_file")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise NotText("UTF-16 XML; convert the file to UTF-8 (e.g. iconv -f UTF-16 -t UTF-8)", "unsupported_format")
    root = pubmed_units.root_tag(head)
    if root != "PubmedArticleSet":
        raise NotText(f"root element is <{root}>, not <PubmedArticleSet>" if root else
                      "no XML element found; not PubMed XML", "unsupported_format" if root else "malformed_xml")
    declared = _DECLARED.match(head.lstrip(b"\xef\xbb\xbf"))
    encoding = declared.group(1).decode().lower() if declared else "utf-8"
    # Each unit is parsed alone: one in another encoding than UTF-8 carries the file's declaration.
    prolog = b"" if encoding in ("utf-8", "utf8", "us-ascii", "ascii") else declared.group(0) + b"?>"
    seen = _Seen(part)
    with pubmed_units.open_part(ref.path, part) as f:
        try:
            span = (part["start"], part["end"], part["line"]) if part else ()
            for line, unit in pubmed_units.units(f, *span):
                yield from _unit(unit, prolog, line, ref, cfg, ledger, seen)
        except (OSError, EOFError, zlib.error) as err:  # gzip: truncated stream or bad CRC
            ledger.quarantine(ref.id("gzip"), "corrupt_file",
                              f"articles: '{ref.relpath}': {err}; the articles before the break were read, "
                              "the rest of the file is lost", units=None)


def _head(path: Path) -> bytes:
    """The first 64 KiB of the decompressed bytes, or what comes before a break in a gzip stream."""
    head = b""
    with open_binary(path) as f:
        try:
            while len(head) < 1 << 16 and (chunk := f.read(1 << 12)):
                head += chunk
        except (OSError, EOFError, zlib.error):  # the break itself is reported by the read
            pass
    return head


def _unit(unit: bytes | pubmed_units.Oversized, prolog: bytes, line: int, ref: FileRef, cfg, ledger: Ledger,
          seen: _Seen) -> Iterator[dict | Delete]:
    """The record or deletions of one unit; a unit that does not parse is one quarantine row."""
    if isinstance(unit, pubmed_units.Oversized):
        pmid = unit.pmid.decode("utf-8", "replace").strip() if unit.pmid else None
        rid = seen.rid(ref, pmid) if unit.article else ref.id(f"delete@line{line}")
        ledger.quarantine(rid, "oversized_record", f"articles: '{ref.relpath}' line {line}: an element of "
                          f"{unit.size:,} bytes, over the limit of {textio.MAX_RECORD_BYTES:,} "
                          "(CURATE_MAX_RECORD_BYTES); not read", units=1 if unit.article else 0)
        return
    deletion = unit.startswith(b"<DeleteCitation")
    found = None if deletion else pubmed_units.PMID.search(unit)
    pmid = found.group(1).decode("utf-8", "replace").strip() if found else None
    rid = None if deletion else seen.rid(ref, pmid)
    try:
        elem = ET.fromstring(prolog + unit)
    except ET.ParseError as err:
        at, col = line + err.position[0] - 1, err.position[1]
        what = "a DeleteCitation" if deletion else f"PMID {pmid}" if pmid else "an article"
        ledger.quarantine(rid or ref.id(f"delete@line{line}"), "malformed_xml",
                          f"articles: '{ref.relpath}': {what} is truncated or malformed at line {at}, column {col} "
                          f"({str(err).split(':')[0]}); it is left out, the other articles are read",
                          units=0 if deletion else 1)
        return
    if deletion:
        for p in elem.iter("PMID"):
            yield Delete(f"pmid:{(p.text or '').strip()}")
        return
    record = _article(elem, rid, pmid, ref, cfg, ledger)
    if record is not None:
        yield record

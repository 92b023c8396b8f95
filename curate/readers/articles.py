"""Articles: PubMed XML abstracts, and popular-science articles in plain text, Markdown or HTML.

``.xml`` files go to ``readers.pubmed``; ``.txt``, ``.md`` and ``.html`` files become one document
each, with the title from the HTML ``<title>``/``<h1>``, the Markdown front matter or first heading,
or the first line of a text file.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from curate.core.config import path_option
from curate.core.ledger import Ledger
from curate.readers import Delete, FileRef, markup, pubmed
from curate.text import normalise as text
from curate.text.textio import NotText, base_suffix, read_text

SUFFIXES = (".xml", ".txt", ".md", ".markdown", ".html", ".htm")


@dataclass(frozen=True)
class Config:
    """Options of the articles reader."""

    exclude_pmids: str | None = path_option()  # PMID list (one per line, or JSON keys) to leave out
    template: str = "articles/pubmed"  # layout of title and abstract sections

    def side_inputs(self) -> tuple[str, ...]:
        """Files whose content the output depends on, besides the input file."""
        return (self.exclude_pmids,) if self.exclude_pmids else ()


def count_units(ref: FileRef, cfg: Config) -> int:
    """PubMed articles of an XML file (counted from the bytes); one for a text, Markdown or HTML file."""
    if base_suffix(ref.path) == ".xml":
        return pubmed.count_articles(ref.path)
    return 1


def read(ref: FileRef, cfg: Config, ledger: Ledger) -> Iterator[dict | Delete]:
    """Documents from one article file."""
    suffix = base_suffix(ref.path)
    if suffix == ".xml":
        yield from pubmed.read(ref, cfg, ledger)
        return
    if suffix not in SUFFIXES:
        raise NotText(f"unsupported article format {suffix or '(no suffix)'!r}; expected "
                      f"{', '.join(SUFFIXES)}", "unsupported_format")
    raw, encoding = read_text(ref.path)
    raw = text.fix(raw)
    if suffix in (".html", ".htm"):
        title, body, fmt = *markup.html_to_text(raw), "html"
    elif suffix in (".md", ".markdown"):
        title, body, fmt = *markup.markdown_to_text(raw), "markdown"
    else:
        body, fmt = raw, "text"
        title = next((line.strip() for line in raw.splitlines() if line.strip()), "")
    if not body.strip():
        ledger.drop(ref.id(), "empty_text", f"{ref.relpath}: no text after removing markup")
        return
    yield {
        "id": ref.id(),
        "source": ref.source,
        "text": body,
        "lang": text.detect_lang(body),
        "meta": {"file": ref.relpath, "format": fmt, "title": title or None, "encoding": encoding},
    }

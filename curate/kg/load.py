"""Input files into the graph builder, surviving malformed input.

Which loader reads a file:

- ``.csv`` / ``.tsv``, ``.jsonl``, and ``.json`` that is not JSON-LD: ``tables`` (triples or entity
  records); also a ``format`` of ``csv`` or ``tsv``, and a file with any other suffix (``.spo``,
  ``.txt``, ``.triples``, none) whose content is a table or JSON records (``textio.sniff_format``);
- N-Triples (``.nt``) and N-Quads (``.nq``): parsed line by line by a small parser for their
  grammar, so that a malformed line becomes one quarantine row (reason ``malformed_rdf``, id
  ``<source>/<file>#L<n>``) and the rest of the file loads. It is also the fast path for big graphs;
- Turtle, N3, TriG, RDF/XML (``.rdf``, ``.owl``, ``.xml``) and JSON-LD (``.jsonld``, or ``.json``
  holding ``@context``/``@graph``/``@id``): rdflib. ``.owl``/``.rdf``/``.xml`` files are sniffed
  (XML, JSON-LD or Turtle syntax). A ``format`` option (rdflib's names: ``turtle``, ``nt``, ``xml``,
  ``json-ld``, ...) overrides the extension for every file except CSV/TSV. A file with an unknown
  suffix whose content starts like N-Triples (``<``) or Turtle (``@prefix``) is read as such.

A Turtle or N3 file with a syntax error is salvaged piece by piece: it is cut at blank lines, each
block is parsed with the file's ``@prefix``/``@base`` declarations, and a block that fails is halved
at the statement end (a line ending in ``.``, outside a long string) nearest its middle, again and
again, so that a file without blank lines loses only its broken statements. Each piece that cannot be
cut further becomes one quarantine row (``#L<first>-<last>``) with the parser's message and how many
statements the rest of the file gave; blank-node labels (``_:x``) are then scoped to the piece that
parsed. After ``MAX_BAD_PIECES`` broken pieces the rest of the file is one row. Other rdflib formats
with a syntax error quarantine the whole file (reason ``malformed_rdf``).

RDF is parsed by ``curate.kg.parsing``: nothing is fetched (JSON-LD contexts come from the recipe's
``jsonld_contexts``), XML entity expansion is bounded.

Statements keep the parser's order, and blank nodes are numbered by first appearance in their file
(``_:f<file>b<n>``), so the same file always gives the same graph (rdflib's own blank-node ids and
its store's iteration order are random).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

import rdflib

from curate.core import records
from curate.core.ledger import Ledger
from curate.kg import parsing, rdf, tables
from curate.kg.graph import Builder, Lit
from curate.kg.rdf import Term
from curate.text import textio
from curate.text.textio import NotText, Problem

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson")
TABLE_FORMATS = ("csv", "tsv")
OTHER_SUFFIXES = (".spo", ".triples", ".txt")  # picked up in folders; read as their content shows
RDF_SUFFIXES = {".ttl": "turtle", ".turtle": "turtle", ".n3": "n3", ".trig": "trig", ".nt": "nt",
                ".ntriples": "nt", ".nq": "nquads", ".rdf": "xml", ".owl": "xml", ".xml": "xml",
                ".jsonld": "json-ld"}
SUFFIXES = (*TABLE_SUFFIXES, ".json", *RDF_SUFFIXES, *OTHER_SUFFIXES)
LINE_FORMATS = {"nt", "nt11", "ntriples", "n-triples", "nquads", "nq", "application/n-triples"}
SALVAGEABLE = {"turtle", "ttl", "n3", "text/turtle"}

Statement = tuple[str, str, Term]


def load_file(path: Path, relpath: str, index: int, b: Builder, ledger: Ledger, source: str, *,
              fmt: str | None, skip: Collection[str], opts: tables.Options,
              contexts: Mapping[str, str] | None = None) -> None:
    """Load one input file into ``b``; malformed parts go to ``ledger``. Raises ``NotText`` when the
    whole file is unreadable."""
    suffix = textio.base_suffix(path)
    if fmt in TABLE_FORMATS:
        tables.load(path, relpath, index, b, ledger, source, opts, fmt)
        return
    if suffix in (".csv", ".tsv") or (fmt is None and suffix in TABLE_SUFFIXES):
        tables.load(path, relpath, index, b, ledger, source, opts)
        return
    head = _head(path)
    if fmt is None and suffix == ".json" and not re.search(rb'"@(context|graph|id)"', head):
        tables.load(path, relpath, index, b, ledger, source, opts)
        return
    if fmt is None and suffix not in (*RDF_SUFFIXES, ".json") and (table := _table_format(path, head)) is not None:
        tables.load(path, relpath, index, b, ledger, source, opts, table)
        return
    fmt = fmt or _sniff(suffix, head)
    if fmt is None:
        raise NotText(f"cannot tell the format of a {suffix or '(no suffix)'!r} file from its content; expected "
                      f"RDF ({', '.join(RDF_SUFFIXES)}), triples or entity records (CSV, TSV, JSON, JSON lines); "
                      "pass --format tsv|csv|turtle|nt|xml|json-ld", "unsupported_format")
    where = functools.partial(records.record_id, source, relpath)
    if fmt.lower() in LINE_FORMATS:
        statements = list(_ntriples(path, index, ledger, where))
    else:
        statements = _rdflib(path, fmt, index, ledger, where, contexts or {})
    rdf.interpret(statements, index, b, skip)


def _head(path: Path) -> bytes:
    with textio.open_binary(path) as f:
        return f.read(4096)


def _table_format(path: Path, head: bytes) -> str | None:
    """``csv``/``tsv``/``json``/``jsonl`` when an unknown-suffix file holds a table or JSON records."""
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if start.startswith((b"<", b"@prefix", b"@base", b"PREFIX", b"_:")):
        return None  # N-Triples or Turtle
    return textio.sniff_format(path)


def _sniff(suffix: str, head: bytes) -> str | None:
    fmt = RDF_SUFFIXES.get(suffix)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if suffix in (".owl", ".rdf", ".xml", ".json"):
        fmt = "xml" if start[:1] == b"<" else "json-ld" if start[:1] in (b"{", b"[") else "turtle"
    elif fmt is None and start[:1] in (b"<", b"_"):
        fmt = "nt" if re.match(rb"(?:<[^>\s]*>|_:\S+)\s+<[^>\s]*>", start) else "xml"
    elif fmt is None and start.lower().startswith((b"@prefix", b"@base", b"prefix")):
        fmt = "turtle"
    return fmt


# --- N-Triples / N-Quads, line by line ---------------------------------------------------------

_IRI = r"<([^<>\"\s]*)>"
_BNODE = r"_:([^\s<>\"]*[^\s<>\".])"
_LITERAL = r'"((?:[^"\\]|\\.)*)"(?:@([A-Za-z]+(?:-[A-Za-z0-9]+)*)|\^\^<([^<>"\s]*)>)?'
_LINE = re.compile(rf"\s*(?:{_IRI}|{_BNODE})\s*{_IRI}\s*(?:{_IRI}|{_BNODE}|{_LITERAL})"
                   rf"\s*(?:(?:{_IRI}|{_BNODE})\s*)?\.\s*(?:#.*)?")
_PARTS = ((re.compile(rf"\s*(?:{_IRI}|{_BNODE})"), "an IRI <...> or blank node _:x as subject"),
          (re.compile(rf"\s*{_IRI}"), "an IRI <...> as predicate"),
          (re.compile(rf"\s*(?:{_IRI}|{_BNODE}|{_LITERAL})"), "an IRI, blank node or \"literal\" as object"),
          (re.compile(rf"\s*(?:(?:{_IRI}|{_BNODE})\s*)?\.\s*(?:#.*)?$"), "' .' at the end of the statement"))
_ESCAPE = re.compile(r"\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))")
_SIMPLE = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return _ESCAPE.sub(lambda m: chr(int(m[1] or m[2], 16)) if (m[1] or m[2]) else _SIMPLE.get(m[3], m[3]),
                       value)


def _diagnose(line: str) -> str:
    pos = 0
    for pattern, expected in _PARTS:
        m = pattern.match(line, pos)
        if m is None:
            return f"expected {expected} at column {pos + 1}: {line[pos:pos + 40].strip()!r}"
        pos = m.end()
    return "not an N-Triples statement"


def _ntriples(path: Path, index: int, ledger: Ledger, where: Any) -> Iterator[Statement]:
    for n, line in textio.iter_lines(path):
        if isinstance(line, Problem):
            ledger.quarantine(where(f"L{n}"), line.reason, f"kg: {line.message}")
            continue
        if line.lstrip().startswith("#"):
            continue
        m = _LINE.fullmatch(line)
        if m is None:
            ledger.quarantine(where(f"L{n}"), "malformed_rdf",
                              f"kg: line {n}: {_diagnose(line)}; fix or remove the line")
            continue
        s = _unescape(m[1]) if m[1] is not None else f"_:f{index}{m[2]}"
        if m[4] is not None:
            o: Term = _unescape(m[4])
        elif m[5] is not None:
            o = f"_:f{index}{m[5]}"
        else:
            o = Lit(_unescape(m[6]), m[7].lower() if m[7] else None, m[8])
        yield s, _unescape(m[3]), o


# --- rdflib formats ---------------------------------------------------------------------------


def _convert(raw: list[tuple[Any, Any, Any]], index: int, scope: str, bnodes: dict[str, str]) -> list[Statement]:
    """rdflib terms into plain statements, numbering blank nodes by first appearance."""

    def term(t: Any) -> Term:
        if isinstance(t, rdflib.Literal):
            return Lit(str(t), t.language.lower() if t.language else None, str(t.datatype) if t.datatype else None)
        if isinstance(t, rdflib.BNode):
            key = f"{scope}{t}"
            if key not in bnodes:
                bnodes[key] = f"_:f{index}b{len(bnodes)}"
            return bnodes[key]
        return str(t)

    return [(term(s), str(p), term(o)) for s, p, o in raw]  # type: ignore[misc]


def _message(err: Exception) -> str:
    """A one-line parser message."""
    m = re.search(r"at line (\d+).*?Bad syntax \((.*?)\) at \^", str(err), re.S)
    if m:
        return f"line {m[1]}: {m[2]}"
    return " ".join(str(err).split())[:300] or type(err).__name__


def _rdflib(path: Path, fmt: str, index: int, ledger: Ledger, where: Any,
            contexts: Mapping[str, str] | None = None) -> list[Statement]:
    with textio.open_binary(path) as f:
        data = f.read()
    if not data.strip():
        raise NotText("empty file", "empty_file")
    base = f"file:///{path.name}"
    try:
        return _convert(parsing.parse(data, fmt, base, contexts or {}), index, "", {})
    except NotText:
        raise  # a reference outside the input, an entity bomb: the whole file, with its own reason
    except rdflib.plugin.PluginException:
        raise NotText(f"unknown RDF format {fmt!r}; use one of turtle, nt, xml, json-ld, n3, trig, nquads",
                      "unsupported_format") from None
    except Exception as err:  # each rdflib parser raises its own error types
        if fmt.lower() not in SALVAGEABLE:
            raise NotText(f"malformed RDF ({fmt}): {_message(err)}; fix the file or convert it to "
                          "N-Triples, which loads line by line", "malformed_rdf") from None
        first_error = _message(err)
    return _salvage(data.decode("utf-8", "replace"), fmt, base, index, ledger, where, first_error)


# --- salvaging a broken Turtle file ------------------------------------------------------------

_DIRECTIVE = re.compile(r"\s*(@prefix|@base|prefix|base)\b", re.I)
_END = re.compile(r"\.\s*(?:#[^\"'<>]*)?$")  # a statement's final '.', maybe followed by a comment
MAX_BAD_PIECES = 1000  # then the rest of a file that is broken throughout is one row


def _ends(lines: list[str]) -> set[int]:
    """Line numbers (1-based) after which a statement may end: '.' at the end, outside a long string."""
    ends, inside = set(), False
    for n, line in enumerate(lines, 1):
        if (line.count('"""') + line.count("'''")) % 2:
            inside = not inside
        if not inside and not line.lstrip().startswith("#") and _END.search(line):
            ends.add(n)
    return ends


def _blocks(lines: list[str]) -> list[tuple[int, int]]:
    """Runs of statement lines between blank lines, as (first, last) line numbers."""
    blocks, start = [], None
    for n, line in enumerate([*lines, ""], 1):
        body = line.strip() and not _DIRECTIVE.match(line)
        if body and start is None:
            start = n
        elif not line.strip() and start is not None:
            blocks.append((start, n - 1))
            start = None
    return blocks


def _salvage(text: str, fmt: str, base: str, index: int, ledger: Ledger, where: Any,
             first_error: str) -> list[Statement]:
    """Parse a broken Turtle file piece by piece (see module doc) and ledger the pieces that fail."""
    lines = text.split("\n")
    header = "\n".join(line for line in lines if _DIRECTIVE.match(line))
    ends = _ends(lines)
    todo = _blocks(lines)
    if not todo:
        raise NotText(f"malformed RDF ({fmt}): {first_error}", "malformed_rdf")
    statements: list[Statement] = []
    bnodes: dict[str, str] = {}
    bad: list[tuple[int, int, str]] = []
    while todo:
        a, z = todo.pop(0)
        if len(bad) >= MAX_BAD_PIECES:
            bad.append((a, todo[-1][1] if todo else z, f"not parsed after {MAX_BAD_PIECES} broken statements"))
            break
        chunk = "\n".join("" if _DIRECTIVE.match(line) else line for line in lines[a - 1:z])
        try:
            raw = parsing.parse(f"{header}\n{chunk}\n", fmt, base)
        except NotText:
            raise
        except Exception as err:  # one bad statement must not lose the others
            cuts = sorted(e for e in ends if a <= e < z)
            if cuts:  # halve the piece at the statement end nearest its middle and try both halves
                cut = min(cuts, key=lambda e: abs(2 * e - a - z))
                todo[:0] = [p for p in ((a, cut), (cut + 1, z)) if any(x.strip() for x in lines[p[0] - 1:p[1]])]
                continue
            msg = _message(err)
            if m := re.match(r"line (\d+): (.*)", msg):  # the parser counts the header lines too
                msg = f"line {int(m[1]) - header.count(chr(10)) - 2 + a}: {m[2]}"
            bad.append((a, z, msg))
            continue
        statements += _convert(raw, index, f"{a}:", bnodes)
    loaded = (f"the file's other lines gave {len(statements):,} statements, which were loaded" if statements
              else "no other line of the file parsed either, so nothing of it was loaded")
    for a, z, msg in bad:
        ledger.quarantine(where(f"L{a}-{z}"), "malformed_rdf", f"kg: lines {a}-{z}: {msg}; left out; {loaded}")
    return statements

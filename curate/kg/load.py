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

A Turtle or N3 file with a syntax error is salvaged block by block: it is cut at blank lines, each
block is parsed with the file's ``@prefix``/``@base`` declarations, and each block that still fails
becomes one quarantine row (``#L<first>-<last>``) with the parser's message; blank-node labels
(``_:x``) are then scoped to their block. Other rdflib formats with a syntax error quarantine the
whole file (reason ``malformed_rdf``).

Statements keep the parser's order, and blank nodes are numbered by first appearance in their file
(``_:f<file>b<n>``), so the same file always gives the same graph (rdflib's own blank-node ids and
its store's iteration order are random).
"""

from __future__ import annotations

import functools
import re
import warnings
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import rdflib
from rdflib.store import Store

from curate.core import records
from curate.core.ledger import Ledger
from curate.kg import rdf, tables
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
              fmt: str | None, skip: Collection[str], opts: tables.Options) -> None:
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
        statements = _rdflib(path, fmt, index, ledger, where)
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


class _Recorder(Store):
    """An rdflib store that only records statements in the order the parser emits them."""

    context_aware = formula_aware = graph_aware = True

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[Any, Any, Any]] = []
        self._ns: dict[str, Any] = {}

    def add(self, triple: Any, context: Any = None, quoted: bool = False) -> None:
        self.seen.append(triple)

    def addN(self, quads: Any) -> None:  # rdflib's name
        self.seen.extend((s, p, o) for s, p, o, _ in quads)

    def bind(self, prefix: str, namespace: Any, override: bool = True, replace: bool = False) -> None:
        self._ns[prefix] = namespace

    def namespace(self, prefix: str) -> Any:
        return self._ns.get(prefix)

    def prefix(self, namespace: Any) -> None:
        return None

    def namespaces(self) -> Iterator[tuple[str, Any]]:
        return iter(list(self._ns.items()))

    def add_graph(self, graph: Any) -> None:
        return None

    def triples(self, pattern: Any, context: Any = None) -> Iterator[Any]:
        return iter(())

    def contexts(self, triple: Any = None) -> Iterator[Any]:
        return iter(())

    def __len__(self, context: Any = None) -> int:
        return len(self.seen)


def _parse(data: bytes | str, fmt: str, base: str) -> list[tuple[Any, Any, Any]]:
    store = _Recorder()
    with warnings.catch_warnings():  # rdflib's JSON-LD parser warns about its own internals
        warnings.simplefilter("ignore", DeprecationWarning)
        rdflib.Graph(store=store).parse(data=data, format=fmt, publicID=base)
    return store.seen


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


def _rdflib(path: Path, fmt: str, index: int, ledger: Ledger, where: Any) -> list[Statement]:
    with textio.open_binary(path) as f:
        data = f.read()
    if not data.strip():
        raise NotText("empty file", "empty_file")
    base = f"file:///{path.name}"
    try:
        return _convert(_parse(data, fmt, base), index, "", {})
    except rdflib.plugin.PluginException:
        raise NotText(f"unknown RDF format {fmt!r}; use one of turtle, nt, xml, json-ld, n3, trig, nquads",
                      "unsupported_format") from None
    except Exception as err:  # each rdflib parser raises its own error types
        if fmt.lower() not in SALVAGEABLE:
            raise NotText(f"malformed RDF ({fmt}): {_message(err)}; fix the file or convert it to "
                          "N-Triples, which loads line by line", "malformed_rdf") from None
        first_error = _message(err)
    text = data.decode("utf-8", "replace")
    return _salvage(text, fmt, base, index, ledger, where, first_error)


_DIRECTIVE = re.compile(r"\s*(@prefix|@base|prefix|base)\b", re.I)


def _salvage(text: str, fmt: str, base: str, index: int, ledger: Ledger, where: Any,
             first_error: str) -> list[Statement]:
    """Parse a broken Turtle file block by block (see module doc)."""
    lines = text.split("\n")
    header = "\n".join(line for line in lines if _DIRECTIVE.match(line))
    blocks: list[tuple[int, int]] = []
    start = None
    for n, line in enumerate([*lines, ""], 1):
        body = line.strip() and not _DIRECTIVE.match(line)
        if body and start is None:
            start = n
        elif not line.strip() and start is not None:
            blocks.append((start, n - 1))
            start = None
    statements: list[Statement] = []
    bnodes: dict[str, str] = {}
    for a, z in blocks:
        chunk = "\n".join(line for line in lines[a - 1:z] if not _DIRECTIVE.match(line))
        try:
            raw = _parse(f"{header}\n{chunk}\n", fmt, base)
        except Exception as err:  # one bad block must not lose the others
            msg = _message(err)
            m = re.match(r"line (\d+): (.*)", msg)
            if m:  # the parser counts the header lines too
                msg = f"line {int(m[1]) - header.count(chr(10)) - 1 + a - 1}: {m[2]}"
            ledger.quarantine(where(f"L{a}-{z}"), "malformed_rdf",
                              f"kg: lines {a}-{z}: {msg}; the rest of the file was loaded")
            continue
        statements += _convert(raw, index, f"{a}:", bnodes)
    if not blocks:
        raise NotText(f"malformed RDF ({fmt}): {first_error}", "malformed_rdf")
    return statements

"""rdflib parsing that reads nothing but the input: no network, no other file, bounded entity expansion.

- **RDF/XML and TriX** are parsed by rdflib's own handlers on an expat reader set up here: external
  entities and external DTDs are never loaded (a reference to one is an error that names it), every
  internal entity's full expansion is computed from the DTD before the document body is read and one
  above ``ENTITY_LIMIT`` characters stops the parse at once (the "billion laughs" file fails in
  milliseconds, not after the 8 MiB and 100x amplification that expat itself allows), and the
  characters the parser may deliver in all (text and attribute values, entities expanded) are capped
  at ``EXPANSION_FACTOR`` times the file plus ``EXPANSION_FLOOR``. Character data reaches rdflib in
  buffered chunks, since rdflib appends each chunk to a string and tiny chunks made that quadratic.
- **JSON-LD**: every ``@context`` (and ``@import``) that names a URL or a file is replaced, before
  rdflib sees the document, by the local copy the recipe maps it to (``jsonld_contexts``: URL -> local
  file), recursively; one that the recipe does not map stops the file with a message that says how to
  map it. rdflib is never handed a reference it could fetch.
- ``owl:imports`` is a statement like any other: nothing is fetched. Turtle, N3, TriG and N-Quads have
  no way to include other documents.

Errors are ``NotText`` with reason ``external_reference`` or ``entity_expansion``, so the file is one
quarantine row.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from xml.parsers import expat
from xml.sax import handler
from xml.sax.expatreader import ExpatParser

import rdflib
from rdflib.parser import create_input_source
from rdflib.store import Store

from curate.text.textio import NotText

XML_FORMATS = {"xml", "application/rdf+xml", "trix", "application/trix"}
JSONLD_FORMATS = {"json-ld", "application/ld+json"}
ENTITY_LIMIT = 1 << 16  # characters one entity may expand to; ontologies use entities for IRI prefixes
EXPANSION_FACTOR, EXPANSION_FLOOR = 10, 16 << 20  # characters delivered in all, per byte of input + floor
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_REF = re.compile(r"&([A-Za-z_:][\w.:-]*);")
_PREDEFINED = {"lt", "gt", "amp", "apos", "quot"}


class Recorder(Store):
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


def parse(data: bytes | str, fmt: str, base: str, contexts: Mapping[str, str] | None = None) -> list[tuple]:
    """The statements of ``data`` in ``fmt`` (an rdflib format name), in the parser's order."""
    store = Recorder()
    graph = rdflib.Graph(store=store)
    kind = fmt.lower()
    if kind in JSONLD_FORMATS:
        data = inline_contexts(data, contexts or {})
    with warnings.catch_warnings():  # rdflib's JSON-LD parser warns about its own internals
        warnings.simplefilter("ignore", DeprecationWarning)
        if kind in XML_FORMATS:
            _parse_xml(data, kind, base, graph)
        else:
            graph.parse(data=data, format=fmt, publicID=base)
    return store.seen


# --- XML ---------------------------------------------------------------------------------------


def _expansions(entities: dict[str, str], limit: int) -> dict[str, int]:
    """Characters each internal entity expands to, capped at ``limit + 1``, computed without expanding;
    an entity that refers to itself, directly or not, counts as over the limit."""
    sizes: dict[str, int] = {}
    for root in entities:
        stack, on_path = [(root, False)], set()
        while stack:
            name, children_done = stack.pop()
            if name in sizes:
                continue
            refs = _REF.findall(entities[name])
            if children_done:
                on_path.discard(name)
                total = len(_REF.sub("", entities[name]))
                for ref in refs:  # a predefined or undeclared name is one character, or expat's error later
                    total += sizes.get(ref, limit + 1) if ref in entities else 1
                sizes[name] = min(total, limit + 1)
            elif name in on_path:
                sizes[name] = limit + 1  # a cycle
            else:
                on_path.add(name)
                stack.append((name, True))
                stack.extend((r, False) for r in set(refs) if r in entities and r not in sizes)
    return sizes


class _BoundedReader(ExpatParser):
    """xml.sax's expat reader with external entities refused and entity expansion bounded."""

    def __init__(self, budget: int):
        super().__init__()
        self._budget = budget
        self._entities: dict[str, str] = {}
        for feature in (handler.feature_external_ges, handler.feature_external_pes):
            self.setFeature(feature, 0)
        self.setFeature(handler.feature_namespaces, 1)

    def reset(self) -> None:
        """Set up a fresh expat parser (the base class's), then add the limits to it."""
        super().reset()
        p = self._parser
        p.buffer_text, p.buffer_size = True, 1 << 16
        p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        p.EntityDeclHandler = self._entity
        p.EndDoctypeDeclHandler = self._end_dtd
        p.ExternalEntityRefHandler = self._external
        chars, start = p.CharacterDataHandler, p.StartElementHandler

        def counted_chars(data: str) -> None:
            self._spend(len(data))
            chars(data)

        def counted_start(name: str, attrs: dict[str, str]) -> None:
            self._spend(sum(len(v) for v in attrs.values()))
            start(name, attrs)

        p.CharacterDataHandler, p.StartElementHandler = counted_chars, counted_start

    def _spend(self, n: int) -> None:
        self._budget -= n
        if self._budget < 0:
            raise NotText("XML entity expansion beyond the limit of characters for a file of this size "
                          "(an entity-expansion attack or a broken DTD); not parsed", "entity_expansion")

    def _entity(self, name: str, is_parameter: bool, value: str | None, base: Any, system_id: str | None,
                public_id: str | None, notation: str | None) -> None:
        if value is not None and not is_parameter:
            self._entities.setdefault(name, value)

    def _end_dtd(self) -> None:
        for name, size in _expansions(self._entities, ENTITY_LIMIT).items():
            if size > ENTITY_LIMIT:
                raise NotText(f"the XML entity &{name}; expands to more than {ENTITY_LIMIT:,} characters (an "
                              "entity-expansion attack, 'billion laughs', or a broken DTD); not parsed",
                              "entity_expansion")

    def _external(self, context: Any, base: Any, system_id: str | None, public_id: str | None) -> int:
        raise NotText(f"the XML refers to an external entity or DTD ({system_id or public_id!r}); curate reads "
                      "no file or URL named inside an input: inline it or remove the reference",
                      "external_reference")


def _parse_xml(data: bytes | str, kind: str, base: str, graph: rdflib.Graph) -> None:
    from rdflib.plugins.parsers import rdfxml, trix

    source = create_input_source(data=data, publicID=base, format="xml")
    reader = _BoundedReader(EXPANSION_FACTOR * len(data) + EXPANSION_FLOOR)
    reader.start_namespace_decl("xml", _XML_NS)  # rdflib's workaround for expat guessing the xml prefix
    if "trix" in kind:
        content: Any = trix.TriXHandler(graph.store)
        reader.setErrorHandler(trix.ErrorHandler())
    else:
        content = rdfxml.RDFXMLHandler(graph)
        content.setDocumentLocator(source)  # as rdflib's create_parser does
        reader.setErrorHandler(rdfxml.ErrorHandler())
    reader.setContentHandler(content)
    reader.parse(source)


# --- JSON-LD -----------------------------------------------------------------------------------


def inline_contexts(data: bytes | str, contexts: Mapping[str, str]) -> str:
    """``data`` with every referenced ``@context``/``@import`` replaced by its local copy (see module doc)."""
    try:
        doc = json.loads(data)
        return json.dumps(_Inliner(contexts).value(doc, ()), ensure_ascii=False)
    except RecursionError:
        raise NotText("JSON-LD nested too deeply to read", "malformed_rdf") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise NotText(f"malformed JSON-LD: {err}", "malformed_rdf") from None


def _key(ref: str) -> str:
    return ref.strip().rstrip("/#")


class _Inliner:
    def __init__(self, contexts: Mapping[str, str]):
        self.contexts = {_key(url): path for url, path in contexts.items()}
        self.loaded: dict[str, Any] = {}

    def value(self, node: Any, chain: tuple[str, ...]) -> Any:
        """A JSON value with the contexts inside it inlined."""
        if isinstance(node, list):
            return [self.value(v, chain) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, v in node.items():
            out[key] = self.context(v, chain) if key == "@context" else self.value(v, chain)
        if isinstance(out.get("@import"), str):  # JSON-LD 1.1: merged in, the importing context wins
            imported = self.fetch(out.pop("@import"), chain)
            out = {**(imported if isinstance(imported, dict) else {}), **out}
        return out

    def context(self, ctx: Any, chain: tuple[str, ...]) -> Any:
        """One ``@context`` value: a reference, a definition, null, or a list of them."""
        if isinstance(ctx, list):
            return [self.context(c, chain) for c in ctx]
        if isinstance(ctx, str):
            return self.fetch(ctx, chain)
        return self.value(ctx, chain)

    def fetch(self, ref: str, chain: tuple[str, ...]) -> Any:
        """The local copy of context ``ref``, its own references inlined."""
        path = self.contexts.get(_key(ref))
        if path is None:
            raise NotText(f"the JSON-LD context {ref!r} is not read: curate fetches nothing from the network or "
                          f"from files named inside an input; save the context and name it in the recipe "
                          f"([options.jsonld_contexts] \"{ref}\" = \"<local file>\")", "external_reference")
        if ref in chain:
            raise NotText(f"the JSON-LD context {ref!r} imports itself ({' -> '.join((*chain, ref))})",
                          "malformed_rdf")
        if ref not in self.loaded:
            try:
                doc = json.loads(Path(path).read_bytes())
            except (OSError, ValueError) as err:
                raise NotText(f"the local JSON-LD context {path} (for {ref!r}) cannot be read: {err}",
                              "external_reference") from None
            if not isinstance(doc, dict) or "@context" not in doc:
                raise NotText(f"the local JSON-LD context {path} (for {ref!r}) has no top-level @context",
                              "malformed_rdf")
            self.loaded[ref] = self.context(doc["@context"], (*chain, ref))
        return self.loaded[ref]

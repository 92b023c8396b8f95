"""Knowledge graphs into pre-training text: load triples, build a graph, sample sub-graphs, verbalise.

- ``load``: RDF files (rdflib formats; N-Triples line by line) into statements;
- ``tables``: TSV/CSV triples and JSON/CSV entity records into triples;
- ``rdf``: RDF and OWL semantics (labels, definitions, restrictions, annotations) into triples;
- ``labels``: readable names for entities and relations, by language;
- ``graph``: the triple store and its networkx graph;
- ``sample``: seeded sub-graphs at several scales with a coverage guarantee;
- ``verbalise``: sub-graphs into zh or en text through ``templates/kg/<lang>/*.j2``.

``curate.readers.kg`` ties them together.
"""

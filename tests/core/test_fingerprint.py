"""Per-step code versions and the on-disk input digest cache."""

from __future__ import annotations

import json

from curate.core import fingerprint as fp


def test_closures_stay_inside_the_wings_a_step_uses():
    clean = fp.closure("curate.filters.clean")
    assert "curate.filters.clean" in clean and "curate.text.normalise" in clean
    pipeline = fp.closure("curate.build.pipeline")
    assert not any(m.startswith(("curate.eval", "curate.train", "curate.cli")) for m in pipeline)
    assert "curate.dedup.lsh" in pipeline and "curate.filters.phi" in pipeline  # lazy imports count
    assert "curate.readers.books" in fp.closure("curate.readers.books")



def _imports_by_syntax_tree(module: str) -> frozenset[str]:
    import ast

    names: set[str] = set()
    for node in ast.walk(ast.parse(fp._source(module)[1])):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return frozenset(n for n in names if n.startswith("curate") and fp._source(n) is not None)


def test_imports_read_from_the_text_are_those_of_the_syntax_tree():
    """Every module of the package: the text scan finds exactly the imports the parser does (parenthesised
    lists with comments, ``as`` names, lazy imports in functions), so code versions are unchanged by it."""
    from pathlib import Path

    import curate

    root = Path(curate.__file__).parent
    modules = [".".join(p.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__")
               for p in sorted(root.rglob("*.py"))]
    assert len(modules) > 50
    for module in modules:
        assert fp._imports(module) == _imports_by_syntax_tree(module), module


def test_import_text_in_comments_is_not_an_import(monkeypatch):
    source = ("x = 1  # from curate.eval import run\n"
              "from curate.text import (  # (a comment with parentheses)\n    normalise,  # one\n    templates,\n)\n"
              "def f():\n    import curate.dedup.lsh as lsh, curate.core.shards\n")
    monkeypatch.setattr(fp, "_source", lambda m: ("x.py", source) if m == "curate.fake" else REAL_SOURCE(m))
    fp._imports.cache_clear()
    try:
        assert fp._imports("curate.fake") == {"curate.text", "curate.text.normalise", "curate.text.templates",
                                               "curate.dedup.lsh", "curate.core.shards"}
    finally:
        fp._imports.cache_clear()

def _build(tmp_path, monkeypatch):
    from curate.build import pipeline, recipes
    from tests.build.test_pipeline import _qa_inputs, _recipe

    if not (tmp_path / "inputs").exists():
        _qa_inputs(tmp_path / "inputs", files=2, rows=30)
    spec = recipes.load_corpus(_recipe(tmp_path, tmp_path / "inputs"))
    return pipeline.run(spec, tmp_path / "out", workers=1, tokenize_docs=False, progress=False)


REAL_SOURCE = fp._source
EDITED: dict[str, tuple[str, str]] = {}


def _edit(monkeypatch, module: str) -> None:
    """Pretend ``module``'s source changed (a comment added)."""
    original = REAL_SOURCE(module)
    EDITED[module] = (original[0], original[1] + "\n# edited\n")
    monkeypatch.setattr(fp, "_source", lambda m: EDITED.get(m) or REAL_SOURCE(m))
    fp.module_version.cache_clear()
    fp.closure.cache_clear()
    fp._imports.cache_clear()


def test_an_unrelated_edit_reruns_nothing_and_a_step_edit_reruns_its_tasks(tmp_path, monkeypatch):
    first = _build(tmp_path, monkeypatch)
    assert first.ran > 0
    _edit(monkeypatch, "curate.eval.metrics")
    assert _build(tmp_path, monkeypatch).ran == 0
    _edit(monkeypatch, "curate.filters.clean")
    again = _build(tmp_path, monkeypatch)
    assert again.ran >= 2 and again.skipped >= 2  # prepare, and what follows it; not the readers
    flow = json.loads((tmp_path / "out" / "flow.json").read_text())
    assert [p["pass"] for p in flow["qa"]["passes"]] == ["read", "prepare", "apply"]
    monkeypatch.undo()
    EDITED.clear()
    fp.module_version.cache_clear()


def test_digests_are_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(fp, "DIGESTS", fp.DigestCache())
    f = tmp_path / "raw.txt"
    f.write_text("some raw input")
    sha = fp.digest(f)
    fresh = fp.DigestCache()  # another run: nothing in memory
    monkeypatch.setattr(fp, "DIGESTS", fresh)
    opened = []
    real_open = open
    monkeypatch.setattr("builtins.open", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    assert fp.digest(f) == sha and str(f) not in map(str, opened)
    f.write_text("changed raw input")  # size and mtime change: hashed again
    assert fp.digest(f) != sha


def test_task_outputs_are_hashed_for_their_marker_but_not_kept_on_disk(tmp_path, monkeypatch):
    """An output's digest lives in its task's marker; writing it to the on-disk cache too would wait for
    the disk once per output file, for nothing."""
    import sqlite3

    from curate.core.executor import Executor
    from tests.core.test_executor import _tasks

    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(fp, "DIGESTS", fp.DigestCache())
    with Executor(1, progress=False) as ex:
        done = ex.run(_tasks(tmp_path), "t")
    out = done["t/0"].files("out")[0]
    marker = json.loads(next((tmp_path / "out" / ".done").glob("*.json")).read_text())
    assert all(len(e["sha256"]) == 64 for entries in marker["outputs"].values() for e in entries)
    rows = sqlite3.connect(tmp_path / "cache" / "digests.sqlite").execute("SELECT path FROM digests").fetchall()
    assert str(out.absolute()) not in {r[0] for r in rows}
    assert any(r[0].endswith("in0.txt") for r in rows)  # the raw inputs are

"""A whole build reads its inputs and nothing else: no socket, no file outside the inputs and the build."""

from __future__ import annotations

from pathlib import Path

from curate.build import pipeline, recipes
from curate.instruct import build, recipe
from tests.conftest import ROOT, Isolation


def test_sample_builds_use_no_network_and_no_outside_file(tmp_path: Path, no_network: Isolation,
                                                          monkeypatch) -> None:
    """Stage 1, 2 and 3 from the bundled samples, in this process (one worker), so every open is seen. The one
    place outside the inputs and the build that a build reads and writes is the user cache (input digests,
    compiled report templates, tokenizer sizes, each keyed by content): it changes how long, never what."""
    monkeypatch.setenv("CURATE_CACHE_DIR", str(tmp_path / "cache"))
    no_network.watch_files(tmp_path)
    pipeline.run(recipes.load_corpus(ROOT / "recipes" / "stage1.toml"), tmp_path / "stage1", workers=1,
                 progress=False)
    for name in ("stage2", "stage3"):
        build.run(recipe.load(ROOT / "recipes" / f"{name}.toml"), tmp_path / name, workers=1, progress=False)
    assert (tmp_path / "stage1" / "manifest.json").is_file() and (tmp_path / "stage3" / "packed").is_dir()
    assert no_network.network == []
    assert sorted(set(no_network.files)) == []
    assert list((tmp_path / "cache" / "jinja").iterdir()) and list((tmp_path / "cache" / "tokenizers").iterdir())


def test_the_guard_refuses_sockets_and_records_outside_files(tmp_path: Path, no_network: Isolation) -> None:
    import socket

    import pytest

    no_network.watch_files(tmp_path / "inside")
    with pytest.raises(OSError, match="network access during a test"), socket.socket() as s:
        s.connect(("127.0.0.1", 9))
    with pytest.raises(OSError, match="network access during a test"):
        socket.getaddrinfo("example.org", 443)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    outside.read_text()
    assert [e.split()[0] for e in no_network.network] == ["socket.connect", "socket.getaddrinfo"]
    assert str(outside) in no_network.files
    no_network.network.clear()  # the fixture fails a test that leaves any

"""Local reference builds of the sample stages, shared by the Ray and object-storage tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def data(root: Path) -> dict[str, bytes]:
    """Every data file of a build (not its done-markers, which hold times, nor its lock file, which is not
    published); the manifest without its config, which names the inputs relative to where the build is."""
    files = {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
             if p.is_file() and ".done" not in p.parts and p.name != ".lock"}
    manifest = json.loads(files.pop("manifest.json"))
    manifest.pop("config")
    files["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
    return files


def corpus(recipe: Path, out: str, *extra: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """``curate corpus RECIPE --out OUT`` in a subprocess."""
    return subprocess.run([sys.executable, "-m", "curate", "corpus", str(recipe), "--out", out, "--no-progress",
                           *extra], capture_output=True, text=True, timeout=600, env={**os.environ, **(env or {})})


@pytest.fixture(scope="session")
def local_build(tmp_path_factory):
    """``local_build(stage)``: the sample stage built locally once per session (its build directory)."""
    root = tmp_path_factory.mktemp("local")
    built: dict[str, Path] = {}

    def get(stage: str) -> Path:
        if stage not in built:
            result = corpus(ROOT / "recipes" / f"{stage}.toml", str(root), "--workers", "2")
            assert result.returncode == 0, result.stderr
            built[stage] = root / stage
        return built[stage]

    return get

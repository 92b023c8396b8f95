"""Local reference builds of the sample stages, shared by the Ray and object-storage tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


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

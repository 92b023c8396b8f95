"""The sample stage-1 and stage-2 builds, built once per test session for the report tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from curate.build import pipeline, recipes
from curate.instruct import build as instruct_build
from curate.instruct import recipe as instruct_recipe
from tests.conftest import ROOT


@pytest.fixture(scope="session")
def stage1_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "stage1"
    pipeline.run(recipes.load_corpus(ROOT / "recipes" / "stage1.toml"), root, workers=2, progress=False)
    return root


@pytest.fixture(scope="session")
def stage2_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("report") / "stage2"
    instruct_build.run(instruct_recipe.load(ROOT / "recipes" / "stage2.toml"), root, workers=2, progress=False)
    return root

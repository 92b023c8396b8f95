"""Shared fixtures: the repository's sample data and the optional real public files."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"
REALDATA = ROOT.parent / "shared" / "realdata"


@pytest.fixture
def samples() -> Path:
    """The bundled sample data directory."""
    return SAMPLES


@pytest.fixture
def realdata() -> Path:
    """``../shared/realdata``; tests using it skip when it is absent (a user's clone has none)."""
    if not REALDATA.is_dir():
        pytest.skip("../shared/realdata is not present")
    return REALDATA

"""The hostile cases share one context per test session; the cases that run only subprocesses (builds,
kills, servers) are run up front, several at a time, for the tests that were selected."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.registry import Case, Ctx


@pytest.fixture(scope="session")
def hostile(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Ctx:
    ctx = Ctx(Path(tmp_path_factory.mktemp("hostile")))
    selected = [item.callspec.params["case"] for item in request.session.items
                if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)]
    ctx.prefetch(selected)
    return ctx

"""A worker hands freed memory back after a task only when it holds a lot of it."""

from __future__ import annotations

import sys

import pytest

from curate.core import workers


@pytest.fixture
def trims(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(workers, "_malloc_trim", lambda: calls.append)
    return calls


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
def test_a_process_below_the_bound_keeps_its_free_memory(trims: list[int]) -> None:
    size = workers.resident_bytes()
    assert size is not None and 1 << 20 < size < 1 << 40
    workers.release_memory(above=size * 4)
    assert trims == []
    workers.release_memory(above=size // 2)
    assert trims == [0]


def test_a_process_whose_size_is_unknown_always_hands_memory_back(trims: list[int],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workers, "resident_bytes", lambda: None)
    workers.release_memory(above=1 << 62)
    assert trims == [0]

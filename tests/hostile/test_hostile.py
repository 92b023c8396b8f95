"""Every hostile case (``tests/hostile/cases_*.py``): its input gives its ledger row or a clear one-line
error, loses nothing, hangs not, reaches no network and runs no code.

Cases marked ``xfail`` show a known defect (the reason names it and where it lives); they still run, and
``bench/hostile.py`` prints the same cases as a table."""

from __future__ import annotations

import pytest

from tests.hostile.registry import Case, Ctx, load


def _params() -> list:
    out = []
    for case in load().values():
        marks = [pytest.mark.slow] if case.expensive else []
        if case.xfail:
            marks.append(pytest.mark.xfail(strict=False, reason=case.xfail))
        out.append(pytest.param(case, id=case.id, marks=marks))
    return out


@pytest.mark.parametrize("case", _params())
def test_hostile_input(case: Case, hostile: Ctx) -> None:
    if reason := case.skip_reason():
        pytest.skip(reason)
    defects = hostile.run(case)
    assert not defects, "\n".join(str(d) for d in defects)

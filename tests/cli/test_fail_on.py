"""--fail-on: the shared CI gate of commands that find faults, hazards or differences."""

from __future__ import annotations

import argparse

import pytest

from memattr.cli._common import FAIL_ON, FAIL_STATUS, add_fail_on, fail_status


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_fail_on(p)
    return p.parse_args(list(argv))


def test_status_only_for_named_kinds() -> None:
    """The status is FAIL_STATUS exactly when a named kind was found."""
    assert fail_status(_args(), {"fault"}) == 0
    assert fail_status(_args("--fail-on", "hazard"), {"fault"}) == 0
    assert fail_status(_args("--fail-on", "hazard", "--fail-on", "fault"), {"fault"}) == FAIL_STATUS
    assert fail_status(_args("--fail-on", "diff"), set()) == 0
    assert FAIL_STATUS not in (0, 2)


def test_unknown_kind_is_refused() -> None:
    """A kind outside FAIL_ON is an argument error."""
    with pytest.raises(SystemExit):
        _args("--fail-on", "warning")
    assert set(FAIL_ON) == {"fault", "hazard", "diff"}

"""Report how many command lines the fuzz targets ran."""

from __future__ import annotations

from typing import Any

from .harness import CALLS, SET_ASIDE


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CALLS["count"]:
        terminalreporter.write_line(f"fuzz: {CALLS['count']} generated command lines run "
                                    "in-process, each checked (exit 0/2, one escaped error line, "
                                    "valid JSON, time and memory bounds)")
    for what, n in SET_ASIDE.items():
        terminalreporter.write_line(f"fuzz: {n} inputs set aside, known defect: {what}")

"""Report how many command lines the fuzz targets ran."""

from __future__ import annotations

from typing import Any

from .harness import CALLS


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CALLS["count"]:
        terminalreporter.write_line(f"fuzz: {CALLS['count']} generated command lines run "
                                    "in-process, each checked (exit 0/2, one escaped error line, "
                                    "valid JSON, time and memory bounds)")

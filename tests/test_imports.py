"""Every module of the package imports on its own, first, in a fresh interpreter (no cycle).

An import cycle shows only when the modules of the cycle are imported in a particular order
(``import memattr.linux.policy`` first once failed through ``linux/kvm/__init__``), so each
module gets an interpreter of its own in which it is the first memattr module imported.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"


def _module_names() -> list[str]:
    """Every module under src/memattr, from the files (nothing is imported here)."""
    names = []
    for path in sorted((SRC / "memattr").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__main__":
            continue  # runs the command line when imported (python -m memattr)
        if parts[-1] == "__init__":
            parts.pop()
        names.append(".".join(parts))
    return names


MODULES = _module_names()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the child interpreters: bytecode cached in a private directory (so
    the ~130 imports compile each module once), the source tree left clean."""
    out = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    out["PYTHONPYCACHEPREFIX"] = str(tmp_path_factory.mktemp("pycache"))
    return out


def test_every_module_is_listed() -> None:
    """The list covers the package's layers and its packages (a broken glob would pass)."""
    assert len(MODULES) > 100
    for name in ("memattr", "memattr.linux.policy", "memattr.linux.kvm", "memattr.linux.kvm.mmu",
                 "memattr.analysis.scenario", "memattr.cli", "memattr.arch.granule"):
        assert name in MODULES


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module: str, env: dict[str, str]) -> None:
    """``import <module>`` as the first memattr import of a new interpreter succeeds."""
    proc = subprocess.run(
        [sys.executable, "-c", "import importlib, sys; importlib.import_module(sys.argv[1])",
         module],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 0, f"import {module} failed:\n{proc.stderr[-2000:]}"

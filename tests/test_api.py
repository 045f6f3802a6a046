"""memattr's exported entry points: each resolves, is documented and is shown in docs/api.md."""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import memattr

API_DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
NAMES = [n for n in memattr.__all__ if n != "__version__"]


def test_the_entry_points_are_exported() -> None:
    """Each task of docs/api.md has its entry point in __all__ (a dropped name would pass the
    per-name tests below)."""
    for name in ("decode_mair_attr", "decode_mair", "decode_descriptor", "decode_register",
                 "resolve", "Controls", "load_walk", "translate", "at", "table_rows",
                 "combine_batch", "load_scenario", "replay", "build_matrix", "get_policy",
                 "policies", "Cpu", "get_cpu", "cpu_names", "MemattrError"):
        assert name in NAMES
    assert len(set(memattr.__all__)) == len(memattr.__all__)
    assert set(NAMES) == set(memattr._WHERE)  # the lazy table and __all__ agree
    assert set(NAMES) <= set(dir(memattr))


@pytest.mark.parametrize("name", NAMES)
def test_name_resolves_with_a_docstring(name: str) -> None:
    """``memattr.<name>`` resolves and has a docstring whose first line says what it is."""
    value = getattr(memattr, name)
    doc = inspect.getdoc(value)
    assert doc, f"memattr.{name} has no docstring"
    first = doc.splitlines()[0]
    assert first.endswith(".") and len(first) <= 100, first


@pytest.mark.parametrize("name", [n for n in NAMES if inspect.isfunction(getattr(memattr, n))])
def test_function_docstring_names_its_parameters_and_result(name: str) -> None:
    """An exported function documents each parameter (``:param x:``) and what it returns."""
    fn = getattr(memattr, name)
    doc = inspect.getdoc(fn) or ""
    params = [p for p in inspect.signature(fn).parameters if p not in ("self", "cls")]
    missing = [p for p in params if not re.search(rf":param {p}:|:param {p} ", doc)]
    assert not missing, f"memattr.{name}: parameters without :param: {missing}"
    assert ":returns:" in doc or name in {"cpu_names", "policies"}, name


@pytest.mark.parametrize("name", NAMES)
def test_api_doc_mentions_name(name: str) -> None:
    """docs/api.md shows every exported name (in code: `name` or memattr.name)."""
    text = API_DOC.read_text()
    assert f"`{name}`" in text or f"memattr.{name}" in text, name


def test_unknown_name_is_an_attribute_error() -> None:
    """A name memattr does not export raises AttributeError (hasattr stays false)."""
    assert not hasattr(memattr, "no_such_entry_point")


def test_import_memattr_loads_no_submodule() -> None:
    """``import memattr`` alone imports nothing of the package but its lazy-attribute helper
    (the CLI's start-up)."""
    env = {k: v for k, v in os.environ.items()}
    code = ("import sys, memattr; "
            "print(sorted(m for m in sys.modules if m.startswith('memattr')))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "['memattr', 'memattr._lazy']"

"""The package is layered: a lower layer never imports a higher one (STYLE.md, 'Layers')."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "memattr"

# Lower index = lower layer.  interop and report share a rank; cli is on top.
RANK = {
    "errors": 0,
    "inputs": 0,  # bounded files, the TOML reader, the terminal sanitiser: usable everywhere
    "arch": 1,
    "mmu": 2,
    "platform": 3,
    "linux": 4,
    "analysis": 5,
    "interop": 6,
    "report": 6,
    "cli": 7,
}


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "memattr" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[tuple[int, str]]:
    rel = path.relative_to(SRC.parent).with_suffix("")
    package = list(rel.parts[:-1])  # the package a relative import starts from
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            if node.module is None or _layer_of(mod) is None:
                found += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
    return found


FILES = sorted(p for p in SRC.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_no_upward_imports(path: Path) -> None:
    """No module imports a module of a higher layer."""
    own = path.relative_to(SRC).parts[0].removesuffix(".py")
    if own not in RANK:
        return  # top-level helpers such as __init__ / __main__
    for line, mod in _imports(path):
        layer = _layer_of(mod)
        if layer is None or layer not in RANK:
            continue
        assert RANK[layer] <= RANK[own], f"{path.relative_to(SRC)}:{line} imports {mod} (layer {layer})"


def test_every_layer_is_ranked() -> None:
    """Every package directory under memattr has a rank in the layering table."""
    dirs = {p.name for p in SRC.iterdir() if p.is_dir() and not p.name.startswith("_")}
    dirs -= {"scenarios", "data"}
    assert dirs <= set(RANK), dirs - set(RANK)

"""The start-up-cheap value decorator behaves like dataclasses for what memattr uses."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from memattr import _value_runtime as _value


def _pair(frozen: bool) -> tuple[type, type]:
    classes = []
    for deco, fld in ((dataclasses.dataclass, dataclasses.field), (_value.dataclass, _value.field)):

        @deco(frozen=frozen, slots=True)  # type: ignore[misc]
        class Point:
            x: int
            y: int = 0
            tags: tuple[str, ...] = fld(default=())  # type: ignore[operator]

        classes.append(Point)
    return classes[0], classes[1]


@given(x=st.integers(), y=st.integers(), x2=st.integers(), frozen=st.booleans())
def test_equality_hash_repr_replace_match(x: int, y: int, x2: int, frozen: bool) -> None:
    """Equality, hashing, repr, replace and positional/keyword construction match dataclasses."""
    real, mine = _pair(frozen)
    a, b = real(x, y=y), mine(x, y=y)
    assert repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1]
    assert (real(x, y) == real(x2, y)) == (mine(x, y) == mine(x2, y))
    assert mine(x, y) != real(x, y)  # different classes never compare equal
    if frozen:
        assert hash(mine(x, y)) == hash(mine(x, y))
        assert {mine(x, y), mine(x, y)} == {mine(x, y)}
    else:
        with pytest.raises(TypeError):
            hash(mine(x, y))
    assert _value.replace(b, y=x2) == mine(x, x2)
    assert type(b).__match_args__ == type(a).__match_args__
    assert [f.name for f in _value.fields(b)] == [f.name for f in dataclasses.fields(a)]


def test_frozen_and_slots() -> None:
    """A frozen value rejects assignment and has no __dict__."""
    _, mine = _pair(True)
    p = mine(1)
    with pytest.raises(AttributeError):
        p.x = 2  # type: ignore[misc]
    assert not hasattr(p, "__dict__")
    with pytest.raises(TypeError):
        mine()  # missing required field
    with pytest.raises(TypeError):
        _value.replace(p, z=1)


def test_post_init_runs() -> None:
    """__post_init__ runs after the fields are set and may reject values."""

    @_value.dataclass(frozen=True, slots=True)
    class Positive:
        n: int

        def __post_init__(self) -> None:
            if self.n <= 0:
                raise ValueError("n must be positive")

    assert Positive(3).n == 3
    with pytest.raises(ValueError, match="positive"):
        Positive(0)


def test_query_path_does_not_import_dataclasses() -> None:
    """Loading the arch value modules a query needs leaves dataclasses (and inspect) unimported."""
    import subprocess
    import sys

    code = "import sys, memattr.arch.properties; print('dataclasses' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

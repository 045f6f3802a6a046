"""The start-up-cheap value decorator behaves like dataclasses for what memattr uses."""

from __future__ import annotations

import dataclasses
from typing import ClassVar  # noqa: F401 - dataclasses resolves "ClassVar[int]" here

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


# --- exactly dataclasses for the options memattr passes; everything else refused ---------------


def _both(frozen: bool, slots: bool, body: dict[str, object], annotations: dict[str, str],
          bases: tuple[type, ...] = ()) -> tuple[type, type]:
    """The same class body decorated by dataclasses and by the stand-in."""
    out = []
    for deco in (dataclasses.dataclass, _value.dataclass):
        ns = dict(body, __annotations__=dict(annotations), __module__=__name__,
                  __qualname__="V")
        out.append(deco(frozen=frozen, slots=slots)(type("V", bases, ns)))  # type: ignore[operator]
    return out[0], out[1]


@pytest.mark.parametrize("slots", [False, True], ids=["dict", "slots"])
@pytest.mark.parametrize("frozen", [False, True], ids=["mutable", "frozen"])
def test_generated_methods_match(frozen: bool, slots: bool) -> None:
    """Fields with and without defaults: the same init, repr, eq, hash, attribute rules."""
    real, mine = _both(frozen, slots, {"b": 2, "c": "x"}, {"a": "int", "b": "int", "c": "str"})
    for cls in (real, mine):
        v = cls(1)
        assert (v.a, v.b, v.c) == (1, 2, "x")
        assert repr(v) == "V(a=1, b=2, c='x')"
        assert v == cls(1, 2, "x") and v != cls(2)
        assert cls.__match_args__ == ("a", "b", "c")
        # Defaults stay class attributes without slots and are slots with them.
        assert ("b" in cls.__dict__ and cls.__dict__["b"] == 2) is not slots
        assert hasattr(v, "__dict__") is not slots
        if frozen:
            assert hash(v) == hash((1, 2, "x"))
            with pytest.raises(AttributeError, match="cannot assign to field 'a'"):
                v.a = 3  # type: ignore[misc]
            with pytest.raises(AttributeError, match="cannot delete field 'a'"):
                del v.a  # type: ignore[misc]
        else:
            assert cls.__hash__ is None
            v.a = 3
            assert v.a == 3
        for bad in ((), (1, 2, 3, 4)):
            with pytest.raises(TypeError):
                cls(*bad)
        with pytest.raises(TypeError):
            cls(1, d=4)  # type: ignore[call-arg]
    if frozen and slots:  # __getstate__ / __setstate__, on a class pickle can find
        import pickle

        from memattr.arch.memtype import Cacheability, CacheAttrs

        c = CacheAttrs(Cacheability.WB, True, False, True)
        assert pickle.loads(pickle.dumps(c)) == c


def test_explicit_methods_are_kept() -> None:
    """A class's own __repr__, __eq__, __hash__ and __init__ are not replaced (dataclasses too)."""
    body = {"__repr__": lambda self: "mine", "__hash__": lambda self: 7,
            "__eq__": lambda self, other: True}
    real, mine = _both(True, True, body, {"a": "int"})
    for cls in (real, mine):
        v = cls(1)
        assert (repr(v), hash(v), v == cls(2)) == ("mine", 7, True)
    # __eq__ alone (which sets __hash__ = None in the body): a frozen class gets the field hash.
    real, mine = _both(True, False, {"__eq__": lambda self, other: True, "__hash__": None},
                       {"a": "int"})
    assert hash(real(1)) == hash(mine(1)) == hash((1,))


@pytest.mark.parametrize("frozen", [False, True])
def test_errors_match(frozen: bool) -> None:
    """Misdeclared classes fail as dataclasses fail: the same exception types."""
    cases = [
        ({"a": 1}, {"a": "int", "b": "int"}, TypeError),  # non-default after default
        ({"a": []}, {"a": "list"}, ValueError),  # mutable default
    ]
    if frozen:
        cases.append(({"__setattr__": lambda s, n, v: None}, {"a": "int"}, TypeError))
    for body, ann, exc in cases:
        for deco in (dataclasses.dataclass, _value.dataclass):
            ns = dict(body, __annotations__=ann)
            with pytest.raises(exc):
                deco(frozen=frozen)(type("V", (), ns))  # type: ignore[operator]


def test_inheritance_and_class_vars() -> None:
    """Fields are inherited in order; ClassVar annotations are not fields; frozen must match."""
    for deco in (dataclasses.dataclass, _value.dataclass):
        base = deco(frozen=True)(type("B", (), {"__annotations__": {"a": "int"}}))
        sub = deco(frozen=True)(type("S", (base,), {
            "__annotations__": {"b": "int", "k": "ClassVar[int]"}, "b": 0, "k": 5}))
        assert sub.__match_args__ == ("a", "b") and sub(1).k == 5
        with pytest.raises(TypeError):
            deco(frozen=False)(type("M", (base,), {"__annotations__": {"c": "int"}}))


@pytest.mark.parametrize("option", [{"order": True}, {"unsafe_hash": True}, {"eq": False},
                                    {"init": False}, {"kw_only": True}, {"repr": False},
                                    {"match_args": False}, {"weakref_slot": True},
                                    {"bogus": True}])
def test_unsupported_options_are_refused(option: dict[str, bool]) -> None:
    """An option the stand-in does not implement raises TypeError naming it (never dropped)."""
    with pytest.raises(TypeError, match=next(iter(option))):
        _value.dataclass(**option)  # type: ignore[call-overload]
    # The same options at their defaults are accepted (they change nothing).
    defaults = {k: v for k, v in _value._DEFAULT_OPTIONS.items() if k in option}
    if defaults:
        _value.dataclass(**defaults)(type("V", (), {"__annotations__": {"a": "int"}}))


@pytest.mark.parametrize("option", [{"repr": False}, {"compare": False}, {"hash": True},
                                    {"init": False}, {"kw_only": True},
                                    {"metadata": {"k": 1}}])
def test_unsupported_field_options_are_refused(option: dict[str, object]) -> None:
    """field() options other than default / default_factory raise TypeError naming them."""
    with pytest.raises(TypeError, match=next(iter(option))):
        _value.field(default=1, **option)


def test_default_factory() -> None:
    """field(default_factory=...) gives each instance a fresh value, as dataclasses."""
    @_value.dataclass
    class Box:
        items: list[int] = _value.field(default_factory=list)  # type: ignore[assignment]

    a, b = Box(), Box()
    assert a.items == [] and a.items is not b.items
    with pytest.raises(ValueError):
        _value.field(default=1, default_factory=list)

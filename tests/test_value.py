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


@pytest.mark.parametrize("option", [{"hash": True}, {"metadata": {"k": 1}}, {"init": 0},
                                    {"repr": None}, {"compare": "no"}, {"kw_only": 1}])
def test_unsupported_field_options_are_refused(option: dict[str, object]) -> None:
    """field() options other than default, default_factory and the bool flags init, repr,
    compare, kw_only raise TypeError naming them (a flag that is not a bool too)."""
    with pytest.raises(TypeError, match=next(iter(option))):
        _value.field(default=1, **option)


def _flagged(frozen: bool, slots: bool) -> tuple[type, type]:
    """One class body with every field flag, decorated by dataclasses and by the stand-in."""
    out = []
    for deco, fld in ((dataclasses.dataclass, dataclasses.field), (_value.dataclass, _value.field)):

        def post(self: object) -> None:
            object.__setattr__(self, "h", self.a * 10)  # type: ignore[attr-defined]

        ns = {
            "b": fld(default=1, repr=False),
            "c": fld(default=2, compare=False),
            "d": fld(kw_only=True),
            "e": fld(default=5, kw_only=True, repr=False),
            "f": fld(init=False, default_factory=list, compare=False),
            "g": fld(init=False, default=7),
            "h": fld(init=False, repr=False, compare=False),
            "i": 9,
            "__post_init__": post,
            "__module__": __name__,
            "__qualname__": "F",
            "__annotations__": {"a": "int", "b": "int", "c": "int", "d": "int", "e": "int",
                                "f": "list", "g": "int", "h": "int", "i": "int"},
        }
        out.append(deco(frozen=frozen, slots=slots)(type("F", (), ns)))  # type: ignore[operator]
    return out[0], out[1]


@pytest.mark.parametrize("slots", [False, True], ids=["dict", "slots"])
@pytest.mark.parametrize("frozen", [False, True], ids=["mutable", "frozen"])
def test_field_flags_match(frozen: bool, slots: bool) -> None:
    """field(init=, repr=, compare=, kw_only=): the same __init__ signature, values, repr,
    equality, hash, __match_args__, fields() and replace() as dataclasses."""
    import inspect

    real, mine = _flagged(frozen, slots)
    sig_real = inspect.signature(real.__init__)
    mine(0, d=0)  # the stand-in compiles the generated __init__ at the first instance
    sig_mine = inspect.signature(mine.__init__)
    assert [(p.name, p.kind) for p in sig_real.parameters.values()] == \
        [(p.name, p.kind) for p in sig_mine.parameters.values()]
    assert real.__match_args__ == mine.__match_args__ == ("a", "b", "c", "i")
    names = ("a", "b", "c", "d", "e", "f", "g", "h", "i")
    for cls in (real, mine):
        v = cls(1, 2, 3, d=4)
        assert tuple(getattr(v, n) for n in names) == (1, 2, 3, 4, 5, [], 7, 10, 9)
        assert repr(v) == "F(a=1, c=3, d=4, f=[], g=7, i=9)"
        # c, f and h are not compared (nor hashed)
        w = cls(1, 2, 30, d=4)
        w.f.append(1)
        assert v == w and v != cls(1, 2, 3, d=5) and v != cls(2, d=4)
        if frozen:
            assert hash(v) == hash(w) == hash((1, 2, 4, 5, 7, 9))
            with pytest.raises(AttributeError):
                v.h = 3  # type: ignore[misc]
        assert v.f is not cls(1, d=4).f
        for bad_args, bad_kw in (((1, 2, 3, 4), {}), ((1,), {}), ((1,), {"d": 4, "g": 0}),
                                 ((1,), {"d": 4, "f": []})):
            with pytest.raises(TypeError):
                cls(*bad_args, **bad_kw)
    rv, mv = real(1, d=4), mine(1, d=4)
    r2 = dataclasses.replace(rv, d=8, a=2)
    m2 = _value.replace(mv, d=8, a=2)
    assert (r2.a, r2.d, r2.h, r2.g) == (m2.a, m2.d, m2.h, m2.g) == (2, 8, 20, 7)
    for bad in ("g", "h"):
        with pytest.raises(ValueError, match="init=False"):
            dataclasses.replace(rv, **{bad: 0})
        with pytest.raises(ValueError, match="init=False"):
            _value.replace(mv, **{bad: 0})
    flags = [(f.name, f.init, f.repr, f.compare, f.kw_only) for f in dataclasses.fields(rv)]
    assert flags == [(f.name, f.init, f.repr, f.compare, f.kw_only) for f in _value.fields(mv)]


def test_field_flag_ordering_rules_match() -> None:
    """A positional field without a default after one with a default fails as in dataclasses;
    keyword-only and init=False fields are not positional, so they may come anywhere."""
    for deco, fld in ((dataclasses.dataclass, dataclasses.field), (_value.dataclass, _value.field)):
        ok = deco(frozen=True)(type("K", (), {  # type: ignore[operator]
            "__annotations__": {"a": "int", "b": "int", "c": "int"},
            "a": 0, "b": fld(kw_only=True), "c": fld(init=False, default=3)}))
        assert ok(b=1).b == 1 and ok(2, b=1).a == 2 and ok.__match_args__ == ("a",)
        with pytest.raises(TypeError, match="follows default argument"):
            deco(frozen=True)(type("K", (), {  # type: ignore[operator]
                "__annotations__": {"a": "int", "b": "int", "c": "int"},
                "a": 0, "b": fld(init=False), "c": fld()}))


def test_default_factory() -> None:
    """field(default_factory=...) gives each instance a fresh value, as dataclasses."""
    @_value.dataclass
    class Box:
        items: list[int] = _value.field(default_factory=list)  # type: ignore[assignment]

    a, b = Box(), Box()
    assert a.items == [] and a.items is not b.items
    with pytest.raises(ValueError):
        _value.field(default=1, default_factory=list)

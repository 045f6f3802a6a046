"""The run-time implementation behind :mod:`memattr._value` (see there for why it exists)."""

from __future__ import annotations

from operator import attrgetter

__all__ = ["dataclass", "field", "replace", "fields", "FrozenInstanceError", "Field"]

_MISSING = object()


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen value (as dataclasses.FrozenInstanceError)."""


class Field:
    """A declared field: its name and default."""

    __slots__ = ("name", "default", "default_factory")

    def __init__(self, default: object = _MISSING, default_factory: object = _MISSING) -> None:
        self.name = ""
        self.default = default
        self.default_factory = default_factory

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def field(*, default: object = _MISSING, default_factory: object = _MISSING) -> object:
    """Declare a field with a default or a default factory."""
    return Field(default, default_factory)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenInstanceError(f"cannot assign to field {name!r}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


def _make_init(names: list[str], specs: dict[str, Field], frozen: bool, post: bool) -> object:
    """Generate __init__ once per class (one exec, as fast per call as dataclasses')."""
    params, body, env = [], [], {"_MISSING": _MISSING, "_set": object.__setattr__}
    for n in names:
        spec = specs[n]
        if spec.default_factory is not _MISSING:
            env[f"_f_{n}"] = spec.default_factory
            params.append(f"{n}=_MISSING")
            value = f"_f_{n}() if {n} is _MISSING else {n}"
        elif spec.default is not _MISSING:
            env[f"_d_{n}"] = spec.default
            params.append(f"{n}=_d_{n}")
            value = n
        else:
            params.append(n)
            value = n
        body.append(f"  _set(self, {n!r}, {value})" if frozen else f"  self.{n} = {value}")
    if post:
        body.append("  self.__post_init__()")
    src = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "  pass") + "\n"
    ns: dict[str, object] = {}
    exec(src, env, ns)  # noqa: S102 - code generated from the class's own field names
    return ns["__init__"]


def dataclass(cls: type | None = None, /, *, frozen: bool = False, slots: bool = False,
              **_unused: object) -> object:
    """Class decorator: fields from annotations, __init__, __eq__, __hash__ (frozen), __repr__."""

    def wrap(klass: type) -> type:
        names: list[str] = []
        specs: dict[str, Field] = {}
        for base in reversed(klass.__mro__[1:]):
            for n in getattr(base, "__value_fields__", ()):
                if n not in specs:
                    names.append(n)
                specs[n] = base.__value_specs__[n]  # type: ignore[attr-defined]
        for n, ann in klass.__dict__.get("__annotations__", {}).items():
            if isinstance(ann, str) and ann.startswith(("ClassVar", "typing.ClassVar")):
                continue
            raw = klass.__dict__.get(n, _MISSING)
            spec = raw if isinstance(raw, Field) else Field(raw)
            spec.name = n
            if n not in specs:
                names.append(n)
            specs[n] = spec
        ns = {k: v for k, v in klass.__dict__.items()
              if k not in specs and k not in ("__dict__", "__weakref__")}
        if slots:
            ns["__slots__"] = tuple(n for n in names if n in klass.__dict__.get("__annotations__", {}))
        getter = attrgetter(*names) if len(names) > 1 else (
            (lambda o, _g=attrgetter(names[0]): (_g(o),)) if names else (lambda o: ()))

        def __eq__(self: object, other: object) -> bool:
            if other.__class__ is self.__class__:
                return bool(getter(self) == getter(other))
            return NotImplemented

        def __repr__(self: object) -> str:
            inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
            return f"{type(self).__qualname__}({inner})"

        ns["__init__"] = _make_init(names, specs, frozen, "__post_init__" in dir(klass))
        ns["__eq__"] = __eq__
        ns.setdefault("__repr__", __repr__)
        ns["__match_args__"] = tuple(names)
        ns["__value_fields__"] = tuple(names)
        ns["__value_specs__"] = specs
        if frozen:
            ns["__hash__"] = lambda self: hash(getter(self))
            ns["__setattr__"] = _frozen_setattr
            ns["__delattr__"] = _frozen_delattr
        else:
            ns["__hash__"] = None
        new = type(klass)(klass.__name__, klass.__bases__, ns)
        new.__qualname__ = klass.__qualname__
        return new

    return wrap if cls is None else wrap(cls)


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a value class or instance, in declaration order."""
    specs = obj.__value_specs__  # type: ignore[attr-defined]
    return tuple(specs[n] for n in obj.__value_fields__)  # type: ignore[attr-defined]


def replace(obj: object, /, **changes: object) -> object:
    """A copy of ``obj`` with some fields changed (as dataclasses.replace)."""
    names = obj.__value_fields__  # type: ignore[attr-defined]
    unknown = set(changes) - set(names)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field(s) {sorted(unknown)}")
    kwargs = {n: changes[n] if n in changes else getattr(obj, n) for n in names}
    return type(obj)(**kwargs)

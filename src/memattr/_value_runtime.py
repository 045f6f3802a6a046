"""The run-time implementation behind :mod:`memattr._value` (see there for why it exists).

It implements :func:`dataclasses.dataclass` for the options memattr passes -- ``frozen`` and
``slots``, with every other option at its default -- and :func:`dataclasses.field` for
``default``, ``default_factory``, ``init``, ``repr``, ``compare`` and ``kw_only`` (each a bool),
with the same generated methods (``__init__`` with ``__post_init__``, keyword-only parameters
after a ``*``, ``__repr__``, ``__eq__``, ``__hash__``, frozen ``__setattr__`` /
``__delattr__``, ``__match_args__``, ``__slots__`` with ``__getstate__`` / ``__setstate__``),
the same rules for methods the class defines itself, and the same errors.  Any other option, or
a non-default value of one, raises TypeError naming it: use :mod:`dataclasses` for those.

Differences that remain (documented, tested): the classes are not dataclasses to the
:mod:`dataclasses` module (use :func:`fields` and :func:`replace` from here), and the frozen
error is this module's :class:`FrozenInstanceError` (an AttributeError, as dataclasses' is).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import attrgetter

__all__ = ["dataclass", "field", "replace", "fields", "FrozenInstanceError", "Field"]

_MISSING = object()

# dataclass() options: the ones implemented, and the value every other one must have.
_DEFAULT_OPTIONS = {"init": True, "repr": True, "eq": True, "order": False, "unsafe_hash": False,
                    "match_args": True, "kw_only": False, "weakref_slot": False}
# field() options not implemented, with the value they must have.
_DEFAULT_FIELD_OPTIONS = {"hash": None, "metadata": None}
# A field's (init, repr, compare, kw_only): the default, and the options' names in that order.
_PLAIN = (True, True, True, False)
_FLAG_NAMES = ("init", "repr", "compare", "kw_only")


class FrozenInstanceError(AttributeError):
    """Assignment to a field of a frozen value (as dataclasses.FrozenInstanceError)."""


class Field:
    """A declared field: its name, type annotation, default and flags (as dataclasses.Field)."""

    __slots__ = ("name", "type", "default", "default_factory", "init", "repr", "compare",
                 "kw_only")

    def __init__(self, default: object = _MISSING, default_factory: object = _MISSING,
                 flags: tuple[bool, bool, bool, bool] = _PLAIN) -> None:
        self.name = ""
        self.type: object = None
        self.default = default
        self.default_factory = default_factory
        self.init, self.repr, self.compare, self.kw_only = flags

    @property
    def flags(self) -> tuple[bool, bool, bool, bool]:
        """(init, repr, compare, kw_only)."""
        return (self.init, self.repr, self.compare, self.kw_only)

    def __repr__(self) -> str:
        return f"Field(name={self.name!r})"


def _refuse(what: str, options: dict[str, object], allowed: Mapping[str, object]) -> None:
    for name, value in options.items():
        if name not in allowed:
            raise TypeError(f"{what}() got an unexpected keyword argument {name!r}")
        if value != allowed[name] or type(value) is not type(allowed[name]):
            raise TypeError(f"memattr._value.{what}: {name}={value!r} is not supported "
                            f"(only {allowed[name]!r}); use dataclasses.{what}")


def field(*, default: object = _MISSING, default_factory: object = _MISSING,
          init: bool = True, repr: bool = True, compare: bool = True,  # noqa: A002
          kw_only: bool = False, **options: object) -> object:
    """Declare a field: a default or a default factory; ``init``, ``repr``, ``compare`` and
    ``kw_only`` as dataclasses.field (bools only); other options: TypeError."""
    _refuse("field", options, _DEFAULT_FIELD_OPTIONS)
    flags = (init, repr, compare, kw_only)
    for name, value in zip(_FLAG_NAMES, flags, strict=True):
        if type(value) is not bool:
            raise TypeError(f"memattr._value.field: {name}={value!r} is not supported (only "
                            "True or False); use dataclasses.field")
    if default is not _MISSING and default_factory is not _MISSING:
        raise ValueError("cannot specify both default and default_factory")
    return Field(default, default_factory, flags)


def _frozen_setattr(cls: type, names: tuple[str, ...]) -> object:
    def __setattr__(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[misc, arg-type]

    return __setattr__


def _frozen_delattr(cls: type, names: tuple[str, ...]) -> object:
    def __delattr__(self: object, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[misc, arg-type]

    return __delattr__


def _compile_init(names: tuple[str, ...], defaults: tuple[object, ...],
                  factories: tuple[object, ...], frozen: bool, post: bool,
                  flags: tuple[tuple[bool, bool, bool, bool], ...] | None = None,
                  slots: bool = False) -> object:
    """The class's __init__, generated as dataclasses generates it (one exec).

    :param flags: per field (init, repr, compare, kw_only); None when every field is plain.
    :param slots: the class has slots (an init=False field with a default is then set, as
        dataclasses' _field_init does: the class attribute holding the default is gone).
    """
    params: list[str] = []
    kw_params: list[str] = []
    body: list[str] = []
    env: dict[str, object] = {"_MISSING": _MISSING, "_set": object.__setattr__}
    for i, (n, default, factory) in enumerate(zip(names, defaults, factories, strict=True)):
        init, _, _, kw_only = flags[i] if flags is not None else _PLAIN
        if not init:  # not a parameter: a factory's value, a slot's default, or nothing
            if factory is not _MISSING:
                env[f"_f_{n}"] = factory
                value = f"_f_{n}()"
            elif slots and default is not _MISSING:
                env[f"_d_{n}"] = default
                value = f"_d_{n}"
            else:
                continue
        elif factory is not _MISSING:
            env[f"_f_{n}"] = factory
            (kw_params if kw_only else params).append(f"{n}=_MISSING")
            value = f"_f_{n}() if {n} is _MISSING else {n}"
        elif default is not _MISSING:
            env[f"_d_{n}"] = default
            (kw_params if kw_only else params).append(f"{n}=_d_{n}")
            value = n
        else:
            (kw_params if kw_only else params).append(n)
            value = n
        body.append(f"  _set(self, {n!r}, {value})" if frozen else f"  self.{n} = {value}")
    if post:
        body.append("  self.__post_init__()")
    if kw_params:
        params += ["*", *kw_params]
    src = f"def __init__(self, {', '.join(params)}):\n" + ("\n".join(body) or "  pass") + "\n"
    ns: dict[str, object] = {}
    exec(src, env, ns)  # noqa: S102 - code generated from the class's own field names
    return ns["__init__"]


_COMPILE_AFTER = 64
"""Instances a class builds with the generic __init__ before its own is compiled."""


def _make_init(names: tuple[str, ...], defaults: tuple[object, ...],
               factories: tuple[object, ...] | None, n_required: int, frozen: bool, post: bool,
               owner: list[type], flags: tuple[tuple[bool, bool, bool, bool], ...] | None = None,
               slots: bool = False) -> object:
    """An __init__ that binds arguments generically until the class has built
    :data:`_COMPILE_AFTER` instances, then compiles and installs the generated one.

    Compiling costs more than a query spends building most classes' instances (a Cpu, a
    Controls), so a rarely instantiated class never pays for it.  Anything but well-formed
    arguments (or a default factory) compiles at once and lets the generated __init__ bind them
    -- and raise its TypeError --, so the results and errors are the generated __init__'s.

    :param factories: per field the default factory or _MISSING; None when there are none.
    :param n_required: the number of leading fields without a default.
    :param flags: per field (init, repr, compare, kw_only), None when every field is plain; a
        class with other fields always uses the generated __init__ (compiled at its first use).
    """
    count = [0]
    n_fields = len(names)
    index: dict[str, int] = {}
    set_ = object.__setattr__ if frozen else setattr

    def compiled() -> object:
        real = _compile_init(names, defaults, factories or (_MISSING,) * n_fields, frozen, post,
                             flags, slots)
        real.__qualname__ = f"{owner[0].__qualname__}.__init__"  # type: ignore[attr-defined]
        type.__setattr__(owner[0], "__init__", real)
        return real

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        count[0] += 1
        n = len(args)
        if count[0] > _COMPILE_AFTER or factories is not None or flags is not None \
                or n > n_fields:
            compiled()(self, *args, **kwargs)  # type: ignore[operator]
            return
        if kwargs:
            if not index:
                index.update((name, i) for i, name in enumerate(names))
            values = [*args, *defaults[n:]]
            for k, v in kwargs.items():
                i = index.get(k, -1)
                if i < n:  # unknown, or given positionally too
                    compiled()(self, *args, **kwargs)  # type: ignore[operator]
                    return
                values[i] = v
            missing = any(values[i] is _MISSING for i in range(n, n_required))
        else:
            values = args + defaults[n:]  # type: ignore[assignment]
            missing = n < n_required
        if missing:
            compiled()(self, *args, **kwargs)  # type: ignore[operator]  # raises TypeError
            return
        for name, v in zip(names, values):  # noqa: B905 - equal lengths by construction
            set_(self, name, v)
        if post:
            self.__post_init__()  # type: ignore[attr-defined]

    return __init__


def _repr(names: tuple[str, ...]) -> object:
    active: set[int] = set()  # the recursion guard of dataclasses' reprlib.recursive_repr

    def __repr__(self: object) -> str:
        key = id(self)
        if key in active:
            return "..."
        active.add(key)
        try:
            inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in names)
        finally:
            active.discard(key)
        return f"{type(self).__qualname__}({inner})"

    return __repr__


def _getstate(self: object) -> list[object]:
    return [getattr(self, n) for n in self.__value_fields__]  # type: ignore[attr-defined]


def _setstate(self: object, state: list[object]) -> None:
    for n, value in zip(self.__value_fields__, state, strict=True):  # type: ignore[attr-defined]
        object.__setattr__(self, n, value)


def dataclass(cls: type | None = None, /, *, frozen: bool = False, slots: bool = False,
              **options: object) -> object:
    """Class decorator, as dataclasses.dataclass with ``frozen`` and ``slots`` (see module)."""
    if options:
        _refuse("dataclass", options, _DEFAULT_OPTIONS)

    def wrap(klass: type) -> type:
        return _process(klass, bool(frozen), bool(slots))

    return wrap if cls is None else wrap(cls)


_SKIP = ("ClassVar", "typing.ClassVar")
_REFUSED = ("InitVar", "dataclasses.InitVar", "KW_ONLY", "dataclasses.KW_ONLY")


def _process(klass: type, frozen: bool, slots: bool) -> type:
    """Build the value class (one pass over the fields; see the module docstring)."""
    own = klass.__dict__
    names: list[str] = []
    defaults: list[object] = []
    factories: list[object] = []
    types: list[object] = []
    flags: list[tuple[bool, bool, bool, bool]] = []
    base_frozen = None
    for base in klass.__mro__[-2:0:-1]:  # inherited fields first, the farthest base first
        fields_of = base.__dict__.get("__value_fields__")
        if fields_of is None:
            continue
        base_frozen = base.__dict__["__value_frozen__"]
        for n, d, f, t, o in zip(fields_of, base.__value_defaults__,  # type: ignore[attr-defined]
                                 base.__value_factories__, base.__value_types__,  # type: ignore[attr-defined]
                                 base.__value_flags__, strict=True):  # type: ignore[attr-defined]
            if n in names:
                i = names.index(n)
                defaults[i], factories[i], types[i], flags[i] = d, f, t, o
            else:
                names.append(n)
                defaults.append(d)
                factories.append(f)
                types.append(t)
                flags.append(o)
    if base_frozen is not None and base_frozen != frozen:
        raise TypeError("cannot inherit frozen dataclass from a non-frozen one" if frozen
                        else "cannot inherit non-frozen dataclass from a frozen one")
    ns = dict(own)
    ns.pop("__dict__", None)
    ns.pop("__weakref__", None)
    for n, ann in own.get("__annotations__", {}).items():
        text = ann if ann.__class__ is str else getattr(ann, "__name__", "")
        if text.startswith(_SKIP):
            continue
        if text.startswith(_REFUSED):
            raise TypeError(f"memattr._value.dataclass: field {n!r}: {text} is not supported; "
                            "use dataclasses.dataclass")
        raw = ns.get(n, _MISSING)
        if isinstance(raw, Field):
            default, factory, flag = raw.default, raw.default_factory, raw.flags
        else:
            default, factory, flag = raw, _MISSING, _PLAIN
        if default is not _MISSING:
            if type(default).__hash__ is None:
                raise ValueError(f"mutable default {type(default)} for field {n} is not "
                                 "allowed: use default_factory")
            ns[n] = default  # defaults stay class attributes, as dataclasses leaves them
        elif raw is not _MISSING:
            del ns[n]  # a field() without a default
        if n in names:
            i = names.index(n)
            defaults[i], factories[i], types[i], flags[i] = default, factory, ann, flag
        else:
            names.append(n)
            defaults.append(default)
            factories.append(factory)
            types.append(ann)
            flags.append(flag)
    # The positional parameters of __init__ (init, not kw_only): none without a default after
    # one with a default (dataclasses' _init_fn).
    seen_default = False
    n_required = len(names)
    for i, (d, f, o) in enumerate(zip(defaults, factories, flags, strict=True)):
        if not o[0] or o[3]:
            continue
        if d is not _MISSING or f is not _MISSING:
            if not seen_default:
                n_required = i
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {names[i]!r} follows default argument")
    fields_ = tuple(names)
    defaults_ = tuple(defaults)
    factories_ = tuple(factories)
    flags_ = tuple(flags)
    plain = all(o == _PLAIN for o in flags_)
    shown = fields_ if plain else tuple(n for n, o in zip(names, flags, strict=True) if o[1])
    compared = fields_ if plain else tuple(n for n, o in zip(names, flags, strict=True) if o[2])
    positional = fields_ if plain else tuple(
        n for n, o in zip(names, flags, strict=True) if o[0] and not o[3])
    getter = attrgetter(*compared) if len(compared) > 1 else (
        (lambda o, _g=attrgetter(compared[0]): (_g(o),)) if compared else (lambda o: ()))

    def __eq__(self: object, other: object) -> bool:
        if other.__class__ is self.__class__:
            return bool(getter(self) == getter(other))
        return NotImplemented

    # Methods the class defines itself are kept (dataclasses' _set_new_attribute).
    owner: list[type] = []  # the class, once built (the generated __init__ installs itself)
    if "__init__" not in own:
        has_factory = any(f is not _MISSING for f in factories_)
        ns["__init__"] = _make_init(fields_, defaults_, factories_ if has_factory else None,
                                    n_required, frozen, hasattr(klass, "__post_init__"), owner,
                                    None if plain else flags_, slots)
    if "__repr__" not in own:
        ns["__repr__"] = _repr(shown)
    if "__eq__" not in own:
        ns["__eq__"] = __eq__
    if "__match_args__" not in own:
        ns["__match_args__"] = positional
    ns["__value_fields__"] = fields_
    ns["__value_defaults__"] = defaults_
    ns["__value_factories__"] = factories_
    ns["__value_types__"] = tuple(types)
    ns["__value_flags__"] = flags_
    ns["__value_frozen__"] = frozen
    class_hash = own.get("__hash__", _MISSING)
    if class_hash is _MISSING or (class_hash is None and "__eq__" in own):  # not explicit
        ns["__hash__"] = (lambda self: hash(getter(self))) if frozen else None
    if frozen and ("__setattr__" in own or "__delattr__" in own):
        name = "__setattr__" if "__setattr__" in own else "__delattr__"
        raise TypeError(f"Cannot overwrite attribute {name} in class {klass.__name__}")
    if slots:
        if "__slots__" in own:
            raise TypeError(f"{klass.__name__} already specifies __slots__")
        inherited: set[str] = set()
        for base in klass.__mro__[1:-1]:
            got = base.__dict__.get("__slots__", ())
            inherited.update((got,) if isinstance(got, str) else got)
        ns["__slots__"] = tuple(n for n in fields_ if n not in inherited)
        for n in fields_:
            ns.pop(n, None)  # a slot and a class attribute of one name cannot coexist
        if frozen:
            ns.setdefault("__getstate__", _getstate)
            ns.setdefault("__setstate__", _setstate)
        new = type(klass)(klass.__name__, klass.__bases__, ns)
        new.__qualname__ = klass.__qualname__
    else:
        for k, v in ns.items():
            if own.get(k, _MISSING) is not v:
                setattr(klass, k, v)
        for k in own.keys() - ns.keys() - {"__dict__", "__weakref__"}:
            delattr(klass, k)
        new = klass
    if frozen:
        type.__setattr__(new, "__setattr__", _frozen_setattr(new, fields_))
        type.__setattr__(new, "__delattr__", _frozen_delattr(new, fields_))
    owner.append(new)
    return new


def fields(obj: object) -> tuple[Field, ...]:
    """The fields of a value class or instance, in declaration order."""
    try:
        names = obj.__value_fields__  # type: ignore[attr-defined]
    except AttributeError:
        raise TypeError("must be called with a dataclass type or instance") from None
    out = []
    for n, d, f, t, o in zip(names, obj.__value_defaults__,  # type: ignore[attr-defined]
                             obj.__value_factories__, obj.__value_types__,  # type: ignore[attr-defined]
                             obj.__value_flags__, strict=True):  # type: ignore[attr-defined]
        spec = Field(d, f, o)
        spec.name, spec.type = n, t
        out.append(spec)
    return tuple(out)


def replace(obj: object, /, **changes: object) -> object:
    """A copy of ``obj`` with some fields changed (as dataclasses.replace)."""
    try:
        names = obj.__value_fields__  # type: ignore[attr-defined]
    except AttributeError:
        raise TypeError("replace() should be called on dataclass instances") from None
    kwargs = {}
    for n, o in zip(names, obj.__value_flags__, strict=True):  # type: ignore[attr-defined]
        if not o[0]:  # init=False: __init__ / __post_init__ set it
            if n in changes:
                raise ValueError(f"field {n} is declared with init=False, it cannot be "
                                 "specified with replace()")
            continue
        kwargs[n] = changes.pop(n) if n in changes else getattr(obj, n)
    # Unknown names reach __init__, which rejects them as dataclasses' replace does.
    return type(obj)(**kwargs, **changes)

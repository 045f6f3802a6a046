"""Declarative bitfield tables: one :class:`Layout` per register or descriptor format.

Modelled on Linux's ``arch/arm64/tools/sysreg``: each layout is data (name, msb:lsb, kind,
Arm's enum names), it covers its width exactly once from the top bit down, and masks, shifts,
encode, decode, validation and printing are all derived from it (named constants in the Linux
style come from :mod:`memattr.arch.regdefs`).  Unused bits are spelt out as RES0/RES1/IGNORED
rows so that :meth:`Layout.validate_table` can prove there are no gaps.

Every layout built anywhere in :mod:`memattr.arch` is added to :data:`LAYOUTS` by
:func:`register`; a test walks the registry and checks each one.

:class:`Field` and :class:`Layout` are immutable slotted classes written out by hand rather
than dataclasses: every register decode imports this module, and :mod:`dataclasses` (with the
:mod:`inspect` it pulls in) would be most of that start-up.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import MappingProxyType

from ..errors import ConfigError, EncodingError

__all__ = [
    "FieldKind",
    "Field",
    "Layout",
    "LAYOUTS",
    "register",
    "register_lazy",
    "genmask",
    "bit",
    "flag_field",
    "bits_field",
    "enum_field",
    "res0_field",
    "res1_field",
]


def genmask(msb: int, lsb: int) -> int:
    """Linux GENMASK(msb, lsb): ones in bits msb..lsb inclusive."""
    return ((1 << (msb - lsb + 1)) - 1) << lsb


def bit(n: int) -> int:
    """Linux BIT(n)."""
    return 1 << n


class FieldKind(enum.Enum):
    """What a row of a layout is (the sysreg kinds plus descriptor-specific ones)."""

    FIELD = "field"  # an unsigned value with no named encodings
    ENUM = "enum"  # named encodings; unlisted values are reserved
    FLAG = "flag"  # a single control bit
    RES0 = "RES0"  # reserved, should be zero
    RES1 = "RES1"  # reserved, should be one
    IGNORED = "IGNORED"  # ignored by hardware, software may use it
    SOFTWARE = "software"  # architecturally reserved for software use
    ADDRESS = "address"  # address bits; ``addr_shift`` says which address bit the lsb holds

    __hash__ = object.__hash__  # members are singletons: hash by identity (C speed)


_LIST_ALLOWED = 16  # check() names the allowed encodings of an enum up to this many
# Members as plain globals: enum attribute look-ups cost on every Field built at import.
_FLAG, _ADDRESS, _ENUM = FieldKind.FLAG, FieldKind.ADDRESS, FieldKind.ENUM
_RES0, _RES1, _IGNORED = FieldKind.RES0, FieldKind.RES1, FieldKind.IGNORED
_NO_VALUES: Mapping[int, str] = MappingProxyType({})


def _frozen(self: object, name: str, value: object) -> None:
    raise AttributeError(f"{type(self).__name__} is immutable (cannot set {name!r})")


class Field:
    """One row of a layout: ``name`` occupies bits ``msb:lsb`` and is of ``kind``.

    :param values: for ENUM, value -> Arm's name (may be partial; unlisted values are reserved).
    :param doc: a short Arm description, with the feature that defines it.
    :param addr_shift: for ADDRESS, the address bit that the field's lsb holds (usually ``lsb``).

    ``width``, ``mask`` (all-ones of the width, unshifted) and ``inplace_mask``
    (GENMASK(msb, lsb)) are computed once.  Equality and hashing ignore ``doc``.
    """

    __slots__ = ("name", "msb", "lsb", "kind", "values", "doc", "addr_shift", "width", "mask",
                 "inplace_mask")

    name: str
    msb: int
    lsb: int
    kind: FieldKind
    values: Mapping[int, str]
    doc: str
    addr_shift: int | None
    width: int
    mask: int
    inplace_mask: int

    __setattr__ = _frozen
    __delattr__ = _frozen  # type: ignore[assignment]

    def __init__(
        self,
        name: str,
        msb: int,
        lsb: int,
        kind: FieldKind = FieldKind.FIELD,
        values: Mapping[int, str] | None = None,
        doc: str = "",
        addr_shift: int | None = None,
    ) -> None:
        if msb < lsb or lsb < 0:
            raise ConfigError(f"field {name}: bad bit range [{msb}:{lsb}]")
        if kind is _FLAG and msb != lsb:
            raise ConfigError(f"field {name}: a FLAG is one bit, got [{msb}:{lsb}]")
        if kind is _ADDRESS:
            if addr_shift is None:
                addr_shift = lsb
        elif addr_shift is not None:
            raise ConfigError(f"field {name}: addr_shift is only for ADDRESS fields")
        mask = (1 << (msb - lsb + 1)) - 1
        if values:
            if kind is not _ENUM:
                raise ConfigError(f"field {name}: only ENUM fields take values")
            for v in values:
                if not 0 <= v <= mask:
                    raise ConfigError(f"field {name}: enum value {v:#x} does not fit")
            if len(set(values.values())) != len(values):
                raise ConfigError(f"field {name}: two enum values share a name")
            frozen_values: Mapping[int, str] = MappingProxyType(dict(values))
        else:
            frozen_values = _NO_VALUES
        put = object.__setattr__
        put(self, "name", name)
        put(self, "msb", msb)
        put(self, "lsb", lsb)
        put(self, "kind", kind)
        put(self, "values", frozen_values)
        put(self, "doc", doc)
        put(self, "addr_shift", addr_shift)
        put(self, "width", msb - lsb + 1)
        put(self, "mask", mask)
        put(self, "inplace_mask", mask << lsb)

    def _key(self) -> tuple[object, ...]:
        return (self.name, self.msb, self.lsb, self.kind, self.addr_shift)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Field):
            return NotImplemented
        return self._key() == other._key() and dict(self.values) == dict(other.values)

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Field({self.name!r}, {self.msb}, {self.lsb}, {self.kind})"

    @property
    def bits(self) -> str:
        """Arm's bit-range spelling: ``[5:2]`` or ``[10]``."""
        return f"[{self.msb}]" if self.msb == self.lsb else f"[{self.msb}:{self.lsb}]"

    def render(self, x: int) -> str:
        """The field value ``x`` as text; never hides a set bit (unknown values in hex)."""
        kind = self.kind
        if kind is FieldKind.ENUM:
            name = self.values.get(x)
            return name if name is not None else f"{x:#x} (reserved)"
        if kind is FieldKind.FLAG:
            return str(x)
        if kind is FieldKind.ADDRESS:
            assert self.addr_shift is not None
            return f"{x << self.addr_shift:#x}"
        if kind is FieldKind.RES0 and x:
            return f"{x:#x} (RES0 violated)"
        if kind is FieldKind.RES1 and x != self.mask:
            return f"{x:#x} (RES1 violated)"
        if self.width <= 4:
            return f"{x:#0{self.width + 2}b}"
        return f"{x:#x}"


class Layout:
    """A register or descriptor format: fields from the msb down, covering ``width`` bits once.

    The table is checked on construction (:meth:`validate_table`).  Per-name shifts and masks
    are precomputed so :meth:`get` is one dict lookup, a shift and a mask.  Equality and
    hashing use the name, the width and the fields.
    """

    __slots__ = ("name", "width", "fields", "doc", "_by_name", "_shift_mask", "_decode_plan",
                 "_res0", "_res1", "_ignored", "_addr_plan", "_addr_cover", "_full")

    name: str
    width: int
    fields: tuple[Field, ...]
    doc: str
    _by_name: dict[str, Field]
    _shift_mask: dict[str, tuple[int, int]]
    _decode_plan: tuple[tuple[str, int, int], ...]
    _res0: int
    _res1: int
    _ignored: int
    _addr_plan: tuple[tuple[int, int, int], ...]
    _addr_cover: int
    _full: int

    __setattr__ = _frozen
    __delattr__ = _frozen  # type: ignore[assignment]

    def __init__(self, name: str, width: int, fields: Iterable[Field], doc: str = "") -> None:
        fields = tuple(fields)
        put = object.__setattr__
        put(self, "name", name)
        put(self, "width", width)
        put(self, "fields", fields)
        put(self, "doc", doc)
        self.validate_table()
        by_name, shift_mask, plan = {}, {}, []
        res0 = res1 = ignored = 0
        addr = []
        for f in fields:
            by_name[f.name] = f
            shift_mask[f.name] = (f.lsb, f.mask)
            plan.append((f.name, f.lsb, f.mask))
            kind = f.kind
            if kind is _RES0:
                res0 |= f.inplace_mask
            elif kind is _RES1:
                res1 |= f.inplace_mask
            elif kind is _IGNORED:
                ignored |= f.inplace_mask
            elif kind is _ADDRESS:
                addr.append(f)
        put(self, "_by_name", by_name)
        put(self, "_shift_mask", shift_mask)
        put(self, "_decode_plan", tuple(plan))
        put(self, "_res0", res0)
        put(self, "_res1", res1)
        put(self, "_ignored", ignored)
        put(self, "_addr_plan", tuple((f.lsb, f.mask, f.addr_shift or 0) for f in addr))
        put(self, "_addr_cover", _or(f.mask << (f.addr_shift or 0) for f in addr))
        put(self, "_full", (1 << width) - 1)

    # --- identity -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Layout):
            return NotImplemented
        return (self.name, self.width, self.fields) == (other.name, other.width, other.fields)

    def __hash__(self) -> int:
        return hash((self.name, self.width, self.fields))

    def __repr__(self) -> str:
        return f"Layout({self.name!r}, width={self.width}, fields={len(self.fields)})"

    def __iter__(self) -> Iterator[Field]:
        return iter(self.fields)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    # --- the table check (gen-sysreg.awk's "Unspecified bits") ----------------------------
    def validate_table(self) -> None:
        """Raise ConfigError unless the fields run down from bit width-1 to 0 without gaps."""
        if self.width <= 0:
            raise ConfigError(f"{self.name}: width must be positive, got {self.width}")
        names: set[str] = set()
        expect = self.width - 1
        for f in self.fields:
            if f.name in names:
                raise ConfigError(f"{self.name}.{f.name}: duplicate field name")
            names.add(f.name)
            if f.msb > self.width - 1:
                raise ConfigError(
                    f"{self.name}.{f.name}{f.bits}: exceeds the {self.width}-bit width"
                )
            if f.msb > expect:
                raise ConfigError(
                    f"{self.name}.{f.name}{f.bits}: overlaps the field above (next free bit "
                    f"is {expect})"
                )
            if f.msb < expect:
                raise ConfigError(
                    f"{self.name}.{f.name}{f.bits}: unspecified bits [{expect}:{f.msb + 1}] "
                    "above it"
                )
            expect = f.lsb - 1
        if expect != -1:
            raise ConfigError(f"{self.name}: unspecified bits [{expect}:0] at the bottom")

    # --- lookup ---------------------------------------------------------------------------
    def field(self, name: str) -> Field:
        """The row called ``name`` (KeyError naming the layout if absent)."""
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.name} has no field {name!r}") from None

    def shift_mask(self, name: str) -> tuple[int, int]:
        """(lsb, unshifted mask) of ``name``: what Linux calls _SHIFT and _MASK >> _SHIFT."""
        try:
            return self._shift_mask[name]
        except KeyError:
            raise KeyError(f"{self.name} has no field {name!r}") from None

    def field_mask(self, name: str) -> int:
        """The in-place mask of ``name`` (GENMASK(msb, lsb))."""
        return self.field(name).inplace_mask

    @property
    def res0_mask(self) -> int:
        """All RES0 bits."""
        return self._res0

    @property
    def res1_mask(self) -> int:
        """All RES1 bits."""
        return self._res1

    @property
    def ignored_mask(self) -> int:
        """All IGNORED bits (not SOFTWARE: those are named fields of their own)."""
        return self._ignored

    @property
    def address_mask(self) -> int:
        """The address bits that the ADDRESS fields of this layout can hold."""
        return self._addr_cover

    # --- fast paths -----------------------------------------------------------------------
    def get(self, value: int, name: str) -> int:
        """The value of field ``name`` in ``value``."""
        try:
            shift, mask = self._shift_mask[name]
        except KeyError:
            raise KeyError(f"{self.name} has no field {name!r}") from None
        return (value >> shift) & mask

    def set(self, value: int, name: str, x: int) -> int:
        """``value`` with field ``name`` replaced by ``x``; EncodingError if ``x`` does not fit."""
        shift, mask = self.shift_mask(name)
        if x < 0 or x > mask:
            f = self._by_name[name]
            raise EncodingError(
                f"{self.name}.{name}={x:#x}: does not fit {f.bits} ({f.width} bits, max {mask:#x})"
            )
        return (value & ~(mask << shift)) | (x << shift)

    def decode(self, value: int) -> dict[str, int]:
        """Every field's value, by name (RES0/IGNORED rows included)."""
        return {name: (value >> shift) & mask for name, shift, mask in self._decode_plan}

    def encode(self, **fields: int) -> int:
        """Build a value: unspecified fields 0, RES1 fields set.

        EncodingError if a value does not fit, or a RES0/RES1 field is given another value.
        """
        value = self._res1
        for name, x in fields.items():
            f = self.field(name)
            if x < 0 or x > f.mask:
                raise EncodingError(
                    f"{self.name}.{name}={x:#x}: does not fit {f.bits} "
                    f"({f.width} bits, max {f.mask:#x})"
                )
            if f.kind is FieldKind.RES0 and x:
                raise EncodingError(f"{self.name}.{name}={x:#x}: RES0, must be 0")
            if f.kind is FieldKind.RES1 and x != f.mask:
                raise EncodingError(f"{self.name}.{name}={x:#x}: RES1, must be {f.mask:#x}")
            value = (value & ~f.inplace_mask) | (x << f.lsb)
        return value

    # --- addresses ------------------------------------------------------------------------
    def address(self, value: int) -> int:
        """The address held by the ADDRESS fields of ``value`` (0 if the layout has none)."""
        addr = 0
        for lsb, mask, ashift in self._addr_plan:
            addr |= ((value >> lsb) & mask) << ashift
        return addr

    def with_address(self, value: int, addr: int) -> int:
        """``value`` with its ADDRESS fields holding ``addr``.

        EncodingError naming the address field if ``addr`` has bits the fields cannot hold
        (misaligned or too wide).
        """
        if addr < 0 or addr & ~self._addr_cover:
            lowest = min((f for f in self.fields if f.kind is FieldKind.ADDRESS),
                         key=lambda f: f.addr_shift or 0, default=None)
            fname = lowest.name if lowest is not None else "<no address field>"
            raise EncodingError(
                f"{self.name}.{fname}={addr:#x}: not representable "
                f"(allowed address bits {self._addr_cover:#x})"
            )
        for lsb, mask, ashift in self._addr_plan:
            value = (value & ~(mask << lsb)) | (((addr >> ashift) & mask) << lsb)
        return value

    # --- validation and rendering ---------------------------------------------------------
    def check(self, value: int) -> list[str]:
        """Problems in ``value``: RES0 set, RES1 clear, reserved enum values, excess width."""
        problems: list[str] = []
        if value < 0 or value > self._full:
            problems.append(
                f"{self.name}={value:#x}: does not fit {self.width} bits "
                f"(extra bits {value & ~self._full:#x})"
            )
        for f in self.fields:
            x = (value >> f.lsb) & f.mask
            if f.kind is FieldKind.RES0 and x:
                problems.append(f"{self.name}.{f.name}={x:#x}: RES0 bits {f.bits} set")
            elif f.kind is FieldKind.RES1 and x != f.mask:
                problems.append(
                    f"{self.name}.{f.name}={x:#x}: RES1 bits {f.bits} clear "
                    f"(expected {f.mask:#x})"
                )
            elif f.kind is FieldKind.ENUM and x not in f.values:
                if len(f.values) <= _LIST_ALLOWED:
                    allowed = ", ".join(f"{v:#x} {n}" for v, n in sorted(f.values.items()))
                else:
                    allowed = f"{len(f.values)} encodings, {f.bits} in the {self.name} table"
                problems.append(f"{self.name}.{f.name}={x:#x}: reserved (allowed: {allowed})")
        return problems

    def describe(self, value: int, *, compact: bool = False) -> list[tuple[str, str, str]]:
        """Rows (name, bit range, rendered value) for ``value``, from the msb down.

        With ``compact`` the RES0/RES1/IGNORED rows holding their expected value (0, all ones,
        0) are left out; a set bit is never dropped.  Bits beyond the width get a final row.
        """
        rows: list[tuple[str, str, str]] = []
        for f in self.fields:
            x = (value >> f.lsb) & f.mask
            if compact and (
                (f.kind in (FieldKind.RES0, FieldKind.IGNORED) and x == 0)
                or (f.kind is FieldKind.RES1 and x == f.mask)
            ):
                continue
            rows.append((f.name, f.bits, f.render(x)))
        extra = value >> self.width
        if extra:
            rows.insert(0, ("<beyond width>", f"[..:{self.width}]", f"{extra << self.width:#x}"))
        return rows


# --- constructors the register and syndrome tables are written with ----------------------------


def flag_field(name: str, n: int, doc: str = "") -> Field:
    """A one-bit FLAG field at bit ``n``."""
    return Field(name, n, n, FieldKind.FLAG, doc=doc)


def bits_field(name: str, msb: int, lsb: int, doc: str = "") -> Field:
    """A plain FIELD over bits [msb:lsb]."""
    return Field(name, msb, lsb, FieldKind.FIELD, doc=doc)


def enum_field(name: str, msb: int, lsb: int, values: dict[int, str], doc: str = "") -> Field:
    """An ENUM field over bits [msb:lsb] with its named values."""
    return Field(name, msb, lsb, FieldKind.ENUM, values=values, doc=doc)


def res0_field(msb: int, lsb: int | None = None) -> Field:
    """RES0 bits [msb:lsb] (one bit when ``lsb`` is not given), named RES0_<msb>[_<lsb>]."""
    lsb = msb if lsb is None else lsb
    return Field(f"RES0_{msb}" if msb == lsb else f"RES0_{msb}_{lsb}", msb, lsb, FieldKind.RES0)


def res1_field(n: int) -> Field:
    """A RES1 bit, named RES1_<n>."""
    return Field(f"RES1_{n}", n, n, FieldKind.RES1)


def _or(masks: Iterable[int]) -> int:
    out = 0
    for m in masks:
        out |= m
    return out


_PENDING: list[Callable[[], object]] = []  # builders of layouts not built yet (register_lazy)


class _Registry(dict[str, Layout]):
    """:data:`LAYOUTS`: a dict that runs the pending builders (:func:`register_lazy`) before
    it answers for a name it lacks or lists its contents, so it always holds every layout."""

    __slots__ = ()

    def _complete(self) -> None:
        while _PENDING:
            _PENDING.pop()()

    def __missing__(self, name: str) -> Layout:
        if not _PENDING:
            raise KeyError(name)
        self._complete()
        return self[name]

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        self._complete()
        return dict.__contains__(self, name)

    def get(self, name: str, default: Layout | None = None) -> Layout | None:  # type: ignore[override]
        return self[name] if name in self else default

    def __iter__(self) -> Iterator[str]:
        self._complete()
        return dict.__iter__(self)

    def __len__(self) -> int:
        self._complete()
        return dict.__len__(self)

    def keys(self):  # type: ignore[no-untyped-def]  # noqa: ANN201 - dict's view type
        self._complete()
        return dict.keys(self)

    def values(self):  # type: ignore[no-untyped-def]  # noqa: ANN201
        self._complete()
        return dict.values(self)

    def items(self):  # type: ignore[no-untyped-def]  # noqa: ANN201
        self._complete()
        return dict.items(self)


LAYOUTS: dict[str, Layout] = _Registry()
"""Every layout defined in :mod:`memattr.arch`, by name (filled by :func:`register`; layouts
registered lazily are built when the registry is listed or asked for a name it lacks)."""


def register(layout: Layout) -> Layout:
    """Add ``layout`` to :data:`LAYOUTS` (its table already checked); returns it for chaining.

    Re-registering the same table under its name is allowed (module reloads); a different
    table under a taken name is a ConfigError.
    """
    old = dict.get(LAYOUTS, layout.name)
    if old is not None and old != layout:
        raise ConfigError(f"layout {layout.name!r} is already registered with another table")
    LAYOUTS[layout.name] = layout
    return layout


def register_lazy(build: Callable[[], object]) -> None:
    """Register layouts built on demand: ``build`` (which calls :func:`register` for each) runs
    the first time :data:`LAYOUTS` is listed or asked for a name it does not hold.

    A module with many layouts of which a query uses one (the 46 descriptor formats) builds
    each when it is first used, and still lists them all to whoever walks the registry.
    """
    _PENDING.append(build)

"""Named shift, mask and value constants derived from the field tables: generated, do not edit.

As Linux's ``arch/arm64/tools/gen-sysreg.awk`` turns ``arch/arm64/tools/sysreg`` into
``asm/sysreg-defs.h`` (hence the module's name), this module turns every registered
:class:`~memattr.arch.fields.Layout` into constants named after the layout and its fields (case
as in the table):

=============================  ===========================================================
``<LAYOUT>_<FIELD>_SHIFT``     the field's lsb (``TCR_EL1_DS_SHIFT`` = 59)
``<LAYOUT>_<FIELD>_WIDTH``     its width in bits (``VTCR_EL2_SH0_WIDTH`` = 2)
``<LAYOUT>_<FIELD>_MASK``      its bits in place, GENMASK(msb, lsb) (``ESR_ELx_EC_MASK``)
``<LAYOUT>_<FIELD>``           the same mask, for one-bit fields (``HCR_EL2_FWB`` = 1 << 46)
``<LAYOUT>_<FIELD>_<VALUE>``   an enum value, unshifted (``ESR_ELx_EC_DABT_LOW`` = 0x24,
                               ``ID_AA64MMFR2_EL1_FWB_IMP`` = 1)
``<LAYOUT>_RES0``, ``_RES1``   all RES0 / RES1 bits of the layout
=============================  ===========================================================

Enum value names keep letters, digits and ``_``; any other character becomes ``_``
(``TCR_EL1_IRGN0_WB_RA_WA``, ``ID_AA64MMFR0_EL1_PARange_48_bits``).  RES0/RES1/IGNORED rows
get no per-row constants.  Shared tables are named once (``MAIR_ELx_Attr3_SHIFT``,
``TTBRx_EL1_ASID_MASK``), as Linux names ``SysregFields``.

Use: ``from memattr.arch.regdefs import ESR_ELx_EC_SHIFT``.  Nothing is computed at import: the
first look-up of a name derives the constants of its layout (importing the module that defines
the table if need be) and caches them; :func:`constants` derives them all.  A name that two
layouts would both define is a ConfigError, checked by the tests over :func:`constants`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from ..errors import ConfigError
from .fields import LAYOUTS, FieldKind, Layout

__all__ = ["constants", "constants_of", "identifier", "layout"]

# The modules that define field tables, cheapest to import first (a look-up imports only as
# many as it needs to find its layout).
_TABLE_MODULES = ("memattr.arch.esr", "memattr.arch.sysregs", "memattr.arch.registers",
                  "memattr.arch.descriptor")
_NO_ROW_CONSTANTS = (FieldKind.RES0, FieldKind.RES1, FieldKind.IGNORED)

_by_layout: dict[str, Mapping[str, int]] = {}


def identifier(text: str) -> str:
    """``text`` with every character other than a letter, digit or ``_`` replaced by ``_``."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in text)


def constants_of(layout: Layout) -> Mapping[str, int]:
    """The constants of one layout (cached), named ``<layout.name>_...``."""
    done = _by_layout.get(layout.name)
    if done is not None:
        return done
    out: dict[str, int] = {}

    def put(name: str, value: int) -> None:
        if out.setdefault(name, value) != value:
            raise ConfigError(f"regdefs: {name} would be both {out[name]:#x} and {value:#x}")

    p = layout.name
    put(f"{p}_RES0", layout.res0_mask)
    put(f"{p}_RES1", layout.res1_mask)
    for f in layout.fields:
        if f.kind in _NO_ROW_CONSTANTS:
            continue
        q = f"{p}_{f.name}"
        put(f"{q}_SHIFT", f.lsb)
        put(f"{q}_WIDTH", f.width)
        put(f"{q}_MASK", f.inplace_mask)
        if f.width == 1:
            put(q, f.inplace_mask)
        for value, vname in f.values.items():
            put(f"{q}_{identifier(vname)}", value)
    frozen = MappingProxyType(out)
    _by_layout[layout.name] = frozen
    return frozen


def constants() -> Mapping[str, int]:
    """Every constant of every table (imports all table modules); ConfigError on a clash."""
    for mod in _TABLE_MODULES:
        importlib.import_module(mod)
    merged: dict[str, int] = {}
    owner: dict[str, str] = {}
    for layout in LAYOUTS.values():
        for name, value in constants_of(layout).items():
            if name in merged and merged[name] != value:
                raise ConfigError(f"regdefs: {name} is {merged[name]:#x} in {owner[name]} and "
                                  f"{value:#x} in {layout.name}")
            merged[name] = value
            owner[name] = layout.name
    return MappingProxyType(merged)


def layout(name: str) -> Layout:
    """The registered field table called ``name`` (TCR_EL1, ESR_ELx ...; any case), importing
    the modules that define tables until it is found.

    :raises ConfigError: no table of that name (naming the closest ones).
    """
    key = name.lower()
    for mod in (None, *_TABLE_MODULES):
        if mod is not None:
            importlib.import_module(mod)
        for lname, table in LAYOUTS.items():
            if lname.lower() == key:
                return table
    import difflib

    close = difflib.get_close_matches(name.upper(), [n.upper() for n in LAYOUTS], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise ConfigError(f"register={name!r}: no field table of that name (expected a register "
                      f"such as TCR_EL1, VTCR_EL2, HCR_EL2, ESR_ELx){hint}")


def _lookup(name: str, *, built_only: bool = False) -> int | None:
    # The longest registered layout name that prefixes ``name`` owns it.  ``built_only``: look
    # at the layouts built so far only (listing LAYOUTS builds every lazily registered one, the
    # 46 descriptor formats: ~3 ms a look-up of an ESR constant need not pay).  A name is
    # defined by one layout only (tested over constants()), so a hit among those is the answer.
    names = dict.keys(LAYOUTS) if built_only else LAYOUTS
    for lname in sorted((n for n in names if name.startswith(n + "_")), key=len, reverse=True):
        value = constants_of(LAYOUTS[lname]).get(name)
        if value is not None:
            return value
    return None


def __getattr__(name: str) -> int:
    if name.startswith("__"):
        raise AttributeError(name)
    value = _lookup(name, built_only=True)
    for mod in _TABLE_MODULES:
        if value is not None:
            break
        importlib.import_module(mod)
        value = _lookup(name, built_only=True)
    if value is None:
        value = _lookup(name)  # the lazily built layouts
    if value is None:
        raise AttributeError(f"module {__name__!r} has no constant {name!r} (no field table "
                             "defines it; see the naming rules in the module docstring)")
    return value


def __dir__() -> list[str]:
    return sorted([*__all__, *constants()])

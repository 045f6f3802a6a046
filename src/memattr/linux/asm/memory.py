"""arch/arm64/include/asm/memory.h (and arch/arm64/mm/proc.S MAIR_EL1_SET): the MT_* AttrIndx
values of each release, the MAIR_EL1 value each release programs, and KVM's stage-2 encodings
MT_S2_* / MT_S2_FWB_*.

Layouts (each cited where it starts):

* v5.5 - v5.9: MT_DEVICE_nGnRnE 0, MT_DEVICE_nGnRE 1, MT_DEVICE_GRE 2, MT_NORMAL_NC 3,
  MT_NORMAL 4, MT_NORMAL_WT 5 (the layout since the arm64 port).
* v5.10 - v5.13: MT_NORMAL moves to index 0 ("MT_NORMAL must be index 0 since
  vm_get_page_prot() may 'or' in the MT_NORMAL_TAGGED memory type", the MTE series) with
  MT_NORMAL_TAGGED 1, MT_NORMAL_NC 2, MT_NORMAL_WT 3, MT_DEVICE_nGnRnE 4, MT_DEVICE_nGnRE 5,
  MT_DEVICE_GRE 6.
* v5.14 on: the unused MT_NORMAL_WT and MT_DEVICE_GRE are gone: MT_NORMAL 0, MT_NORMAL_TAGGED 1,
  MT_NORMAL_NC 2, MT_DEVICE_nGnRnE 3, MT_DEVICE_nGnRE 4.

The release boundaries v5.10 and v5.14 were not re-read from the tagged trees (see docs).
MT_NORMAL_TAGGED holds MAIR_ATTR_NORMAL (0xff) as proc.S programs it and MAIR_ATTR_NORMAL_TAGGED
(0xf0) once ``cpu_enable_mte`` has run on an MTE system.
"""

from __future__ import annotations

from ..._value import dataclass  # dataclasses, cheaper to import
from ...arch.memtype import DeviceType
from ...errors import ConfigError
from ..version import OLDEST_MODELLED, V5_10, V5_14, KernelVersion
from . import sysreg as S

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from ...arch.s2memattr import FwbMeaning, FwbRule, S2Decoded

__all__ = [
    "MtLayout",
    "MT_LAYOUTS",
    "mt_layout",
    "mair_for",
    "mt_names",
    "MAIR_EL1_SET",
    "MT_NORMAL",
    "MT_NORMAL_TAGGED",
    "MT_NORMAL_NC",
    "MT_DEVICE_nGnRnE",
    "MT_DEVICE_nGnRE",
    "MT_S2_DEVICE_nGnRE",
    "MT_S2_NORMAL_NC",
    "MT_S2_NORMAL",
    "MT_S2_AS_S1",
    "MT_S2_FWB_DEVICE_nGnRE",
    "MT_S2_FWB_NORMAL_NC",
    "MT_S2_FWB_NORMAL",
    "MT_S2_FWB_AS_S1",
    "S2_MEMATTRS",
    "PAGE_S2_MEMATTR",
]


@dataclass(frozen=True, slots=True)
class MtLayout:
    """One release range's MT_* indexes and the attribute byte proc.S puts in each.

    :param since: the first release with this layout.
    :param slots: (MT name, AttrIndx, MAIR byte) in index order; MT_NORMAL_TAGGED carries its
        MTE value 0xf0 (see :func:`mair_for` for the value before ``cpu_enable_mte``).
    """

    since: KernelVersion
    slots: tuple[tuple[str, int, int], ...]

    def index(self, name: str) -> int:
        """The AttrIndx of ``name`` (ConfigError if this layout has no such MT)."""
        for n, idx, _ in self.slots:
            if n == name:
                return idx
        raise ConfigError(f"{name}: not defined in the v{self.since} MT_* layout (has "
                          f"{', '.join(n for n, _, _ in self.slots)})")

    def name(self, index: int) -> str | None:
        """The MT name at AttrIndx ``index``, or None (an index Linux leaves unused)."""
        for n, idx, _ in self.slots:
            if idx == index:
                return n
        return None

    @property
    def names(self) -> dict[str, int]:
        """MT name -> AttrIndx."""
        return {n: idx for n, idx, _ in self.slots}

    def mair(self, *, mte: bool = True) -> int:
        """MAIR_EL1 as this layout programs it (MT_NORMAL_TAGGED 0xf0 with ``mte``, else 0xff)."""
        value = 0
        for n, idx, byte in self.slots:
            if n == "MT_NORMAL_TAGGED" and not mte:
                byte = S.MAIR_ATTR_NORMAL
            value |= S.MAIR_ATTRIDX(byte, idx)
        return value


MT_LAYOUTS: tuple[MtLayout, ...] = (
    MtLayout(OLDEST_MODELLED, (
        ("MT_DEVICE_nGnRnE", 0, S.MAIR_ATTR_DEVICE_nGnRnE),
        ("MT_DEVICE_nGnRE", 1, S.MAIR_ATTR_DEVICE_nGnRE),
        ("MT_DEVICE_GRE", 2, S.MAIR_ATTR_DEVICE_GRE),
        ("MT_NORMAL_NC", 3, S.MAIR_ATTR_NORMAL_NC),
        ("MT_NORMAL", 4, S.MAIR_ATTR_NORMAL),
        ("MT_NORMAL_WT", 5, S.MAIR_ATTR_NORMAL_WT),
    )),
    MtLayout(V5_10, (
        ("MT_NORMAL", 0, S.MAIR_ATTR_NORMAL),
        ("MT_NORMAL_TAGGED", 1, S.MAIR_ATTR_NORMAL_TAGGED),
        ("MT_NORMAL_NC", 2, S.MAIR_ATTR_NORMAL_NC),
        ("MT_NORMAL_WT", 3, S.MAIR_ATTR_NORMAL_WT),
        ("MT_DEVICE_nGnRnE", 4, S.MAIR_ATTR_DEVICE_nGnRnE),
        ("MT_DEVICE_nGnRE", 5, S.MAIR_ATTR_DEVICE_nGnRE),
        ("MT_DEVICE_GRE", 6, S.MAIR_ATTR_DEVICE_GRE),
    )),
    MtLayout(V5_14, (
        ("MT_NORMAL", 0, S.MAIR_ATTR_NORMAL),
        ("MT_NORMAL_TAGGED", 1, S.MAIR_ATTR_NORMAL_TAGGED),
        ("MT_NORMAL_NC", 2, S.MAIR_ATTR_NORMAL_NC),
        ("MT_DEVICE_nGnRnE", 3, S.MAIR_ATTR_DEVICE_nGnRnE),
        ("MT_DEVICE_nGnRE", 4, S.MAIR_ATTR_DEVICE_nGnRE),
    )),
)


def mt_layout(release: KernelVersion | str) -> MtLayout:
    """The MT_* layout of ``release`` (ConfigError below the oldest modelled release)."""
    r = KernelVersion.parse(release)
    if r < OLDEST_MODELLED:
        raise ConfigError(f"kernel {r}: older than the oldest release modelled "
                          f"(v{OLDEST_MODELLED})")
    found = MT_LAYOUTS[0]
    for layout in MT_LAYOUTS:
        if r >= layout.since:
            found = layout
    return found


def mair_for(release: KernelVersion | str, *, mte: bool = False) -> int:
    """The MAIR_EL1 value a kernel of ``release`` programs (proc.S MAIR_EL1_SET).

    :param mte: the CPU has MTE and ``cpu_enable_mte`` ran (MT_NORMAL_TAGGED becomes 0xf0).
    """
    return mt_layout(release).mair(mte=mte)


def mt_names(release: KernelVersion | str) -> dict[str, int]:
    """MT name -> AttrIndx in ``release``."""
    return mt_layout(release).names


_CURRENT = MT_LAYOUTS[-1]
MAIR_EL1_SET = _CURRENT.mair(mte=True)
"""MAIR_EL1 of v5.14 on with MTE enabled (0x000000040044f0ff)."""
MT_NORMAL = _CURRENT.index("MT_NORMAL")
MT_NORMAL_TAGGED = _CURRENT.index("MT_NORMAL_TAGGED")
MT_NORMAL_NC = _CURRENT.index("MT_NORMAL_NC")
MT_DEVICE_nGnRnE = _CURRENT.index("MT_DEVICE_nGnRnE")
MT_DEVICE_nGnRE = _CURRENT.index("MT_DEVICE_nGnRE")


# --- stage 2: MT_S2_* and MT_S2_FWB_* -------------------------------------------------------------
# Each value is found by asking arch's decoders which MemAttr means the type KVM names, so the
# encodings follow from ASL S2DecodeMemAttrs / AArch64.S2ApplyFWBMemAttrs, not from retyped numbers.
# They are derived on first use (module __getattr__): a MAIR query needs no stage-2 decoder.

MT_S2_DEVICE_nGnRE: int  # 0x1
MT_S2_NORMAL_NC: int  # 0x5, since c034ec84e879 (v6.9)
MT_S2_NORMAL: int  # 0xf
MT_S2_AS_S1: int  # = MT_S2_NORMAL, v7.0
MT_S2_FWB_DEVICE_nGnRE: int  # 1
MT_S2_FWB_NORMAL_NC: int  # 5, since c034ec84e879 (v6.9)
MT_S2_FWB_NORMAL: int  # 6
MT_S2_FWB_AS_S1: int  # 7, v7.0
S2_MEMATTRS: dict[str, tuple[int, int]]
"""KVM's stage-2 encodings by name: (MT_S2_<name>, MT_S2_FWB_<name>)."""

_S2_NAMES = frozenset(("MT_S2_DEVICE_nGnRE", "MT_S2_NORMAL_NC", "MT_S2_NORMAL", "MT_S2_AS_S1",
                       "MT_S2_FWB_DEVICE_nGnRE", "MT_S2_FWB_NORMAL_NC", "MT_S2_FWB_NORMAL",
                       "MT_S2_FWB_AS_S1", "S2_MEMATTRS"))


def _s2_nofwb(want: str, decoded: list[S2Decoded]) -> int:
    """The first MemAttr (without FWB) whose decode is the type KVM names ``want``."""
    for v, d in enumerate(decoded):
        if d.reserved or len(d.outcomes) != 1:
            continue
        a = d.outcomes[0]
        if a.notagaccess:  # 0b0100 with FEAT_MTE_PERM: WB NoTagAccess, not a type KVM names
            continue
        if want == "DEVICE_nGnRE" and a.device is DeviceType.nGnRE:
            return v
        if want in ("NORMAL_NC", "NORMAL") and a.inner is not None and a.outer is not None:
            c = "NC" if want == "NORMAL_NC" else "WB"
            if a.inner.cacheability.name == c and a.outer.cacheability.name == c:
                return v
    raise AssertionError(want)  # pragma: no cover


def _s2_fwb(rule: FwbRule, meanings: list[FwbMeaning], device: DeviceType | None = None) -> int:
    """The first MemAttr[2:0] (with FWB) whose meaning is ``rule`` (and ``device``)."""
    for v, m in enumerate(meanings):
        if m.rule is rule and m.device is device and not m.reserved:
            return v
    raise AssertionError(rule)  # pragma: no cover


def _s2_values() -> dict[str, object]:
    """The MT_S2_* / MT_S2_FWB_* encodings and S2_MEMATTRS, derived once into the module (each
    MemAttr decoded once)."""
    g = globals()
    if "S2_MEMATTRS" not in g:
        from ...arch.s2memattr import FwbRule, fwb_meaning, s2_decode_mem_attrs

        decoded = [s2_decode_mem_attrs(v) for v in range(16)]
        nofwb = {n: _s2_nofwb(n, decoded) for n in ("DEVICE_nGnRE", "NORMAL_NC", "NORMAL")}
        nofwb["AS_S1"] = nofwb["NORMAL"]
        meanings = [fwb_meaning(v).result for v in range(8)]
        fwb = {"DEVICE_nGnRE": _s2_fwb(FwbRule.DEVICE, meanings, DeviceType.nGnRE),
               "NORMAL_NC": _s2_fwb(FwbRule.NC_OR_S1_DEVICE, meanings),
               "NORMAL": _s2_fwb(FwbRule.FORCE_WB, meanings),
               "AS_S1": _s2_fwb(FwbRule.AS_S1, meanings)}
        values: dict[str, object] = {f"MT_S2_{n}": v for n, v in nofwb.items()}
        values.update((f"MT_S2_FWB_{n}", v) for n, v in fwb.items())
        values["S2_MEMATTRS"] = {n: (nofwb[n], fwb[n]) for n in nofwb}
        g.update(values)
    return g


def __getattr__(name: str) -> object:
    if name in _S2_NAMES:
        return _s2_values()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def PAGE_S2_MEMATTR(attr: str, has_fwb: bool) -> int:  # noqa: N802 - the kernel's macro name
    """``PAGE_S2_MEMATTR(attr, has_fwb)``: MemAttr[3:0] of MT_S2_FWB_<attr> or MT_S2_<attr>
    (unshifted; the descriptor holds it in bits [5:2])."""
    pair: tuple[int, int] = _s2_values()["S2_MEMATTRS"][attr]  # type: ignore[index]
    return pair[1] if has_fwb else pair[0]

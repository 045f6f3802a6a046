"""The PE: which architecture features it implements, as one value.

Every rule whose answer depends on an implemented feature takes a :class:`Cpu` (MAIR decode,
stage-1 x stage-2 combining, descriptor forms, walks, AT/PAR_EL1).  ``Cpu()`` is the permissive
default: every feature memattr models is implemented and PAMax is 52 bits, so that no encoding is
treated as reserved merely because a feature is missing.  Presets for real cores live in
:data:`PRESETS` (looked up by :func:`get_cpu`).

Feature names are Arm's (FEAT_*, Arm ARM A2 "Architectural features"); the ID register field that
advertises each one is named in its comment.
"""

from __future__ import annotations

from .._value import dataclass, replace  # dataclasses, cheaper to import
from ..errors import ConfigError

__all__ = ["Cpu", "ALL", "PRESETS", "get_cpu", "cpu_names", "PA_SIZES"]

PA_SIZES = (32, 36, 40, 42, 44, 48, 52)
"""Output address sizes ID_AA64MMFR0_EL1.PARange (and TCR_EL1.IPS / VTCR_EL2.PS) can encode."""


@dataclass(frozen=True, slots=True)
class Cpu:
    """The features of one PE that change memory-attribute, descriptor and walk rules.

    :param name: a label ('neoverse-n1', 'all', ...).
    :param pa_max: PAMax, the implemented physical address size in bits
        (ID_AA64MMFR0_EL1.PARange): 32, 36, 40, 42, 44, 48 or 52.
    :param xs: FEAT_XS (ID_AA64ISAR1_EL1.XS): the XS attribute, MAIR 0b0000dd01 / 0x40 / 0xA0,
        stage-2 FnXS and PAR_EL1.ATTR[0].
    :param lpa: FEAT_LPA (PARange 0b0110 with 64KB): 52-bit OA in 64KB descriptors, 64KB level-1
        blocks.
    :param lpa2: FEAT_LPA2 (ID_AA64MMFR0_EL1.TGran4/16 = 0b0001/0b0010): TCR.DS / VTCR.DS.
    :param lva: FEAT_LVA (ID_AA64MMFR2_EL1.VARange): 52-bit VA with 64KB.
    :param ttst: FEAT_TTST (ID_AA64MMFR2_EL1.ST): small translation tables (TxSZ up to 48).
    :param xnx: FEAT_XNX (ID_AA64MMFR1_EL1.XNX): stage-2 XN[1:0] distinguishes EL0 and EL1.
    :param s2fwb: FEAT_S2FWB (ID_AA64MMFR2_EL1.FWB): HCR_EL2.FWB is implemented.
    :param mte2: FEAT_MTE2 (ID_AA64PFR1_EL1.MTE >= 2): MAIR 0xF0 Tagged Normal.
    :param mte_perm: FEAT_MTE_PERM: stage-2 NoTagAccess (FWB MemAttr 0b0100 with bit 3).
    :param hpds2: FEAT_HPDS2 (ID_AA64MMFR1_EL1.HPDS = 0b0010): PBHA bits [62:59].
    :param ha: FEAT_HAFDBS hardware Access flag update (ID_AA64MMFR1_EL1.HAFDBS >= 1).
    :param hd: FEAT_HAFDBS hardware dirty state (ID_AA64MMFR1_EL1.HAFDBS >= 2).
    :param dic: CTR_EL0.DIC: no I-cache invalidation needed for instruction-to-data coherence.
    :param idc: CTR_EL0.IDC: no D-cache clean to PoU needed for data-to-instruction coherence.
    :param lse: FEAT_LSE (ID_AA64ISAR0_EL1.Atomic): LSE atomic instructions.
    :param ls64: FEAT_LS64 (ID_AA64ISAR1_EL1.LS64): LD64B/ST64B single-copy atomic 64-byte accesses.
    :param granules: translation granules (KiB) the stage-1 walk supports (TGran4/16/64).
    :param s2_granules: translation granules (KiB) the stage-2 walk supports (TGranN_2).
    :param source: where the preset's values come from (TRM, QEMU source), for citation.
    """

    name: str = "all"
    pa_max: int = 52
    xs: bool = True
    lpa: bool = True
    lpa2: bool = True
    lva: bool = True
    ttst: bool = True
    xnx: bool = True
    s2fwb: bool = True
    mte2: bool = True
    mte_perm: bool = True
    hpds2: bool = True
    ha: bool = True
    hd: bool = True
    dic: bool = True
    idc: bool = True
    lse: bool = True
    ls64: bool = True
    granules: tuple[int, ...] = (4, 16, 64)
    s2_granules: tuple[int, ...] = (4, 16, 64)
    source: str = "memattr: every modelled feature implemented"

    def __post_init__(self) -> None:
        if self.pa_max not in PA_SIZES:
            raise ConfigError(f"Cpu.pa_max={self.pa_max}: not an implementable PA size {PA_SIZES}")
        if self.pa_max == 52 and not (self.lpa or self.lpa2):
            raise ConfigError("Cpu.pa_max=52: a 52-bit PA needs FEAT_LPA or FEAT_LPA2")
        if self.hd and not self.ha:
            raise ConfigError("Cpu.hd: FEAT_HAFDBS dirty state needs the Access flag update (ha)")
        for g in (*self.granules, *self.s2_granules):
            if g not in (4, 16, 64):
                raise ConfigError(f"Cpu granule {g}: expected 4, 16 or 64 (KiB)")

    def with_(self, **changes: object) -> Cpu:
        """A copy with some features changed (``cpu.with_(xs=False)``)."""
        return replace(self, **changes)  # type: ignore[arg-type]


ALL = Cpu()
"""Every feature memattr models, PAMax 52: the default wherever no CPU is named."""

PRESETS: dict[str, Cpu] = {"all": ALL}
"""Named CPUs for ``--cpu NAME``; real cores are added with their sources."""


def cpu_names() -> tuple[str, ...]:
    """The preset names, sorted."""
    return tuple(sorted(PRESETS))


def get_cpu(name: str | Cpu) -> Cpu:
    """The preset called ``name`` (a :class:`Cpu` is returned as is)."""
    if isinstance(name, Cpu):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"cpu={name!r}: unknown (one of {', '.join(cpu_names())})") from None

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

__all__ = [
    "Cpu",
    "ALL",
    "NEOVERSE_N1",
    "NEOVERSE_V2",
    "CORTEX_A76",
    "QEMU_9_2_MAX",
    "PRESETS",
    "get_cpu",
    "cpu_names",
    "PA_SIZES",
    "lpa_64k",
]

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
        if self.mte_perm and not self.mte2:
            raise ConfigError("Cpu.mte_perm: FEAT_MTE_PERM needs FEAT_MTE2 (mte2)")
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

# The presets below give the features of real cores as their ID registers report them.  Each
# source names the register values used; fields: ID_AA64MMFR0_EL1 (PARange, TGran*),
# ID_AA64MMFR1_EL1 (HAFDBS, HPDS, XNX), ID_AA64MMFR2_EL1 (VARange, ST, FWB), ID_AA64ISAR0/1_EL1
# (Atomic, XS, LS64), ID_AA64PFR1_EL1 (MTE), ID_AA64PFR2_EL1 (MTEPERM) and CTR_EL0 (DIC, IDC).

NEOVERSE_N1 = Cpu(
    name="neoverse-n1", pa_max=48, xs=False, lpa=False, lpa2=False, lva=False, ttst=False,
    xnx=True, s2fwb=False, mte2=False, mte_perm=False, hpds2=True, ha=True, hd=True, dic=False,
    idc=False, lse=True, ls64=False,
    source=("Arm Neoverse N1 r4p1 TRM B2.4 as QEMU target/arm/tcg/cpu64.c "
            "aarch64_neoverse_n1_initfn has it: ID_AA64MMFR0_EL1=0x101125 (PARange 48 bits, "
            "4K/16K/64K), MMFR1=0x10212122 (HAFDBS=2, HPDS=2, XNX=1), MMFR2=0x1011 (no LVA, TTST, "
            "FWB), ISAR0=0x100010211120 (LSE), ISAR1=0x100001 (no XS), PFR1=0x20 (no MTE), "
            "CTR_EL0=0x8444c004 (DIC=0, IDC=0)"),
)

CORTEX_A76 = Cpu(
    name="cortex-a76", pa_max=40, xs=False, lpa=False, lpa2=False, lva=False, ttst=False,
    xnx=True, s2fwb=False, mte2=False, mte_perm=False, hpds2=True, ha=True, hd=True, dic=False,
    idc=False, lse=True, ls64=False,
    source=("Arm Cortex-A76 r4p1 TRM B2.4 as QEMU target/arm/tcg/cpu64.c aarch64_a76_initfn "
            "has it: ID_AA64MMFR0_EL1=0x101122 (PARange 40 bits, 4K/16K/64K), MMFR1=0x10212122 "
            "(HAFDBS=2, HPDS=2, XNX=1), MMFR2=0x1011 (no LVA, TTST, FWB), ISAR0=0x100010211120 "
            "(LSE), ISAR1=0x100001 (no XS), PFR1=0x10 (no MTE), CTR_EL0=0x8444c004 (DIC=0, "
            "IDC=0)"),
)

NEOVERSE_V2 = Cpu(
    name="neoverse-v2", pa_max=48, xs=False, lpa=False, lpa2=False, lva=False, ttst=True,
    xnx=True, s2fwb=True, mte2=True, mte_perm=False, hpds2=True, ha=True, hd=True, dic=True,
    idc=True, lse=True, ls64=False,
    source=("Arm Neoverse V2 (Armv9.0-A): FEAT_MTE2 and no FEAT_XS as in LLVM "
            "clang/test/Driver/print-enabled-extensions/aarch64-neoverse-v2.c; memory-model ID "
            "fields as its Armv9.0 sibling Neoverse N2 reports them (QEMU aarch64_neoverse_n2_"
            "initfn from the N2 TRM: MMFR0=0x22200101125 PARange 48 bits, MMFR1=0x10212122, "
            "MMFR2=0x1221011112101011 ST=1 FWB=1 VARange=0, PFR1=0x221 MTE=2, CTR_EL0 DIC=IDC=1); "
            "the V2 TRM's own register values were not available to re-check"),
)

QEMU_9_2_MAX = Cpu(
    name="qemu-9.2-max", pa_max=52, xs=False, lpa=True, lpa2=True, lva=True, ttst=True,
    xnx=True, s2fwb=True, mte2=True, mte_perm=False, hpds2=True, ha=True, hd=True, dic=True,
    idc=True, lse=True, ls64=False,
    source=("QEMU 9.2 -cpu max (target/arm/tcg/cpu64.c aarch64_max_tcg_initfn): PARANGE=6 "
            "(FEAT_LPA, 52 bits) with the lpa2 property on (FEAT_LPA2), VARANGE=1 (FEAT_LVA), "
            "ST=1, FWB=1, HAFDBS=2, HPDS=2, XNX=1, MTE=3 (needs -machine virt,mte=on; QEMU "
            "lowers it to 0 without tag memory), CTR_EL0 DIC=IDC=1; FEAT_XS (ISAR1.XS) came with "
            "QEMU 10.0, FEAT_MTE_PERM and FEAT_LS64 are not emulated"),
)

PRESETS: dict[str, Cpu] = {
    c.name: c for c in (ALL, NEOVERSE_N1, NEOVERSE_V2, CORTEX_A76, QEMU_9_2_MAX)
}
"""Named CPUs for ``--cpu NAME``, each with its source."""


def cpu_names() -> tuple[str, ...]:
    """The preset names, sorted."""
    return tuple(sorted(PRESETS))


def get_cpu(name: str | Cpu) -> Cpu:
    """The preset called ``name`` (a :class:`Cpu` is returned as is).

    :param name: a preset name (:func:`cpu_names`: 'all', 'neoverse-n1', 'cortex-a76' ...).
    :returns: the :class:`Cpu`.
    :raises ConfigError: an unknown name (listing the presets).
    """
    if isinstance(name, Cpu):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"cpu={name!r}: unknown (one of {', '.join(cpu_names())})") from None


def lpa_64k(cpu: Cpu) -> bool:
    """Whether 64KB descriptors and TTBRs hold address bits [51:48] (ASL Have52BitPAExt).

    That is FEAT_LPA, advertised by ID_AA64MMFR0_EL1.PARange = 0b0110 (52 bits): a PE whose
    PAMax is 52 has it, whatever else its :class:`Cpu` says.
    """
    return cpu.lpa or cpu.pa_max >= 52

"""Translation regimes: the EL1&0 stage 1 (TCR_EL1, TTBR0/1_EL1, MAIR_EL1, SCTLR_EL1) and the
stage 2 under EL2 (VTCR_EL2, VTTBR_EL2, HCR_EL2), read for one PE (:class:`~memattr.arch.cpu.Cpu`).

The registers are decoded into walk parameters by :mod:`memattr.arch.walkparams` (ASL
AArch64.GetS1TTWParams / GetS2TTWParams).  Register content that the walk cannot use is never an
exception here: it is the reason of the level-0 Translation fault every walk then takes
(``Stage1Half.fault``, ``Stage2Regime.fault``), and VTCR_EL2 matters only while stage 2 is on.

:class:`Geometry` is the shape of one table tree -- granule, input size, start level, number of
concatenated root tables, output size, descriptor forms -- and the index arithmetic of a walk.
The walker, the table builder and the batch walker all take their numbers from it.

Sizes and levels (Arm ARM D8.2; ASL AArch64.S1StartLevel / AArch64.S2StartLevel): a level-L
descriptor maps 2**(shift + (3 - L) * (shift - 3)) bytes, where shift is 12, 14 or 16; the root
table resolves the remaining ``ia_bits - level_shift(start)`` bits, which stage 2 may spread
over up to 16 concatenated tables.

Public construction from raw register values::

    Regime.from_registers(tcr=..., mair=..., ttbr0=..., sctlr=..., hcr=..., vtcr=..., vttbr=...,
                          cpu=get_cpu("neoverse-n1"))
"""

from __future__ import annotations

from .._value import dataclass, field  # dataclasses, cheaper to import
from ..arch import registers as R
from ..arch import walkparams as W
from ..arch.combine import Controls
from ..arch.cpu import ALL, Cpu
from ..arch.descriptor import FINAL_LEVEL, Granule, level_shift
from ..arch.fields import genmask
from ..arch.impdef import DEFAULT as IMPDEF_DEFAULT
from ..arch.impdef import ImpDef
from ..arch.sysregs import MAIR_ELx
from ..errors import ConfigError, EncodingError

__all__ = [
    "Geometry",
    "Stage1Half",
    "Stage1Regime",
    "Stage2Regime",
    "Regime",
    "SCTLR_DEFAULT",
    "HCR_DEFAULT",
    "vtcr_value",
    "ia_mask",
]

_SCTLR = R.SCTLR_EL1
_HCR = R.HCR_EL2

SCTLR_DEFAULT = _SCTLR.encode(M=1, C=1, I=1)
"""SCTLR_EL1 with M (stage 1 on), C and I (caches on): a running guest."""

HCR_DEFAULT = _HCR.encode(VM=1, RW=1)
"""HCR_EL2 with VM (stage 2 on) and RW (EL1 is AArch64): a KVM guest without FWB."""


@dataclass(frozen=True, slots=True)
class Geometry:
    """The shape of one translation table tree.

    :param stage: 1 or 2.
    :param granule: translation granule.
    :param ia_bits: input address size (64 - TxSZ).
    :param start_level: the level of the root table (-1..3).
    :param oa_bits: output address size in force (ASL AArch64.PhysicalAddressSize of
        TCR_EL1.IPS / VTCR_EL2.PS: capped at 48 unless 64KB or DS=1, and at PAMax).
    :param ds: TCR_EL1.DS / VTCR_EL2.DS in effect (FEAT_LPA2).
    :param concat: number of concatenated root tables (stage 2 only; 1..16).
    :param pa_max: PAMax of the PE: 64KB level-1 blocks exist when it is 52
        (ASL AArch64.BlockDescSupported).
    :param lpa: 64KB descriptors hold OA[51:48] in bits[15:12] (FEAT_LPA; ASL AArch64.LeafBase,
        AArch64.NextTableBase), whatever IPS/PS say.
    """

    stage: int
    granule: Granule
    ia_bits: int
    start_level: int
    oa_bits: int = 48
    ds: bool = False
    concat: int = 1
    pa_max: int = ALL.pa_max
    lpa: bool = True

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ConfigError(f"stage={self.stage}: must be 1 or 2")
        if not 32 <= self.oa_bits <= 52:
            raise ConfigError(f"oa_bits={self.oa_bits}: out of range (32..52)")
        if self.oa_bits > self.pa_max:
            raise ConfigError(f"oa_bits={self.oa_bits}: beyond PAMax ({self.pa_max} bits)")
        if self.oa_bits > 48 and not (self.ds or (self.granule is Granule.K64 and self.lpa)):
            raise ConfigError(
                f"oa_bits={self.oa_bits}: a 52-bit output address with the {self.granule} "
                "granule needs DS=1 (FEAT_LPA2)" if self.granule is not Granule.K64 else
                f"oa_bits={self.oa_bits}: a 52-bit output address with the 64k granule needs "
                "FEAT_LPA"
            )
        if self.ds and self.granule is Granule.K64:
            raise ConfigError("DS=1: RES0 with the 64KB granule")
        lo = self.granule.min_level(self.ds)
        if not lo <= self.start_level <= FINAL_LEVEL:
            raise ConfigError(
                f"start_level={self.start_level}: no such level for the {self.granule} granule "
                f"(levels {lo}..{FINAL_LEVEL})"
            )
        root_bits = self.ia_bits - level_shift(self.granule, self.start_level)
        stride = self.granule.bits_per_level
        concat_bits = max(0, root_bits - stride)
        if root_bits < 1 or concat_bits > (4 if self.stage == 2 else 0):
            limit = stride + (4 if self.stage == 2 else 0)
            raise ConfigError(
                f"ia_bits={self.ia_bits}: a stage-{self.stage} walk starting at level "
                f"{self.start_level} with the {self.granule} granule resolves 1..{limit} bits at "
                f"the root, not {root_bits}"
            )
        if self.concat != 1 << concat_bits:
            raise ConfigError(
                f"concat={self.concat}: a {self.ia_bits}-bit input from level {self.start_level} "
                f"needs {1 << concat_bits} concatenated root table(s)"
            )

    # --- constructors ----------------------------------------------------------------------
    @classmethod
    def for_stage1(
        cls, granule: Granule, ia_bits: int, oa_bits: int = 48, ds: bool = False, *,
        cpu: Cpu = ALL,
    ) -> Geometry:
        """Stage-1 geometry; the start level follows from the input size (ASL
        AArch64.S1StartLevel).  EncodingError if the size is outside AArch64.S1MinTxSZ ..
        AArch64.MaxTxSZ for ``cpu``."""
        start = R.s1_start_level(granule, 64 - ia_bits, ds, lva=cpu.lva, ttst=cpu.ttst,
                                 field="TxSZ")
        return cls(1, granule, ia_bits, start, oa_bits, ds, 1, cpu.pa_max, W.lpa_64k(cpu))

    @classmethod
    def for_stage2(
        cls,
        granule: Granule,
        ia_bits: int,
        oa_bits: int = 48,
        start_level: int | None = None,
        ds: bool = False,
        *,
        cpu: Cpu = ALL,
    ) -> Geometry:
        """Stage-2 geometry; by default the highest start level that needs <= 16 root tables.

        EncodingError if ``ia_bits`` is outside what AArch64.S2MinTxSZ / MaxTxSZ allow ``cpu``.
        """
        lo = 64 - W.max_txsz(granule, cpu)
        hi = 64 - W.s2_min_txsz(granule, ds, cpu)
        if not lo <= ia_bits <= hi:
            raise EncodingError(
                f"ipa_bits={ia_bits}: out of range for a stage-2 {granule} walk ({lo}..{hi}; "
                "VTCR_EL2.T0SZ = 64 - ipa_bits)"
            )
        if start_level is None:
            start_level = FINAL_LEVEL
            while ia_bits - level_shift(granule, start_level) > granule.bits_per_level + 4:
                start_level -= 1
        elif not granule.min_level(ds) <= start_level <= FINAL_LEVEL:
            # checked before any shift by it: a level of 2**32 would shift by 2**35 bits
            raise EncodingError(
                f"start_level={start_level}: no such level for a stage-2 {granule} walk "
                f"({granule.min_level(ds)}..{FINAL_LEVEL})"
            )
        concat = 1 << max(0, ia_bits - level_shift(granule, start_level)
                          - granule.bits_per_level)
        return cls(2, granule, ia_bits, start_level, oa_bits, ds, concat, cpu.pa_max,
                   W.lpa_64k(cpu))

    @property
    def form_pa_bits(self) -> int:
        """The ``pa_bits`` that selects this tree's descriptor format in arch.descriptor."""
        return 52 if self.ds or (self.granule is Granule.K64 and self.lpa) else 48

    # --- arithmetic ------------------------------------------------------------------------
    @property
    def stride(self) -> int:
        """Index bits per level below the root (granule shift - 3)."""
        return self.granule.bits_per_level

    def shift(self, level: int) -> int:
        """log2 of the bytes one descriptor at ``level`` maps."""
        return level_shift(self.granule, level)

    def block_size(self, level: int) -> int:
        """Bytes one descriptor at ``level`` maps."""
        return 1 << level_shift(self.granule, level)

    def entries(self, level: int) -> int:
        """Descriptors in one table at ``level`` (the root counts all concatenated tables)."""
        if level == self.start_level:
            return 1 << (self.ia_bits - self.shift(level))
        return 1 << self.stride

    def table_bytes(self, level: int) -> int:
        """Bytes of the table at ``level`` (the root may be smaller than a granule)."""
        return 8 * self.entries(level)

    @property
    def root_bytes(self) -> int:
        """Bytes to allocate for the root: at least one granule, all concatenated tables."""
        return max(self.table_bytes(self.start_level), self.granule.size)

    def index(self, ia: int, level: int) -> int:
        """Descriptor index of ``ia`` in its table at ``level``."""
        return (ia >> self.shift(level)) & (self.entries(level) - 1)

    @property
    def ia_size(self) -> int:
        """Bytes of input address space: 2**ia_bits."""
        return 1 << self.ia_bits

    @property
    def levels(self) -> range:
        """The lookup levels of a walk, root first."""
        return range(self.start_level, FINAL_LEVEL + 1)

    def contiguous_entries(self, level: int) -> int:
        """Entries in a contiguous set at ``level`` (Arm ARM D8.6.1, the Contiguous bit).

        4KB: 16 at every level; 16KB: 32 at level 2, 128 at level 3; 64KB: 32 (ASL
        AArch64.ContiguousBit / StageOA; Linux CONT_PTES/CONT_PMDS).
        """
        if self.granule is Granule.K4:
            return 16
        if self.granule is Granule.K16:
            return 128 if level == FINAL_LEVEL else 32
        return 32

    def describe(self) -> str:
        """One line: 'stage 2, 4k granule, 40-bit IA, start level 1 (2 concatenated), 48-bit OA'."""
        cat = f" ({self.concat} concatenated)" if self.concat > 1 else ""
        ds = ", DS=1" if self.ds else ""
        return (f"stage {self.stage}, {self.granule} granule, {self.ia_bits}-bit IA, start level "
                f"{self.start_level}{cat}, {self.oa_bits}-bit OA{ds}")


@dataclass(frozen=True, slots=True)
class Stage1Half:
    """One VA range of the EL1&0 stage 1: its walk parameters and, when the registers allow a
    walk, its geometry and root table.

    :param n: 0 for TTBR0_EL1, 1 for TTBR1_EL1.  :param params: arch.walkparams.S1Params.
    :param geometry: None when ``params.fault`` (every walk faults at level 0).
    :param root: the root table address (ASL AArch64.S1TTBaseAddress).
    """

    n: int
    params: W.S1Params
    geometry: Geometry | None
    root: int

    @property
    def ia_bits(self) -> int:
        """Input size in bits (64 - T<n>SZ as used)."""
        return self.params.ia_bits

    @property
    def epd(self) -> bool:
        """TCR_EL1.EPD<n>: walks of this range are disabled."""
        return self.params.epd

    @property
    def tbi(self) -> bool:
        """TCR_EL1.TBI<n>: the top byte is ignored."""
        return self.params.tbi

    @property
    def hpd(self) -> bool:
        """TCR_EL1.HPD<n>: hierarchical permissions disabled."""
        return self.params.hpd

    @property
    def sh(self) -> int:
        """TCR_EL1.SH<n> (the leaf shareability with DS=1)."""
        return self.params.sh

    @property
    def fault(self) -> str | None:
        """Why every walk of this range takes a level-0 Translation fault, or None."""
        return self.params.fault


@dataclass(frozen=True, slots=True)
class Stage1Regime:
    """The EL1&0 stage-1 translation: TCR_EL1, TTBR0/1_EL1, MAIR_EL1 and SCTLR_EL1, for ``cpu``.

    ``mair`` is required (no operating system's layout is assumed).
    """

    tcr: int
    ttbr0: int = 0
    ttbr1: int = 0
    sctlr: int = SCTLR_DEFAULT
    mair: int = field(kw_only=True)
    cpu: Cpu = field(default=ALL, kw_only=True)
    imp: ImpDef = field(default=IMPDEF_DEFAULT, kw_only=True, repr=False)
    halves: tuple[Stage1Half, Stage1Half] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("tcr", "ttbr0", "ttbr1", "mair", "sctlr"):
            v = getattr(self, name)
            if not 0 <= v < 1 << 64:
                raise EncodingError(f"{name.upper()}=0x{v:x}: out of range (64-bit register)")
        halves = []
        for n, ttbr in ((0, self.ttbr0), (1, self.ttbr1)):
            p = W.s1_walk_params(self.tcr, ttbr, n, self.cpu, self.imp)
            geom = None
            if p.fault is None:
                geom = Geometry(1, p.granule, p.ia_bits, p.start_level, p.oa_bits, p.ds, 1,
                                self.cpu.pa_max, W.lpa_64k(self.cpu))
            halves.append(Stage1Half(n, p, geom, p.base))
        object.__setattr__(self, "halves", (halves[0], halves[1]))

    @classmethod
    def simple(
        cls,
        granule: Granule = Granule.K4,
        va_bits: int = 48,
        ips_bits: int = 48,
        *,
        mair: int,
        ttbr0: int = 0,
        ttbr1: int = 0,
        sctlr: int = SCTLR_DEFAULT,
        ds: bool = False,
        asid16: bool = True,
        cpu: Cpu = ALL,
    ) -> Stage1Regime:
        """A regime with both halves of ``va_bits`` and ``granule`` (TCR built from fields)."""
        tcr = R.TCR_EL1.encode(
            T0SZ=64 - va_bits, T1SZ=64 - va_bits, TG0=R.tg0_encoding(granule),
            TG1=R.tg1_encoding(granule), IPS=R.ps_encoding(ips_bits), SH0=3, SH1=3,
            IRGN0=1, ORGN0=1, IRGN1=1, ORGN1=1, DS=int(ds), AS=int(asid16),
        )
        return cls(tcr, ttbr0, ttbr1, sctlr, mair=mair, cpu=cpu)

    @classmethod
    def off(cls, cpu: Cpu = ALL) -> Stage1Regime:
        """Stage 1 disabled (SCTLR_EL1.M=0; TCR_EL1 and MAIR_EL1 zero, not used)."""
        return cls(0, 0, 0, 0, mair=0, cpu=cpu)

    def half_of(self, va: int) -> Stage1Half:
        """The half that translates ``va``: TTBR1 when VA[55] is 1 (ASL AArch64.GetVARange)."""
        return self.halves[W.va_range(va)]

    @property
    def asid(self) -> int:
        """The current ASID: TTBR1_EL1.ASID if TCR_EL1.A1 else TTBR0_EL1.ASID (8 or 16 bits)."""
        ttbr = self.ttbr1 if R.TCR_EL1.get(self.tcr, "A1") else self.ttbr0
        asid = R.TTBRx_EL1.get(ttbr, "ASID")
        return asid if R.TCR_EL1.get(self.tcr, "AS") else asid & genmask(7, 0)

    @property
    def ips_bits(self) -> int:
        """TCR_EL1.IPS in bits (0b111 decodes as 56, as the ASL does)."""
        return W.decode_ps(R.TCR_EL1.get(self.tcr, "IPS"))

    def va_in_range(self, va: int, *, ifetch: bool = False) -> bool:
        """ASL AArch64.VAIsOutOfRange negated: VA[top:ia_bits] all equal VA[55], where top is 55
        with TBI<n> (63 for an instruction fetch with TBID<n>), else 63."""
        half = self.half_of(va)
        p = half.params
        top = W.addr_top(p.tbi, p.tbid, ifetch)
        width = p.ia_bits
        if width > top:
            return True
        hi = (va >> width) & genmask(top - width, 0)
        return hi == (0 if half.n == 0 else genmask(top - width, 0))

    def sctlr_bit(self, name: str) -> bool:
        """A SCTLR_EL1 flag by name."""
        return bool(_SCTLR.get(self.sctlr, name))

    def mair_attr(self, index: int) -> int:
        """MAIR_EL1.Attr<index> (ASL AArch64.MAIRAttr)."""
        return MAIR_ELx.get(self.mair, f"Attr{index}")


@dataclass(frozen=True, slots=True)
class Stage2Regime:
    """The stage-2 translation of the EL1&0 regime: VTCR_EL2 and VTTBR_EL2, for ``cpu``.

    Constructing one never fails on register content: ``fault`` holds why a walk with these
    values takes a level-0 Translation fault (and ``geometry`` is then None).
    """

    vtcr: int
    vttbr: int = 0
    cpu: Cpu = field(default=ALL, kw_only=True)
    imp: ImpDef = field(default=IMPDEF_DEFAULT, kw_only=True, repr=False)
    params: W.S2Params = field(init=False, repr=False, compare=False)
    geometry: Geometry | None = field(init=False, repr=False, compare=False)
    root: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("vtcr", "vttbr"):
            v = getattr(self, name)
            if not 0 <= v < 1 << 64:
                raise EncodingError(f"{name.upper()}=0x{v:x}: out of range (64-bit register)")
        p = W.s2_walk_params(self.vtcr, self.vttbr, self.cpu, self.imp)
        geom = None
        if p.fault is None and p.start_level is not None:
            geom = Geometry(2, p.granule, p.ia_bits, p.start_level, p.oa_bits, p.ds, p.concat,
                            self.cpu.pa_max, W.lpa_64k(self.cpu))
        object.__setattr__(self, "params", p)
        object.__setattr__(self, "geometry", geom)
        object.__setattr__(self, "root", p.base)

    @classmethod
    def simple(
        cls,
        granule: Granule = Granule.K4,
        ipa_bits: int = 40,
        ps_bits: int = 48,
        *,
        vttbr: int = 0,
        start_level: int | None = None,
        ds: bool = False,
        vmid16: bool = True,
        cpu: Cpu = ALL,
    ) -> Stage2Regime:
        """A regime for an ``ipa_bits`` IPA space (VTCR built from fields, KVM-like SL0)."""
        oa = W.physical_address_size(R.ps_encoding(ps_bits), granule, ds, cpu)
        geom = Geometry.for_stage2(granule, ipa_bits, oa, start_level, ds, cpu=cpu)
        return cls(vtcr_value(geom, ps_bits, vmid16=vmid16), vttbr, cpu=cpu)

    @property
    def fault(self) -> str | None:
        """Why every stage-2 walk takes a level-0 Translation fault, or None."""
        return self.params.fault

    @property
    def vmid(self) -> int:
        """VTTBR_EL2.VMID (8 bits unless VTCR_EL2.VS=1)."""
        return self.params.vmid

    @property
    def sh(self) -> int:
        """VTCR_EL2.SH0 (the leaf shareability when DS=1)."""
        return self.params.sh

    @property
    def ps_bits(self) -> int:
        """VTCR_EL2.PS in bits (0b111 decodes as 56, as the ASL does)."""
        return W.decode_ps(self.params.ps)


# SL0 encodings by (granule, start level), inverted from ASL AArch64.S2StartLevel.
_SL0 = {
    Granule.K4: {2: (0, 0), 1: (1, 0), 0: (2, 0), 3: (3, 0), -1: (0, 1)},
    Granule.K16: {3: (0, 0), 2: (1, 0), 1: (2, 0), 0: (3, 0)},
    Granule.K64: {3: (0, 0), 2: (1, 0), 1: (2, 0)},
}


def vtcr_value(geom: Geometry, ps_bits: int | None = None, *, vmid16: bool = True) -> int:
    """A VTCR_EL2 value describing ``geom`` (SL0/SL2 from the start level)."""
    if geom.stage != 2:
        raise ConfigError("vtcr_value: needs a stage-2 geometry")
    sl0, sl2 = _SL0[geom.granule][geom.start_level]
    return R.VTCR_EL2.encode(
        T0SZ=64 - geom.ia_bits, SL0=sl0, SL2=sl2, TG0=R.tg0_encoding(geom.granule),
        PS=R.ps_encoding(ps_bits if ps_bits is not None else geom.oa_bits), SH0=3, IRGN0=1,
        ORGN0=1, DS=int(geom.ds), VS=int(vmid16),
    )


@dataclass(frozen=True, slots=True)
class Regime:
    """The EL1&0 translation regime under EL2: stage 1, stage 2 and the HCR_EL2 controls, on
    the PE ``s1.cpu`` (stage 2 must name the same one).

    :param s1: the stage-1 registers.  :param s2: the stage-2 registers (None: no EL2).
    :param hcr: HCR_EL2 (VM, DC, PTW, CD, ID, FWB ... are read from it; FWB only with
        FEAT_S2FWB, PTW only with TGE=0).
    """

    s1: Stage1Regime
    s2: Stage2Regime | None = None
    hcr: int = HCR_DEFAULT
    controls: Controls = field(init=False, repr=False, compare=False)
    derived: dict[str, object] = field(init=False, repr=False, compare=False)
    """Caches derived from the registers (the walker's compiled plan), by name."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "derived", {})
        if not 0 <= self.hcr < 1 << 64:
            raise EncodingError(f"HCR_EL2=0x{self.hcr:x}: out of range (64-bit register)")
        cpu = self.s1.cpu
        if self.s2 is not None and self.s2.cpu != cpu:
            raise ConfigError(f"stage 2 is for CPU {self.s2.cpu.name!r}, stage 1 for "
                              f"{cpu.name!r}: one regime runs on one PE")
        ctl = Controls.from_registers(W.effective_hcr(self.hcr, cpu), self.s1.sctlr)
        if ctl.s2_enabled and self.s2 is None:
            raise ConfigError(
                f"HCR_EL2=0x{self.hcr:x}: VM or DC set (stage 2 on) but no VTCR_EL2/VTTBR_EL2 given"
            )
        object.__setattr__(self, "controls", ctl)

    @classmethod
    def from_registers(
        cls,
        *,
        tcr: int,
        mair: int,
        ttbr0: int = 0,
        ttbr1: int = 0,
        sctlr: int = SCTLR_DEFAULT,
        hcr: int = HCR_DEFAULT,
        vtcr: int | None = None,
        vttbr: int = 0,
        cpu: Cpu = ALL,
        imp: ImpDef = IMPDEF_DEFAULT,
    ) -> Regime:
        """Build a regime from raw register values (stage 2 only if VTCR_EL2 is given).

        Never fails on register content the walk cannot use: the walks fault instead.
        """
        s2 = Stage2Regime(vtcr, vttbr, cpu=cpu, imp=imp) if vtcr is not None else None
        return cls(Stage1Regime(tcr, ttbr0, ttbr1, sctlr, mair=mair, cpu=cpu, imp=imp), s2, hcr)

    @property
    def cpu(self) -> Cpu:
        """The PE (features and PAMax)."""
        return self.s1.cpu

    @property
    def xnx(self) -> bool:
        """FEAT_XNX: stage-2 descriptor bits[54:53] are XN[1:0]; without it bit 54 alone."""
        return self.s1.cpu.xnx

    @property
    def pa_max(self) -> int:
        """PAMax of the PE (ASL AArch64.PAMax), bounding VAs with stage 1 off."""
        return self.s1.cpu.pa_max

    @property
    def s2_enabled(self) -> bool:
        """Stage 2 translates (HCR_EL2.VM or DC)."""
        return self.controls.s2_enabled

    @property
    def s1_enabled(self) -> bool:
        """Stage 1 translates (SCTLR_EL1.M and not HCR_EL2.DC)."""
        return self.controls.s1_enabled

    @property
    def vmid(self) -> int:
        """The VMID tagging TLB entries (0 without a stage-2 regime)."""
        return self.s2.vmid if self.s2 is not None else 0

    @property
    def asid(self) -> int:
        """The current ASID."""
        return self.s1.asid


def ia_mask(bits: int) -> int:
    """GENMASK(bits - 1, 0)."""
    return genmask(bits - 1, 0)

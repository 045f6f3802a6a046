"""Translation regimes: the EL1&0 stage 1 (TCR_EL1, TTBR0/1_EL1, MAIR_EL1, SCTLR_EL1) and the
stage 2 under EL2 (VTCR_EL2, VTTBR_EL2, HCR_EL2), decoded with the field tables of
:mod:`memattr.arch.registers`.

:class:`Geometry` is the shape of one table tree -- granule, input size, start level, number of
concatenated root tables, output size -- and the index arithmetic of a walk.  The walker, the
table builder and the batch walker all take their numbers from it.

Sizes and levels (Arm ARM D8.2; ASL AArch64.S1StartLevel / AArch64.S2StartLevel): a level-L
descriptor maps 2**(shift + (3 - L) * (shift - 3)) bytes, where shift is 12, 14 or 16; the root
table resolves the remaining ``ia_bits - level_shift(start)`` bits, which stage 2 may spread
over up to 16 concatenated tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..arch import registers as R
from ..arch.combine import Controls
from ..arch.descriptor import FINAL_LEVEL, Granule, level_shift
from ..arch.fields import genmask
from ..arch.mair import LINUX_MAIR
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

SCTLR_DEFAULT = (1 << 0) | (1 << 2) | (1 << 12)
"""SCTLR_EL1 with M (stage 1 on), C and I (caches on): a running guest."""

HCR_DEFAULT = (1 << 0) | (1 << 31)
"""HCR_EL2 with VM (stage 2 on) and RW (EL1 is AArch64): a KVM guest without FWB."""


@dataclass(frozen=True, slots=True)
class Geometry:
    """The shape of one translation table tree.

    :param stage: 1 or 2.
    :param granule: translation granule.
    :param ia_bits: input address size (64 - TxSZ).
    :param start_level: the level of the root table (-1..3).
    :param oa_bits: output address size in force (TCR_EL1.IPS / VTCR_EL2.PS, capped at 48
        unless 64KB or DS=1).
    :param ds: TCR_EL1.DS / VTCR_EL2.DS (FEAT_LPA2).
    :param concat: number of concatenated root tables (stage 2 only; 1..16).
    """

    stage: int
    granule: Granule
    ia_bits: int
    start_level: int
    oa_bits: int = 48
    ds: bool = False
    concat: int = 1

    def __post_init__(self) -> None:
        if self.stage not in (1, 2):
            raise ConfigError(f"stage={self.stage}: must be 1 or 2")
        if not 32 <= self.oa_bits <= 52:
            raise ConfigError(f"oa_bits={self.oa_bits}: out of range (32..52)")
        if self.oa_bits > 48 and not (self.ds or self.granule is Granule.K64):
            raise ConfigError(
                f"oa_bits={self.oa_bits}: a 52-bit output address with the {self.granule} "
                "granule needs DS=1 (FEAT_LPA2)"
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
        cls, granule: Granule, ia_bits: int, oa_bits: int = 48, ds: bool = False
    ) -> Geometry:
        """Stage-1 geometry; the start level follows from the input size."""
        start = R.s1_start_level(granule, 64 - ia_bits, ds, lva=True, ttst=True,
                                 field="TxSZ")
        return cls(1, granule, ia_bits, start, oa_bits, ds, 1)

    @classmethod
    def for_stage2(
        cls,
        granule: Granule,
        ia_bits: int,
        oa_bits: int = 48,
        start_level: int | None = None,
        ds: bool = False,
    ) -> Geometry:
        """Stage-2 geometry; by default the highest start level that needs <= 16 root tables."""
        lo = 64 - R.max_txsz(granule, ttst=True)
        hi = 64 - R.s2_min_txsz(granule, ds)
        if not lo <= ia_bits <= hi:
            raise EncodingError(
                f"ipa_bits={ia_bits}: out of range for a stage-2 {granule} walk ({lo}..{hi}; "
                "VTCR_EL2.T0SZ = 64 - ipa_bits)"
            )
        if start_level is None:
            start_level = FINAL_LEVEL
            while ia_bits - level_shift(granule, start_level) > granule.bits_per_level + 4:
                start_level -= 1
        concat = 1 << max(0, ia_bits - level_shift(granule, start_level)
                          - granule.bits_per_level)
        return cls(2, granule, ia_bits, start_level, oa_bits, ds, concat)

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


def _root_base(ttbr: int, geom: Geometry) -> int:
    """The root table address of a TTBR/VTTBR value (ASL AArch64.S1TTBaseAddress/S2...).

    Bits below the alignment of the root table are RES0; they are ignored here.
    """
    base = R.ttb_base_address(ttbr, geom.oa_bits)
    align = max(geom.table_bytes(geom.start_level), 64)
    return base & ~(align - 1)


@dataclass(frozen=True, slots=True)
class Stage1Half:
    """One VA range of the EL1&0 stage 1: its geometry and controls, or disabled (EPDn=1)."""

    n: int
    geometry: Geometry | None
    root: int
    epd: bool
    tbi: bool
    hpd: bool
    sh: int

    @property
    def ia_bits(self) -> int:
        """Input size in bits (0 when the half has no valid geometry)."""
        return self.geometry.ia_bits if self.geometry is not None else 0


@dataclass(frozen=True, slots=True)
class Stage1Regime:
    """The EL1&0 stage-1 translation: TCR_EL1, TTBR0/1_EL1, MAIR_EL1 and SCTLR_EL1."""

    tcr: int
    ttbr0: int = 0
    ttbr1: int = 0
    mair: int = LINUX_MAIR
    sctlr: int = SCTLR_DEFAULT
    decoded: R.TCR = field(init=False, repr=False, compare=False)
    halves: tuple[Stage1Half, Stage1Half] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("tcr", "ttbr0", "ttbr1", "mair", "sctlr"):
            v = getattr(self, name)
            if not 0 <= v < 1 << 64:
                raise EncodingError(f"{name.upper()}=0x{v:x}: out of range (64-bit register)")
        dec = R.decode_tcr_el1(self.tcr, lva=True, ttst=True)
        halves = []
        for n, (h, ttbr) in enumerate(((dec.t0, self.ttbr0), (dec.t1, self.ttbr1))):
            geom = None
            root = 0
            if h.granule is not None and h.start_level is not None:
                oa = R.effective_pa_bits(dec.ips_bits, h.granule, h.ds)
                geom = Geometry(1, h.granule, h.ia_bits, h.start_level, oa, h.ds, 1)
                root = _root_base(ttbr, geom)
            halves.append(Stage1Half(n, geom, root, h.epd, h.tbi, h.hpd, h.sh))
        object.__setattr__(self, "decoded", dec)
        object.__setattr__(self, "halves", (halves[0], halves[1]))

    @classmethod
    def simple(
        cls,
        granule: Granule = Granule.K4,
        va_bits: int = 48,
        ips_bits: int = 48,
        *,
        ttbr0: int = 0,
        ttbr1: int = 0,
        mair: int = LINUX_MAIR,
        sctlr: int = SCTLR_DEFAULT,
        ds: bool = False,
        asid16: bool = True,
    ) -> Stage1Regime:
        """A regime with both halves of ``va_bits`` and ``granule`` (TCR built from fields)."""
        tcr = R.TCR_EL1.encode(
            T0SZ=64 - va_bits, T1SZ=64 - va_bits, TG0=R.tg0_encoding(granule),
            TG1=R.tg1_encoding(granule), IPS=R.ps_encoding(ips_bits), SH0=3, SH1=3,
            IRGN0=1, ORGN0=1, IRGN1=1, ORGN1=1, DS=int(ds), AS=int(asid16),
        )
        return cls(tcr, ttbr0, ttbr1, mair, sctlr)

    def half_of(self, va: int) -> Stage1Half:
        """The half that translates ``va``: TTBR1 when VA[55] is 1 (ASL AArch64.GetVARange)."""
        return self.halves[(va >> 55) & 1]

    @property
    def asid(self) -> int:
        """The current ASID: TTBR1_EL1.ASID if TCR_EL1.A1 else TTBR0_EL1.ASID (8 or 16 bits)."""
        ttbr = self.ttbr1 if self.decoded.a1 else self.ttbr0
        asid = R.TTBRx_EL1.get(ttbr, "ASID")
        return asid if self.decoded.as16 else asid & 0xFF

    @property
    def ips_bits(self) -> int:
        """TCR_EL1.IPS in bits."""
        return self.decoded.ips_bits

    def va_in_range(self, va: int) -> bool:
        """ASL AArch64.VAIsOutOfRange negated: VA[top:ia_bits] all equal VA[55]."""
        half = self.half_of(va)
        top = 55 if half.tbi else 63
        width = half.ia_bits
        if width == 0:
            return False
        hi = (va >> width) & ((1 << (top + 1 - width)) - 1)
        return hi == (0 if half.n == 0 else (1 << (top + 1 - width)) - 1)

    def sctlr_bit(self, name: str) -> bool:
        """A SCTLR_EL1 flag by name."""
        return bool(R.SCTLR_EL1.get(self.sctlr, name))

    def mair_attr(self, index: int) -> int:
        """MAIR_EL1.Attr<index>."""
        return (self.mair >> (8 * index)) & 0xFF


@dataclass(frozen=True, slots=True)
class Stage2Regime:
    """The stage-2 translation of the EL1&0 regime: VTCR_EL2 and VTTBR_EL2."""

    vtcr: int
    vttbr: int = 0
    decoded: R.VTCR = field(init=False, repr=False, compare=False)
    geometry: Geometry = field(init=False, repr=False, compare=False)
    root: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("vtcr", "vttbr"):
            v = getattr(self, name)
            if not 0 <= v < 1 << 64:
                raise EncodingError(f"{name.upper()}=0x{v:x}: out of range (64-bit register)")
        dec = R.decode_vtcr_el2(self.vtcr, ttst=True)
        geom = Geometry(2, dec.tg0, dec.ia_bits, dec.start_level, dec.effective_pa_bits, dec.ds,
                        dec.concatenated)
        object.__setattr__(self, "decoded", dec)
        object.__setattr__(self, "geometry", geom)
        object.__setattr__(self, "root", _root_base(self.vttbr, geom))

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
    ) -> Stage2Regime:
        """A regime for an ``ipa_bits`` IPA space (VTCR built from fields, KVM-like SL0)."""
        geom = Geometry.for_stage2(granule, ipa_bits, min(ps_bits, 52), start_level, ds)
        return cls(vtcr_value(geom, ps_bits, vmid16=vmid16), vttbr)

    @property
    def vmid(self) -> int:
        """VTTBR_EL2.VMID (8 bits unless VTCR_EL2.VS=1)."""
        vmid = R.VTTBR_EL2.get(self.vttbr, "VMID")
        return vmid if self.decoded.vs else vmid & 0xFF

    @property
    def sh(self) -> int:
        """VTCR_EL2.SH0 (the leaf shareability when DS=1)."""
        return self.decoded.sh0


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
    """The EL1&0 translation regime under EL2: stage 1, stage 2 and the HCR_EL2 controls.

    :param s1: the stage-1 registers.  :param s2: the stage-2 registers (None: no EL2).
    :param hcr: HCR_EL2 (VM, DC, PTW, CD, ID, FWB ... are read from it).
    :param xnx: FEAT_XNX: stage-2 descriptor bits[54:53] are XN[1:0]; without it bit 54 alone.
    :param pa_max: the implemented PA size (ASL AArch64.PAMax), bounding VAs with stage 1 off.
    """

    s1: Stage1Regime
    s2: Stage2Regime | None = None
    hcr: int = HCR_DEFAULT
    xnx: bool = False
    pa_max: int = 48
    controls: Controls = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not 0 <= self.hcr < 1 << 64:
            raise EncodingError(f"HCR_EL2=0x{self.hcr:x}: out of range (64-bit register)")
        ctl = Controls.from_registers(self.hcr, self.s1.sctlr)
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
        ttbr0: int = 0,
        ttbr1: int = 0,
        mair: int = LINUX_MAIR,
        sctlr: int = SCTLR_DEFAULT,
        hcr: int = HCR_DEFAULT,
        vtcr: int | None = None,
        vttbr: int = 0,
        xnx: bool = False,
        pa_max: int = 48,
    ) -> Regime:
        """Build a regime from raw register values (stage 2 only if VTCR_EL2 is given)."""
        s2 = Stage2Regime(vtcr, vttbr) if vtcr is not None else None
        return cls(Stage1Regime(tcr, ttbr0, ttbr1, mair, sctlr), s2, hcr, xnx, pa_max)

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

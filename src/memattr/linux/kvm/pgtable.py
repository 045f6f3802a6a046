"""KVM's stage-2 page-table layer (arch/arm64/kvm/hyp/pgtable.c): ``enum kvm_pgtable_prot`` per
version, ``stage2_set_prot_attr`` per version, and ``kvm_pgtable_stage2_map`` writing the leaf.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from ...arch.decision import Decision
from ...arch.granule import FINAL_LEVEL
from ...arch.registers import Granule
from ...errors import ConfigError, EncodingError
from ...mmu.pgtable import Codec, Leaf, PageTable
from ...mmu.physmem import PhysMem
from ...mmu.regime import Geometry, vtcr_value
from ..asm.memory import S2_MEMATTRS
from ..commits import COMMITS
from ..decisions import KernelRule
from ..events import Errno
from ..version import V6_9, V7_0, KernelVersion

__all__ = [
    "KVM_PGTABLE_PROT",
    "PROT_LAYOUTS",
    "kvm_pgtable_prot_value",
    "prot_str",
    "S2MemAttrs",
    "LINUX_S2_MEMATTRS",
    "PgtableVariant",
    "ProtAttr",
    "stage2_set_prot_attr",
    "stage2_set_prot_attr_v6_8",
    "stage2_set_prot_attr_v6_9",
    "stage2_set_prot_attr_v3",
    "stage2_set_prot_attr_v4",
    "KVM_PTE_VALID",
    "KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR",
    "KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R",
    "KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W",
    "KVM_PTE_LEAF_ATTR_LO_S2_SH",
    "KVM_PTE_LEAF_ATTR_LO_S2_SH_IS",
    "KVM_PTE_LEAF_ATTR_LO_S2_AF",
    "KVM_PTE_LEAF_ATTR_HI_S2_XN",
    "Stage2Leaf",
    "KvmPgtable",
    "DEFAULT_IPA_BITS",
    "kvm_pgtable_stage2_map",
    "COMMIT_NORMAL_NC",
]

COMMIT_NORMAL_NC = COMMITS["normal-nc-flag"]


class KVM_PGTABLE_PROT(enum.Flag):  # noqa: N801 - the kernel's name
    """``enum kvm_pgtable_prot`` by name; the bit values differ per version (:data:`PROT_LAYOUTS`)."""

    X = enum.auto()
    W = enum.auto()
    R = enum.auto()
    DEVICE = enum.auto()
    NORMAL_NC = enum.auto()


# arch/arm64/include/asm/kvm_pgtable.h bit values (docs/linux-versions.md#kvm_pgtable_prot-bits).
PROT_LAYOUTS: dict[str, dict[str, int]] = {
    # <= v6.8: X BIT(0), W BIT(1), R BIT(2), DEVICE BIT(3).
    "6.8": {"X": 1 << 0, "W": 1 << 1, "R": 1 << 2, "DEVICE": 1 << 3},
    # Since Linux commit c034ec84e879 (in v6.9): NORMAL_NC BIT(4).
    "6.9": {"X": 1 << 0, "W": 1 << 1, "R": 1 << 2, "DEVICE": 1 << 3, "NORMAL_NC": 1 << 4},
    # FEAT_XNX rework (about v7.0, release unverified): PX BIT(0), UX BIT(1), X = PX|UX,
    # W BIT(2), R BIT(3), DEVICE BIT(4), NORMAL_NC BIT(5).
    "7.0": {"X": 0b11, "W": 1 << 2, "R": 1 << 3, "DEVICE": 1 << 4, "NORMAL_NC": 1 << 5},
}


def _layout_name(release: KernelVersion) -> str:
    if release >= V7_0:
        return "7.0"
    if release >= V6_9:
        return "6.9"
    return "6.8"


def kvm_pgtable_prot_value(prot: KVM_PGTABLE_PROT, release: KernelVersion | str) -> int:
    """The numeric ``enum kvm_pgtable_prot`` value of ``prot`` in ``release`` (or in a layout
    named by a :data:`PROT_LAYOUTS` key).

    Raises EncodingError for NORMAL_NC before v6.9 (the bit does not exist).
    """
    name = release if isinstance(release, str) else _layout_name(release)
    if name not in PROT_LAYOUTS:
        raise ConfigError(f"kvm_pgtable_prot layout {name!r}: unknown (known: "
                          f"{', '.join(PROT_LAYOUTS)})")
    layout = PROT_LAYOUTS[name]
    value = 0
    for member in KVM_PGTABLE_PROT:
        if member in prot:
            assert member.name is not None
            if member.name not in layout:
                raise EncodingError(f"KVM_PGTABLE_PROT_{member.name}: not defined in v{name} "
                                    f"(added by {COMMIT_NORMAL_NC.cite()})")
            value |= layout[member.name]
    return value


_DISPLAY_ORDER = ("R", "W", "X", "DEVICE", "NORMAL_NC")


def prot_str(prot: KVM_PGTABLE_PROT) -> str:
    """'R|W|NORMAL_NC' (or '0')."""
    names = [n for n in _DISPLAY_ORDER if KVM_PGTABLE_PROT[n] in prot]
    return "|".join(names) if names else "0"


@dataclass(frozen=True, slots=True)
class S2MemAttrs:
    """The stage-2 MemAttr values ``KVM_S2_MEMATTR(pgt, ...)`` picks, as (FWB=0, FWB=1) pairs.

    The defaults are Linux's (MT_S2_* / MT_S2_FWB_* of :mod:`memattr.linux.asm.memory`);
    what-if policies override one.
    """

    device: tuple[int, int] = S2_MEMATTRS["DEVICE_nGnRE"]
    normal_nc: tuple[int, int] = S2_MEMATTRS["NORMAL_NC"]
    normal: tuple[int, int] = S2_MEMATTRS["NORMAL"]

    def __post_init__(self) -> None:
        for name in ("device", "normal_nc", "normal"):
            for v in getattr(self, name):
                if not 0 <= v <= 0xF:
                    raise ConfigError(f"S2 MemAttr for {name}=0x{v:x}: out of range (0x0..0xf)")

    def pick(self, name: str, fwb: bool) -> int:
        """``PAGE_S2_MEMATTR(name, fwb)``: the FWB or non-FWB value."""
        pair: tuple[int, int] = getattr(self, name)
        return pair[1] if fwb else pair[0]


LINUX_S2_MEMATTRS = S2MemAttrs()


class PgtableVariant(enum.Enum):
    """Which ``stage2_set_prot_attr`` a kernel has."""

    V6_8 = "6.8"  # DEVICE or NORMAL; X with DEVICE is -EINVAL
    V6_9 = "6.9"  # the switch on DEVICE|NORMAL_NC (c034ec84e879; v7 of the series on): -EINVAL
    V3 = "v3"  # v3 of the series: DEVICE tested first, DEVICE|NORMAL_NC is Device
    V4 = "v4"  # v4-v6: WARN on DEVICE|NORMAL_NC, then Device

    @classmethod
    def for_release(cls, release: KernelVersion) -> PgtableVariant:
        return cls.V6_9 if release >= V6_9 else cls.V6_8


# Stage-2 leaf attribute bits (asm/kvm_pgtable.h), derived from the arch field tables.
from ..asm.kvm_pgtable import (  # noqa: E402
    KVM_PTE_LEAF_ATTR_HI_S2_XN,
    KVM_PTE_LEAF_ATTR_LO_S2_AF,
    KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR,
    KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W,
    KVM_PTE_LEAF_ATTR_LO_S2_SH,
    KVM_PTE_LEAF_ATTR_LO_S2_SH_IS,
    KVM_PTE_LEAF_ATTR_LO_S2_SH_SHIFT,
    KVM_PTE_VALID,
)


@dataclass(frozen=True, slots=True)
class ProtAttr:
    """The result of ``stage2_set_prot_attr``: the leaf attribute bits, or the errno and why.

    :param branch: the decision's branch ('device', 'normal_nc', 'normal', 'device_and_nc',
        'x_with_device', 'x_with_normal_nc', 'device_and_nc_device_wins', 'device_and_nc_warn').
    :param warn: the kernel printed a WARN on the way (the v4-v6 revisions).
    """

    errno: Errno | None
    attr: int | None
    memattr: int | None
    kind: str | None  # 'DEVICE_nGnRE' / 'NORMAL_NC' / 'NORMAL' (the KVM_S2_MEMATTR name)
    why: str
    branch: str = ""
    prot: KVM_PGTABLE_PROT | None = None
    warn: bool = False

    @property
    def ok(self) -> bool:
        return self.errno is None

    @property
    def decision(self) -> Decision:
        """This call as a decision record (rule ``stage2_set_prot_attr``)."""
        result: object = self.errno if self.errno is not None else self.kind
        return Decision(KernelRule.stage2_set_prot_attr, self.branch,
                        (("prot", self.prot), ("memattr", self.memattr)), result)


def _fail(prot: KVM_PGTABLE_PROT, branch: str, why: str) -> ProtAttr:
    return ProtAttr(Errno.EINVAL, None, None, None, why, branch, prot)


def _finish(prot: KVM_PGTABLE_PROT, memattr: int, kind: str, *, lpa2: bool,
            branch: str = "", warn: bool = False) -> ProtAttr:
    attr = memattr << KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT
    if KVM_PGTABLE_PROT.X not in prot:
        attr |= KVM_PTE_LEAF_ATTR_HI_S2_XN
    if KVM_PGTABLE_PROT.R in prot:
        attr |= KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R
    if KVM_PGTABLE_PROT.W in prot:
        attr |= KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W
    if not lpa2:
        # With LPA2 the SH bits are OA[51:50]; VTCR_EL2.SH0 supplies Inner Shareable.
        attr |= KVM_PTE_LEAF_ATTR_LO_S2_SH_IS << KVM_PTE_LEAF_ATTR_LO_S2_SH_SHIFT
    attr |= KVM_PTE_LEAF_ATTR_LO_S2_AF
    return ProtAttr(None, attr, memattr, kind, f"{prot_str(prot)} -> MemAttr 0b{memattr:04b} "
                    f"({kind})", branch or kind.lower(), prot, warn)


def stage2_set_prot_attr_v6_8(
    prot: KVM_PGTABLE_PROT, *, fwb: bool, memattrs: S2MemAttrs = LINUX_S2_MEMATTRS,
    lpa2: bool = False,
) -> ProtAttr:
    """``stage2_set_prot_attr`` up to v6.8: DEVICE -> DEVICE_nGnRE (X with it is -EINVAL), else
    NORMAL; XN when X is absent; S2AP from R/W; SH = IS; AF."""
    if KVM_PGTABLE_PROT.NORMAL_NC in prot:
        raise EncodingError("KVM_PGTABLE_PROT_NORMAL_NC: not defined before v6.9 "
                            f"({COMMIT_NORMAL_NC.cite()})")
    if KVM_PGTABLE_PROT.DEVICE in prot:
        if KVM_PGTABLE_PROT.X in prot:
            return _fail(prot, "x_with_device", "X with DEVICE")
        return _finish(prot, memattrs.pick("device", fwb), "DEVICE_nGnRE", lpa2=lpa2,
                       branch="device")
    return _finish(prot, memattrs.pick("normal", fwb), "NORMAL", lpa2=lpa2, branch="normal")


def stage2_set_prot_attr_v6_9(
    prot: KVM_PGTABLE_PROT, *, fwb: bool, memattrs: S2MemAttrs = LINUX_S2_MEMATTRS,
    lpa2: bool = False,
) -> ProtAttr:
    """``stage2_set_prot_attr`` since Linux commit c034ec84e879 ("KVM: arm64: Introduce new flag
    for non-cacheable IO memory") (in v6.9): a switch on ``prot & (DEVICE | NORMAL_NC)``.

    DEVICE|NORMAL_NC -> -EINVAL; DEVICE with X -> -EINVAL, else DEVICE_nGnRE; NORMAL_NC with X ->
    -EINVAL, else NORMAL_NC; neither -> NORMAL.
    """
    dev = KVM_PGTABLE_PROT.DEVICE in prot
    nc = KVM_PGTABLE_PROT.NORMAL_NC in prot
    if dev and nc:
        return _fail(prot, "device_and_nc", "DEVICE together with NORMAL_NC")
    return _device_nc_normal(prot, fwb=fwb, memattrs=memattrs, lpa2=lpa2)


def _device_nc_normal(prot: KVM_PGTABLE_PROT, *, fwb: bool, memattrs: S2MemAttrs, lpa2: bool,
                      branch: str = "", warn: bool = False) -> ProtAttr:
    x = KVM_PGTABLE_PROT.X in prot
    if KVM_PGTABLE_PROT.DEVICE in prot:
        if x:
            return _fail(prot, "x_with_device", "X with DEVICE")
        return _finish(prot, memattrs.pick("device", fwb), "DEVICE_nGnRE", lpa2=lpa2,
                       branch=branch or "device", warn=warn)
    if KVM_PGTABLE_PROT.NORMAL_NC in prot:
        if x:
            return _fail(prot, "x_with_normal_nc", "X with NORMAL_NC")
        return _finish(prot, memattrs.pick("normal_nc", fwb), "NORMAL_NC", lpa2=lpa2,
                       branch="normal_nc")
    return _finish(prot, memattrs.pick("normal", fwb), "NORMAL", lpa2=lpa2, branch="normal")


def stage2_set_prot_attr_v3(
    prot: KVM_PGTABLE_PROT, *, fwb: bool, memattrs: S2MemAttrs = LINUX_S2_MEMATTRS,
    lpa2: bool = False,
) -> ProtAttr:
    """``stage2_set_prot_attr`` as posted in v3 of the series (20231208164709.23101-1): DEVICE
    is tested first, so DEVICE|NORMAL_NC silently maps Device-nGnRE ("DEVICE wins")."""
    return _device_nc_normal(prot, fwb=fwb, memattrs=memattrs, lpa2=lpa2,
                             branch="device_and_nc_device_wins"
                             if KVM_PGTABLE_PROT.DEVICE in prot
                             and KVM_PGTABLE_PROT.NORMAL_NC in prot else "")


def stage2_set_prot_attr_v4(
    prot: KVM_PGTABLE_PROT, *, fwb: bool, memattrs: S2MemAttrs = LINUX_S2_MEMATTRS,
    lpa2: bool = False,
) -> ProtAttr:
    """``stage2_set_prot_attr`` as posted in v4-v6 (20231218090719.22250-1): a WARN when both
    DEVICE and NORMAL_NC are set, then DEVICE as in v3 (whether the WARN also returned was not
    verified from the postings; the model takes DEVICE)."""
    both = KVM_PGTABLE_PROT.DEVICE in prot and KVM_PGTABLE_PROT.NORMAL_NC in prot
    return _device_nc_normal(prot, fwb=fwb, memattrs=memattrs, lpa2=lpa2,
                             branch="device_and_nc_warn" if both else "", warn=both)


_VARIANTS: dict[PgtableVariant, Callable[..., ProtAttr]] = {
    PgtableVariant.V6_8: stage2_set_prot_attr_v6_8,
    PgtableVariant.V6_9: stage2_set_prot_attr_v6_9,
    PgtableVariant.V3: stage2_set_prot_attr_v3,
    PgtableVariant.V4: stage2_set_prot_attr_v4,
}


def stage2_set_prot_attr(
    prot: KVM_PGTABLE_PROT,
    *,
    fwb: bool,
    variant: PgtableVariant | KernelVersion = PgtableVariant.V6_9,
    memattrs: S2MemAttrs = LINUX_S2_MEMATTRS,
    lpa2: bool = False,
) -> ProtAttr:
    """``stage2_set_prot_attr`` of the given kernel: the leaf attribute bits for ``prot``.

    :param prot: the ``enum kvm_pgtable_prot`` flags.
    :param fwb: ``stage2_has_fwb(pgt)``.
    :param variant: the kernel's variant, or a release to pick it from.
    :param memattrs: the MemAttr values (Linux's unless a what-if policy overrides one).
    :param lpa2: LPA2 tables (no SH in the descriptor; v6.8+).
    """
    if isinstance(variant, KernelVersion):
        variant = PgtableVariant.for_release(variant)
    return _VARIANTS[variant](prot, fwb=fwb, memattrs=memattrs, lpa2=lpa2)


# --- the stage-2 table ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stage2Leaf:
    """One stage-2 leaf as the table holds it: IPA range, output address, attribute bits and the
    raw descriptor, read back from table memory.

    :param prot: the ``kvm_pgtable_prot`` KVM asked for, when this leaf comes from the map call
        (None when read from the table alone: R/W/X are in the descriptor, the type bit is not).
    :param kind: the KVM_S2_MEMATTR name used ('DEVICE_nGnRE' / 'NORMAL_NC' / 'NORMAL'), when known.
    :param level: the translation level the walk found the descriptor at (3: a page; lower: a
        block), as the mmu layer's table reported it.
    """

    ipa: int
    size: int
    phys: int
    attr: int
    descriptor: int
    prot: KVM_PGTABLE_PROT | None = None
    kind: str | None = None
    level: int | None = None

    @property
    def is_block(self) -> bool:
        """A block descriptor (found above the final level), not a page."""
        return self.level is not None and self.level != FINAL_LEVEL

    @property
    def shape(self) -> str:
        """'2 MiB block at level 2' / '4 KiB page at level 3': the leaf's size and level."""
        size = self.size
        amount = next(f"{size // unit} {name}" for unit, name in
                      ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB"), (1, "bytes"))
                      if size >= unit and size % unit == 0)
        if self.level is None:
            return f"{amount} leaf"
        return f"{amount} {'block' if self.is_block else 'page'} at level {self.level}"

    @property
    def memattr(self) -> int:
        return (self.attr & KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR) >> KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT

    @property
    def xn(self) -> bool:
        return bool(self.attr & KVM_PTE_LEAF_ATTR_HI_S2_XN)

    @property
    def sh(self) -> int:
        return (self.attr & KVM_PTE_LEAF_ATTR_LO_S2_SH) >> KVM_PTE_LEAF_ATTR_LO_S2_SH_SHIFT

    @property
    def readable(self) -> bool:
        return bool(self.attr & KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R)

    @property
    def writable(self) -> bool:
        return bool(self.attr & KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W)

    def contains(self, ipa: int) -> bool:
        return self.ipa <= ipa < self.ipa + self.size


@lru_cache(maxsize=16)
def _codec_for(geom: Geometry) -> Codec:
    return Codec(geom)


DEFAULT_IPA_BITS = 40  # KVM's default IPA size (KVM_VM_TYPE_ARM_IPA_SIZE 0)
_TABLE_ALLOC_BASE = 0xF000_0000_0000  # simulated memory for the stage-2 tables themselves


class KvmPgtable:
    """A VM's stage-2 page table (``struct kvm_pgtable``), written into real translation tables.

    Every leaf KVM installs goes through the mmu layer's :class:`~memattr.mmu.pgtable.PageTable`
    (``map(ia, size, oa, attrs)``); every lookup walks that table, so what is reported is what is
    in table memory and what a two-stage walk sees.  ``writer``, if given, is also called for every
    leaf as ``writer(ipa, size, phys, attr)``.

    :param fwb: ``stage2_has_fwb``.  :param lpa2: LPA2 tables (VTCR_EL2.DS = 1: no SH in the
        descriptor, VTCR_EL2.SH0 supplies it).  :param ipa_bits: the VM's IPA size (VTCR_EL2.T0SZ).
    :param memattrs: the MemAttr values in use (to name a leaf read back from the table).
    """

    def __init__(
        self,
        *,
        fwb: bool,
        lpa2: bool = False,
        ipa_bits: int = DEFAULT_IPA_BITS,
        table: PageTable | None = None,
        writer: Callable[[int, int, int, int], None] | None = None,
        memattrs: S2MemAttrs | None = None,
    ) -> None:
        self.fwb = fwb
        self.lpa2 = lpa2
        self.ipa_bits = ipa_bits
        if table is None:
            mem = PhysMem(48, alloc_base=_TABLE_ALLOC_BASE)
            geom = Geometry.for_stage2(Granule.K4, ipa_bits, ds=lpa2)
            table = PageTable(mem, geom, vmid=1)
        self.table = table
        self._codec = _codec_for(table.geom)
        self.memattrs = memattrs if memattrs is not None else LINUX_S2_MEMATTRS
        self._writer = writer

    @property
    def mem(self) -> PhysMem:
        """The physical memory holding the tables (and the guest's, through an IpaSpace)."""
        mem = self.table.mem
        assert isinstance(mem, PhysMem)
        return mem

    @property
    def vtcr(self) -> int:
        """VTCR_EL2 describing this table (T0SZ, SL0, TG0, PS, SH0 = IS, DS)."""
        return vtcr_value(self.table.geom, 48)

    @property
    def vttbr(self) -> int:
        """VTTBR_EL2: VMID and the root's base address."""
        return self.table.vttbr

    def _leaf(self, hw: Leaf) -> Stage2Leaf:
        attr = self._codec.leaf_attrs(hw.raw)
        memattr = (attr & KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR) >> KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT
        prot = KVM_PGTABLE_PROT(0)
        if attr & KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R:
            prot |= KVM_PGTABLE_PROT.R
        if attr & KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W:
            prot |= KVM_PGTABLE_PROT.W
        if not attr & KVM_PTE_LEAF_ATTR_HI_S2_XN:
            prot |= KVM_PGTABLE_PROT.X
        names = [n for n, k in (("device", "DEVICE_nGnRE"), ("normal_nc", "NORMAL_NC"),
                                ("normal", "NORMAL")) if self.memattrs.pick(n, self.fwb) == memattr]
        kind = {"device": "DEVICE_nGnRE", "normal_nc": "NORMAL_NC", "normal": "NORMAL"}[names[0]] \
            if len(names) == 1 else None
        return Stage2Leaf(hw.ia, hw.size, hw.oa, attr, hw.raw, prot, kind, hw.level)

    @property
    def leaves(self) -> tuple[Stage2Leaf, ...]:
        """Every valid leaf, by walking the table."""
        return tuple(self._leaf(hw) for hw in self.table.leaves())

    def lookup(self, ipa: int) -> Stage2Leaf | None:
        """The leaf mapping ``ipa``, by walking the table (None if unmapped)."""
        hw = self.table.lookup(ipa)
        return self._leaf(hw) if hw is not None and hw.raw & KVM_PTE_VALID else None

    def install(self, ipa: int, size: int, phys: int, attr: int, prot: KVM_PGTABLE_PROT,
                kind: str, *, max_leaf: int | None = None) -> Stage2Leaf:
        """Write one leaf, or a run of ``max_leaf``-sized leaves (break-before-make over any leaf
        it overlaps); the (first) leaf as written."""
        for old in [hw for hw in self.table.leaves(ipa, ipa + size)]:
            self.table.unmap(old.ia, old.size)
        self.table.map(ipa, size, phys, attr, max_leaf=max_leaf or size)
        hw = self.table.lookup(ipa)
        assert hw is not None
        if self._writer is not None:
            self._writer(ipa, size, phys, attr)
        leaf = self._leaf(hw)
        return Stage2Leaf(leaf.ipa, leaf.size, leaf.phys, leaf.attr, leaf.descriptor, prot, kind,
                          leaf.level)

    def unmap(self, ipa: int, size: int) -> tuple[Stage2Leaf, ...]:
        """``kvm_pgtable_stage2_unmap``: remove every leaf in [ipa, ipa + size) (break, TLBI
        IPAS2E1IS, DSB; the mmu layer records each step); the leaves removed."""
        gone = tuple(self._leaf(hw) for hw in self.table.leaves(ipa, ipa + size))
        for leaf in gone:
            lo, hi = max(leaf.ipa, ipa), min(leaf.ipa + leaf.size, ipa + size)
            if (lo, hi) != (leaf.ipa, leaf.ipa + leaf.size):
                self.table.unmap(leaf.ipa, leaf.size)  # a block only partly covered goes whole
            else:
                self.table.unmap(lo, hi - lo)
        return gone


def kvm_pgtable_stage2_map(
    pgt: KvmPgtable,
    addr: int,
    size: int,
    phys: int,
    prot: KVM_PGTABLE_PROT,
    *,
    variant: PgtableVariant = PgtableVariant.V6_9,
    memattrs: S2MemAttrs = LINUX_S2_MEMATTRS,
    page: bool = False,
) -> tuple[ProtAttr, Stage2Leaf | None]:
    """``kvm_pgtable_stage2_map``: ``stage2_set_prot_attr`` then install the leaf (or fail).

    :param page: map [addr, addr + size) with 4 KiB pages (what a caller looping page by page,
        such as ``kvm_phys_addr_ioremap``, ends up with), in one call.
    """
    if not page and (addr % size or phys % size):
        raise ConfigError(f"stage-2 map: IPA 0x{addr:x} and PA 0x{phys:x} must be aligned to the "
                          f"mapping size 0x{size:x}")
    pa = stage2_set_prot_attr(prot, fwb=pgt.fwb, variant=variant, memattrs=memattrs,
                              lpa2=pgt.lpa2)
    if pa.ok and pa.kind is not None:
        pa = ProtAttr(pa.errno, pa.attr, pa.memattr, pa.kind, pa.why, pa.branch, prot, pa.warn)
    if pa.attr is None or pa.kind is None:
        return pa, None
    return pa, pgt.install(addr, size, phys, pa.attr, prot, pa.kind,
                           max_leaf=0x1000 if page else None)


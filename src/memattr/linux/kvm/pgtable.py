"""KVM's stage-2 page-table layer (arch/arm64/kvm/hyp/pgtable.c): ``enum kvm_pgtable_prot`` per
version, ``stage2_set_prot_attr`` per version, and ``kvm_pgtable_stage2_map`` writing the leaf.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from ...arch.registers import Granule
from ...errors import ConfigError, EncodingError
from ...mmu.pgtable import PageTable
from ...mmu.physmem import PhysMem
from ...mmu.regime import Geometry
from ..asm.memory import S2_MEMATTRS
from ..commits import COMMITS
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
    "KVM_PTE_VALID",
    "KVM_PTE_TYPE",
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


# arch/arm64/include/asm/kvm_pgtable.h bit values (arch.md section 8).
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
    V6_9 = "6.9"  # the switch on DEVICE|NORMAL_NC (c034ec84e879)

    @classmethod
    def for_release(cls, release: KernelVersion) -> PgtableVariant:
        return cls.V6_9 if release >= V6_9 else cls.V6_8


# Stage-2 leaf attribute bits (asm/kvm_pgtable.h), derived from the arch field tables.
from ..asm.kvm_pgtable import (  # noqa: E402
    KVM_PTE_LEAF_ATTR_HI_S2_XN,
    KVM_PTE_LEAF_ATTR_LO_S2_AF,
    KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W,
    KVM_PTE_LEAF_ATTR_LO_S2_SH,
    KVM_PTE_LEAF_ATTR_LO_S2_SH_IS,
    KVM_PTE_TYPE,
    KVM_PTE_VALID,
)


@dataclass(frozen=True, slots=True)
class ProtAttr:
    """The result of ``stage2_set_prot_attr``: the leaf attribute bits, or the errno and why."""

    errno: Errno | None
    attr: int | None
    memattr: int | None
    kind: str | None  # 'DEVICE_nGnRE' / 'NORMAL_NC' / 'NORMAL' (the KVM_S2_MEMATTR name)
    why: str

    @property
    def ok(self) -> bool:
        return self.errno is None


def _finish(prot: KVM_PGTABLE_PROT, memattr: int, kind: str, *, lpa2: bool) -> ProtAttr:
    attr = memattr << 2
    if KVM_PGTABLE_PROT.X not in prot:
        attr |= KVM_PTE_LEAF_ATTR_HI_S2_XN
    if KVM_PGTABLE_PROT.R in prot:
        attr |= KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R
    if KVM_PGTABLE_PROT.W in prot:
        attr |= KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W
    if not lpa2:
        # With LPA2 the SH bits are OA[51:50]; VTCR_EL2.SH0 supplies Inner Shareable.
        attr |= KVM_PTE_LEAF_ATTR_LO_S2_SH_IS << 8
    attr |= KVM_PTE_LEAF_ATTR_LO_S2_AF
    return ProtAttr(None, attr, memattr, kind, f"{prot_str(prot)} -> MemAttr 0b{memattr:04b} "
                    f"({kind})")


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
            return ProtAttr(Errno.EINVAL, None, None, None, "X with DEVICE")
        return _finish(prot, memattrs.pick("device", fwb), "DEVICE_nGnRE", lpa2=lpa2)
    return _finish(prot, memattrs.pick("normal", fwb), "NORMAL", lpa2=lpa2)


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
    x = KVM_PGTABLE_PROT.X in prot
    if dev and nc:
        return ProtAttr(Errno.EINVAL, None, None, None, "DEVICE together with NORMAL_NC")
    if dev:
        if x:
            return ProtAttr(Errno.EINVAL, None, None, None, "X with DEVICE")
        return _finish(prot, memattrs.pick("device", fwb), "DEVICE_nGnRE", lpa2=lpa2)
    if nc:
        if x:
            return ProtAttr(Errno.EINVAL, None, None, None, "X with NORMAL_NC")
        return _finish(prot, memattrs.pick("normal_nc", fwb), "NORMAL_NC", lpa2=lpa2)
    return _finish(prot, memattrs.pick("normal", fwb), "NORMAL", lpa2=lpa2)


_VARIANTS: dict[PgtableVariant, Callable[..., ProtAttr]] = {
    PgtableVariant.V6_8: stage2_set_prot_attr_v6_8,
    PgtableVariant.V6_9: stage2_set_prot_attr_v6_9,
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
    """One stage-2 leaf KVM installed: IPA range, output address, attribute bits and descriptor."""

    ipa: int
    size: int
    phys: int
    attr: int
    descriptor: int
    prot: KVM_PGTABLE_PROT
    kind: str

    @property
    def memattr(self) -> int:
        return (self.attr & KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR) >> 2

    @property
    def xn(self) -> bool:
        return bool(self.attr & KVM_PTE_LEAF_ATTR_HI_S2_XN)

    @property
    def sh(self) -> int:
        return (self.attr & KVM_PTE_LEAF_ATTR_LO_S2_SH) >> 8

    def contains(self, ipa: int) -> bool:
        return self.ipa <= ipa < self.ipa + self.size


def _leaf_descriptor(phys: int, attr: int, size: int) -> int:
    """``kvm_init_valid_leaf_pte``: OA | attr | TYPE (page at level 3) | VALID."""
    page = size == 4096
    oa = phys & 0x0000_FFFF_FFFF_F000 & ~(size - 1)
    return oa | attr | (KVM_PTE_TYPE if page else 0) | KVM_PTE_VALID


DEFAULT_IPA_BITS = 40  # KVM's default IPA size (KVM_VM_TYPE_ARM_IPA_SIZE 0)
_TABLE_ALLOC_BASE = 0xF000_0000_0000  # simulated memory for the stage-2 tables themselves


class KvmPgtable:
    """A VM's stage-2 page table (``struct kvm_pgtable``), written into real translation tables.

    Every leaf KVM installs goes through the mmu layer's :class:`~memattr.mmu.pgtable.PageTable`
    (``map(ia, size, oa, attrs)``), so the raw descriptor reported is the one in table memory
    and a two-stage walk sees KVM's entries.  ``writer``, if given, is also called for every leaf
    as ``writer(ipa, size, phys, attr)``.
    """

    def __init__(
        self,
        *,
        fwb: bool,
        lpa2: bool = False,
        ipa_bits: int = DEFAULT_IPA_BITS,
        table: PageTable | None = None,
        writer: Callable[[int, int, int, int], None] | None = None,
    ) -> None:
        self.fwb = fwb
        self.lpa2 = lpa2
        self.ipa_bits = ipa_bits
        if table is None:
            mem = PhysMem(48, alloc_base=_TABLE_ALLOC_BASE)
            table = PageTable(mem, Geometry.for_stage2(Granule.K4, ipa_bits), vmid=1)
        self.table = table
        self._leaves: dict[int, Stage2Leaf] = {}
        self._writer = writer

    @property
    def leaves(self) -> tuple[Stage2Leaf, ...]:
        return tuple(sorted(self._leaves.values(), key=lambda leaf: leaf.ipa))

    def lookup(self, ipa: int) -> Stage2Leaf | None:
        """The leaf mapping ``ipa``, if any."""
        for leaf in self._leaves.values():
            if leaf.contains(ipa):
                return leaf
        return None

    def install(self, ipa: int, size: int, phys: int, attr: int, prot: KVM_PGTABLE_PROT,
                kind: str) -> Stage2Leaf:
        """Write one leaf (break-before-make over any leaf it overlaps)."""
        for old in [v for v in self._leaves.values()
                    if v.ipa < ipa + size and ipa < v.ipa + v.size]:
            del self._leaves[old.ipa]
            self.table.unmap(old.ipa, old.size)
        self.table.map(ipa, size, phys, attr, max_leaf=size)
        hw = self.table.lookup(ipa)
        raw = hw.raw if hw is not None else _leaf_descriptor(phys, attr, size)
        leaf = Stage2Leaf(ipa, size, phys, attr, raw, prot, kind)
        self._leaves[ipa] = leaf
        if self._writer is not None:
            self._writer(ipa, size, phys, attr)
        return leaf


def kvm_pgtable_stage2_map(
    pgt: KvmPgtable,
    addr: int,
    size: int,
    phys: int,
    prot: KVM_PGTABLE_PROT,
    *,
    variant: PgtableVariant = PgtableVariant.V6_9,
    memattrs: S2MemAttrs = LINUX_S2_MEMATTRS,
) -> tuple[ProtAttr, Stage2Leaf | None]:
    """``kvm_pgtable_stage2_map``: ``stage2_set_prot_attr`` then install the leaf (or fail)."""
    if addr % size or phys % size:
        raise ConfigError(f"stage-2 map: IPA 0x{addr:x} and PA 0x{phys:x} must be aligned to the "
                          f"mapping size 0x{size:x}")
    pa = stage2_set_prot_attr(prot, fwb=pgt.fwb, variant=variant, memattrs=memattrs,
                              lpa2=pgt.lpa2)
    if pa.attr is None or pa.kind is None:
        return pa, None
    return pa, pgt.install(addr, size, phys, pa.attr, prot, pa.kind)


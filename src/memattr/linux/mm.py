"""Host memory management as KVM sees it: VMAs with vm_flags and pgprot, and the VMM's address space.

Flag values are those of include/linux/mm.h (64-bit); the arm64 pgprot helpers and the MT_*
AttrIndx values are those of arch/arm64/include/asm/{pgtable.h,memory.h}.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace

from ..arch import mair as _mair
from ..arch.decision import Decision
from ..arch.descriptor import (
    DESC_AF,
    DESC_DBM,
    DESC_SH_MASK,
    DESC_SH_SHIFT,
    DESC_TABLE,
    DESC_VALID,
    S1_AP2,
    S1_AP_SHIFT,
    S1_AP_USER,
    S1_ATTRINDX_MASK,
    S1_ATTRINDX_SHIFT,
    S1_NG,
    S1_PXN,
    S1_UXN,
)
from ..arch.memtype import MemoryAttributes, Shareability
from ..arch.sysregs import MAIR_ELx
from ..errors import ConfigError
from .asm import memory as _mem

__all__ = [
    # vm_flags (include/linux/mm.h)
    "VM_NONE", "VM_READ", "VM_WRITE", "VM_EXEC", "VM_SHARED", "VM_MAYREAD", "VM_MAYWRITE",
    "VM_MAYEXEC", "VM_MAYSHARE", "VM_GROWSDOWN", "VM_UFFD_MISSING", "VM_PFNMAP", "VM_UFFD_WP",
    "VM_LOCKED", "VM_IO", "VM_SEQ_READ", "VM_RAND_READ", "VM_DONTCOPY", "VM_DONTEXPAND",
    "VM_LOCKONFAULT", "VM_ACCOUNT", "VM_NORESERVE", "VM_HUGETLB", "VM_SYNC", "VM_ARCH_1",
    "VM_WIPEONFORK", "VM_DONTDUMP", "VM_SOFTDIRTY", "VM_MIXEDMAP", "VM_HUGEPAGE",
    "VM_NOHUGEPAGE", "VM_MERGEABLE", "VM_MTE", "VM_MTE_ALLOWED", "VM_ALLOW_ANY_UNCACHED_BIT",
    "VM_ALLOW_ANY_UNCACHED", "vm_allow_any_uncached", "decode_vm_flags",
    # pgprot (arm64)
    "MT", "PTE_USER", "PTE_RDONLY", "PTE_SHARED", "PTE_AF", "PTE_NG", "PTE_DBM", "PTE_WRITE",
    "PTE_PXN", "PTE_UXN", "PTE_ATTRINDX_MASK", "Pgprot", "PAGE_SHARED", "PAGE_KERNEL",
    "pgprot_noncached", "pgprot_device", "pgprot_writecombine", "pgprot_tagged",
    # VMAs
    "Vma", "kvm_vma_is_cacheable", "vma_stage1_attrs", "AddressSpace", "PAGE_SIZE", "PMD_SIZE",
    "PUD_SIZE", "vm_mte_bits",
]

# --- vm_flags: include/linux/mm.h (values unchanged from v5.x to v6.17) -------------------------
VM_NONE = 0x00000000
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_GROWSDOWN = 0x00000100
VM_UFFD_MISSING = 0x00000200
VM_PFNMAP = 0x00000400  # Page-ranges managed without "struct page", just pure PFN
VM_UFFD_WP = 0x00001000
VM_LOCKED = 0x00002000
VM_IO = 0x00004000  # Memory mapped I/O or similar
VM_SEQ_READ = 0x00008000
VM_RAND_READ = 0x00010000
VM_DONTCOPY = 0x00020000
VM_DONTEXPAND = 0x00040000  # Cannot expand with mremap()
VM_LOCKONFAULT = 0x00080000
VM_ACCOUNT = 0x00100000
VM_NORESERVE = 0x00200000
VM_HUGETLB = 0x00400000  # Huge TLB Page VM
VM_SYNC = 0x00800000
VM_ARCH_1 = 0x01000000  # arm64: VM_ARM64_BTI
VM_WIPEONFORK = 0x02000000
VM_DONTDUMP = 0x04000000  # Do not include in the core dump
VM_SOFTDIRTY = 0x08000000
VM_MIXEDMAP = 0x10000000  # Can contain "struct page" and pure PFN pages
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000
VM_MTE = 1 << 32  # arm64: VM_HIGH_ARCH_0 (CONFIG_ARM64_MTE), up to v6.11
VM_MTE_ALLOWED = 1 << 33  # arm64: VM_HIGH_ARCH_1, up to v6.11
# Since Linux commit 5c656fcdd6c6 ("mm: Introduce new flag to indicate wc safe") (in v6.9):
# VM_ALLOW_ANY_UNCACHED_BIT 39 under CONFIG_64BIT, else VM_ALLOW_ANY_UNCACHED = VM_NONE.
VM_ALLOW_ANY_UNCACHED_BIT = 39
VM_ALLOW_ANY_UNCACHED = 1 << VM_ALLOW_ANY_UNCACHED_BIT  # the CONFIG_64BIT value

_FLAG_NAMES = (
    "VM_READ", "VM_WRITE", "VM_EXEC", "VM_SHARED", "VM_MAYREAD", "VM_MAYWRITE", "VM_MAYEXEC",
    "VM_MAYSHARE", "VM_GROWSDOWN", "VM_UFFD_MISSING", "VM_PFNMAP", "VM_UFFD_WP", "VM_LOCKED",
    "VM_IO", "VM_SEQ_READ", "VM_RAND_READ", "VM_DONTCOPY", "VM_DONTEXPAND", "VM_LOCKONFAULT",
    "VM_ACCOUNT", "VM_NORESERVE", "VM_HUGETLB", "VM_SYNC", "VM_ARCH_1", "VM_WIPEONFORK",
    "VM_DONTDUMP", "VM_SOFTDIRTY", "VM_MIXEDMAP", "VM_HUGEPAGE", "VM_NOHUGEPAGE", "VM_MERGEABLE",
    "VM_MTE", "VM_MTE_ALLOWED", "VM_ALLOW_ANY_UNCACHED",
)


def vm_mte_bits(release: object | None = None) -> tuple[int, int]:
    """(VM_MTE, VM_MTE_ALLOWED) in a kernel of ``release``: VM_HIGH_ARCH_0/1 (bits 32/33) up to
    v6.11, VM_HIGH_ARCH_4/5 (bits 36/37) from v6.12, when arm64 POE took VM_HIGH_ARCH_0..2 for
    the protection-key bits (the commit was not verified; the positions were).

    :param release: a KernelVersion or 'MAJOR.MINOR' (None: the v6.12+ positions).
    """
    from .version import V6_12, KernelVersion

    r = KernelVersion.parse(release) if release is not None else V6_12  # type: ignore[arg-type]
    return (VM_MTE, VM_MTE_ALLOWED) if r < V6_12 else (1 << 36, 1 << 37)


def vm_allow_any_uncached(bits: int = 64) -> int:
    """The value of VM_ALLOW_ANY_UNCACHED in a kernel of this word size: BIT(39) or VM_NONE.

    :param bits: ``BITS_PER_LONG`` of the host kernel (64 for CONFIG_64BIT, else 32).
    """
    if bits not in (32, 64):
        raise ConfigError(f"kernel word size={bits}: expected 32 or 64")
    return VM_ALLOW_ANY_UNCACHED if bits == 64 else VM_NONE


def decode_vm_flags(value: int, release: object | None = None) -> str:
    """'VM_IO|VM_PFNMAP|0x...': flag names, unknown bits shown raw in hex (never hidden).

    :param release: the kernel whose VM_MTE / VM_MTE_ALLOWED positions apply (None: up to v6.11).
    """
    names: list[str] = []
    rest = value
    mte = vm_mte_bits(release) if release is not None else (VM_MTE, VM_MTE_ALLOWED)
    for name in _FLAG_NAMES:
        bit = {"VM_MTE": mte[0], "VM_MTE_ALLOWED": mte[1]}.get(name, globals()[name])
        if value & bit:
            names.append(name)
            rest &= ~bit
    if rest:
        names.append(f"0x{rest:x}")
    return "|".join(names) if names else "VM_NONE"


# --- pgprot: arch/arm64/include/asm/{memory.h,pgtable-hwdef.h,pgtable-prot.h,pgtable.h} ---------
class MT(enum.IntEnum):
    """Linux arm64 MAIR_EL1 AttrIndx values of v5.14 on (asm/memory.h, :mod:`.asm.memory`).

    The host side of the model (VMAs, pgprots) uses this layout; older layouts are in
    :data:`memattr.linux.asm.memory.MT_LAYOUTS` (a guest kernel of any release uses its own).
    """

    MT_NORMAL = _mem.MT_NORMAL
    MT_NORMAL_TAGGED = _mem.MT_NORMAL_TAGGED
    MT_NORMAL_NC = _mem.MT_NORMAL_NC
    MT_DEVICE_nGnRnE = _mem.MT_DEVICE_nGnRnE
    MT_DEVICE_nGnRE = _mem.MT_DEVICE_nGnRE

PAGE_SIZE = 1 << 12  # 4KB granule: PAGE_SHIFT 12
PMD_SIZE = 1 << 21  # PMD_SHIFT 21
PUD_SIZE = 1 << 30  # PUD_SHIFT 30

# arch/arm64/include/asm/pgtable-hwdef.h PTE_*, from arch.descriptor's stage-1 tables.
PTE_TYPE_PAGE = DESC_VALID | DESC_TABLE
PTE_USER = S1_AP_USER << S1_AP_SHIFT  # AP[1]
PTE_RDONLY = S1_AP2  # AP[2]
PTE_SHARED = Shareability.ISH.encoding << DESC_SH_SHIFT  # SH[1:0] = Inner Shareable
PTE_AF = DESC_AF
PTE_NG = S1_NG
PTE_DBM = DESC_DBM
PTE_WRITE = PTE_DBM
PTE_PXN = S1_PXN
PTE_UXN = S1_UXN
PTE_ATTRINDX_SHIFT = S1_ATTRINDX_SHIFT
PTE_ATTRINDX_MASK = S1_ATTRINDX_MASK << PTE_ATTRINDX_SHIFT


def _attrindx(mt: int) -> int:
    return (mt << PTE_ATTRINDX_SHIFT) & PTE_ATTRINDX_MASK


@dataclass(frozen=True, slots=True)
class Pgprot:
    """An arm64 ``pgprot_t``: the stage-1 PTE attribute bits a VMA's pages get."""

    value: int

    @property
    def attrindx(self) -> int:
        """AttrIndx[2:0]: the MAIR_EL1 slot (an MT_* value)."""
        return (self.value & PTE_ATTRINDX_MASK) >> PTE_ATTRINDX_SHIFT

    @property
    def mt_name(self) -> str:
        """'MT_DEVICE_nGnRnE' and so on, or 'AttrIndx=N' for an index Linux does not use."""
        try:
            return MT(self.attrindx).name
        except ValueError:
            return f"AttrIndx={self.attrindx}"

    @property
    def sh(self) -> int:
        """SH[1:0] of the PTE."""
        return (self.value >> DESC_SH_SHIFT) & DESC_SH_MASK

    def __str__(self) -> str:
        return f"{self.mt_name} (pgprot 0x{self.value:x})"


def _pgprot_modify(prot: Pgprot, mask: int, bits: int) -> Pgprot:
    """The kernel's ``__pgprot_modify``: replace the bits under ``mask``."""
    return Pgprot((prot.value & ~mask) | bits)

# _PROT_DEFAULT = PTE_TYPE_PAGE | PTE_AF | PTE_SHARED; PAGE_SHARED is the user RW data pgprot.
_PROT_DEFAULT = PTE_TYPE_PAGE | PTE_AF | PTE_SHARED
PAGE_SHARED = Pgprot(_PROT_DEFAULT | _attrindx(MT.MT_NORMAL) | PTE_USER | PTE_NG | PTE_PXN
                     | PTE_UXN | PTE_WRITE)
PAGE_KERNEL = Pgprot(_PROT_DEFAULT | _attrindx(MT.MT_NORMAL) | PTE_PXN | PTE_UXN | PTE_WRITE)


def pgprot_noncached(prot: Pgprot) -> Pgprot:
    """arm64 ``pgprot_noncached``: MT_DEVICE_nGnRnE, never executable."""
    return _pgprot_modify(prot, PTE_ATTRINDX_MASK,
                          _attrindx(MT.MT_DEVICE_nGnRnE) | PTE_PXN | PTE_UXN)


def pgprot_device(prot: Pgprot) -> Pgprot:
    """arm64 ``pgprot_device``: MT_DEVICE_nGnRE, never executable."""
    return _pgprot_modify(prot, PTE_ATTRINDX_MASK,
                          _attrindx(MT.MT_DEVICE_nGnRE) | PTE_PXN | PTE_UXN)


def pgprot_writecombine(prot: Pgprot) -> Pgprot:
    """arm64 ``pgprot_writecombine``: MT_NORMAL_NC, never executable."""
    return _pgprot_modify(prot, PTE_ATTRINDX_MASK, _attrindx(MT.MT_NORMAL_NC) | PTE_PXN | PTE_UXN)


def pgprot_tagged(prot: Pgprot) -> Pgprot:
    """arm64 ``pgprot_tagged``: MT_NORMAL_TAGGED (an MTE-enabled mapping)."""
    return _pgprot_modify(prot, PTE_ATTRINDX_MASK, _attrindx(MT.MT_NORMAL_TAGGED))


# --- VMAs --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Vma:
    """A ``struct vm_area_struct`` reduced to what KVM reads, plus the physical pages behind it.

    :param vm_start: first HVA; ``vm_end``: one past the last.
    :param vm_flags: the vm_flags word.
    :param vm_page_prot: the pgprot of the VMM's own stage-1 mapping.
    :param phys: the physical address mapped at ``vm_start`` (PFN-mapped VMAs map a contiguous
        physical range; for RAM it is the backing memory).
    :param name: what made it ('vfio-pci 0000:01:00.0 BAR2' ...).
    :param page_size: the page size of the mapping (a hugetlb VMA's huge page size).
    :param origin: the kernel function that created the VMA (``vfio_pci_core_mmap`` ...).
    :param huge_pfnmap: the driver's fault handler installs PMD/PUD PFN maps where the HVA, the
        PFN and the VMA allow (vfio-pci's ``huge_fault`` since Linux commit f9e54c3a2f5b
        ("vfio/pci: implement huge_fault support") (in v6.12)); otherwise PTEs.
    :param thp: anonymous memory backed by transparent huge pages (PMD-mapped where aligned).
    :param decisions: the mmap path's decisions (flags and pgprot), as records.
    :param release: the host kernel release (a KernelVersion) whose flag positions apply.
    """

    vm_start: int
    vm_end: int
    vm_flags: int
    vm_page_prot: Pgprot
    phys: int
    name: str = ""
    page_size: int = 4096
    origin: str = ""
    huge_pfnmap: bool = False
    thp: bool = False
    decisions: tuple[Decision, ...] = ()
    release: object = None

    def __post_init__(self) -> None:
        if self.vm_end <= self.vm_start or self.vm_start % 4096 or self.vm_end % 4096:
            raise ConfigError(f"VMA {self.name}: 0x{self.vm_start:x}..0x{self.vm_end:x} must be "
                              "page-aligned and non-empty")

    @property
    def size(self) -> int:
        return self.vm_end - self.vm_start

    def contains(self, hva: int) -> bool:
        return self.vm_start <= hva < self.vm_end

    def hva_to_phys(self, hva: int) -> int:
        """The physical address behind ``hva``."""
        if not self.contains(hva):
            raise ConfigError(f"HVA 0x{hva:x}: outside VMA {self.name} "
                              f"0x{self.vm_start:x}..0x{self.vm_end:x}")
        return self.phys + (hva - self.vm_start)

    def hva_to_pfn(self, hva: int) -> int:
        return self.hva_to_phys(hva) >> 12

    def host_leaf_size(self, hva: int) -> int:
        """The size of the VMM's own (host stage-1) leaf mapping ``hva``: a hugetlb page, a
        PMD-mapped THP, a PMD/PUD PFN map of a ``huge_pfnmap`` driver, else a 4 KiB PTE.

        A block is used where the HVA and the physical address are equally aligned and the whole
        block lies in the VMA (vfio_pci_mmap_huge_fault's checks; the THP fault path's).
        """
        if self.vm_flags & VM_HUGETLB:
            return self.page_size
        sizes = (PUD_SIZE, PMD_SIZE) if self.huge_pfnmap else (PMD_SIZE,) if self.thp else ()
        pa = self.hva_to_phys(hva)
        for size in sizes:
            base = hva & ~(size - 1)
            if (hva & (size - 1)) == (pa & (size - 1)) and base >= self.vm_start and \
                    base + size <= self.vm_end:
                return size
        return PAGE_SIZE

    @property
    def kernel_vm_flags(self) -> int:
        """``vm_flags`` as the release's kernel holds it: the model keeps VM_MTE/VM_MTE_ALLOWED at
        bits 32/33 and moves them to bits 36/37 for v6.12 on (:func:`vm_mte_bits`)."""
        mte, allowed = vm_mte_bits(self.release) if self.release is not None else (VM_MTE,
                                                                                     VM_MTE_ALLOWED)
        value = self.vm_flags & ~(VM_MTE | VM_MTE_ALLOWED)
        value |= mte if self.vm_flags & VM_MTE else 0
        value |= allowed if self.vm_flags & VM_MTE_ALLOWED else 0
        return value

    @property
    def flags_str(self) -> str:
        return decode_vm_flags(self.kernel_vm_flags, self.release)

    def at(self, vm_start: int) -> Vma:
        """The same VMA placed at another HVA."""
        return replace(self, vm_start=vm_start, vm_end=vm_start + self.size)


def kvm_vma_is_cacheable(vma: Vma) -> bool:
    """arch/arm64/kvm/mmu.c ``kvm_vma_is_cacheable``: false for MT_NORMAL_NC, MT_DEVICE_nGnRnE and
    MT_DEVICE_nGnRE pgprots, true otherwise.

    Since Linux commit 0c67288e0c8b ("KVM: arm64: Allow cacheable stage 2 mapping using VMA
    flags") (in v6.17).
    """
    return vma.vm_page_prot.attrindx not in (MT.MT_NORMAL_NC, MT.MT_DEVICE_nGnRnE,
                                             MT.MT_DEVICE_nGnRE)


def vma_stage1_attrs(vma: Vma, *, mte: bool = False) -> MemoryAttributes:
    """The VMM's own stage-1 memory type for this VMA under Linux's MAIR_EL1.

    :param mte: the host has enabled MTE (MT_NORMAL_TAGGED holds 0xF0 rather than 0xFF).
    """
    slot = vma.vm_page_prot.attrindx
    byte = MAIR_ELx.get(_mem.mair_for(_mem.MT_LAYOUTS[-1].since, mte=mte), f"Attr{slot}")
    sh = {0: Shareability.NSH, 2: Shareability.OSH, 3: Shareability.ISH}.get(
        vma.vm_page_prot.sh, Shareability.ISH)
    return _mair.decode(byte, sh, field=f"MAIR_EL1.Attr{slot}")


class AddressSpace:
    """A VMM process's VMAs (``mm_struct``), with ``find_vma`` and a simple HVA allocator."""

    def __init__(self, base: int = 0x7F00_0000_0000) -> None:
        self._vmas: list[Vma] = []
        self._next = base
        self.revoked: set[int] = set()  # vm_start of VMAs whose fault handler returns SIGBUS
        # vm_start of VMAs still mapped over a BAR whose memory decode is off (before v5.8)
        self.decode_off: set[int] = set()

    def remove(self, vma: Vma) -> None:
        """munmap: the VMA goes."""
        self._vmas.remove(vma)
        self.revoked.discard(vma.vm_start)
        self.decode_off.discard(vma.vm_start)

    def sigbus(self, vma: Vma) -> bool:
        """The VMA's fault handler answers VM_FAULT_SIGBUS (its device's memory is revoked)."""
        return vma.vm_start in self.revoked

    def decode_disabled(self, vma: Vma) -> bool:
        """The VMA still maps a BAR whose memory decode is off: an access reaches the device,
        which does not decode it (vfio-pci before v5.8 neither zapped nor blocked)."""
        return vma.vm_start in self.decode_off

    @property
    def vmas(self) -> tuple[Vma, ...]:
        return tuple(sorted(self._vmas, key=lambda v: v.vm_start))

    def get_unmapped_area(self, size: int, align: int = 4096, *, exact: bool = False) -> int:
        """A free HVA range of ``size`` bytes aligned to ``align``.

        :param exact: aligned to ``align`` and to nothing larger (an odd multiple of it), as a
            VMM that does not align its mmap may get: the case the stage-2 block size depends on.
        """
        start = (self._next + align - 1) & ~(align - 1)
        if exact and start % (2 * align) == 0:
            start += align
        self._next = start + size + 0x1000_0000  # leave a gap between mappings
        return start

    def insert(self, vma: Vma) -> Vma:
        """Add a VMA; overlapping an existing one is a ConfigError."""
        for v in self._vmas:
            if vma.vm_start < v.vm_end and v.vm_start < vma.vm_end:
                raise ConfigError(f"VMA {vma.name} 0x{vma.vm_start:x}..0x{vma.vm_end:x} overlaps "
                                  f"{v.name} 0x{v.vm_start:x}..0x{v.vm_end:x}")
        self._vmas.append(vma)
        return vma

    def find_vma(self, hva: int) -> Vma | None:
        """The VMA containing ``hva`` (unlike the kernel's, never one above it)."""
        for v in self._vmas:
            if v.contains(hva):
                return v
        return None

    def find_vma_intersection(self, start: int, end: int) -> tuple[Vma, ...]:
        """Every VMA intersecting [start, end), in address order."""
        return tuple(v for v in self.vmas if v.vm_start < end and start < v.vm_end)

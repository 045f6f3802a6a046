"""The host mmap paths that produce the VMAs a VMM hands to KVM, one function per kernel path.

Each function returns the :class:`~memattr.linux.mm.Vma` the kernel would build: its vm_flags
(which decide ``VM_ALLOW_ANY_UNCACHED``) and its pgprot (the VMM's own stage-1 type).  The
``MappingSource`` values describe a mapping independently of the kernel version, so the same
scenario can be replayed under every policy: :func:`mmap_source` runs the right path.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..arch.decision import Decision
from ..errors import ConfigError
from ..platform.physmap import PAGE_SIZE, Platform, RegionKind
from .commits import COMMITS
from .decisions import KernelRule, decide
from .events import Errno
from .mm import (
    PAGE_SHARED,
    VM_ACCOUNT,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_IO,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_MTE_ALLOWED,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    Pgprot,
    Vma,
    pgprot_device,
    pgprot_noncached,
    pgprot_writecombine,
    vm_allow_any_uncached,
)
from .version import V6_9, V6_12, KernelVersion

V6_13 = KernelVersion(6, 13)

__all__ = [
    "MappingSource",
    "VfioPciBar",
    "NvgraceRegion",
    "VfioPlatformRegion",
    "PciSysfsResource",
    "DevMem",
    "AnonymousRam",
    "HugetlbRam",
    "RawVma",
    "DriverPfnmap",
    "GicvInterface",
    "driver_pfnmap",
    "VM_SHARED_RW",
    "REMAP_PFN_FLAGS",
    "remap_pfn_range",
    "vfio_pci_core_mmap",
    "nvgrace_gpu_mmap",
    "vfio_platform_mmap_mmio",
    "pci_mmap_resource_range",
    "phys_mem_access_prot",
    "mmap_mem",
    "mmap_anonymous",
    "mmap_hugetlb",
    "mmap_source",
    "source_size",
    "region_kind",
    "COMMIT_VFIO_WC_SAFE",
    "COMMIT_MM_WC_SAFE",
    "COMMIT_NVGRACE_NONCACHED",
]

COMMIT_MM_WC_SAFE = COMMITS["mm-flag"]
COMMIT_VFIO_WC_SAFE = COMMITS["vfio-wc-safe"]
COMMIT_NVGRACE_NONCACHED = COMMITS["nvgrace-noncached"]

# A MAP_SHARED read/write mapping of a device file.
VM_SHARED_RW = VM_READ | VM_WRITE | VM_SHARED | VM_MAYREAD | VM_MAYWRITE | VM_MAYSHARE
# mm/memory.c remap_pfn_range_notrack: vm_flags_set(vma, VM_IO | VM_PFNMAP | VM_DONTEXPAND |
# VM_DONTDUMP); vfio-pci's fault-time vmf_insert_pfn path sets the same set in its mmap.
REMAP_PFN_FLAGS = VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP


# --- mapping sources (kernel-independent descriptions) -----------------------------------------


@dataclass(frozen=True, slots=True)
class MappingSource:
    """Base of the VMM mapping descriptions; ``offset``/``size`` select part of the region."""

    @property
    def label(self) -> str:
        """A short human name of the source."""
        return type(self).__name__


@dataclass(frozen=True, slots=True)
class VfioPciBar(MappingSource):
    """A BAR of a PCIe endpoint mmapped from its vfio-pci device fd (or a VF BAR with ``vf``)."""

    device: str
    bar: int
    vf: int | None = None
    offset: int = 0
    size: int | None = None

    @property
    def label(self) -> str:
        vf = f" VF{self.vf}" if self.vf is not None else ""
        return f"vfio-pci {self.device}{vf} BAR{self.bar}"


@dataclass(frozen=True, slots=True)
class NvgraceRegion(MappingSource):
    """nvgrace-gpu device memory: ``region`` is 'usemem' (fake BAR4) or 'resmem' (fake BAR2)."""

    device: str
    region: str = "usemem"
    offset: int = 0
    size: int | None = None

    def __post_init__(self) -> None:
        if self.region not in ("usemem", "resmem"):
            raise ConfigError(f"nvgrace-gpu region={self.region!r}: expected 'usemem' or 'resmem'")

    @property
    def label(self) -> str:
        return f"nvgrace-gpu {self.device} {self.region}"


@dataclass(frozen=True, slots=True)
class VfioPlatformRegion(MappingSource):
    """An MMIO region of a platform (AMBA) device mmapped from its vfio-platform device fd."""

    device: str
    offset: int = 0
    size: int | None = None

    @property
    def label(self) -> str:
        return f"vfio-platform {self.device}"


@dataclass(frozen=True, slots=True)
class PciSysfsResource(MappingSource):
    """/sys/bus/pci/devices/.../resourceN (``wc=False``) or resourceN_wc (``wc=True``)."""

    device: str
    bar: int
    wc: bool = False
    offset: int = 0
    size: int | None = None

    @property
    def label(self) -> str:
        return f"sysfs {self.device} resource{self.bar}{'_wc' if self.wc else ''}"


@dataclass(frozen=True, slots=True)
class DevMem(MappingSource):
    """/dev/mem at physical address ``phys``; ``o_sync`` is the open(2) O_SYNC flag."""

    phys: int
    size: int
    o_sync: bool = False

    @property
    def label(self) -> str:
        return f"/dev/mem 0x{self.phys:x}"


@dataclass(frozen=True, slots=True)
class AnonymousRam(MappingSource):
    """Anonymous guest RAM; ``phys`` picks the backing pages (None: the first linear-map RAM);
    ``thp``: backed by transparent huge pages (PMD-mapped by the host where aligned)."""

    size: int
    phys: int | None = None
    thp: bool = False

    @property
    def label(self) -> str:
        return "anonymous RAM"


@dataclass(frozen=True, slots=True)
class HugetlbRam(MappingSource):
    """hugetlbfs-backed guest RAM with ``page_size`` pages."""

    size: int
    page_size: int = 2 << 20
    phys: int | None = None

    @property
    def label(self) -> str:
        return f"hugetlb RAM ({self.page_size >> 10} KiB pages)"


@dataclass(frozen=True, slots=True)
class RawVma(MappingSource):
    """Any VMA: explicit vm_flags, pgprot and physical address (for drivers not modelled here)."""

    phys: int
    size: int
    vm_flags: int
    pgprot: Pgprot = field(default_factory=lambda: PAGE_SHARED)
    name: str = "raw VMA"

    @property
    def label(self) -> str:
        return self.name


@dataclass(frozen=True, slots=True)
class DriverPfnmap(MappingSource):
    """A PFN map made by a driver with a pgprot of its choosing (DRM/TTM GEM objects, dma-buf
    exporters, a virtio-gpu blob resource): ``remap_pfn_range``/``vmf_insert_pfn`` with
    VM_IO|VM_PFNMAP (or VM_MIXEDMAP), and VM_ALLOW_ANY_UNCACHED only if the driver sets it.

    :param phys: the physical address mapped.  :param size: bytes.
    :param pgprot: 'writecombine' (pgprot_writecombine, what TTM uses for WC buffers),
        'device' (pgprot_device), 'noncached' (pgprot_noncached) or 'cached' (PAGE_SHARED).
    :param allow_any_uncached: the driver sets VM_ALLOW_ANY_UNCACHED (none does in v6.9-v6.17
        except vfio-pci and nvgrace-gpu resmem).
    :param mixedmap: VM_MIXEDMAP instead of VM_PFNMAP.
    """

    phys: int
    size: int
    pgprot: str = "writecombine"
    allow_any_uncached: bool = False
    mixedmap: bool = False
    name: str = "driver PFNMAP"

    def __post_init__(self) -> None:
        if self.pgprot not in _PGPROTS:
            raise ConfigError(f"PFNMAP pgprot={self.pgprot!r}: expected one of "
                              f"{', '.join(_PGPROTS)}")

    @property
    def label(self) -> str:
        return f"{self.name} ({self.pgprot})"


_PGPROTS = ("writecombine", "device", "noncached", "cached")


@dataclass(frozen=True, slots=True)
class GicvInterface(MappingSource):
    """The GICv2 virtual CPU interface: no VMA; KVM maps it itself (``kvm_phys_addr_ioremap``)."""

    @property
    def label(self) -> str:
        return "GICv2 GICV (kvm_phys_addr_ioremap)"


# --- the kernel paths --------------------------------------------------------------------------


def remap_pfn_range(vm_start: int, phys: int, size: int, prot: Pgprot, vm_flags: int, *,
                    name: str, origin: str) -> Vma:
    """mm/memory.c ``remap_pfn_range``: a PFN map with VM_IO | VM_PFNMAP | VM_DONTEXPAND |
    VM_DONTDUMP added to ``vm_flags``."""
    return Vma(vm_start, vm_start + size, vm_flags | REMAP_PFN_FLAGS, prot, phys, name,
               origin=origin)


def _span(base: int, total: int, offset: int, size: int | None, what: str) -> tuple[int, int]:
    size = total - offset if size is None else size
    if offset % PAGE_SIZE or size <= 0 or size % PAGE_SIZE or offset + size > total:
        raise ConfigError(f"{what}: offset=0x{offset:x} size=0x{size:x} must be page-aligned "
                          f"and within the region (size 0x{total:x})")
    return base + offset, size


def vfio_pci_core_mmap(
    platform: Platform,
    device: str,
    bar: int,
    *,
    release: KernelVersion,
    hva: int,
    vf: int | None = None,
    offset: int = 0,
    size: int | None = None,
    bits: int = 64,
) -> Vma:
    """drivers/vfio/pci/vfio_pci_core.c ``vfio_pci_core_mmap``: pgprot_noncached (Device-nGnRnE).

    Since Linux commit a39d3a966a09 ("vfio: Convey kvm that the vfio-pci device is wc safe")
    (in v6.9) the VMA also carries VM_ALLOW_ANY_UNCACHED, for every BAR (prefetchable or not).

    :param release: the host kernel release.
    :param bits: the host kernel word size (VM_ALLOW_ANY_UNCACHED is VM_NONE on 32-bit).
    """
    _rc, ep = platform.endpoint(device)
    if vf is None:
        b = ep.bar(bar)
    else:
        if ep.sriov is None:
            raise ConfigError(f"{device}: VF{vf} requested but the endpoint has no SR-IOV")
        b = ep.sriov.vf_bar(vf, bar)
    ds: list[Decision] = []
    total = b.size
    if b.size < PAGE_SIZE:
        # vfio_pci_probe_mmaps (vfio_pci_core_enable): a sub-page BAR is mmap-able when it starts
        # a page; vfio-pci reserves the rest of that page so no other device shares it (Linux
        # commit 05f0c03fbac1, v4.8).  Otherwise bar_mmap_supported is false: mmap is -EINVAL.
        if b.address % PAGE_SIZE:
            ds.append(decide(KernelRule.vfio_pci_probe_mmaps, "sub_page_unaligned", Errno.EINVAL,
                             size=b.size, address=b.address))
            raise ConfigError(f"{device} BAR{bar}: 0x{b.size:x} bytes at 0x{b.address:x} is a "
                              "sub-page BAR that does not start a page; vfio-pci does not allow "
                              "mmap (-EINVAL)")
        ds.append(decide(KernelRule.vfio_pci_probe_mmaps, "sub_page_reserved", True,
                         size=b.size, address=b.address))
        total = PAGE_SIZE
    phys, length = _span(b.address, total, offset, size, f"{device} BAR{bar}")
    flags = VM_SHARED_RW
    if release >= V6_9:
        flags |= vm_allow_any_uncached(bits)
    huge = release >= V6_12
    ds.append(decide(KernelRule.vfio_pci_core_mmap, "flags_6_9" if release >= V6_9 else
                     "flags_6_8", flags | REMAP_PFN_FLAGS, release=str(release), bits=bits,
                     pgprot="pgprot_noncached", huge_fault=huge))
    name = f"vfio-pci {device}{f' VF{vf}' if vf is not None else ''} BAR{bar}"
    vma = remap_pfn_range(hva, phys, length, pgprot_noncached(PAGE_SHARED), flags, name=name,
                          origin="vfio_pci_core_mmap")
    # Since Linux commit f9e54c3a2f5b (v6.12) vfio-pci faults its BARs in with PMD/PUD PFN maps.
    return replace(vma, huge_pfnmap=huge, decisions=tuple(ds))


def nvgrace_gpu_mmap(
    platform: Platform,
    device: str,
    region: str,
    *,
    release: KernelVersion,
    hva: int,
    offset: int = 0,
    size: int | None = None,
    bits: int = 64,
) -> Vma:
    """drivers/vfio/pci/nvgrace-gpu/main.c ``nvgrace_gpu_mmap`` (the driver is new in v6.9).

    resmem: pgprot_writecombine and VM_ALLOW_ANY_UNCACHED; usemem: the default cacheable pgprot
    and no flag.  Both are PFN maps of memory outside the host's linear map.  Before v6.9 (the
    driver backported) VM_ALLOW_ANY_UNCACHED does not exist, so no VMA carries it.
    """
    g = platform.nvgrace_device(device)
    index = g.RESMEM_REGION_INDEX if region == "resmem" else g.USEMEM_REGION_INDEX
    base, total = g.region(index)
    phys, length = _span(base, total, offset, size, f"{device} {region}")
    flags = VM_SHARED_RW
    prot = PAGE_SHARED
    if region == "resmem":
        prot = pgprot_writecombine(prot)
        if release >= V6_9:
            flags |= vm_allow_any_uncached(bits)
    d = decide(KernelRule.nvgrace_gpu_mmap, region, flags | REMAP_PFN_FLAGS, release=str(release),
               pgprot=prot.mt_name)
    vma = remap_pfn_range(hva, phys, length, prot, flags, name=f"nvgrace-gpu {device} {region}",
                          origin="nvgrace_gpu_mmap")
    return replace(vma, decisions=(d,))


def vfio_platform_mmap_mmio(
    platform: Platform,
    device: str,
    *,
    hva: int,
    offset: int = 0,
    size: int | None = None,
) -> Vma:
    """drivers/vfio/platform/vfio_platform_common.c ``vfio_platform_mmap_mmio``:
    pgprot_noncached and remap_pfn_range; never VM_ALLOW_ANY_UNCACHED."""
    d = platform.amba_device(device)
    phys, length = _span(d.base, d.size, offset, size, f"{device}")
    return remap_pfn_range(hva, phys, length, pgprot_noncached(PAGE_SHARED), VM_SHARED_RW,
                           name=f"vfio-platform {device}", origin="vfio_platform_mmap_mmio")


def pci_mmap_resource_range(
    platform: Platform,
    device: str,
    bar: int,
    *,
    write_combine: bool,
    hva: int,
    offset: int = 0,
    size: int | None = None,
) -> Vma:
    """drivers/pci/mmap.c ``pci_mmap_resource_range`` (sysfs resourceN / resourceN_wc):
    pgprot_writecombine for _wc (only offered for prefetchable BARs), else pgprot_device."""
    _rc, ep = platform.endpoint(device)
    b = ep.bar(bar)
    if write_combine and not b.prefetchable:
        # drivers/pci/pci-sysfs.c pci_create_attr: resourceN_wc exists only for prefetchable BARs.
        raise ConfigError(f"{device} BAR{bar}: not prefetchable, so sysfs has no resource{bar}_wc")
    phys, length = _span(b.address, b.size, offset, size, f"{device} BAR{bar}")
    prot = pgprot_writecombine(PAGE_SHARED) if write_combine else pgprot_device(PAGE_SHARED)
    suffix = "_wc" if write_combine else ""
    d = decide(KernelRule.pci_mmap_resource_range, "wc" if write_combine else "uc",
               VM_SHARED_RW | REMAP_PFN_FLAGS, pgprot=prot.mt_name)
    vma = remap_pfn_range(hva, phys, length, prot, VM_SHARED_RW,
                          name=f"sysfs {device} resource{bar}{suffix}",
                          origin="pci_mmap_resource_range")
    return replace(vma, decisions=(d,))


def phys_mem_access_prot(platform: Platform, pfn: int, prot: Pgprot, *, o_sync: bool) -> Pgprot:
    """arch/arm64/mm/mmu.c ``phys_mem_access_prot``: non-RAM is pgprot_noncached; RAM opened with
    O_SYNC is pgprot_writecombine; other RAM keeps ``prot``."""
    if not platform.pfn_is_map_memory(pfn):
        return pgprot_noncached(prot)
    if o_sync:
        return pgprot_writecombine(prot)
    return prot


def mmap_mem(platform: Platform, phys: int, size: int, *, o_sync: bool = False, hva: int) -> Vma:
    """drivers/char/mem.c ``mmap_mem`` (/dev/mem): phys_mem_access_prot, then remap_pfn_range."""
    if phys % PAGE_SIZE or size <= 0 or size % PAGE_SIZE:
        raise ConfigError(f"/dev/mem: phys=0x{phys:x} size=0x{size:x} must be page-aligned")
    prot = phys_mem_access_prot(platform, phys >> 12, PAGE_SHARED, o_sync=o_sync)
    d = decide(KernelRule.mmap_mem, "phys_mem_access_prot", VM_SHARED_RW | REMAP_PFN_FLAGS,
               pgprot=prot.mt_name, in_linear_map=platform.pfn_is_map_memory(phys >> 12),
               o_sync=o_sync)
    vma = remap_pfn_range(hva, phys, size, prot, VM_SHARED_RW, name=f"/dev/mem 0x{phys:x}",
                          origin="mmap_mem")
    return replace(vma, decisions=(d,))


def _ram_phys(platform: Platform, phys: int | None, size: int, what: str) -> int:
    if phys is not None:
        return phys
    for r in platform.ram:
        if r.in_linear_map and r.size >= size:
            return r.base
    raise ConfigError(f"{what}: no linear-map RAM region of at least 0x{size:x} bytes to back it")


def mmap_anonymous(
    platform: Platform, size: int, *, hva: int, phys: int | None = None, mte: bool = False,
    thp: bool = False, release: KernelVersion | None = None,
) -> Vma:
    """An anonymous private mapping (``MAP_PRIVATE|MAP_ANONYMOUS``): ordinary struct-page RAM.

    :param mte: the host supports MTE: arm64 ``arch_calc_vm_flag_bits`` adds VM_MTE_ALLOWED
        (bit 33 up to v6.11, bit 37 from v6.12).
    :param thp: transparent huge pages back it (VM_HUGEPAGE; PMD-mapped where aligned).
    """
    base = _ram_phys(platform, phys, size, "anonymous RAM")
    flags = VM_READ | VM_WRITE | VM_MAYREAD | VM_MAYWRITE | VM_ACCOUNT
    if mte:
        flags |= VM_MTE_ALLOWED
    if thp:
        flags |= VM_HUGEPAGE
    return Vma(hva, hva + size, flags, PAGE_SHARED, base, "anonymous RAM", origin="do_mmap",
               thp=thp)


def driver_pfnmap(platform: Platform, source: DriverPfnmap, *, hva: int, bits: int = 64) -> Vma:
    """A driver's PFN map with its own pgprot (DRM/TTM, dma-buf, virtio-gpu blob)."""
    if source.phys % PAGE_SIZE or source.size <= 0 or source.size % PAGE_SIZE:
        raise ConfigError(f"{source.name}: phys=0x{source.phys:x} size=0x{source.size:x} must be "
                          "page-aligned")
    prot = {"writecombine": pgprot_writecombine, "device": pgprot_device,
            "noncached": pgprot_noncached}.get(source.pgprot, lambda p: p)(PAGE_SHARED)
    flags = VM_SHARED_RW | (vm_allow_any_uncached(bits) if source.allow_any_uncached else 0)
    kind = VM_IO | (VM_MIXEDMAP if source.mixedmap else VM_PFNMAP) | VM_DONTEXPAND | VM_DONTDUMP
    d = decide(KernelRule.pfnmap_mmap, source.pgprot, flags | kind, pgprot=prot.mt_name,
               allow_any_uncached=source.allow_any_uncached)
    return Vma(hva, hva + source.size, flags | kind, prot, source.phys, source.name,
               origin="driver mmap (remap_pfn_range / vmf_insert_pfn)", decisions=(d,))


def mmap_hugetlb(
    platform: Platform,
    size: int,
    *,
    hva: int,
    page_size: int = 2 << 20,
    phys: int | None = None,
    mte: bool = False,
    release: KernelVersion = V6_9,
) -> Vma:
    """fs/hugetlbfs/inode.c ``hugetlbfs_file_mmap``: VM_HUGETLB | VM_DONTEXPAND, huge pages.

    VM_MTE_ALLOWED on an MTE host since Linux commit 25c17c4b55de ("hugetlb: arm64: add mte
    support") (in v6.13; release not re-verified).
    """
    if size % page_size or hva % page_size:
        raise ConfigError(f"hugetlb RAM: size=0x{size:x} and HVA must be multiples of the page "
                          f"size 0x{page_size:x}")
    base = _ram_phys(platform, phys, size, "hugetlb RAM")
    flags = VM_SHARED_RW | VM_HUGETLB | VM_DONTEXPAND
    if mte and release >= V6_13:
        flags |= VM_MTE_ALLOWED
    return Vma(hva, hva + size, flags, PAGE_SHARED, base, "hugetlb RAM", page_size,
               origin="hugetlbfs_file_mmap")


def _source_size(platform: Platform, source: MappingSource) -> tuple[int, int]:
    """(size, alignment) the VMA for ``source`` needs."""
    if isinstance(source, VfioPciBar | PciSysfsResource):
        _rc, ep = platform.endpoint(source.device)
        if isinstance(source, VfioPciBar) and source.vf is not None:
            if ep.sriov is None:
                raise ConfigError(f"{source.device}: VF{source.vf} requested but no SR-IOV")
            total = ep.sriov.vf_bar(source.vf, source.bar).size
        else:
            total = max(ep.bar(source.bar).size, PAGE_SIZE)
        return (source.size if source.size is not None else total - source.offset), PAGE_SIZE
    if isinstance(source, NvgraceRegion):
        g = platform.nvgrace_device(source.device)
        idx = g.RESMEM_REGION_INDEX if source.region == "resmem" else g.USEMEM_REGION_INDEX
        total = g.region(idx)[1]
        return (source.size if source.size is not None else total - source.offset), PAGE_SIZE
    if isinstance(source, VfioPlatformRegion):
        d = platform.amba_device(source.device)
        return (source.size if source.size is not None else d.size - source.offset), PAGE_SIZE
    if isinstance(source, DevMem | AnonymousRam | RawVma | DriverPfnmap):
        return source.size, PAGE_SIZE
    if isinstance(source, HugetlbRam):
        return source.size, source.page_size
    raise ConfigError(f"{source.label}: has no VMA")


def mmap_source(
    platform: Platform,
    source: MappingSource,
    *,
    release: KernelVersion,
    hva: int,
    bits: int = 64,
    mte: bool = False,
) -> Vma:
    """Run the kernel mmap path for ``source`` under ``release`` and return the VMA at ``hva``.

    :param platform: the host platform.
    :param source: the mapping description.
    :param release: the host kernel release (decides VM_ALLOW_ANY_UNCACHED for VFIO paths).
    :param hva: the VMM's virtual address for the mapping.
    :param bits: the host kernel word size.
    :param mte: the host supports MTE (RAM VMAs get VM_MTE_ALLOWED).
    """
    return replace(_mmap_source(platform, source, release=release, hva=hva, bits=bits, mte=mte),
                   release=release)


def _mmap_source(platform: Platform, source: MappingSource, *, release: KernelVersion, hva: int,
                 bits: int, mte: bool) -> Vma:
    if isinstance(source, VfioPciBar):
        return vfio_pci_core_mmap(platform, source.device, source.bar, release=release, hva=hva,
                                  vf=source.vf, offset=source.offset, size=source.size, bits=bits)
    if isinstance(source, NvgraceRegion):
        return nvgrace_gpu_mmap(platform, source.device, source.region, release=release, hva=hva,
                                offset=source.offset, size=source.size, bits=bits)
    if isinstance(source, VfioPlatformRegion):
        return vfio_platform_mmap_mmio(platform, source.device, hva=hva, offset=source.offset,
                                       size=source.size)
    if isinstance(source, PciSysfsResource):
        return pci_mmap_resource_range(platform, source.device, source.bar,
                                       write_combine=source.wc, hva=hva, offset=source.offset,
                                       size=source.size)
    if isinstance(source, DevMem):
        return mmap_mem(platform, source.phys, source.size, o_sync=source.o_sync, hva=hva)
    if isinstance(source, AnonymousRam):
        return mmap_anonymous(platform, source.size, hva=hva, phys=source.phys, mte=mte,
                              thp=source.thp, release=release)
    if isinstance(source, DriverPfnmap):
        return driver_pfnmap(platform, source, hva=hva, bits=bits)
    if isinstance(source, HugetlbRam):
        return mmap_hugetlb(platform, source.size, hva=hva, page_size=source.page_size,
                            phys=source.phys, mte=mte, release=release)
    if isinstance(source, RawVma):
        return Vma(hva, hva + source.size, source.vm_flags, source.pgprot, source.phys,
                   source.name, origin="raw")
    raise ConfigError(f"{source.label}: KVM maps it without a VMA; no mmap path")


def source_size(platform: Platform, source: MappingSource) -> tuple[int, int]:
    """(size, alignment) of the VMA ``source`` produces (used to place memslots)."""
    return _source_size(platform, source)


def region_kind(platform: Platform, vma: Vma) -> RegionKind:
    """What the VMA maps, by its first page."""
    return platform.lookup(vma.phys).kind


"""One call that runs a whole guest access through the Linux system model.

:func:`evaluate` takes a policy, the host features and platform, a VMM mapping source, a memslot,
a guest mapping and an access, and returns an :class:`Evaluation`: the VMM's stage-1 type, the
stage-2 MemAttr KVM wrote (and the raw descriptor), the guest's stage-1 type, the effective type
from the arch core with its properties, and every event (mapping created, MMIO exit, injected
abort, -EINVAL / -EFAULT / -ENOEXEC / -ENOSYS).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..arch.combine import Access, Resolution, resolve
from ..arch.memtype import MemoryAttributes
from ..arch.properties import AlignmentOutcome, TypeProperties, alignment_outcome, type_properties
from ..arch.s2memattr import fwb_meaning, s2_decode_mem_attrs
from ..errors import ConfigError
from ..platform.bus import ErrorOutcome
from ..platform.physmap import Platform, Region
from .events import Errno, Event, EventKind
from .guest import GuestStage1, LinuxGuest
from .kvm.abort import GuestAccess
from .kvm.features import HostFeatures, VmConfig
from .kvm.memslot import Memslot
from .kvm.mmu import AbortResult
from .kvm.pgtable import KVM_PGTABLE_PROT, Stage2Leaf, kvm_pgtable_prot_value, prot_str
from .kvm.vm import Kvm
from .mm import Vma, vma_stage1_attrs
from .mmap import GicvInterface, MappingSource, mmap_source, source_size
from .policy import Policy, get_policy

__all__ = ["MemslotSpec", "Evaluation", "evaluate", "DEFAULT_GICV_IPA", "DEFAULT_IPA"]

DEFAULT_IPA = 0x1_0000_0000  # where a memslot goes when the caller gives no IPA
DEFAULT_GICV_IPA = 0x0801_0000  # QEMU virt's GIC CPU interface


@dataclass(frozen=True, slots=True)
class MemslotSpec:
    """How the VMM registers the mapping with KVM.

    :param guest_phys_addr: the IPA of the slot.
    :param size: bytes (None: the whole VMA from ``offset``).
    :param offset: byte offset into the VMA where the slot starts.
    :param slot: the slot number.
    :param flags: KVM_MEM_LOG_DIRTY_PAGES / KVM_MEM_READONLY.
    :param mapped_at_creation: the VMA exists when the slot is created (so the arch checks see
        it); False models a VMM that mmaps after KVM_SET_USER_MEMORY_REGION.
    """

    guest_phys_addr: int = DEFAULT_IPA
    size: int | None = None
    offset: int = 0
    slot: int = 0
    flags: int = 0
    mapped_at_creation: bool = True


@dataclass(frozen=True)
class Evaluation:
    """Everything one guest access produced under one policy."""

    policy: Policy
    host: HostFeatures
    source: MappingSource | None
    guest: GuestStage1
    access: GuestAccess
    ipa: int
    vma: Vma | None
    region: Region | None
    memslot: Memslot | None
    abort: AbortResult | None
    events: tuple[Event, ...]
    resolution: Resolution | None
    alignment: AlignmentOutcome | None
    cd: bool = False

    # --- what item 6 prints -------------------------------------------------------------
    @property
    def vmm_s1(self) -> MemoryAttributes | None:
        """The VMM's own stage-1 type for the mapping (None: no VMA, e.g. GICV)."""
        return vma_stage1_attrs(self.vma, mte=self.host.mte) if self.vma is not None else None

    @property
    def leaf(self) -> Stage2Leaf | None:
        return self.abort.leaf if self.abort is not None else None

    @property
    def s2_memattr(self) -> int | None:
        """MemAttr[3:0] KVM wrote (None: no mapping)."""
        return self.leaf.memattr if self.leaf is not None else None

    @property
    def s2_descriptor(self) -> int | None:
        """The raw stage-2 leaf descriptor."""
        return self.leaf.descriptor if self.leaf is not None else None

    @property
    def s2_kind(self) -> str | None:
        """'DEVICE_nGnRE', 'NORMAL_NC' or 'NORMAL' (the KVM_S2_MEMATTR name used)."""
        return self.leaf.kind if self.leaf is not None else None

    @property
    def s2_meaning(self) -> str | None:
        """What the written MemAttr means with this host's FWB setting."""
        m = self.s2_memattr
        if m is None:
            return None
        return fwb_meaning(m).result.description if self.host.fwb else s2_decode_mem_attrs(m).label

    @property
    def s2_prot(self) -> KVM_PGTABLE_PROT | None:
        """The ``kvm_pgtable_prot`` of the installed leaf (or of the failed attempt)."""
        if self.leaf is not None:
            return self.leaf.prot
        return self.abort.prot if self.abort is not None else None

    @property
    def s2_prot_value(self) -> int | None:
        """The numeric ``kvm_pgtable_prot`` in the policy's kernel (None if not built)."""
        p = self.s2_prot
        return kvm_pgtable_prot_value(p, self.policy.prot_layout) if p is not None else None

    @property
    def guest_s1(self) -> MemoryAttributes | None:
        """The guest's stage-1 type (None with its MMU off or a reserved byte)."""
        return self.guest.attrs(self.host.arch_features)

    @property
    def effective(self) -> MemoryAttributes | None:
        """The effective type, when the arch core gives exactly one."""
        r = self.resolution
        if r is None or len(r.outcomes) != 1:
            return None
        return r.outcomes[0]

    @property
    def properties(self) -> TypeProperties | None:
        e = self.effective
        return type_properties(e) if e is not None else None

    @property
    def bus_error(self) -> ErrorOutcome | None:
        """What a failed access would do on the target's bus (containment is the platform's)."""
        if self.region is None or self.region.errors is None:
            return None
        return self.region.errors.outcome(self.access.is_write, self.effective)

    @property
    def speculation_hazard(self) -> bool:
        """The effective type permits speculative reads of a page whose reads have side effects
        (linux.md 3.8: only the guest knows which pages tolerate it)."""
        e = self.effective
        if e is None or e.is_device or self.region is None or self.leaf is None:
            return False
        pa = self.leaf.phys + (self.ipa - self.leaf.ipa)
        return self.region.page_has_read_side_effects(pa)

    @property
    def errno(self) -> Errno | None:
        """The first errno any step returned (-ENOEXEC included), or None."""
        for ev in self.events:
            if ev.errno is not None:
                return ev.errno
        return None

    @property
    def mapped(self) -> bool:
        return self.leaf is not None

    @property
    def mmio_exit(self) -> bool:
        return any(e.kind is EventKind.MMIO_EXIT for e in self.events)

    @property
    def injected(self) -> str | None:
        return self.abort.injected if self.abort is not None else None

    def summary(self) -> str:
        """One line: policy, FWB, guest mapping, S2 type and effective type or what happened."""
        head = f"[{self.policy.name} FWB={int(self.host.fwb)}] {self.guest.label}"
        if self.effective is not None:
            return (f"{head}: S2 {self.s2_kind} (MemAttr 0b{self.s2_memattr:04b}) -> "
                    f"{self.effective.short}")
        last = [e for e in self.events if e.kind is not EventKind.NOTE]
        return f"{head}: {last[-1] if last else 'no result'}"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every field item 6 prints."""
        def attrs(a: MemoryAttributes | None) -> Any:
            return a.to_json() if a is not None else None

        props = self.properties
        return {
            "policy": self.policy.name,
            "fwb": self.host.fwb,
            "source": self.source.label if self.source is not None else None,
            "guest_mapping": self.guest.name,
            "access": str(self.access),
            "ipa": self.ipa,
            "vma": None if self.vma is None else {
                "flags": self.vma.flags_str, "vm_flags": self.vma.vm_flags,
                "pgprot": self.vma.vm_page_prot.mt_name, "origin": self.vma.origin},
            "vmm_s1": attrs(self.vmm_s1),
            "s2_prot": prot_str(self.s2_prot) if self.s2_prot is not None else None,
            "s2_prot_value": self.s2_prot_value,
            "s2_kind": self.s2_kind,
            "s2_memattr": self.s2_memattr,
            "s2_descriptor": self.s2_descriptor,
            "s2_meaning": self.s2_meaning,
            "guest_s1": attrs(self.guest_s1),
            "guest_attr": self.guest.attr if self.guest.mmu_on else None,
            "effective": attrs(self.effective),
            "outcomes": [o.to_json() for o in self.resolution.outcomes]
            if self.resolution is not None else [],
            "properties": props.to_json() if props is not None else None,
            "alignment": str(self.alignment) if self.alignment is not None else None,
            "speculation_hazard": self.speculation_hazard,
            "errno": self.errno.name if self.errno is not None else None,
            "events": [e.to_json() for e in self.events],
        }


def _resolve(guest: GuestStage1, leaf: Stage2Leaf, host: HostFeatures, access: GuestAccess,
             cd: bool) -> tuple[Resolution, AlignmentOutcome | None]:
    sh2 = leaf.sh if not host.lpa2 else 0b11  # with LPA2, VTCR_EL2.SH0 = Inner Shareable
    ctl = guest.controls(fwb=host.fwb, cd=cd)
    res = resolve(guest.attr, leaf.memattr, sh1=guest.sh, sh2=sh2, controls=ctl,
                  access=access.access, cpu=host.arch_features)
    align = None
    if not access.aligned and access.access in (Access.READ, Access.WRITE):
        align = alignment_outcome(guest.attr, leaf.memattr, controls=ctl, access=access.access,
                                  aligned=False)
    return res, align


def evaluate(
    policy: Policy | str,
    host: HostFeatures,
    platform: Platform,
    source: MappingSource | None,
    memslot: MemslotSpec | None,
    guest: GuestStage1 | str,
    *,
    access: GuestAccess | None = None,
    offset: int = 0,
    ipa: int | None = None,
    vm: VmConfig | None = None,
    cd: bool = False,
) -> Evaluation:
    """Run one guest access through the VMM mmap, KVM's memslot and fault path, and the arch core.

    :param policy: a Policy or registered name ('6.8', '6.9', '6.17', 'v2', ...).
    :param host: host CPU features (FWB, DIC, MTE, XS ...).
    :param platform: the host platform the source lives on.
    :param source: the VMM mapping (VfioPciBar, NvgraceRegion ...); GicvInterface for the GICv2
        VCPU interface (KVM maps it, no VMA); None with ``memslot=None`` for an IPA KVM knows
        nothing about (an MMIO exit).
    :param memslot: how the mapping is registered; None means no memslot covers the IPA (the
        access becomes an MMIO exit even if the VMM mmapped the source).
    :param guest: the guest's stage-1 view (``LinuxGuest().ioremap_wc()``, ``raw_guest(...)``) or
        a Linux mapping API name ('ioremap_wc').
    :param access: the guest access (default: a 4-byte LDR).
    :param offset: byte offset of the access inside the memslot (or the GICV frame).
    :param ipa: for GICV or no-memslot accesses: the IPA (defaults otherwise).
    :param vm: per-VM options (MTE, NISV to user).
    :param cd: HCR_EL2.CD (the emulator path; scenarios.md case 9).
    """
    pol = get_policy(policy)
    g = LinuxGuest().map(guest) if isinstance(guest, str) else guest
    acc = access if access is not None else GuestAccess.read()
    kvm = Kvm(pol, host, platform, vm=vm)
    vma: Vma | None = None
    slot: Memslot | None = None
    region: Region | None = None
    abort: AbortResult | None = None

    if isinstance(source, GicvInterface):
        if memslot is not None:
            raise ConfigError("GICV is mapped by KVM (kvm_phys_addr_ioremap): give no memslot")
        base = ipa if ipa is not None else DEFAULT_GICV_IPA
        kvm.vgic_v2_map_resources(base)
        assert platform.gic is not None
        region = platform.lookup(platform.gic.gicv_base)
        fault_ipa = base + offset
    else:
        if source is not None:
            size, align = source_size(platform, source)
            hva = kvm.mm.get_unmapped_area(size, max(align, 1 << 21))
            vma = mmap_source(platform, source, release=pol.release, hva=hva, bits=host.bits,
                              mte=host.mte)
            region = platform.lookup(vma.phys)
        if memslot is None:
            fault_ipa = (ipa if ipa is not None else DEFAULT_IPA) + offset
            if vma is not None:
                kvm.add_vma(vma)
        else:
            if vma is None:
                raise ConfigError("a memslot needs a mapping source with a VMA")
            msize = memslot.size if memslot.size is not None else vma.size - memslot.offset
            slot = Memslot(memslot.slot, memslot.guest_phys_addr, msize,
                           vma.vm_start + memslot.offset, memslot.flags)
            if memslot.mapped_at_creation:
                kvm.add_vma(vma)
            r = kvm.kvm_set_user_memory_region(slot)
            if not memslot.mapped_at_creation:
                kvm.add_vma(vma)
            fault_ipa = slot.guest_phys_addr + offset
            if r.errno is not None:
                return Evaluation(pol, host, source, g, acc, fault_ipa, vma, region, slot, None,
                                  tuple(kvm.events), None, None, cd)
            if not slot.contains(fault_ipa):
                raise ConfigError(f"offset 0x{offset:x}: outside memslot {slot.slot} (size "
                                  f"0x{slot.memory_size:x})")
    abort = kvm.handle_guest_abort(fault_ipa, acc)
    resolution = alignment = None
    if abort.leaf is not None and abort.errno is None and abort.injected is None:
        resolution, alignment = _resolve(g, abort.leaf, host, acc, cd)
    return Evaluation(pol, host, source, g, acc, fault_ipa, vma, region, slot, abort,
                      tuple(kvm.events), resolution, alignment, cd)

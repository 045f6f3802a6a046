"""One call that runs a whole guest access through the Linux system model.

:func:`evaluate` takes a policy, the host features and platform, a VMM mapping source, a memslot,
a guest mapping and an access, and returns an :class:`Evaluation`.  It answers by walking: the
guest's stage-1 tables (written into guest RAM by :class:`~memattr.linux.guest_mmu.GuestMmu`) and
KVM's stage-2 tables are translated by :func:`memattr.mmu.walk.walk`; a stage-2 fault value goes
to ``kvm_handle_guest_abort`` (:meth:`Kvm.handle_fault <memattr.linux.kvm.vm.Kvm.handle_fault>`);
when KVM mapped something the access is retried, as the guest re-executes the instruction.  The
effective type, faults and syndromes are the walker's; KVM's reactions, exits and injections are
the kernel model's, and every decision is recorded (``Evaluation.decisions``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..arch import regdefs as _R
from ..arch.combine import Resolution
from ..arch.decision import AslRule, Decision
from ..arch.esr import FaultKind, encode_abort_esr, encode_fsc
from ..arch.instr import (
    FAULT_ORDER,
    AccessClass,
    Outcome,
    after_translation,
    unaligned_access_faults,
)
from ..arch.instr import (
    permitted as _instr_permitted,
)
from ..arch.memtype import MemoryAttributes
from ..arch.properties import AlignmentOutcome, TypeProperties, type_properties
from ..arch.s2memattr import fwb_meaning, s2_decode_mem_attrs
from ..errors import ConfigError
from ..mmu.regime import Regime
from ..mmu.walk import Fault, Translation, WalkResult, walk
from ..platform.bus import Containment, ErrorOutcome
from ..platform.physmap import Platform, Region
from .events import Errno, Event, EventKind
from .guest import GuestStage1, LinuxGuest
from .guest_mmu import PT_POOL_PA, PT_POOL_SIZE, GuestMmu, pt_pool_ipa
from .kvm.abort import GuestAccess, Stage2Fault, hpfar_of
from .kvm.exits import Injection, VmmExit
from .kvm.features import HostFeatures, VmConfig, capabilities
from .kvm.memslot import Memslot
from .kvm.mmu import AbortResult, kvm_handle_guest_serror
from .kvm.pgtable import KVM_PGTABLE_PROT, Stage2Leaf, kvm_pgtable_prot_value, prot_str
from .kvm.vm import Kvm
from .mm import Vma, vma_stage1_attrs
from .mmap import GicvInterface, MappingSource, mmap_source, source_size
from .policy import Policy, get_policy

__all__ = ["MemslotSpec", "Evaluation", "Session", "evaluate", "DEFAULT_GICV_IPA", "DEFAULT_IPA",
           "HVA_ALIGN_DEFAULT", "MAX_RETRIES"]

_GUEST_S1_OA_LIMIT = 2**48  # the guest MMU model's TCR_EL1.IPS (48 bits)

MAX_RETRIES = 4
"""Walks per access: the first, and one retry after each fault KVM resolved by mapping."""

DEFAULT_IPA = 0x1_0000_0000  # where a memslot goes when the caller gives no IPA

HVA_ALIGN_DEFAULT = 1 << 21
"""Where a VMA lands when the caller gives no ``hva_align``: 2 MiB-aligned, as QEMU (since 9.2)
aligns its vfio region mmaps; a sysfs or /dev/mem mmap may be aligned to a page only."""
DEFAULT_GICV_IPA = 0x0801_0000  # QEMU virt's GIC CPU interface


VCPU_FIRST_RUN = "kvm_arch_vcpu_run_pid_change"
"""Where the first KVM_RUN of a vCPU finishes the VM's set-up (kvm_vgic_map_resources ...)."""


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
    """Everything one guest access produced under one policy.

    :param abort: the last stage-2 abort KVM handled (the one that ended the story), or None.
    :param resolution: the combined attributes of the completed access (the walker's); when the
        access itself faulted, those of an aligned read of the same page (the mapping's type).
    :param alignment: where the access took an alignment fault, from the walker's fault value.
    :param walks: every walk of the access (the first, and the retries).
    :param aborts: every stage-2 abort KVM handled, in order.
    :param decisions: the kernel's and the architecture's decisions, in order: the mmap path,
        the memslot, each abort's handling, and last the rule that gave the outcome.
    :param leaf_record: the stage-2 leaf mapping the IPA, as the table holds it (with the prot
        and memory-type name KVM asked for when it was written during this evaluation).
    :param stage1_fault: a fault the guest's own stage 1 raised (taken to the guest's EL1).
    :param vm: the VM options.  :param kvm: the VM (its tables, memslots and events).
    :param regime: the registers the walks used (guest TCR/TTBR0/MAIR/SCTLR, KVM's VTCR/VTTBR,
        HCR_EL2).
    :param instr: the instruction-level decisions (:mod:`memattr.arch.instr`: alignment by
        instruction class, LD64B/ST64B and exclusive/atomic memory types, DC ZVA on Device).
    :param permitted: every outcome those rules permit for this access (None: no such rule
        applied); several when the architecture leaves an IMPLEMENTATION DEFINED or CONSTRAINED
        UNPREDICTABLE choice.
    :param chosen: the member of ``permitted`` this run followed.
    :param error_response: what the bus did with this access when the target answered with an
        error (a ``bus_error`` access, or a BAR whose memory decode is off before v5.8), from
        the platform's bus model; None when the target served it.
    """

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
    walks: tuple[WalkResult, ...] = ()
    aborts: tuple[AbortResult, ...] = ()
    decisions: tuple[Decision, ...] = ()
    leaf_record: Stage2Leaf | None = None
    stage1_fault: object = None
    vm: VmConfig | None = None
    kvm: Kvm | None = field(default=None, compare=False, repr=False)
    regime: Regime | None = field(default=None, compare=False, repr=False)
    instr: tuple[Decision, ...] = ()
    permitted: frozenset[Outcome] | None = None
    chosen: Outcome | None = None
    error_response: ErrorOutcome | None = None

    # --- what item 6 prints -------------------------------------------------------------
    @property
    def vmm_s1(self) -> MemoryAttributes | None:
        """The VMM's own stage-1 type for the mapping (None: no VMA, e.g. GICV)."""
        return vma_stage1_attrs(self.vma, mte=self.host.mte) if self.vma is not None else None

    @property
    def leaf(self) -> Stage2Leaf | None:
        """The stage-2 leaf mapping the access's IPA (read back from the table)."""
        return self.leaf_record

    @property
    def translation(self) -> Translation | None:
        """The walker's translation of the access, if it completed."""
        return self.walks[-1].translation if self.walks else None

    @property
    def faults(self) -> tuple[Stage2Fault, ...]:
        """Every stage-2 abort the access took, as ESR_EL2/FAR_EL2/HPFAR_EL2."""
        return tuple(a.fault for a in self.aborts if a.fault is not None)

    @property
    def vmm_exit(self) -> VmmExit | None:
        """What KVM_RUN returned to the VMM (KVM_EXIT_MMIO / KVM_EXIT_ARM_NISV payload)."""
        return self.abort.vmm_exit if self.abort is not None else None

    @property
    def injection(self) -> Injection | None:
        """The exception KVM injected into the guest (ESR_EL1, FAR_EL1, vector)."""
        return self.abort.injection if self.abort is not None else None

    @property
    def log(self) -> tuple[str, ...]:
        """Kernel log lines printed on the way."""
        return tuple(line for a in self.aborts for line in a.log)

    @property
    def capabilities(self) -> dict[str, dict[str, int]]:
        """KVM_CHECK_EXTENSION on /dev/kvm and on the VM fd, for the capabilities modelled."""
        return capabilities(self.host, self.policy.release)

    @property
    def outcome(self) -> object:
        """The result the decision chain ends in: the effective type, the permitted set, an
        injection kind, the VMM exit reason, an errno, or 'stage-1 fault'."""
        return self.decisions[-1].result if self.decisions else None

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
        (only the guest knows which pages tolerate it: docs/review.md#speculation-and-read-side-effects)."""
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

    @property
    def memslot_rejected(self) -> bool:
        """KVM_SET_USER_MEMORY_REGION failed (one case of :attr:`setup_failed`)."""
        return any(e.kind is EventKind.MEMSLOT_REJECTED for e in self.events)

    @property
    def setup_failed(self) -> str | None:
        """The ioctl that failed before the guest ran ("KVM_SET_USER_MEMORY_REGION", or
        "KVM_RUN" when the VGIC cannot be mapped), or None: the story ends there, no access
        runs."""
        for e in self.events:
            if e.kind is EventKind.MEMSLOT_REJECTED:
                return "KVM_SET_USER_MEMORY_REGION"
            if e.kind is EventKind.RUN_FAILED and e.function == VCPU_FIRST_RUN:
                return "KVM_RUN"
        return None

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
                "flags": self.vma.flags_str, "vm_flags": self.vma.kernel_vm_flags,
                "pgprot": self.vma.vm_page_prot.mt_name, "origin": self.vma.origin},
            "vmm_s1": attrs(self.vmm_s1),
            "s2_prot": prot_str(self.s2_prot) if self.s2_prot is not None else None,
            "s2_prot_value": self.s2_prot_value,
            "s2_kind": self.s2_kind,
            "s2_memattr": self.s2_memattr,
            "s2_descriptor": self.s2_descriptor,
            "s2_leaf": None if self.leaf is None else {
                "ipa": self.leaf.ipa, "size": self.leaf.size, "level": self.leaf.level,
                "block": self.leaf.is_block, "text": self.leaf.shape},
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
            "faults": [{"esr_el2": f.esr, "far_el2": f.far, "hpfar_el2": f.hpfar, "ipa": f.ipa,
                        "fsc": f.fsc, "kind": f.kind.value} for f in self.faults],
            "vmm_exit": self.vmm_exit.to_json() if self.vmm_exit is not None else None,
            "injection": self.injection.to_json() if self.injection is not None else None,
            "kernel_log": list(self.log),
            "capabilities": self.capabilities,
            "decisions": [{"rule": d.rule.value, "branch": d.branch,
                           "inputs": {k: _plain(v) for k, v in d.inputs},
                           "result": _plain(d.result)} for d in self.decisions],
        }


def _plain(value: object) -> object:
    """A JSON-ready form of a decision's input or result."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, KVM_PGTABLE_PROT):
        return prot_str(value)
    if isinstance(value, Errno):
        return str(value)
    if isinstance(value, MemoryAttributes):
        return value.short
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return str(value)


def _final_decision(tr: Translation, host: HostFeatures) -> Decision:
    """The architecture rule that gave the combined type of a completed access."""
    rule = AslRule.AArch64_S2ApplyFWBMemAttrs if host.fwb else AslRule.S2CombineS1MemAttrs
    res = tr.resolution
    result: object = res.outcomes[0] if len(res.outcomes) == 1 else tuple(res.outcomes)
    return Decision(rule, "walk", (("s1_attr", tr.s1_attr), ("s2_memattr", tr.s2_memattr)),
                    result)


def _leaf_of(kvm: Kvm, ipa: int, aborts: list[AbortResult]) -> Stage2Leaf | None:
    """The leaf mapping ``ipa`` read from the table, named by the map call that wrote it."""
    hw = kvm.pgt.lookup(ipa)
    if hw is None:
        return None
    for a in reversed(aborts):
        if a.leaf is not None and a.leaf.descriptor == hw.descriptor and a.leaf.contains(ipa):
            return Stage2Leaf(hw.ipa, hw.size, hw.phys, hw.attr, hw.descriptor, a.leaf.prot,
                              a.leaf.kind, hw.level)
    return hw


def _instr_after(acc: GuestAccess, tr: Translation, host: HostFeatures, region: Region | None,
                 s2_enabled: bool) -> list[Decision]:
    """The instruction-level rules that look at the translated attributes
    (:func:`memattr.arch.instr.after_translation`), with this host's IMPLEMENTATION DEFINED
    choices and the target's LD64B/ST64B support (its bus model)."""
    res = tr.resolution
    bus = region.errors if region is not None else None
    return list(after_translation(
        acc.access_class, tr.va, acc.size, res.s1, res.s2, res.outcomes, s2_enabled=s2_enabled,
        atomics_supported=host.atomics_uncached, ls64_location=bus.ls64 if bus is not None
        else None, ls64_checks=host.ls64_checks, lse2=host.lse2))


def _stage1_fault(kind: FaultKind, acc: GuestAccess, va: int, el: int, reason: str,
                  decision: Decision) -> Fault:
    """A fault the guest's own EL1 takes for an instruction-level rule (not a walk fault)."""
    esr = encode_abort_esr(fsc=encode_fsc(kind), wnr=acc.is_write, lower_el=el == 0)
    return Fault(kind, 1, None, False, va, None, acc.walk_access(va, el=el), reason, esr, 1, va,
                 None, decision)


def _walk_access(kvm: Kvm, mmu: GuestMmu, regime: Regime, acc: GuestAccess, va: int,
                 host: HostFeatures, region: Region | None, bus_error: bool,
                 instr: list[Decision], chosen: list[Outcome], choice: Outcome | None = None,
                 decode_off: bool = False, responses: list[ErrorOutcome] | None = None,
                 ) -> tuple[list[WalkResult], list[AbortResult], object, int]:
    """Walk ``acc`` until it completes or KVM does not retry it; hand each stage-2 fault to KVM
    (the hardware's fault events go into the VM's event list just before KVM's).  The
    instruction-level decisions go to ``instr``, the outcome followed to ``chosen``, the bus's
    answer to a failed access (``bus_error``, or ``decode_off``: a BAR whose memory decode is
    off) to ``responses``."""
    responses = responses if responses is not None else []
    walks: list[WalkResult] = []
    aborts: list[AbortResult] = []
    events = kvm.events
    stage1: object = None
    mark = -1
    waccess = acc.walk_access(va, el=mmu.el)
    pre = unaligned_access_faults(acc.access_class, waccess.va, acc.size, acc.unit,
                                  lse2=host.lse2)
    instr.append(pre)
    if Outcome.ALIGNMENT_S1 in pre.result:
        stage1 = _stage1_fault(FaultKind.ALIGNMENT, acc, waccess.va, mmu.el,
                               f"unaligned {acc.size}-byte {acc.instr.value} "
                               f"({pre.branch}: {pre.rule.value})", pre)
        events.append(Event(EventKind.STAGE1_FAULT, "guest", f"{stage1}: ESR_EL1=0x"
                            f"{stage1.esr:x}, taken to the guest's EL1 (KVM is not involved)"))
        return walks, aborts, stage1, mark
    for _ in range(MAX_RETRIES):
        wr = walk(kvm.pgt.mem, regime, waccess)
        walks.append(wr)
        if wr.fault is None:
            tr = wr.translation
            assert tr is not None
            mark = len(kvm.decisions)
            after = _instr_after(acc, tr, host, region, regime.s2_enabled)
            instr += after
            permitted = _instr_permitted(acc.access_class, after)
            picked: Outcome | None = None
            if permitted is not None:
                picked = choice if choice in permitted else \
                    next(o for o in FAULT_ORDER if o in permitted)
                chosen.append(picked)
            if picked in (Outcome.ALIGNMENT_S1, Outcome.ABORT_S1):
                kind = FaultKind.ALIGNMENT if picked is Outcome.ALIGNMENT_S1 else \
                    FaultKind.UNSUPPORTED_ATOMIC
                stage1 = _stage1_fault(kind, acc, tr.va, mmu.el, picked.value, after[-1])
                events.append(Event(EventKind.STAGE1_FAULT, "guest", f"{picked.value} for a "
                                    f"{acc.instr.value}, taken to the guest's EL1 (KVM is not "
                                    "involved)"))
                break
            if picked in (Outcome.ALIGNMENT_S2, Outcome.ABORT_S2):
                kind = FaultKind.ALIGNMENT if picked is Outcome.ALIGNMENT_S2 else \
                    FaultKind.UNSUPPORTED_ATOMIC
                f = Stage2Fault.from_access(tr.ipa, acc, kind)
                f = Stage2Fault(f.esr, va, f.hpfar, tr.ipa)
                events.append(Event(EventKind.STAGE2_FAULT, "hardware", f"{picked.value} at IPA "
                                    f"0x{tr.ipa:x}: ESR_EL2=0x{f.esr:x} FAR_EL2=0x{f.far:x}"))
                aborts.append(kvm.handle_fault(f, acc, from_el0=mmu.el == 0))
                break
            if (bus_error or decode_off) and region is not None and region.errors is not None:
                out = region.errors.outcome(acc.is_write, tr.attrs)
                responses.append(out)
                why = "the target answers with an error"
                if decode_off:
                    # PCIe Base Specification, Command register: with Memory Space Enable clear
                    # the function handles every memory request as an Unsupported Request.
                    why = (f"{region.name} has memory decode off: the function answers "
                           "Unsupported Request")
                got = ("the store is dropped" if out.write_dropped else "the load gets all-ones "
                       "data") if out.abort is None else out.abort
                events.append(Event(EventKind.ERROR_RESPONSE, "hardware",
                                    f"{acc.access.value} at IPA 0x{tr.ipa:x} reaches the device; "
                                    f"{why}; {got} ({out.note or out.containment.value})"))
                if out.abort is not None and out.abort.startswith("SError"):
                    events.append(Event(EventKind.STAGE2_FAULT, "hardware", f"{out.abort} while "
                                        f"the guest runs ({out.containment.value})"))
                    r = kvm_handle_guest_serror(
                        ras=host.ras, contained=out.containment is Containment.CONTAINED,
                        from_el0=mmu.el == 0)
                    kvm.events.extend(r.events)
                    kvm.decisions.extend(r.decisions)
                    aborts.append(r)
                elif out.abort is not None:
                    f = Stage2Fault(acc.esr() & ~_R.ESR_ELx_ISS_DABT_DFSC_MASK & ~_R.ESR_ELx_ISS_DABT_ISV |
                                    encode_fsc(FaultKind.SYNC_EXTERNAL), va, hpfar_of(tr.ipa),
                                    tr.ipa)
                    events.append(Event(EventKind.STAGE2_FAULT, "hardware", f"{out.abort}: "
                                        f"ESR_EL2=0x{f.esr:x} FAR_EL2=0x{f.far:x}"))
                    aborts.append(kvm.handle_fault(f, acc, from_el0=mmu.el == 0))
            break
        fault = wr.fault
        if fault.stage == 1:
            stage1 = fault
            events.append(Event(EventKind.STAGE1_FAULT, "guest", f"{fault}: ESR_EL1=0x"
                                f"{fault.esr:x} FAR_EL1=0x{fault.far:x}, taken to the guest's "
                                "EL1 (KVM is not involved)"))
            break
        f = Stage2Fault.from_walk(fault, acc)
        hp = f"0x{f.hpfar:x}" if f.hpfar is not None else "not valid"
        events.append(Event(EventKind.STAGE2_FAULT, "hardware",
                            f"{fault.kind.value} fault at IPA 0x{f.ipa:x}: ESR_EL2=0x{f.esr:x} "
                            f"FAR_EL2=0x{f.far:x} HPFAR_EL2={hp}"))
        r = kvm.handle_fault(f, acc, from_el0=mmu.el == 0)
        aborts.append(r)
        if not r.retry:
            break
    return walks, aborts, stage1, mark


class Session:
    """One VM with one VMM mapping, memslot and guest mapping, accessed any number of times, with
    events in between (a reset, a revoke, a replaced VMA): what :func:`evaluate` does once.

    Parameters as :func:`evaluate`'s (``hva_align`` included).  :meth:`access` returns an
    :class:`Evaluation` whose events and decisions tell the story so far; a rejected memslot ends
    it (``rejected`` is set and every access returns that evaluation).
    """

    def __init__(
        self,
        policy: Policy | str,
        host: HostFeatures,
        platform: Platform,
        source: MappingSource | None,
        memslot: MemslotSpec | None,
        guest: GuestStage1 | str,
        *,
        offset: int = 0,
        ipa: int | None = None,
        vm: VmConfig | None = None,
        cd: bool = False,
        hva_align: int | None = None,
    ) -> None:
        pol = get_policy(policy)
        g = LinuxGuest().map(guest) if isinstance(guest, str) else guest
        vmc = vm if vm is not None else VmConfig()
        kvm = Kvm(pol, host, platform, vm=vmc)
        kvm.boot_guest_ram(pt_pool_ipa(vmc.ipa_bits), PT_POOL_SIZE, PT_POOL_PA)
        self.policy, self.host, self.platform, self.source = pol, host, platform, source
        self.guest, self.vm, self.cd, self.kvm = g, vmc, cd, kvm
        self.vma: Vma | None = None
        self.slot: Memslot | None = None
        self.region: Region | None = None
        self.setup: list[AbortResult] = []
        self.rejected: Evaluation | None = None
        vma: Vma | None = None
        if isinstance(source, GicvInterface):
            if memslot is not None:
                raise ConfigError("GICV is mapped by KVM (kvm_phys_addr_ioremap): give no memslot")
            base = ipa if ipa is not None else DEFAULT_GICV_IPA
            setup = kvm.vgic_v2_map_resources(base)
            self.setup.append(setup)
            assert platform.gic is not None
            self.region = platform.lookup(platform.gic.gicv_base)
            self.base_ipa = base
            if setup.errno is not None:
                # vgic_v2_map_resources: kvm_err("Unable to remap VGIC CPU to VCPU"), return the
                # error; kvm_vgic_map_resources fails, so the vCPU's first KVM_RUN
                # (kvm_arch_vcpu_run_pid_change) returns it and the guest never runs.
                line = "kvm [1]: Unable to remap VGIC CPU to VCPU"
                kvm.events += [
                    Event(EventKind.KERNEL_LOG, "vgic_v2_map_resources", line),
                    Event(EventKind.RUN_FAILED, VCPU_FIRST_RUN,
                          f"KVM_RUN returns {setup.errno} (kvm_vgic_map_resources failed)",
                          setup.errno)]
                self.rejected = Evaluation(
                    pol, host, source, g, GuestAccess.read(), base + offset, None, self.region,
                    None, None, tuple(kvm.events), None, None, cd,
                    decisions=tuple(kvm.decisions), vm=vmc, kvm=kvm)
        else:
            if source is not None:
                size, align = source_size(platform, source)
                if hva_align is None:
                    # 2 MiB (QEMU >= 9.2 aligns its vfio region mmaps so) or the source's own
                    hva = kvm.mm.get_unmapped_area(size, max(align, HVA_ALIGN_DEFAULT))
                else:
                    if hva_align < align or hva_align & (hva_align - 1):
                        raise ConfigError(f"hva_align=0x{hva_align:x}: this mapping needs a "
                                          f"power of two of at least 0x{align:x}")
                    hva = kvm.mm.get_unmapped_area(size, hva_align, exact=True)
                vma = mmap_source(platform, source, release=pol.release, hva=hva, bits=host.bits,
                                  mte=host.mte)
                self.region = platform.lookup(vma.phys)
                self.vma = vma
            if memslot is None:
                self.base_ipa = ipa if ipa is not None else DEFAULT_IPA
                if vma is not None:
                    kvm.add_vma(vma)
            else:
                if vma is None:
                    raise ConfigError("a memslot needs a mapping source with a VMA")
                msize = memslot.size if memslot.size is not None else vma.size - memslot.offset
                slot = Memslot(memslot.slot, memslot.guest_phys_addr, msize,
                               vma.vm_start + memslot.offset, memslot.flags)
                self.slot = slot
                if memslot.mapped_at_creation:
                    kvm.add_vma(vma)
                r = kvm.kvm_set_user_memory_region(slot)
                if not memslot.mapped_at_creation:
                    kvm.add_vma(vma)
                self.base_ipa = slot.guest_phys_addr
                if r.errno is not None:
                    self.rejected = Evaluation(
                        pol, host, source, g, GuestAccess.read(), slot.guest_phys_addr + offset,
                        vma, self.region, slot, None, tuple(kvm.events), None, None, cd,
                        decisions=tuple(kvm.decisions), vm=vmc, kvm=kvm)
        self._mmu: GuestMmu | None = None
        self._regime: Regime | None = None

    @property
    def mmu(self) -> GuestMmu:
        """The guest's stage-1 tables (written on first use: a session that only asks KVM about
        its stage 2 never builds them)."""
        if self._mmu is None:
            self._mmu = GuestMmu(self.kvm.pgt.table, self.guest, ipa_bits=self.vm.ipa_bits)
        return self._mmu

    @property
    def regime(self) -> Regime:
        """The registers the guest's accesses are walked with."""
        if self._regime is None:
            pgt = self.kvm.pgt
            self._regime = self.mmu.regime(fwb=self.host.fwb, cd=self.cd, vtcr=pgt.vtcr,
                                           vttbr=pgt.vttbr)
        return self._regime

    # --- events between accesses ------------------------------------------------------------
    def zap(self, reason: str = "memory decode disabled") -> None:
        """vfio-pci revokes the mapping (memory decode off, or a function reset); before v5.8
        (abafbc551fdd) the mappings stay and later accesses get the device's error response."""
        from .revoke import vfio_pci_zap_bars

        if self.vma is None:
            raise ConfigError("zap: the mapping has no VMA (KVM maps GICV itself)")
        vfio_pci_zap_bars(self.kvm, self.vma, reason=reason)

    def restore(self) -> None:
        """Memory decode re-enabled / reset done: faults map the BAR again (before v5.8: the
        device decodes the still-mapped BAR again)."""
        from .revoke import vfio_pci_restore_bars

        if self.vma is not None:
            vfio_pci_restore_bars(self.kvm, self.vma)

    def replace_source(self, source: MappingSource) -> None:
        """munmap the VMM's mapping and mmap ``source`` at the same HVA under the memslot."""
        from .revoke import replace_vma

        if self.vma is None:
            raise ConfigError("replace: the mapping has no VMA")
        new = mmap_source(self.platform, source, release=self.policy.release,
                          hva=self.vma.vm_start, bits=self.host.bits, mte=self.host.mte)
        replace_vma(self.kvm, self.vma, new)
        self.vma = self.kvm.mm.find_vma(self.vma.vm_start)
        self.source = source
        self.region = self.platform.lookup(new.phys)

    # --- an access ---------------------------------------------------------------------------
    def access(self, access: GuestAccess | None = None, *, offset: int = 0,
               bus_error: bool = False, choice: Outcome | None = None) -> Evaluation:
        """One guest access at ``offset`` from the mapping's IPA: walks, KVM, retries.

        :param choice: where the architecture permits several outcomes for the instruction
            (:attr:`Evaluation.permitted`), the one to follow (default: the first fault).
        """
        if self.rejected is not None:
            return self.rejected
        kvm, host, g = self.kvm, self.host, self.guest
        acc = access if access is not None else GuestAccess.read()
        fault_ipa = self.base_ipa + offset
        if self.slot is not None and not self.slot.contains(fault_ipa):
            raise ConfigError(f"offset 0x{offset:x}: outside memslot {self.slot.slot} (size "
                              f"0x{self.slot.memory_size:x})")
        mmu, regime = self.mmu, self.regime
        # The guest's stage-1 tables can only map outputs below its 48-bit IPS; a larger IPA is
        # reached with a VA equal to it (and faults where the architecture says).
        va = mmu.map_page(fault_ipa) if fault_ipa < _GUEST_S1_OA_LIMIT else fault_ipa
        instr: list[Decision] = []
        chosen: list[Outcome] = []
        decode_off = self.vma is not None and kvm.mm.decode_disabled(self.vma)
        responses: list[ErrorOutcome] = []
        walks, aborts, stage1, mark = _walk_access(kvm, mmu, regime, acc, va, host, self.region,
                                                   bus_error, instr, chosen, choice,
                                                   decode_off=decode_off, responses=responses)
        tr = walks[-1].translation if walks else None
        decisions = list(kvm.decisions[:mark] if mark >= 0 else kvm.decisions)
        after = list(kvm.decisions[mark:]) if mark >= 0 else []
        resolution: Resolution | None = None
        alignment: AlignmentOutcome | None = None
        last_fault = walks[-1].fault if walks else None
        if tr is not None:
            resolution = tr.resolution
            decisions.append(_final_decision(tr, host))
            if stage1 is not None:
                after.append(Decision(AslRule.AArch64_S1Translate, "stage1_fault",
                                      (("kind", stage1),), "stage-1 fault"))
            decisions.extend(after)
        else:
            probe = walk(kvm.pgt.mem, regime, GuestAccess.read(8).walk_access(va & ~0xFFF,
                                                                             el=mmu.el))
            if probe.translation is not None:
                resolution = probe.translation.resolution
            if stage1 is not None:
                decisions.append(Decision(AslRule.AArch64_S1Translate, "stage1_fault",
                                          (("kind", getattr(stage1, "kind", None)),),
                                          "stage-1 fault"))
        if acc.access.value in ("read", "write", "dczva") and \
                (not acc.aligned or acc.access_class is AccessClass.DCZVA):
            s1_align = isinstance(stage1, Fault) and stage1.kind is FaultKind.ALIGNMENT
            if s1_align and not walks:
                alignment = AlignmentOutcome(1, "AArch64.UnalignedAccessFaults: the "
                                             f"{acc.instr.value} must be aligned")
            elif s1_align or (last_fault is not None and last_fault.kind is FaultKind.ALIGNMENT
                              and last_fault.stage == 1):
                alignment = AlignmentOutcome(1, "AArch64.S1HasAlignmentFault: stage-1 type is "
                                             "Device")
            elif (last_fault is not None and last_fault.kind is FaultKind.ALIGNMENT) or \
                    (chosen and chosen[-1] is Outcome.ALIGNMENT_S2):
                alignment = AlignmentOutcome(2, "AArch64.S2HasAlignmentFault: "
                                             + ("FWB-combined" if host.fwb else "stage-2")
                                             + " type is Device")
            elif tr is not None:
                alignment = AlignmentOutcome(None, "no Device type at either stage")
        leaf = _leaf_of(kvm, fault_ipa, self.setup + aborts)
        last = aborts[-1] if aborts else None
        if len(instr) > 1:
            permitted = _instr_permitted(acc.access_class, instr[1:])
        elif instr and instr[0].result != {Outcome.OK}:
            permitted = instr[0].result
        else:
            permitted = None
        return Evaluation(self.policy, host, self.source, g, acc, fault_ipa, self.vma,
                          self.region, self.slot, last, tuple(kvm.events), resolution, alignment,
                          self.cd, tuple(walks), tuple(aborts), tuple(decisions), leaf, stage1,
                          self.vm, kvm, regime, instr=tuple(instr), permitted=permitted,
                          chosen=chosen[-1] if chosen else None,
                          error_response=responses[-1] if responses else None)


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
    bus_error: bool = False,
    prepare: Callable[[Kvm], None] | None = None,
    choice: Outcome | None = None,
    hva_align: int | None = None,
) -> Evaluation:
    """Run one guest access through the VMM mmap, KVM's memslot and fault path, and two-stage
    walks of the tables the guest and KVM wrote.

    :param policy: a Policy or registered name ('6.8', '6.9', '6.17', 'v2', ...) or a release.
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
    :param vm: per-VM options (MTE, NISV to user, IPA size, protected).
    :param cd: HCR_EL2.CD (the emulator path).
    :param bus_error: the target answers this access with an error (the platform's bus model
        decides what the CPU takes; a synchronous external abort goes to KVM).
    :param prepare: called with the VM after its memslots exist and before the access (a scenario's
        events: a reset, a revoke, a replaced VMA).
    :param choice: where the architecture permits several outcomes for the instruction, the one
        to follow (:attr:`Evaluation.permitted`; default: the first fault).
    :param hva_align: where the VMM's mmap lands: aligned to exactly this (a power of two, at
        least the source's own alignment, e.g. 4 KiB for a sysfs mmap that was not aligned);
        default :data:`HVA_ALIGN_DEFAULT` (2 MiB, or the huge page size if larger).
    """
    session = Session(policy, host, platform, source, memslot, guest, offset=offset, ipa=ipa,
                      vm=vm, cd=cd, hva_align=hva_align)
    if prepare is not None and session.rejected is None:
        prepare(session.kvm)
        if session.vma is not None:
            session.vma = session.kvm.mm.find_vma(session.vma.vm_start)
            if session.vma is not None:
                session.region = platform.lookup(session.vma.phys)
    return session.access(access, offset=offset, bus_error=bus_error, choice=choice)

"""The stage-2 table the Linux model writes for a scenario's VM, as a side to compare with a dump.

:func:`model_vm` builds one VM (``KVM_CREATE_VM`` under a policy) with every memslot and GICV of a
:class:`~memattr.analysis.scenario.Scenario`: each VMM mapping is mmapped by its kernel path, each
memslot registered with ``KVM_SET_USER_MEMORY_REGION``, GICV mapped by ``kvm_phys_addr_ioremap``.
Guest accesses then fault pages in through ``kvm_handle_guest_abort``, and the table KVM wrote is
printed with :func:`memattr.mmu.dump.memattr_dump` and read back with
:func:`memattr.interop.ptdump.parse_ptdump`: the comparison uses the dump, as for a real host.

Which pages are faulted in (a real VM's stage 2 holds what its guest touched):

- ``scenario``: each ``[[guest_mapping]]``'s first page (a read) and each ``[[access]]``;
- a dump's mapped ranges (:func:`model_side_for`): in each range (cut at memslot edges) the first
  page, then the last page when the leaf does not reach it, and pages in between while the two
  leaves differ (bisecting, within ``budget`` faults).  A write fault where the dump's range is
  writable, then an instruction fetch where it is known to be executable.  One fault stands for
  the pages of a range its leaf does not cover when the first and last page agree: a dump prints
  one line per run of equal attributes at one level, and the model answers a memslot page by page
  alike but for block alignment, which the first and last page bound.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..inputs.escape import escape
from .diff import Side, merge_ranges
from .ptdump import DumpFormat, Mapping, PageTableDump, parse_ptdump

if TYPE_CHECKING:
    from ..analysis.scenario import Scenario
    from ..linux.kvm.abort import GuestAccess
    from ..linux.kvm.mmu import AbortResult
    from ..linux.kvm.vm import Kvm

__all__ = ["ModelVm", "model_vm", "model_side", "model_side_for", "TOUCH", "DEFAULT_BUDGET"]

TOUCH = ("dump", "scenario")
"""Which pages the model faults in: those a dump shows mapped, or the scenario's own."""

DEFAULT_BUDGET = 4096
"""Faults the model takes at most for one comparison (each costs a few hundred microseconds)."""

_PAGE = 4096


@dataclass
class ModelVm:
    """One modelled VM: the Linux model's KVM, its memslots and how it was set up."""

    kvm: Kvm
    scenario: Scenario
    policy: str
    fwb: bool
    slots: tuple[tuple[int, int, str], ...]  # (IPA, size, what) of each memslot and GICV
    setup: tuple[str, ...]  # what went wrong while building (a rejected memslot ...)
    faults: int = 0

    @property
    def label(self) -> str:
        """'model 6.9 FWB=1 of <scenario>'."""
        return f"model {self.policy} FWB={int(self.fwb)} of scenario {self.scenario.name}"

    def touch(self, ipa: int, access: GuestAccess) -> AbortResult:
        """One guest access at ``ipa`` as KVM meets it (a fault unless already mapped)."""
        self.faults += 1
        return self.kvm.handle_guest_abort(ipa, access)

    def dump_text(self) -> str:
        """The table KVM wrote, in memattr's dump format."""
        from ..mmu.dump import memattr_dump

        t = self.kvm.pgt.table
        return memattr_dump(self.kvm.pgt.mem, t.geom, t.root, fwb=self.fwb)

    def dump(self) -> PageTableDump:
        """The table KVM wrote, parsed back (as a real dump would be; empty before any fault)."""
        text = self.dump_text()
        if not any(line and not line.startswith("#") for line in text.split("\n")):
            return PageTableDump(self.label, DumpFormat.MEMATTR, 2, (), (), frozenset({_PAGE}),
                                 self.kvm.vm.ipa_bits)
        return parse_ptdump(text, self.label, format=DumpFormat.MEMATTR)

    def slot_of(self, ipa: int) -> tuple[int, int, str] | None:
        for s in self.slots:
            if s[0] <= ipa < s[0] + s[1]:
                return s
        return None


def _source(sc: Scenario, m: Any, platform: Any, pol: Any, host: Any) -> Any:
    """The VMM mapping's source, with the scenario's VM_ALLOW_ANY_UNCACHED what-if applied the
    way docs/scenarios.md defines it (the kernel path's VMA with the flag forced)."""
    from ..analysis.replay import mapping_source
    from ..linux.mm import VM_ALLOW_ANY_UNCACHED
    from ..linux.mmap import GicvInterface, RawVma, mmap_source, source_size

    src = mapping_source(m)
    if m.allow_any_uncached is None or isinstance(src, GicvInterface):
        return src
    size, _align = source_size(platform, src)
    vma = mmap_source(platform, src, release=pol.release, hva=0x7F00_0000_0000, bits=host.bits,
                      mte=host.mte)
    flags = vma.vm_flags | VM_ALLOW_ANY_UNCACHED if m.allow_any_uncached \
        else vma.vm_flags & ~VM_ALLOW_ANY_UNCACHED
    return RawVma(vma.phys, size, flags, vma.vm_page_prot, f"{vma.name} (what-if)")


def model_vm(sc: Scenario, policy: str, *, fwb: bool, ipa_bits: int = 40,
             host: dict[str, Any] | None = None) -> ModelVm:
    """The scenario's VM under ``policy``: memslots registered, GICV mapped, nothing faulted yet.

    :param sc: the loaded scenario.
    :param policy: a policy name or release.
    :param fwb: FEAT_S2FWB used by KVM.
    :param ipa_bits: the VM's IPA size (KVM_VM_TYPE_ARM_IPA_SIZE).
    :param host: further HostFeatures fields (page_size, ipa_limit ...).
    """
    from ..analysis.replay import build_platform
    from ..linux.kvm.features import HostFeatures, VmConfig
    from ..linux.kvm.memslot import Memslot
    from ..linux.kvm.vm import Kvm
    from ..linux.mmap import GicvInterface, mmap_source, source_size
    from ..linux.policy import get_policy

    pol = get_policy(policy)
    extra = dict(host or {})
    extra.setdefault("ipa_limit", max(ipa_bits, 48))
    hf = HostFeatures(fwb=fwb, dic=sc.cpu.dic, mte=sc.cpu.mte, xs=sc.cpu.xs, bits=sc.bits, **extra)
    platform = build_platform(sc)
    kvm = Kvm(pol, hf, platform, vm=VmConfig(ipa_bits=ipa_bits))
    slots: list[tuple[int, int, str]] = []
    setup: list[str] = []
    vmas: dict[str, Any] = {}
    for m in sc.vmm_mappings:
        src = _source(sc, m, platform, pol, hf)
        if isinstance(src, GicvInterface):
            assert m.ipa is not None
            r = kvm.vgic_v2_map_resources(m.ipa)
            if r.leaf is not None:
                slots.append((m.ipa, r.leaf.size, f"GICV {m.name}"))
            else:
                setup.append(f"GICV {m.name}: " + "; ".join(e.text for e in r.events))
            continue
        if not any(s.mapping == m.name for s in sc.memslots):
            continue
        size, align = source_size(platform, src)
        hva = kvm.mm.get_unmapped_area(size, max(align, 1 << 21))
        vmas[m.name] = kvm.add_vma(mmap_source(platform, src, release=pol.release, hva=hva,
                                               bits=hf.bits, mte=hf.mte))
    for s in sc.memslots:
        vma = vmas.get(s.mapping)
        if vma is None:
            continue
        size = s.size if s.size is not None else vma.size - s.offset
        flags = 1 << 1 if s.readonly else 0  # KVM_MEM_READONLY
        ms = kvm.kvm_set_user_memory_region(Memslot(s.slot, s.ipa, size, vma.vm_start + s.offset,
                                                    flags))
        if ms.errno is not None:
            setup.append(f"memslot {s.slot} over {s.mapping}: KVM_SET_USER_MEMORY_REGION "
                         f"{ms.errno}: " + "; ".join(e.text for e in ms.events))
        else:
            slots.append((s.ipa, size, f"memslot {s.slot} over {s.mapping}"))
    return ModelVm(kvm, sc, str(policy), fwb, tuple(sorted(slots)), tuple(setup))


def _why(r: AbortResult) -> str:
    """Why a fault left nothing mapped, from KVM's own result."""
    if r.exit_reason:
        return f"{r.exit_reason} to the VMM (no memslot maps it)" if r.exit_reason == \
            "KVM_EXIT_MMIO" else f"{r.exit_reason} to the VMM"
    if r.injected:
        return f"KVM injects a {r.injected}"
    if r.errno is not None:
        last = [e for e in r.events if e.errno is not None]
        return f"KVM_RUN {r.errno}" + (f": {last[-1].text}" if last else "")
    texts = [e.text for e in r.events]
    return texts[-1] if texts else "nothing mapped"


def _accesses(m: Mapping) -> list[GuestAccess]:
    """The guest accesses a dumped range shows happened: a write where it is writable, else a
    read; an instruction fetch where it is known to be executable."""
    from ..arch.descriptor import S2_S2AP_W, S2_XN_MASK, S2_XN_SHIFT
    from ..linux.kvm.abort import GuestAccess

    out = [GuestAccess.write(8) if m.bit(S2_S2AP_W) else GuestAccess.read(8)]
    xn = S2_XN_MASK << S2_XN_SHIFT
    if m.desc_mask & xn and not m.desc_bits & xn & m.desc_mask:
        out.append(GuestAccess.fetch())
    return out


def model_side(vm: ModelVm) -> Side:
    """The model's side after the scenario's own accesses: each guest mapping's first page is
    read and each ``[[access]]`` replayed; the model states the leaves it wrote and the pages it
    was asked about."""
    from ..arch.combine import Access
    from ..linux.kvm.abort import GuestAccess, InstrClass

    ops = {"read": Access.READ, "write": Access.WRITE, "exec": Access.IFETCH}
    instr = {"ldr": InstrClass.LDR_STR, "ldr-writeback": InstrClass.LDR_STR_WRITEBACK,
             "ldp": InstrClass.LDP_STP, "simd": InstrClass.SIMD_FP,
             "exclusive": InstrClass.EXCLUSIVE, "atomic": InstrClass.ATOMIC}
    sc = vm.scenario
    reasons: list[tuple[int, int, str]] = []
    asked: list[tuple[int, int]] = []
    ipa_top = 1 << vm.kvm.vm.ipa_bits
    for g in sc.guest_mappings:
        page = g.ipa & ~(_PAGE - 1)
        if page >= ipa_top:
            continue
        todo = [(page, GuestAccess.read(8))]
        for a in sc.accesses:
            if a.mapping == g.name:
                ipa = g.ipa + a.offset
                todo.append((ipa, GuestAccess(ops[a.op], a.size, instr[a.instr],
                                              aligned=ipa % a.size == 0)))
        for ipa, acc in todo:
            p = ipa & ~(_PAGE - 1)
            asked.append((p, p + _PAGE))
            r = vm.touch(ipa, acc)
            if vm.kvm.pgt.lookup(ipa) is None:
                reasons.append((p, p + _PAGE, _why(r)))
    d = vm.dump()
    leaves = tuple(m for m in d.mappings if m.valid)
    stated = merge_ranges([(m.start, m.end) for m in leaves] + asked)
    return Side(vm.label, 2, leaves, stated, 4096, tuple(reasons), source="")


def model_side_for(vm: ModelVm, other: Side, *, budget: int = DEFAULT_BUDGET) -> tuple[Side, int]:
    """The model's side for the pages ``other`` (a stage-2 dump) shows mapped, each range faulted
    in as the module docstring says.  Returns the side and the faults taken.

    :param vm: the modelled VM (as :func:`model_vm` returns it).
    :param other: the dump's side.
    :param budget: the most faults to take (ConfigError beyond it).
    """
    if other.stage != 2:
        raise ConfigError(f"{escape(other.label)}: a stage-{other.stage} table; the model of a "
                          "scenario's VM is a stage-2 table (expected a stage2_page_tables or "
                          "memattr stage-2 dump)")
    first = vm.faults
    ipa_top = 1 << vm.kvm.vm.ipa_bits
    creation = {(x.start, x.end) for x in vm.dump().mappings if x.valid}
    answers: list[tuple[int, int, int | None, str]] = []  # (start, end, probe IPA, why not)

    def probe(ipa: int, m: Mapping) -> tuple[Any, str]:
        why = ""
        for acc in _accesses(m):
            if vm.faults - first >= budget:
                raise ConfigError(f"{escape(other.label)}: modelling its ranges needs more than "
                                  f"{budget} faults (expected fewer, larger ranges; compare a "
                                  "part of the dump)")
            r = vm.touch(ipa, acc)
            if vm.kvm.pgt.lookup(ipa) is None:
                why = _why(r)
                break
        return vm.kvm.pgt.lookup(ipa), why

    def same(x: Any, y: Any) -> bool:
        if x is None or y is None:
            return x is None and y is None
        return (x.attr, x.size) == (y.attr, y.size)

    for m in other.mappings:
        if m.start >= ipa_top:
            continue
        cuts = {m.start, min(m.end, ipa_top)}
        cuts |= {e for lo, size, _w in vm.slots for e in (lo, lo + size) if m.start < e < m.end}
        pts = sorted(cuts)
        stack = [(p, q) for p, q in zip(pts, pts[1:], strict=False)]
        while stack:
            lo, hi = stack.pop()
            la, why_a = probe(lo, m)
            if la is not None and la.ipa + la.size >= hi:
                answers.append((lo, hi, lo, ""))
                continue
            last = (hi - 1) & ~(_PAGE - 1)
            if last == lo:
                answers.append((lo, hi, lo if la is not None else None, why_a))
                continue
            lb, why_b = probe(last, m)
            if same(la, lb):
                answers.append((lo, hi, lo if la is not None else None, why_a))
                continue
            if last - lo <= _PAGE:
                answers.append((lo, last, lo if la is not None else None, why_a))
                answers.append((last, hi, last if lb is not None else None, why_b))
                continue
            mid = (lo + (hi - lo) // 2) & ~(_PAGE - 1)
            stack += [(mid, hi), (lo, mid)]
    table = [x for x in vm.dump().mappings if x.valid]
    starts = [x.start for x in table]
    out: list[Mapping] = []
    reasons: list[tuple[int, int, str]] = []
    for lo, hi, at, why in sorted(answers):
        if at is None:
            reasons.append((lo, hi, why or "nothing mapped"))
            continue
        i = bisect_right(starts, at) - 1
        leaf = table[i]
        out.append(replace(leaf, start=lo, end=hi))
    # Leaves the VM holds whatever its guest does (GICV; VM_PFNMAP memslots before v5.14) are
    # part of the model's answer even where the dump maps nothing.
    done = merge_ranges((x.start, x.end) for x in out)
    for x in table:
        if (x.start, x.end) in creation and not any(lo < x.end and x.start < hi for lo, hi in done):
            out.append(x)
    out.sort(key=lambda x: x.start)
    stated = merge_ranges([(x.start, min(x.end, ipa_top)) for x in other.mappings
                           if x.start < ipa_top] + [(x.start, x.end) for x in out])
    return Side(vm.label, 2, tuple(out), stated, _PAGE, tuple(reasons)), vm.faults - first

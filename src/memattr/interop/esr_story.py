"""Explain an abort a KVM host reported: parse the syndrome from a value or a dmesg line and say
what the guest did, which stage faulted, what KVM does with it, and which kernels differ.
"""

from __future__ import annotations

import re

from .._value import dataclass
from ..arch.esr import EC, FaultKind, Syndrome, decode_esr, hpfar_ipa
from ..errors import ParseError

__all__ = ["Story", "parse_report", "explain", "ipa_from_hpfar"]

# kvm_handle_guest_abort: kvm_err("Unsupported FSC: EC=%#x xFSC=%#lx ESR_EL2=%#lx\n", ...).
_ESR_IN_LOG = re.compile(r"ESR(?:_EL2)?\s*[=:]\s*(0x[0-9a-fA-F]+|[0-9a-fA-F]+)")


@dataclass(frozen=True, slots=True)
class Story:
    """The decoded syndrome and the explanation, as lines of text."""

    syndrome: Syndrome
    ipa: int | None
    lines: tuple[str, ...]


def parse_report(text: str) -> int:
    """The ESR value in ``text``: a number (hex with or without 0x) or a kvm dmesg line."""
    text = text.strip()
    m = _ESR_IN_LOG.search(text)
    token = m.group(1) if m else text
    try:
        return int(token, 16) if not token.lower().startswith("0x") else int(token, 0)
    except ValueError:
        raise ParseError(f"ESR={text!r}: not a number or a line containing ESR_EL2=0x...") from None


def ipa_from_hpfar(hpfar: int, far: int) -> int:
    """The faulting IPA: HPFAR_EL2.FIPA (IPA[51:12]) with FAR_EL2's page offset (arch.esr)."""
    return hpfar_ipa(hpfar, far)


def _alignment_story(wnr: bool) -> list[str]:
    """Why an alignment fault reaches EL2, and which kernels fix it (arch.md 7, linux.md 2.1)."""
    from ..arch.combine import Controls  # only this story needs the combining rules
    from ..arch.properties import alignment_outcome

    access = "write" if wnr else "read"
    old = alignment_outcome(0x44, 0b001, controls=Controls(fwb=True), aligned=False)
    new = alignment_outcome(0x44, 0b101, controls=Controls(fwb=True), aligned=False)
    return [
        f"An unaligned guest {access} hit memory whose stage-2 type is Device: alignment faults "
        "reported to EL2 come from AArch64.S2HasAlignmentFault, which checks the stage-2 "
        "attributes (the FWB-combined ones with FEAT_S2FWB), whatever the guest mapped.",
        "KVM's kvm_handle_guest_abort only handles translation, permission and access-flag "
        "faults: it prints 'Unsupported FSC' and KVM_RUN fails with -EFAULT "
        "('kvm run failed Bad address' in QEMU).",
        f"Guest Normal-NC (ioremap_wc, 0x44) over stage-2 Device-nGnRE (KVM <= 6.8): {old}.",
        f"Guest Normal-NC over stage-2 Normal-NC (KVM >= 6.9, VM_ALLOW_ANY_UNCACHED): {new}.",
        "Fixed from Linux 6.9 for vfio-pci BARs (8c47ce3e1d2c, a39d3a966a09); NOT fixed for "
        "memory reaching KVM without VM_ALLOW_ANY_UNCACHED (vfio-platform, /dev/mem, PCI sysfs "
        "resourceN mmaps), nor for a guest that maps the page Device (the fault is then at stage "
        "1, in the guest). Replay your setup: memattr run FILE --policy 6.8 --policy 6.9.",
    ]


def explain(esr: int, *, far: int | None = None, hpfar: int | None = None) -> Story:
    """Explain an ESR_EL2 value a KVM host logged for a guest abort."""
    s = decode_esr(esr)
    lines = list(s.lines)
    ipa = ipa_from_hpfar(hpfar, far or 0) if hpfar is not None else None
    if ipa is not None:
        lines.append(f"IPA=0x{ipa:x} (HPFAR_EL2.FIPA << 12 | FAR_EL2[11:0])")
    lower = s.ec in (EC.DABT_LOW, EC.IABT_LOW)
    if s.fsc is None:
        lines.append("Not a Data or Instruction Abort: nothing memory-type specific to explain.")
        return Story(s, ipa, tuple(lines))
    kind = s.fsc.kind
    who = "the guest (a lower EL)" if lower else "the hypervisor itself (same EL)"
    what = "instruction fetch" if s.ec in (EC.IABT_LOW, EC.IABT_CUR) else "data access"
    lines.append(f"An abort on a {what} by {who}: {s.fsc}.")
    if s.s1ptw:
        lines.append("S1PTW=1: the fault is on the guest's own stage-1 table walk: the IPA of a "
                     "guest page-table page is not (validly) mapped at stage 2.")
    if kind is FaultKind.ALIGNMENT:
        lines += _alignment_story(bool(s.wnr))
    elif kind is FaultKind.TRANSLATION:
        lines.append("Stage-2 translation fault: inside a memslot KVM maps the page on demand "
                     "(user_mem_abort); outside any memslot it is emulated MMIO (io_mem_abort), "
                     "which needs ISV=1 to decode the access.")
        if s.isv is False and what == "data access":
            lines.append("ISV=0 here: KVM cannot decode the instruction; for MMIO it fails "
                         "(or exits with KVM_EXIT_ARM_NISV if the VMM enabled "
                         "KVM_CAP_ARM_NISV_TO_USER).")
    elif kind is FaultKind.PERMISSION:
        if what == "instruction fetch":
            lines.append("An instruction fetch from a page mapped non-executable at stage 2: for "
                         "device memory user_mem_abort returns -ENOEXEC and KVM injects a "
                         "prefetch abort into the guest (since 2019; Device and Normal-NC alike).")
        else:
            lines.append("A write to a page KVM mapped read-only (dirty logging, a read-only "
                         "memslot, or not yet made writable): handled by user_mem_abort.")
    elif kind is FaultKind.ACCESS_FLAG:
        lines.append("Access flag fault: KVM sets AF (handle_access_fault).")
    elif kind is FaultKind.UNSUPPORTED_ATOMIC:
        lines.append("An exclusive or atomic access the memory system does not support on this "
                     "memory type (IMPLEMENTATION DEFINED on Device and Normal-NC); newer KVM "
                     "injects it into the guest (kvm_inject_dabt_excl_atomic).")
    elif kind in (FaultKind.SYNC_EXTERNAL, FaultKind.SYNC_EXTERNAL_ON_WALK):
        lines.append("A synchronous external abort: the device or interconnect returned an "
                     "error. Whether that is contained is a platform property (PCIe AER/DPC, "
                     "SBSA RAS), independent of the memory type.")
    return Story(s, ipa, tuple(lines))

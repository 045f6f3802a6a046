"""What a VMM and a guest see when KVM handles an abort: the VMM exit and its payload
(``struct kvm_run``), and the exception KVM injects into the guest (ESR_EL1, FAR_EL1, vector).

Values of include/uapi/linux/kvm.h (KVM_EXIT_MMIO 6, KVM_EXIT_ARM_NISV 28, KVM_CAP_ARM_NISV_TO_USER
177) and of arch/arm64/kvm/inject_fault.c (``inject_abt64``: an external synchronous abort, EC of
the current or lower EL, FAR_EL1 = the faulting address; ``kvm_inject_vabt``: a virtual SError
with ESR_ELx_ISV/IDS set in VSESR_EL2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ...arch import regdefs as _R
from ...arch.esr import EC, FaultKind, encode_abort_esr, encode_esr, encode_fsc

__all__ = ["KVM_EXIT_MMIO", "KVM_EXIT_ARM_NISV", "KVM_CAP_ARM_NISV_TO_USER", "VmmExit",
           "Injection", "inject_abt64", "inject_dabt_excl_atomic", "inject_vabt", "VECTOR_OFFSETS"]

KVM_EXIT_MMIO = 6
KVM_EXIT_ARM_NISV = 28
KVM_CAP_ARM_NISV_TO_USER = 177

# Arm ARM D1.3.1 vector offsets from VBAR_EL1: (source, type) -> offset.
VECTOR_OFFSETS = {("EL1h", "sync"): 0x200, ("EL1h", "serror"): 0x380,
                  ("EL0 AArch64", "sync"): 0x400, ("EL0 AArch64", "serror"): 0x580}


@dataclass(frozen=True, slots=True)
class VmmExit:
    """KVM_RUN returning to the VMM: the exit reason and its ``struct kvm_run`` payload.

    :param reason: 'KVM_EXIT_MMIO' or 'KVM_EXIT_ARM_NISV'.  :param code: its number.
    :param phys_addr, length, is_write: ``run->mmio`` (KVM_EXIT_MMIO).
    :param esr_iss, fault_ipa: ``run->arm_nisv`` (KVM_EXIT_ARM_NISV).
    """

    reason: str
    code: int
    phys_addr: int | None = None
    length: int | None = None
    is_write: bool | None = None
    esr_iss: int | None = None
    fault_ipa: int | None = None

    def __str__(self) -> str:
        if self.reason == "KVM_EXIT_MMIO":
            return (f"KVM_EXIT_MMIO: mmio.phys_addr=0x{self.phys_addr:x} len={self.length} "
                    f"is_write={int(bool(self.is_write))}")
        return f"KVM_EXIT_ARM_NISV: arm_nisv.esr_iss=0x{self.esr_iss:x} fault_ipa=0x{self.fault_ipa:x}"

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("reason", "code", "phys_addr", "length", "is_write",
                                                "esr_iss", "fault_ipa")}


@dataclass(frozen=True, slots=True)
class Injection:
    """An exception KVM injects into the guest.

    :param kind: 'data abort', 'prefetch abort' or 'SError'.
    :param esr_el1: the guest's ESR_EL1.  :param far_el1: FAR_EL1 (None for an SError).
    :param vector: the offset from VBAR_EL1 the guest enters.  :param source: 'EL1h' or 'EL0 AArch64'.
    """

    kind: str
    esr_el1: int
    far_el1: int | None
    vector: int
    source: str

    def __str__(self) -> str:
        far = f" FAR_EL1=0x{self.far_el1:x}" if self.far_el1 is not None else ""
        return (f"{self.kind} injected: ESR_EL1=0x{self.esr_el1:08x}{far}, vector "
                f"VBAR_EL1+0x{self.vector:x} ({self.source} {'SError' if self.kind == 'SError' else 'sync'})")

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "esr_el1": self.esr_el1, "far_el1": self.far_el1,
                "vector": self.vector, "source": self.source}


def inject_abt64(*, is_iabt: bool, addr: int, from_el0: bool) -> Injection:
    """arch/arm64/kvm/inject_fault.c ``inject_abt64``: a synchronous external abort (xFSC 0x10)
    with the EC of the EL the guest was at, FAR_EL1 = ``addr``, taken to the sync vector."""
    esr = encode_abort_esr(fsc=encode_fsc(FaultKind.SYNC_EXTERNAL), instruction=is_iabt,
                           lower_el=from_el0)
    source = "EL0 AArch64" if from_el0 else "EL1h"
    return Injection("prefetch abort" if is_iabt else "data abort", esr, addr,
                     VECTOR_OFFSETS[(source, "sync")], source)


def inject_dabt_excl_atomic(*, addr: int, from_el0: bool) -> Injection:
    """``kvm_inject_dabt_excl_atomic``: a data abort as ``inject_abt64`` builds it, with the DFSC
    replaced by 0b110101 (unsupported exclusive or atomic access).  Since Linux commit
    2937aeec9dc5 ("KVM: arm64: Handle DABT caused by LS64* instructions on unsupported memory")
    (in v7.0)."""
    esr = encode_abort_esr(fsc=encode_fsc(FaultKind.UNSUPPORTED_ATOMIC), lower_el=from_el0)
    source = "EL0 AArch64" if from_el0 else "EL1h"
    return Injection("data abort", esr, addr, VECTOR_OFFSETS[(source, "sync")], source)


def inject_vabt(*, from_el0: bool = False) -> Injection:
    """``kvm_inject_vabt``: a virtual SError; with RAS the syndrome is VSESR_EL2 = ESR_ELx_ISV
    (IDS: IMPLEMENTATION DEFINED syndrome)."""
    esr = encode_esr(EC.SERROR, _R.ESR_ELx_ISS_SERROR_IDS)
    source = "EL0 AArch64" if from_el0 else "EL1h"
    return Injection("SError", esr, None, VECTOR_OFFSETS[(source, "serror")], source)

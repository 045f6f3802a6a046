"""The guest access that faults, and the ESR_EL2 syndrome KVM sees for it (ISV and friends)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ...arch.combine import Access
from ...arch.esr import FaultKind, encode_abort_esr, encode_fsc
from ...errors import ConfigError

__all__ = ["InstrClass", "GuestAccess", "esr_isv"]


class InstrClass(enum.Enum):
    """The kind of instruction making a data access; decides ESR_EL2.ISV (Arm ARM D24.2 ISS)."""

    LDR_STR = "load/store of a single general-purpose register, no writeback"
    LDR_STR_WRITEBACK = "load/store with pre/post-index writeback"
    LDP_STP = "load/store pair"
    SIMD_FP = "SIMD&FP register load/store"
    EXCLUSIVE = "load/store exclusive"
    ATOMIC = "FEAT_LSE atomic"
    CACHE_MAINTENANCE = "data cache maintenance (DC)"
    IFETCH = "instruction fetch"


def esr_isv(instr: InstrClass) -> bool:
    """ISV: 1 only for a single general-purpose register load/store without writeback (including
    acquire/release, excluding exclusives) -- the only accesses KVM's MMIO emulation can decode."""
    return instr is InstrClass.LDR_STR


_SAS = {1: 0, 2: 1, 4: 2, 8: 3}


@dataclass(frozen=True, slots=True)
class GuestAccess:
    """One guest access: read, write or instruction fetch; its size; the instruction class.

    :param access: Access.READ, Access.WRITE or Access.IFETCH (Access.TTW for a stage-1 walk).
    :param size: bytes (1, 2, 4, 8; 16/64 for pairs and SIMD).
    :param instr: the instruction class (ISV depends on it).
    :param aligned: the address is aligned to ``size``.
    """

    access: Access = Access.READ
    size: int = 4
    instr: InstrClass = InstrClass.LDR_STR
    aligned: bool = True

    def __post_init__(self) -> None:
        if self.access is Access.IFETCH and self.instr is not InstrClass.IFETCH:
            object.__setattr__(self, "instr", InstrClass.IFETCH)
        if self.size <= 0:
            raise ConfigError(f"guest access size={self.size}: must be positive")

    @classmethod
    def read(cls, size: int = 4, instr: InstrClass = InstrClass.LDR_STR) -> GuestAccess:
        return cls(Access.READ, size, instr)

    @classmethod
    def write(cls, size: int = 4, instr: InstrClass = InstrClass.LDR_STR) -> GuestAccess:
        return cls(Access.WRITE, size, instr)

    @classmethod
    def fetch(cls) -> GuestAccess:
        return cls(Access.IFETCH, 4, InstrClass.IFETCH)

    @property
    def is_write(self) -> bool:
        """``kvm_is_write_fault``: a store (or a DC op reported as WnR; CM ops count as reads)."""
        return self.access in (Access.WRITE, Access.DCZVA) and \
            self.instr is not InstrClass.CACHE_MAINTENANCE

    @property
    def is_exec(self) -> bool:
        """``kvm_vcpu_trap_is_exec_fault``: an instruction abort."""
        return self.access is Access.IFETCH

    @property
    def s1ptw(self) -> bool:
        return self.access is Access.TTW

    @property
    def isv(self) -> bool:
        return not self.is_exec and not self.s1ptw and esr_isv(self.instr)

    @property
    def cm(self) -> bool:
        return self.instr is InstrClass.CACHE_MAINTENANCE

    def esr(self, *, level: int = 3) -> int:
        """The ESR_EL2 of the stage-2 translation fault this access takes at ``level``."""
        fsc = encode_fsc(FaultKind.TRANSLATION, level)
        if self.is_exec:
            return encode_abort_esr(fsc=fsc, instruction=True)
        isv = self.isv and self.size in _SAS
        return encode_abort_esr(fsc=fsc, wnr=self.is_write, s1ptw=self.s1ptw, isv=isv,
                                sas=_SAS.get(self.size, 0), sf=self.size == 8, cm=self.cm)

    def __str__(self) -> str:
        return f"{self.size}-byte {self.access.value} ({self.instr.value})"

"""The guest access that faults, and the ESR_EL2 syndrome KVM sees for it (ISV and friends).

:class:`GuestAccess` is what the guest does; :meth:`GuestAccess.walk_access` is the access the
mmu walker translates; :class:`Stage2Fault` is the abort KVM takes (ESR_EL2, FAR_EL2, HPFAR_EL2),
built from the walker's fault value (:meth:`Stage2Fault.from_walk`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ...arch import regdefs as _R
from ...arch.combine import Access
from ...arch.esr import EC, FaultKind, decode_fsc, encode_abort_esr, encode_fsc, encode_hpfar
from ...arch.instr import AccessClass
from ...errors import ConfigError
from ...mmu.walk import Access as WalkAccess
from ...mmu.walk import AccessKind, Fault

__all__ = ["InstrClass", "GuestAccess", "AccessClass", "esr_isv", "Stage2Fault", "ESR_ELx_CM", "ESR_ELx_ISV",
           "ESR_ELx_WNR", "hpfar_of"]

# arch/arm64/include/asm/esr.h: the ISS bits KVM tests (ESR_ELx_CM BIT(8), ESR_ELx_WNR BIT(6),
# ESR_ELx_ISV BIT(24)) and the xFSC field, from the arch ESR_ELx field tables.
ESR_ELx_WNR = _R.ESR_ELx_ISS_DABT_WnR
ESR_ELx_ISV = _R.ESR_ELx_ISS_DABT_ISV
ESR_ELx_CM = _R.ESR_ELx_ISS_DABT_CM
_FSC_MASK = _R.ESR_ELx_ISS_DABT_DFSC_MASK
# The instruction-syndrome fields (SAS, SSE, SRT, SF, AR) that ISV=1 makes valid.
_EC_MASK, _EC_SHIFT = _R.ESR_ELx_EC_MASK, _R.ESR_ELx_EC_SHIFT
_ISS_SYNDROME = (_R.ESR_ELx_ISS_DABT_SAS_MASK | _R.ESR_ELx_ISS_DABT_SSE_MASK
                 | _R.ESR_ELx_ISS_DABT_SRT_MASK | _R.ESR_ELx_ISS_DABT_SF_MASK
                 | _R.ESR_ELx_ISS_DABT_AR_MASK)


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
    LS64 = "FEAT_LS64 single-copy atomic 64-byte load/store (LD64B/ST64B)"
    DC_ZVA = "DC ZVA (zero a block)"

    @property
    def access_class(self) -> AccessClass:
        """The architecture's class of the access (what its alignment and type rules use)."""
        return _ACCESS_CLASS.get(self, AccessClass.PLAIN)


_ACCESS_CLASS = {InstrClass.EXCLUSIVE: AccessClass.EXCLUSIVE, InstrClass.ATOMIC: AccessClass.ATOMIC,
                 InstrClass.CACHE_MAINTENANCE: AccessClass.DC_CM,
                 InstrClass.IFETCH: AccessClass.IFETCH, InstrClass.LS64: AccessClass.LS64,
                 InstrClass.DC_ZVA: AccessClass.DCZVA}


def esr_isv(instr: InstrClass) -> bool:
    """ISV: 1 only for a single general-purpose register load/store without writeback (including
    acquire/release, excluding exclusives) -- the only accesses KVM's MMIO emulation can decode."""
    return instr is InstrClass.LDR_STR


_SAS = {1: 0, 2: 1, 4: 2, 8: 3}


@dataclass(frozen=True, slots=True)
class GuestAccess:
    """One guest access: read, write or instruction fetch; its size; the instruction class.

    :param access: Access.READ, Access.WRITE, Access.IFETCH or Access.DCZVA (Access.TTW for a
        stage-1 walk).
    :param size: bytes (1, 2, 4, 8; 16/64 for pairs and SIMD; 64 for LD64B/ST64B and DC ZVA).
    :param instr: the instruction class (ISV depends on it).
    :param aligned: the address is aligned to ``size``.
    :param element: the size of one element (LDP: one register; LD1 {v.16b}: one byte; Arm ARM
        B2.8.2.1.1): what the memory type's alignment check applies to (None: ``size``).
    :param skew: how far an unaligned access is from ``size`` alignment (None: ``size // 2``).
    """

    access: Access = Access.READ
    size: int = 4
    instr: InstrClass = InstrClass.LDR_STR
    aligned: bool = True
    element: int | None = None
    skew: int | None = None

    def __post_init__(self) -> None:
        if self.access is Access.IFETCH and self.instr is not InstrClass.IFETCH:
            object.__setattr__(self, "instr", InstrClass.IFETCH)
        if self.size <= 0:
            raise ConfigError(f"guest access size={self.size}: must be positive")
        if self.element is not None and (self.element <= 0 or self.size % self.element):
            raise ConfigError(f"guest access element={self.element}: must divide size="
                              f"{self.size}")
        if self.skew is not None and not 0 <= self.skew < self.size:
            raise ConfigError(f"guest access skew={self.skew}: must be 0..{self.size - 1}")
        if self.access is Access.DCZVA and self.instr is not InstrClass.DC_ZVA:
            object.__setattr__(self, "instr", InstrClass.DC_ZVA)

    @property
    def offset(self) -> int:
        """The byte offset from ``size`` alignment the access is made at."""
        if self.aligned:
            return 0
        return self.skew if self.skew is not None else max(1, self.size // 2)

    @property
    def unit(self) -> int:
        """What the memory type's alignment check is made on: the element (default the size)."""
        return self.element if self.element is not None else self.size

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
    def access_class(self) -> AccessClass:
        """The architecture's class of the access."""
        return self.instr.access_class

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

    def walk_access(self, va: int, *, el: int = 1) -> WalkAccess:
        """The access the walker translates: a read, write or fetch at ``va`` (a cache-maintenance
        op walks as a read, DC ZVA as a write of its block; its syndrome is fixed up by
        Stage2Fault).

        The walker checks the memory type's alignment on :attr:`unit` (one element); an unaligned
        access is moved :attr:`offset` bytes from ``size`` alignment.  A single general-purpose
        register load/store carries SRT (x0) so that a stage-2 data abort reports ISV=1 with
        SAS/SF, as the hardware does.
        """
        kind = {Access.WRITE: AccessKind.WRITE, Access.DCZVA: AccessKind.WRITE,
                Access.IFETCH: AccessKind.EXEC}.get(self.access, AccessKind.READ)
        unit = self.unit if self.element is not None else self.size
        size = unit if unit in (1, 2, 4, 8, 16, 32, 64) else 8
        srt = 0 if (self.isv and size in _SAS) else None
        if not self.aligned:
            va |= self.offset if self.skew is not None else (max(1, size // 2) if size > 1 else 0)
        return WalkAccess(va, kind, el, size, srt=srt, sf=size == 8)

    def __str__(self) -> str:
        return f"{self.size}-byte {self.access.value} ({self.instr.value})"


def hpfar_of(ipa: int) -> int:
    """HPFAR_EL2 for a stage-2 fault at ``ipa``: FIPA = IPA[51:12] (arch.esr.encode_hpfar)."""
    return encode_hpfar(ipa)


@dataclass(frozen=True, slots=True)
class Stage2Fault:
    """The abort KVM's ``kvm_handle_guest_abort`` sees: its syndrome registers and the fields it
    reads from them.

    :param esr: ESR_EL2.  :param far: FAR_EL2 (the guest VA).  :param hpfar: HPFAR_EL2 (None
        when not valid, e.g. alignment faults).  :param ipa: the faulting IPA (KVM's fault_ipa:
        HPFAR's page, plus FAR[11:0] where KVM adds it).
    :param s1ptw: the fault was on a stage-1 table walk.
    """

    esr: int
    far: int
    hpfar: int | None
    ipa: int
    s1ptw: bool = False

    @property
    def fsc(self) -> int:
        """ESR_EL2.ISS.xFSC[5:0]."""
        return self.esr & _FSC_MASK

    @property
    def kind(self) -> FaultKind:
        return decode_fsc(self.fsc).kind

    @property
    def level(self) -> int | None:
        return decode_fsc(self.fsc).level

    @property
    def ec(self) -> int:
        return (self.esr & _EC_MASK) >> _EC_SHIFT

    @property
    def is_iabt(self) -> bool:
        """``kvm_vcpu_trap_is_iabt``."""
        return self.ec == EC.IABT_LOW

    @property
    def wnr(self) -> bool:
        return not self.is_iabt and bool(self.esr & ESR_ELx_WNR)

    @property
    def cm(self) -> bool:
        """``kvm_vcpu_dabt_is_cm``: a cache-maintenance (or AT) instruction faulted."""
        return not self.is_iabt and bool(self.esr & ESR_ELx_CM)

    @property
    def isv(self) -> bool:
        """``kvm_vcpu_dabt_isvalid``."""
        return not self.is_iabt and bool(self.esr & ESR_ELx_ISV)

    @property
    def is_write(self) -> bool:
        """``kvm_is_write_fault``: a stage-1 walk counts as a write; else ESR.WnR, which the
        architecture sets to 1 for DC/IC/AT faults (so CM faults are write faults)."""
        if self.s1ptw:
            return True
        return self.wnr

    @property
    def esr_iss_nisv(self) -> int:
        """``kvm_vcpu_dabt_iss_nisv_sanitized``: the ISS bits KVM_EXIT_ARM_NISV reports (CM, WnR,
        xFSC)."""
        return self.esr & (ESR_ELx_CM | ESR_ELx_WNR | _FSC_MASK)

    @classmethod
    def from_walk(cls, fault: Fault, access: GuestAccess) -> Stage2Fault:
        """The walker's stage-2 fault value as KVM sees it (a CM op reports WnR=1, CM=1, ISV=0)."""
        esr = fault.esr
        if access.cm and not fault.access.is_exec:
            esr = (esr & ~(ESR_ELx_ISV | _ISS_SYNDROME)) | ESR_ELx_WNR | ESR_ELx_CM
        ipa = fault.ipa if fault.ipa is not None else 0
        return cls(esr, fault.far, fault.hpfar, ipa, fault.s1ptw)

    @classmethod
    def from_access(cls, ipa: int, access: GuestAccess, kind: FaultKind = FaultKind.TRANSLATION,
                    level: int | None = 3) -> Stage2Fault:
        """The abort an access to ``ipa`` takes with fault ``kind`` (default: translation, L3)."""
        lvl = None if kind in (FaultKind.ALIGNMENT, FaultKind.SYNC_EXTERNAL,
                               FaultKind.UNSUPPORTED_ATOMIC) else level
        esr = access.esr(level=3) & ~_FSC_MASK | encode_fsc(kind, lvl)
        hpfar = None if kind is FaultKind.ALIGNMENT else hpfar_of(ipa)
        return cls(esr, ipa, hpfar, ipa, access.s1ptw)

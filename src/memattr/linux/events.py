"""What happened on the way: the events a KVM path records, with errno values where it failed."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

__all__ = ["Errno", "EventKind", "Event"]


class Errno(enum.IntEnum):
    """The errno values the modelled kernel paths return (include/uapi/asm-generic/errno-base.h)."""

    EPERM = 1
    ENOEXEC = 8
    EFAULT = 14
    EEXIST = 17
    EINVAL = 22
    ENOSYS = 38

    def __str__(self) -> str:
        return f"-{self.name}"


class EventKind(enum.Enum):
    """The kinds of event a scenario reports."""

    VMA_CREATED = "VMA created"  # the VMM's mmap
    MEMSLOT_CREATED = "memslot created"
    MEMSLOT_REJECTED = "memslot rejected"  # KVM_SET_USER_MEMORY_REGION failed (-EINVAL ...)
    MAPPING_CREATED = "stage-2 mapping created"
    MMIO_EXIT = "MMIO exit to userspace"  # KVM_EXIT_MMIO
    NISV_EXIT = "NISV exit to userspace"  # KVM_EXIT_ARM_NISV (opt-in capability)
    IN_KERNEL_MMIO = "in-kernel MMIO device"
    CACHE_MAINTENANCE_SKIPPED = "cache maintenance on MMIO skipped"
    PREFETCH_ABORT_INJECTED = "prefetch abort injected"
    DATA_ABORT_INJECTED = "data abort injected"
    SERROR_INJECTED = "SError injected"  # kvm_inject_vabt
    INSTRUCTION_SKIPPED = "instruction skipped"
    STAGE1_FAULT = "stage-1 fault taken by the guest"  # never reaches KVM
    STAGE2_FAULT = "stage-2 abort"  # the walker's fault, as ESR_EL2/FAR_EL2/HPFAR_EL2
    STAGE2_UNMAPPED = "stage-2 mapping removed"  # kvm_unmap_gfn_range / MMU notifier
    VMA_ZAPPED = "VMA PTEs zapped"  # vfio_pci_zap_bars / unmap_mapping_range
    DEVICE_RESET = "device reset"
    MEMORY_DECODE = "memory decode changed"
    ERROR_RESPONSE = "error response"  # the target answered an access with an error (UR, SLVERR)
    VMA_REPLACED = "VMA replaced"
    KERNEL_LOG = "kernel log"
    HOST_PANIC = "host panic"  # arm64_serror_panic: an uncontainable SError
    RUN_FAILED = "KVM_RUN failed"  # an errno returned to userspace
    ERROR = "error"  # a kernel function returned an errno (-EINVAL, -EFAULT, -ENOEXEC, ...)
    NOTE = "note"


@dataclass(frozen=True, slots=True)
class Event:
    """One event: its kind, the kernel function that produced it, a sentence, and any errno."""

    kind: EventKind
    function: str
    text: str
    errno: Errno | None = None

    def __str__(self) -> str:
        err = f" {self.errno}" if self.errno is not None else ""
        return f"{self.kind.value}{err}: {self.function}: {self.text}"

    def to_json(self) -> dict[str, Any]:
        """The EVENT object of the JSON contract."""
        return {
            "kind": self.kind.name.lower(),
            "function": self.function,
            "text": self.text,
            "errno": self.errno.name if self.errno is not None else None,
        }

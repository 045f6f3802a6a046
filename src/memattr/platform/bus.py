"""Bus error behaviour and reset paths of host devices: what a failed access does, and how a device
is reset on reclaim.

Containment is a *platform* parameter, independent of the memory type the CPU used (linux.md 3.1,
scenarios.md case 25): the memory type only changes the reported understanding of how the error
reaches the CPU (asynchronous SError for Device, possibly containable for Normal-NC), never
whether the platform contains it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..arch.memtype import MemoryAttributes

__all__ = [
    "BusKind",
    "ErrorResponse",
    "Containment",
    "BusErrorModel",
    "PcieErrorModel",
    "AxiErrorModel",
    "ErrorOutcome",
    "error_outcome",
    "ResetPath",
    "ResetOrdering",
    "reset_ordering",
    "ALL_ONES",
]


class BusKind(enum.Enum):
    """The interconnect a device's registers sit behind."""

    PCIE = "PCIe"
    AXI = "AMBA AXI"
    GIC = "GIC (CPU interface)"  # the GICv2 virtual CPU interface, an Arm system peripheral
    MEMORY = "memory"  # RAM or device memory that behaves as memory (nvgrace-gpu)


class ErrorResponse(enum.Enum):
    """The error a completer returns for an access it cannot serve."""

    UR = "Unsupported Request"  # PCIe: completion status UR (PCIe Base Spec 2.2.9)
    CA = "Completer Abort"  # PCIe: completion status CA
    SLVERR = "SLVERR"  # AXI RRESP/BRESP 0b10: slave error (AMBA AXI spec A3.4.4)
    DECERR = "DECERR"  # AXI RRESP/BRESP 0b11: decode error


class Containment(enum.Enum):
    """How the platform handles an error that reaches the CPU as an external abort."""

    CONTAINED = "contained"  # RAS: the abort is precise enough to kill only the guest (SBSA 1.7.7.3)
    UNCONTAINED = "uncontained"  # the host cannot recover: machine check / system crash
    NONE = "no error reaches the CPU"  # e.g. a PCIe root complex returning all-ones


ALL_ONES = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class BusErrorModel:
    """A bus's error behaviour: base of :class:`PcieErrorModel` and :class:`AxiErrorModel`."""

    kind: BusKind

    def outcome(self, access_is_write: bool, attrs: MemoryAttributes | None) -> ErrorOutcome:
        """What a failed access does on this bus (see :func:`error_outcome`)."""
        return error_outcome(self, access_is_write, attrs)


@dataclass(frozen=True, slots=True, kw_only=True)
class PcieErrorModel(BusErrorModel):
    """PCIe behind a root complex: a UR completion gives all-ones read data, writes are dropped.

    :param aer: Advanced Error Reporting is enabled (the error is logged and signalled).
    :param dpc: Downstream Port Containment is enabled (the link is taken down on an uncorrectable
        error, so later accesses also complete with all-ones).
    :param root_complex_errors: the root complex turns an error completion into an external abort
        instead of all-ones data (a platform integration choice; linux.md 1.1, Jason 11-13 Sep 2023).
    :param containment: how such an abort is handled when ``root_complex_errors`` is set.
    """

    kind: BusKind = BusKind.PCIE
    aer: bool = False
    dpc: bool = False
    root_complex_errors: bool = False
    containment: Containment = Containment.CONTAINED


@dataclass(frozen=True, slots=True, kw_only=True)
class AxiErrorModel(BusErrorModel):
    """AMBA AXI: a SLVERR/DECERR response becomes an external abort, contained or not.

    :param response: the error response the slave gives.
    :param containment: the platform parameter: whether the resulting external abort is contained.
    :param unaligned: what the slave does with an unaligned or 64-byte (ST64B) access; unknown by
        default (linux.md 3.6: AXI behaviour was never examined).
    """

    kind: BusKind = BusKind.AXI
    response: ErrorResponse = ErrorResponse.SLVERR
    containment: Containment = Containment.UNCONTAINED
    unaligned: str = "unknown (AXI slave behaviour; linux.md 3.6)"


@dataclass(frozen=True, slots=True)
class ErrorOutcome:
    """What a failed access does: the read data, whether writes are dropped, and any abort.

    :param read_value: the data a failed load returns, or None when the load aborts.
    :param write_dropped: a failed store is silently discarded.
    :param abort: the exception the CPU takes, or None.
    :param containment: the platform's containment of that abort.
    :param note: the reported understanding for this memory type (not architecture).
    """

    read_value: int | None
    write_dropped: bool
    abort: str | None
    containment: Containment
    note: str = ""


_DEVICE_NOTE = ("Device access: reported to arrive as an asynchronous SError, uncontained on the "
                "IP in question (linux.md 3.1, reported understanding, not architecture)")
_NC_NOTE = ("Normal-NC access: potentially containable, an issued Normal access can be dropped "
            "(Catalin 12 Oct 2023, reported understanding, not architecture)")


def _type_note(attrs: MemoryAttributes | None) -> str:
    if attrs is None:
        return ""
    return _DEVICE_NOTE if attrs.is_device else _NC_NOTE


def error_outcome(
    bus: BusErrorModel, access_is_write: bool, attrs: MemoryAttributes | None = None
) -> ErrorOutcome:
    """What a failed access does on ``bus``; containment comes from the bus, never from ``attrs``.

    :param bus: the bus error model of the target device.
    :param access_is_write: a store (True) or a load (False).
    :param attrs: the effective memory type of the access, used only for the explanatory note.
    """
    note = _type_note(attrs)
    if isinstance(bus, PcieErrorModel):
        if not bus.root_complex_errors:
            # PCIe UR: the root complex completes loads with all-ones and drops writes (no abort).
            extra = []
            if bus.aer:
                extra.append("AER logs the UR")
            if bus.dpc:
                extra.append("DPC contains the link")
            text = "; ".join(["behind a PCIe root complex: all-ones data, no error, whatever "
                              "the memory type", *extra])
            return ErrorOutcome(None if access_is_write else ALL_ONES, access_is_write, None,
                                Containment.NONE, text)
        return ErrorOutcome(None, False, "external abort (root complex reports the error)",
                            bus.containment, note)
    if isinstance(bus, AxiErrorModel):
        kind = "SError (asynchronous external abort)" if (attrs is None or attrs.is_device) \
            else "external abort"
        return ErrorOutcome(None, False, f"{kind} on {bus.response.value}", bus.containment, note)
    return ErrorOutcome(None, False, "external abort", Containment.UNCONTAINED, note)


class ResetPath(enum.Enum):
    """How a device is reset when VFIO reclaims it from a guest."""

    PCIE_FLR = "PCIe config-space FLR"  # non-posted config write, then a config read (vfio-pci)
    PLATFORM_RESET = "platform reset line"  # ACPI _RST or a DT reset callback (vfio-platform)
    NONE = "no reset"  # e.g. the GIC virtual CPU interface: context-switched, never reset


@dataclass(frozen=True, slots=True)
class ResetOrdering:
    """Whether earlier posted (buffered Normal-NC) writes are ordered before the reset.

    ``ordered`` is None when the answer is SoC-specific (unknown to the model).
    """

    path: ResetPath
    ordered: bool | None
    why: str


def reset_ordering(path: ResetPath, *, tlbi_dsb: bool = True) -> ResetOrdering:
    """Is the reset ordered after a guest's earlier NC writes (scenarios.md cases 21-24)?

    :param path: the reset path the host uses.
    :param tlbi_dsb: the host ran stage-2 unmap + TLBI + DSB before the reset (reclaim does; a
        vCPU context switch does not).
    """
    if not tlbi_dsb:
        return ResetOrdering(path, False, "no TLBI+DSB: buffered NC writes may land after the "
                             "switch or reset (context-switched peripheral, case 24)")
    if path is ResetPath.PCIE_FLR:
        return ResetOrdering(path, True, "TLBI+DSB pushes other CPUs' NC writes to the root "
                             "complex; PCIe ordering keeps the non-posted config write behind "
                             "earlier posted MemWr (linux.md 3.3)")
    if path is ResetPath.PLATFORM_RESET:
        return ResetOrdering(path, None, "reset over a different interconnect path: SoC-specific, "
                             "a flushing read is needed (linux.md 3.3, open)")
    return ResetOrdering(path, None, "no reset path: ordering is not defined")

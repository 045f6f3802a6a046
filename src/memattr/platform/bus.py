"""The bus between the CPU and a host device: how an access travels (PCIe TLPs with byte
enables, what may gather), what a failed access does, and how the device is reset on reclaim.

Containment is a *platform* parameter, independent of the memory type the CPU used
(docs/review.md#error-containment, docs/review.md#case-25-error-response-to-a-load): the memory
type only changes the reported understanding of how the error reaches the CPU (asynchronous SError
for Device, possibly containable for Normal-NC), never whether the platform contains it.

Whether a reset is ordered after a guest's buffered writes is not a property of the bus alone:
:mod:`memattr.analysis.ordering` explores it from the bus kind, the memory type and the host's
sequence (docs/review.md#reclaim-and-reset-ordering).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..arch.memtype import MemoryAttributes

__all__ = [
    "BusKind",
    "ErrorResponse",
    "Containment",
    "AxiUnaligned",
    "BusErrorModel",
    "PcieErrorModel",
    "AxiErrorModel",
    "ErrorOutcome",
    "error_outcome",
    "ResetPath",
    "ALL_ONES",
    "Tlp",
    "pcie_tlps",
    "BusAccess",
    "BusOutcome",
    "bus_outcomes",
    "GATHER_GRANULE",
    "PCIE_BOUNDARY",
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


class AxiUnaligned(enum.Enum):
    """What an AXI slave does with an unaligned or 64-byte (ST64B) access: a platform parameter
    nobody examined in the review (docs/review.md#unaligned-accesses-and-axi)."""

    UNKNOWN = "unknown"
    OK = "ok"
    ERROR = "error"

    @property
    def describe(self) -> str:
        return {"unknown": "unknown (AXI slave behaviour was never examined; "
                           "docs/review.md#unaligned-accesses-and-axi)",
                "ok": "the slave accepts unaligned and 64-byte accesses (platform parameter)",
                "error": "the slave answers SLVERR to unaligned and 64-byte accesses (platform "
                         "parameter)"}[self.value]


ALL_ONES = 0xFFFF_FFFF_FFFF_FFFF


@dataclass(frozen=True, slots=True)
class BusErrorModel:
    """A bus's error behaviour: base of :class:`PcieErrorModel` and :class:`AxiErrorModel`.

    :param kind: the interconnect.
    :param ls64: the target and the path to it support 64-byte single-copy atomic accesses
        (LD64B/ST64B, Arm ARM C3.2.8 "IMPLEMENTATION DEFINED which memory locations support this
        instruction"); None when not known.
    """

    kind: BusKind
    ls64: bool | None = None

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
        instead of all-ones data (a platform integration choice; docs/review.md#error-containment).
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
        default (docs/review.md#unaligned-accesses-and-axi: AXI behaviour was never examined).
    """

    kind: BusKind = BusKind.AXI
    response: ErrorResponse = ErrorResponse.SLVERR
    containment: Containment = Containment.UNCONTAINED
    unaligned: AxiUnaligned = AxiUnaligned.UNKNOWN


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
                "IP in question (docs/review.md#error-containment: reported understanding, not "
                "architecture)")
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


# --- how an access travels ---------------------------------------------------------------------

PCIE_BOUNDARY = 4096
"""A PCIe memory request must not cross a 4 KiB boundary (PCIe Base Specification 6.0, 2.2.7)."""

GATHER_GRANULE = 64
"""The largest block the model lets a gathering write buffer merge stores into: one 64-byte
granule, the size of one ST64B (an assumption about the PE, not an architecture rule: the Arm ARM
permits gathering for Normal and Device-G memory without saying how much, B2.10)."""


@dataclass(frozen=True, slots=True)
class Tlp:
    """One PCIe memory request: MemWr or MemRd, its DW-aligned address, length and byte enables.

    :param write: MemWr (posted) or MemRd (non-posted).
    :param address: the address of the first DW (a multiple of 4).
    :param length: the number of DWs.
    :param first_be: First DW Byte Enables (bit n: byte n of the first DW).
    :param last_be: Last DW Byte Enables; 0 for a one-DW request (PCIe 6.0, 2.2.5).
    """

    write: bool
    address: int
    length: int
    first_be: int
    last_be: int

    @property
    def payload(self) -> int:
        """Bytes enabled."""
        if self.length == 1:
            return bin(self.first_be).count("1")
        return bin(self.first_be).count("1") + bin(self.last_be).count("1") + 4 * (self.length - 2)

    def __str__(self) -> str:
        kind = "MemWr" if self.write else "MemRd"
        return (f"{kind} {self.length} DW, BE 0b{self.first_be:04b}/0b{self.last_be:04b}")


def pcie_tlps(address: int, size: int, *, write: bool, max_payload: int = 256,
              max_read: int = 512) -> tuple[Tlp, ...]:
    """The memory requests a root complex forms for ``size`` bytes at ``address``: split at 4 KiB
    boundaries and at the maximum payload (writes) or read request size (reads), each with its
    First/Last DW byte enables (PCIe Base Specification 6.0, 2.2.5 and 2.2.7).

    :param max_payload: Max_Payload_Size in bytes.  :param max_read: Max_Read_Request_Size.
    """
    if size <= 0:
        raise ValueError(f"pcie_tlps: size={size}: must be positive")
    limit = max_payload if write else max_read
    out: list[Tlp] = []
    at, end = address, address + size
    while at < end:
        stop = min(end, (at // PCIE_BOUNDARY + 1) * PCIE_BOUNDARY)
        first_dw = at - at % 4
        stop = min(stop, first_dw + limit)
        last_dw = (stop - 1) - (stop - 1) % 4
        length = (last_dw - first_dw) // 4 + 1
        first_be = sum(1 << b for b in range(4) if at <= first_dw + b < stop)
        last_be = 0 if length == 1 else sum(1 << b for b in range(4) if last_dw + b < stop)
        out.append(Tlp(write, first_dw, length, first_be, last_be))
        at = stop
    return tuple(out)


@dataclass(frozen=True, slots=True)
class BusAccess:
    """One single-copy atomic piece of a CPU access as the PE issues it: ``size`` bytes at
    ``address`` (one element of LDP/LD1, one unaligned register, an ST64B block).

    :param atomic64: an LD64B/ST64B block: one 64-byte transaction, never merged with later
        stores (Arm ARM C3.2.8).
    """

    address: int
    size: int
    write: bool
    atomic64: bool = False

    @property
    def unaligned(self) -> bool:
        return self.address % self.size != 0


@dataclass(frozen=True, slots=True)
class BusOutcome:
    """What the bus and the device make of one access.

    :param kind: 'completed' (the device took it), 'all-ones' (a load completed with all-ones
        data, no error), 'dropped' (a store silently discarded), 'contained abort',
        'uncontained SError' (or 'uncontained abort'), 'no device access'.
    :param tlps: the PCIe requests when each piece travels on its own (PCIe only).
    :param merged: the fewest PCIe requests gathering may make of them (None: no gathering).
    :param text: one phrase.
    """

    kind: str
    text: str
    tlps: tuple[Tlp, ...] = ()
    merged: tuple[Tlp, ...] | None = None

    @property
    def completed(self) -> bool:
        return self.kind == "completed"


def _gather(pieces: tuple[BusAccess, ...]) -> tuple[tuple[int, int], ...]:
    """Contiguous runs of ``pieces`` inside one :data:`GATHER_GRANULE`, as (address, size)."""
    runs: list[list[int]] = []
    for p in sorted(pieces, key=lambda p: p.address):
        lo, hi = p.address, p.address + p.size
        while lo < hi:
            cut = min(hi, (lo // GATHER_GRANULE + 1) * GATHER_GRANULE)
            if runs and runs[-1][1] == lo and (runs[-1][0] // GATHER_GRANULE ==
                                                lo // GATHER_GRANULE):
                runs[-1][1] = cut
            else:
                runs.append([lo, cut])
            lo = cut
    return tuple((a, b - a) for a, b in runs)


def _describe_tlps(tlps: tuple[Tlp, ...]) -> str:
    kinds = {str(t) for t in tlps}
    if len(kinds) == 1:
        return f"{len(tlps)} x {next(iter(kinds))}" if len(tlps) > 1 else str(tlps[0])
    return ", ".join(str(t) for t in tlps)


def _error(bus: BusErrorModel, write: bool, attrs: MemoryAttributes | None, why: str) -> BusOutcome:
    out = error_outcome(bus, write, attrs)
    if out.read_value is not None:
        return BusOutcome("all-ones", f"{why}: the load completes with all-ones data, no error")
    if out.write_dropped:
        return BusOutcome("dropped", f"{why}: the store is dropped, no error")
    if out.containment is Containment.CONTAINED:
        return BusOutcome("contained abort", f"{why}: {out.abort}, contained (platform parameter)")
    serror = out.abort is not None and out.abort.startswith("SError")
    return BusOutcome("uncontained SError" if serror else "uncontained abort",
                      f"{why}: {out.abort}, uncontained (platform parameter)")


def bus_outcomes(bus: BusErrorModel | None, pieces: tuple[BusAccess, ...], *,
                 attrs: MemoryAttributes | None, gathering: bool,
                 error: bool = False) -> frozenset[BusOutcome]:
    """Every permitted outcome of ``pieces`` on ``bus``: how they travel (PCIe: the TLPs, and what
    gathering may merge), or what the bus does with an access it cannot serve.

    :param bus: the target's bus error model (None: no device behind it, e.g. RAM).
    :param pieces: the single-copy atomic pieces of the access, as the PE issues them.
    :param attrs: the effective memory type (for the error notes only).
    :param gathering: the type permits gathering (Device-GRE, Normal): pieces in one 64-byte
        granule may merge.
    :param error: the target answers the access with an error (the platform decides the rest).
    """
    if not pieces:
        return frozenset({BusOutcome("no device access", "no transaction reaches the device")})
    write = pieces[0].write
    if bus is None or bus.kind is BusKind.MEMORY:
        return frozenset({BusOutcome("completed", "served by memory")})
    if error:
        return frozenset({_error(bus, write, attrs, "the target answers with an error")})
    if isinstance(bus, AxiErrorModel):
        odd = any(p.unaligned or p.atomic64 for p in pieces)
        if not odd:
            return frozenset({BusOutcome("completed", "AXI: completed")})
        why = "an unaligned or 64-byte access on AXI"
        if bus.unaligned is AxiUnaligned.OK:
            return frozenset({BusOutcome("completed", f"{why}: completed (platform parameter)")})
        bad = _error(bus, write, attrs, f"{why} answered {bus.response.value}")
        if bus.unaligned is AxiUnaligned.ERROR:
            return frozenset({bad})
        return frozenset({BusOutcome("completed", f"{why}: completed, if the slave accepts it"),
                          bad})
    if isinstance(bus, PcieErrorModel):
        tlps = tuple(t for p in pieces for t in pcie_tlps(p.address, p.size, write=p.write))
        merged = None
        if gathering and len(pieces) > 1 and not any(p.atomic64 for p in pieces):
            runs = _gather(pieces)
            merged = tuple(t for a, n in runs for t in pcie_tlps(a, n, write=write))
            if len(merged) >= len(tlps):
                merged = None
        text = f"PCIe: {_describe_tlps(tlps)}"
        if merged is not None:
            text += f"; gathering may merge them into {_describe_tlps(merged)}"
        return frozenset({BusOutcome("completed", text, tlps, merged)})
    return frozenset({BusOutcome("completed", f"{bus.kind.value}: completed")})

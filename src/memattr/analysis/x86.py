"""x86 for contrast: the EPT memory type KVM/VMX picks, combined with the guest's PAT type, and AMD
NPT, where the guest's PAT is always honoured (docs/review.md#case-30-x86-ept-and-mmio,
docs/review.md#case-31-x86-guest-ram-and-pat).

Only what the contrast needs: the effective type of a guest access on Intel EPT is the EPT
memory type when the EPT entry's "ignore PAT" (IPAT) bit is set, and otherwise the EPT type and
the guest PAT type combined as the SDM combines an MTRR type with a PAT type ("Effective
Page-Level Memory Types" table; the EPT type takes the MTRR's place).  [SDM prose, not
re-verified.]  KVM's choice follows ``vmx_get_mt_mask()`` (arch/x86/kvm/vmx/vmx.c): host MMIO gets UC
without IPAT ("UC or WC depending on guest PAT"); RAM gets WB, with IPAT while
KVM_X86_QUIRK_IGNORE_GUEST_PAT is enabled (the default on Intel, non-TDX) and there is no
non-coherent DMA, without it otherwise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["X86Type", "EptEntry", "combine_ept_pat", "vmx_get_mt_mask", "intel_effective",
           "amd_npt_effective", "contrast_rows"]


class X86Type(enum.Enum):
    """x86 memory types (PAT / MTRR / EPT encodings' names)."""

    UC = "UC"
    UC_MINUS = "UC-"  # PAT only
    WC = "WC"
    WT = "WT"
    WP = "WP"
    WB = "WB"


_U, _UM, _WC, _WT, _WP, _WB = (X86Type.UC, X86Type.UC_MINUS, X86Type.WC, X86Type.WT, X86Type.WP,
                               X86Type.WB)

# SDM "Effective Page-Level Memory Types": (MTRR-or-EPT type, PAT type) -> effective type.
# Columns: PAT UC, UC-, WC, WT, WB, WP.
_PAT_ORDER = (_U, _UM, _WC, _WT, _WB, _WP)
_TABLE: dict[X86Type, tuple[X86Type, ...]] = {
    _U: (_U, _U, _WC, _U, _U, _U),
    _WC: (_U, _WC, _WC, _U, _WC, _U),
    _WT: (_U, _U, _WC, _WT, _WT, _WP),
    _WB: (_U, _U, _WC, _WT, _WB, _WP),
    _WP: (_U, _WC, _WC, _WT, _WP, _WP),
}


def combine_ept_pat(ept: X86Type, pat: X86Type) -> X86Type:
    """The effective type of an EPT type (IPAT=0) and a guest PAT type."""
    if ept is _UM:
        raise ValueError("UC- is a PAT type, not an EPT memory type")
    return _TABLE[ept][_PAT_ORDER.index(pat)]


@dataclass(frozen=True, slots=True)
class EptEntry:
    """The memory-type bits KVM writes into an EPT leaf: the type, the IPAT bit, and why."""

    memtype: X86Type
    ipat: bool
    why: str


def vmx_get_mt_mask(*, mmio: bool, noncoherent_dma: bool = False,
                    ignore_guest_pat_quirk: bool = True) -> EptEntry:
    """KVM/VMX ``vmx_get_mt_mask``: the EPT memory type and IPAT for a guest page.

    :param mmio: the host PFN is MMIO (not RAM).
    :param noncoherent_dma: the VM has a non-coherent DMA device assigned.
    :param ignore_guest_pat_quirk: KVM_X86_QUIRK_IGNORE_GUEST_PAT is enabled (the default).
    """
    if mmio:
        return EptEntry(_U, False, "host MMIO: EPT UC without IPAT, so the guest PAT chooses UC "
                                   "or WC (vmx_get_mt_mask comment)")
    if ignore_guest_pat_quirk and not noncoherent_dma:
        return EptEntry(_WB, True, "RAM, KVM_X86_QUIRK_IGNORE_GUEST_PAT enabled and no "
                                   "non-coherent DMA: EPT WB with IPAT")
    return EptEntry(_WB, False, "RAM with the quirk disabled (or non-coherent DMA): EPT WB "
                                "without IPAT, the guest PAT is honoured")


def intel_effective(entry: EptEntry, guest_pat: X86Type) -> X86Type:
    """The effective type on Intel EPT: the EPT type with IPAT, else EPT x PAT."""
    return entry.memtype if entry.ipat else combine_ept_pat(entry.memtype, guest_pat)


def amd_npt_effective(guest_pat: X86Type, host: X86Type = _WB) -> X86Type:
    """AMD NPT: the guest PAT is always honoured, combined with the host's type for the page
    (WB for RAM) as the PAT table combines types.  [APM prose, not re-verified.]"""
    return combine_ept_pat(host, guest_pat)


def contrast_rows() -> list[tuple[str, str, str, str]]:
    """The two x86 worked cases as (case number, setup, guest PAT, effective) rows
    (docs/review.md#case-30-x86-ept-and-mmio, docs/review.md#case-31-x86-guest-ram-and-pat)."""
    rows = []
    for pat in (_WC, _U):
        e = vmx_get_mt_mask(mmio=True)
        rows.append(("30", "Intel EPT, host MMIO", pat.value, intel_effective(e, pat).value))
    for quirk in (True, False):
        e = vmx_get_mt_mask(mmio=False, ignore_guest_pat_quirk=quirk)
        for pat in (_U, _WC, _WB):
            setup = f"Intel EPT, RAM, quirk {'on' if quirk else 'off'}"
            rows.append(("31", setup, pat.value, intel_effective(e, pat).value))
    for pat in (_U, _WC, _WB):
        rows.append(("31", "AMD NPT, RAM", pat.value, amd_npt_effective(pat).value))
    return rows

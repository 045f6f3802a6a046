"""x86 contrast (docs/review.md#case-30-x86-ept-and-mmio, #case-31-x86-guest-ram-and-pat): EPT type x guest
PAT, KVM's vmx_get_mt_mask, AMD NPT."""

from __future__ import annotations

import pytest

from memattr.analysis.x86 import (
    X86Type,
    amd_npt_effective,
    combine_ept_pat,
    contrast_rows,
    intel_effective,
    vmx_get_mt_mask,
)


def test_case_30_mmio_guest_pat_chooses_wc_or_uc() -> None:
    """Case 30: host MMIO is EPT UC without IPAT: guest PAT WC => WC, guest PAT UC => UC."""
    e = vmx_get_mt_mask(mmio=True)
    assert e.memtype is X86Type.UC and not e.ipat
    assert intel_effective(e, X86Type.WC) is X86Type.WC
    assert intel_effective(e, X86Type.UC) is X86Type.UC


@pytest.mark.parametrize("pat", list(X86Type))
def test_case_31_ram_quirk_on_ignores_guest_pat(pat: X86Type) -> None:
    """Case 31: RAM, no non-coherent DMA, quirk enabled => EPT WB with IPAT: eff WB whatever
    the guest PAT says."""
    e = vmx_get_mt_mask(mmio=False)
    assert e.memtype is X86Type.WB and e.ipat
    assert intel_effective(e, pat) is X86Type.WB


@pytest.mark.parametrize("pat", [X86Type.UC, X86Type.WC, X86Type.WT, X86Type.WB])
def test_case_31_quirk_off_and_amd_honour_guest_pat(pat: X86Type) -> None:
    """Case 31: with the quirk disabled the guest PAT is honoured; AMD NPT always honours it."""
    e = vmx_get_mt_mask(mmio=False, ignore_guest_pat_quirk=False)
    assert not e.ipat
    assert intel_effective(e, pat) is pat
    assert amd_npt_effective(pat) is pat


def test_uc_minus_is_not_an_ept_type() -> None:
    """UC- exists only in the PAT."""
    with pytest.raises(ValueError):
        combine_ept_pat(X86Type.UC_MINUS, X86Type.WB)


def test_contrast_rows_cover_both_cases() -> None:
    """The contrast table has rows for cases 30 and 31."""
    rows = contrast_rows()
    assert ("30", "Intel EPT, host MMIO", "WC", "WC") in rows
    assert ("31", "Intel EPT, RAM, quirk on", "UC", "WB") in rows
    assert ("31", "AMD NPT, RAM", "UC", "UC") in rows

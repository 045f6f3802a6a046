"""Explaining abort syndromes a KVM host logged (user story 1)."""

from __future__ import annotations

import pytest

from memattr.arch.esr import FaultKind, encode_abort_esr
from memattr.errors import ParseError
from memattr.interop.esr_story import explain, ipa_from_hpfar, parse_report

LOG = "kvm [1234]: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061"


def test_parse_report_forms() -> None:
    """An ESR is read from a dmesg line, a 0x number or bare hex."""
    assert parse_report(LOG) == 0x92000061
    assert parse_report("0x92000061") == 0x92000061
    assert parse_report("92000061") == 0x92000061
    with pytest.raises(ParseError, match="ESR="):
        parse_report("kvm: nothing here")


def test_alignment_story_names_the_stage_and_the_fix() -> None:
    """The story-1 syndrome is explained as a stage-2 alignment fault fixed in 6.9 for vfio-pci."""
    story = explain(parse_report(LOG))
    text = "\n".join(story.lines)
    assert story.syndrome.fsc is not None and story.syndrome.fsc.kind is FaultKind.ALIGNMENT
    assert "AArch64.S2HasAlignmentFault" in text
    assert "alignment fault at stage 2" in text  # computed from the rules for KVM <= 6.8
    assert "no alignment fault" in text  # and for >= 6.9
    assert "VM_ALLOW_ANY_UNCACHED" in text and "6.9" in text


def test_hpfar_gives_ipa() -> None:
    """HPFAR_EL2.FIPA holds IPA[51:12] in bits [43:4]; FAR supplies the page offset."""
    assert ipa_from_hpfar(0x8000_0000 >> 8, 0xFFFF_0000_0000_0ABC) == 0x8000_0ABC
    story = explain(0x92000061, hpfar=0x0123_4560, far=0x10)
    assert story.ipa == 0x1_2345_6010  # FIPA 0x123456 << 12 | 0x010


def test_exec_permission_story() -> None:
    """An instruction-abort permission fault mentions -ENOEXEC and the injected prefetch abort."""
    text = "\n".join(explain(encode_abort_esr(fsc=0x0F, instruction=True)).lines)
    assert "-ENOEXEC" in text and "prefetch abort" in text


def test_translation_without_isv() -> None:
    """A stage-2 translation fault with ISV=0 says KVM cannot decode MMIO."""
    text = "\n".join(explain(encode_abort_esr(fsc=0x07, isv=False)).lines)
    assert "ISV=0" in text and "KVM_EXIT_ARM_NISV" in text

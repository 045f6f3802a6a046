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


# --- context: who took it, at which EL and stage (issue 11 item 1) ---------------------------

from memattr.arch.esr import EC, encode_esr  # noqa: E402
from memattr.interop.esr_story import (  # noqa: E402
    BRK_IMMEDIATES,
    KVM_EXIT_HANDLERS,
    Who,
    explain_log,
    explain_value,
    story_json,
)


@pytest.mark.parametrize(("esr", "el", "guest", "who", "stage", "branch"), [
    (0x96000061, None, False, Who.HOST_KERNEL, 1, "same_el"),
    (0x96000061, 2, False, Who.HOST_KERNEL, 1, "same_el"),
    (0x96000061, None, True, Who.GUEST, 1, "same_el"),
    (0x92000061, None, False, Who.UNKNOWN, None, "lower_unknown"),
    (0x92000061, 1, False, Who.HOST_USER, 1, "user_space"),
    (0x92000061, 1, True, Who.GUEST, 1, "user_space"),
    (0x92000061, 2, False, Who.KVM_GUEST, 2, "kvm_stage2"),
    (0x92000010, 2, False, Who.KVM_GUEST, None, "kvm_stage2"),  # an SEA blames no stage
    (0xBE000011, None, False, Who.HOST_KERNEL, None, "serror"),
    (encode_esr(EC.WFx, 1), 2, False, Who.KVM_GUEST, None, "kvm_trap"),
])
def test_attribution_of_values(esr: int, el: int | None, guest: bool, who: Who,
                               stage: int | None, branch: str) -> None:
    """A bare value's class and --el decide who took it; the record names the branch."""
    story = explain_value(esr, el=el, guest=guest, outlook=False)
    assert story.attribution.who is who and story.attribution.stage == stage
    assert story.decision.branch == branch and story.decision.input("el") == el


def test_hpfar_implies_kvm() -> None:
    """HPFAR_EL2 exists only for stage-2 faults: a lower-EL abort with it is KVM's."""
    story = explain_value(0x92000061, hpfar=0x800000, outlook=False)
    assert story.attribution.who is Who.KVM_GUEST and story.ipa == 0x8000_0000


def test_exit_handler_table_covers_the_aborts() -> None:
    """KVM's exit handler table sends both abort classes to kvm_handle_guest_abort."""
    assert KVM_EXIT_HANDLERS[EC.DABT_LOW] == KVM_EXIT_HANDLERS[EC.IABT_LOW] == \
        "kvm_handle_guest_abort"
    assert all(lo <= hi for lo, hi, _ in BRK_IMMEDIATES)


def test_log_stories_and_json() -> None:
    """explain_log returns one story per report; story_json has hex beside the ESR."""
    text = ("[    0.0] Linux version 6.9.1 (x@y)\n"
            "kvm [9]: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061\n"
            "a.out[7]: unhandled exception: DABT (lower EL), ESR 0x0000000092000061, alignment "
            "fault\n")
    stories = explain_log(text, outlook=False)
    assert [s.attribution.who for s in stories] == [Who.KVM_GUEST, Who.HOST_USER]
    assert [s.release for s in stories] == ["6.9", "6.9"]
    doc = story_json(stories[0])
    assert doc["esr"] == 0x92000061 and doc["ec_hex"] == "0x24" and doc["kernel"] == "6.9"
    assert doc["attribution"]["rule"] == "kvm_handle_guest_abort"


def test_unmodelled_kernel_in_a_log_is_said() -> None:
    """A log from a kernel the model does not describe: no release used, and it says so."""
    stories = explain_log("[ 0.0] Linux version 4.19.0 (x@y)\n"
                          "kvm [9]: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061\n",
                          outlook=False)
    assert stories[0].release is None
    assert any("not a Linux release the model describes" in n for n in stories[0].notes)

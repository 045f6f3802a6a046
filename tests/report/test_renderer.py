"""The one renderer of decision records (memattr.report.explain)."""

from __future__ import annotations

import enum
import json

from memattr.arch.combine import Access, Controls, resolve
from memattr.arch.cpu import ALL, NEOVERSE_N1
from memattr.arch.decision import AslRule, Decision
from memattr.arch.s2memattr import fwb_meaning, s2_decode_mem_attrs
from memattr.report import explain


def test_text_lines_name_the_deciding_rules() -> None:
    """Story 1 (FWB, S1 Normal-NC over MemAttr 0b001): the FWB Device case decides."""
    lines = explain.text_lines(resolve(0x44, 0x1, controls=Controls(fwb=True)).paths)
    assert "S1 attribute 0x44: Normal-NC (S1DecodeMemAttrs)" in lines
    assert "S2 MemAttr 0b001 with FWB: Device nGnRE (AArch64.S2ApplyFWBMemAttrs)" in lines
    assert any(ln.endswith("(AArch64.S2ApplyFWBMemAttrs)") and "S1 Normal-NC is not Device" in ln
               for ln in lines)
    assert not any("S2CombineS1Device" in ln for ln in lines)  # S1 is not Device


def test_ifetch_from_s2_device_is_not_device_wins() -> None:
    """The issue's example: an instruction fetch with S2 Device is stage 2 taken as Normal NC
    (AArch64.S2Translate), or a Permission fault; the text says so, not 'Device wins'."""
    lines = explain.text_lines(resolve(0xFF, 0x1, access=Access.IFETCH).paths)
    text = "\n".join(lines)
    assert "Device wins" not in text and "S2CombineS1Device" not in text
    assert ("instruction fetch with S2 Device: stage 2 treated as Normal NC "
            "(AArch64.S2Translate)") in lines
    assert any("Permission fault" in ln and "AArch64.S2CheckPermissions" in ln for ln in lines)


def test_alternatives_share_one_line() -> None:
    """Three permitted outcomes (S2 inner field 0b00): one decode line listing the three."""
    lines = explain.text_lines(resolve(0xFF, 0x4, cpu=NEOVERSE_N1).paths)
    assert ("S2 MemAttr 0b0100: Normal-NC, Normal-iWT-oNC, Normal-iWB-oNC (S2DecodeMemAttrs)"
            in lines)
    assert len([ln for ln in lines if "(S2DecodeMemAttrs)" in ln]) == 1


def test_steps_json_is_every_record() -> None:
    """steps_json: one object per record, each with the rule's ASL name, branch, inputs,
    result and the shown text (None when the record is JSON-only); valid JSON."""
    res = resolve(0x44, 0x5, controls=Controls(fwb=True))
    steps = explain.steps_json(res.paths)
    json.dumps(steps)
    assert len(steps) == len(res.decisions)
    assert [s["rule"] for s in steps] == [d.rule.value for d in res.decisions]
    assert all(set(s) == {"rule", "branch", "inputs", "result", "text"} for s in steps)
    last = steps[-1]
    assert last["rule"] == "AArch64.S2ApplyFWBMemAttrs" and last["branch"] == "nc_s1_normal"
    assert last["result"]["type"] == "Normal" and last["inputs"]["attr"] == 5


def test_decided_text_per_alternative() -> None:
    """decided_text: the combining line that decided, once per distinct alternative."""
    text = explain.decided_text(resolve(0x44, 0x1).paths)
    assert text.endswith("(S2CombineS1MemAttrs)") and "S2's Device" in text
    fwb = explain.decided_text(resolve(0x44, 0x5, controls=Controls(fwb=True)).paths)
    assert "(AArch64.S2ApplyFWBMemAttrs)" in fwb
    recs = explain.deciding(resolve(0x04, 0x1).paths)
    assert {d.rule for d in recs} == {AslRule.S2CombineS1Device}


def test_s2_meaning_from_records() -> None:
    """decode s2's sentences come from the decode records."""
    dec = s2_decode_mem_attrs(0b0101)
    assert explain.s2_meaning([c[-1] for c in dec.chains]) == "Normal inner NC, outer NC"
    cu = s2_decode_mem_attrs(0b1000, cpu=NEOVERSE_N1)
    text = explain.s2_meaning([c[-1] for c in cu.chains])
    assert text.startswith("CONSTRAINED UNPREDICTABLE") and text.count("Normal inner") == 3
    assert explain.s2_meaning([fwb_meaning(0b101)]) == (
        "Normal iNC/oNC, or S1's attributes when S1 is Device")
    notag = explain.s2_meaning([fwb_meaning(0b1111, ALL)])
    assert "NoTagAccess" in notag


class _KernelRule(enum.Enum):
    user_mem_abort = "user_mem_abort"


def test_register_renders_another_layers_records() -> None:
    """Another layer registers a renderer for its own rule enum; unregistered records still
    render (branch: result) and JSON carries them."""
    d = Decision(_KernelRule.user_mem_abort, "vm_allow_any_uncached", (("memattr", 5),), "NC")
    assert explain.text_lines([(d,)]) == ["vm_allow_any_uncached: NC (user_mem_abort)"]
    explain.register(_KernelRule, lambda rec, ctx: explain.Line(
        ("kvm",), f"user_mem_abort maps it {rec.result}"))
    assert explain.text_lines([(d,)]) == ["user_mem_abort maps it NC (user_mem_abort)"]
    assert explain.decision_json(d)["rule"] == "user_mem_abort"

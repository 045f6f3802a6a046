"""Replaying a scenario: overrides, raw guests, what-if flags, reasons and JSON-ready results."""

from __future__ import annotations

import json

import pytest

from memattr.analysis.compare import compare, groups
from memattr.analysis.replay import replay
from memattr.analysis.scenario import loads
from memattr.errors import ConfigError

BASE = """\
policies = ["6.8", "6.9"]

[cpu]
fwb = [false, true]

[[device]]
name = "nic"
kind = "pcie"

[[device.bar]]
index = 0
base = 0x80_0000_0000
size = "1M"

[[vmm_mapping]]
name = "bar0"
source = "vfio-pci"
device = "nic"
{extra}
[[memslot]]
mapping = "bar0"
ipa = 0x10_0000_0000

[guest]
mair_el1 = 0x0000_0000_0044_04ff

[[guest_mapping]]
name = "wc"
target = "bar0"
api = "ioremap_wc"

[[guest_mapping]]
name = "raw-nc"
target = "bar0"
offset = 0x1000
attr_index = 2

[[guest_mapping]]
name = "raw-byte"
target = "bar0"
offset = 0x2000
attr = 0x04
"""


def sc(extra: str = ""):
    return loads(BASE.format(extra=extra), "r.toml")


def test_results_cover_every_mapping_policy_and_fwb() -> None:
    """One result per guest mapping x policy x FWB, in that order."""
    rp = replay(sc())
    assert len(rp.results) == 3 * 2 * 2
    assert [(r.mapping.name, r.policy_name, r.fwb) for r in rp.results[:4]] == [
        ("wc", "6.8", False), ("wc", "6.8", True), ("wc", "6.9", False), ("wc", "6.9", True)]


def test_raw_guest_attributes() -> None:
    """attr_index selects from [guest] mair_el1; attr gives the byte directly."""
    rp = replay(sc())
    assert rp.get("raw-nc", "6.9", True).cell == "Normal-NC"
    assert rp.get("raw-byte", "6.9", True).cell == "Device-nGnRE"


def test_policy_and_fwb_overrides() -> None:
    """--policy and --fwb replace the file's choices; a release number resolves to its policy."""
    rp = replay(sc(), policies=["6.12", "v2"], fwb=False)
    assert rp.policies == ("6.12", "v2")
    assert rp.fwb == (False,)
    assert rp.get("wc", "6.12", False).cell == "Normal-NC"
    with pytest.raises(ConfigError, match="unknown"):
        replay(sc(), policies=["7.x-nonsense"])


def test_forcing_the_flag_off_keeps_a_vfio_pci_bar_device() -> None:
    """allow_any_uncached = false removes VM_ALLOW_ANY_UNCACHED: 6.9 then maps Device-nGnRE."""
    rp = replay(sc("allow_any_uncached = false\n"))
    r = rp.get("wc", "6.9", True)
    assert r.cell == "Device-nGnRE"
    assert r.evaluation.vma is not None and "forced off" in r.evaluation.vma.name


def test_reason_names_the_flag_the_memattr_and_the_rule() -> None:
    """The one-line reason says what KVM decided and which combining rule won (the rule is
    rendered from the resolution's records by the report layer: report.text.why)."""
    from memattr.report.text import why

    r = replay(sc()).get("wc", "6.9", False)
    assert "VM_ALLOW_ANY_UNCACHED" in r.reason
    assert "0b0101" in r.reason
    assert "S2CombineS1AttrHints" in why(r)
    assert why(r).startswith(r.reason)


def test_results_are_json_ready() -> None:
    """Every result serialises to JSON with the fields item 6 lists."""
    rp = replay(sc())
    doc = json.loads(json.dumps(rp.to_json()))
    first = doc["results"][0]
    for key in ("vmm_s1", "s2_memattr", "guest_s1", "effective", "properties", "events",
                "hazards", "reason", "answer"):
        assert key in first
    assert doc["policies"][1]["name"] == "6.9"


def test_comparison_flags_cells_that_differ_from_the_baseline() -> None:
    """The first policy is the baseline; cells that differ from it are flagged."""
    cmp = compare(replay(sc()))
    wc = cmp.rows[0]
    assert [c.differs for c in wc.cells] == [False, True]
    assert wc.cells[1].text == "Normal-NC"
    assert groups(wc) == [(["6.8"], "Device-nGnRE"), (["6.9"], "Normal-NC")]
    assert not cmp.rows[2].differs  # raw Device byte: Device under both


def test_fwb_split_cells() -> None:
    """A cell whose answer depends on FWB shows both, in FWB order."""
    text = """\
policy = "6.9"
[cpu]
fwb = [false, true]
[[ram]]
base = 0x8000_0000
size = "1G"
[[vmm_mapping]]
name = "ram"
source = "anon"
size = "16M"
[[memslot]]
mapping = "ram"
ipa = 0x4000_0000
[[guest_mapping]]
name = "nc"
target = "ram"
api = "memremap_wc"
"""
    cell = compare(replay(loads(text, "f.toml"))).rows[0].cells[0]
    assert cell.fwb_matters
    assert cell.text == "Normal-NC / Normal-WB"


def test_sriov_vf_bar() -> None:
    """A VF BAR mmapped through vfio-pci is relaxed like any vfio-pci BAR from 6.9."""
    text = """\
policies = ["6.8", "6.9"]
[[device]]
name = "pf"
kind = "pcie"
num_vfs = 4
[[device.bar]]
index = 0
base = 0x80_0000_0000
size = "1M"
[[device.vf_bar]]
index = 0
base = 0x80_1000_0000
size = "64K"
[[vmm_mapping]]
name = "vf2"
source = "vfio-pci"
device = "pf"
vf = 2
[[memslot]]
mapping = "vf2"
ipa = 0x10_0000_0000
[[guest_mapping]]
name = "wc"
target = "vf2"
api = "ioremap_wc"
"""
    rp = replay(loads(text, "vf.toml"))
    r = rp.get("wc", "6.9", True)
    assert r.cell == "Normal-NC"
    assert r.evaluation.leaf is not None and r.evaluation.leaf.phys == 0x80_1000_0000 + 2 * 0x10000
    assert rp.get("wc", "6.8", True).cell == "Device-nGnRE"
    with pytest.raises(ConfigError, match="has 4 VFs, so no VF7"):
        loads(text.replace("vf = 2", "vf = 7"), "vf.toml")


def test_scripted_revoke_between_accesses() -> None:
    """A memory-disable event before an access: that access ends in KVM_RUN -EFAULT after the
    zap and the stage-2 unmap (reset/revoke as scripted events)."""
    from memattr.analysis.replay import ScriptEvent
    from memattr.analysis.scenario import bundled_path, load

    sc = load(bundled_path("vfio-pci-bar"))
    gm = sc.guest_mappings[0].name
    rp = replay(sc, policies=["6.9"], fwb=True,
                script=[ScriptEvent(gm, 0, "memory-disable")])
    r = rp.get(gm, "6.9", True)
    acc = r.accesses[0]
    assert acc.outcome == "KVM_RUN -EFAULT"
    kinds = [e.kind.name for e in acc.events]
    assert kinds.index("VMA_ZAPPED") < kinds.index("STAGE2_UNMAPPED") < kinds.index("RUN_FAILED")


def test_replay_vm_and_host_options() -> None:
    """replay passes VM and host options through (a 44-bit VM, a pKVM host)."""
    from memattr.analysis.scenario import bundled_path, load
    from memattr.linux.kvm.features import VmConfig

    sc = load(bundled_path("vfio-pci-bar"))
    rp = replay(sc, policies=["6.9"], fwb=True, vm=VmConfig(ipa_bits=44), host={"pkvm": True})
    r = rp.results[0]
    assert r.evaluation.vm is not None and r.evaluation.vm.ipa_bits == 44
    assert r.evaluation.host.pkvm


def test_reset_revoke_scenario_across_v5_8() -> None:
    """The bundled reset-revoke scenario under 5.7 and 5.8 (abafbc551fdd, v5.8): before, the
    access after a memory disable or a function reset gets the device's error response (all-ones
    for the load, a dropped store: the example root complex reports no errors); from 5.8 it is
    KVM_RUN -EFAULT.  With a root complex that reports errors, the 5.7 load is an external abort
    that reaches KVM as a synchronous external abort instead (the platform's bus model)."""
    from pathlib import Path

    from memattr.analysis.scenario import bundled_path, load

    path = bundled_path("reset-revoke")
    rp = replay(load(path), policies=["5.7", "5.8"], fwb=True)
    reg, door = rp.get("registers", "5.7", True), rp.get("doorbells", "5.7", True)
    assert reg.accesses[1].outcome == "read completes with all-ones data (error response from " \
                                      "the device)"
    assert door.accesses[1].outcome == "write dropped (error response from the device)"
    assert reg.accesses[2].outcome == "read completes as Device-nGnRE"
    from memattr.report.kernel import seen

    shown = seen(reg.accesses[1].evaluation)
    assert shown.startswith("device: read at IPA 0x") and "Unsupported Request" in shown
    assert rp.get("registers", "5.8", True).accesses[1].outcome == "KVM_RUN -EFAULT"
    assert rp.get("doorbells", "5.8", True).accesses[1].outcome == "KVM_RUN -EFAULT"
    text = Path(path).read_text(encoding="utf-8") + "\n[pcie]\nroot_complex_errors = true\n"
    rc = replay(loads(text, "rc.toml"), policies=["5.7"], fwb=True)
    acc = rc.get("registers", "5.7", True).accesses[1]
    assert acc.outcome == "SError injected into the guest"
    assert any(e.kind.name == "ERROR_RESPONSE" and "Unsupported Request" in e.text
               for e in acc.events)

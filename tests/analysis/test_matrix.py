"""The policy matrix (memattr.analysis.matrix): the bulk engine equals the scalar engine over the
whole default matrix, the verdicts say what the review said, and the JSON has its documented
shape."""

from __future__ import annotations

import json
from functools import cache

import pytest

from memattr.analysis.access import DEFAULT_ACCESSES
from memattr.analysis.hazards import HAZARDS
from memattr.analysis.matrix import DEVICES, GUEST_MAPPINGS, VERDICTS, Matrix, build_matrix
from memattr.analysis.policyfile import loads_policy
from memattr.errors import ConfigError, ParseError
from memattr.linux.policy import builtin_policies
from memattr.report.matrix import CSV_COLUMNS, render_csv, render_html, render_text

POLICIES = [p.name for p in builtin_policies()]


@cache
def default() -> Matrix:
    return build_matrix()


def test_default_dimensions() -> None:
    """Every built-in policy x device class x its sources x guest mapping x access kind x FWB."""
    m = default()
    per_policy = sum(len(d.sources) for d in DEVICES) * len(GUEST_MAPPINGS) * \
        len(DEFAULT_ACCESSES) * 2
    assert len(m.rows) == len(POLICIES) * per_policy
    assert m.policies == tuple(POLICIES) and m.devices == tuple(d.name for d in DEVICES)
    assert len(m.verdicts) == len(POLICIES) * len(DEVICES)
    assert {v.verdict for v in m.verdicts} <= set(VERDICTS)


@pytest.mark.parametrize("policy", POLICIES)
def test_bulk_equals_scalar_over_the_default_matrix(policy: str) -> None:
    """For every cell of the default matrix (one policy at a time), the bulk engine's row is the
    scalar engine's: a new VM per permitted outcome, the walker and KVM's fault path."""
    bulk = [r for r in default().rows if r.policy == policy]
    scalar = build_matrix([policy], engine="scalar", scalar_limit=None).rows
    assert len(bulk) == len(scalar)
    bad = [(b.to_json(), s.to_json()) for b, s in zip(bulk, scalar, strict=True) if b != s]
    assert not bad, bad[:3]


def verdict(policy: str, device: str) -> tuple[str, tuple[str, ...]]:
    v = default().verdict(policy, device)
    return v.verdict, v.hazards


def test_verdicts_follow_the_review() -> None:
    """docs/review.md: PCIe reclaim is ordered (no reclaim hazard on a BAR under 6.9) while a
    platform reset is open; 6.9 puts read-side-effect pages at risk of speculation; GICV is a
    context-switch hazard only where kvm_phys_addr_ioremap maps Normal-NC (v1, v2); v1 breaks
    devices without FWB (the NIC regression); a root complex with all-ones answers never makes
    an uncontained error; the FWB what-ifs give cacheable MMIO; RAM is fine everywhere."""
    assert "reclaim" not in verdict("6.9", "pcie-bar")[1]
    assert "reclaim" in verdict("6.9", "axi")[1]
    assert "speculation" in verdict("6.9", "pcie-regs")[1]
    assert "speculation" not in verdict("6.8", "pcie-regs")[1]
    for p in POLICIES:
        cs = "context-switch" in verdict(p, "gicv")[1]
        assert cs == (p in ("v1", "v2")), p
        assert "uncontained-error" not in verdict(p, "pcie-bar")[1]
        assert verdict(p, "ram")[0] == "ok"
        assert "ifetch-io" not in verdict(p, "pcie-bar")[1]
    assert verdict("v1", "pcie-bar")[0] == "broken"
    assert "without FWB" in default().verdict("v1", "pcie-bar").why
    assert "cacheable-mmio" in verdict("fwb-0b110", "pcie-bar")[1]
    assert "cacheable-mmio" not in verdict("6.9", "pcie-bar")[1]
    assert "uncontained-error" in verdict("6.9", "pcie-rc-abort")[1]
    assert "unaligned-fault" in verdict("6.8", "pcie-bar")[1]
    assert verdict("6.17", "nvgrace-usemem")[0] == "broken"
    assert verdict("6.9", "nvgrace-usemem")[0] == "ok"


def test_cells_say_what_the_review_says() -> None:
    """A few cells, read: case 2 (6.9, ioremap_wc: Normal-NC), case 28 (6.8's stage-2 alignment
    fault, -EFAULT), case 18 (a fetch refused)."""
    m = default()
    r = m.get("6.9", "pcie-bar", "vfio-pci", "ioremap_wc", "str8", True)
    assert r.s2 == "Normal-NC (FWB: NC unless S1 Device)" and r.effective == "Normal-NC"
    assert "mismatched-alias" in r.notes
    r = m.get("6.8", "pcie-bar", "vfio-pci", "ioremap_wc", "str8-unaligned", False)
    assert r.outcome == "alignment fault at stage 2; KVM_RUN -EFAULT (Unsupported FSC)"
    assert r.hazards == ("unaligned-fault",) and r.s2 == "Device-nGnRE"
    r = m.get("6.9", "pcie-bar", "sysfs-resource-wc", "ioremap_wc", "ifetch", True)
    assert "prefetch abort" in r.outcome and r.effective is None


def test_json_contract() -> None:
    """The documented shape (docs/matrix.md#json), and JSON all the way down."""
    doc = json.loads(json.dumps(build_matrix(["6.8", "6.9"], ["pcie-bar", "gicv"]).to_json()))
    assert doc["dimensions"] == {
        "policy": ["6.8", "6.9"], "device": ["pcie-bar", "gicv"],
        "source": ["vfio-pci", "sysfs-resource", "sysfs-resource-wc", "gicv"],
        "guest_mapping": list(GUEST_MAPPINGS), "access": list(DEFAULT_ACCESSES),
        "fwb": [False, True]}
    keys = {"policy", "device", "source", "guest_mapping", "access", "fwb", "s2", "effective",
            "outcome", "hazards"}
    for row in doc["rows"]:
        assert keys <= set(row) and isinstance(row["hazards"], list)
        assert all(h in HAZARDS for h in row["hazards"])
    for v in doc["verdicts"]:
        assert {"policy", "device", "verdict", "hazards", "why"} <= set(v)
        assert v["verdict"] in VERDICTS
    assert set(doc["hazards"]) == set(HAZARDS)
    for h in doc["hazards"].values():
        assert {"title", "citation", "needs"} <= set(h)
        assert h["citation"].startswith("docs/review.md#")
    seen = doc["hazards"]["unaligned-fault"]["seen"]
    assert seen["policy"] == ["6.8", "6.9"] and "pcie-bar" in seen["device"]


def test_filters_and_unknown_names() -> None:
    """--policy/--device (and guest, access) narrow the matrix; an unknown name is a one-line
    ConfigError listing the known ones; two policies of one name are refused."""
    m = build_matrix(["6.9"], ["axi"], guests=["ioremap"], accesses=["str8"], fwb=[True])
    assert [(r.source, r.access) for r in m.rows] == [("vfio-platform", "str8"),
                                                      ("dev-mem", "str8")]
    with pytest.raises(ConfigError, match="device='pci': unknown .*pcie-bar"):
        build_matrix(["6.9"], ["pci"])
    with pytest.raises(ConfigError, match="policy 'nope': unknown"):
        build_matrix(["nope"])
    with pytest.raises(ConfigError, match="guest mapping"):
        build_matrix(["6.9"], guests=["ioremap_xx"])
    with pytest.raises(ConfigError, match="given twice"):
        build_matrix(["6.9", "6.9"])
    with pytest.raises(ConfigError, match="engine=scalar: .* rows"):
        build_matrix(engine="scalar")


HOSTILE = """\
name = "\\u001b[2J<script>alert(1)</script>"
release = "6.9"
[[rule]]
s2 = "DEVICE"
"""


def test_renderers_escape_input() -> None:
    """A policy file refuses a name with control characters or markup; a Policy built through the
    API with one still reaches the text escaped, the HTML entity-escaped, the CSV escaped."""
    from dataclasses import replace

    with pytest.raises(ParseError, match="is not a policy name"):
        loads_policy(HOSTILE, "h.toml")
    pol = replace(loads_policy(HOSTILE.replace("\\u001b[2J<script>alert(1)</script>", "ok"),
                               "h.toml"), name="\x1b[2J<script>alert(1)</script>")
    m = build_matrix([pol], ["pcie-bar"], guests=["ioremap"], accesses=["ldr4"])
    text, page, csv = render_text(m), render_html(m), render_csv(m)
    assert "\x1b" not in text and "\\x1b[2J" in text
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.startswith("<!DOCTYPE html>") and "http" not in page.split("<body>")[0]
    assert "\x1b" not in csv and csv.splitlines()[0] == ",".join(CSV_COLUMNS)
    assert len(csv.splitlines()) == 1 + len(m.rows)


def test_unaligned_fault_only_where_the_driver_expects_normal() -> None:
    """The unaligned-fault hazard is a Normal guest mapping faulting on an odd access: a guest
    with its stage 1 off has Device-nGnRnE data accesses (AArch64.S1DisabledOutput) and an
    ioremap guest asked for Device, so their alignment faults are the type they chose."""
    m = default()
    rows = [r for r in m.rows if r.access == "str8-unaligned" and "alignment fault" in r.outcome]
    by_guest = {r.guest_mapping for r in rows if "unaligned-fault" in r.hazards}
    quiet = {r.guest_mapping for r in rows if "unaligned-fault" not in r.hazards}
    assert "ioremap_wc" in by_guest and {"mmu_off", "ioremap"} <= quiet
    assert not by_guest & {"mmu_off", "ioremap", "ioremap_np"}

"""Each hazard the review named is a documented check (memattr.analysis.hazards): triggered by a
minimal scenario, and absent where docs/review.md says it is absent."""

from __future__ import annotations

import pytest

from memattr.analysis.hazards import HAZARDS, Hazard, context_switch, ordering_verdict, reclaim
from memattr.analysis.policyfile import loads_policy
from memattr.analysis.replay import Result, replay
from memattr.analysis.scenario import loads
from memattr.arch.memtype import NORMAL_NC, DEVICE_nGnRE, DEVICE_nGnRnE
from memattr.linux.policy import register_policy, unregister_policy
from memattr.platform.bus import AxiErrorModel, BusErrorModel, BusKind, PcieErrorModel, ResetPath
from memattr.platform.physmap import Region, RegionKind

PCIE = """\
policies = {policies}
[cpu]
fwb = [false, true]
[[device]]
name = "nic"
kind = "pcie"
[[device.bar]]
index = 0
base = 0x80_0000_0000
size = "1M"
{bar}
[[vmm_mapping]]
name = "bar0"
source = "vfio-pci"
device = "nic"
[[memslot]]
mapping = "bar0"
ipa = 0x10_0000_0000
[[guest_mapping]]
name = "g"
target = "bar0"
api = "{api}"
{access}
"""

PLATFORM = """\
policies = {policies}
[cpu]
fwb = [false, true]
[[device]]
name = "dma"
kind = "platform"
base = 0x0900_0000
size = "64K"
errors = "{errors}"
[[vmm_mapping]]
name = "regs"
source = "vfio-platform"
device = "dma"
{extra}
[[memslot]]
mapping = "regs"
ipa = 0x0a00_0000
[[guest_mapping]]
name = "g"
target = "regs"
api = "{api}"
{access}
"""

GICV = """\
policies = {policies}
[cpu]
fwb = [false, true]
[[device]]
name = "gic"
kind = "gicv2"
base = 0x0804_0000
[[vmm_mapping]]
name = "gicv"
source = "gicv"
device = "gic"
ipa = 0x0801_0000
[[guest_mapping]]
name = "g"
ipa = 0x0801_0000
api = "{api}"
"""


def result(template: str, policy: str, *, fwb: bool = True, **kw: str) -> Result:
    fields = {"bar": "", "access": "", "extra": "", "errors": "uncontained", **kw}
    text = template.format(policies=f'["{policy}"]', **fields)
    return replay(loads(text, "h.toml")).get("g", policy, fwb)


def found(r: Result, hid: str) -> list[Hazard]:
    assert hid in HAZARDS
    return [h for h in r.hazards if h.id == hid]


def one(r: Result, hid: str) -> Hazard:
    (h,) = found(r, hid)
    return h


UNALIGNED = '[[access]]\nmapping = "g"\nop = "write"\nsize = 8\noffset = 4\n'
EXEC = '[[access]]\nmapping = "g"\nop = "exec"\nsize = 4\n'


def test_every_hazard_is_documented() -> None:
    """Each check names its review section, an architecture rule and what it needs."""
    assert set(HAZARDS) == {"reclaim", "context-switch", "uncontained-error", "unaligned-fault",
                            "speculation", "mismatched-alias", "ifetch-io", "cacheable-mmio"}
    for h in HAZARDS.values():
        assert h.citation.startswith("docs/review.md#") and h.architecture and h.needs


# --- reclaim and context switch: explored by the ordering model ------------------------------------


def test_reclaim_pcie_is_ordered_case_21() -> None:
    """docs/review.md#case-21-reclaim-pcie: Normal-NC over PCIe under 6.9, reset by FLR: no
    interleaving lets a write land after the CfgWr (root-complex assumption); reachable only if
    TLBI + DSB left the writes nowhere in particular."""
    h = one(result(PCIE, "6.9", api="ioremap_wc"), "reclaim")
    assert h.level == "ok" and "root complex" in h.text and "CfgWr" in h.text
    assert "nowhere in particular it would be reachable" in h.text


def test_reclaim_platform_reset_case_22() -> None:
    """docs/review.md#case-22-reclaim-platform-device: the flag forced on for a platform device:
    the reset can overtake the write (a witness); SoC-specific; a flushing read orders it."""
    h = one(result(PLATFORM, "6.9", api="ioremap_wc", extra="allow_any_uncached = true"),
            "reclaim")
    assert h.level == "unknown" and "step witness" in h.text
    assert "a flushing read before the reset orders it" in h.text


def test_reset_ordering_by_path() -> None:
    """The facts the bus table used to state, now explored: a PCIe FLR after TLBI + DSB is ordered
    (case 21), a platform reset is SoC-specific (case 22), and with no TLBI + DSB (a vCPU switch)
    a Normal-NC write is not ordered (case 24); Device-nGnRnE is ordered on every path (case 23)."""
    bar = Region(RegionKind.PCIE_BAR, 0, 4096, "bar", errors=PcieErrorModel(),
                 reset=ResetPath.PCIE_FLR)
    amba = Region(RegionKind.AMBA, 0, 4096, "dma", errors=AxiErrorModel(),
                  reset=ResetPath.PLATFORM_RESET)
    gicv = Region(RegionKind.GICV, 0, 4096, "gicv", errors=BusErrorModel(BusKind.GIC))
    assert reclaim(bar, NORMAL_NC).level == "ok"
    assert reclaim(amba, NORMAL_NC).level == "unknown"
    assert reclaim(amba, DEVICE_nGnRnE).level == "ok"
    assert context_switch(gicv, NORMAL_NC).level == "hazard"
    assert context_switch(gicv, DEVICE_nGnRE).level == "ok"
    assert reclaim(gicv, NORMAL_NC) is None  # context-switched, never reset
    v = ordering_verdict(amba, NORMAL_NC)
    assert v is not None and v.reachable and v.witness[-1].after_boundary
    assert v.config.host.value == "platform-reset"
    v = ordering_verdict(bar, NORMAL_NC)
    assert v is not None and not v.reachable and v.config.host.value == "config-reset"


@pytest.mark.parametrize("fwb", [False, True])
def test_context_switch_case_24(fwb: bool) -> None:
    """docs/review.md#case-24-context-switched-peripheral: GICV Normal-NC (v2) can carry guest A's
    write past the switch; 6.9 keeps GICV Device-nGnRE: ordered."""
    h = one(result(GICV, "v2", fwb=fwb, api="ioremap_wc"), "context-switch")
    assert h.level == "hazard" and "after the switch" in h.text and "witness" in h.text
    assert one(result(GICV, "6.9", fwb=fwb, api="ioremap_wc"), "context-switch").level == "ok"


# --- errors, alignment, speculation, aliases, fetches, cacheable MMIO ------------------------------


def test_uncontained_error_by_bus_case_25() -> None:
    """docs/review.md#case-25-error-response-to-a-load: an AXI device whose errors are uncontained
    is a hazard whatever the type; contained is a note; behind a PCIe root complex, all-ones."""
    for api in ("ioremap", "ioremap_wc"):
        assert one(result(PLATFORM, "6.9", api=api), "uncontained-error").level == "hazard"
    assert one(result(PLATFORM, "6.9", api="ioremap", errors="contained"),
               "uncontained-error").level == "note"
    h = one(result(PCIE, "6.9", api="ioremap_wc"), "uncontained-error")
    assert h.level == "ok" and "all-ones" in h.text


@pytest.mark.parametrize("fwb", [False, True])
def test_unaligned_access_that_faults_case_28(fwb: bool) -> None:
    """docs/review.md#case-28-unaligned-store: the driver's Normal-NC mapping over 6.8's stage-2
    Device: the unaligned store faults at stage 2 and kills the VM (-EFAULT) -- a hazard; under
    6.9 it is a TLP with byte enables; a guest Device mapping that faults chose to."""
    h = one(result(PCIE, "6.8", fwb=fwb, api="ioremap_wc", access=UNALIGNED), "unaligned-fault")
    assert h.level == "hazard" and "alignment fault at stage 2" in h.text and "-EFAULT" in h.text
    ok = one(result(PCIE, "6.9", fwb=fwb, api="ioremap_wc", access=UNALIGNED), "unaligned-fault")
    assert ok.level == "ok" and "byte enables" in ok.text and "MemWr 2 DW" in ok.text
    assert not found(result(PCIE, "6.9", fwb=fwb, api="ioremap", access=UNALIGNED),
                     "unaligned-fault")


def test_unaligned_on_axi_is_open() -> None:
    """docs/review.md#unaligned-accesses-and-axi: with the flag forced on, the CPU allows the
    unaligned store; what the AXI slave does was never examined: unknown."""
    h = one(result(PLATFORM, "6.9", api="ioremap_wc", extra="allow_any_uncached = true",
                   access=UNALIGNED), "unaligned-fault")
    assert h.level == "unknown"


def test_speculation_on_read_side_effect_pages() -> None:
    """docs/review.md#speculation-and-read-side-effects: a page with read side effects under the
    guest's Normal-NC (6.9) may be read speculatively; Device (6.8, or the guest's ioremap) not."""
    bar = "read_side_effects = [0]"
    assert one(result(PCIE, "6.9", api="ioremap_wc", bar=bar), "speculation").level == "hazard"
    assert one(result(PCIE, "6.8", api="ioremap_wc", bar=bar), "speculation").level == "ok"
    assert one(result(PCIE, "6.9", api="ioremap", bar=bar), "speculation").level == "ok"
    assert not found(result(PCIE, "6.9", api="ioremap_wc"), "speculation")


def test_mismatched_alias_is_a_note_case_27() -> None:
    """docs/review.md#case-27-mismatched-alias: the VMM's Device-nGnRnE against the guest's
    Normal-NC: a note; under 6.8 both are Device: nothing to say."""
    h = one(result(PCIE, "6.9", api="ioremap_wc"), "mismatched-alias")
    assert h.level == "note" and "no ordering" in h.text
    assert not found(result(PCIE, "6.8", api="ioremap_wc"), "mismatched-alias")


EXEC_IO = """\
name = "exec-io"
release = "6.9"
[[rule]]
when = { linear_map = false }
s2 = "NORMAL"
x = true
[[rule]]
s2 = "NORMAL"
"""


def test_instruction_fetch_from_io_memory_case_18() -> None:
    """docs/review.md#case-18-instruction-fetch-from-a-bar: every kernel refuses (-ENOEXEC); a
    policy that maps IO memory executable lets the fetch reach the device."""
    for policy in ("6.8", "6.9", "6.17"):
        h = one(result(PCIE, policy, api="ioremap_wc", access=EXEC), "ifetch-io")
        assert h.level == "ok" and "-ENOEXEC" in h.text
    register_policy("exec-io", loads_policy(EXEC_IO, "exec-io.toml"))
    try:
        h = one(result(PCIE, "exec-io", api="ioremap_wc", access=EXEC), "ifetch-io")
        assert h.level == "hazard"
    finally:
        unregister_policy("exec-io")


def test_cacheable_mmio_case_8() -> None:
    """docs/review.md#case-8-rejected-alternatives: FWB 0b110 makes the guest's Device mapping of
    the BAR Normal-WB; 6.9 never gives a cacheable view."""
    h = one(result(PCIE, "fwb-0b110", api="ioremap"), "cacheable-mmio")
    assert h.level == "hazard" and "Normal-WB" in h.text
    assert not found(result(PCIE, "6.9", api="ioremap_wc"), "cacheable-mmio")
    assert not found(result(PCIE, "fwb-0b110", fwb=False, api="ioremap"), "cacheable-mmio")

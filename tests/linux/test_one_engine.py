"""One engine: every Linux-model answer is a two-stage walk of the tables the model wrote, and
its decision records are consistent with the outcome (issue 8 items 1 and 2)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memattr.arch.combine import Access, Controls, resolve
from memattr.arch.decision import AslRule, Decision
from memattr.linux import (
    AnonymousRam,
    DevMem,
    GicvInterface,
    HostFeatures,
    MemslotSpec,
    NvgraceRegion,
    PciSysfsResource,
    VfioPciBar,
    VfioPlatformRegion,
    evaluate,
)
from memattr.linux.decisions import KernelRule
from memattr.linux.events import Errno, EventKind
from memattr.linux.kvm.abort import GuestAccess, InstrClass
from memattr.linux.system import Evaluation
from memattr.mmu.walk import walk
from memattr.platform import Platform
from memattr.platform.examples import example_platform

MiB = 1 << 20
PLAT = example_platform()
SOURCES = {
    "vfio-pci": VfioPciBar("nic", 0),
    "nvgrace-resmem": NvgraceRegion("gpu", "resmem", size=2 * MiB),
    "nvgrace-usemem": NvgraceRegion("gpu", "usemem", size=2 * MiB),
    "vfio-platform": VfioPlatformRegion("dma-engine"),
    "sysfs-resource-wc": PciSysfsResource("nic", 0, wc=True),
    "devmem-carveout": DevMem(0x1_0000_0000, MiB),
    "anon-ram": AnonymousRam(2 * MiB),
    "gicv": GicvInterface(),
    "none": None,
}
POLICIES = ["5.10", "6.1", "6.8", "v2", "6.9", "6.12", "6.17", "pcie-only", "mirror-vma",
            "fwb-0b110", "fwb-0b111", "device-gre", "v1", "v3", "v4", "v7"]
GUESTS = ["ioremap", "ioremap_np", "ioremap_wc", "ioremap_cache", "resourceN_wc mmap", "MMU off"]
ACCESSES = {
    "read": GuestAccess.read(8),
    "write": GuestAccess.write(8),
    "unaligned-write": GuestAccess(Access.WRITE, 8, InstrClass.LDR_STR, aligned=False),
    "fetch": GuestAccess.fetch(),
    "ldp": GuestAccess(Access.WRITE, 16, InstrClass.LDP_STP),
    "dc-civac": GuestAccess(Access.READ, 8, InstrClass.CACHE_MAINTENANCE),
    "atomic": GuestAccess(Access.WRITE, 8, InstrClass.ATOMIC),
}


def _run(policy: str, source: str, guest: str, fwb: bool, access: str, plat: Platform = PLAT
         ) -> Evaluation:
    src = SOURCES[source]
    slot = None if source in ("gicv", "none") else MemslotSpec()
    return evaluate(policy, HostFeatures(fwb=fwb), plat, src, slot, guest,
                    access=ACCESSES[access], offset=0x1000 if source != "gicv" else 0)


def expected_outcome(ev: Evaluation) -> object:
    """What the chain must end in, read from the evaluation's observable state."""
    if ev.memslot_rejected:
        return ev.errno
    if ev.stage1_fault is not None:
        return "stage-1 fault"
    tr = ev.translation
    post = ev.abort is not None and not ev.abort.retry and tr is not None
    if tr is not None and not post:
        outs = tr.resolution.outcomes
        return outs[0] if len(outs) == 1 else tuple(outs)
    if any(e.kind is EventKind.IN_KERNEL_MMIO for e in ev.events):
        return "in-kernel MMIO"
    if ev.injected:
        return ev.injected
    if ev.vmm_exit is not None:
        return ev.vmm_exit.reason
    if any(e.kind is EventKind.CACHE_MAINTENANCE_SKIPPED for e in ev.events):
        return "skip"
    return ev.errno


def check(ev: Evaluation) -> None:
    """The answer is a direct walk of the model's tables; the records agree with it."""
    assert ev.decisions, ev.events
    assert all(isinstance(d, Decision) and isinstance(d.rule, (KernelRule, AslRule))
               for d in ev.decisions)
    assert ev.outcome == expected_outcome(ev), (ev.decisions[-1], ev.events)
    if ev.memslot_rejected:
        assert not ev.walks and ev.decisions[-1].rule is KernelRule.kvm_arch_prepare_memory_region
        return
    assert ev.kvm is not None and ev.regime is not None and ev.walks
    last = ev.walks[-1]
    direct = walk(ev.kvm.pgt.mem, ev.regime, last.access)
    assert (direct.fault is None) == (last.fault is None)
    if direct.translation is not None and ev.stage1_fault is not None:
        assert ev.access.instr in (InstrClass.ATOMIC, InstrClass.EXCLUSIVE)  # 0x35 at stage 1
    elif direct.translation is not None and ev.abort is not None and not ev.abort.retry:
        assert ev.abort.fault is not None and ev.abort.fault.kind.value.startswith("unsupported")
    elif direct.translation is not None:
        assert last.translation is not None
        assert direct.translation.resolution.outcomes == last.translation.resolution.outcomes
        assert ev.resolution is not None and ev.resolution.outcomes == \
            direct.translation.resolution.outcomes
        # independently: the S2 descriptor in table memory and the guest's MAIR byte, combined
        hw = ev.kvm.pgt.table.lookup(ev.ipa)
        assert hw is not None and direct.translation.s2_desc == hw.raw
        assert ev.leaf is not None and ev.leaf.descriptor == hw.raw
        memattr = (hw.raw >> 2) & 0xF
        res = resolve(ev.guest.attr if ev.guest.mmu_on else 0xFF, memattr,
                      sh1=ev.guest.sh, sh2=(hw.raw >> 8) & 3,
                      controls=Controls(fwb=ev.host.fwb, m=ev.guest.mmu_on),
                      access=ev.access.access if ev.access.access is not Access.WRITE
                      else Access.WRITE)
        assert res.outcomes == direct.translation.resolution.outcomes
        final = ev.decisions[-1]
        assert final.rule is (AslRule.AArch64_S2ApplyFWBMemAttrs if ev.host.fwb
                              else AslRule.S2CombineS1MemAttrs)
    else:
        assert direct.fault is not None and last.fault is not None
        assert direct.fault.esr == last.fault.esr and direct.fault.stage == last.fault.stage
        if direct.fault.stage == 2:
            assert ev.faults and ev.faults[-1].fsc == direct.fault.fsc
    # no record claims a rule that did not decide
    rules = [d.rule for d in ev.decisions]
    assert rules.count(KernelRule.kvm_handle_guest_abort) >= len(ev.aborts)
    if KernelRule.io_mem_abort in rules:
        assert ev.memslot is None or ev.memslot.readonly or ev.mmio_exit or \
            any(e.kind in (EventKind.NISV_EXIT, EventKind.RUN_FAILED) for e in ev.events)
    for d in ev.decisions:
        if d.rule is KernelRule.stage2_set_prot_attr:
            assert d.result in ("DEVICE_nGnRE", "NORMAL_NC", "NORMAL", Errno.EINVAL)
        if d.rule is KernelRule.user_mem_abort and d.branch == "exec_on_device":
            assert ev.injected == "prefetch abort"


@pytest.mark.parametrize("fwb", [False, True])
@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("policy", ["6.8", "6.9", "6.17"])
def test_every_access_kind_is_a_walk(policy: str, source: str, fwb: bool) -> None:
    """Every access kind over every source: the answer equals a direct two-stage walk."""
    for access in ACCESSES:
        check(_run(policy, source, "ioremap_wc", fwb, access))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy=st.sampled_from(POLICIES), source=st.sampled_from(list(SOURCES)),
       guest=st.sampled_from(GUESTS), fwb=st.booleans(), access=st.sampled_from(list(ACCESSES)))
def test_property_answers_are_walks(policy: str, source: str, guest: str, fwb: bool,
                                   access: str) -> None:
    """policies x sources x guest mappings x FWB x access kinds: each answer is the walk."""
    check(_run(policy, source, guest, fwb, access))

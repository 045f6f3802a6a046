"""Every bundled scenario replays to the answers the worked cases give (docs/review.md#worked-cases).

Each test names its case (a "Case N" heading of docs/review.md); the expected answers are written
from the cases' text (and docs/review.md#who-gets-normal-nc and docs/review.md#later-changes for
sources.toml), not from the implementation.
"""

from __future__ import annotations

from functools import cache

import pytest

from memattr.analysis.replay import Replay, Result, replay
from memattr.analysis.scenario import bundled, bundled_path, load
from memattr.linux.events import Errno, EventKind
from memattr.linux.kvm.pgtable import KVM_PGTABLE_PROT, stage2_set_prot_attr
from memattr.linux.mm import VM_ALLOW_ANY_UNCACHED

FWBS = (False, True)


@cache
def rp(name: str) -> Replay:
    return replay(load(bundled_path(name)))


def get(name: str, mapping: str, policy: str, fwb: bool) -> Result:
    return rp(name).get(mapping, policy, fwb)


def hazard(r: Result, kind: str):
    found = [h for h in r.hazards if h.kind == kind]
    assert len(found) == 1, [str(h) for h in r.hazards]
    return found[0]


def prop(r: Result, name: str) -> str:
    props = r.evaluation.properties
    assert props is not None
    return props[name].value


def test_every_bundled_scenario_loads_and_replays() -> None:
    """Every shipped scenario file loads and replays without error."""
    names = bundled()
    assert "demo" in names and len(names) >= 14
    for name in names:
        assert rp(name).results


# --- core memory-type scenarios -----------------------------------------------------------------


@pytest.mark.parametrize("fwb", FWBS)
def test_case_1_wc_bar_under_6_8_is_device(fwb: bool) -> None:
    """Case 1: S2 Device-nGnRE => eff Device-nGnRE; no gathering; unaligned store faults; no
    speculation."""
    r = get("vfio-pci-bar", "wc", "6.8", fwb)
    assert r.evaluation.s2_kind == "DEVICE_nGnRE"
    assert r.cell == "Device-nGnRE"
    assert prop(r, "gathering") == "no"
    assert prop(r, "speculative reads") == "no"
    store = r.accesses[0]
    assert store.evaluation.alignment is not None and store.evaluation.alignment.faults


@pytest.mark.parametrize("fwb", FWBS)
def test_case_2_wc_bar_under_6_9_is_normal_nc(fwb: bool) -> None:
    """Case 2: S2 Normal-NC, MemAttr 0b0101 with and without FWB => eff Normal-NC: gathering,
    unaligned allowed, speculative reads possible, no caching."""
    r = get("vfio-pci-bar", "wc", "6.9", fwb)
    assert r.evaluation.s2_memattr == 0b0101
    assert r.cell == "Normal-NC"
    assert prop(r, "gathering") == "yes"
    assert prop(r, "speculative reads") == "yes"
    assert prop(r, "cacheable") == "no"
    assert prop(r, "unaligned data access").startswith("allowed")
    store = r.accesses[0]
    assert store.evaluation.alignment is not None and not store.evaluation.alignment.faults
    assert store.outcome.startswith("unaligned write completes")


@pytest.mark.parametrize("fwb", FWBS)
def test_case_3_s1_device_wins_over_s2_nc(fwb: bool) -> None:
    """Case 3: ioremap => Device-nGnRE, ioremap_np => Device-nGnRnE under 6.9."""
    assert get("vfio-pci-bar", "device", "6.9", fwb).cell == "Device-nGnRE"
    assert get("vfio-pci-bar", "non-posted", "6.9", fwb).cell == "Device-nGnRnE"


@pytest.mark.parametrize("fwb", FWBS)
def test_case_4_guest_wb_on_bar(fwb: bool) -> None:
    """Case 4: guest Normal-WB on a BAR => Normal-NC under 6.9 (no caching); Device-nGnRE under
    6.8."""
    r = get("vfio-pci-bar", "wb", "6.9", fwb)
    assert r.cell == "Normal-NC"
    assert prop(r, "cacheable") == "no"
    assert get("vfio-pci-bar", "wb", "6.8", fwb).cell == "Device-nGnRE"


@pytest.mark.parametrize("fwb", FWBS)
def test_case_6_guest_mmu_off(fwb: bool) -> None:
    """Case 6: guest MMU off, 6.9 => data accesses Device-nGnRnE whatever S2 says (S2 NC)."""
    r = get("mmu-off", "bar", "6.9", fwb)
    assert r.evaluation.s2_memattr == 0b0101
    assert r.cell == "Device-nGnRnE"


def test_case_8_fwb_0b110_breaks_mmio() -> None:
    """Case 8: FWB S2 0b0110 makes an S1 Device mapping Normal-WB, which breaks MMIO."""
    r = get("rejected-alternatives", "ioremap", "fwb-0b110", True)
    assert r.evaluation.s2_memattr == 0b0110
    assert r.cell == "Normal-WB"
    assert hazard(r, "cacheable MMIO").level == "hazard"


def test_case_8_fwb_0b111_passes_s1_through() -> None:
    """Case 8: FWB S2 0b0111 passes S1 through: a cacheable or MTE-tagged view of MMIO."""
    wb = get("rejected-alternatives", "wb", "fwb-0b111", True)
    assert wb.evaluation.s2_memattr == 0b0111
    assert wb.evaluation.effective is not None and wb.evaluation.effective.is_cacheable
    assert hazard(wb, "cacheable MMIO").level == "hazard"
    tagged = get("rejected-alternatives", "tagged", "fwb-0b111", True)
    assert tagged.evaluation.effective is not None and tagged.evaluation.effective.tagged
    # and the S1 Device mapping stays Device: pass-through means S1 decides
    assert get("rejected-alternatives", "ioremap", "fwb-0b111", True).cell == "Device-nGnRE"


def test_case_8_device_gre_blocks_unaligned() -> None:
    """Case 8: S2 Device-GRE blocks unaligned accesses."""
    r = get("rejected-alternatives", "wc", "device-gre", True)
    assert r.cell == "Device-GRE"
    store = r.accesses[0]
    assert store.evaluation.alignment is not None and store.evaluation.alignment.stage == 2
    # under the merged 6.9 policy the same store is allowed
    ok = get("rejected-alternatives", "wc", "6.9", True).accesses[0]
    assert ok.evaluation.alignment is not None and not ok.evaluation.alignment.faults


@pytest.mark.parametrize("fwb", FWBS)
def test_case_9_hcr_cd_makes_non_device_nc(fwb: bool) -> None:
    """Case 9: HCR_EL2.CD set => any non-Device result becomes NC; Device stays Device."""
    assert get("hcr-cd", "ram-wb", "6.9", fwb).cell == "Normal-NC"
    assert get("hcr-cd", "bar-wc", "6.9", fwb).cell == "Normal-NC"
    assert get("hcr-cd", "bar-device", "6.9", fwb).cell == "Device-nGnRE"


# --- gating -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fwb", FWBS)
def test_case_10_vfio_platform_stays_device(fwb: bool) -> None:
    """Case 10: vfio-platform region, 6.9 (no VM_ALLOW_ANY_UNCACHED) => S2 Device-nGnRE; guest
    ioremap_wc yields Device-nGnRE."""
    r = get("gating", "platform-wc", "6.9", fwb)
    assert r.evaluation.vma is not None
    assert not r.evaluation.vma.vm_flags & VM_ALLOW_ANY_UNCACHED
    assert r.evaluation.s2_kind == "DEVICE_nGnRE"
    assert r.evaluation.s2_memattr == 0b0001
    assert r.cell == "Device-nGnRE"


@pytest.mark.parametrize("fwb", FWBS)
@pytest.mark.parametrize("policy", ["6.8", "6.9", "6.17"])
def test_case_11_gicv_stays_device(policy: str, fwb: bool) -> None:
    """Case 11: GICV mapped by kvm_phys_addr_ioremap, any policy => S2 Device-nGnRE; a guest NC
    mapping still yields Device-nGnRE."""
    r = get("gating", "gicv-wc", policy, fwb)
    assert r.evaluation.vma is None
    assert r.evaluation.s2_kind == "DEVICE_nGnRE"
    assert r.cell == "Device-nGnRE"


@pytest.mark.parametrize("fwb", FWBS)
def test_case_11_gicv_under_v2_would_be_nc(fwb: bool) -> None:
    """Case 11 (negative test): under the never-merged v2, GICV would have been Normal-NC."""
    r = get("gating", "gicv-wc", "v2", fwb)
    assert r.evaluation.s2_kind == "NORMAL_NC"
    assert r.cell == "Normal-NC"


@pytest.mark.parametrize("policy", ["6.8", "6.9", "6.17", "v2"])
def test_case_15_guest_ram(policy: str) -> None:
    """Case 15: guest RAM, any policy => S2 Normal; with FWB forced WB even if the guest maps it
    Device or NC; without FWB it combines with S1 and KVM does cache maintenance on map."""
    for fwb in FWBS:
        for name in ("ram-wb", "ram-device", "ram-nc"):
            assert get("gating", name, policy, fwb).evaluation.s2_kind == "NORMAL"
    for name in ("ram-wb", "ram-device", "ram-nc"):
        assert get("gating", name, policy, True).cell == "Normal-WB"
    assert get("gating", "ram-wb", policy, False).cell == "Normal-WB"
    assert get("gating", "ram-device", policy, False).cell == "Device-nGnRE"
    assert get("gating", "ram-nc", policy, False).cell == "Normal-NC"

    def cmo(fwb: bool) -> bool:
        evs = get("gating", "ram-wb", policy, fwb).evaluation.events
        return any("clean_dcache_guest_page" in e.text for e in evs)

    assert cmo(False) and not cmo(True)


@pytest.mark.parametrize("fwb", FWBS)
def test_case_16_32bit_kernel_never_relaxes(fwb: bool) -> None:
    """Case 16: VM_ALLOW_ANY_UNCACHED == VM_NONE without 64-bit, so a vfio-pci BAR is never
    relaxed."""
    r = get("word-size-32", "wc", "6.9", fwb)
    assert r.evaluation.vma is not None
    assert not r.evaluation.vma.vm_flags & VM_ALLOW_ANY_UNCACHED
    assert r.cell == "Device-nGnRE"


# --- exec rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fwb", FWBS)
@pytest.mark.parametrize("policy", ["6.8", "6.9"])
def test_case_18_exec_from_bar(policy: str, fwb: bool) -> None:
    """Case 18: instruction fetch from a vfio-pci BAR => no mapping, -ENOEXEC, injected prefetch
    abort; the same under 6.8."""
    fetch = get("exec", "bar", policy, fwb).accesses[0]
    e = fetch.evaluation
    assert e.leaf is None
    assert any(ev.errno is Errno.ENOEXEC for ev in fetch.events)
    assert any(ev.kind is EventKind.PREFETCH_ABORT_INJECTED for ev in fetch.events)
    assert e.injected == "prefetch abort"


@pytest.mark.parametrize("fwb", FWBS)
@pytest.mark.parametrize("prot", [
    KVM_PGTABLE_PROT.R | KVM_PGTABLE_PROT.X | KVM_PGTABLE_PROT.DEVICE,
    KVM_PGTABLE_PROT.R | KVM_PGTABLE_PROT.X | KVM_PGTABLE_PROT.NORMAL_NC,
    KVM_PGTABLE_PROT.R | KVM_PGTABLE_PROT.DEVICE | KVM_PGTABLE_PROT.NORMAL_NC,
])
def test_case_19_x_with_device_or_nc_is_einval(prot: KVM_PGTABLE_PROT, fwb: bool) -> None:
    """Case 19: X together with DEVICE or NORMAL_NC => -EINVAL from stage2_set_prot_attr.

    user_mem_abort never builds these (it returns -ENOEXEC first), so no scenario file reaches
    them; the Linux model's stage2_set_prot_attr is checked directly.
    """
    assert stage2_set_prot_attr(prot, fwb=fwb).errno is Errno.EINVAL


# --- ordering / reclaim / context switch --------------------------------------------------------


@pytest.mark.parametrize("fwb", FWBS)
def test_case_21_reclaim_pcie_is_ordered(fwb: bool) -> None:
    """Case 21: PCIe reclaim: the reset is not observed before the earlier posted NC writes."""
    r = get("reclaim", "pcie-wc", "6.9", fwb)
    assert r.cell == "Normal-NC"
    h = hazard(r, "reclaim")
    assert h.level == "ok"
    assert "root complex" in h.text


@pytest.mark.parametrize("fwb", FWBS)
def test_case_22_reclaim_platform_is_unknown(fwb: bool) -> None:
    """Case 22: a platform device with the flag forced on: ordering not guaranteed, unknown /
    SoC-specific, a flushing read is needed."""
    r = get("reclaim", "platform-wc", "6.9", fwb)
    assert r.cell == "Normal-NC"
    h = hazard(r, "reclaim")
    assert h.level == "unknown"
    assert "flushing read" in h.text


def test_case_23_what_each_type_needs_on_reclaim() -> None:
    """Case 23: nGnRnE + DSB gives end-point completion; nGnRE needs a read-back (plus a DMB);
    NC needs TLBI + DSB to reach the serialisation point, same-address ordering only."""
    np_ = hazard(get("reclaim", "pcie-np", "6.9", True), "reclaim").text
    assert "end-point completion" in np_ and "DSB" in np_
    dev = hazard(get("reclaim", "pcie-device", "6.9", True), "reclaim").text
    assert "read-back" in dev and "DMB" in dev
    nc = hazard(get("reclaim", "pcie-wc", "6.9", True), "reclaim").text
    assert "TLBI + DSB" in nc and "serialisation point" in nc and "same-address" in nc


@pytest.mark.parametrize("fwb", FWBS)
def test_case_24_context_switched_peripheral(fwb: bool) -> None:
    """Case 24: GICV with NC (the exclusion removed, v2) shows the context-switch hazard; with the
    exclusion (6.9) there is none."""
    assert hazard(get("context-switch", "gicv-wc", "6.9", fwb), "context switch").level == "ok"
    h = hazard(get("context-switch", "gicv-wc", "v2", fwb), "context switch")
    assert h.level == "hazard"
    assert "after the switch" in h.text


# --- errors, speculation, aliases, alignment ----------------------------------------------------


def test_case_25_error_response() -> None:
    """Case 25: PCIe gives all-ones and no error whatever the type; on AXI a Device access gives
    an asynchronous SError, NC is potentially containable; containment is the platform's."""
    for name in ("pcie-device", "pcie-wc"):
        h = hazard(get("error-response", name, "6.9", True), "error response")
        assert h.level == "ok" and "all-ones" in h.text
    for name in ("contained-device", "contained-wc"):
        h = hazard(get("error-response", name, "6.9", True), "error response")
        assert h.level == "note" and ", contained (platform parameter)" in h.text
    for name in ("uncontained-device", "uncontained-wc"):
        h = hazard(get("error-response", name, "6.9", True), "error response")
        assert h.level == "hazard" and ", uncontained (platform parameter)" in h.text
    dev = hazard(get("error-response", "uncontained-device", "6.9", True), "error response")
    assert get("error-response", "uncontained-device", "6.9", True).cell == "Device-nGnRE"
    assert "SError" in dev.text and "asynchronous" in dev.text
    nc = hazard(get("error-response", "uncontained-wc", "6.9", True), "error response")
    assert get("error-response", "uncontained-wc", "6.9", True).cell == "Normal-NC"
    assert "potentially containable" in nc.text


def test_case_27_mismatched_alias() -> None:
    """Case 27: VMM S1 Device-nGnRnE and guest Normal-NC on the same page: each stream keeps its
    own properties; no ordering between VMM and guest accesses."""
    r = get("alias-speculation", "wc", "6.9", True)
    vmm = r.evaluation.vmm_s1
    assert vmm is not None and vmm.short == "Device-nGnRnE"
    assert r.cell == "Normal-NC"
    h = hazard(r, "mismatched alias")
    assert "own properties" in h.text and "no ordering" in h.text


def test_speculation_on_read_side_effect_page() -> None:
    """Linux.md 3.8: Normal-NC permits speculative reads of a page with read side effects; a
    guest Device mapping of that page does not."""
    assert hazard(get("alias-speculation", "side-effects-wc", "6.9", True),
                  "speculation").level == "hazard"
    assert hazard(get("alias-speculation", "side-effects-device", "6.9", True),
                  "speculation").level == "ok"
    assert hazard(get("alias-speculation", "side-effects-wc", "6.8", True),
                  "speculation").level == "ok"
    assert not [h for h in get("alias-speculation", "wc", "6.9", True).hazards
                if h.kind == "speculation"]


@pytest.mark.parametrize("fwb", FWBS)
def test_case_28_unaligned_store(fwb: bool) -> None:
    """Case 28: S2 Device gives a stage-2 alignment fault (EL2) even with guest NC; guest Device
    over S2 NC gives a stage-1 fault (guest EL1); NC+NC is allowed, a TLP with byte enables on
    PCIe, unknown on AXI."""
    s2dev = get("unaligned", "pcie-wc", "6.8", fwb).accesses[0]
    assert s2dev.evaluation.alignment is not None and s2dev.evaluation.alignment.stage == 2
    assert any(e.errno is Errno.EFAULT for e in s2dev.events)
    s1dev = get("unaligned", "pcie-device", "6.9", fwb).accesses[0]
    assert s1dev.evaluation.alignment is not None and s1dev.evaluation.alignment.stage == 1
    assert "EL1" in s1dev.outcome
    nc = get("unaligned", "pcie-wc", "6.9", fwb)
    assert nc.accesses[0].evaluation.alignment is not None
    assert not nc.accesses[0].evaluation.alignment.faults
    assert "byte enables" in hazard(nc, "unaligned").text
    axi = get("unaligned", "axi-wc", "6.9", fwb)
    assert axi.cell == "Normal-NC"
    assert hazard(axi, "unaligned").level == "unknown"


@pytest.mark.parametrize("policy", ["6.8", "6.9"])
def test_case_29_no_memslot_is_mmio_exit(policy: str) -> None:
    """Case 29: an IPA with no memslot => MMIO exit; the S2 type does not apply; without a valid
    ISV KVM cannot decode the access."""
    r = get("mmio-exit", "msix-table", policy, True)
    assert r.evaluation.s2_memattr is None
    good, pair = r.accesses
    assert any(e.kind is EventKind.MMIO_EXIT for e in good.events)
    assert not any(e.kind is EventKind.MMIO_EXIT for e in pair.events)
    assert any(e.errno is not None for e in pair.events)


# --- the other sources (docs/review.md#who-gets-normal-nc, docs/review.md#later-changes) --------


@pytest.mark.parametrize("fwb", FWBS)
def test_sources_that_stay_device(fwb: bool) -> None:
    """Linux.md 2.1: /dev/mem and PCI sysfs resourceN / resourceN_wc handed to KVM stay
    Device-nGnRE at stage 2 (no VM_ALLOW_ANY_UNCACHED)."""
    for policy in ("6.9", "6.17"):
        for name in ("sysfs-res-wc", "sysfs-res-wc-wc", "devmem-wc"):
            r = get("sources", name, policy, fwb)
            assert r.evaluation.s2_kind == "DEVICE_nGnRE", (name, policy)
            assert r.cell == "Device-nGnRE"


@pytest.mark.parametrize("fwb", FWBS)
def test_nvgrace_resmem_is_nc(fwb: bool) -> None:
    """Linux.md 2.1: nvgrace-gpu resmem (flagged, pgprot_writecombine) is Normal-NC from 6.9."""
    r = get("sources", "resmem-wc", "6.9", fwb)
    assert r.evaluation.s2_kind == "NORMAL_NC"
    assert r.cell == "Normal-NC"


def test_nvgrace_usemem_by_release() -> None:
    """Linux.md 2.1 / 2.7: usemem is Device-nGnRE before 6.17; from 6.17 cacheable with FWB and
    DIC (S2 Normal, forced WB), and -EINVAL at memslot creation without FWB."""
    for fwb in FWBS:
        assert get("sources", "usemem-wb", "6.9", fwb).cell == "Device-nGnRE"
    ok = get("sources", "usemem-wb", "6.17", True)
    assert ok.evaluation.s2_kind == "NORMAL"
    assert ok.cell == "Normal-WB"
    bad = get("sources", "usemem-wb", "6.17", False)
    assert bad.evaluation.errno is Errno.EINVAL
    assert any(e.kind is EventKind.MEMSLOT_REJECTED for e in bad.evaluation.events)


def test_hugetlb_ram_is_normal() -> None:
    """Hugetlb guest RAM is ordinary memory: S2 Normal, Normal-WB for a WB guest mapping."""
    for fwb in FWBS:
        r = get("sources", "hugetlb-wb", "6.9", fwb)
        assert r.evaluation.s2_kind == "NORMAL"
        assert r.cell == "Normal-WB"


# --- the Linux model's wider reach (issue 10 item 5) ------------------------------------------


BLOB_POLICIES = ("6.8", "6.9", "6.13", "6.17")


@pytest.mark.parametrize("policy", BLOB_POLICIES)
def test_virtio_gpu_blob_stays_device(policy: str) -> None:
    """A virtio-gpu blob (the host DRM driver's write-combined PFN map, no VM_ALLOW_ANY_UNCACHED)
    is Device-nGnRE at stage 2 in every release, 6.9 on included; Mesa's unaligned store pair
    takes a stage-2 alignment fault, KVM logs "Unsupported FSC: EC=0x24 xFSC=0x21
    ESR_EL2=0x92000061" and KVM_RUN fails with -EFAULT ("kvm run failed Bad address") -- the
    values of Alex Bennée's report on a 6.13 host (qemu-devel, 27 Jan 2025,
    tests/data/log_qemu_devel_bennee_virtio_gpu_6.13_qp.eml)."""
    r = get("virtio-gpu-blob", "blob (wc)", policy, True)
    assert r.evaluation.vma is not None
    assert not r.evaluation.vma.vm_flags & VM_ALLOW_ANY_UNCACHED
    assert r.evaluation.vma.vm_page_prot.mt_name == "MT_NORMAL_NC"
    assert r.evaluation.s2_kind == "DEVICE_nGnRE" and r.cell == "Device-nGnRE"
    store = r.accesses[0]
    assert store.outcome == "alignment fault at stage 2 (EL2): KVM_RUN -EFAULT"
    assert 0x92000061 in [f.esr for f in store.evaluation.faults]
    assert any("Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061" in line
               for line in store.evaluation.log)
    assert store.evaluation.errno is Errno.EFAULT


def test_virtio_gpu_blob_versus_a_vfio_pci_bar() -> None:
    """The same store into a vfio-pci BAR: Device-nGnRE and the same fault under 6.8, Normal-NC
    from 6.9 (the BAR's VMA carries VM_ALLOW_ANY_UNCACHED) and the store completes."""
    old = get("virtio-gpu-blob", "nic BAR (wc)", "6.8", True)
    assert old.cell == "Device-nGnRE"
    assert old.accesses[0].outcome == "alignment fault at stage 2 (EL2): KVM_RUN -EFAULT"
    for policy in BLOB_POLICIES[1:]:
        new = get("virtio-gpu-blob", "nic BAR (wc)", policy, True)
        assert new.cell == "Normal-NC"
        assert new.accesses[0].outcome == "unaligned write completes as Normal-NC"


@pytest.mark.parametrize("policy", ("6.8", "6.9", "6.17"))
def test_reset_and_revoke_between_accesses(policy: str) -> None:
    """Memory decode disabled: vfio_pci_zap_bars, the MMU notifier's stage-2 unmap, then the next
    access faults, vfio-pci's fault handler answers VM_FAULT_SIGBUS and KVM_RUN is -EFAULT; with
    memory decode enabled again the next fault maps the BAR again.  A function reset revokes the
    same way (docs/linux-versions.md#reset-and-revoke)."""
    r = get("reset-revoke", "registers", policy, True)
    before, revoked, restored = r.accesses
    assert before.outcome == "read completes as Device-nGnRE"
    assert revoked.outcome == "KVM_RUN -EFAULT"
    kinds = [e.kind for e in revoked.events]
    assert kinds.index(EventKind.VMA_ZAPPED) < kinds.index(EventKind.STAGE2_UNMAPPED) \
        < kinds.index(EventKind.RUN_FAILED)
    assert restored.outcome == "read completes as Device-nGnRE"
    assert EventKind.MEMORY_DECODE in [e.kind for e in restored.events]
    assert all(e.errno is None for e in restored.events)
    d = get("reset-revoke", "doorbells", policy, True)
    assert d.accesses[0].evaluation.errno is None
    assert d.accesses[1].outcome == "KVM_RUN -EFAULT"
    reset = [e.kind for e in d.accesses[1].events]
    assert reset.index(EventKind.DEVICE_RESET) < reset.index(EventKind.VMA_ZAPPED) \
        < reset.index(EventKind.RUN_FAILED)


@pytest.mark.parametrize("fwb", FWBS)
def test_sub_page_bar_is_one_page(fwb: bool) -> None:
    """A 256-byte BAR at a page start: vfio_pci_probe_mmaps reserves the rest of the page, the
    VMM's mmap covers that page and KVM maps one 4 KiB leaf; the type follows the release as for
    any vfio-pci BAR (Device-nGnRE under 6.8, Normal-NC for a WC guest mapping from 6.9)."""
    for policy, wc in (("6.8", "Device-nGnRE"), ("6.9", "Normal-NC")):
        r = get("sub-page-bar", "registers (wc)", policy, fwb)
        ev = r.evaluation
        assert ev.vma is not None and ev.vma.size == 0x1000
        assert ev.leaf is not None and ev.leaf.size == 0x1000
        assert any(d.branch == "sub_page_reserved" for d in ev.decisions)
        assert r.cell == wc
        assert get("sub-page-bar", "registers", policy, fwb).cell == "Device-nGnRE"


def test_guest_ipa_size_too_small_for_big_bars() -> None:
    """Four 256 GiB BARs above guest RAM in a 40-bit IPA space: the three that end at or below
    2^40 are mapped, the fourth memslot is refused with -EFAULT (kvm_arch_prepare_memory_region);
    in a VM created with a 42-bit IPA space all four are mapped."""
    from memattr.linux.kvm.features import VmConfig

    sc = load(bundled_path("ipa-size"))
    assert sc.vm.ipa_bits == 40 and sc.host.ipa_limit == 48
    for i in range(3):
        assert get("ipa-size", f"gpu{i} BAR (wc)", "6.9", True).cell == "Normal-NC"
    last = get("ipa-size", "gpu3 BAR (wc)", "6.9", True)
    assert last.evaluation.memslot_rejected and last.evaluation.errno is Errno.EFAULT
    assert last.cell == "-EFAULT"
    wide = replay(sc, vm=VmConfig(ipa_bits=42))
    assert all(r.cell == "Normal-NC" for r in wide.results)

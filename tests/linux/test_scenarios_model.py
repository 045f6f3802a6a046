"""The worked cases 1-4, 6, 8-11, 15, 16, 18, 19 and 29 of docs/review.md at the model level, plus
the nvgrace-gpu usemem cases of docs/review.md#later-changes (the scenario files replay the same
cases from TOML)."""

from __future__ import annotations

import pytest

from memattr.arch.combine import Access
from memattr.linux import (
    KVM_PGTABLE_PROT,
    AnonymousRam,
    Errno,
    EventKind,
    GicvInterface,
    GuestAccess,
    HostFeatures,
    InstrClass,
    LinuxGuest,
    MemslotSpec,
    NvgraceRegion,
    VfioPciBar,
    VfioPlatformRegion,
    VmConfig,
    evaluate,
    raw_guest,
    stage2_set_prot_attr,
)
from memattr.linux.kvm import PgtableVariant
from memattr.platform import Platform

BAR = VfioPciBar("nic", 0)
G = LinuxGuest()
FWBS = pytest.mark.parametrize("fwb", [False, True], ids=["nofwb", "fwb"])
UNALIGNED_STORE = GuestAccess(Access.WRITE, 8, InstrClass.LDR_STR, aligned=False)


@FWBS
def test_case1_prefetchable_bar_wc_under_6_8(plat: Platform, fwb: bool) -> None:
    """Case 1: ioremap_wc over a vfio-pci BAR under 6.8 is Device-nGnRE: no gathering, no
    speculation, and an unaligned store takes an alignment fault (at stage 2)."""
    ev = evaluate("6.8", HostFeatures(fwb=fwb), plat, BAR, MemslotSpec(), G.ioremap_wc())
    assert ev.s2_kind == "DEVICE_nGnRE" and ev.s2_memattr == 0b0001
    assert ev.effective is not None and ev.effective.short == "Device-nGnRE"
    props = ev.properties
    assert props is not None
    assert props["gathering"].value == "no"
    assert props["speculative reads"].value == "no"
    ua = evaluate("6.8", HostFeatures(fwb=fwb), plat, BAR, MemslotSpec(), G.ioremap_wc(),
                  access=UNALIGNED_STORE)
    assert ua.alignment is not None and ua.alignment.stage == 2


@FWBS
def test_case2_same_under_6_9(plat: Platform, fwb: bool) -> None:
    """Case 2: under 6.9 the BAR is S2 Normal-NC (0b0101 with and without FWB): effective
    Normal-NC, gathering, unaligned allowed, speculative reads possible, not cacheable."""
    ev = evaluate("6.9", HostFeatures(fwb=fwb), plat, BAR, MemslotSpec(), G.ioremap_wc(),
                  access=UNALIGNED_STORE)
    assert ev.s2_kind == "NORMAL_NC" and ev.s2_memattr == 0b0101
    assert ev.effective is not None and ev.effective.short == "Normal-NC"
    props = ev.properties
    assert props is not None
    assert props["gathering"].value == "yes"
    assert props["speculative reads"].value == "yes"
    assert props["cacheable"].value == "no"
    assert props["unaligned data access"].value.startswith("allowed")
    assert ev.alignment is not None and not ev.alignment.faults


@FWBS
@pytest.mark.parametrize(("guest", "want"), [("ioremap", "Device-nGnRE"),
                                             ("ioremap_np", "Device-nGnRnE")])
def test_case3_s1_device_wins_over_s2_nc(plat: Platform, fwb: bool, guest: str, want: str) -> None:
    """Case 3: a guest Device mapping over S2 Normal-NC keeps the guest's Device type."""
    ev = evaluate("6.9", HostFeatures(fwb=fwb), plat, BAR, MemslotSpec(), guest)
    assert ev.effective is not None and ev.effective.short == want


@FWBS
def test_case4_guest_wb_over_bar(plat: Platform, fwb: bool) -> None:
    """Case 4: memremap(WB) of a BAR is Normal-NC under 6.9 (cacheability stripped) and
    Device-nGnRE under 6.8."""
    for policy, want in (("6.9", "Normal-NC"), ("6.8", "Device-nGnRE")):
        ev = evaluate(policy, HostFeatures(fwb=fwb), plat, BAR, MemslotSpec(), G.memremap("WB"))
        assert ev.effective is not None and ev.effective.short == want
        assert not ev.effective.is_cacheable


@FWBS
@pytest.mark.parametrize("policy", ["6.8", "6.9", "6.17", "v2"])
def test_case6_guest_mmu_off(plat: Platform, fwb: bool, policy: str) -> None:
    """Case 6: with the guest MMU off, data accesses to the BAR are Device-nGnRnE whatever S2."""
    ev = evaluate(policy, HostFeatures(fwb=fwb), plat, BAR, MemslotSpec(), G.mmu_off())
    assert ev.effective is not None and ev.effective.short == "Device-nGnRnE"


def test_case8_rejected_alternatives(plat: Platform) -> None:
    """Case 8: FWB 0b110 makes S1 Device Normal-WB; 0b111 lets the guest map MMIO cacheable
    (or MTE-tagged); Device-GRE blocks unaligned accesses."""
    host = HostFeatures(fwb=True)
    ev = evaluate("fwb-0b110", host, plat, BAR, MemslotSpec(), G.ioremap())
    assert ev.s2_memattr == 0b0110 and ev.effective is not None
    assert ev.effective.short == "Normal-WB"
    ev = evaluate("fwb-0b111", host, plat, BAR, MemslotSpec(), G.memremap("WB"))
    assert ev.s2_memattr == 0b0111 and ev.effective is not None and ev.effective.is_cacheable
    tagged = raw_guest(attr=0xF0)
    ev = evaluate("fwb-0b111", HostFeatures(fwb=True, mte=True), plat, BAR, MemslotSpec(), tagged)
    assert ev.effective is not None and ev.effective.tagged
    ev = evaluate("device-gre", host, plat, BAR, MemslotSpec(), G.ioremap_wc(),
                  access=UNALIGNED_STORE)
    assert ev.effective is not None and ev.effective.short == "Device-GRE"
    assert ev.alignment is not None and ev.alignment.stage == 2


@FWBS
def test_case9_hcr_cd(plat: Platform, fwb: bool) -> None:
    """Case 9: with HCR_EL2.CD set, a non-Device result becomes NC (guest RAM mapped WB)."""
    ev = evaluate("6.9", HostFeatures(fwb=fwb), plat, AnonymousRam(2 << 20), MemslotSpec(),
                  G.memremap("WB"), cd=True)
    assert ev.effective is not None and ev.effective.short == "Normal-NC"
    ev = evaluate("6.9", HostFeatures(fwb=fwb), plat, AnonymousRam(2 << 20), MemslotSpec(),
                  G.ioremap(), cd=True)
    assert ev.effective is not None
    assert ev.effective.short == ("Normal-NC" if fwb else "Device-nGnRE")


@FWBS
def test_case10_vfio_platform_stays_device(plat: Platform, fwb: bool) -> None:
    """Case 10: a vfio-platform region has no VM_ALLOW_ANY_UNCACHED: S2 Device-nGnRE under 6.9,
    so the guest's ioremap_wc is Device-nGnRE."""
    ev = evaluate("6.9", HostFeatures(fwb=fwb), plat, VfioPlatformRegion("dma-engine"),
                  MemslotSpec(), G.ioremap_wc())
    assert ev.vma is not None and not ev.vma.vm_flags & (1 << 39)
    assert ev.s2_kind == "DEVICE_nGnRE"
    assert ev.effective is not None and ev.effective.short == "Device-nGnRE"


@FWBS
@pytest.mark.parametrize("policy", ["6.8", "6.9", "6.17", "pcie-only", "mirror-vma", "fwb-0b110",
                                    "fwb-0b111", "device-gre"])
def test_case11_gicv_stays_device(plat: Platform, fwb: bool, policy: str) -> None:
    """Case 11: GICV via kvm_phys_addr_ioremap is S2 Device-nGnRE under every merged policy and
    what-if; a guest NC mapping still yields Device-nGnRE."""
    ev = evaluate(policy, HostFeatures(fwb=fwb), plat, GicvInterface(), None, G.ioremap_wc())
    assert ev.vma is None and ev.vmm_s1 is None
    assert ev.s2_kind == "DEVICE_nGnRE" and ev.s2_memattr == 0b0001
    assert ev.effective is not None and ev.effective.short == "Device-nGnRE"


@FWBS
def test_case11_negative_v2_makes_gicv_nc(plat: Platform, fwb: bool) -> None:
    """Case 11 (negative): the never-merged v2 would have made GICV Normal-NC."""
    ev = evaluate("v2", HostFeatures(fwb=fwb), plat, GicvInterface(), None, G.ioremap_wc())
    assert ev.s2_kind == "NORMAL_NC"
    assert ev.effective is not None and ev.effective.short == "Normal-NC"


@pytest.mark.parametrize("guest", ["ioremap", "ioremap_np", "ioremap_wc", "memremap(MEMREMAP_WB)"])
def test_case15_ram_fwb_forces_wb(plat: Platform, guest: str) -> None:
    """Case 15: guest RAM is S2 Normal; with FWB it is WB whatever the guest maps; without FWB it
    combines with S1 and KVM cleans the D-cache on map."""
    for policy in ("6.8", "6.9", "6.17"):
        ev = evaluate(policy, HostFeatures(fwb=True), plat, AnonymousRam(2 << 20), MemslotSpec(),
                      guest)
        assert ev.s2_kind == "NORMAL" and ev.s2_memattr == 0b0110
        assert ev.effective is not None and ev.effective.short == "Normal-WB"
        ev = evaluate(policy, HostFeatures(fwb=False), plat, AnonymousRam(2 << 20), MemslotSpec(),
                      guest)
        assert ev.s2_memattr == 0b1111
        assert ev.guest_s1 is not None and ev.effective is not None
        assert ev.effective.short == ev.guest_s1.short
        assert any("clean_dcache_guest_page" in e.text for e in ev.events)


def test_case16_flag_is_vm_none_on_32bit(plat: Platform) -> None:
    """Case 16: on a 32-bit kernel VM_ALLOW_ANY_UNCACHED is VM_NONE, so vfio-pci is never
    relaxed: S2 Device-nGnRE under 6.9."""
    ev = evaluate("6.9", HostFeatures(bits=32), plat, BAR, MemslotSpec(), G.ioremap_wc())
    assert ev.vma is not None and ev.vma.vm_flags >> 32 == 0
    assert ev.s2_kind == "DEVICE_nGnRE"
    assert ev.effective is not None and ev.effective.short == "Device-nGnRE"


@FWBS
@pytest.mark.parametrize("policy", ["6.8", "6.9", "6.17", "v2"])
def test_case18_exec_from_bar(plat: Platform, fwb: bool, policy: str) -> None:
    """Case 18: an instruction fetch from a vfio-pci BAR gets no mapping: -ENOEXEC, then an
    injected prefetch abort; KVM_RUN does not fail."""
    ev = evaluate(policy, HostFeatures(fwb=fwb), plat, BAR, MemslotSpec(), G.ioremap_wc(),
                  access=GuestAccess.fetch())
    assert not ev.mapped and ev.effective is None
    assert ev.errno is Errno.ENOEXEC
    assert ev.injected == "prefetch abort"
    kinds = [e.kind for e in ev.events]
    assert EventKind.PREFETCH_ABORT_INJECTED in kinds and EventKind.RUN_FAILED not in kinds


@pytest.mark.parametrize("bit", [KVM_PGTABLE_PROT.DEVICE, KVM_PGTABLE_PROT.NORMAL_NC])
@FWBS
def test_case19_x_with_device_or_nc_is_einval(bit: KVM_PGTABLE_PROT, fwb: bool) -> None:
    """Case 19: installing X together with DEVICE or NORMAL_NC is -EINVAL."""
    prot = KVM_PGTABLE_PROT.R | KVM_PGTABLE_PROT.X | bit
    assert stage2_set_prot_attr(prot, fwb=fwb).errno is Errno.EINVAL
    if bit is KVM_PGTABLE_PROT.DEVICE:
        r = stage2_set_prot_attr(prot, fwb=fwb, variant=PgtableVariant.V6_8)
        assert r.errno is Errno.EINVAL


def test_case29_no_memslot_is_an_mmio_exit(plat: Platform) -> None:
    """Case 29: an IPA with no memslot (an emulated MSI-X table) exits to userspace when the
    syndrome is valid; the stage-2 type does not apply."""
    ev = evaluate("6.9", HostFeatures(), plat, BAR, None, G.ioremap(), ipa=0x2000_0000,
                  access=GuestAccess.write(4))
    assert ev.mmio_exit and not ev.mapped and ev.effective is None and ev.errno is None


@pytest.mark.parametrize("instr", [InstrClass.LDP_STP, InstrClass.LDR_STR_WRITEBACK,
                                   InstrClass.SIMD_FP, InstrClass.ATOMIC, InstrClass.EXCLUSIVE])
def test_case29_without_isv_kvm_cannot_decode(plat: Platform, instr: InstrClass) -> None:
    """Case 29: without a valid ISV, KVM_RUN fails with -ENOSYS (or exits NISV if enabled)."""
    acc = GuestAccess(Access.READ, 8, instr)
    ev = evaluate("6.9", HostFeatures(), plat, None, None, G.ioremap(), access=acc)
    assert ev.errno is Errno.ENOSYS and not ev.mmio_exit
    ev = evaluate("6.9", HostFeatures(), plat, None, None, G.ioremap(), access=acc,
                  vm=VmConfig(nisv_to_user=True))
    assert ev.errno is None and any(e.kind is EventKind.NISV_EXIT for e in ev.events)


USEMEM = NvgraceRegion("gpu", "usemem", size=2 << 20)


@FWBS
def test_usemem_under_6_9_is_device(plat: Platform, fwb: bool) -> None:
    """nvgrace usemem (cacheable VMA, no flag) is S2 Device-nGnRE under 6.9
    (docs/review.md#who-gets-normal-nc)."""
    ev = evaluate("6.9", HostFeatures(fwb=fwb), plat, USEMEM, MemslotSpec(), G.memremap("WB"))
    assert ev.vmm_s1 is not None and ev.vmm_s1.short == "Normal-WB"
    assert ev.s2_kind == "DEVICE_nGnRE"
    assert ev.effective is not None and ev.effective.short == "Device-nGnRE"


def test_usemem_under_6_17_with_fwb_and_dic_is_cacheable(plat: Platform) -> None:
    """6.17 with FWB and DIC maps usemem S2 Normal (forced WB) and allows exec
    (docs/review.md#later-changes)."""
    host = HostFeatures(fwb=True, dic=True)
    ev = evaluate("6.17", host, plat, USEMEM, MemslotSpec(), G.memremap("WB"))
    assert ev.s2_kind == "NORMAL" and ev.s2_memattr == 0b0110
    assert ev.effective is not None and ev.effective.short == "Normal-WB"
    ev = evaluate("6.17", host, plat, USEMEM, MemslotSpec(), G.memremap("WB"),
                  access=GuestAccess.fetch())
    assert ev.mapped and ev.s2_prot is not None and KVM_PGTABLE_PROT.X in ev.s2_prot
    assert ev.leaf is not None and not ev.leaf.xn


@pytest.mark.parametrize(("fwb", "dic"), [(False, True), (True, False), (False, False)])
def test_usemem_under_6_17_without_fwb_dic(plat: Platform, fwb: bool, dic: bool) -> None:
    """6.17 without FWB and DIC: -EINVAL at memslot creation, or -EFAULT at fault when the VMA
    appears after the memslot (docs/review.md#later-changes)."""
    host = HostFeatures(fwb=fwb, dic=dic)
    ev = evaluate("6.17", host, plat, USEMEM, MemslotSpec(), G.memremap("WB"))
    assert ev.errno is Errno.EINVAL and ev.abort is None
    assert any(e.kind is EventKind.MEMSLOT_REJECTED for e in ev.events)
    late = MemslotSpec(mapped_at_creation=False)
    ev = evaluate("6.17", host, plat, USEMEM, late, G.memremap("WB"))
    assert ev.errno is Errno.EFAULT and not ev.mapped
    assert any(e.kind is EventKind.RUN_FAILED and e.errno is Errno.EFAULT for e in ev.events)


@FWBS
def test_resmem_nc_under_6_9_and_6_17(plat: Platform, fwb: bool) -> None:
    """nvgrace resmem (flagged, pgprot_writecombine) is S2 Normal-NC from 6.9."""
    for policy in ("6.9", "6.17"):
        ev = evaluate(policy, HostFeatures(fwb=fwb), plat,
                      NvgraceRegion("gpu", "resmem", size=1 << 20), MemslotSpec(), G.ioremap_wc())
        assert ev.vmm_s1 is not None and ev.vmm_s1.short == "Normal-NC"
        assert ev.s2_kind == "NORMAL_NC"


def test_mirror_vma_shameer_regression(plat: Platform) -> None:
    """mirror-vma (v1 1/2): a cacheable VMA over non-linear-map memory is -EINVAL without FWB,
    which KVM_RUN returns ("kvm run failed Invalid argument")."""
    ev = evaluate("mirror-vma", HostFeatures(fwb=False), plat, USEMEM, MemslotSpec(), "ioremap")
    assert ev.errno is Errno.EINVAL
    assert any(e.kind is EventKind.RUN_FAILED for e in ev.events)
    ok = evaluate("mirror-vma", HostFeatures(fwb=True), plat, USEMEM, MemslotSpec(), "ioremap")
    assert ok.mapped and ok.s2_kind == "NORMAL"

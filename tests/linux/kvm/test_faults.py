"""Every fault KVM meets on guest IO memory, per version, with the exact syndrome and reaction
(arch/arm64/kvm/mmu.c kvm_handle_guest_abort / user_mem_abort / kvm_handle_guest_sea,
arch/arm64/kvm/mmio.c io_mem_abort, arch/arm64/kvm/handle_exit.c kvm_handle_guest_serror,
arch/arm64/kvm/inject_fault.c inject_abt64 / kvm_inject_vabt)."""

from __future__ import annotations

import errno

import pytest

from memattr.arch.combine import Access
from memattr.arch.esr import FaultKind
from memattr.linux import (
    AnonymousRam,
    GicvInterface,
    HostFeatures,
    MemslotSpec,
    VfioPciBar,
    VfioPlatformRegion,
    evaluate,
)
from memattr.linux.events import Errno, EventKind
from memattr.linux.kvm.abort import GuestAccess, InstrClass
from memattr.linux.kvm.features import VmConfig
from memattr.linux.kvm.memslot import KVM_MEM_READONLY
from memattr.linux.system import Session
from memattr.platform import Platform
from memattr.platform.examples import example_platform

IPA = 0x10_0000_0000
LDR8 = GuestAccess.read(8)


def test_translation_fault_syndrome_then_mapping(plat: Platform) -> None:
    """The first LDR (8 bytes, x0) to a BAR: a stage-2 translation fault at the level where the
    walk found no table (level 1 here: nothing is mapped in that 1 GiB yet), ESR_EL2 = EC 0x24 |
    IL | ISV | SAS=3 | SF | DFSC 0x05 = 0x93c08005, HPFAR = IPA[47:12] << 4; KVM maps the page
    and the retried access completes."""
    ev = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap",
                  access=LDR8, offset=0x1000)
    (f,) = ev.faults
    assert f.esr == 0x93C0_8005 and f.kind is FaultKind.TRANSLATION and f.level == 1
    assert f.hpfar == ((IPA + 0x1000) >> 12) << 4 and f.ipa == IPA + 0x1000
    assert len(ev.walks) == 2 and ev.walks[-1].fault is None and ev.effective is not None


@pytest.mark.parametrize("release", ["5.10", "6.8", "6.17"])
def test_write_to_readonly_memslot_is_mmio(plat: Platform, release: str) -> None:
    """A write to a read-only memslot: a permission fault (once mapped R) or a translation fault,
    ``write_fault && !writable``: io_mem_abort, KVM_EXIT_MMIO with the payload."""
    s = Session(release, HostFeatures(), plat, AnonymousRam(1 << 21),
                MemslotSpec(IPA, flags=KVM_MEM_READONLY), "memremap(MEMREMAP_WB)")
    assert s.access(LDR8).effective is not None
    ev = s.access(GuestAccess.write(4))
    assert ev.faults[-1].kind is FaultKind.PERMISSION and ev.faults[-1].fsc == 0x0F
    assert ev.vmm_exit is not None and ev.vmm_exit.reason == "KVM_EXIT_MMIO"
    assert ev.vmm_exit.phys_addr == IPA and ev.vmm_exit.length == 4 and ev.vmm_exit.is_write


def test_cache_maintenance(plat: Platform) -> None:
    """DC CIVAC: to a mapped BAR it completes; with no memslot KVM skips it; on a read-only
    memslot it is a write fault (WnR=1, CM=1) that goes to io_mem_abort, where ISV=0 gives
    -ENOSYS or a NISV exit whose esr_iss keeps CM|WnR|xFSC (kvm_is_error_hva && is_cm only)."""
    dc = GuestAccess(Access.READ, 8, InstrClass.CACHE_MAINTENANCE)
    ok = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap",
                  access=dc)
    assert ok.translation is not None and not ok.errno
    skip = evaluate("6.9", HostFeatures(), plat, None, None, "ioremap", access=dc, ipa=IPA)
    assert any(e.kind is EventKind.CACHE_MAINTENANCE_SKIPPED for e in skip.events)
    ro = evaluate("6.9", HostFeatures(), plat, AnonymousRam(1 << 21),
                  MemslotSpec(IPA, flags=KVM_MEM_READONLY), "ioremap", access=dc)
    f = ro.faults[-1]
    assert f.cm and f.wnr and not f.isv and ro.errno is Errno.ENOSYS
    nisv = evaluate("6.9", HostFeatures(), plat, AnonymousRam(1 << 21),
                    MemslotSpec(IPA, flags=KVM_MEM_READONLY), "ioremap", access=dc,
                    vm=VmConfig(nisv_to_user=True))
    assert nisv.vmm_exit is not None and nisv.vmm_exit.reason == "KVM_EXIT_ARM_NISV"
    assert nisv.vmm_exit.esr_iss == (1 << 8) | (1 << 6) | nisv.faults[-1].fsc  # CM|WnR|xFSC
    assert nisv.vmm_exit.fault_ipa == IPA


@pytest.mark.parametrize(("policy", "stage2"), [("6.8", True), ("6.9", False)])
def test_alignment_fault_is_unsupported_fsc(plat: Platform, policy: str, stage2: bool) -> None:
    """An unaligned STR over stage-2 Device: xFSC 0x21 at stage 2, which kvm_handle_guest_abort
    does not handle: 'Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=...' and KVM_RUN -EFAULT; over
    stage-2 Normal-NC the same store completes."""
    acc = GuestAccess(Access.WRITE, 8, InstrClass.LDR_STR, aligned=False)
    ev = evaluate(policy, HostFeatures(fwb=False), plat, VfioPciBar("nic", 0), MemslotSpec(IPA),
                  "ioremap_wc", access=acc)
    if stage2:
        f = ev.faults[-1]
        assert f.fsc == 0x21 and f.hpfar is None and ev.errno is Errno.EFAULT
        assert ev.log[-1] == f"kvm [vcpu]: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x{f.esr:x}"
        assert any(e.kind is EventKind.RUN_FAILED for e in ev.events)
    else:
        assert ev.effective is not None and ev.errno is None


@pytest.mark.parametrize("instr", [InstrClass.EXCLUSIVE, InstrClass.ATOMIC])
def test_unsupported_exclusive_or_atomic(plat: Platform, instr: InstrClass) -> None:
    """An exclusive or atomic to a stage-2 Normal-NC BAR where the system does not support them:
    xFSC 0x35 at stage 2, 'Unsupported FSC' and -EFAULT up to v6.17; supported: it completes."""
    acc = GuestAccess(Access.WRITE, 8, instr)
    ev = evaluate("6.17", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA),
                  "ioremap_cache", access=acc)
    assert ev.faults[-1].fsc == 0x35 and ev.errno is Errno.EFAULT
    ok = evaluate("6.17", HostFeatures(atomics_uncached=True), plat, VfioPciBar("nic", 0),
                  MemslotSpec(IPA), "ioremap_cache", access=acc)
    assert ok.errno is None and ok.effective is not None
    s1 = evaluate("6.17", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA),
                  "ioremap", access=acc)
    assert s1.stage1_fault is not None and s1.errno is None


def test_sea_apei_or_serror_injected() -> None:
    """A synchronous external abort (an AXI slave's SLVERR on a Normal-NC access) goes to
    kvm_handle_guest_sea: claimed by APEI the guest resumes; otherwise a virtual SError is
    injected (ESR_EL1 EC 0x2F, IDS, vector VBAR_EL1+0x380)."""
    plat = example_platform()
    src = VfioPlatformRegion("dma-engine")
    from memattr.linux import with_prot
    from memattr.linux.kvm.pgtable import KVM_PGTABLE_PROT

    nc = with_prot("6.9", KVM_PGTABLE_PROT.NORMAL_NC)
    ev = evaluate(nc, HostFeatures(), plat, src, MemslotSpec(IPA), "ioremap_wc", access=LDR8,
                  bus_error=True)
    assert ev.faults[-1].kind is FaultKind.SYNC_EXTERNAL and ev.injected == "SError"
    assert ev.injection is not None and ev.injection.esr_el1 == 0xBF00_0000  # EC 0x2F|IL|IDS
    assert ev.injection.vector == 0x380
    claimed = evaluate(nc, HostFeatures(apei=True), plat, src, MemslotSpec(IPA), "ioremap_wc",
                       access=LDR8, bus_error=True)
    assert claimed.injected is None and claimed.errno is None


def test_serror_while_guest_runs() -> None:
    """A Device access answered with an error arrives as an asynchronous SError: with RAS an
    uncontained one panics the host (arm64_serror_panic), a contained one is not fatal; without
    RAS KVM injects a virtual SError."""
    from memattr.platform.bus import Containment

    plat = example_platform(axi_containment=Containment.UNCONTAINED)
    src = VfioPlatformRegion("dma-engine")
    ev = evaluate("6.9", HostFeatures(), plat, src, MemslotSpec(IPA), "ioremap", access=LDR8,
                  bus_error=True)
    assert any(e.kind is EventKind.HOST_PANIC for e in ev.events)
    noras = evaluate("6.9", HostFeatures(ras=False), plat, src, MemslotSpec(IPA), "ioremap",
                     access=LDR8, bus_error=True)
    assert noras.injected == "SError"
    contained = evaluate("6.9", HostFeatures(), example_platform(
        axi_containment=Containment.CONTAINED), src, MemslotSpec(IPA), "ioremap", access=LDR8,
        bus_error=True)
    assert contained.injected is None and not any(e.kind is EventKind.HOST_PANIC
                                                  for e in contained.events)


@pytest.mark.parametrize(("release", "injected"), [("5.10", None), ("6.1", "data abort")])
def test_ipa_beyond_the_vm_ipa_size(plat: Platform, release: str, injected: str | None) -> None:
    """An IPA at or beyond 2**40 in a 40-bit VM: a level-0 translation fault; since about v5.17
    KVM injects a data abort (ESR_EL1 EC 0x25, xFSC 0x10, FAR_EL1 = the VA); before, the IPA had
    no memslot and went to io_mem_abort (a KVM_EXIT_MMIO)."""
    ev = evaluate(release, HostFeatures(), plat, None, None, "ioremap", ipa=1 << 40, access=LDR8)
    assert ev.faults[-1].level == 0
    assert ev.injected == injected
    if injected:
        assert ev.injection is not None and ev.injection.esr_el1 == 0x9600_0010
        assert ev.injection.far_el1 == 1 << 40 and ev.injection.vector == 0x200
    else:
        assert ev.vmm_exit is not None and ev.vmm_exit.reason == "KVM_EXIT_MMIO"


def test_configurable_ipa_size(plat: Platform) -> None:
    """A 44-bit VM reaches IPAs a 40-bit one cannot (eight 256 GiB BARs need more than 40 bits)."""
    ev = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0),
                  MemslotSpec(0x800_0000_0000), "ioremap", vm=VmConfig(ipa_bits=44))
    assert ev.effective is not None
    bad = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0),
                   MemslotSpec(0x800_0000_0000), "ioremap")
    assert bad.memslot_rejected and bad.errno is Errno.EFAULT


def test_mmio_exit_payloads(plat: Platform) -> None:
    """No memslot: an LDR exits KVM_EXIT_MMIO (6) with phys_addr/len/is_write; an LDP has no
    valid ISV: -ENOSYS, or KVM_EXIT_ARM_NISV (28) with esr_iss and fault_ipa when enabled."""
    ev = evaluate("6.9", HostFeatures(), plat, None, None, "ioremap", ipa=IPA + 0x10, access=LDR8)
    assert ev.vmm_exit is not None and (ev.vmm_exit.code, ev.vmm_exit.phys_addr,
                                        ev.vmm_exit.length, ev.vmm_exit.is_write) == \
        (6, IPA + 0x10, 8, False)
    ldp = GuestAccess(Access.WRITE, 16, InstrClass.LDP_STP)
    assert evaluate("6.9", HostFeatures(), plat, None, None, "ioremap", ipa=IPA,
                    access=ldp).errno is Errno.ENOSYS
    n = evaluate("6.9", HostFeatures(), plat, None, None, "ioremap", ipa=IPA, access=ldp,
                 vm=VmConfig(nisv_to_user=True))
    assert n.vmm_exit is not None and n.vmm_exit.code == 28 and n.vmm_exit.fault_ipa == IPA
    assert n.vmm_exit.esr_iss == (1 << 6) | n.faults[-1].fsc


def test_exec_from_device_injects_prefetch_abort(plat: Platform) -> None:
    """An instruction fetch from a BAR: -ENOEXEC inside user_mem_abort becomes an injected
    prefetch abort (ESR_EL1 EC 0x21 | IL | xFSC 0x10, vector +0x200) -- since 6d674e28f642."""
    ev = evaluate("5.5", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA),
                  "ioremap", access=GuestAccess.fetch())
    assert ev.injection is not None and ev.injection.esr_el1 == 0x8600_0010


def test_gicv_trapped_on_64k_host(plat: Platform) -> None:
    """A GICV frame not aligned to a 64 KiB host page is trapped, not mapped: vgic_v2_probe
    prints the warning and accesses are emulated in the kernel (no VMM exit)."""
    ev = evaluate("6.9", HostFeatures(page_size=1 << 16), plat, GicvInterface(), None, "ioremap",
                  access=LDR8)
    assert ev.leaf is None and any(e.kind is EventKind.IN_KERNEL_MMIO for e in ev.events)
    assert any("GICV region size/alignment is unsafe" in e.text for e in ev.events)
    mapped = evaluate("6.9", HostFeatures(), plat, GicvInterface(), None, "ioremap", access=LDR8)
    assert mapped.leaf is not None and not mapped.faults


def test_pkvm_gicv_is_eperm(plat: Platform) -> None:
    """Under pKVM kvm_phys_addr_ioremap returns -EPERM (no GICV mapping)."""
    ev = evaluate("6.9", HostFeatures(pkvm=True), plat, GicvInterface(), None, "ioremap")
    assert any(e.errno is Errno.EPERM for e in ev.events) and ev.leaf is None
    # vgic_v2_map_resources fails, so the first KVM_RUN returns the error: the guest never runs
    # (no access reaches the VMM as an MMIO exit).
    assert ev.setup_failed == "KVM_RUN" and ev.errno is Errno.EPERM and not ev.mmio_exit
    assert "kvm [1]: Unable to remap VGIC CPU to VCPU" in [e.text for e in ev.events]
    ok = evaluate("6.9", HostFeatures(), plat, GicvInterface(), None, "ioremap")
    assert ok.setup_failed is None and ok.leaf is not None


def test_capabilities(plat: Platform) -> None:
    """KVM_CHECK_EXTENSION: CACHEABLE_PFNMAP_SUPPORTED is FWB && DIC on the VM fd from 6.17,
    -EINVAL on /dev/kvm (arm.c kvm_vm_ioctl_check_extension: ``if (!kvm)``); unknown (0 on both)
    before; NISV_TO_USER is 1."""
    ev = evaluate("6.17", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    caps = ev.capabilities
    assert caps["KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED"] == {"dev_kvm": -errno.EINVAL, "vm_fd": 1}
    assert caps["KVM_CAP_ARM_NISV_TO_USER"]["vm_fd"] == 1
    old = evaluate("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    assert old.capabilities["KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED"] == {"dev_kvm": 0, "vm_fd": 0}


def test_access_flag_fault_is_fixed_and_retried(plat: Platform) -> None:
    """A stage-2 leaf with AF=0: xFSC 0x0B (level 3), handle_access_fault sets AF, the access is
    retried and completes."""
    s = Session("6.9", HostFeatures(), plat, VfioPciBar("nic", 0), MemslotSpec(IPA), "ioremap")
    assert s.access(LDR8).effective is not None
    leaf = s.kvm.pgt.lookup(IPA)
    assert leaf is not None
    s.kvm.pgt.table.protect(leaf.ipa, leaf.size, leaf.attr & ~(1 << 10))
    ev = s.access(LDR8)
    assert ev.faults[-1].kind is FaultKind.ACCESS_FLAG and ev.faults[-1].fsc == 0x0B
    assert ev.aborts[-1].retry and ev.translation is not None


def test_host_features_as_cpu() -> None:
    """HostFeatures names the host PE as an arch Cpu (FWB, DIC, MTE, XS, LPA2)."""
    cpu = HostFeatures(fwb=False, mte=True, xs=False).cpu
    assert not cpu.s2fwb and cpu.mte2 and not cpu.xs

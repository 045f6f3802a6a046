"""Host CPU features KVM's stage-2 policy depends on, per-VM options, and the capability that
reports cacheable PFNMAP support."""

from __future__ import annotations

import errno
from dataclasses import dataclass

from ...arch.cpu import ALL, Cpu
from ...arch.instr import LS64Check
from ...errors import ConfigError
from ..commits import COMMITS
from ..version import V6_17, KernelVersion

__all__ = [
    "HostFeatures",
    "VmConfig",
    "KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED",
    "kvm_supports_cacheable_pfnmap",
    "kvm_vm_ioctl_check_extension",
    "COMMIT_CACHEABLE_PFNMAP_CAP",
    "KVM_CAP_ARM_NISV_TO_USER",
    "KVM_CAP_ARM_VM_IPA_SIZE",
    "capabilities",
]

# include/uapi/linux/kvm.h (v6.17); Documentation/virt/kvm/api.rst 7.43.
KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED = 243
COMMIT_CACHEABLE_PFNMAP_CAP = COMMITS["cap"]


@dataclass(frozen=True, slots=True)
class HostFeatures:
    """The host CPU and kernel features that change KVM's stage-2 mappings.

    :param fwb: FEAT_S2FWB used by KVM (ARM64_HAS_STAGE2_FWB: HCR_EL2.FWB = 1).
    :param dic: CTR_EL0.DIC (ARM64_HAS_CACHE_DIC): no I-cache invalidation needed for coherence.
    :param idc: CTR_EL0.IDC: no D-cache clean to PoU needed for I/D coherence.
    :param mte: FEAT_MTE2 present and used by the host (MT_NORMAL_TAGGED is 0xF0).
    :param xs: FEAT_XS present (the 0b0000dd01 MAIR encodings are defined).
    :param lpa2: KVM uses LPA2 stage-2 tables (SH comes from VTCR_EL2, not the descriptor).
    :param bits: the host kernel's BITS_PER_LONG (VM_ALLOW_ANY_UNCACHED is VM_NONE on 32-bit).
    :param apei: the host's firmware-first RAS handler (APEI GHES) claims synchronous external
        aborts (``kvm_handle_guest_sea`` returns 0), so KVM injects nothing.
    :param pkvm: the host runs KVM in protected mode (``kvm-arm.mode=protected``):
        ``kvm_phys_addr_ioremap`` returns -EPERM (so a GICv2 GICV mapping fails and the first
        KVM_RUN returns it); the host's own stage 2 and protected-VM SEA handling are not
        modelled.
    :param ipa_limit: ``get_kvm_ipa_limit()``: the largest IPA size KVM offers (bits).
    :param ras: FEAT_RAS (ARM64_HAS_RAS_EXTN): a physical SError taken while the guest runs is
        classified by its AET (``kvm_handle_guest_serror``).
    :param page_size: the host kernel's PAGE_SIZE (4, 16 or 64 KiB): a GICV frame not aligned to
        it is trapped, not mapped (``vgic_v2_probe``).  The model's stage-2 tables stay 4 KiB.
    :param atomics_uncached: the system supports exclusives and atomics to memory that is not
        Write-Back cacheable (IMPLEMENTATION DEFINED); without it such an access takes an
        "Unsupported Exclusive or Atomic access" abort (xFSC 0x35) at the stage whose type is not
        Write-Back; None: not known (both are permitted; a run follows the abort unless told).
    :param ls64_checks: the IMPLEMENTATION DEFINED ways the PE checks an LD64B/ST64B's memory type
        (Arm ARM C3.2.8, :class:`memattr.arch.instr.LS64Check`): one for a given PE, all three when
        not known.
    :param lse2: FEAT_LSE2 (mandatory from Armv8.4, as FEAT_S2FWB): an exclusive or atomic inside
        a 16-byte quantity does not fault for being unaligned (Arm ARM B2.8.2.1.2).
    """

    fwb: bool = True
    dic: bool = True
    idc: bool = True
    mte: bool = False
    xs: bool = True
    lpa2: bool = False
    bits: int = 64
    apei: bool = False
    pkvm: bool = False
    ipa_limit: int = 48
    ras: bool = True
    page_size: int = 4096
    atomics_uncached: bool | None = False
    ls64_checks: tuple[LS64Check, ...] = tuple(LS64Check)
    lse2: bool = True

    def __post_init__(self) -> None:
        if self.bits not in (32, 64):
            raise ConfigError(f"host bits={self.bits}: expected 32 or 64")
        if self.page_size not in (4096, 16384, 65536):
            raise ConfigError(f"host page_size={self.page_size}: expected 4096, 16384 or 65536")

    @property
    def cpu(self) -> Cpu:
        """The host PE as a :class:`memattr.arch.cpu.Cpu` (the features these fields name; every
        other feature as ``Cpu()`` has it)."""
        return Cpu(name="host", xs=self.xs, mte2=self.mte, s2fwb=self.fwb, dic=self.dic,
                   idc=self.idc, lpa2=self.lpa2)

    @property
    def arch_features(self) -> Cpu:
        """The PE features the arch rules use (FEAT_XS, FEAT_MTE2; no FEAT_MTE_PERM)."""
        return ALL.with_(name="kvm-host", xs=self.xs, mte2=self.mte, mte_perm=False)


@dataclass(frozen=True, slots=True)
class VmConfig:
    """Per-VM options a VMM enables.

    :param mte: KVM_CAP_ARM_MTE enabled (needs ``HostFeatures.mte``).
    :param nisv_to_user: KVM_CAP_ARM_NISV_TO_USER enabled: an MMIO abort without a valid ISV
        exits with KVM_EXIT_ARM_NISV instead of failing KVM_RUN with -ENOSYS.
    :param ipa_bits: the VM's IPA size (KVM_VM_TYPE_ARM_IPA_SIZE; 40 by default).
    """

    mte: bool = False
    nisv_to_user: bool = False
    ipa_bits: int = 40

    def __post_init__(self) -> None:
        if not 32 <= self.ipa_bits <= 52:
            raise ConfigError(f"VM ipa_bits={self.ipa_bits}: KVM_VM_TYPE_ARM_IPA_SIZE takes "
                              "32..52")


def kvm_supports_cacheable_pfnmap(host: HostFeatures) -> bool:
    """arch/arm64/kvm/mmu.c ``kvm_supports_cacheable_pfnmap``: FWB and CTR_EL0.DIC (v6.17+)."""
    return host.fwb and host.dic


KVM_CAP_ARM_NISV_TO_USER = 177  # include/uapi/linux/kvm.h (v5.5, c726200dd106)
KVM_CAP_ARM_VM_IPA_SIZE = 165  # include/uapi/linux/kvm.h: the largest IPA size (bits)


def kvm_vm_ioctl_check_extension(cap: int, host: HostFeatures, release: KernelVersion, *,
                                 on_vm: bool = True) -> int:
    """KVM_CHECK_EXTENSION for the capabilities this model knows (0 if unknown).

    Since Linux commit f55ce5a6cd33 ("KVM: arm64: Expose new KVM cap for cacheable PFNMAP")
    (in v6.17), KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED returns FWB && DIC on the VM fd, and the
    ioctl fails with -EINVAL on ``/dev/kvm`` (arch/arm64/kvm/arm.c
    ``kvm_vm_ioctl_check_extension``: ``if (!kvm) r = -EINVAL``); before, the capability is
    unknown and both answer 0.  KVM_CAP_ARM_NISV_TO_USER is 1 on both since v5.5 (enabled per VM
    with KVM_ENABLE_CAP).  KVM_CAP_ARM_VM_IPA_SIZE returns the IPA limit.

    :param on_vm: asked on the VM fd (True) or on ``/dev/kvm``.
    :returns: the ioctl's value; a negative errno where it fails.
    """
    if cap == KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED:
        if release < V6_17:
            return 0
        if not on_vm:
            return -errno.EINVAL
        return int(kvm_supports_cacheable_pfnmap(host))
    if cap == KVM_CAP_ARM_NISV_TO_USER:
        return 1
    if cap == KVM_CAP_ARM_VM_IPA_SIZE:
        return host.ipa_limit
    return 0


def capabilities(host: HostFeatures, release: KernelVersion) -> dict[str, dict[str, int]]:
    """What a VMM reads with KVM_CHECK_EXTENSION, on ``/dev/kvm`` and on the VM fd."""
    caps = {"KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED": KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED,
            "KVM_CAP_ARM_NISV_TO_USER": KVM_CAP_ARM_NISV_TO_USER,
            "KVM_CAP_ARM_VM_IPA_SIZE": KVM_CAP_ARM_VM_IPA_SIZE}
    return {name: {"dev_kvm": kvm_vm_ioctl_check_extension(c, host, release, on_vm=False),
                   "vm_fd": kvm_vm_ioctl_check_extension(c, host, release)}
            for name, c in caps.items()}

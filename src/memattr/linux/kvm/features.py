"""Host CPU features KVM's stage-2 policy depends on, per-VM options, and the capability that
reports cacheable PFNMAP support."""

from __future__ import annotations

from dataclasses import dataclass

from ...arch.cpu import ALL, Cpu
from ...errors import ConfigError
from ..version import V6_17, Commit, KernelVersion

__all__ = [
    "HostFeatures",
    "VmConfig",
    "KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED",
    "kvm_supports_cacheable_pfnmap",
    "kvm_vm_ioctl_check_extension",
    "COMMIT_CACHEABLE_PFNMAP_CAP",
]

# include/uapi/linux/kvm.h (v6.17); Documentation/virt/kvm/api.rst 7.43.
KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED = 243
COMMIT_CACHEABLE_PFNMAP_CAP = Commit("f55ce5a6cd33", "KVM: arm64: Expose new KVM cap for cacheable "
                                     "PFNMAP", V6_17)


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
    """

    fwb: bool = True
    dic: bool = True
    idc: bool = True
    mte: bool = False
    xs: bool = True
    lpa2: bool = False
    bits: int = 64

    def __post_init__(self) -> None:
        if self.bits not in (32, 64):
            raise ConfigError(f"host bits={self.bits}: expected 32 or 64")

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
    """

    mte: bool = False
    nisv_to_user: bool = False


def kvm_supports_cacheable_pfnmap(host: HostFeatures) -> bool:
    """arch/arm64/kvm/mmu.c ``kvm_supports_cacheable_pfnmap``: FWB and CTR_EL0.DIC (v6.17+)."""
    return host.fwb and host.dic


def kvm_vm_ioctl_check_extension(cap: int, host: HostFeatures, release: KernelVersion) -> int:
    """KVM_CHECK_EXTENSION on the VM fd for the capabilities this model knows (0 if unknown).

    Since Linux commit f55ce5a6cd33 ("KVM: arm64: Expose new KVM cap for cacheable PFNMAP")
    (in v6.17), KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED returns FWB && DIC.
    """
    if cap == KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED:
        return int(release >= V6_17 and kvm_supports_cacheable_pfnmap(host))
    return 0

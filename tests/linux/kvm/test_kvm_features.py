"""Tests for memattr.linux.kvm.features: host features and KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED."""

from __future__ import annotations

import itertools

import pytest

from memattr.errors import ConfigError
from memattr.linux.kvm.features import (
    KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED,
    HostFeatures,
    kvm_supports_cacheable_pfnmap,
    kvm_vm_ioctl_check_extension,
)
from memattr.linux.version import KernelVersion


def test_cap_number() -> None:
    """KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED is 243 (include/uapi/linux/kvm.h, v6.17)."""
    assert KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED == 243


@pytest.mark.parametrize(("fwb", "dic"), list(itertools.product((False, True), repeat=2)))
def test_cap_reports_fwb_and_dic(fwb: bool, dic: bool) -> None:
    """The capability is FWB && DIC from v6.17 and absent before."""
    host = HostFeatures(fwb=fwb, dic=dic)
    assert kvm_supports_cacheable_pfnmap(host) == (fwb and dic)
    cap = KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED
    assert kvm_vm_ioctl_check_extension(cap, host, KernelVersion(6, 17)) == int(fwb and dic)
    assert kvm_vm_ioctl_check_extension(cap, host, KernelVersion(6, 16)) == 0
    assert kvm_vm_ioctl_check_extension(1, host, KernelVersion(6, 17)) == 0


def test_host_features() -> None:
    """Word size must be 32 or 64; XS and MTE feed the guest MAIR decode."""
    with pytest.raises(ConfigError):
        HostFeatures(bits=16)
    f = HostFeatures(xs=False, mte=True).arch_features
    assert not f.xs and f.mte2

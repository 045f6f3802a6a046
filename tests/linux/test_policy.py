"""Tests for memattr.linux.policy: the built-in policies, their citations, and the registry."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.linux import (
    KVM_PGTABLE_PROT,
    DeviceChoice,
    DeviceContext,
    HostFeatures,
    MemslotSpec,
    Policy,
    VfioPlatformRegion,
    evaluate,
    get_policy,
    policies,
    policy_for_release,
    register_policy,
    unregister_policy,
)
from memattr.linux.kvm import PgtableVariant
from memattr.linux.version import KernelVersion
from memattr.platform import Platform

BUILTIN = ["6.8", "v2", "6.9", "6.17", "pcie-only", "mirror-vma", "fwb-0b110", "fwb-0b111",
           "device-gre"]


def test_builtins_registered_in_order() -> None:
    """The built-in policies are registered under their names, merged ones first."""
    assert list(policies())[: len(BUILTIN)] == BUILTIN


@pytest.mark.parametrize("name", BUILTIN)
def test_each_policy_cites_commits(name: str) -> None:
    """Every built-in policy cites at least one commit or posting, drgn-style."""
    p = get_policy(name)
    assert p.commits
    for c in p.commits:
        assert c.cite().startswith("Linux commit ")
    assert p.describe().startswith(f"{name}: ")


def test_merged_policy_citations() -> None:
    """6.9 cites the four merged commits; 6.17 the cacheable-PFNMAP ones and the cap."""
    ids = {c.id for c in get_policy("6.9").commits}
    assert {"c034ec84e879", "5c656fcdd6c6", "8c47ce3e1d2c", "a39d3a966a09"} <= ids
    ids = {c.id for c in get_policy("6.17").commits}
    assert {"216887f79d98", "2a8dfab26677", "0c67288e0c8b", "f55ce5a6cd33"} <= ids
    assert "(in v6.9)" in get_policy("6.9").commits[0].cite()
    assert get_policy("v2").what_if and not get_policy("6.9").what_if


def test_unknown_policy_lists_known() -> None:
    """An unknown name raises ConfigError listing the registered names."""
    with pytest.raises(ConfigError, match=r"known: 6\.8, v2, 6\.9"):
        get_policy("6.9-rc1-wc")


@pytest.mark.parametrize(("text", "name"), [("v6.9", "6.9"), ("6.12", "6.9"), ("6.16", "6.9"),
                                            ("v6.17", "6.17"), ("6.18", "6.17"), ("5.15", "6.8"),
                                            ("6.7", "6.8"), ("v2", "v2")])
def test_release_names_resolve(text: str, name: str) -> None:
    """A release number resolves to the merged policy in force in that release."""
    assert get_policy(text).name == name
    if text[0] != "v" or "." in text:
        assert policy_for_release(text.lstrip("v")).name == name


def test_register_custom_policy(plat: Platform) -> None:
    """Users register their own policy from Python; a custom chooser decides the type bit."""
    def nc_for_platform_devices(ctx: DeviceContext) -> KVM_PGTABLE_PROT:
        region = ctx.platform.lookup(ctx.pfn << 12)
        return KVM_PGTABLE_PROT.NORMAL_NC if region.name == "dma-engine" else \
            KVM_PGTABLE_PROT.DEVICE

    pol = Policy("audited-amba", "NC for an audited AMBA device", KernelVersion(6, 9),
                 device_choice=DeviceChoice.CUSTOM, chooser=nc_for_platform_devices)
    register_policy("audited-amba", pol)
    try:
        assert get_policy("audited-amba") is pol
        with pytest.raises(ConfigError, match="already registered"):
            register_policy("audited-amba", pol)
        register_policy("audited-amba", pol, replace=True)
        ev = evaluate("audited-amba", HostFeatures(), plat, VfioPlatformRegion("dma-engine"),
                      MemslotSpec(), "ioremap_wc")
        assert ev.s2_kind == "NORMAL_NC"
        assert ev.effective is not None and ev.effective.short == "Normal-NC"
    finally:
        unregister_policy("audited-amba")
    with pytest.raises(ConfigError):
        get_policy("audited-amba")


def test_registry_misuse() -> None:
    """Built-ins cannot be removed; unknown names cannot be unregistered; bad policies raise."""
    with pytest.raises(ConfigError):
        unregister_policy("6.9")
    with pytest.raises(ConfigError):
        unregister_policy("nope")
    with pytest.raises(ConfigError):
        register_policy("", get_policy("6.9"))
    with pytest.raises(ConfigError, match="chooser"):
        Policy("x", "x", KernelVersion(6, 9), device_choice=DeviceChoice.CUSTOM)
    with pytest.raises(ConfigError, match="v6.9 stage2_set_prot_attr"):
        Policy("x", "x", KernelVersion(6, 8), device_choice=DeviceChoice.VMA_FLAG,
               variant=PgtableVariant.V6_8)
    with pytest.raises(ConfigError):
        Policy("x", "x", KernelVersion(6, 9), ioremap_choice=KVM_PGTABLE_PROT.R)

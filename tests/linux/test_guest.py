"""Tests for memattr.linux.guest: the Linux guest MAIR_EL1 and its mapping APIs; raw guests."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError, EncodingError
from memattr.linux.guest import (
    GuestMap,
    LinuxGuest,
    from_descriptor,
    guest_mmu_off,
    linux_guest_mair,
    raw_guest,
)

G = LinuxGuest()


def test_linux_mair_layout() -> None:
    """MAIR_EL1: Attr0 0xff (NORMAL), Attr1 0xff/0xf0 (TAGGED), Attr2 0x44 (NC), Attr3 0x00
    (nGnRnE), Attr4 0x04 (nGnRE) (arch/arm64/mm/proc.S, docs/linux-versions.md#mt-indexes-and-mair_el1)."""
    assert linux_guest_mair() == 0x04_00_44_FF_FF
    assert linux_guest_mair(mte=True) == 0x04_00_44_F0_FF


@pytest.mark.parametrize(
    ("api", "attrindx", "attr", "short"),
    [
        ("ioremap", 4, 0x04, "Device-nGnRE"),
        ("ioremap_np", 3, 0x00, "Device-nGnRnE"),
        ("ioremap_wc", 2, 0x44, "Normal-NC"),
        ("ioremap_cache", 0, 0xFF, "Normal-WB"),
        ("memremap(MEMREMAP_WB)", 0, 0xFF, "Normal-WB"),
        ("memremap(MEMREMAP_WC)", 2, 0x44, "Normal-NC"),
        ("resourceN mmap", 4, 0x04, "Device-nGnRE"),
        ("resourceN_wc mmap", 2, 0x44, "Normal-NC"),
    ],
)
def test_mapping_apis(api: str, attrindx: int, attr: int, short: str) -> None:
    """Each guest mapping API selects its MT_* slot and attribute byte."""
    s1 = G.map(api)
    assert (s1.attrindx, s1.attr, s1.sh, s1.mmu_on) == (attrindx, attr, 0b11, True)
    a = s1.attrs()
    assert a is not None and a.short == short


def test_methods_and_aliases() -> None:
    """Named methods and aliases give the same views."""
    assert G.ioremap() == G.map(GuestMap.IOREMAP) == G.map("IOREMAP")
    assert G.memremap("MEMREMAP_WC") == G.map("memremap_wc") == G.memremap("wc")
    assert G.sysfs_resource(wc=True).user and not G.ioremap_wc().user
    assert G.ioremap_np().attr == 0 and G.ioremap_cache().attr == 0xFF
    with pytest.raises(ConfigError):
        G.memremap("MEMREMAP_WT")
    with pytest.raises(ConfigError, match="known"):
        G.map("vmap")


def test_mmu_off() -> None:
    """With the MMU off there is no AttrIndx; the arch core supplies Device-nGnRnE for data."""
    off = G.mmu_off()
    assert not off.mmu_on and off.attrs() is None and off.attr == 0
    assert not off.controls(fwb=True).m and off.controls(fwb=True).fwb
    assert guest_mmu_off().label == "MMU off (MMU off)"


def test_raw_guest() -> None:
    """Any OS: an attribute byte, or a MAIR and an AttrIndx; reserved bytes decode to None."""
    g = raw_guest(attr=0xBB, attrindx=5)
    assert g.attr == 0xBB and g.attrindx == 5
    a = g.attrs()
    assert a is not None and a.short == "Normal-WT"
    assert raw_guest(mair=0x0C00, attrindx=1).attrs().short == "Device-GRE"  # type: ignore
    assert raw_guest(attr=0x02).attrs() is None  # reserved Device encoding
    with pytest.raises(ConfigError):
        raw_guest()
    with pytest.raises(ConfigError):
        raw_guest(attr=1, mair=1)
    with pytest.raises(EncodingError):
        raw_guest(attr=0x100)


def test_from_descriptor() -> None:
    """A stage-1 descriptor gives AttrIndx [4:2], SH [9:8] and AP[1] (EL0)."""
    desc = 0x0060_0000_8000_0000 | (2 << 2) | (0b10 << 8) | (1 << 6) | (1 << 10) | 0b11
    g = from_descriptor(linux_guest_mair(), desc)
    assert (g.attrindx, g.sh, g.user, g.attr) == (2, 0b10, True, 0x44)
    with pytest.raises(EncodingError):
        from_descriptor(0, 0b10)

"""PCI sysfs resource files: real X550 PF/VF golden, resource numbering, flag names, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from memattr.errors import ParseError
from memattr.interop.sysfs import ResourceKind, ResourceRole, decode_flags, parse_resource, resource_role

DATA = Path(__file__).resolve().parents[1] / "data"


def test_x550_pf_and_vf_golden() -> None:
    """The pasted session holds the PF's and a VF's files; facts from SOURCES (README)."""
    pf, vf = parse_resource((DATA / "sysfs_resource_intel_x550_pf_and_vf.txt").read_bytes(), "x550",
                            allow_other_lines=True)
    assert len(pf.resources) == len(vf.resources) == 13
    used = {r.index: r for r in pf.used()}
    assert sorted(used) == [0, 4, 6, 7, 10]
    r0 = used[0]
    assert (r0.start, r0.end, r0.flags, r0.size) == (0x6004800000, 0x6004BFFFFF, 0x14220C, 4 << 20)
    assert r0.role is ResourceRole.BAR and r0.prefetchable and r0.is_64bit and r0.kind is ResourceKind.MEM
    assert r0.sysfs_files == ("resource0", "resource0_wc")
    assert decode_flags(r0.flags) == ["IORESOURCE_MEM", "IORESOURCE_PREFETCH", "IORESOURCE_SIZEALIGN",
                                      "IORESOURCE_MEM_64", "PCI_BASE_ADDRESS_MEM_TYPE_64",
                                      "PCI_BASE_ADDRESS_MEM_PREFETCH"]
    rom = used[6]
    assert rom.role is ResourceRole.ROM and rom.sysfs_files == ("rom",)
    assert decode_flags(rom.flags, rom.role) == ["IORESOURCE_MEM", "IORESOURCE_PREFETCH",
                                                 "IORESOURCE_READONLY", "IORESOURCE_SIZEALIGN"]
    vf0, vf3 = used[7], used[10]
    assert (vf0.role, vf0.number, vf3.number) == (ResourceRole.VF_BAR, 0, 3)
    assert not vf0.prefetchable and vf0.is_64bit and vf0.size == 1 << 20 and vf0.sysfs_files == ()
    v = {r.index: r for r in vf.used()}
    assert sorted(v) == [0, 3] and v[0].size == v[3].size == 16 << 10
    assert v[0].sysfs_files == ("resource0",)  # non-prefetchable: no _wc file
    assert pf.first_line == 3 and vf.first_line == 18


def test_16k_bar_on_64k_host() -> None:
    """A 7-line file (no CONFIG_PCI_IOV): BAR 0 of 16 KiB, the rest unused."""
    (f,) = parse_resource((DATA / "sysfs_resource_64k_host_16k_bar_written.txt").read_text())
    assert len(f.resources) == 7 and [r.index for r in f.used()] == [0]
    assert f.resources[0].size == 0x4000 and f.resources[6].role is ResourceRole.ROM


@pytest.mark.parametrize(("count", "index", "role", "number"), [
    (13, 7, ResourceRole.VF_BAR, 0), (13, 12, ResourceRole.VF_BAR, 5), (17, 13, ResourceRole.BRIDGE_WINDOW, 0),  # noqa: E501
    (17, 16, ResourceRole.BRIDGE_WINDOW, 3), (11, 7, ResourceRole.BRIDGE_WINDOW, 0),
    (7, 5, ResourceRole.BAR, 5), (7, 6, ResourceRole.ROM, 0), (9, 8, ResourceRole.UNKNOWN, 8),
])
def test_resource_numbering(count: int, index: int, role: ResourceRole, number: int) -> None:
    """include/linux/pci.h numbering: BARs, ROM, IOV BARs, bridge windows by file length."""
    assert resource_role(index, count) == (role, number)


def test_decode_flags_keeps_unknown_bits() -> None:
    """Unknown bits are shown raw in hex; I/O and types are named."""
    assert decode_flags(0x101) == ["IORESOURCE_IO", "0x1"]
    assert decode_flags(0x04000000) == ["0x4000000"]
    assert decode_flags(0x10000000 | 0x200 | 0x20) == ["IORESOURCE_MEM", "IORESOURCE_DISABLED",
                                                       "IORESOURCE_PCI_EA_BEI"]
    assert decode_flags(0x1F00) == ["IORESOURCE_TYPE_0x1f00"]


@pytest.mark.parametrize(("text", "message"), [
    ("0x1 0x2\n", r"^f:1: not a resource line"),
    ("0x10 0x0f 0x200\n", r"^f:1: end 0xf is below start 0x10$"),
    ("prompt$ cat resource\n", r"^f:1: not a resource line"),
    ("", r"^f: no resource lines"),
    ("0x" + "1" * 17 + " 0x0 0x0\n", r"^f:1: not a resource line"),
])
def test_corrupt(text: str, message: str) -> None:
    """Malformed lines give one file:line error."""
    with pytest.raises(ParseError, match=message):
        parse_resource(text, "f")


def test_render_escapes_source() -> None:
    """Rendering escapes the source name."""
    (f,) = parse_resource("0x0 0xfff 0x40200\n", "a\x1bb")
    assert "\x1b" not in str(f) and "a\\x1bb" in str(f)

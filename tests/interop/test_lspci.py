"""lspci text: the real ConnectX-4 Lx / E810 / X550 listings, written GPU, -v and 64K-host samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from memattr.errors import ParseError
from memattr.interop.lspci import PciAddress, parse_lspci, parse_size

DATA = Path(__file__).resolve().parents[1] / "data"


def _one(name: str):  # type: ignore[no-untyped-def]
    (dev,) = parse_lspci((DATA / name).read_bytes(), name)
    return dev


def test_connectx4lx_golden() -> None:
    """Facts of the ConnectX-4 Lx PF on vfio-pci (tests/data/README.md)."""
    d = _one("lspci_vv_connectx4lx_pf_vfio_sriov.txt")
    assert d.address == PciAddress(None, 8, 0, 0) and str(d.address) == "08:00.0"
    assert d.class_name == "Ethernet controller" and d.name == "Mellanox Technologies MT27710 Family [ConnectX-4 Lx]"  # noqa: E501
    assert d.vendor_id is None and d.revision is None
    (r0,) = d.regions
    assert (r0.index, r0.space, r0.address, r0.size) == (0, "memory", 0x4018000000, 32 << 20)
    assert r0.is_64bit and r0.prefetchable and not r0.disabled and not r0.virtual
    assert d.rom is not None and (d.rom.address, d.rom.disabled, d.rom.size) == (0x85500000, True, 1 << 20)
    assert d.iommu_group == "27" and d.driver == "vfio-pci" and d.modules == ("mlx5_core",)
    assert d.memory_decode is True and d.express_type == "Endpoint"
    m = d.msix
    assert m is not None and (m.enabled, m.count, m.table_bar, m.table_offset, m.pba_bar, m.pba_offset) == \
        (False, 64, 0, 0x2000, 0, 0x3000)
    s = d.sriov
    assert s is not None
    assert (s.initial_vfs, s.total_vfs, s.num_vfs, s.vf_offset, s.vf_stride, s.vf_device_id) == (8, 8, 0, 2, 1, 0x1016)  # noqa: E501
    assert (s.supported_page_sizes, s.system_page_size) == (0x7FF, 1)
    (vf0,) = s.vf_regions
    assert (vf0.index, vf0.address, vf0.size, vf0.vf, vf0.prefetchable) == (0, 0x401C000000, None, True, True)
    cap = d.capability("Single Root")
    assert cap is not None and (cap.offset, cap.version, cap.extended) == (0x180, 1, True)
    assert [c.offset for c in d.capabilities] == [0x60, 0x48, 0x9C, 0xC0, 0x40, 0x100, 0x150, 0x180, 0x1C0, 0x230]  # noqa: E501


def test_e810_space_indented() -> None:
    """The E810 listing is indented with spaces; capability bodies still nest."""
    d = _one("lspci_vv_intel_e810_pf_vfio.txt")
    assert d.revision == 2 and d.name == "Intel Corporation Ethernet Controller E810-XXV for SFP"
    assert [(r.index, r.address, r.size) for r in d.regions] == [(0, 0x6002000000, 32 << 20), (3, 0x6004010000, 64 << 10)]  # noqa: E501
    assert d.msix is not None and (d.msix.table_bar, d.msix.count) == (3, 1024)
    assert d.sriov is None and d.iommu_group == "19" and d.modules == ("ice",)
    vpd = d.capability("Vital Product Data")
    assert vpd is not None and any("FFV20.0.0" in b for b in vpd.body)


def test_x550_vf_bars_non_prefetchable() -> None:
    """X550: PF BARs prefetchable, VF BARs (64-bit) not; driver ixgbe."""
    d = _one("lspci_vv_intel_x550_pf_sriov_ixgbe.txt")
    assert [(r.index, r.size, r.prefetchable) for r in d.regions] == [(0, 4 << 20, True), (4, 16 << 10, True)]
    s = d.sriov
    assert s is not None and (s.total_vfs, s.vf_offset, s.vf_stride, s.vf_device_id) == (64, 128, 2, 0x1565)
    assert [(r.index, r.address, r.is_64bit, r.prefetchable) for r in s.vf_regions] == \
        [(0, 0x80A00000, True, False), (3, 0x80B00000, True, False)]
    assert d.driver == "ixgbe" and d.rom is not None and d.rom.size == 512 << 10


def test_gpu_nn_D_k() -> None:
    """-D -nn -vv -k GPU: ids, domain, 64G prefetchable BAR, Resizable BAR, disabled I/O BAR."""
    gpu, audio = parse_lspci((DATA / "lspci_D_nn_vv_k_gpu_vfio_written.txt").read_text())
    assert str(gpu.address) == "0000:01:00.0" and gpu.class_id == 0x0300
    assert (gpu.vendor_id, gpu.device_id, gpu.revision, gpu.prog_if) == (0x10DE, 0x2230, 0xA1, 0)
    assert gpu.name == "NVIDIA Corporation GA102GL [RTX A6000]" and gpu.subsystem_ids == (0x10DE, 0x1459)
    bar1 = gpu.regions[1]
    assert (bar1.index, bar1.address, bar1.size, bar1.prefetchable) == (1, 0x30000000000, 64 << 30, True)
    io = gpu.regions[3]
    assert (io.space, io.address, io.size, io.disabled, io.prefetchable) == ("io", 0x1000, 128, True, None)
    rebar = next(c for c in gpu.capabilities if c.rebar)
    assert [(b.bar, b.current_size) for b in rebar.rebar] == [(0, 16 << 20), (1, 64 << 30), (3, 32 << 20)]
    assert rebar.rebar[1].supported[0] == 64 << 20 and len(rebar.rebar[1].supported) == 11
    assert gpu.express_type == "Legacy Endpoint" and gpu.numa_node == 0
    assert gpu.modules == ("nvidiafb", "nouveau") and gpu.memory_decode is True
    assert audio.memory_decode is False and audio.regions[0].disabled and audio.iommu_group == "12"


def test_single_v() -> None:
    """-v: BARs without index, [virtual] ROM, <ignored>/<unassigned>, IOMMU group in Flags."""
    igpu, hda, nic = parse_lspci((DATA / "lspci_v_laptop_written.txt").read_text())
    assert [r.index for r in igpu.regions] == [None, None, None]
    assert igpu.rom is not None and igpu.rom.virtual and igpu.rom.disabled and igpu.rom.address == 0xC0000
    assert igpu.iommu_group == "1" and igpu.capabilities[0].offset is None
    assert hda.prog_if == 0x80 and hda.regions[0].address_note == "<ignored>" and hda.regions[0].size is None
    assert hda.regions[1].address_note == "<unassigned>" and hda.regions[1].disabled
    assert [r.space for r in nic.regions] == ["io", "memory", "memory"] and nic.regions[2].size == 16 << 10


def test_64k_host_16k_bar() -> None:
    """The 16 KiB BAR on a 64K host is read; the prompt and getconf lines before it are skipped."""
    d = _one("lspci_D_nn_vv_64k_host_16k_bar_written.txt")
    assert d.line == 4 and d.address == PciAddress(2, 1, 0, 0) and d.class_id == 0x0108
    assert d.regions[0].size == 16 << 10 and d.msix is not None and d.msix.table_offset == 0x3000


def test_numeric_only() -> None:
    """-n: class and ids without names."""
    (d,) = parse_lspci("01:00.0 0200: 8086:159b (rev 02)\n")
    assert (d.class_id, d.vendor_id, d.device_id, d.revision, d.name) == (0x0200, 0x8086, 0x159B, 2, "")


@pytest.mark.parametrize(("text", "size"), [
    ("16K", 16 << 10), ("32M", 32 << 20), ("64G", 64 << 30), ("1T", 1 << 40), ("128", 128),
    ("80000000", 0x80000000), ("6K", 6 << 10),
])
def test_parse_size(text: str, size: int) -> None:
    """show_size's units, and the pre-3.3 hex form for 2 GiB and more."""
    assert parse_size(text) == size


@pytest.mark.parametrize(("text", "message"), [
    ("00:01.0 X: Y\n\tRegion 0: Memory at zz (64-bit, prefetchable)\n", r"^f:2: BAR line not"),
    ("00:01.0 X: Y\n\tRegion 7: Memory at 1000 (32-bit, prefetchable)\n", r"^f:2: Region 7"),
    ("00:01.0 X: Y\n\tRegion 0: Memory at 1000 (32-bit, prefetchable) [size=12Q]\n", r"^f:2: size '12Q'"),
    ("00:01.0 X: Y\n\tExpansion ROM at nowhere\n", r"^f:2: Expansion ROM line not"),
    ("00:01.0 X: Y\n\tCapabilities: [zz] Foo\n", r"^f:2: capability line"),
    ("00:01.0 X: Y\n\tCapabilities: [b0] MSI-X: Enable+ Count=1 Masked-\n\t\tVector table: BAR=7 offset=0\n",
     r"^f:3: MSI-X Vector table in BAR 7"),
    ("00:01.0 X: Y\n\tKernel driver in use: a\n\tKernel driver in use: b\n", r"^f:3: driver given twice"),
    ("00:3f.0 X: Y\n", r"^f:1: device number 0x3f"),
    ("00:01.0 no class separator\n", r"^f:1: device line without"),
    ("just text\n", r"^f: no lspci device line"),
    ("00:01.0 X: Y\n\nfoo\n\tindented orphan\n", r"^f:4: indented line outside a device"),
])
def test_corrupt(text: str, message: str) -> None:
    """Lines that look like parsed fields but break lspci's format give one file:line error."""
    with pytest.raises(ParseError, match=message):
        parse_lspci(text, "f")


def test_render_escapes() -> None:
    """Names from the input are rendered with escapes."""
    (d,) = parse_lspci("00:01.0 X: Evil\x1b]0;title\x07 Corp\n\tKernel driver in use: \x1b[31mred\n")
    out = str(d)
    assert "\x1b" not in out and "\x07" not in out and "\\x1b]0;title\\x07" in out
    assert d.name == "Evil\x1b]0;title\x07 Corp"  # stored raw

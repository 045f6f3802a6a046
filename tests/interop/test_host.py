"""lspci and sysfs to the Linux model's answers per BAR: real samples, flags, the scenario."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memattr.analysis.replay  # noqa: F401 - the Linux model's modules load in order
from memattr.analysis.compare import compare
from memattr.analysis.replay import replay
from memattr.analysis.scenario import loads
from memattr.interop.host import (
    DEFAULT_POLICIES,
    FLAG_KINDS,
    VARIANTS,
    HostConfig,
    answer,
    devices_from_lspci,
    page_size_hint,
    render_host,
    toml_string,
)
from memattr.interop.lspci import parse_lspci
from memattr.interop.sysfs import parse_resource
from memattr.linux.kvm.features import VmConfig

DATA = Path(__file__).resolve().parents[1] / "data"
X550 = DATA / "lspci_vv_intel_x550_pf_sriov_ixgbe.txt"
X550_RES = DATA / "sysfs_resource_intel_x550_pf_and_vf.txt"


def _devices(lspci: Path | str, *resources: tuple[str | None, Path], name: str = "l.txt"):  # type: ignore[no-untyped-def]
    text = lspci.read_bytes() if isinstance(lspci, Path) else lspci
    devs = parse_lspci(text, name)
    res = [(bdf, rf) for bdf, p in resources
           for rf in parse_resource(p.read_bytes(), p.name, allow_other_lines=True)]
    return devices_from_lspci(devs, name, res)


def _cells(rep, bar: str) -> dict[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    (b,) = [b for b in rep.bars if b.bar.name == bar]
    return {r.mapping.rsplit(" ", 1)[1]: {c.policy: c.text for c in r.cells} for r in b.rows}


def test_x550_with_sysfs() -> None:
    """The X550 PF (ixgbe) with its pasted resource files: PF BARs from lspci, VF BAR sizes from
    the IOV resources (1M / 64 VFs = 16K) and from VF 0's own file, the model's answers."""
    devs, notes = _devices(X550, (None, X550_RES))
    assert notes == []
    (d,) = devs
    bars = {b.name: b for b in d.bars}
    assert set(bars) == {"BAR0", "BAR4", "VF BAR0", "VF BAR3"}
    assert (bars["BAR0"].address, bars["BAR0"].size, bars["BAR0"].prefetchable) == \
        (0x6004800000, 4 << 20, True)
    assert bars["VF BAR0"].size == 16 << 10 and "TotalVFs 64" in bars["VF BAR0"].size_from
    assert bars["VF BAR3"].address == 0x80B00000 and bars["VF BAR3"].prefetchable is False
    rep = answer(devs, HostConfig())
    kinds = {f.kind for f in rep.device_flags[d.address]}
    assert kinds == {"driver"}  # ixgbe, and the VFs' own binding
    assert {f.kind for b in rep.bars if b.bar.name == "BAR4" for f in b.flags} == {"msix"}
    assert {f.kind for b in rep.bars if b.bar.name == "VF BAR0" for f in b.flags} == \
        {"side-effects"}
    for bar in bars:
        cells = _cells(rep, bar)
        assert list(cells) == [api for api, _ in VARIANTS]
        assert cells["ioremap_wc"] == {"6.8": "Device-nGnRE", "6.9": "Normal-NC", "6.17": "Normal-NC"}
        assert cells["ioremap_np"] == dict.fromkeys(DEFAULT_POLICIES, "Device-nGnRnE")
        assert cells["ioremap_cache"]["6.8"] == "Device-nGnRE"
    # every BAR got its own IPA in the guest window, naturally aligned
    ipas = [b.ipa for b in rep.bars]
    assert ipas[0] == 0x80_0000_0000 and all(i is not None and i % max(b.bar.size or 0, 4096) == 0
                                             for i, b in zip(ipas, rep.bars, strict=True))
    assert rep.found == set()


def test_emitted_scenario_replays_to_the_same_answers() -> None:
    """The scenario text loads with the scenario reader and `memattr run`'s replay gives the same
    table the host report shows."""
    devs, _ = _devices(X550, (None, X550_RES))
    cfg = HostConfig(policies=("6.8", "6.12"), fwb=(True,))
    rep = answer(devs, cfg)
    sc = loads(rep.scenario_text, "emitted.toml")
    assert sc.policies == ("6.8", "6.12") and sc.cpu.fwb == (True,)
    rp = replay(sc, vm=VmConfig(ipa_bits=40))
    table = {r.mapping: [c.text for c in r.cells] for r in compare(rp).rows}
    shown = {r.mapping: [c.text for c in r.cells] for b in rep.bars for r in b.rows}
    assert table == shown and len(table) == 4 * len(VARIANTS)


def test_connectx_vf_bar_without_size() -> None:
    """lspci prints no VF BAR size: without sysfs the VF BAR is flagged and left out."""
    devs, _ = _devices(DATA / "lspci_vv_connectx4lx_pf_vfio_sriov.txt")
    rep = answer(devs, HostConfig(policies=("6.9",)))
    vf = next(b for b in rep.bars if b.bar.vf)
    assert vf.ipa is None and not vf.rows
    assert [f.kind for f in vf.flags] == ["no-size"] and "IOV" in vf.flags[0].text
    pf = next(b for b in rep.bars if not b.bar.vf)
    assert pf.rows and rep.device_flags[devs[0].address] and \
        all(f.kind != "driver" or "SR-IOV" in f.text for f in rep.device_flags[devs[0].address])


def test_64k_host_sub_page_bar() -> None:
    """The 16K NVMe BAR on a 64K-page host: the page size comes from the pasted getconf, the BAR
    starts a page, so vfio-pci maps the page and reserves the rest."""
    path = DATA / "lspci_D_nn_vv_64k_host_16k_bar_written.txt"
    assert page_size_hint(path.read_bytes()) == (65536, 2)
    devs, _ = _devices(path, (None, DATA / "sysfs_resource_64k_host_16k_bar_written.txt"))
    rep = answer(devs, HostConfig(page_size=65536, policies=("6.9",)))
    (b,) = rep.bars
    kinds = [f.kind for f in b.flags]
    assert "sub-page" in kinds and "not-mmap" not in kinds and b.memslot
    assert _cells(rep, "BAR0")["ioremap_wc"] == {"6.9": "Normal-NC"}


_SUBPAGE = """\
01:00.0 Ethernet controller: Acme NIC (rev 01)
\tRegion 0: Memory at 80000800 (32-bit, non-prefetchable) [size=256]
\tRegion 2: Memory at 80010000 (32-bit, non-prefetchable) [size=256]
\tRegion 3: I/O ports at 1000 [size=32]
\tRegion 4: Memory at <ignored> (64-bit, prefetchable)
\tKernel driver in use: vfio-pci
"""


def test_sub_page_bars_ask_the_model() -> None:
    """A 256-byte BAR not starting a page is not mmap-able (vfio_pci_probe_mmaps, as the model
    says): no memslot, so every variant is an MMIO exit; one starting a page is mapped; the I/O
    and <ignored> BARs are flagged and left out."""
    devs, _ = _devices(_SUBPAGE)
    rep = answer(devs, HostConfig(policies=("6.9",), fwb=(True,)))
    by = {b.bar.name: b for b in rep.bars}
    assert not by["BAR0"].memslot and any(f.kind == "not-mmap" for f in by["BAR0"].flags)
    assert set(_cells(rep, "BAR0")["ioremap_wc"].values()) == {"MMIO exit"}
    assert by["BAR2"].memslot and _cells(rep, "BAR2")["ioremap_wc"] == {"6.9": "Normal-NC"}
    assert any(f.kind == "sub-page" and "05f0c03fbac1" in f.text for f in by["BAR2"].flags)
    assert [f.kind for f in by["BAR3"].flags] == ["io-port"] and by["BAR3"].ipa is None
    assert "no-address" in [f.kind for f in by["BAR4"].flags] and by["BAR4"].ipa is None
    assert {f.kind for f in by["BAR0"].flags} >= {"32-bit-np", "side-effects"}


def test_beyond_the_guest_ipa_space() -> None:
    """A 64G BAR in a 36-bit guest: flagged, and KVM refuses the memslot (the model's -EFAULT)."""
    devs, _ = _devices(DATA / "lspci_D_nn_vv_k_gpu_vfio_written.txt")
    rep = answer(devs, HostConfig(policies=("6.9",), fwb=(True,), ipa_bits=36))
    big = next(b for b in rep.bars if b.bar.name == "BAR1" and b.device.address.endswith("00.0"))
    assert any(f.kind == "beyond-ipa" for f in big.flags)
    cells = _cells(rep, "BAR1")
    assert set(cells["ioremap"].values()) <= {"no mapping", "-EFAULT"}
    ok = next(b for b in rep.bars if b.bar.name == "BAR0" and b.device.address.endswith("00.0"))
    assert not any(f.kind == "beyond-ipa" for f in ok.flags)


def test_overlapping_and_misplaced_bars() -> None:
    """Two functions claiming the same range: the second is left out; a misaligned BAR too."""
    text = ("01:00.0 Ethernet controller: A\n\tRegion 0: Memory at 90000000 (64-bit, prefetchable)"
            " [size=1M]\n\n02:00.0 Ethernet controller: B\n\tRegion 0: Memory at 90000000 (64-bit, "
            "prefetchable) [size=1M]\n\tRegion 2: Memory at 90201000 (64-bit, prefetchable) "
            "[size=64K]\n")
    rep = answer(_devices(text)[0], HostConfig(policies=("6.9",), fwb=(True,)))
    second = [b for b in rep.bars if b.device.address == "02:00.0"]
    assert [f.kind for b in second for f in b.flags if not f.modelled] == ["overlap", "overlap"]
    assert all(b.ipa is None for b in second)


def test_resource_files_matched() -> None:
    """By BDF, by address, or not at all (a note)."""
    lspci = X550.read_bytes()
    devs = parse_lspci(lspci, "x")
    (pf_file, vf_file) = parse_resource(X550_RES.read_bytes(), "r", allow_other_lines=True)
    hosts, notes = devices_from_lspci(devs, "x", [("0000:05:00.0", pf_file)])
    assert notes == [] and next(b for b in hosts[0].bars if b.name == "VF BAR0").size == 16 << 10
    hosts, notes = devices_from_lspci(devs, "x", [(None, vf_file)])  # VF 0's own file
    assert next(b for b in hosts[0].bars if b.name == "VF BAR3").size == 16 << 10
    assert "VF 0's sysfs" in next(b for b in hosts[0].bars if b.name == "VF BAR3").size_from
    hosts, notes = devices_from_lspci(devs, "x", [("09:00.0", pf_file)])
    assert len(notes) == 1 and "09:00.0" in notes[0]
    other = parse_resource("0x00000000deadb000 0x00000000deadbfff 0x0000000000040200\n", "o")
    _h, notes = devices_from_lspci(devs, "x", [(None, other[0])])
    assert len(notes) == 1 and "match no device" in notes[0]


def test_hostile_names_reach_neither_terminal_nor_toml_raw() -> None:
    """Control characters and quotes in a device name: escaped in the report, and the emitted
    scenario still loads."""
    text = ("01:00.0 Ethernet controller: Evil \x1b[2J \"quoted\" \\ name\x7f\n"
            "\tRegion 0: Memory at 90000000 (64-bit, prefetchable) [size=64K]\n"
            "\tKernel driver in use: evil\x1b]0;t\x07\n")
    rep = answer(_devices(text)[0], HostConfig(policies=("6.9",), fwb=(True,)), ("f\x1b.txt",))
    out = render_host(rep)
    assert "\x1b" not in out and "\x07" not in out and "\\x1b[2J" in out
    loads(rep.scenario_text, "emitted")


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_toml_string_round_trip(text: str) -> None:
    """Any string becomes a TOML string that reads back as itself (lone surrogates as U+FFFD)."""
    want = "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)
    assert tomllib.loads(f"k = {toml_string(text)}")["k"] == want


def test_fail_on_hazard_found() -> None:
    """A rejected alternative that makes MMIO cacheable (FWB 0b110) is a hazard --fail-on sees."""
    devs, _ = _devices(DATA / "lspci_vv_intel_e810_pf_vfio.txt")
    rep = answer(devs, HostConfig(policies=("fwb-0b110",), fwb=(True,)))
    assert rep.found == {"hazard"}
    h = [h for b in rep.bars for h in b.hazards if h.level == "hazard"]
    assert h and h[0].kind == "cacheable MMIO" and "ioremap_cache" in h[0].apis


def test_flag_kinds_documented() -> None:
    """Every flag raised on the samples has a documented kind."""
    seen = set()
    for name in ("lspci_v_laptop_written.txt", "lspci_D_nn_vv_k_gpu_vfio_written.txt",
                 "lspci_vv_connectx4lx_pf_vfio_sriov.txt"):
        devs, _ = _devices(DATA / name)
        rep = answer(devs, HostConfig(policies=("6.9",), fwb=(True,)))
        seen |= {f.kind for b in rep.bars for f in b.flags}
        seen |= {f.kind for fl in rep.device_flags.values() for f in fl}
    assert seen <= set(FLAG_KINDS)
    assert {"io-port", "no-address", "no-size", "disabled", "numbered", "not-pcie",
            "driver"} <= seen


def test_json_document() -> None:
    """The JSON form names every BAR with hex addresses and each cell per FWB setting."""
    devs, _ = _devices(DATA / "lspci_vv_intel_e810_pf_vfio.txt")
    doc = answer(devs, HostConfig(policies=("6.8", "6.9"))).to_json()
    bar0 = doc["bars"][0]
    assert bar0["bar"]["address"] == "0x6002000000" and bar0["ipa"] == "0x8000000000"
    wc = next(a for a in bar0["answers"] if a["api"] == "ioremap_wc")
    assert [c["by_fwb"] for c in wc["cells"]] == [["Device-nGnRE"] * 2, ["Normal-NC"] * 2]


def test_no_bars_no_replay() -> None:
    """A listing of bridges only: no scenario replay, nothing flagged beyond the devices."""
    text = "00:00.0 Host bridge: Acme Root Complex\n\tKernel driver in use: pcieport\n"
    rep = answer(_devices(text)[0], HostConfig())
    assert rep.bars == () and rep.replay is None
    assert "no BARs" in render_host(rep)


@pytest.mark.parametrize("text, want", [("$ getconf PAGESIZE\n16384\n00:00.0 x: y\n", (16384, 2)),
                                        ("getconf PAGE_SIZE\n65536\n", (65536, 2)),
                                        ("$ getconf PAGESIZE\n12345\n", None), ("", None)])
def test_page_size_hint(text: str, want: tuple[int, int] | None) -> None:
    """Only a page size arm64 has, right after the getconf line."""
    assert page_size_hint(text) == want


def test_listed_twice_and_too_many() -> None:
    """A function listed twice is left out the second time; past MAX_BARS BARs, the rest too."""
    from memattr.interop.host import MAX_BARS

    one = ("01:00.0 Ethernet controller: A\n"
           "\tRegion 0: Memory at 90000000 (64-bit, prefetchable) [size=64K]\n\n")
    rep = answer(_devices(one + one)[0], HostConfig(policies=("6.9",), fwb=(True,)))
    assert [b.ipa is not None for b in rep.bars] == [True, False]
    assert any("listed twice" in f.text for f in rep.bars[1].flags)
    many = "".join(f"{i // 32:02x}:{i % 32:02x}.0 Ethernet controller: N{i}\n\tRegion 0: Memory at "
                   f"{0x9000_0000 + i * 0x10000:x} (64-bit, prefetchable) [size=64K]\n\n"
                   for i in range(MAX_BARS + 3))
    devs = _devices(many)[0]
    from memattr.interop.host import host_scenario

    plan = host_scenario(devs, HostConfig(policies=("6.9",), fwb=(True,)))
    assert sum(p.ipa is not None for p in plan.planned) == MAX_BARS
    assert any("more than 64 BARs" in f.text for p in plan.planned for f in p.flags)


def test_odd_bar_shapes() -> None:
    """A 32-bit BAR above 4 GiB is left out; a BAR at 0 is flagged; low-1M and type 3 are kept."""
    text = ("01:00.0 Ethernet controller: A\n"
            "\tRegion 0: Memory at 190000000 (32-bit, prefetchable) [size=64K]\n"
            "\tRegion 1: Memory at 0 (64-bit, prefetchable) [size=64K]\n"
            "\tRegion 2: Memory at 80000 (low-1M, prefetchable) [size=64K]\n"
            "\tRegion 3: Memory at a0000000 (type 3, prefetchable) [size=64K]\n")
    rep = answer(_devices(text)[0], HostConfig(policies=("6.9",), fwb=(True,)))
    by = {b.bar.name: b for b in rep.bars}
    assert by["BAR0"].ipa is None and "above 4 GiB" in by["BAR0"].flags[0].text
    assert by["BAR1"].ipa is not None and [f.kind for f in by["BAR1"].flags] == ["no-address"]
    assert by["BAR2"].rows and by["BAR3"].rows and by["BAR3"].bar.bits is None


def test_vf_bar_size_printed_by_a_listing() -> None:
    """A VF BAR line with a size (pciutils prints none) is taken as the size of one VF's BAR."""
    text = ("01:00.0 Ethernet controller: A\n"
            "\tCapabilities: [160 v1] Single Root I/O Virtualization (SR-IOV)\n"
            "\t\tInitial VFs: 8, Total VFs: 8, Number of VFs: 0, Function Dependency Link: 00\n"
            "\t\tRegion 0: Memory at 0000000090000000 (64-bit, prefetchable) [size=16K]\n"
            "\tKernel driver in use: vfio-pci\n")
    (d,), _ = _devices(text)
    (vf,) = d.bars
    assert (vf.vf, vf.size, vf.size_from) == (True, 16 << 10, "lspci (per VF)")

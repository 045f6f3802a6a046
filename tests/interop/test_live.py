"""A live host read from recorded trees (tests/data/hosts/): read-only, bounded, hostile-proof."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
from pathlib import Path

import pytest

import memattr.analysis.replay  # noqa: F401 - the Linux model's modules load in order
from memattr.analysis.scenario import load
from memattr.errors import ConfigError, ParseError
from memattr.interop import live as L
from memattr.interop.host import HostConfig, answer, render_host
from memattr.linux.version import KernelVersion

HOSTS = Path(__file__).resolve().parents[1] / "data" / "hosts"
ARM = HOSTS / "arm64_6.12_n1_written"
X86 = HOSTS / "x86_64_6.1_written"
VM = HOSTS / "arm64_6.12_n1_written.vm-4242-15.toml"


def test_arm64_tree_golden() -> None:
    """Every fact of the recorded arm64 host, as its files state it."""
    h = L.read_live(str(ARM))
    assert (h.machine, h.arm64, h.release) == ("aarch64", True, "6.12.38+deb13-arm64")
    assert h.kernel == KernelVersion(6, 12) and h.page_size == 4096
    assert h.config_source == "/boot/config-6.12.38+deb13-arm64" and h.config["CONFIG_KVM"] == "y"
    assert h.cpu == "neoverse-n1" and h.midr == ((0x41, 0xD0C),) and "atomics" in h.features
    assert h.detected == {"idc": "/var/log/kern.log", "ras": "/var/log/kern.log"}
    assert (h.fwb, h.dic, h.mte) == (False, False, False)
    assert h.ipa_limit == 48  # "kvm [1]: IPA Size Limit: 48 bits" (kvm_set_ipa_limit)
    devs = {d.address: d for d in h.devices}
    assert set(devs) == {"0000:00:01.0", "0000:01:00.0", "0000:01:00.1", "0000:05:00.0"}
    gpu = devs["0000:01:00.0"]
    assert (gpu.driver, gpu.express, gpu.msix) == ("vfio-pci", "Endpoint", (0, 0xB90000, 0, 0xBA0000))
    assert [(b.name, b.address, b.size, b.bits, b.prefetchable) for b in gpu.bars] == [
        ("BAR0", 0x3000_0000, 16 << 20, 32, False), ("BAR1", 0x3000_0000_0000, 64 << 30, 64, True),
        ("BAR3", 0x3010_0000_0000, 32 << 20, 64, True), ("BAR5", 0x1000, 0x80, None, None)]
    nic = devs["0000:05:00.0"]
    assert (nic.driver, nic.total_vfs, nic.num_vfs, nic.msix) == ("ixgbe", 64, 0, (4, 0, 4, 0x2000))
    assert [(b.name, b.size) for b in nic.bars if b.vf] == [("VF BAR0", 16 << 10), ("VF BAR3", 16 << 10)]
    assert devs["0000:00:01.0"].express == "Root Port" and devs["0000:00:01.0"].bars == ()
    assert len(h.iomem) == 19 and h.iomem[0] == L.IomemEntry(0, 0x8000_0000, 0xFBFF_FFFF, "System RAM", 1)
    (vm,) = h.vms
    assert (vm.name, vm.ipa_bits, vm.levels) == ("4242-15", 40, 3)
    assert vm.dump is not None and vm.dump.dialect == "v6.11" and len(vm.dump.leaves()) == 5
    assert h.kvm_caps is None and any("recorded tree" in n for n in h.notes)


def test_live_vm_against_the_model() -> None:
    """The VM's stage 2 against what 6.12 writes for the VM its scenario describes: the guest RAM
    the host backed with 2M THP blocks differs in leaf size only; the GPU BARs agree."""
    h = L.read_live(str(ARM))
    cfg = HostConfig(policies=("6.12",), fwb=(False,), cpu="neoverse-n1")
    (d,) = L.diff_vms(h, {None: load(VM)}, cfg)
    assert d.policy == "6.12" and d.fwb is False and d.faults > 0
    assert [(hex(i.start), hex(i.end), i.kinds) for i in d.diff.items] == [
        ("0x40000000", "0x40200000", ("leaf-size",)), ("0x40200000", "0x40400000", ("leaf-size",)),
        ("0x40400000", "0x80000000", ("leaf-size",))]
    assert all(c.a == "4K page (level 3)" and c.b == "2M block (level 2)"
               for i in d.diff.items for c in i.changes)
    text = L.render_live(h, [d])
    assert "VM 4242-15: 5 mapped ranges, 40-bit IPA; compared with the model of 6.12" in text
    assert "X column read as the v6.11 dialect" in text
    # Without a scenario the VM is listed, and the report says why it is not compared.
    (n,) = L.diff_vms(h, {}, cfg)
    assert n.diff is None and "no scenario" in n.note


def test_same_answers_as_from_artefacts() -> None:
    """The GPU read from sysfs gets the same table as the same GPU read from lspci."""
    from memattr.interop.host import devices_from_lspci
    from memattr.interop.lspci import parse_lspci

    h = L.read_live(str(ARM))
    cfg = HostConfig(policies=("6.8", "6.12"), fwb=(False,), cpu="neoverse-n1")
    live_rep = answer([d for d in h.devices if d.address == "0000:01:00.0"], cfg)
    text = (Path(__file__).resolve().parents[1] / "data" /
            "lspci_D_nn_vv_k_gpu_vfio_written.txt").read_text()
    text = text.replace("50000000 (32-bit", "30000000 (32-bit").replace(
        "30000000000 (64-bit, prefetchable) [size=64G]", "300000000000 (64-bit, prefetchable) [size=64G]"
    ).replace("31000000000 (64-bit", "301000000000 (64-bit")
    devs, _ = devices_from_lspci(parse_lspci(text, "l")[:1], "l")
    art_rep = answer(devs, cfg)

    def table(rep):  # type: ignore[no-untyped-def]
        return [(b.bar.name, b.ipa, [(r.mapping.rsplit(" ", 1)[1], [c.text for c in r.cells])
                                     for r in b.rows]) for b in rep.bars]

    assert table(live_rep) == table(art_rep)


def test_x86_tree_says_so() -> None:
    """On a tree that is not arm64 the reader says so and still reads what it can."""
    h = L.read_live(str(X86))
    assert h.arm64 is False and h.machine == "x86_64" and h.kernel == KernelVersion(6, 1)
    assert h.cpu is None and h.features == () and h.page_size is None
    (d,) = h.devices
    assert d.driver == "nvme" and d.express is None  # 64 bytes of config: caps not read
    assert any("need root" in n for n in h.notes)
    assert any("every address reads 0" in n for n in h.notes)
    text = L.render_live(h, [])
    assert "machine x86_64: not arm64" in text
    rep = answer(h.devices, HostConfig(policies=("6.9",), fwb=(True,)))
    assert rep.bars[0].rows


def _snapshot(root: Path) -> dict[str, tuple[str, float]]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for n in files + dirs:
            p = Path(dirpath) / n
            if p.is_symlink():
                out[str(p)] = (os.readlink(p), p.lstat().st_mtime)
            elif p.is_file():
                out[str(p)] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime)
    return out


def test_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No open for writing, and the tree is byte for byte and time for time the same after."""
    before = _snapshot(ARM)
    real_open = os.open

    def guarded(path, flags, *a, **k):  # type: ignore[no-untyped-def]
        assert not flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND), path
        return real_open(path, flags, *a, **k)

    monkeypatch.setattr(os, "open", guarded)
    L.read_live(str(ARM))
    monkeypatch.undo()
    assert _snapshot(ARM) == before


def _tree(tmp: Path, files: dict[str, bytes | str]) -> Path:
    for rel, data in files.items():
        p = tmp / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data.encode() if isinstance(data, str) else data)
    return tmp


def test_hostile_tree(tmp_path: Path) -> None:
    """Binary, huge, FIFO, escaping symlinks, control characters, a gzip bomb: notes, escaped,
    never an exception or a hang."""
    root = _tree(tmp_path, {
        "proc/sys/kernel/osrelease": b"6.9\x1b[2J-evil\n",
        "proc/sys/kernel/arch": b"aarch64\n",
        "proc/cpuinfo": b"Features\t: fp \x1b]0;t\x07\nCPU implementer\t: 0x41\nCPU part\t: zz\n",
        "proc/iomem": b"not an iomem line\n",
        "proc/config.gz": gzip.compress(b"CONFIG_A=y\n" * 600_000),
        "var/log/kern.log": b"\xff\xfe CPU features: detected: Stage-2 Force Write-Back\n",
        "sys/bus/pci/devices/notabdf\x1b[31m/resource": b"x",
        "sys/kernel/debug/kvm/1-2/stage2_page_tables": b"\x00\x01binary",
        "sys/kernel/debug/kvm/1-2/ipa_range": b"99\n",
        "sys/kernel/debug/kvm/../../x": b"",
    })
    dev = root / "sys/bus/pci/devices/0000:01:00.0"
    dev.mkdir(parents=True)
    (dev / "resource").write_bytes(b"0x1 0x0 0x0\n")
    (dev / "class").write_bytes(b"0x" + b"f" * 100 + b"\n")
    os.mkfifo(dev / "vendor")
    (dev / "device").write_bytes(b"a" * (2 << 20))
    (dev / "driver").symlink_to("/etc")  # leads outside the tree: not even its name is used
    (dev / "config").symlink_to("/etc/passwd")  # leads outside the tree
    esc = root / "sys/bus/pci/devices/0000:02:00.0"
    esc.symlink_to("/")  # a device directory outside the tree
    h = L.read_live(str(root))
    text = L.render_live(h, L.diff_vms(h, {}, HostConfig()))
    assert "\x1b" not in text and "\x07" not in text
    assert h.kernel == KernelVersion(6, 9) and "\\x1b[2J" in text
    assert h.detected == {"fwb": "/var/log/kern.log"}
    assert any("4 MiB" in n for n in h.notes)  # the bomb
    assert any("leads outside the tree" in n for n in h.notes)
    assert any("a FIFO" in n for n in h.notes) and any("too large" in n for n in h.notes)
    assert any("notabdf\\x1b[31m" in n for n in h.notes)
    (vm,) = h.vms
    assert vm.dump is None and any("binary" in p for p in vm.problems)
    assert any("IPA size 99" in p for p in vm.problems)
    devs = {d.address: d for d in h.devices}
    assert "0000:02:00.0" not in devs
    d = devs["0000:01:00.0"]
    assert d.bars == () and d.driver is None and d.class_id is None
    assert any("is not a class code" in n for n in h.notes)
    render_host(answer(h.devices, HostConfig()))


def test_root_must_be_a_directory(tmp_path: Path) -> None:
    """A missing root is a one-line ConfigError."""
    with pytest.raises(ConfigError, match="not a directory"):
        L.read_live(str(tmp_path / "nope"))


def test_kvm_caps_by_ioctl(monkeypatch: pytest.MonkeyPatch) -> None:
    """KVM_CHECK_EXTENSION is asked for each capability on /dev/kvm (opened read-only)."""
    import fcntl
    import stat

    asked: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "stat", lambda p, *a, **k: os.stat_result(
        (stat.S_IFCHR | 0o660, 0, 0, 1, 0, 0, 0, 0, 0, 0)))
    monkeypatch.setattr(os, "open", lambda p, flags, *a: (p == "/dev/kvm" and not flags & os.O_RDWR
                                                           and not flags & os.O_WRONLY) and 99)
    monkeypatch.setattr(os, "close", lambda fd: None)
    monkeypatch.setattr(fcntl, "ioctl", lambda fd, req, arg: asked.append((req, arg)) or 48)
    h = L.LiveHost(root="/")
    caps = L._kvm_caps(h)
    assert caps == dict.fromkeys(L.KVM_CAPS, 48)
    assert asked == [(0xAE03, c) for c in L.KVM_CAPS.values()]


def test_no_ioctl_off_arm64(tmp_path: Path) -> None:
    """On a recorded tree no ioctl is made, whatever the machine."""
    h = L.read_live(str(ARM))
    assert h.kvm_caps is None


def test_parse_iomem() -> None:
    """Depth from two-space indentation; errors with file:line."""
    got = L.parse_iomem("00000000-0000ffff : reserved\n  00001000-00001fff : x : y\n")
    assert got == (L.IomemEntry(0, 0, 0xFFFF, "reserved", 1), L.IomemEntry(1, 0x1000, 0x1FFF, "x : y", 2))
    for bad, msg in (("zz\n", ":1: not an iomem line"), (" 0-1 : odd\n", "two per level"),
                     ("2-1 : back\n", "below start")):
        with pytest.raises(ParseError, match=msg):
            L.parse_iomem(bad, "iomem")


def test_parse_cpuinfo_and_config() -> None:
    """The fields memattr uses, and nothing else."""
    c = L.parse_cpuinfo("Features\t: fp mte\nCPU implementer\t: 0x41\nCPU part\t: 0xd4f\n")
    assert c == {"features": ("fp", "mte"), "midr": ((0x41, 0xD4F),), "x86": False}
    assert L.parse_cpuinfo("vendor_id : GenuineIntel\n")["x86"] is True
    cfg = L.parse_config("CONFIG_A=y\n# CONFIG_B is not set\nnoise\nCONFIG_C=\"x\"\n")
    assert cfg == {"CONFIG_A": "y", "CONFIG_B": "n", "CONFIG_C": '"x"'}


def _cfg(status: int, caps: list[tuple[int, bytes]]) -> bytes:
    b = bytearray(256)
    struct.pack_into("<H", b, 6, status)
    ptr = 0x40
    b[0x34] = ptr if caps else 0
    for i, (cid, body) in enumerate(caps):
        b[ptr], b[ptr + 1] = cid, ptr + 0x10 if i + 1 < len(caps) else 0
        b[ptr + 2:ptr + 2 + len(body)] = body
        ptr += 0x10
    return bytes(b)


def test_pci_config_caps() -> None:
    """PCIe device type and MSI-X location from config space; loops and short reads are safe."""
    assert L.pci_config_caps(b"\0" * 63)["express"] is None
    assert L.pci_config_caps(_cfg(0, []))["express"] == ""  # no capability list
    got = L.pci_config_caps(_cfg(0x10, [(0x10, struct.pack("<H", 0x92)),
                                        (0x11, struct.pack("<HII", 7, 0x3001, 0x2002))]))
    assert got["express"] == "Root Complex Integrated Endpoint" and got["msix"] == (1, 0x3000, 2, 0x2000)
    loop = bytearray(_cfg(0x10, [(0x09, b""), (0x09, b"")]))
    loop[0x51] = 0x40  # the second points back at the first
    assert L.pci_config_caps(bytes(loop))["express"] == ""
    short = _cfg(0x10, [(0x10, struct.pack("<H", 0x02))])[:0x44]
    assert L.pci_config_caps(short)["express"] is None


@pytest.mark.parametrize("release, want", [((6, 10), None), ((6, 11), "v6.11"), ((6, 16), "v6.11"),
                                           ((6, 17), None), (None, None)])
def test_kvm_dialect_for(release: tuple[int, int] | None, want: str | None) -> None:
    """Only releases known to print the v6.11 X column settle it."""
    r = KernelVersion(*release) if release else None
    assert L.kvm_dialect_for(r)[0] == want


def test_big_log_read_from_its_head(tmp_path: Path) -> None:
    """A kernel log past the bound is read from its head, where the boot lines are."""
    root = _tree(tmp_path, {"var/log/kern.log": "kernel: CPU features: detected: Stage-2 Force "
                            "Write-Back\n"})
    log = root / "var/log/kern.log"
    with open(log, "ab") as fh:
        fh.write(b"y" * (17 << 20))
    h = L.read_live(str(root))
    assert h.detected == {"fwb": "/var/log/kern.log"} and h.fwb is True

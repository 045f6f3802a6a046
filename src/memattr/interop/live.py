"""What a running arm64 host exposes, read without changing anything: the same answers as from
artefacts, from ``/proc``, ``/sys``, ``/boot``, ``/var/log`` and KVM's debugfs.

:func:`read_live` reads under ``root`` ('/' for this machine, or a recorded directory tree):

- the kernel release (``proc/sys/kernel/osrelease``) and configuration (``proc/config.gz``, else
  ``boot/config-<release>``): CONFIG_ARM64_{4K,16K,64K}_PAGES gives PAGE_SIZE;
- the CPU: ``proc/cpuinfo`` (MIDR implementer/part, for a :mod:`memattr.arch.cpu` preset; the
  ``Features`` hwcaps, e.g. ``mte``) and the kernel's ``CPU features: detected: ...`` lines
  (arch/arm64/kernel/cpufeature.c ``update_cpu_capabilities``) in ``var/log/{kern.log,dmesg,
  messages,syslog}``: "Stage-2 Force Write-Back" (ARM64_HAS_STAGE2_FWB), "Instruction cache
  invalidation not required for I/D coherence" (ARM64_HAS_CACHE_DIC), "Memory Tagging Extension";
- every PCI function in ``sys/bus/pci/devices``: ``resource``, ``driver``, ``class``, ``vendor``,
  ``device``, ``sriov_totalvfs``, ``sriov_numvfs`` and the capability list in ``config`` (the PCI
  Express device type, the MSI-X table); ``proc/iomem``;
- KVM's capabilities with ``ioctl(KVM_CHECK_EXTENSION)`` on ``/dev/kvm`` -- only on the machine
  itself (root '/'), only on arm64, and only when the device exists;
- each VM's ``sys/kernel/debug/kvm/<pid>-<fd>/{stage2_page_tables,ipa_range,stage2_levels}``.

Everything is read-only: files are opened O_RDONLY through the bounded reader
(:func:`memattr.inputs.files.read_bytes`: regular files only, at most ``_LIMIT`` bytes each; a
log's first 16 MiB the same way),
directories are listed with bounds, a path that resolves outside ``root`` is not followed, and
what cannot be read becomes a note, not an error.  Strings from the tree are kept raw in the
values and escaped (:func:`memattr.inputs.escape.escape`) wherever they are shown.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, MemattrError, ParseError
from ..inputs.escape import escape, show_path, truncate
from .host import Flag, HostBar, HostDevice
from .sysfs import ResourceKind, ResourceRole, parse_resource

if TYPE_CHECKING:
    from .ptdump import PageTableDump

__all__ = [
    "IomemEntry",
    "LiveVm",
    "LiveHost",
    "KVM_CHECK_EXTENSION",
    "KVM_CAPS",
    "CPU_FEATURE_LINES",
    "MIDR_PRESETS",
    "parse_iomem",
    "parse_cpuinfo",
    "parse_config",
    "pci_config_caps",
    "kvm_dialect_for",
    "read_live",
    "VmDiff",
    "diff_vms",
    "render_live",
]

_LIMIT = 1 << 20  # bytes read from one file of the tree
_LOG_LIMIT = 16 << 20  # bytes read from the head of a log
_MAX_ENTRIES = 4096  # directory entries looked at
_MAX_VMS = 256

KVM_CHECK_EXTENSION = 0xAE03
"""include/uapi/linux/kvm.h: ``_IO(KVMIO, 0x03)`` with KVMIO 0xAE."""

KVM_CAPS: dict[str, int] = {
    "KVM_CAP_ARM_VM_IPA_SIZE": 165,
    "KVM_CAP_ARM_NISV_TO_USER": 177,
    "KVM_CAP_ARM_MTE": 205,
    "KVM_CAP_ARM_CACHEABLE_PFNMAP_SUPPORTED": 243,
}
"""The capabilities asked (include/uapi/linux/kvm.h); the last answers 0 on /dev/kvm by design
(it is a VM capability; memattr.linux.kvm.features.kvm_vm_ioctl_check_extension)."""

CPU_FEATURE_LINES: dict[str, str] = {
    "Stage-2 Force Write-Back": "fwb",
    "Instruction cache invalidation not required for I/D coherence": "dic",
    "Data cache clean to the PoU not required for I/D coherence": "idc",
    "Memory Tagging Extension": "mte",
    "RAS Extension Support": "ras",
}
"""arch/arm64/kernel/cpufeature.c ``.desc`` strings (printed as "CPU features: detected: %s")
and the host feature each one sets."""

MIDR_PRESETS: dict[tuple[int, int], str] = {
    (0x41, 0xD0B): "cortex-a76",
    (0x41, 0xD0C): "neoverse-n1",
    (0x41, 0xD4F): "neoverse-v2",
}
"""(implementer, part) from /proc/cpuinfo -> a memattr.arch.cpu preset
(arch/arm64/include/asm/cputype.h ARM_CPU_PART_CORTEX_A76 0xD0B, NEOVERSE_N1 0xD0C,
NEOVERSE_V2 0xD4F)."""

# include/uapi/linux/pci_regs.h: config-space fields as (offset, lsb, width).
_PCI_STATUS_CAP_LIST = (0x06, 4, 1)
_PCI_CAPABILITY_LIST = 0x34
_PCI_CAP_ID_EXP = 0x10
_PCI_CAP_ID_MSIX = 0x11
_PCI_EXP_FLAGS_TYPE = (2, 4, 4)  # PCI_EXP_FLAGS_TYPE, relative to the capability
_PCI_MSIX_TABLE = 4  # PCI_MSIX_TABLE: BIR in bits 2:0, offset the rest
_PCI_MSIX_PBA = 8
_PCI_MSIX_BIR = (0, 3)  # (lsb, width) inside the dword
_PCI_EXP_TYPES = {0: "Endpoint", 1: "Legacy Endpoint", 4: "Root Port", 5: "Upstream Port",
                  6: "Downstream Port", 7: "PCI-Express to PCI/PCI-X Bridge",
                  8: "PCI/PCI-X to PCI-Express Bridge", 9: "Root Complex Integrated Endpoint",
                  10: "Root Complex Event Collector"}
# include/linux/pci_ids.h base classes (PCI Code and ID Assignment Specification).
_CLASSES = {0x00: "Unclassified device", 0x01: "Mass storage controller",
            0x02: "Network controller", 0x03: "Display controller",
            0x04: "Multimedia controller", 0x05: "Memory controller", 0x06: "Bridge",
            0x07: "Communication controller", 0x08: "Generic system peripheral",
            0x0C: "Serial bus controller", 0x0D: "Wireless controller",
            0x12: "Processing accelerators"}

# arch/arm64/kvm/reset.c kvm_set_ipa_limit: kvm_info("IPA Size Limit: %d bits%s\n", ...).
_IPA_LIMIT = re.compile(r"kvm \[\d+\]: IPA Size Limit: (\d{2}) bits")
_BDF = re.compile(r"^[0-9a-fA-F]{4,8}:[0-9a-fA-F]{2}:[0-1][0-9a-fA-F]\.[0-7]$")
_VM_DIR = re.compile(r"^(\d{1,10})-(\d{1,10})$")


def _bits(value: int, lsb: int, width: int) -> int:
    """Bits [lsb + width - 1 : lsb] of ``value`` (the config-space field tables above)."""
    return (value >> lsb) & ((1 << width) - 1)


# --- parsers of the tree's small files ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IomemEntry:
    """One ``/proc/iomem`` line: its nesting depth, range (inclusive end) and name."""

    depth: int
    start: int
    end: int
    name: str
    line: int


_IOMEM = re.compile(r"^( *)([0-9a-fA-F]{1,16})-([0-9a-fA-F]{1,16}) : (.*)$")


def parse_iomem(data: str | bytes, source: str = "/proc/iomem") -> tuple[IomemEntry, ...]:
    """``/proc/iomem`` (kernel/resource.c ``r_show``: two spaces per depth, ``%0*llx-%0*llx :
    %s``).  Without CAP_SYS_ADMIN every address reads 0.

    :param data: the file's text.
    :param source: its name, for messages.
    """
    from ._text import DEFAULT_LIMITS, echo, fail, split_lines

    out = []
    for n, text in enumerate(split_lines(data, source, DEFAULT_LIMITS), 1):
        if not text.strip():
            continue
        m = _IOMEM.match(text)
        if m is None:
            raise fail(source, n, f"not an iomem line '<start>-<end> : <name>': {echo(text)}")
        depth, rem = divmod(len(m.group(1)), 2)
        if rem:
            raise fail(source, n, f"indentation of {len(m.group(1))} spaces (expected two per level)")
        start, end = int(m.group(2), 16), int(m.group(3), 16)
        if end < start:
            raise fail(source, n, f"end 0x{end:x} is below start 0x{start:x}")
        out.append(IomemEntry(depth, start, end, m.group(4), n))
    return tuple(out)


def parse_cpuinfo(data: str | bytes, source: str = "/proc/cpuinfo") -> dict[str, Any]:
    """The fields of ``/proc/cpuinfo`` memattr uses: arm64 ``Features`` (hwcaps), ``CPU
    implementer`` / ``CPU part`` of each CPU (arch/arm64/kernel/cpuinfo.c ``c_show``), and
    x86's ``flags`` / ``vendor_id`` to tell another architecture.

    :param data: the file's text.
    :param source: its name, for messages.
    """
    from ._text import split_lines

    features: dict[str, None] = {}
    midrs: dict[tuple[int, int], None] = {}
    impl: int | None = None
    other = False
    for text in split_lines(data, source, lenient=True):
        key, sep, value = text.partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        if key == "Features":
            features.update(dict.fromkeys(value.split()))
        elif key == "CPU implementer":
            impl = _num(value)
        elif key == "CPU part" and impl is not None:
            part = _num(value)
            if part is not None:
                midrs[(impl, part)] = None
        elif key in ("vendor_id", "flags", "cpu family"):
            other = True
    return {"features": tuple(features), "midr": tuple(midrs), "x86": other}


def _num(text: str) -> int | None:
    try:
        return int(text, 0)
    except ValueError:
        return None


def parse_config(data: str | bytes, source: str = "config") -> dict[str, str]:
    """``CONFIG_X=value`` lines of a kernel configuration (``# CONFIG_X is not set`` -> 'n').

    :param data: the configuration text.
    :param source: its name, for messages.
    """
    from ._text import split_lines

    out: dict[str, str] = {}
    for text in split_lines(data, source, lenient=True):
        t = text.strip()
        m = re.match(r"^(CONFIG_[A-Za-z0-9_]+)=(.*)$", t)
        if m:
            out[m.group(1)] = m.group(2)
            continue
        m = re.match(r"^# (CONFIG_[A-Za-z0-9_]+) is not set$", t)
        if m:
            out[m.group(1)] = "n"
    return out


def pci_config_caps(config: bytes) -> dict[str, Any]:
    """The PCI Express device type and the MSI-X table/PBA location from a config-space image
    (sysfs ``config``; 64 bytes unless read as root).  Unknown parts are None.

    :param config: the bytes read.
    """
    out: dict[str, Any] = {"express": None, "msix": None, "caps_read": False}
    if len(config) < 0x40:
        return out
    status = int.from_bytes(config[0x06:0x08], "little")
    if not _bits(status, _PCI_STATUS_CAP_LIST[1], _PCI_STATUS_CAP_LIST[2]):
        out["caps_read"] = True
        out["express"] = ""
        return out
    ptr = config[_PCI_CAPABILITY_LIST]
    ptr -= ptr % 4  # the bottom two bits are reserved (PCI Local Bus Specification 6.7)
    seen: set[int] = set()
    complete = True
    while ptr:
        if ptr in seen or ptr < 0x40:
            break
        if ptr + 12 > len(config):
            complete = False
            break
        seen.add(ptr)
        cap_id, nxt = config[ptr], config[ptr + 1]
        if cap_id == _PCI_CAP_ID_EXP:
            off, lsb, width = _PCI_EXP_FLAGS_TYPE
            flags = int.from_bytes(config[ptr + off:ptr + off + 2], "little")
            kind = _bits(flags, lsb, width)
            out["express"] = _PCI_EXP_TYPES.get(kind, f"type {kind}")
        elif cap_id == _PCI_CAP_ID_MSIX:
            table = int.from_bytes(config[ptr + _PCI_MSIX_TABLE:ptr + _PCI_MSIX_TABLE + 4], "little")
            pba = int.from_bytes(config[ptr + _PCI_MSIX_PBA:ptr + _PCI_MSIX_PBA + 4], "little")
            tb, pb = (_bits(v, *_PCI_MSIX_BIR) for v in (table, pba))
            out["msix"] = (tb, table - tb, pb, pba - pb)
        ptr = nxt - nxt % 4
    out["caps_read"] = complete
    if complete and out["express"] is None:
        out["express"] = ""
    return out


def kvm_dialect_for(release: Any) -> tuple[str | None, str]:
    """The stage2_page_tables X-column dialect a release prints, and why.

    v6.11 to v6.16 print X for a non-executable range (Sebastian Ene's arch/arm64/kvm/ptdump.c as
    merged); Wei-Lin Chang's fix was posted in August 2025, after v6.16, so a later release may
    print either (and a stable backport could change an older one: the answer assumes none).

    :param release: a :class:`~memattr.linux.version.KernelVersion`.
    """
    from ..linux.version import KernelVersion

    if release is None:
        return None, "the kernel release is not known"
    if release < KernelVersion(6, 11):
        return None, f"v{release} has no stage2_page_tables (added in v6.11)"
    if release <= KernelVersion(6, 16):
        return "v6.11", f"v{release} prints X for a non-executable range (assuming no stable " \
                        "backport of the X-column fix)"
    return None, f"v{release} may print X either way (the X-column fix came after v6.16)"


# --- the tree -------------------------------------------------------------------------------


@dataclass
class LiveVm:
    """One VM's KVM debugfs directory."""

    name: str
    path: str
    dump: PageTableDump | None = None
    ipa_bits: int | None = None
    levels: int | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        d = self.dump
        return {"name": self.name, "path": self.path, "ipa_bits": self.ipa_bits,
                "levels": self.levels, "problems": list(self.problems),
                "ranges": len(d.mappings) if d is not None else None,
                "mapped": len(d.leaves()) if d is not None else None,
                "dialects": sorted(d.dialects) if d is not None else None}


@dataclass
class LiveHost:
    """What :func:`read_live` found, and what it could not read (``notes``)."""

    root: str
    machine: str | None = None
    arm64: bool | None = None
    release: str | None = None
    kernel: Any = None  # KernelVersion
    config: dict[str, str] = field(default_factory=dict)
    config_source: str | None = None
    features: tuple[str, ...] = ()
    midr: tuple[tuple[int, int], ...] = ()
    cpu: str | None = None
    detected: dict[str, str] = field(default_factory=dict)  # feature -> the line's source
    feature_lines: bool = False
    ipa_limit: int | None = None  # KVM_CAP_ARM_VM_IPA_SIZE, or the boot log's "IPA Size Limit"
    page_size: int | None = None
    devices: list[HostDevice] = field(default_factory=list)
    iomem: tuple[IomemEntry, ...] = ()
    kvm_caps: dict[str, int] | None = None
    vms: list[LiveVm] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def fwb(self) -> bool | None:
        """Whether KVM uses FEAT_S2FWB: the boot log's word, else the CPU preset's, else None."""
        if "fwb" in self.detected:
            return True
        if self.feature_lines:
            return False
        if self.cpu is not None:
            from ..arch.cpu import get_cpu

            return get_cpu(self.cpu).s2fwb
        return None

    @property
    def mte(self) -> bool | None:
        if "mte" in self.features or "mte" in self.detected:
            return True
        return False if self.features else None

    @property
    def dic(self) -> bool | None:
        if "dic" in self.detected:
            return True
        return False if self.feature_lines else None

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root, "machine": self.machine, "arm64": self.arm64,
            "release": self.release, "kernel": str(self.kernel) if self.kernel else None,
            "config_source": self.config_source,
            "config": {k: v for k, v in self.config.items() if k in _CONFIG_SHOWN},
            "features": list(self.features), "cpu": self.cpu,
            "midr": [[hex(i), hex(p)] for i, p in self.midr],
            "detected": dict(self.detected), "fwb": self.fwb, "dic": self.dic, "mte": self.mte,
            "page_size": self.page_size, "kvm_caps": self.kvm_caps, "ipa_limit": self.ipa_limit,
            "iomem": {"entries": len(self.iomem),
                      "pci_windows": [[hex(e.start), hex(e.end), e.name] for e in self.iomem
                                      if e.name.startswith("PCI Bus")]},
            "vms": [v.to_json() for v in self.vms], "notes": list(self.notes),
        }


_CONFIG_SHOWN = ("CONFIG_ARM64_4K_PAGES", "CONFIG_ARM64_16K_PAGES", "CONFIG_ARM64_64K_PAGES",
                 "CONFIG_ARM64_VA_BITS", "CONFIG_ARM64_PA_BITS", "CONFIG_KVM", "CONFIG_VFIO_PCI",
                 "CONFIG_PTDUMP_STAGE2_DEBUGFS", "CONFIG_ARM64_MTE", "CONFIG_PCI_IOV")


class _Tree:
    """Bounded, read-only access to files under a root."""

    def __init__(self, root: str, notes: list[str]) -> None:
        self.root = root
        self.real = os.path.realpath(root)
        self.notes = notes

    def path(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def show(self, rel: str) -> str:
        return show_path("/" + rel.lstrip("/"))

    def inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.real or real.startswith(self.real.rstrip(os.sep) + os.sep)

    def exists(self, rel: str) -> bool:
        p = self.path(rel)
        return os.path.lexists(p) and self.inside(p)

    def read(self, rel: str, what: str, *, limit: int = _LIMIT, quiet: bool = False) -> bytes | None:
        """The bytes of a file (None, with a note, when it cannot be read)."""
        from ..inputs.files import read_bytes

        p = self.path(rel)
        if not os.path.lexists(p):
            if not quiet:
                self.notes.append(f"{self.show(rel)}: not present ({what} not read)")
            return None
        if not self.inside(p):
            self.notes.append(f"{self.show(rel)}: leads outside the tree: not followed")
            return None
        try:
            return read_bytes(p, what=what, limit=limit, stdin=False)
        except MemattrError as exc:
            self.notes.append(f"{self.show(rel)}: {truncate(escape(str(exc)), 300)}")
            return None

    def head(self, rel: str, what: str, limit: int) -> str | None:
        """The first ``limit`` bytes of a regular file (a log: boot lines come first), opened
        read-only and without blocking, as :func:`memattr.inputs.files.read_bytes` opens it."""
        import stat

        p = self.path(rel)
        if not os.path.lexists(p) or not self.inside(p):
            return None
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0) \
            | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(p, flags)
        except OSError as exc:
            self.notes.append(f"{self.show(rel)}: cannot read {what}: {exc.strerror or exc}")
            return None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                self.notes.append(f"{self.show(rel)}: not a regular file ({what} not read)")
                return None
            chunks, total = [], 0
            while total < limit:
                chunk = os.read(fd, min(1 << 20, limit - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except OSError as exc:
            self.notes.append(f"{self.show(rel)}: cannot read {what}: {exc.strerror or exc}")
            return None
        finally:
            os.close(fd)
        return b"".join(chunks).decode("utf-8", "replace")

    def text(self, rel: str, what: str, **kw: Any) -> str | None:
        data = self.read(rel, what, **kw)
        if data is None:
            return None
        if b"\0" in data:
            self.notes.append(f"{self.show(rel)}: binary data, not {what}")
            return None
        return data.decode("utf-8", "replace")

    def listdir(self, rel: str, what: str) -> list[str]:
        p = self.path(rel)
        if not os.path.isdir(p) or not self.inside(p):
            self.notes.append(f"{self.show(rel)}: not present ({what} not read)")
            return []
        try:
            with os.scandir(p) as it:
                names = []
                for e in it:
                    names.append(e.name)
                    if len(names) > _MAX_ENTRIES:
                        self.notes.append(f"{self.show(rel)}: more than {_MAX_ENTRIES} entries: "
                                          "the rest not read")
                        break
        except OSError as exc:
            self.notes.append(f"{self.show(rel)}: cannot list: {exc.strerror or exc}")
            return []
        return sorted(names)

    def link_name(self, rel: str) -> str | None:
        """The last part of a symlink's target (a driver link), without following it."""
        p = self.path(rel)
        try:
            return os.path.basename(os.readlink(p)) or None
        except OSError:
            return None


def _release(text: str) -> Any:
    from ..linux.version import KernelVersion

    m = re.match(r"^\s*(\d{1,4})\.(\d{1,4})", text)
    if m is None:
        return None
    return KernelVersion(int(m.group(1)), int(m.group(2)))


def _int_file(t: _Tree, rel: str, what: str, top: int) -> int | None:
    """A number file of sysfs (``0x8086``, ``64``), at most ``top``; else None and a note."""
    text = t.text(rel, what, quiet=True)
    if text is None:
        return None
    v = _num(text.strip()[:64])
    if v is None or not 0 <= v <= top:
        t.notes.append(f"{t.show(rel)}: {truncate(escape(text.strip()), 40)} is not {what} "
                       f"(0..0x{top:x})")
        return None
    return v


def read_live(root: str = "/", *, ioctl: bool | None = None, kvm_dialect: str | None = None,
              granule: int | None = None) -> LiveHost:
    """Read what the host under ``root`` exposes (nothing is written; see the module docstring).

    :param root: '/' for this machine, or a recorded tree.
    :param ioctl: ask /dev/kvm with KVM_CHECK_EXTENSION (default: only when ``root`` is '/' and
        the machine is arm64).
    :param kvm_dialect: the stage2_page_tables X-column dialect, when known better than the
        release says.
    :param granule: the stage-2 granule, when known better than PAGE_SIZE says.
    """
    if not os.path.isdir(root):
        raise ConfigError(f"--root {show_path(root)}: not a directory (expected '/' or a recorded "
                          "tree)")
    host = LiveHost(root=root)
    t = _Tree(root, host.notes)
    _machine(t, host)
    _kernel(t, host)
    _cpu(t, host)
    _pci(t, host)
    iomem = t.text("proc/iomem", "the physical memory map")
    if iomem is not None:
        try:
            host.iomem = parse_iomem(iomem, "/proc/iomem")
        except ParseError as exc:
            host.notes.append(escape(str(exc)))
        if host.iomem and all(e.start == 0 and e.end == 0 for e in host.iomem):
            host.notes.append("/proc/iomem: every address reads 0 (only root sees them)")
    want = ioctl if ioctl is not None else (t.real == os.path.realpath("/") and bool(host.arm64))
    if want:
        host.kvm_caps = _kvm_caps(host)
        size = (host.kvm_caps or {}).get("KVM_CAP_ARM_VM_IPA_SIZE")
        if size and 32 <= size <= 52:
            host.ipa_limit = size
    elif t.real == os.path.realpath("/"):
        host.notes.append("KVM_CHECK_EXTENSION not asked: "
                          + ("this machine is not arm64" if not host.arm64 else "not requested"))
    else:
        host.notes.append("KVM_CHECK_EXTENSION not asked: a recorded tree has no /dev/kvm to ask")
    _vms(t, host, kvm_dialect, granule)
    return host


def _machine(t: _Tree, host: LiveHost) -> None:
    arch = t.text("proc/sys/kernel/arch", "the machine name", quiet=True)
    if arch is not None and arch.strip():
        host.machine = arch.strip()[:64]
    elif t.real == os.path.realpath("/"):
        host.machine = os.uname().machine
    if host.machine is not None:
        host.arm64 = host.machine in ("aarch64", "arm64")


def _kernel(t: _Tree, host: LiveHost) -> None:
    rel = t.text("proc/sys/kernel/osrelease", "the kernel release")
    if rel is not None and rel.strip():
        host.release = rel.strip()[:128]
        host.kernel = _release(host.release)
        if host.kernel is None:
            host.notes.append(f"/proc/sys/kernel/osrelease: {escape(host.release)!s} is not "
                              "MAJOR.MINOR...")
    cfg = None
    if t.exists("proc/config.gz"):
        raw = t.read("proc/config.gz", "the kernel configuration")
        if raw is not None:
            cfg = _gunzip(raw, host)
            if cfg is not None:
                host.config_source = "/proc/config.gz"
    if cfg is None and host.release and "/" not in host.release and host.release not in (".", ".."):
        rel_cfg = f"boot/config-{host.release}"
        if t.exists(rel_cfg):
            cfg = t.text(rel_cfg, "the kernel configuration", limit=4 << 20)
            if cfg is not None:
                host.config_source = "/" + rel_cfg
    if cfg is None:
        host.notes.append("kernel configuration: neither /proc/config.gz nor "
                          "/boot/config-<release> readable")
        return
    try:
        host.config = parse_config(cfg, host.config_source or "config")
    except ParseError as exc:
        host.notes.append(escape(str(exc)))
        return
    for name, size in (("CONFIG_ARM64_4K_PAGES", 4096), ("CONFIG_ARM64_16K_PAGES", 16384),
                       ("CONFIG_ARM64_64K_PAGES", 65536)):
        if host.config.get(name) == "y":
            host.page_size = size


def _gunzip(raw: bytes, host: LiveHost) -> str | None:
    """A gzip file's text, decompressed with a bound (a small bomb cannot grow past it)."""
    import zlib

    try:
        d = zlib.decompressobj(wbits=31)
        out = d.decompress(raw, 4 << 20)
        if d.unconsumed_tail:
            host.notes.append("/proc/config.gz: more than 4 MiB uncompressed: not read")
            return None
    except zlib.error as exc:
        host.notes.append(f"/proc/config.gz: not gzip data ({escape(str(exc))})")
        return None
    if b"\0" in out:
        host.notes.append("/proc/config.gz: binary data, not a configuration")
        return None
    return out.decode("utf-8", "replace")


def _cpu(t: _Tree, host: LiveHost) -> None:
    info = t.text("proc/cpuinfo", "the CPU description")
    if info is not None:
        try:
            c = parse_cpuinfo(info)
        except ParseError as exc:
            host.notes.append(escape(str(exc)))
            c = {"features": (), "midr": (), "x86": False}
        host.features = tuple(f[:32] for f in c["features"][:512])
        host.midr = c["midr"][:64]
        if host.arm64 is None:
            if c["x86"]:
                host.arm64, host.machine = False, host.machine or "x86 (from /proc/cpuinfo)"
            elif host.features or host.midr:
                host.arm64 = True
        presets = {MIDR_PRESETS.get(m) for m in host.midr}
        if len(presets) == 1 and None not in presets:
            host.cpu = presets.pop()
        elif host.midr:
            parts = ", ".join(f"{i:#x}/{p:#x}" for i, p in host.midr)
            host.notes.append(f"CPU implementer/part {parts}: no memattr CPU preset (--cpu); the "
                              "'all' CPU is assumed")
    for rel in ("var/log/kern.log", "var/log/dmesg", "var/log/messages", "var/log/syslog"):
        text = t.head(rel, "the kernel log", _LOG_LIMIT)
        if text is None:
            continue
        for line in text.split("\n"):
            m = _IPA_LIMIT.search(line)
            if m is not None and 32 <= int(m.group(1)) <= 52:
                host.ipa_limit = int(m.group(1))
            i = line.find("CPU features: detected: ")
            if i < 0:
                continue
            host.feature_lines = True
            desc = line[i + len("CPU features: detected: "):].strip()
            key = CPU_FEATURE_LINES.get(desc)
            if key is not None:
                host.detected.setdefault(key, "/" + rel)
    if not host.feature_lines:
        host.notes.append("no 'CPU features: detected' lines in /var/log: FEAT_S2FWB and "
                          "CTR_EL0.DIC as KVM uses them are not known")


def _pci(t: _Tree, host: LiveHost) -> None:
    base = "sys/bus/pci/devices"
    for name in t.listdir(base, "PCI devices"):
        if not _BDF.match(name):
            host.notes.append(f"/{base}/{escape(truncate(name, 80))}: not a PCI address: skipped")
            continue
        rel = f"{base}/{name}"
        if not t.inside(t.path(rel)):
            host.notes.append(f"/{rel}: leads outside the tree: not followed")
            continue
        dev = _pci_device(t, rel, name, host)
        if dev is not None:
            host.devices.append(dev)


def _pci_device(t: _Tree, rel: str, name: str, host: LiveHost) -> HostDevice | None:
    cls = _int_file(t, f"{rel}/class", "a class code", 0xFFFFFF)
    vendor = _int_file(t, f"{rel}/vendor", "a vendor id", 0xFFFF)
    device = _int_file(t, f"{rel}/device", "a device id", 0xFFFF)
    driver = t.link_name(f"{rel}/driver") if t.exists(f"{rel}/driver") else None
    total = _int_file(t, f"{rel}/sriov_totalvfs", "a TotalVFs count", 0xFFFF)
    num = _int_file(t, f"{rel}/sriov_numvfs", "a NumVFs count", 0xFFFF)
    bars: list[HostBar] = []
    text = t.text(f"{rel}/resource", "the resources")
    if text is not None:
        try:
            (rf,) = parse_resource(text, f"/{rel}/resource")
        except (ParseError, ValueError) as exc:
            host.notes.append(escape(str(exc)))
            rf = None
        if rf is not None:
            for r in rf.used():
                if r.role not in (ResourceRole.BAR, ResourceRole.VF_BAR):
                    continue
                vf = r.role is ResourceRole.VF_BAR
                space = "io" if r.kind is ResourceKind.IO else "memory"
                size: int | None = r.size
                size_from = f"sysfs resource line {r.index}"
                if vf:
                    if total and size is not None and size % total == 0:
                        size //= total
                        size_from = f"sysfs IOV resource {r.index} / TotalVFs {total}"
                    else:
                        size, size_from = None, ""
                bars.append(HostBar(r.number, vf, space, r.start, size,
                                    r.prefetchable if space == "memory" else None,
                                    (64 if r.is_64bit else 32) if space == "memory" else None,
                                    disabled=r.has("DISABLED"), where=f"/{rel}/resource:{r.line}",
                                    size_from=size_from))
    caps: dict[str, Any] = {"express": None, "msix": None}
    cfg = t.read(f"{rel}/config", "the configuration space", limit=4096, quiet=True)
    if cfg is not None:
        caps = pci_config_caps(cfg)
        if not caps.get("caps_read") and caps["express"] is None:
            host.notes.append(f"/{rel}/config: capabilities beyond the first 64 bytes need root")
    ids = f" [{vendor:04x}:{device:04x}]" if vendor is not None and device is not None else ""
    cname = _CLASSES.get(cls >> 16, f"class {cls:06x}") if cls is not None else "unknown class"
    physfn = t.link_name(f"{rel}/physfn") if t.exists(f"{rel}/physfn") else None
    flags: tuple[Flag, ...] = ()
    if physfn is not None:
        flags = (Flag("driver", f"a VF of {escape(physfn)}"),)
    return HostDevice(name, f"PCI function{ids}", cname, driver, tuple(bars), caps["express"],
                      f"/{rel}", total, num, caps["msix"], cls, flags)


def _kvm_caps(host: LiveHost) -> dict[str, int] | None:
    """KVM_CHECK_EXTENSION on /dev/kvm (this machine only)."""
    import fcntl
    import stat

    try:
        st = os.stat("/dev/kvm")
    except OSError:
        host.notes.append("/dev/kvm: not present (KVM capabilities not asked)")
        return None
    if not stat.S_ISCHR(st.st_mode):
        host.notes.append("/dev/kvm: not a character device (not asked)")
        return None
    try:
        fd = os.open("/dev/kvm", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        host.notes.append(f"/dev/kvm: cannot open: {exc.strerror or exc}")
        return None
    out: dict[str, int] = {}
    try:
        for name, cap in KVM_CAPS.items():
            try:
                out[name] = fcntl.ioctl(fd, KVM_CHECK_EXTENSION, cap)
            except OSError as exc:
                host.notes.append(f"/dev/kvm: KVM_CHECK_EXTENSION {name}: {exc.strerror or exc}")
    finally:
        os.close(fd)
    return out


def _vms(t: _Tree, host: LiveHost, dialect: str | None, granule: int | None) -> None:
    from .ptdump import DumpFormat, parse_kvm_ipa_range, parse_kvm_levels, parse_ptdump

    base = "sys/kernel/debug/kvm"
    p = t.path(base)
    if not os.path.isdir(p):
        host.notes.append(f"/{base}: not present (debugfs is root-only; KVM's stage2_page_tables "
                          "needs CONFIG_PTDUMP_STAGE2_DEBUGFS, v6.11+)")
        return
    want = dialect
    why = "given"
    if want is None:
        want, why = kvm_dialect_for(host.kernel)
    gran = granule if granule is not None else host.page_size
    for name in t.listdir(base, "KVM VMs"):
        if not _VM_DIR.match(name):
            continue
        if len(host.vms) >= _MAX_VMS:
            host.notes.append(f"/{base}: more than {_MAX_VMS} VMs: the rest not read")
            break
        rel = f"{base}/{name}"
        vm = LiveVm(name, "/" + rel)
        host.vms.append(vm)
        for fname, what in (("ipa_range", "ipa"), ("stage2_levels", "levels")):
            text = t.read(f"{rel}/{fname}", f"KVM's {fname}", limit=4096, quiet=True)
            if text is None:
                continue
            try:
                if what == "ipa":
                    vm.ipa_bits = parse_kvm_ipa_range(text, f"/{rel}/{fname}")
                else:
                    vm.levels = parse_kvm_levels(text, f"/{rel}/{fname}")
            except ParseError as exc:
                vm.problems.append(escape(str(exc)))
        data = t.read(f"{rel}/stage2_page_tables", "KVM's stage2_page_tables", limit=16 << 20,
                      quiet=True)
        if data is None:
            vm.problems.append(f"/{rel}/stage2_page_tables: not readable")
            continue
        try:
            vm.dump = parse_ptdump(data, f"/{rel}/stage2_page_tables", format=DumpFormat.KVM,
                                   kvm_dialect=want, granule=gran, va_bits=vm.ipa_bits)
        except ParseError as exc:
            vm.problems.append(escape(str(exc)))
            continue
        if want is None:
            vm.problems.append(f"X column: {why}")
        else:
            vm.problems.append(f"X column read as the {want} dialect: {why}")


# --- the VMs' stage 2 against the model, and the text ------------------------------------------


@dataclass
class VmDiff:
    """One VM's stage2_page_tables compared with what the model says its kernel writes."""

    vm: LiveVm
    diff: Any = None  # memattr.interop.diff.DumpDiff
    faults: int = 0
    note: str = ""
    policy: str | None = None
    fwb: bool | None = None

    def to_json(self) -> dict[str, Any]:
        return {"vm": self.vm.to_json(), "policy": self.policy, "fwb": self.fwb,
                "faults": self.faults, "note": self.note,
                "diff": self.diff.to_json() if self.diff is not None else None}


def diff_vms(host: LiveHost, scenarios: dict[str | None, Any], cfg: Any, *,
             budget: int | None = None) -> list[VmDiff]:
    """Compare each VM's stage 2 with the model of the VM a scenario describes.

    :param host: what :func:`read_live` found.
    :param scenarios: loaded scenarios by VM directory name ('1234-12'), None for every VM.
    :param cfg: the :class:`~memattr.interop.host.HostConfig` (its first policy is the host's
        kernel when known; its FWB setting when there is one).
    :param budget: the most faults the model may take per VM.
    """
    from .diff import diff_sides, side_of_dump
    from .stage2 import DEFAULT_BUDGET, model_side_for, model_vm

    out = []
    for vm in host.vms:
        sc = scenarios.get(vm.name, scenarios.get(None))
        if vm.dump is None:
            out.append(VmDiff(vm, note="no stage2_page_tables to compare: "
                                       + ("; ".join(vm.problems) or "not read")))
            continue
        if sc is None:
            out.append(VmDiff(vm, note="no scenario describes this VM (--scenario [pid-fd=]FILE): "
                                       "KVM's dump prints no output address, so which host "
                                       "memory backs each range is not known from the host"))
            continue
        policy = cfg.policies[0]
        fwb = cfg.fwb[-1]  # the command line's, else the host's, else both: FWB (a KVM dump
        # prints neither memory type nor anything else FWB changes)
        notes = [] if host.kernel is not None else [f"the host's release is not known: policy "
                                                    f"{policy}"]
        if len(cfg.fwb) > 1:
            notes.append("FEAT_S2FWB as KVM uses it is not known: modelled with it")
        note = "; ".join(notes)
        try:
            model = model_vm(sc, policy, fwb=fwb, ipa_bits=vm.ipa_bits or 40,
                             host={"page_size": cfg.page_size})
            dump_side = side_of_dump(vm.dump, f"VM {vm.name} stage2_page_tables")
            side, faults = model_side_for(model, dump_side,
                                          budget=budget if budget is not None else DEFAULT_BUDGET)
        except MemattrError as exc:
            out.append(VmDiff(vm, note=f"the model could not be built: {escape(str(exc))}",
                              policy=policy, fwb=fwb))
            continue
        if model.setup:
            note = "; ".join([note] + [escape(s) for s in model.setup] if note else
                             [escape(s) for s in model.setup])
        out.append(VmDiff(vm, diff_sides(side, dump_side), faults, note, policy, fwb))
    return out


def render_live(host: LiveHost, diffs: list[VmDiff], *, limit: int = 40) -> str:
    """What was read from the host, then each VM's comparison."""
    from ..inputs.units import format_size
    from .diff import render_diff

    machine = escape(host.machine) if host.machine else "unknown"
    if host.arm64 is False:
        arch = (f"machine {machine}: not arm64; the answers below describe an arm64 host with "
                "these devices")
    elif host.arm64:
        arch = f"machine {machine} (arm64)"
    else:
        arch = "machine: not known"
    out = [f"live host: {show_path(host.root)}; {arch}"]
    rel = escape(host.release) if host.release else "not readable"
    out.append(f"  kernel {rel}" + (f"; config {escape(host.config_source)}" if host.config_source
                                    else "") + (f"; PAGE_SIZE {format_size(host.page_size)}"
                                                if host.page_size else ""))
    cpu = escape(host.cpu) if host.cpu else "no preset (all)"
    feats = ", ".join(sorted(host.detected)) or "none found"
    fwb = {True: "yes", False: "no", None: "not known"}[host.fwb]
    out.append(f"  cpu {cpu}; boot log features: {feats}; KVM uses FWB: {fwb}; "
               f"MTE: {({True: 'yes', False: 'no', None: 'not known'})[host.mte]}")
    if host.kvm_caps is not None:
        out.append("  /dev/kvm: " + ", ".join(f"{k}={v}" for k, v in host.kvm_caps.items()))
    if host.ipa_limit is not None:
        out.append(f"  KVM's IPA size limit: {host.ipa_limit} bits")
    if host.iomem:
        wins = [e for e in host.iomem if e.name.startswith("PCI Bus")]
        ram = sum(e.end - e.start + 1 for e in host.iomem if e.name == "System RAM" and e.end)
        out.append(f"  /proc/iomem: {len(host.iomem)} entries, {len(wins)} PCI bus windows"
                   + (f", System RAM {format_size(ram)}" if ram else ""))
    for n in host.notes:
        out.append(f"  note: {n}")
    if not host.vms:
        out.append("  VMs: none found in KVM's debugfs")
    for d in diffs:
        vm = d.vm
        what = f"{len(vm.dump.leaves())} mapped ranges" if vm.dump is not None else "no dump"
        ipa = f", {vm.ipa_bits}-bit IPA" if vm.ipa_bits else ""
        out.append("")
        out.append(f"VM {escape(vm.name)}: {what}{ipa}"
                   + (f"; compared with the model of {escape(d.policy or '?')} FWB={int(bool(d.fwb))} "
                      f"({d.faults} faults modelled)" if d.diff is not None else ""))
        for p in vm.problems:
            out.append(f"  note: {p}")
        if d.note:
            out.append(f"  note: {d.note}")
        if d.diff is not None:
            out += ["  " + line for line in render_diff(d.diff, limit=limit).rstrip("\n").split("\n")]
    return "\n".join(out) + "\n\n"

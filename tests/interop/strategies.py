"""Hypothesis strategies for the interop parsers: valid and almost-valid lspci, resource files,
page-table dumps and logs, and random translation tables to round-trip through mmu.dump."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

__all__ = [
    "TableSpec",
    "table_specs",
    "resource_texts",
    "lspci_texts",
    "ptdump_texts",
    "log_texts",
    "mutated",
]

_HEX = "0123456789abcdefABCDEF"


@dataclass
class TableSpec:
    """Mappings for a table: (page index, pages, attribute choice) in units of the granule."""

    stage: int
    granule_kib: int
    maps: list[tuple[int, int, int, int, int, bool, bool]]  # page, pages, attr/memattr, ap, xn, ng, cont


@st.composite
def table_specs(draw: st.DrawFn, stage: int | None = None) -> TableSpec:
    """Non-overlapping runs of pages with random attributes."""
    stg = draw(st.sampled_from([1, 2])) if stage is None else stage
    gran = draw(st.sampled_from([4, 16, 64]))
    maps = []
    page = draw(st.integers(0, 40))
    for _ in range(draw(st.integers(1, 6))):
        pages = draw(st.integers(1, 40))
        maps.append((page, pages, draw(st.integers(0, 15 if stg == 2 else 4)), draw(st.integers(0, 3)),
                     draw(st.integers(0, 3)), draw(st.booleans()), draw(st.booleans())))
        page += pages + draw(st.integers(0, 600))
    return TableSpec(stg, gran, maps)


def _hexnum(draw: st.DrawFn, width: int = 16) -> str:
    return "0x" + "".join(draw(st.lists(st.sampled_from(_HEX), min_size=1, max_size=width)))


@st.composite
def resource_texts(draw: st.DrawFn) -> str:
    """resource files: real-looking lines, sometimes broken ones."""
    lines = []
    for _ in range(draw(st.integers(0, 18))):
        kind = draw(st.integers(0, 9))
        if kind == 0:
            lines.append(draw(st.text(max_size=40)))
        elif kind == 1:
            lines.append("0x0000000000000000 0x0000000000000000 0x0000000000000000")
        else:
            start = draw(st.integers(0, (1 << 64) - 1))
            end = draw(st.one_of(st.integers(0, (1 << 64) - 1), st.just(start + 0xFFF)))
            flags = draw(st.sampled_from([0x14220C, 0x140204, 0x46200, 0x101, 0x20000200, 0]))
            lines.append(f"0x{start:016x} 0x{end:016x} {_hexnum(draw) if kind == 2 else f'0x{flags:016x}'}")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


_LSPCI_BODY = [
    "Subsystem: Acme Device [1234:5678]", "Control: I/O- Mem+ BusMaster+", "IOMMU group: 3", "NUMA node: 1",
    "Region 0: Memory at {a} (64-bit, prefetchable) [size={s}]", "Region 2: Memory at {a} (32-bit, non-prefetchable)",  # noqa: E501
    "Region 4: I/O ports at {a} [disabled] [size={s}]", "Memory at <ignored> (64-bit, non-prefetchable)",
    "[virtual] Expansion ROM at {a} [disabled] [size={s}]", "Expansion ROM at <unassigned> [disabled]",
    "Capabilities: [{o}] MSI-X: Enable+ Count=8 Masked-", "\tVector table: BAR={b} offset={a}",
    "\tPBA: BAR={b} offset=00002000", "Capabilities: [{o} v1] Single Root I/O Virtualization (SR-IOV)",
    "\tInitial VFs: 8, Total VFs: {n}, Number of VFs: 0, Function Dependency Link: 00",
    "\tVF offset: 2, stride: 1, Device ID: 1016", "\tRegion 0: Memory at {a} (64-bit, prefetchable)",
    "Capabilities: <access denied>", "Kernel driver in use: vfio-pci", "Kernel modules: a, b",
    "Capabilities: [{o} v1] Physical Resizable BAR", "\tBAR 1: current size: {s}B, supported: 64MB {s}B",
    "Flags: bus master, fast devsel, latency 0, IRQ 16, IOMMU group 4",
]


@st.composite
def lspci_texts(draw: st.DrawFn) -> str:
    """lspci listings assembled from real line shapes with random values, some garbled."""
    out = []
    for _ in range(draw(st.integers(0, 3))):
        dom = draw(st.sampled_from(["", "0000:", "10000:", "zz:"]))
        out.append(f"{dom}{draw(st.integers(0, 255)):02x}:{draw(st.integers(0, 40)):02x}.{draw(st.integers(0, 8))} "  # noqa: E501
                   f"{draw(st.sampled_from(['VGA compatible controller [0300]', 'Ethernet controller', '0200']))}: "  # noqa: E501
                   f"{draw(st.sampled_from(['Acme Widget [1234:5678] (rev 01)', '8086:159b', 'X (prog-if 02 [NVM])']))}")  # noqa: E501
        for _ in range(draw(st.integers(0, 12))):
            tmpl = draw(st.sampled_from(_LSPCI_BODY))
            line = tmpl.format(a=draw(st.sampled_from(["4018000000", "<unassigned>", "zz", "f" * 20, "0"])),
                               s=draw(st.sampled_from(["16K", "32M", "64G", "0", "7Q", "80000000"])),
                               o=draw(st.sampled_from(["9c", "180", "q"])), b=draw(st.integers(0, 9)),
                               n=draw(st.integers(0, 70000)))
            out.append(draw(st.sampled_from(["\t", "        ", "    "])) + line)
        if draw(st.booleans()):
            out.append("")
    if draw(st.integers(0, 4)) == 0:
        out.insert(draw(st.integers(0, len(out))), draw(st.text(max_size=30)))
    return "\n".join(out)


_S1W = ["F", "USR", "ro", "RW", "NX", "x", "SHD", "AF", "NG", "CON", "BLK", "UXN", "GP", "MEM/NORMAL",
        "DEVICE/nGnRE", "MEM/NORMAL-NC", "bogus", "R", "W", "X", "px", "ux", "PXNux", "PXNUXN"]


@st.composite
def ptdump_texts(draw: st.DrawFn) -> str:
    """Dumps with plausible and implausible ranges, sizes, levels and words."""
    out = []
    addr = draw(st.sampled_from([0, 0xFFFF000000000000, 0xFFFF800000000000, 0x40000000]))
    for _ in range(draw(st.integers(0, 10))):
        if draw(st.integers(0, 6)) == 0:
            out.append(draw(st.sampled_from(["---[ Guest IPA ]---", "---[ Linear Mapping start ]---", "# stage 2, 4k granule, 40-bit IA"])))  # noqa: E501
            continue
        size = draw(st.sampled_from([4096, 16384, 65536, 2 << 20, 1 << 30, 12345, 0]))
        end = (addr + size) & ((1 << 64) - 1)
        shown = draw(st.sampled_from([size, size + 4096]))
        unit, val = "K", shown >> 10
        for u in "MGTPE":
            if val and val % 1024 == 0:
                val //= 1024
                unit = u
        level = draw(st.sampled_from(["PGD", "PUD", "PMD", "PTE", "P4D", "0", "1", "2", "3", "-1", "7", ""]))
        words = " ".join(draw(st.lists(st.sampled_from(_S1W), max_size=8)))
        out.append(f"0x{addr:016x}-0x{end:016x}   {val:9d}{unit} {level} {words}".rstrip())
        addr = end if draw(st.integers(0, 5)) else max(0, addr - 4096)
    return "\n".join(out)


_LOG_LINES = [
    "Unable to handle kernel paging request at virtual address {v}", "Mem abort info:", "  ESR = {x}",
    "  EC = 0x25: DABT (current EL), IL = 32 bits", "  SET = 0, FnV = 0", "  FSC = 0x04: level 0 translation fault",  # noqa: E501
    "Data abort info:", "  ISV = 0, ISS = {x}, ISS2 = 0x00000000", "  CM = 0, WnR = 1",
    "swapper pgtable: {g}k pages, {b}-bit VAs, pgdp={v}", "[{v}] pgd={v}, p4d={v}, pud={v}, pmd={v}, pte={v}",
    "Internal error: Oops: {v} [#1] PREEMPT SMP", "Unhandled fault: synchronous external abort ({x}) at {x}",
    "SError Interrupt on CPU{c}, code {x} -- SError", "kvm [1]: Unsupported FSC: EC={x} xFSC={x} ESR_EL2={x}",
    "error: kvm run failed Bad address", " PC={v} X00={v} X01={v}", "PSTATE=20001000 --C- EL{c}t",
    "a[1]: unhandled exception: DABT (lower EL), ESR {x}, alignment fault", "CPU: 1 PID: 2 Comm: x Not tainted 6.{c}.0",  # noqa: E501
    "ESR_EL2=\n=3D{x}", "> > ESR = {x}", "=3D=20=\n", "Linux version 6.{c}-rc1 (x)",
]


@st.composite
def log_texts(draw: st.DrawFn) -> str:
    """Logs mixing report lines with odd values, quoting, QP escapes and noise."""
    out = []
    for _ in range(draw(st.integers(0, 25))):
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(st.text(max_size=40)))
            continue
        tmpl = draw(st.sampled_from(_LOG_LINES))
        hexes = st.sampled_from(["0x92000061", "0X96000004", "0x" + "f" * 20, "0x", "0", "92000061"])
        vals = st.sampled_from(["ffff800082e10008", "0000000000000000", "zz", "f" * 40])
        line = tmpl.format(x=draw(hexes), v=draw(vals), g=draw(st.sampled_from(["4", "16", "64", "3"])),
                           b=draw(st.sampled_from(["48", "47", "99"])), c=draw(st.integers(0, 9)))
        prefix = draw(st.sampled_from(["", "[  411.509647] ", "Apr 15 13:58:03 host kernel: ", "> ", ">>> "]))
        out.append(prefix + line)
    return "\n".join(out)


def mutated(text: str) -> st.SearchStrategy[str]:
    """``text`` with a slice deleted, duplicated or replaced by random characters."""
    n = len(text)

    @st.composite
    def _mut(draw: st.DrawFn) -> str:
        i = draw(st.integers(0, n))
        j = draw(st.integers(i, min(n, i + 200)))
        op = draw(st.integers(0, 3))
        if op == 0:
            return text[:i] + text[j:]
        if op == 1:
            return text[:j] + text[i:j] + text[j:]
        if op == 2:
            return text[:i] + draw(st.text(max_size=20)) + text[j:]
        return text[:i]  # truncated
    return _mut()

"""``memattr walk FILE.toml``: walk accesses through stage-1/stage-2 tables, step by step (every
descriptor read, the S1PTW translations, the result or the fault with its ESR/FAR/HPFAR).

A walk file takes one of two forms.

**Tables memattr lays out** from mappings (all numbers may be written 0x..., sizes also as
"4k", "2M", "1G")::

    cpu = "all"               # optional: the PE (a preset name; default every feature, PAMax 52)

    [stage1]                  # omit, or enabled = false, for SCTLR_EL1.M = 0
    granule = "4k"            # TG0/TG1: 4k, 16k or 64k
    va_bits = 48              # T0SZ = T1SZ = 64 - va_bits
    ips_bits = 40             # TCR_EL1.IPS
    tcr = 0x...               # or the raw TCR_EL1 instead of the three keys above
    mair = 0x...              # MAIR_EL1 (default: Linux's MT_* layout, so that mt = ... works)
    sctlr = 0x...             # SCTLR_EL1 (default M, C, I)
    asid = 1
    table_pool = 0x4000_0000  # where the guest's stage-1 tables go: an IPA mapped by [[s2]]
    pool_size = "1M"          # (a PA when there is no stage 2)

    [stage2]                  # omit for no stage 2 (HCR_EL2.VM = 0)
    granule = "4k"            # VTCR_EL2.TG0
    ipa_bits = 40             # VTCR_EL2.T0SZ = 64 - ipa_bits
    ps_bits = 48              # VTCR_EL2.PS
    start_level = 1           # optional (default: the highest with <= 16 concatenated roots)
    vtcr = 0x...              # or the raw VTCR_EL2 instead
    vmid = 1
    hcr = 0x80000001          # HCR_EL2 (default VM | RW)
    fwb = false               # sets/clears HCR_EL2.FWB
    ptw = false               # sets/clears HCR_EL2.PTW
    xnx = true                # FEAT_XNX (default: the CPU's): descriptor bits[54:53] are XN[1:0]
    table_base = 0x...        # where stage-2 tables go in PA (default above every [[s2]] PA)

    [[s2]]                    # one stage-2 mapping: IPA -> PA
    ipa = 0x4000_0000
    size = "1G"
    pa = 0x1_0000_0000
    memattr = 0xf             # or type = "NORMAL" | "NORMAL_NC" | "DEVICE_nGnRE" (Linux's,
                              #   with or without FWB as [stage2].fwb says)
    s2ap = "rw"               # "r", "w", "rw" or "none"
    xn = false                # or XN[1:0] as 0..3
    sh = "ISH"                # NSH, OSH, ISH
    af = true
    contiguous = false
    max_leaf = "2M"           # largest block to use (default: the largest alignment allows)

    [[s1]]                    # one stage-1 mapping: VA -> IPA
    va = 0x40_0000
    size = "2M"
    ipa = 0x4100_0000
    attr_index = 0            # or mt = "MT_NORMAL" | "MT_NORMAL_NC" | "MT_DEVICE_nGnRE" ...
    ap = "rw"                 # "rw" (EL1, the default), "rw-el0", "ro", "ro-el0", or 0..3
    pxn = false
    uxn = false
    ng = false
    sh = "ISH"
    af = true
    contiguous = false
    max_leaf = "4k"

**What a machine holds**: raw register values and raw memory, nothing laid out by memattr::

    [registers]               # any of these; register names as Arm spells them
    TCR_EL1 = 0x...
    TTBR0_EL1 = 0x...
    TTBR1_EL1 = 0x...
    MAIR_EL1 = 0x...          # required when stage 1 is on
    SCTLR_EL1 = 0x...         # default M, C, I (stage 1 on)
    HCR_EL2 = 0x...           # default VM | RW when VTCR_EL2 is given, else 0
    VTCR_EL2 = 0x...          # read only when HCR_EL2.VM or DC is set
    VTTBR_EL2 = 0x...

    [[memory]]                # 64-bit little-endian values at a physical address
    pa = 0x8000_0000
    values = [0x8000_1003, 0x0]     # consecutive descriptors (or value = 0x...)

    [[image]]                 # a binary memory image: a debugger dump, a /proc/kcore extract
    file = "ram.bin"          # a regular file; relative to this walk file
    base = 0x4000_0000        # the PA of its first byte

Register values the PE cannot walk with give level-0 Translation faults (with the ASL rule),
not errors; tables that loop back give at most one walk per level, and a dump of them stops
with a one-line error.

Both forms take accesses::

    [[access]]                # walked when --va is not given
    va = 0x40_1234
    access = "read"           # read, write or exec
    size = 8
    el = 1

Errors name ``file:line: key``; the CLI prints that one line and exits 2.  The example
``src/memattr/data/walk_example.toml`` is installed with the package (``memattr walk
--example`` prints its path).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ._common import add_fail_on, emit_json, fail_status, parse_int

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from ..mmu.physmem import PhysMem
    from ..mmu.regime import Regime
    from ..mmu.walk import WalkResult

__all__ = ["register", "run", "load", "Built", "example_path", "RAW_REGISTERS"]

_ACCESSES = ("read", "write", "exec")

RAW_REGISTERS = ("TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1", "SCTLR_EL1", "HCR_EL2",
                 "VTCR_EL2", "VTTBR_EL2")
"""The registers a ``[registers]`` table may give."""


def register(subparsers: Any) -> None:
    """Add ``walk`` and its options."""
    p = subparsers.add_parser(
        "walk",
        help="walk accesses through stage-1/stage-2 tables: laid out from a TOML file, or raw "
             "registers and memory",
        description=(
            "Translate accesses as the hardware does, through real stage-1 and stage-2 tables "
            "in a simulated physical memory: every descriptor read (stage-1 table reads "
            "translated through stage 2), the physical address, the combined memory attributes "
            "and permissions, or the fault with the ESR/FAR/HPFAR the exception reports.  The "
            "tables are either laid out by memattr from mappings ([stage1], [stage2], [[s1]], "
            "[[s2]]), or what a machine holds: raw register values ([registers]: TCR_EL1, "
            "TTBR0_EL1, TTBR1_EL1, MAIR_EL1, SCTLR_EL1, HCR_EL2, VTCR_EL2, VTTBR_EL2) and raw "
            "memory ([[memory]] pa = ..., values = [...]; [[image]] file = ..., base = ...: a "
            "binary dump saved from a debugger or /proc/kcore).  Full schema: pydoc "
            "memattr.cli.walk."
        ),
        epilog=_raw_epilog(),
        formatter_class=_EpilogFormatter,
    )
    p.add_argument("file", metavar="FILE.toml", nargs="?", help="the walk file")
    p.add_argument("--example", action="store_true",
                   help="use (and name) the example file shipped with memattr")
    p.add_argument("--va", metavar="VA", help="walk this VA (default: the file's [[access]])")
    p.add_argument("--access", choices=_ACCESSES, help="access kind for --va (default read)")
    p.add_argument("--size", metavar="N", help="access size in bytes for --va (default 8)")
    p.add_argument("--el", choices=("0", "1"), help="Exception level for --va (default 1)")
    p.add_argument("--cpu", metavar="NAME",
                   help="the PE (a preset name; overrides the file's cpu = ...)")
    p.add_argument("--dump", choices=("s1", "s2", "kvm", "memattr"), action="append",
                   help="also print a table: s1 (Linux kernel_page_tables format), s2/kvm (KVM "
                        "stage2_page_tables format), memattr (both, with memory types)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_fail_on(p, ("fault",))


class _EpilogFormatter(argparse.HelpFormatter):
    """Wraps the description as usual, prints the epilog (a TOML example) as written."""

    def add_text(self, text: str | None) -> None:
        if text is not None and text.startswith("raw form"):
            self._add_item(lambda t: t + "\n", [text])
        else:
            super().add_text(text)


def _raw_epilog() -> str:
    """The raw form's schema, from this module's docstring."""
    doc = __doc__ or ""
    start = doc.find("    [registers]")
    end = doc.find("\nBoth forms take accesses")
    if start < 0 or end < 0:  # pragma: no cover - the docstring is part of this file
        return ""
    body = doc[start:end].rstrip()
    return "raw form (what a machine holds; accesses as in the other form):\n\n" + body


def example_path() -> str:
    """The path of the example TOML shipped in memattr/data."""
    from importlib.resources import files

    return str(files("memattr") / "data" / "walk_example.toml")


# --- reading --------------------------------------------------------------------------------


class _Reader:
    """Typed access to the parsed TOML, with file:line: key errors."""

    def __init__(self, path: str, text: str) -> None:
        from ..analysis.tomlpos import key_lines

        self.path = path
        self.lines = key_lines(text)

    def fail(self, where: tuple[str | int, ...], message: str) -> Exception:
        from ..analysis.tomlpos import format_path, line_of
        from ..errors import ParseError

        line = line_of(self.lines, where)
        loc = f"{self.path}:{line}" if line is not None else self.path
        return ParseError(f"{loc}: {format_path(where)}: {message}" if where else
                          f"{loc}: {message}")

    def check_keys(self, table: dict[str, Any], where: tuple[str | int, ...],
                   allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(where + (key,), f"unknown key (allowed: {', '.join(allowed)})")

    def table(self, data: dict[str, Any], key: str) -> dict[str, Any] | None:
        """``data[key]`` when it is a table (None when absent)."""
        v = data.get(key)
        if v is not None and not isinstance(v, dict):
            raise self.fail((key,), "must be a table ([...])")
        return v

    def tables(self, data: dict[str, Any], key: str) -> list[dict[str, Any]]:
        """``data[key]`` as an array of tables (empty when absent)."""
        v = data.get(key, [])
        if not isinstance(v, list):
            raise self.fail((key,), "must be an array of tables ([[...]])")
        for i, t in enumerate(v):
            if not isinstance(t, dict):
                raise self.fail((key, i), "must be a table")
        return v

    def num(self, table: dict[str, Any], key: str, where: tuple[str | int, ...],
            default: int | None = None, *, bits: int = 64) -> int:
        """An integer or size (``"4k"``, ``"2M"``, ``0x1000``)."""
        from ..errors import MemattrError

        if key not in table:
            if default is None:
                raise self.fail(where + (key,), "required")
            return default
        v = table[key]
        try:
            return _size(v, bits)
        except (ValueError, MemattrError) as exc:
            raise self.fail(where + (key,), str(exc)) from None

    def flag(self, table: dict[str, Any], key: str, where: tuple[str | int, ...],
             default: bool = False) -> bool:
        v = table.get(key, default)
        if not isinstance(v, bool):
            raise self.fail(where + (key,), f"{v!r}: expected true or false")
        return v

    def text(self, table: dict[str, Any], key: str, where: tuple[str | int, ...],
             choices: dict[str, Any], default: Any = None) -> Any:
        """One of ``choices`` (case-insensitive), or ``default`` when the key is absent."""
        if key not in table:
            if default is None:
                raise self.fail(where + (key,), f"required (one of {', '.join(choices)})")
            return default
        v = table[key]
        if isinstance(v, str):
            want = v.strip().lower()
            for c, out in choices.items():
                if c.lower() == want:
                    return out
        raise self.fail(where + (key,), f"{v!r}: expected one of {', '.join(choices)}")


_UNITS = {"": 1, "k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mb": 1 << 20,
          "mib": 1 << 20, "g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30, "t": 1 << 40,
          "tb": 1 << 40, "tib": 1 << 40}


def _size(v: object, bits: int = 64) -> int:
    """An int, or a string: a number (0x.., 0b.., decimal) with an optional K/M/G/T suffix."""
    import re

    if isinstance(v, bool):
        raise ValueError(f"{v!r}: expected a number")
    if isinstance(v, int):
        return parse_int(v, "value", bits=bits)
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(0x[0-9a-f_]+|0b[01_]+|[0-9_]+)\s*([kmgt](?:i?b)?)?\s*", v,
                         re.IGNORECASE)
        if m is not None:
            value = parse_int(m.group(1), "value") * _UNITS[(m.group(2) or "").lower()]
            return parse_int(value, "value", bits=bits)
    raise ValueError(f"{v!r}: expected a number or a size such as '4k', '2M', '1G'")


_SH = {"NSH": 0b00, "OSH": 0b10, "ISH": 0b11}
_S2AP = {"none": 0, "r": 1, "w": 2, "rw": 3}
_AP = {"rw": 0, "rw-el0": 1, "ro": 2, "ro-el0": 3}
_TOP_KEYS = ("cpu", "stage1", "stage2", "s1", "s2", "access", "registers", "memory", "image")


class Built:
    """What a walk file builds: memory, regime, page tables and the accesses to walk.

    :param s1: the stage-1 PageTable memattr laid out (None in the raw form).
    :param s2: the stage-2 PageTable (in the raw form: one over the memory at VTTBR_EL2).
    :param s1_mem: where stage-1 tables are read from (guest IPA space through stage 2).
    :param raw: the file gave raw registers and memory.
    """

    def __init__(self, mem: PhysMem, regime: Regime, s1: Any, s2: Any, s1_mem: Any,
                 accesses: list[Any], *, raw: bool = False) -> None:
        self.mem = mem
        self.regime = regime
        self.s1 = s1
        self.s2 = s2
        self.s1_mem = s1_mem
        self.accesses = accesses
        self.raw = raw


def load(path: str, *, cpu: str | None = None) -> Built:
    """Read a walk file and build its tables (errors: file:line: key).

    :param cpu: a preset name overriding the file's ``cpu``.
    """
    import tomllib

    from ..errors import ConfigError, MemattrError, ParseError

    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ParseError(f"{path}: cannot read ({exc.strerror})") from None
    text = raw.decode("utf-8", errors="replace")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ParseError(f"{path}: {' '.join(str(exc).split())}") from None
    rd = _Reader(path, text)
    rd.check_keys(data, (), _TOP_KEYS)
    try:
        pe = _cpu(rd, data, cpu)
        if "registers" in data or "memory" in data or "image" in data:
            built = _build_raw(rd, data, pe, path)
        else:
            built = _build(rd, data, pe)
        built.accesses = _accesses(rd, data)
        return built
    except MemattrError as exc:
        if str(exc).startswith(path):
            raise
        raise ConfigError(f"{path}: {exc}") from None


def _cpu(rd: _Reader, data: dict[str, Any], override: str | None) -> Cpu:
    from ..arch.cpu import cpu_names, get_cpu
    from ..errors import MemattrError

    if override is not None:
        return get_cpu(override)
    name = data.get("cpu")
    if name is None:
        return get_cpu("all")
    if not isinstance(name, str):
        raise rd.fail(("cpu",), f"{name!r}: expected a name ({', '.join(cpu_names())})")
    try:
        return get_cpu(name)
    except MemattrError as exc:
        raise rd.fail(("cpu",), str(exc)) from None


def _accesses(rd: _Reader, data: dict[str, Any]) -> list[Any]:
    from ..errors import MemattrError
    from ..mmu.walk import Access, AccessKind

    out = []
    kinds = {k.value: k for k in AccessKind}
    for i, a in enumerate(rd.tables(data, "access")):
        wa = ("access", i)
        rd.check_keys(a, wa, ("va", "access", "size", "el"))
        kind = rd.text(a, "access", wa, kinds, AccessKind.READ)
        try:
            out.append(Access(rd.num(a, "va", wa), kind, rd.num(a, "el", wa, 1),
                              rd.num(a, "size", wa, 8)))
        except MemattrError as exc:
            raise rd.fail(wa, str(exc)) from None
    return out


# --- the raw form ---------------------------------------------------------------------------


def _build_raw(rd: _Reader, data: dict[str, Any], cpu: Cpu, path: str) -> Built:
    """Registers as given, memory as given: nothing laid out."""
    import os
    import stat

    from ..arch import registers as R
    from ..errors import MemattrError
    from ..mmu.pgtable import IpaSpace, PageTable
    from ..mmu.physmem import FRAME_SIZE, PhysMem
    from ..mmu.regime import HCR_DEFAULT, SCTLR_DEFAULT, Regime

    for key in ("stage1", "stage2", "s1", "s2"):
        if key in data:
            raise rd.fail((key,), "mappings laid out by memattr cannot be mixed with the raw "
                                  "form ([registers], [[memory]], [[image]])")
    regs = rd.table(data, "registers") or {}
    given: dict[str, int] = {}
    for key in regs:
        name = key.upper()
        if name not in RAW_REGISTERS:
            raise rd.fail(("registers", key),
                          f"unknown register (allowed: {', '.join(RAW_REGISTERS)})")
        given[name] = rd.num(regs, key, ("registers",))
    sctlr = given.get("SCTLR_EL1", SCTLR_DEFAULT)
    vtcr = given.get("VTCR_EL2")
    hcr = given.get("HCR_EL2", HCR_DEFAULT if vtcr is not None else 0)
    mair = given.get("MAIR_EL1")
    if mair is None:
        if R.SCTLR_EL1.get(sctlr, "M"):
            raise rd.fail(("registers",), "MAIR_EL1 is required when SCTLR_EL1.M=1 (stage 1 "
                                          "on): memattr assumes no operating system's layout")
        mair = 0
    try:
        regime = Regime.from_registers(
            tcr=given.get("TCR_EL1", 0), mair=mair, ttbr0=given.get("TTBR0_EL1", 0),
            ttbr1=given.get("TTBR1_EL1", 0), sctlr=sctlr, hcr=hcr, vtcr=vtcr,
            vttbr=given.get("VTTBR_EL2", 0), cpu=cpu)
    except MemattrError as exc:
        raise rd.fail(("registers",), str(exc)) from None
    mem = PhysMem(cpu=cpu)
    for i, m in enumerate(rd.tables(data, "memory")):
        w = ("memory", i)
        rd.check_keys(m, w, ("pa", "value", "values"))
        pa = rd.num(m, "pa", w)
        if "value" in m and "values" in m:
            raise rd.fail(w + ("values",), "give value or values, not both")
        if "values" in m:
            vals = m["values"]
            if not isinstance(vals, list) or not vals:
                raise rd.fail(w + ("values",), "expected a non-empty array of 64-bit values")
            words = [rd.num({"v": v}, "v", w + ("values",)) for v in vals]
        else:
            words = [rd.num(m, "value", w)]
        if pa & 7:
            raise rd.fail(w + ("pa",), f"0x{pa:x}: not 8-byte aligned")
        if pa + 8 * len(words) > mem.size:
            raise rd.fail(w + ("pa",), f"0x{pa:x}: beyond the {mem.pa_bits}-bit physical "
                                       f"address space of {cpu.name} (PAMax)")
        for j, v in enumerate(words):
            mem.write64(pa + 8 * j, v)
    base_dir = os.path.dirname(os.path.abspath(path))
    for i, im in enumerate(rd.tables(data, "image")):
        w = ("image", i)
        rd.check_keys(im, w, ("file", "base"))
        fname = im.get("file")
        if not isinstance(fname, str) or not fname:
            raise rd.fail(w + ("file",), "required: the path of a binary memory image")
        full = os.path.join(base_dir, fname)
        try:
            st = os.stat(full)
        except OSError as exc:
            raise rd.fail(w + ("file",), f"{fname!r}: cannot read ({exc.strerror})") from None
        if not stat.S_ISREG(st.st_mode):
            raise rd.fail(w + ("file",), f"{fname!r}: not a regular file")
        try:
            mem.add_image(rd.num(im, "base", w), full, name=fname)
        except MemattrError as exc:
            raise rd.fail(w, str(exc)) from None
    s2pt = None
    s1_mem: Any = mem
    s2 = regime.s2
    if regime.s2_enabled and s2 is not None and s2.geometry is not None:
        s2pt = PageTable(mem, s2.geometry, root=s2.root, vmid=s2.vmid)
        s1_mem = IpaSpace(s2pt, 0, FRAME_SIZE)
    return Built(mem, regime, None, s2pt, s1_mem, [], raw=True)


# --- the laid-out form ----------------------------------------------------------------------


def _build(rd: _Reader, data: dict[str, Any], cpu: Cpu) -> Built:
    from ..arch import registers as R
    from ..arch import walkparams as W
    from ..arch.descriptor import Granule
    from ..errors import MemattrError
    from ..linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR
    from ..linux.asm.memory import S2_MEMATTRS as LINUX_S2
    from ..linux.asm.memory import mt_names
    from ..mmu.pgtable import IpaSpace, PageTable, s1_attrs, s2_attrs
    from ..mmu.physmem import PhysMem
    from ..mmu.regime import (
        HCR_DEFAULT,
        SCTLR_DEFAULT,
        Geometry,
        Regime,
        Stage1Regime,
        Stage2Regime,
    )

    granules = {"4k": Granule.K4, "16k": Granule.K16, "64k": Granule.K64}
    st2 = rd.table(data, "stage2")
    st1 = rd.table(data, "stage1") or {}
    s2_maps = rd.tables(data, "s2")
    s1_maps = rd.tables(data, "s1")
    hcr_fwb = R.HCR_EL2.field_mask("FWB")
    hcr_ptw = R.HCR_EL2.field_mask("PTW")
    # --- stage 2 ----------------------------------------------------------------------
    hcr = 0
    s2pt = None
    s2reg = None
    fwb = False
    ps_bits = min(48, cpu.pa_max)
    w: tuple[str | int, ...]
    if st2 is not None:
        w = ("stage2",)
        rd.check_keys(st2, w, ("granule", "ipa_bits", "ps_bits", "start_level", "vtcr", "vmid",
                               "hcr", "fwb", "ptw", "xnx", "table_base"))
        hcr = rd.num(st2, "hcr", w, HCR_DEFAULT)
        for key, bit in (("fwb", hcr_fwb), ("ptw", hcr_ptw)):
            if key in st2:
                hcr = (hcr | bit) if rd.flag(st2, key, w) else (hcr & ~bit)
        fwb = bool(W.effective_hcr(hcr, cpu) & hcr_fwb)
        if "vtcr" in st2:
            vtcr = rd.num(st2, "vtcr", w)
        else:
            vtcr = _vtcr_from_keys(rd, st2, w, granules, cpu)
        vmid = rd.num(st2, "vmid", w, 1, bits=16)
        s2reg = Stage2Regime(vtcr, R.VTTBR_EL2.set(0, "VMID", vmid), cpu=cpu)
        if s2reg.geometry is None:
            rule = s2reg.params.rule.value if s2reg.params.rule else ""
            raise rd.fail(w + (("vtcr",) if "vtcr" in st2 else ()),
                          f"VTCR_EL2=0x{vtcr:x}: {s2reg.fault} ({rule})")
        geom2 = s2reg.geometry
        limit = 1 << geom2.oa_bits
        top = 0x8000_0000
        for i, m in enumerate(s2_maps):
            if "pa" in m and "size" in m:
                end = rd.num(m, "pa", ("s2", i)) + rd.num(m, "size", ("s2", i))
                if end > limit:
                    raise rd.fail(("s2", i, "pa"),
                                  f"0x{rd.num(m, 'pa', ('s2', i)):x} + size: the mapping ends at "
                                  f"0x{end:x}, beyond the {geom2.oa_bits}-bit output address "
                                  "size (stage2.ps_bits / VTCR_EL2.PS, PAMax)")
                top = max(top, end)
        base = rd.num(st2, "table_base", w, -(-top // (2 << 20)) * (2 << 20))
        if base >= limit:
            where = w + ("table_base",) if "table_base" in st2 else w
            raise rd.fail(where, f"stage-2 tables would start at 0x{base:x}, beyond the "
                                 f"{geom2.oa_bits}-bit output address size; give a lower "
                                 "table_base")
        try:
            mem = PhysMem(cpu=cpu, alloc_base=base, alloc_limit=limit)
        except MemattrError as exc:
            raise rd.fail(w + (("table_base",) if "table_base" in st2 else ()),
                          str(exc)) from None
        s2pt = PageTable(mem, geom2, vmid=vmid)
        if "xnx" in st2:
            cpu = cpu.with_(xnx=rd.flag(st2, "xnx", w))
            s2reg = Stage2Regime(vtcr, s2pt.vttbr, cpu=cpu)
    else:
        mem = PhysMem(cpu=cpu)
        if s2_maps:
            raise rd.fail(("s2",), "[[s2]] mappings need a [stage2] table")
    for i, m in enumerate(s2_maps):
        w = ("s2", i)
        rd.check_keys(m, w, ("ipa", "size", "pa", "memattr", "type", "s2ap", "xn", "sh", "af",
                             "contiguous", "max_leaf", "fnxs"))
        if "memattr" in m:
            memattr = rd.num(m, "memattr", w, bits=4)
        elif "type" in m:
            names = {k: v[1 if fwb else 0] for k, v in LINUX_S2.items()}
            memattr = rd.text(m, "type", w, names)
        else:
            raise rd.fail(w + ("memattr",), "required (or type = ...)")
        s2ap = rd.text(m, "s2ap", w, _S2AP, 3)
        xn_v = m.get("xn", False)
        xn = (0b10 if xn_v else 0) if isinstance(xn_v, bool) else rd.num(m, "xn", w, bits=2)
        sh = rd.text(m, "sh", w, _SH, 0b11)
        attrs = s2_attrs(memattr=memattr, s2ap=s2ap, sh=sh, af=rd.flag(m, "af", w, True),
                         xn=xn, fnxs=rd.flag(m, "fnxs", w))
        assert s2pt is not None
        try:
            s2pt.map(rd.num(m, "ipa", w), rd.num(m, "size", w), rd.num(m, "pa", w), attrs,
                     contiguous=rd.flag(m, "contiguous", w),
                     max_leaf=rd.num(m, "max_leaf", w) if "max_leaf" in m else None)
        except MemattrError as exc:
            raise rd.fail(w, str(exc)) from None
    # --- stage 1 ----------------------------------------------------------------------
    w = ("stage1",)
    rd.check_keys(st1, w, ("enabled", "granule", "va_bits", "ips_bits", "tcr", "mair", "sctlr",
                           "asid", "table_pool", "pool_size"))
    enabled = rd.flag(st1, "enabled", w, True) if "enabled" in st1 else \
        ("stage1" in data or bool(s1_maps))
    mair = rd.num(st1, "mair", w, LINUX_MAIR)
    sctlr_m = R.SCTLR_EL1.field_mask("M")
    sctlr = rd.num(st1, "sctlr", w, SCTLR_DEFAULT if enabled else SCTLR_DEFAULT & ~sctlr_m)
    asid = rd.num(st1, "asid", w, 0, bits=16)
    if "tcr" in st1:
        tcr = rd.num(st1, "tcr", w)
    else:
        g1 = rd.text(st1, "granule", w, granules, Granule.K4)
        va_bits = rd.num(st1, "va_bits", w, 48)
        ips_bits = rd.num(st1, "ips_bits", w, min(ps_bits if s2reg is None else
                                                  s2reg.ps_bits, 48))
        if ips_bits not in R.PA_SIZE_BITS.values():
            raise rd.fail(w + ("ips_bits",), f"{ips_bits}: not an IPS size "
                                             f"({', '.join(map(str, R.PA_SIZE_BITS.values()))})")
        try:
            Geometry.for_stage1(g1, va_bits, cpu=cpu)
        except MemattrError as exc:
            raise rd.fail(w + (("va_bits",) if "va_bits" in st1 else ()), str(exc)) from None
        tcr = Stage1Regime.simple(g1, va_bits, ips_bits, mair=mair, cpu=cpu).tcr
    s1pt = None
    s1_mem: Any = mem
    ttbr0 = 0
    if enabled:
        reg1 = Stage1Regime(tcr, mair=mair, sctlr=sctlr, cpu=cpu)
        geom1 = reg1.halves[0].geometry
        if geom1 is None:
            raise rd.fail(w + (("tcr",) if "tcr" in st1 else ()),
                          f"TCR_EL1=0x{tcr:x}: the TTBR0 range cannot be walked: "
                          f"{reg1.halves[0].fault}")
        if s2pt is not None:
            if "table_pool" not in st1:
                raise rd.fail(w + ("table_pool",),
                              "required with a stage 2: an IPA range mapped by [[s2]] for the "
                              "guest's stage-1 tables")
            try:
                s1_mem = IpaSpace(s2pt, rd.num(st1, "table_pool", w),
                                  rd.num(st1, "pool_size", w, 1 << 20))
            except MemattrError as exc:
                raise rd.fail(w + ("table_pool",), str(exc)) from None
        try:
            s1pt = PageTable(s1_mem, geom1, asid=asid)
        except MemattrError as exc:
            raise rd.fail(w + ("table_pool",), str(exc)) from None
        ttbr0 = s1pt.ttbr
        for i, m in enumerate(s1_maps):
            wm = ("s1", i)
            rd.check_keys(m, wm, ("va", "size", "ipa", "oa", "attr_index", "mt", "ap", "pxn",
                                  "uxn", "ng", "sh", "af", "contiguous", "max_leaf"))
            if "attr_index" in m:
                idx = rd.num(m, "attr_index", wm, bits=3)
            elif "mt" in m:
                idx = rd.text(m, "mt", wm, mt_names("6.9"))
            else:
                raise rd.fail(wm + ("attr_index",), "required (or mt = ...)")
            ap_v = m.get("ap", "rw")
            ap = rd.text(m, "ap", wm, _AP, 0) if not isinstance(ap_v, int) or \
                isinstance(ap_v, bool) else rd.num(m, "ap", wm, bits=2)
            attrs = s1_attrs(attr_index=idx, ap=ap, sh=rd.text(m, "sh", wm, _SH, 0b11),
                             af=rd.flag(m, "af", wm, True), ng=rd.flag(m, "ng", wm),
                             pxn=rd.flag(m, "pxn", wm), uxn=rd.flag(m, "uxn", wm))
            out_key = "ipa" if "ipa" in m else "oa"
            try:
                s1pt.map(rd.num(m, "va", wm), rd.num(m, "size", wm), rd.num(m, out_key, wm),
                         attrs, contiguous=rd.flag(m, "contiguous", wm),
                         max_leaf=rd.num(m, "max_leaf", wm) if "max_leaf" in m else None)
            except MemattrError as exc:
                raise rd.fail(wm, str(exc)) from None
    elif s1_maps:
        raise rd.fail(("s1",), "[[s1]] mappings need stage 1 enabled")
    if asid:
        ttbr0 = R.TTBRx_EL1.set(ttbr0, "ASID", asid)
    regime = Regime.from_registers(
        tcr=tcr, mair=mair, ttbr0=ttbr0, sctlr=sctlr, hcr=hcr if s2reg is not None else 0,
        vtcr=s2reg.vtcr if s2reg is not None else None,
        vttbr=s2pt.vttbr if s2pt is not None else 0, cpu=cpu,
    )
    return Built(mem, regime, s1pt, s2pt, s1_mem, [])


def _vtcr_from_keys(rd: _Reader, st2: dict[str, Any], w: tuple[str | int, ...],
                    granules: dict[str, Any], cpu: Cpu) -> int:
    """VTCR_EL2 from granule / ipa_bits / ps_bits / start_level, each checked on its own key."""
    from ..arch import registers as R
    from ..arch import walkparams as W
    from ..arch.descriptor import FINAL_LEVEL, Granule
    from ..errors import MemattrError
    from ..mmu.regime import Geometry, vtcr_value

    g = rd.text(st2, "granule", w, granules, Granule.K4)
    ps_bits = rd.num(st2, "ps_bits", w, 48)
    if ps_bits not in R.PA_SIZE_BITS.values():
        raise rd.fail(w + ("ps_bits",), f"{ps_bits}: not a PS size "
                                        f"({', '.join(map(str, R.PA_SIZE_BITS.values()))})")
    ipa_bits = rd.num(st2, "ipa_bits", w, 40)
    start = st2.get("start_level")
    if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
        raise rd.fail(w + ("start_level",), f"{start!r}: expected a level -1..3")
    oa = W.physical_address_size(R.ps_encoding(ps_bits), g, False, cpu)
    try:
        Geometry.for_stage2(g, ipa_bits, oa, None, cpu=cpu)
    except MemattrError as exc:
        raise rd.fail(w + (("ipa_bits",) if "ipa_bits" in st2 else ()), str(exc)) from None
    if start is not None:
        lo = g.min_level(False)
        if not lo <= start <= FINAL_LEVEL:
            raise rd.fail(w + ("start_level",), f"{start}: no such level for the {g} granule "
                                                f"(levels {lo}..{FINAL_LEVEL})")
        if R.s2_inconsistent_sl(g, 64 - ipa_bits, start):
            raise rd.fail(w + ("start_level",),
                          f"{start}: a {ipa_bits}-bit IPA cannot start at level {start} with "
                          f"the {g} granule (at most 16 concatenated root tables; ASL "
                          "AArch64.S2InconsistentSL)")
    try:
        return vtcr_value(Geometry.for_stage2(g, ipa_bits, oa, start, cpu=cpu), ps_bits)
    except MemattrError as exc:
        raise rd.fail(w + (("start_level",) if start is not None else ()), str(exc)) from None


# --- output ----------------------------------------------------------------------------------


def _regime_line(b: Built) -> str:
    reg = b.regime
    parts = []
    if reg.s1_enabled:
        g1 = reg.s1.halves[0].geometry
        shape = g1.describe() if g1 is not None else \
            f"TTBR0 range not walkable ({reg.s1.halves[0].fault})"
        parts.append(f"stage 1: {shape}; TCR_EL1=0x{reg.s1.tcr:x} "
                     f"TTBR0_EL1=0x{reg.s1.ttbr0:x} MAIR_EL1=0x{reg.s1.mair:016x}")
    else:
        parts.append("stage 1: off (SCTLR_EL1.M=0)")
    if reg.s2 is not None and reg.s2_enabled:
        g2 = reg.s2.geometry
        shape = g2.describe() if g2 is not None else f"not walkable ({reg.s2.fault})"
        parts.append(f"stage 2: {shape}; VTCR_EL2=0x{reg.s2.vtcr:x} "
                     f"VTTBR_EL2=0x{reg.s2.vttbr:x} HCR_EL2=0x{reg.hcr:x}"
                     f"{' (FWB)' if reg.controls.fwb else ''}")
    else:
        parts.append("stage 2: off")
    if reg.cpu.name != "all":
        parts.append(f"cpu: {reg.cpu.name} (PAMax {reg.cpu.pa_max} bits)")
    return "\n".join(parts)


def _text(r: WalkResult) -> list[str]:
    from ..arch.esr import decode_esr
    from ._common import attrs_text

    a = r.access
    out = [f"VA 0x{a.va:016x} {a.kind.value} {a.size} byte(s) at EL{a.el}"]
    for n, st in enumerate(r.steps, 1):
        what = f"IPA 0x{st.ia:x}" if st.stage == 2 else f"VA 0x{st.ia:x}"
        out.append(f"  {n:2d}. {st}  [{what}]")
    for u in r.updates:
        done = "" if u.written else " (not written: read-only memory)"
        out.append(f"      hardware update: S{u.stage} L{u.level} @PA 0x{u.desc_pa:x} "
                   f"0x{u.old:016x} -> 0x{u.new:016x}: {u.what}{done}")
    if r.translation is not None:
        t = r.translation
        out.append(f"  => IPA 0x{t.ipa:x} -> PA 0x{t.pa:x} ({t.size:#x}-byte translation)")
        if t.attrs is not None:
            extra = ""
            if len(t.resolution.outcomes) > 1:
                extra = " (CONSTRAINED UNPREDICTABLE; also " + ", ".join(
                    o.short for o in t.resolution.outcomes[1:]) + ")"
            out.append(f"     attributes: {attrs_text(t.attrs)}{extra}")
        else:
            out.append("     attributes: UNKNOWN (reserved MAIR attribute)")
        s1 = f"S1 attr 0x{t.s1_attr:02x}" if t.s1_attr is not None else "S1 off"
        s2 = f"S2 MemAttr 0x{t.s2_memattr:x}" if t.s2_memattr is not None else "S2 off"
        out.append(f"     from: {s1}, {s2}")
        out.append(f"     permissions at EL{a.el}: {t.perms} (stage 1 {t.s1_perms}, "
                   f"stage 2 {t.s2_perms})")
        for note in t.notes:
            out.append(f"     note: {note}")
    else:
        f = r.fault
        assert f is not None
        out.append(f"  => {f}")
        reg = f"EL{f.target_el}"
        line = f"     ESR_{reg}=0x{f.esr:08x} FAR_{reg}=0x{f.far:x}"
        if f.hpfar is not None:
            line += f" HPFAR_EL2=0x{f.hpfar:x}"
        out.append(line)
        for ln in decode_esr(f.esr).lines[1:]:
            out.append(f"       {ln}")
    return out


def _json(r: WalkResult) -> dict[str, Any]:
    a = r.access
    d: dict[str, Any] = {
        "access": {"va": a.va, "kind": a.kind.value, "size": a.size, "el": a.el},
        "steps": [{"stage": s.stage, "level": s.level, "s1ptw": s.s1ptw, "input": s.ia,
                   "table": s.table, "index": s.index, "desc_pa": s.desc_pa,
                   "desc": s.raw, "type": s.type.value} for s in r.steps],
        "updates": [{"stage": u.stage, "level": u.level, "desc_pa": u.desc_pa, "old": u.old,
                     "new": u.new, "what": u.what, "written": u.written} for u in r.updates],
        "translation": None,
        "fault": None,
    }
    if r.translation is not None:
        t = r.translation
        d["translation"] = {
            "ipa": t.ipa, "pa": t.pa, "size": t.size,
            "attrs": t.attrs.to_json() if t.attrs is not None else None,
            "outcomes": [o.to_json() for o in t.resolution.outcomes],
            "s1_attr": t.s1_attr, "s2_memattr": t.s2_memattr,
            "perms": str(t.perms), "s1_perms": str(t.s1_perms), "s2_perms": str(t.s2_perms),
            "s1_level": t.s1_level, "s2_level": t.s2_level,
            "s1_desc": t.s1_desc, "s2_desc": t.s2_desc, "notes": list(t.notes),
        }
    else:
        f = r.fault
        assert f is not None
        d["fault"] = {"kind": f.kind.value, "stage": f.stage, "level": f.level,
                      "s1ptw": f.s1ptw, "ipa": f.ipa, "reason": f.reason, "rule": f.rule,
                      "branch": f.decision.branch if f.decision else None,
                      "esr": f.esr, "target_el": f.target_el, "far": f.far, "hpfar": f.hpfar}
    return d


def run(args: argparse.Namespace) -> int:
    """Load, build, walk, print."""
    from ..errors import ConfigError
    from ..mmu.walk import Access, AccessKind, walk

    path = example_path() if args.example else args.file
    if path is None:
        raise ConfigError("walk: give FILE.toml or --example")
    built = load(path, cpu=args.cpu)
    if args.va is not None:
        accesses = [Access(parse_int(args.va, "--va", bits=64),
                           AccessKind(args.access or "read"),
                           int(args.el or 1), parse_int(args.size or "8", "--size", maximum=64))]
    else:
        if args.access or args.size or args.el:
            raise ConfigError("--access/--size/--el: only with --va")
        accesses = built.accesses
    results = [walk(built.mem, built.regime, a) for a in accesses]
    status = fail_status(args, {"fault"} if any(r.fault is not None for r in results) else set())
    dumps = _dumps(built, args.dump or [])
    if args.json:
        emit_json({"file": path, "regime": _regime_json(built),
                   "walks": [_json(r) for r in results], "dumps": dumps})
        return status
    print(f"{path}")
    print(_regime_line(built))
    for r in results:
        print()
        print("\n".join(_text(r)))
    for name, text in dumps.items():
        print()
        print(f"== {name}")
        print(text, end="")
    if not results and not dumps:
        print("(no [[access]] in the file and no --va: nothing to walk)")
    return status


def _regime_json(b: Built) -> dict[str, Any]:
    reg = b.regime
    return {
        "tcr": reg.s1.tcr, "ttbr0": reg.s1.ttbr0, "ttbr1": reg.s1.ttbr1, "mair": reg.s1.mair,
        "sctlr": reg.s1.sctlr, "hcr": reg.hcr, "vtcr": reg.s2.vtcr if reg.s2 else None,
        "vttbr": reg.s2.vttbr if reg.s2 else None, "stage1": reg.s1_enabled,
        "stage2": reg.s2_enabled, "cpu": reg.cpu.name, "pa_max": reg.cpu.pa_max,
        "raw": b.raw,
    }


def _dumps(b: Built, which: list[str]) -> dict[str, str]:
    from ..mmu.dump import kvm_ptdump, linux_ptdump, memattr_dump

    out: dict[str, str] = {}
    reg = b.regime
    g1 = reg.s1.halves[0].geometry if reg.s1_enabled else None
    root1 = reg.s1.halves[0].root
    for name in which:
        if name == "s1" and g1 is not None:
            out["stage 1 (Linux kernel_page_tables format)"] = linux_ptdump(b.s1_mem, g1, root1)
        elif name in ("s2", "kvm") and b.s2 is not None:
            out["stage 2 (KVM stage2_page_tables format)"] = kvm_ptdump(
                b.mem, b.s2.geom, b.s2.root)
        elif name == "memattr":
            if g1 is not None:
                out["stage 1 (memattr)"] = memattr_dump(b.s1_mem, g1, root1, mair=reg.s1.mair)
            if b.s2 is not None:
                out["stage 2 (memattr)"] = memattr_dump(b.mem, b.s2.geom, b.s2.root,
                                                        fwb=reg.controls.fwb)
    return out

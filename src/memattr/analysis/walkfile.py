"""Walk files: the TOML ``memattr walk`` and ``memattr at`` read, declared once, and what it builds.

:data:`SCHEMA` declares every key of a walk file for the shared reader
(:mod:`memattr.inputs.toml`: bounded, pre-scanned, ``file:line: key`` errors).  :func:`load`
reads a file and builds what it describes, in one of two forms:

* **laid out by memattr** (``[stage1]``, ``[stage2]``, ``[[s1]]``, ``[[s2]]``): the registers
  from a few keys (or raw TCR_EL1 / VTCR_EL2 values), the tables written into a simulated
  physical memory where :func:`stage2_table_base` and the guest's ``table_pool`` place them;
* **what a machine holds** (``[registers]``, ``[[memory]]``, ``[[image]]``): raw register
  values and raw memory, nothing laid out.

Both forms take ``cpu`` and ``[[access]]``.  The keys and their meaning are documented for users
in ``memattr walk --help`` (``pydoc memattr.cli.walk``); a test checks that page against
:data:`SCHEMA`.  Syntax, type and range errors raise :class:`~memattr.errors.ParseError`; values
that are well-formed but impossible (a mapping beyond the output address size, a start level that
cannot resolve the IPA size) raise :class:`~memattr.errors.ConfigError`.
"""

from __future__ import annotations

import os

from .._value import dataclass  # dataclasses, cheaper to import
from ..arch.registers import PA_SIZE_BITS
from ..errors import ConfigError, MemattrError, ParseError
from ..inputs import toml as t
from ..inputs.escape import show, show_int

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..arch.cpu import Cpu
    from ..mmu.pgtable import IpaSpace, PageTable
    from ..mmu.physmem import PhysMem
    from ..mmu.regime import Regime
    from ..mmu.walk import Access

__all__ = [
    "SCHEMA",
    "RAW_REGISTERS",
    "LAID_OUT_KEYS",
    "RAW_KEYS",
    "ACCESS_KINDS",
    "Built",
    "load",
    "loads",
    "build",
    "example_path",
    "stage2_table_base",
    "TABLE_FLOOR",
    "TABLE_ALIGN",
    "TABLE_MEMORY",
]

RAW_REGISTERS = ("TCR_EL1", "TTBR0_EL1", "TTBR1_EL1", "MAIR_EL1", "SCTLR_EL1", "HCR_EL2",
                 "VTCR_EL2", "VTTBR_EL2")
"""The registers a ``[registers]`` table may give, as Arm spells them."""

LAID_OUT_KEYS = ("stage1", "stage2", "s1", "s2")
"""The top-level keys of the form memattr lays out."""

RAW_KEYS = ("registers", "memory", "image")
"""The top-level keys of the raw form."""

ACCESS_KINDS = ("read", "write", "exec")
"""The ``access`` values of ``[[access]]`` (memattr.mmu.walk.AccessKind values)."""

TABLE_FLOOR = 0x8000_0000
"""The lowest PA memattr puts stage-2 tables at when ``table_base`` is not given."""

TABLE_ALIGN = 2 << 20
"""Stage-2 tables start on a 2 MiB boundary (a level-2 block of the 4 KB granule)."""

TABLE_MEMORY = 256 << 20
"""The most table memory memattr lays out for one stage (32 Mi descriptors: 128 GiB in 4 KiB
pages): a file cannot make it write terabytes of descriptors.  A mapping that needs more fails
with 'out of table memory' at that mapping."""


# --- the declaration ----------------------------------------------------------------------------

_GRANULES = ("4k", "16k", "64k")
_SH = t.Enum({"NSH": 0b00, "OSH": 0b10, "ISH": 0b11}, "a shareability", fold_case=True)
_SIZE = t.Number(lo=1, expected="a size such as '4k', '2M', '1G'")
_REG = t.Number(64, units=False, expected="a 64-bit register value such as 0x80000001")
_S2AP = t.Enum({"none": 0b00, "r": 0b01, "w": 0b10, "rw": 0b11}, "an S2AP", fold_case=True)
_AP = t.Enum({"rw": 0b00, "rw-el0": 0b01, "ro": 0b10, "ro-el0": 0b11}, "an AP", fold_case=True)
_PA_SIZES = tuple(sorted(PA_SIZE_BITS.values()))  # the IPS/PS sizes (TCR_EL1.IPS, VTCR_EL2.PS)


def _pa_size_problem(v: int) -> str | None:
    return None if v in _PA_SIZES else f"{show_int(v, hex_=False)} is not an IPS/PS size"


def _access_size_problem(v: int) -> str | None:
    return None if v in (1, 2, 4, 8, 16, 32, 64) else \
        f"{show_int(v, hex_=False)} is not an access size"


def _aligned8(v: int) -> str | None:
    return None if v % 8 == 0 else f"{show_int(v)} is not 8-byte aligned"


def _mt_names() -> tuple[str, ...]:
    from ..linux.asm.memory import mt_names

    return tuple(mt_names("6.9"))


def _s2_types() -> tuple[str, ...]:
    from ..linux.asm.memory import S2_MEMATTRS

    return tuple(S2_MEMATTRS)


_PA_SIZE = t.Check(t.Int(), _pa_size_problem, "one of " + ", ".join(map(str, _PA_SIZES)))

STAGE1 = t.Table((
    t.Field("enabled", t.Bool(), None, doc="SCTLR_EL1.M (default: on when stage 1 is described)"),
    t.Field("granule", t.Enum(_GRANULES, "a granule", fold_case=True), "4k", doc="TG0/TG1"),
    t.Field("va_bits", t.Int(16, 52, "a VA size 16..52 bits"), 48,
            doc="T0SZ = T1SZ = 64 - va_bits"),
    t.Field("ips_bits", _PA_SIZE, None, doc="TCR_EL1.IPS (default: the stage-2 PS, at most 48)"),
    t.Field("tcr", _REG, None, doc="the raw TCR_EL1 instead of granule, va_bits, ips_bits"),
    t.Field("mair", _REG, None, doc="MAIR_EL1 (default: Linux's MT_* layout)"),
    t.Field("sctlr", _REG, None, doc="SCTLR_EL1 (default M, C, I)"),
    t.Field("asid", t.Number(16, units=False, expected="a 16-bit ASID"), 0, doc="TTBR0_EL1.ASID"),
    t.Field("table_pool", t.Number(expected="an address such as 0x4000_0000"), None,
            doc="where the stage-1 tables go: an IPA mapped by [[s2]] (a PA without stage 2)"),
    t.Field("pool_size", t.Number(lo=4 << 10, hi=TABLE_MEMORY, align=4 << 10,
                                  expected="a size from '4K' to '256M', a multiple of 4K"),
            1 << 20, doc="the size of that pool"),
), at_most_one=(("tcr", "granule"), ("tcr", "va_bits"), ("tcr", "ips_bits")),
   doc="the guest's stage 1 (TCR_EL1, MAIR_EL1, SCTLR_EL1)")

STAGE2 = t.Table((
    t.Field("granule", t.Enum(_GRANULES, "a granule", fold_case=True), "4k", doc="VTCR_EL2.TG0"),
    t.Field("ipa_bits", t.Int(16, 52, "an IPA size 16..52 bits"), 40,
            doc="VTCR_EL2.T0SZ = 64 - ipa_bits"),
    t.Field("ps_bits", _PA_SIZE, 48, doc="VTCR_EL2.PS"),
    t.Field("start_level", t.Int(-1, 3, "a level -1..3"), None,
            doc="VTCR_EL2.SL0 (default: the highest with <= 16 concatenated roots)"),
    t.Field("vtcr", _REG, None, doc="the raw VTCR_EL2 instead of the four keys above"),
    t.Field("vmid", t.Number(16, units=False, expected="a 16-bit VMID"), 1, doc="VTTBR_EL2.VMID"),
    t.Field("hcr", _REG, None, doc="HCR_EL2 (default VM | RW)"),
    t.Field("fwb", t.Bool(), None, doc="sets or clears HCR_EL2.FWB"),
    t.Field("ptw", t.Bool(), None, doc="sets or clears HCR_EL2.PTW"),
    t.Field("xnx", t.Bool(), None, doc="FEAT_XNX (default: the CPU's)"),
    t.Field("table_base", t.Number(expected="a physical address such as 0x8000_0000"), None,
            doc="where the stage-2 tables go (default: stage2_table_base)"),
), at_most_one=(("vtcr", "granule"), ("vtcr", "ipa_bits"), ("vtcr", "ps_bits"),
                ("vtcr", "start_level")),
   doc="KVM's stage 2 (VTCR_EL2, VTTBR_EL2, HCR_EL2)")

S2 = t.Table((
    t.Field("ipa", t.Number(expected="an IPA such as 0x4000_0000"), required=True),
    t.Field("size", _SIZE, required=True),
    t.Field("pa", t.Number(expected="a physical address"), required=True),
    t.Field("memattr", t.Number(4, units=False, expected="a stage-2 MemAttr 0x0..0xf"), None),
    t.Field("type", t.Enum(_s2_types(), "a Linux stage-2 type", fold_case=True), None,
            doc="Linux's MT_S2_<type> (MT_S2_FWB_<type> with FWB)"),
    t.Field("s2ap", _S2AP, 0b11),
    t.Field("xn", t.AnyOf(t.Bool(), t.Int(0, 3)), False, expected="true, false or XN[1:0] 0..3"),
    t.Field("sh", _SH, 0b11),
    t.Field("af", t.Bool(), True),
    t.Field("contiguous", t.Bool(), False),
    t.Field("max_leaf", _SIZE, None, doc="the largest block to use"),
    t.Field("fnxs", t.Bool(), False),
), exactly_one=(("memattr", "type"),), doc="one stage-2 mapping: IPA -> PA")

S1 = t.Table((
    t.Field("va", t.Number(expected="a VA such as 0x40_0000"), required=True),
    t.Field("size", _SIZE, required=True),
    t.Field("ipa", t.Number(expected="an IPA"), None),
    t.Field("oa", t.Number(expected="an output address"), None),
    t.Field("attr_index", t.Int(0, 7, "an AttrIndx 0..7"), None),
    t.Field("mt", t.Enum(_mt_names(), "an MT_* index"), None, doc="Linux's MT_* AttrIndx"),
    t.Field("ap", t.AnyOf(_AP, t.Int(0, 3)), 0b00, expected="rw, rw-el0, ro, ro-el0 or 0..3"),
    t.Field("pxn", t.Bool(), False),
    t.Field("uxn", t.Bool(), False),
    t.Field("ng", t.Bool(), False),
    t.Field("sh", _SH, 0b11),
    t.Field("af", t.Bool(), True),
    t.Field("contiguous", t.Bool(), False),
    t.Field("max_leaf", _SIZE, None),
), exactly_one=(("attr_index", "mt"), ("ipa", "oa")), doc="one stage-1 mapping: VA -> IPA")

ACCESS = t.Table((
    t.Field("va", t.Number(expected="a 64-bit VA"), required=True),
    t.Field("access", t.Enum(ACCESS_KINDS, "an access kind"), "read"),
    t.Field("size", t.Check(t.Int(), _access_size_problem, "1, 2, 4, 8, 16, 32 or 64 bytes"), 8),
    t.Field("el", t.Int(0, 1, "an Exception level 0 or 1"), 1),
), doc="an access to walk when --va is not given")

REGISTERS = t.Table(tuple(t.Field(name, _REG, None) for name in RAW_REGISTERS),
                    doc="raw register values")

MEMORY = t.Table((
    t.Field("pa", t.Check(t.Number(expected="an 8-byte aligned physical address"), _aligned8),
            required=True),
    t.Field("value", _REG, None),
    t.Field("values", t.List(_REG, min_length=1, max_length=1 << 16,
                             expected="a non-empty array of 64-bit values"), None),
), exactly_one=(("value", "values"),), doc="64-bit little-endian values at a physical address")

IMAGE = t.Table((
    t.Field("file", t.Check(t.Str(4096, "the path of a binary memory image"),
                            lambda s: None if s else "an empty file name"), required=True,
            doc="relative to the walk file"),
    t.Field("base", t.Number(expected="the physical address of its first byte"), required=True),
), doc="a binary memory image")

SCHEMA = t.Table((
    t.Field("cpu", t.Str(64, "a CPU preset name"), None, doc="the PE (default every feature)"),
    t.Field("stage1", STAGE1, None),
    t.Field("stage2", STAGE2, None),
    t.Field("s2", t.ArrayOf(S2)),
    t.Field("s1", t.ArrayOf(S1)),
    t.Field("registers", REGISTERS, None),
    t.Field("memory", t.ArrayOf(MEMORY, max_length=1 << 16)),
    t.Field("image", t.ArrayOf(IMAGE, max_length=256)),
    t.Field("access", t.ArrayOf(ACCESS)),
))
"""A walk file's schema, read by :func:`memattr.inputs.toml.read`."""


# --- what a walk file builds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Built:
    """What a walk file builds: memory, regime, page tables and the accesses to walk.

    :param mem: the simulated physical memory.
    :param regime: the translation regime (the registers).
    :param s1: the stage-1 PageTable memattr laid out (None in the raw form).
    :param s2: the stage-2 PageTable (in the raw form: one over the memory at VTTBR_EL2; None
        when stage 2 is off, or its base is beyond the output address size).
    :param s1_mem: where stage-1 tables are read from (guest IPA space through stage 2).
    :param accesses: the file's ``[[access]]`` entries.
    :param raw: the file gave raw registers and memory.
    """

    mem: PhysMem
    regime: Regime
    s1: PageTable | None
    s2: PageTable | None
    s1_mem: PhysMem | IpaSpace
    accesses: tuple[Access, ...]
    raw: bool = False


def example_path() -> str:
    """The path of the example walk file shipped in memattr/data."""
    # os.path, as scenario.bundled_path finds the bundled scenarios: importlib.resources
    # (pathlib, zipfile, tempfile ...) would cost a walk query ~9 ms of start-up.
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.join(here, "data", "walk_example.toml")


def stage2_table_base(ends: list[int] | tuple[int, ...]) -> int:
    """Where memattr puts the stage-2 tables when ``table_base`` is not given: the first
    :data:`TABLE_ALIGN` boundary at or above :data:`TABLE_FLOOR` and the end of every stage-2
    output range (so no table shares a page with memory a mapping names).

    :param ends: the end PA of each ``[[s2]]`` mapping.
    """
    top = max((TABLE_FLOOR, *ends))
    return -(-top // TABLE_ALIGN) * TABLE_ALIGN


def load(path: str | os.PathLike[str], *, cpu: str | None = None,
         arg: str | None = None) -> Built:
    """Read a walk file (bounded, :mod:`memattr.inputs.files`) and build its tables.

    :param path: the file name.
    :param cpu: a preset name overriding the file's ``cpu``.
    :param arg: the command-line argument that named the file, for messages about the name.
    """
    return build(t.load(path, what="walk file", arg=arg, stdin=False), cpu=cpu)


def loads(text: str, name: str = "<string>", *, cpu: str | None = None) -> Built:
    """Parse and build walk-file text; ``name`` names it in errors (images relative to cwd)."""
    from ..inputs.escape import show_path

    return build(t.parse(text, show_path(name), path=name), cpu=cpu)


def build(doc: t.Document, *, cpu: str | None = None) -> Built:
    """Check a parsed walk file against :data:`SCHEMA` and build what it describes."""
    top = t.read(doc, SCHEMA)
    pe = _cpu(top, cpu)
    raw = [k for k in RAW_KEYS if top.has(k)]
    laid = [k for k in LAID_OUT_KEYS if top.has(k)]
    if raw and laid:
        raise top.error(laid[0], "mappings laid out by memattr cannot be mixed with the raw "
                                 f"form ([{raw[0]}])", "either [stage1]/[stage2]/[[s1]]/[[s2]] or "
                                 "[registers]/[[memory]]/[[image]]")
    if raw:
        mem, regime, s2pt, s1_mem = _build_raw(top, pe, doc.path)
        s1pt = None
    else:
        mem, regime, s1pt, s2pt, s1_mem = _build_laid_out(top, pe)
    return Built(mem, regime, s1pt, s2pt, s1_mem, _accesses(top), raw=bool(raw))


def _cpu(top: t.Record, override: str | None) -> Cpu:
    from ..arch.cpu import cpu_names, get_cpu

    if override is not None:
        return get_cpu(override)  # ConfigError naming --cpu's value and the presets
    name = top["cpu"]
    if name is None:
        return get_cpu("all")
    try:
        return get_cpu(name)
    except ConfigError:
        raise top.error("cpu", f"unknown CPU {show(name)}",
                        "one of " + ", ".join(cpu_names())) from None


def _accesses(top: t.Record) -> tuple[Access, ...]:
    from ..mmu.walk import Access, AccessKind

    out = []
    for a in top["access"]:
        try:
            out.append(Access(a["va"], AccessKind(a["access"]), a["el"], a["size"]))
        except MemattrError as exc:
            raise t.locate(exc, a.where(), a.path) from None
    return tuple(out)


def _granule(name: str) -> Any:
    from ..arch.descriptor import Granule

    return {"4k": Granule.K4, "16k": Granule.K16, "64k": Granule.K64}[name.lower()]


# --- the raw form ---------------------------------------------------------------------------------


def _build_raw(top: t.Record, cpu: Cpu, path: str) -> tuple[PhysMem, Regime, PageTable | None,
                                                               PhysMem | IpaSpace]:
    """Registers as given, memory as given: nothing laid out."""
    import stat

    from ..arch import registers as R
    from ..mmu.pgtable import IpaSpace, PageTable
    from ..mmu.physmem import FRAME_SIZE, PhysMem
    from ..mmu.regime import HCR_DEFAULT, SCTLR_DEFAULT, Regime

    regs = top["registers"]
    given: dict[str, int] = {} if regs is None else \
        {name: regs[name] for name in RAW_REGISTERS if regs[name] is not None}
    sctlr = given.get("SCTLR_EL1", SCTLR_DEFAULT)
    vtcr = given.get("VTCR_EL2")
    hcr = given.get("HCR_EL2", HCR_DEFAULT if vtcr is not None else 0)
    mair = given.get("MAIR_EL1")
    if mair is None:
        if R.SCTLR_EL1.get(sctlr, "M"):
            at = regs if regs is not None else top
            raise at.error(None if regs is not None else "registers",
                           "MAIR_EL1 is required when SCTLR_EL1.M=1 (stage 1 on): memattr "
                           "assumes no operating system's layout", "MAIR_EL1 = 0x...")
        mair = 0
    try:
        regime = Regime.from_registers(
            tcr=given.get("TCR_EL1", 0), mair=mair, ttbr0=given.get("TTBR0_EL1", 0),
            ttbr1=given.get("TTBR1_EL1", 0), sctlr=sctlr, hcr=hcr, vtcr=vtcr,
            vttbr=given.get("VTTBR_EL2", 0), cpu=cpu)
    except MemattrError as exc:
        raise t.locate(exc, top.where("registers"), ("registers",)) from None
    mem = PhysMem(cpu=cpu)
    for m in top["memory"]:
        words = m["values"] if m["values"] is not None else (m["value"],)
        end = m["pa"] + 8 * len(words)
        if end > mem.size:
            raise m.error("pa", f"{show_int(m['pa'])} + {8 * len(words)} bytes ends beyond the "
                                f"{mem.pa_bits}-bit physical address space of cpu {show(cpu.name)}"
                                " (PAMax)", f"an end at most {show_int(mem.size)}")
        for j, v in enumerate(words):
            mem.write64(m["pa"] + 8 * j, v)
    base_dir = os.path.dirname(os.path.abspath(path)) if path not in ("-", "<string>") else \
        os.getcwd()
    for im in top["image"]:
        fname = im["file"]
        full = os.path.join(base_dir, fname)
        try:
            st = os.stat(full)
        except (OSError, ValueError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else "not a file name"
            raise im.error("file", f"{show(fname)}: cannot read ({why})",
                           "a regular file, relative to the walk file") from None
        if not stat.S_ISREG(st.st_mode):
            raise im.error("file", f"{show(fname)}: not a regular file",
                           "a regular file, relative to the walk file")
        try:
            mem.add_image(im["base"], full, name=fname)
        except MemattrError as exc:
            raise t.locate(exc, im.where(), im.path) from None
    s2pt = None
    s1_mem: PhysMem | IpaSpace = mem
    s2 = regime.s2
    # A VTTBR_EL2 base beyond the output address size is not an input error: every walk takes
    # the stage-2 Address size fault at level 0 (AArch64.S2Walk), so no table is read from it.
    if regime.s2_enabled and s2 is not None and s2.geometry is not None \
            and not s2.root >> s2.geometry.oa_bits:
        s2pt = PageTable(mem, s2.geometry, root=s2.root, vmid=s2.vmid)
        s1_mem = IpaSpace(s2pt, 0, FRAME_SIZE)
    return mem, regime, s2pt, s1_mem


# --- the laid-out form ----------------------------------------------------------------------------


def _build_laid_out(top: t.Record, cpu: Cpu) -> tuple[PhysMem, Regime, PageTable | None,
                                                     PageTable | None, PhysMem | IpaSpace]:
    from ..arch import registers as R
    from ..arch import walkparams as W
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

    st2: t.Record | None = top["stage2"]
    st1: t.Record | None = top["stage1"]
    s2_maps: tuple[t.Record, ...] = top["s2"]
    s1_maps: tuple[t.Record, ...] = top["s1"]
    # --- stage 2 ----------------------------------------------------------------------------
    hcr = 0
    s2pt: PageTable | None = None
    s2reg: Stage2Regime | None = None
    fwb = False
    if st2 is not None:
        hcr = st2["hcr"] if st2["hcr"] is not None else HCR_DEFAULT
        for key, bit in (("fwb", R.HCR_EL2.field_mask("FWB")), ("ptw", R.HCR_EL2.field_mask("PTW"))):
            if st2[key] is not None:
                hcr = (hcr | bit) if st2[key] else (hcr & ~bit)
        fwb = bool(W.effective_hcr(hcr, cpu) & R.HCR_EL2.field_mask("FWB"))
        vtcr = st2["vtcr"] if st2["vtcr"] is not None else _vtcr_from_keys(st2, cpu)
        if st2["xnx"] is not None:
            cpu = cpu.with_(xnx=st2["xnx"])
        s2reg = Stage2Regime(vtcr, R.VTTBR_EL2.set(0, "VMID", st2["vmid"]), cpu=cpu)
        if s2reg.geometry is None:
            rule = s2reg.params.rule.value if s2reg.params.rule else "VTCR_EL2"
            raise st2.error("vtcr" if st2.has("vtcr") else None,
                            f"VTCR_EL2={show_int(vtcr)}: {s2reg.fault} ({rule})",
                            "a VTCR_EL2 this PE can walk with")
        geom2 = s2reg.geometry
        limit = 1 << geom2.oa_bits
        ends = []
        for m in s2_maps:
            end = m["pa"] + m["size"]
            if end > limit:
                raise m.error("pa", f"{show_int(m['pa'])} + size: the mapping ends at "
                                    f"{show_int(end)}, beyond the {geom2.oa_bits}-bit output "
                                    "address size (stage2.ps_bits / VTCR_EL2.PS, PAMax)",
                              f"an end at most {show_int(limit)}")
            ends.append(end)
        base = st2["table_base"] if st2["table_base"] is not None else stage2_table_base(ends)
        if base >= limit:
            raise st2.error("table_base" if st2.has("table_base") else None,
                            f"stage-2 tables would start at {show_int(base)}, beyond the "
                            f"{geom2.oa_bits}-bit output address size",
                            "a lower table_base")
        try:
            mem = PhysMem(cpu=cpu, alloc_base=base, alloc_limit=min(limit, base + TABLE_MEMORY))
        except MemattrError as exc:
            raise t.locate(exc, st2.where("table_base"), st2.path + ("table_base",)) from None
        s2pt = PageTable(mem, geom2, vmid=st2["vmid"])
        s2reg = Stage2Regime(vtcr, s2pt.vttbr, cpu=cpu)
        s2_names = {k: v[1 if fwb else 0] for k, v in LINUX_S2.items()}
        for m in s2_maps:
            memattr = m["memattr"] if m["memattr"] is not None else s2_names[m["type"]]
            xn = (0b10 if m["xn"] else 0b00) if isinstance(m["xn"], bool) else m["xn"]
            attrs = s2_attrs(memattr=memattr, s2ap=m["s2ap"], sh=m["sh"], af=m["af"], xn=xn,
                             fnxs=m["fnxs"])
            _map(s2pt, m, m["ipa"], m["pa"], attrs)
    else:
        if s2_maps:
            raise top.error("s2", "[[s2]] mappings need a [stage2] table", "a [stage2] table")
        pool = st1["table_pool"] if st1 is not None else None
        if pool is not None:  # no stage 2: the pool is a PA range
            assert st1 is not None
            try:
                mem = PhysMem(cpu=cpu, alloc_base=pool, alloc_limit=pool + st1["pool_size"])
            except MemattrError as exc:
                raise t.locate(exc, st1.where("table_pool"), st1.path + ("table_pool",)) \
                    from None
        else:
            mem = PhysMem(cpu=cpu, alloc_base=TABLE_FLOOR, alloc_limit=TABLE_FLOOR + TABLE_MEMORY)
    # --- stage 1 ----------------------------------------------------------------------------
    if st1 is not None:
        enabled = st1["enabled"] if st1["enabled"] is not None else True
    else:
        enabled = bool(s1_maps)
    mair = st1["mair"] if st1 is not None and st1["mair"] is not None else LINUX_MAIR
    sctlr_m = R.SCTLR_EL1.field_mask("M")
    sctlr = st1["sctlr"] if st1 is not None and st1["sctlr"] is not None else \
        SCTLR_DEFAULT if enabled else SCTLR_DEFAULT & ~sctlr_m
    asid = st1["asid"] if st1 is not None else 0
    granule = _granule(st1["granule"] if st1 is not None else "4k")
    if st1 is not None and st1["tcr"] is not None:
        tcr = st1["tcr"]
    else:
        va_bits = st1["va_bits"] if st1 is not None else 48
        ips_default = min(s2reg.ps_bits if s2reg is not None else min(48, cpu.pa_max), 48)
        ips_bits = st1["ips_bits"] if st1 is not None and st1["ips_bits"] is not None else \
            ips_default
        try:
            Geometry.for_stage1(granule, va_bits, cpu=cpu)
        except MemattrError as exc:
            assert st1 is not None  # the defaults are walkable on every PE
            raise t.locate(exc, st1.where("va_bits"), st1.path + ("va_bits",)) from None
        tcr = Stage1Regime.simple(granule, va_bits, ips_bits, mair=mair, cpu=cpu).tcr
    s1pt: PageTable | None = None
    s1_mem: PhysMem | IpaSpace = mem
    ttbr0 = 0
    if enabled:
        reg1 = Stage1Regime(tcr, mair=mair, sctlr=sctlr, cpu=cpu)
        geom1 = reg1.halves[0].geometry
        if geom1 is None:
            assert st1 is not None
            raise st1.error("tcr" if st1.has("tcr") else None,
                            f"TCR_EL1={show_int(tcr)}: the TTBR0 range cannot be walked: "
                            f"{reg1.halves[0].fault}", "a TCR_EL1 this PE can walk with")
        if s2pt is not None:
            if st1 is None or st1["table_pool"] is None:
                where = st1 if st1 is not None else top
                raise where.error("table_pool" if st1 is not None else "stage1",
                                  "required with a stage 2: an IPA range mapped by [[s2]] for "
                                  "the guest's stage-1 tables", "table_pool = 0x... in [stage1]",
                                  ParseError if st1 is not None else ConfigError)
            try:
                s1_mem = IpaSpace(s2pt, st1["table_pool"], st1["pool_size"])
            except MemattrError as exc:
                raise t.locate(exc, st1.where("table_pool"), st1.path + ("table_pool",)) \
                    from None
        try:
            s1pt = PageTable(s1_mem, geom1, asid=asid)
        except MemattrError as exc:
            if st1 is None:
                raise
            raise t.locate(exc, st1.where("table_pool"), st1.path + ("table_pool",)) from None
        ttbr0 = s1pt.ttbr
        mts = mt_names("6.9")
        for m in s1_maps:
            idx = m["attr_index"] if m["attr_index"] is not None else mts[m["mt"]]
            attrs = s1_attrs(attr_index=idx, ap=m["ap"], sh=m["sh"], af=m["af"], ng=m["ng"],
                             pxn=m["pxn"], uxn=m["uxn"])
            out = m["ipa"] if m["ipa"] is not None else m["oa"]
            _map(s1pt, m, m["va"], out, attrs)
    elif s1_maps:
        raise top.error("s1", "[[s1]] mappings need stage 1 enabled",
                        "no [[s1]], or [stage1] enabled = true")
    if asid:
        ttbr0 = R.TTBRx_EL1.set(ttbr0, "ASID", asid)
    regime = Regime.from_registers(
        tcr=tcr, mair=mair, ttbr0=ttbr0, sctlr=sctlr, hcr=hcr if s2reg is not None else 0,
        vtcr=s2reg.vtcr if s2reg is not None else None,
        vttbr=s2pt.vttbr if s2pt is not None else 0, cpu=cpu,
    )
    return mem, regime, s1pt, s2pt, s1_mem


def _map(pt: PageTable, m: t.Record, ia: int, oa: int, attrs: int) -> None:
    """Lay out one ``[[s1]]`` / ``[[s2]]`` mapping; errors at that mapping, and the table-memory
    bound (:data:`TABLE_MEMORY`) named when it is what stopped it."""
    try:
        pt.map(ia, m["size"], oa, attrs, contiguous=m["contiguous"], max_leaf=m["max_leaf"])
    except MemattrError as exc:
        used = sum(getattr(pt.mem, "allocated", {}).values())
        if used + TABLE_ALIGN >= TABLE_MEMORY:
            raise m.error("size", f"{show_int(m['size'])} bytes in these leaves need more than "
                                  f"the {TABLE_MEMORY >> 20} MiB of table memory memattr lays out "
                                  f"for a stage ({exc})", "a smaller mapping, or larger leaves "
                                  "(an output address aligned like the input, max_leaf)") from None
        raise t.locate(exc, m.where(), m.path) from None


def _vtcr_from_keys(st2: t.Record, cpu: Cpu) -> int:
    """VTCR_EL2 from granule / ipa_bits / ps_bits / start_level, each checked on its own key."""
    from ..arch import registers as R
    from ..arch import walkparams as W
    from ..arch.descriptor import FINAL_LEVEL
    from ..mmu.regime import Geometry, vtcr_value

    g = _granule(st2["granule"])
    ps_bits, ipa_bits, start = st2["ps_bits"], st2["ipa_bits"], st2["start_level"]
    oa = W.physical_address_size(R.ps_encoding(ps_bits), g, False, cpu)
    try:
        Geometry.for_stage2(g, ipa_bits, oa, None, cpu=cpu)
    except MemattrError as exc:
        raise t.locate(exc, st2.where("ipa_bits"), st2.path + ("ipa_bits",)) from None
    if start is not None:
        lo = g.min_level(False)
        if not lo <= start <= FINAL_LEVEL:
            raise st2.error("start_level", f"{show_int(start, hex_=False)}: no such level for "
                                           f"the {g} granule", f"a level {lo}..{FINAL_LEVEL}")
        if R.s2_inconsistent_sl(g, 64 - ipa_bits, start):
            raise st2.error("start_level",
                            f"{start}: a {ipa_bits}-bit IPA cannot start at level {start} with "
                            f"the {g} granule (at most 16 concatenated root tables; ASL "
                            "AArch64.S2InconsistentSL)", "a start level that resolves the IPA")
    try:
        return vtcr_value(Geometry.for_stage2(g, ipa_bits, oa, start, cpu=cpu), ps_bits)
    except MemattrError as exc:
        key = "start_level" if start is not None else "ipa_bits"
        raise t.locate(exc, st2.where(key), st2.path + (key,)) from None

"""``memattr walk FILE.toml``: build the tables a TOML file describes and walk accesses through
them, step by step (every descriptor read, the S1PTW translations, the result or the fault
with its ESR/FAR/HPFAR).

The file (all numbers may be written 0x..., sizes also as "4k", "2M", "1G")::

    [stage1]                  # omit, or enabled = false, for SCTLR_EL1.M = 0
    granule = "4k"            # TG0/TG1: 4k, 16k or 64k
    va_bits = 48              # T0SZ = T1SZ = 64 - va_bits
    ips_bits = 40             # TCR_EL1.IPS
    tcr = 0x...               # or the raw TCR_EL1 instead of the three keys above
    mair = 0x...              # MAIR_EL1 (default: Linux's MT_* layout)
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
    xnx = false               # FEAT_XNX: descriptor bits[54:53] are XN[1:0]
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
    ap = "rw"                 # "rw" (EL1), "rw-el0", "ro", "ro-el0", or AP[2:1] as 0..3
    pxn = false
    uxn = false
    ng = false
    sh = "ISH"
    af = true
    contiguous = false
    max_leaf = "4k"

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

from ._common import emit_json, parse_int

if TYPE_CHECKING:
    from ..mmu.physmem import PhysMem
    from ..mmu.regime import Regime
    from ..mmu.walk import WalkResult

__all__ = ["register", "run", "load", "Built", "example_path"]

_ACCESSES = ("read", "write", "exec")


def register(subparsers: Any) -> None:
    """Add ``walk`` and its options."""
    p = subparsers.add_parser(
        "walk",
        help="walk accesses through stage-1/stage-2 tables described in a TOML file",
        description=(
            "Build real stage-1 and stage-2 translation tables from a TOML description "
            "(registers and mappings) in a simulated physical memory, then translate each "
            "access as the hardware does: every descriptor read (stage-1 table reads "
            "translated through stage 2), the physical address, the combined memory attributes "
            "and permissions, or the fault with the ESR/FAR/HPFAR the exception reports."
        ),
    )
    p.add_argument("file", metavar="FILE.toml", nargs="?", help="the table description")
    p.add_argument("--example", action="store_true",
                   help="use (and name) the example file shipped with memattr")
    p.add_argument("--va", metavar="VA", help="walk this VA (default: the file's [[access]])")
    p.add_argument("--access", choices=_ACCESSES, help="access kind for --va (default read)")
    p.add_argument("--size", metavar="N", help="access size in bytes for --va (default 8)")
    p.add_argument("--el", choices=("0", "1"), help="Exception level for --va (default 1)")
    p.add_argument("--dump", choices=("s1", "s2", "kvm", "memattr"), action="append",
                   help="also print a table: s1 (Linux kernel_page_tables format), s2/kvm (KVM "
                        "stage2_page_tables format), memattr (both, with memory types)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def example_path() -> str:
    """The path of the example TOML shipped in memattr/data."""
    from importlib.resources import files

    return str(files("memattr") / "data" / "walk_example.toml")


# --- loading --------------------------------------------------------------------------------


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
        return ParseError(f"{loc}: {format_path(where)}: {message}")

    def check_keys(self, table: dict[str, Any], where: tuple[str | int, ...],
                   allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(where + (key,), f"unknown key (allowed: {', '.join(allowed)})")

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
             choices: dict[str, Any]) -> Any:
        v = table[key]
        if isinstance(v, str) and v.strip().lower() in {c.lower() for c in choices}:
            for c, out in choices.items():
                if c.lower() == v.strip().lower():
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


class Built:
    """What a walk file builds: memory, regime, page tables and the accesses to walk."""

    def __init__(self, mem: PhysMem, regime: Regime, s1: Any, s2: Any, s1_mem: Any,
                 accesses: list[Any]) -> None:
        self.mem = mem
        self.regime = regime
        self.s1 = s1
        self.s2 = s2
        self.s1_mem = s1_mem
        self.accesses = accesses


def load(path: str) -> Built:
    """Read a walk file and build its tables (errors: file:line: key)."""
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
    rd.check_keys(data, (), ("stage1", "stage2", "s1", "s2", "access"))
    try:
        return _build(rd, data)
    except MemattrError as exc:
        if str(exc).startswith(path):
            raise
        raise ConfigError(f"{path}: {exc}") from None


def _build(rd: _Reader, data: dict[str, Any]) -> Built:
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
        vtcr_value,
    )
    from ..mmu.walk import Access, AccessKind

    granules = {"4k": Granule.K4, "16k": Granule.K16, "64k": Granule.K64}
    st2 = data.get("stage2")
    st1 = data.get("stage1", {})
    if not isinstance(st1, dict) or (st2 is not None and not isinstance(st2, dict)):
        raise rd.fail(("stage1" if not isinstance(st1, dict) else "stage2",), "must be a table")
    s2_maps = data.get("s2", [])
    s1_maps = data.get("s1", [])
    # --- stage 2 ----------------------------------------------------------------------
    hcr = 0
    s2pt = None
    s2reg = None
    ps_bits = 48
    fwb = False
    w: tuple[str | int, ...]
    if st2 is not None:
        w = ("stage2",)
        rd.check_keys(st2, w, ("granule", "ipa_bits", "ps_bits", "start_level", "vtcr", "vmid",
                               "hcr", "fwb", "ptw", "xnx", "table_base"))
        hcr = rd.num(st2, "hcr", w, HCR_DEFAULT)
        for key, bit in (("fwb", 46), ("ptw", 2)):
            if key in st2:
                hcr = (hcr | (1 << bit)) if rd.flag(st2, key, w) else (hcr & ~(1 << bit))
        fwb = bool(hcr >> 46 & 1)
        if "vtcr" in st2:
            vtcr = rd.num(st2, "vtcr", w)
        else:
            g = rd.text(st2, "granule", w, granules) if "granule" in st2 else Granule.K4
            ipa_bits = rd.num(st2, "ipa_bits", w, 40)
            ps_bits = rd.num(st2, "ps_bits", w, 48)
            start = st2.get("start_level")
            if start is not None and (isinstance(start, bool) or not isinstance(start, int)):
                raise rd.fail(w + ("start_level",), f"{start!r}: expected a level -1..3")
            try:
                geom = Geometry.for_stage2(g, ipa_bits, min(ps_bits, 52), start)
                vtcr = vtcr_value(geom, ps_bits)
            except MemattrError as exc:
                key = "ipa_bits" if "ipa_bits" in str(exc) else \
                    "start_level" if "start_level" in str(exc) else "ps_bits"
                raise rd.fail(w + ((key,) if key in st2 else ()), str(exc)) from None
        vmid = rd.num(st2, "vmid", w, 1, bits=16)
        try:
            s2reg = Stage2Regime(vtcr, vmid << 48)
        except MemattrError as exc:
            raise rd.fail(w + (("vtcr",) if "vtcr" in st2 else ()), str(exc)) from None
        ps_bits = s2reg.decoded.pa_bits
        top = 0x8000_0000
        for i, m in enumerate(s2_maps if isinstance(s2_maps, list) else []):
            if isinstance(m, dict) and "pa" in m and "size" in m:
                top = max(top, rd.num(m, "pa", ("s2", i)) + rd.num(m, "size", ("s2", i)))
        base = rd.num(st2, "table_base", w, -(-top // (2 << 20)) * (2 << 20))
        mem = PhysMem(52, alloc_base=base, alloc_limit=1 << min(s2reg.geometry.oa_bits, 52))
        s2pt = PageTable(mem, s2reg.geometry, vmid=vmid)
        xnx = rd.flag(st2, "xnx", w)
    else:
        mem = PhysMem(52)
        xnx = False
        if s2_maps:
            raise rd.fail(("s2",), "[[s2]] mappings need a [stage2] table")
    if not isinstance(s2_maps, list) or not isinstance(s1_maps, list):
        raise rd.fail(("s2",) if not isinstance(s2_maps, list) else ("s1",),
                      "must be an array of tables ([[...]])")
    for i, m in enumerate(s2_maps):
        w = ("s2", i)
        if not isinstance(m, dict):
            raise rd.fail(w, "must be a table")
        rd.check_keys(m, w, ("ipa", "size", "pa", "memattr", "type", "s2ap", "xn", "sh", "af",
                             "contiguous", "max_leaf", "fnxs"))
        if "memattr" in m:
            memattr = rd.num(m, "memattr", w, bits=4)
        elif "type" in m:
            names = {k: v[1 if fwb else 0] for k, v in LINUX_S2.items()}
            memattr = rd.text(m, "type", w, names)
        else:
            raise rd.fail(w + ("memattr",), "required (or type = ...)")
        s2ap = rd.text(m, "s2ap", w, _S2AP) if "s2ap" in m else 3
        xn_v = m.get("xn", False)
        xn = (0b10 if xn_v else 0) if isinstance(xn_v, bool) else rd.num(m, "xn", w, bits=2)
        sh = rd.text(m, "sh", w, _SH) if "sh" in m else 0b11
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
    sctlr = rd.num(st1, "sctlr", w, SCTLR_DEFAULT if enabled else SCTLR_DEFAULT & ~1)
    asid = rd.num(st1, "asid", w, 0, bits=16)
    if "tcr" in st1:
        tcr = rd.num(st1, "tcr", w)
    else:
        g1 = rd.text(st1, "granule", w, granules) if "granule" in st1 else Granule.K4
        try:
            tcr = Stage1Regime.simple(g1, rd.num(st1, "va_bits", w, 48),
                                      rd.num(st1, "ips_bits", w, min(ps_bits, 48))).tcr
        except MemattrError as exc:
            key = "ips_bits" if "PS" in str(exc) else "va_bits"
            raise rd.fail(w + ((key,) if key in st1 else ()), str(exc)) from None
    s1pt = None
    s1_mem: Any = mem
    ttbr0 = 0
    if enabled:
        try:
            reg1 = Stage1Regime(tcr, mair=mair, sctlr=sctlr)
        except MemattrError as exc:
            raise rd.fail(w + (("tcr",) if "tcr" in st1 else ()), str(exc)) from None
        geom1 = reg1.halves[0].geometry
        if geom1 is None:
            raise rd.fail(w, "the TTBR0 half has no valid granule/size")
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
            if not isinstance(m, dict):
                raise rd.fail(wm, "must be a table")
            rd.check_keys(m, wm, ("va", "size", "ipa", "oa", "attr_index", "mt", "ap", "pxn",
                                  "uxn", "ng", "sh", "af", "contiguous", "max_leaf"))
            if "attr_index" in m:
                idx = rd.num(m, "attr_index", wm, bits=3)
            elif "mt" in m:
                idx = rd.text(m, "mt", wm, mt_names("6.9"))
            else:
                raise rd.fail(wm + ("attr_index",), "required (or mt = ...)")
            ap_v = m.get("ap", "rw")
            ap = rd.text(m, "ap", wm, _AP) if isinstance(ap_v, str) else rd.num(m, "ap", wm,
                                                                               bits=2)
            attrs = s1_attrs(attr_index=idx, ap=ap,
                             sh=rd.text(m, "sh", wm, _SH) if "sh" in m else 0b11,
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
        ttbr0 |= asid << 48
    regime = Regime.from_registers(
        tcr=tcr, ttbr0=ttbr0, mair=mair, sctlr=sctlr, hcr=hcr if s2reg is not None else 0,
        vtcr=s2reg.vtcr if s2reg is not None else None,
        vttbr=s2pt.vttbr if s2pt is not None else 0, xnx=xnx, pa_max=min(ps_bits, 52),
    )
    accesses = []
    for i, a in enumerate(data.get("access", [])):
        wa = ("access", i)
        if not isinstance(a, dict):
            raise rd.fail(wa, "must be a table")
        rd.check_keys(a, wa, ("va", "access", "size", "el"))
        kind = rd.text(a, "access", wa, {k.value: k for k in AccessKind}) if "access" in a \
            else AccessKind.READ
        try:
            accesses.append(Access(rd.num(a, "va", wa), kind, rd.num(a, "el", wa, 1),
                                   rd.num(a, "size", wa, 8)))
        except MemattrError as exc:
            raise rd.fail(wa, str(exc)) from None
    return Built(mem, regime, s1pt, s2pt, s1_mem, accesses)


# --- output ----------------------------------------------------------------------------------


def _regime_line(b: Built) -> str:
    reg = b.regime
    parts = []
    if reg.s1_enabled and b.s1 is not None:
        parts.append(f"stage 1: {b.s1.geom.describe()}; TCR_EL1=0x{reg.s1.tcr:x} "
                     f"TTBR0_EL1=0x{reg.s1.ttbr0:x} MAIR_EL1=0x{reg.s1.mair:016x}")
    else:
        parts.append("stage 1: off (SCTLR_EL1.M=0)")
    if reg.s2 is not None and reg.s2_enabled:
        parts.append(f"stage 2: {reg.s2.geometry.describe()}; VTCR_EL2=0x{reg.s2.vtcr:x} "
                     f"VTTBR_EL2=0x{reg.s2.vttbr:x} HCR_EL2=0x{reg.hcr:x}"
                     f"{' (FWB)' if reg.controls.fwb else ''}")
    else:
        parts.append("stage 2: off")
    return "\n".join(parts)


def _text(r: WalkResult) -> list[str]:
    from ..arch.esr import decode_esr
    from ._common import attrs_text

    a = r.access
    out = [f"VA 0x{a.va:016x} {a.kind.value} {a.size} byte(s) at EL{a.el}"]
    for n, st in enumerate(r.steps, 1):
        what = f"IPA 0x{st.ia:x}" if st.stage == 2 else f"VA 0x{st.ia:x}"
        out.append(f"  {n:2d}. {st}  [{what}]")
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
                      "s1ptw": f.s1ptw, "ipa": f.ipa, "reason": f.reason, "esr": f.esr,
                      "target_el": f.target_el, "far": f.far, "hpfar": f.hpfar}
    return d


def run(args: argparse.Namespace) -> int:
    """Load, build, walk, print."""
    from ..errors import ConfigError
    from ..mmu.walk import Access, AccessKind, walk

    path = example_path() if args.example else args.file
    if path is None:
        raise ConfigError("walk: give FILE.toml or --example")
    built = load(path)
    if args.va is not None:
        accesses = [Access(parse_int(args.va, "--va", bits=64),
                           AccessKind(args.access or "read"),
                           int(args.el or 1), parse_int(args.size or "8", "--size", maximum=64))]
    else:
        if args.access or args.size or args.el:
            raise ConfigError("--access/--size/--el: only with --va")
        accesses = built.accesses
    results = [walk(built.mem, built.regime, a) for a in accesses]
    dumps = _dumps(built, args.dump or [])
    if args.json:
        emit_json({"file": path, "regime": _regime_json(built),
                   "walks": [_json(r) for r in results], "dumps": dumps})
        return 0
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
    return 0


def _regime_json(b: Built) -> dict[str, Any]:
    reg = b.regime
    return {
        "tcr": reg.s1.tcr, "ttbr0": reg.s1.ttbr0, "mair": reg.s1.mair, "sctlr": reg.s1.sctlr,
        "hcr": reg.hcr, "vtcr": reg.s2.vtcr if reg.s2 else None,
        "vttbr": reg.s2.vttbr if reg.s2 else None, "stage1": reg.s1_enabled,
        "stage2": reg.s2_enabled,
    }


def _dumps(b: Built, which: list[str]) -> dict[str, str]:
    from ..mmu.dump import kvm_ptdump, linux_ptdump, memattr_dump

    out: dict[str, str] = {}
    for name in which:
        if name == "s1" and b.s1 is not None:
            out["stage 1 (Linux kernel_page_tables format)"] = linux_ptdump(
                b.s1_mem, b.s1.geom, b.s1.root)
        elif name in ("s2", "kvm") and b.s2 is not None:
            out["stage 2 (KVM stage2_page_tables format)"] = kvm_ptdump(
                b.mem, b.s2.geom, b.s2.root)
        elif name == "memattr":
            if b.s1 is not None:
                out["stage 1 (memattr)"] = memattr_dump(b.s1_mem, b.s1.geom, b.s1.root,
                                                        mair=b.regime.s1.mair)
            if b.s2 is not None:
                out["stage 2 (memattr)"] = memattr_dump(b.mem, b.s2.geom, b.s2.root,
                                                        fwb=b.regime.controls.fwb)
    return out

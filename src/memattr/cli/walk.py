"""``memattr walk FILE.toml``: walk accesses through stage-1/stage-2 tables, step by step (every
descriptor read, the S1PTW translations, the result or the fault with its ESR/FAR/HPFAR).

A walk file takes one of two forms.

**Tables memattr lays out** from mappings (all numbers may be written 0x..., sizes also as
"4k", "2M", "1G")::

    cpu = "all"               # optional: the PE (a preset name; default every feature, PAMax 52)

    [stage1]                  # omit for SCTLR_EL1.M = 0 (unless there are [[s1]] mappings)
    enabled = true            # false: SCTLR_EL1.M = 0
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
    table_base = 0x...        # where stage-2 tables go in PA (default: the first 2 MiB
                              #   boundary above 0x8000_0000 and every [[s2]] PA)

    [[s2]]                    # one stage-2 mapping: IPA -> PA
    ipa = 0x4000_0000
    size = "1G"
    pa = 0x1_0000_0000
    memattr = 0xf             # or type = "NORMAL" | "NORMAL_NC" | "DEVICE_nGnRE" | "AS_S1"
                              #   (Linux's MT_S2_*, MT_S2_FWB_* when [stage2].fwb says)
    s2ap = "rw"               # "r", "w", "rw" or "none"
    xn = false                # or XN[1:0] as 0..3
    sh = "ISH"                # NSH, OSH, ISH
    af = true
    contiguous = false
    max_leaf = "2M"           # largest block to use (default: the largest alignment allows)
    fnxs = false              # FEAT_XS: the descriptor's FnXS bit

    [[s1]]                    # one stage-1 mapping: VA -> IPA
    va = 0x40_0000
    size = "2M"
    ipa = 0x4100_0000         # or oa = ... (the output address, a PA without stage 2)
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
    size = 8                  # 1, 2, 4, 8, 16, 32 or 64
    el = 1                    # 0 or 1

The file is read with memattr's TOML reader (a regular file of at most 16 MiB; the schema is
declared in ``memattr.analysis.walkfile``).  A file gives one form or the other, not both.
memattr lays out at most 256 MiB of tables per stage (128 GiB in 4 KiB pages, far more in
blocks), and ``--dump`` reads at most 2 Mi descriptors of them.
Errors name ``file:line: key``; the CLI prints that one line and exits 2.  The example
``src/memattr/data/walk_example.toml`` is installed with the package (``memattr walk
--example`` prints its path).
"""

from __future__ import annotations

import argparse

from ._common import add_fail_on, emit_json, fail_status, parse_int

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..analysis.walkfile import Built
    from ..mmu.walk import WalkResult

__all__ = ["register", "run"]

_ACCESSES = ("read", "write", "exec")  # memattr.analysis.walkfile.ACCESS_KINDS (checked by a test)


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
        from ..arch.esr import decode_esr  # the syndrome tables: only for a fault

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
    from ..analysis.walkfile import example_path, load
    from ..errors import ConfigError, MemattrError
    from ..inputs.escape import show_path
    from ..mmu.walk import Access, AccessKind, walk

    path = example_path() if args.example else args.file
    if path is None:
        raise ConfigError("walk: give FILE.toml or --example")
    built = load(path, cpu=args.cpu, arg="FILE.toml")
    if args.va is not None:
        accesses: tuple[Access, ...] = (Access(parse_int(args.va, "--va", bits=64),
                           AccessKind(args.access or "read"),
                           int(args.el or 1), parse_int(args.size or "8", "--size", maximum=64)),)
    else:
        if args.access or args.size or args.el:
            raise ConfigError("--access/--size/--el: only with --va")
        accesses = built.accesses
    results = [walk(built.mem, built.regime, a) for a in accesses]
    status = fail_status(args, {"fault"} if any(r.fault is not None for r in results) else set())
    try:
        dumps = _dumps(built, args.dump or [])
    except MemattrError as exc:
        if not built.raw:
            raise
        # The tables came from the file's [registers] and memory: name it.
        raise type(exc)(f"{show_path(path)}: {exc}") from None
    if args.json:
        emit_json({"file": path, "regime": _regime_json(built),
                   "walks": [_json(r) for r in results], "dumps": dumps})
        return status
    print(show_path(path))
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


DUMP_LIMIT = 1 << 21
"""Descriptors a --dump of tables memattr laid out may cover (the dump reads each one; a
32 GiB mapping in 4 KiB pages holds 8 Mi of them): a larger tree is walked, not dumped.  Raw
tables are bounded by the walker's own limit (memattr.mmu.pgtable.VISIT_LIMIT)."""


def _check_dump_size(b: Built, which: list[str]) -> None:
    """ConfigError naming --dump when a laid-out tree holds more than :data:`DUMP_LIMIT`
    descriptors."""
    from ..errors import ConfigError

    trees = []
    if b.s1 is not None and {"s1", "memattr"} & set(which):
        trees.append(("stage-1", b.s1))
    if b.s2 is not None and {"s2", "kvm", "memattr"} & set(which):
        trees.append(("stage-2", b.s2))
    for what, pt in trees:
        count = sum(pt.geom.entries(level) for level in pt.tables().values())
        if count > DUMP_LIMIT:
            raise ConfigError(f"--dump: the {what} tables hold {count:,} descriptors in "
                              f"{len(pt.tables()):,} table pages; a dump reads at most "
                              f"{DUMP_LIMIT:,} (walk addresses with --va instead)")


def _dumps(b: Built, which: list[str]) -> dict[str, str]:
    if not which:
        return {}
    from ..linux.asm.memory import MT_LAYOUTS
    from ..linux.ptdump import attr_labels
    from ..mmu.dump import kvm_ptdump, linux_ptdump, memattr_dump

    if not b.raw:
        _check_dump_size(b, which)
    out: dict[str, str] = {}
    reg = b.regime
    if which and b.raw and reg.s2_enabled and b.s2 is None:
        from ..errors import ConfigError

        raise ConfigError("--dump: VTTBR_EL2's base is beyond VTCR_EL2.PS, so there are no "
                          "stage-2 tables to read (each walk takes the level-0 Address size "
                          "fault)")
    g1 = reg.s1.halves[0].geometry if reg.s1_enabled else None
    root1 = reg.s1.halves[0].root
    for name in which:
        if name == "s1" and g1 is not None:
            out["stage 1 (Linux kernel_page_tables format)"] = linux_ptdump(
                b.s1_mem, g1, root1, attr_labels=attr_labels(MT_LAYOUTS[-1].since))
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

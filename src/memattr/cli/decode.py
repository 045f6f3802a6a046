"""``memattr decode WHAT VALUE``: a MAIR byte or register, a stage-1/stage-2 descriptor, or any
register with a field table (TCR, VTCR, HCR, SCTLR, TTBRn, VTTBR, ESR, HPFAR, CTR, ID registers), or PAR_EL1.

Every bit is shown: fields by name with their raw value in hex, reserved encodings and RES0/RES1
violations raw; ``--json`` gives each field with its raw hex value.
"""

from __future__ import annotations

import argparse

from ._common import attrs_text, emit_json, parse_flag_pair, parse_int, truncate

TYPE_CHECKING = False  # importing typing costs ~2 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..arch.cpu import Cpu
    from ..arch.descriptor import Granule
    from ..arch.fields import Field, Layout
    from ..arch.mair import MairAttr
    from ..arch.memtype import MemoryAttributes

__all__ = ["register", "run", "REGISTERS"]

_GRANULES = "4k, 16k or 64k"

REGISTERS: dict[str, tuple[str, tuple[str, ...], str, str]] = {
    "tcr": ("TCR_EL1", ("tcr_el1",), "registers", "TCR_EL1"),
    "vtcr": ("VTCR_EL2", ("vtcr_el2",), "registers", "VTCR_EL2"),
    "hcr": ("HCR_EL2", ("hcr_el2",), "registers", "HCR_EL2"),
    "sctlr": ("SCTLR_EL1", ("sctlr_el1",), "registers", "SCTLR_EL1"),
    "ttbr0": ("TTBR0_EL1", ("ttbr0_el1",), "registers", "TTBRx_EL1"),
    "ttbr1": ("TTBR1_EL1", ("ttbr1_el1",), "registers", "TTBRx_EL1"),
    "vttbr": ("VTTBR_EL2", ("vttbr_el2",), "registers", "VTTBR_EL2"),
    "esr": ("ESR_ELx", ("esr_el1", "esr_el2", "esr_el3"), "esr", "ESR_ELx"),
    "hpfar": ("HPFAR_EL2", ("hpfar_el2",), "esr", "HPFAR_EL2"),
    "ctr": ("CTR_EL0", ("ctr_el0",), "sysregs", "CTR_EL0"),
    "mmfr0": ("ID_AA64MMFR0_EL1", ("id_aa64mmfr0_el1",), "sysregs", "ID_AA64MMFR0_EL1"),
    "mmfr1": ("ID_AA64MMFR1_EL1", ("id_aa64mmfr1_el1",), "sysregs", "ID_AA64MMFR1_EL1"),
    "mmfr2": ("ID_AA64MMFR2_EL1", ("id_aa64mmfr2_el1",), "sysregs", "ID_AA64MMFR2_EL1"),
    "pfr1": ("ID_AA64PFR1_EL1", ("id_aa64pfr1_el1",), "sysregs", "ID_AA64PFR1_EL1"),
    "isar1": ("ID_AA64ISAR1_EL1", ("id_aa64isar1_el1",), "sysregs", "ID_AA64ISAR1_EL1"),
}
"""Registers decoded from their field table: WHAT -> (register name, aliases, arch module, table).

A register with a field table needs one entry here; one with more to say than its fields also
gets a summary function in :data:`_SUMMARIES`.  (MAIR and the descriptors have commands of
their own above.)"""

_CANONICAL = {alias: what for what, (_n, aliases, _m, _t) in REGISTERS.items()
              for alias in (what, *aliases)}


def register(subparsers: Any) -> None:
    """Add ``decode`` and its targets."""
    p = subparsers.add_parser(
        "decode",
        help="decode a MAIR attribute/register, a stage-1/stage-2 descriptor or a register",
        description="Decode a MAIR_ELx attribute byte or register, a VMSAv8-64 descriptor, or "
        "a system register with a field table (every bit shown).",
    )
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True, prog="memattr decode")

    m = sub.add_parser(
        "mair",
        help="a MAIR_ELx attribute byte (0..0xff), a whole 64-bit MAIR_ELx (Attr0..Attr7), or "
             "the MAIR a Linux release programs (linux-6.9)",
        description=(
            "Decode a MAIR_ELx attribute byte (ASL94 S1DecodeMemAttrs), or a whole 64-bit "
            "MAIR_ELx when VALUE is above 0xff, is typed with more than two hex digits, or "
            "--register is given: Attr<n> is bits [8n+7:8n].  Reserved bytes are shown as "
            "reserved, with the rule.  VALUE 'linux-RELEASE' (linux-6.9, linux-5.13; "
            "'linux-6.9+mte' with MT_NORMAL_TAGGED 0xf0 as cpu_enable_mte() leaves it) is the "
            "MAIR_EL1 that release programs (proc.S MAIR_EL1_SET).  Linux's MT_* names: with "
            "--kernel RELEASE (or a linux- VALUE) each Attr<n> holding the byte that release "
            "puts at that index is named, and an index it uses for something else says what "
            "it expects; without, names are given only when the whole register is one some "
            "release programs, with the releases that do (a MAIR that merely shares bytes with "
            "Linux's, such as TF-A's MAIR_EL3, gets none)."
        ),
    )
    m.add_argument("value", metavar="VALUE",
                   help="attribute byte, MAIR_ELx value, or linux-RELEASE[+mte]")
    m.add_argument("--register", action="store_true",
                   help="treat VALUE as the 64-bit register even if it is <= 0xff")
    m.add_argument("--kernel", metavar="RELEASE",
                   help="name the MT_* indexes as this Linux release lays them out (5.5 ..)")
    _cpu_arg(m)
    m.add_argument("--json", action="store_true", help="one JSON document on stdout")

    s1 = sub.add_parser(
        "s1",
        help="a stage-1 descriptor, with the memory type its AttrIndx selects from MAIR",
        description=(
            "Decode a stage-1 VMSAv8-64 descriptor with its field table (Arm ARM D8.3) and, "
            "for a block or page, the memory type MAIR_ELx.Attr<AttrIndx> gives it."
        ),
    )
    s1.add_argument("desc", metavar="DESC", help="the 64-bit descriptor")
    s1.add_argument("--mair", required=True, metavar="VALUE",
                    help="MAIR_ELx (64-bit), or linux-RELEASE[+mte]: what that release programs")
    _walk_args(s1)

    s2 = sub.add_parser(
        "s2",
        help="a stage-2 descriptor, with what its MemAttr means with and without FWB",
        description=(
            "Decode a stage-2 VMSAv8-64 descriptor with its field table (Arm ARM D8.3) and say "
            "what MemAttr[3:0] means without FWB (ASL94 S2DecodeMemAttrs) and with FWB (ASL94 "
            "AArch64.S2ApplyFWBMemAttrs); --fwb or --no-fwb shows only that one (FWB needs "
            "FEAT_S2FWB on --cpu)."
        ),
    )
    s2.add_argument("desc", metavar="DESC", help="the 64-bit descriptor")
    s2.add_argument("--fwb", action="store_true", help="HCR_EL2.FWB=1 only")
    s2.add_argument("--no-fwb", action="store_true", help="HCR_EL2.FWB=0 only")
    _walk_args(s2)

    for what, (name, aliases, _mod, _table) in REGISTERS.items():
        r = sub.add_parser(
            what, aliases=list(aliases), help=f"{name}, field by field",
            description=f"Decode {name} field by field (Arm ARM D24.2): each field's raw value "
            "and meaning; reserved encodings and RES0/RES1 violations shown raw.",
        )
        r.add_argument("value", metavar="VALUE", help=f"the 64-bit {name} value")
        r.add_argument("--nonzero", action="store_true",
                       help="list only the fields that are not zero (no set bit is hidden)")
        r.add_argument("--json", action="store_true", help="one JSON document on stdout")
    _register_par(sub)


def _walk_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--granule", default="4k", help=f"translation granule: {_GRANULES} (default 4k)")
    p.add_argument("--level", default="3", help="lookup level the descriptor is at (default 3)")
    p.add_argument("--ds", action="store_true",
                   help="TCR_ELx.DS / VTCR_EL2.DS = 1 (FEAT_LPA2, 4k/16k): bits[9:8] are "
                        "OA[51:50], shareability comes from the register")
    _cpu_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _cpu_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cpu", default="all", metavar="NAME",
                   help="the PE whose features apply (FEAT_XS, FEAT_MTE2, FEAT_MTE_PERM, "
                        "FEAT_S2FWB): a preset name (default all)")


def _cpu(args: argparse.Namespace) -> Cpu:
    from ..arch.cpu import get_cpu

    return get_cpu(getattr(args, "cpu", "all"))


def run(args: argparse.Namespace) -> int:
    """Decode what was asked for."""
    if args.what == "mair":
        return _run_mair(args)
    if args.what == "par":
        return _run_par(args)
    if args.what in ("s1", "s2"):
        return _run_desc(args, stage=1 if args.what == "s1" else 2)
    return _run_register(args)


# --- MAIR -------------------------------------------------------------------------------------


MAIR_PRESET = "linux-"
"""A MAIR typed as ``linux-RELEASE`` or ``linux-RELEASE+mte``: what that release programs."""


def mair_value(text: str, field: str = "MAIR_ELx") -> tuple[int, Any, bool]:
    """A MAIR_ELx value typed as a number or as a Linux preset.

    :param text: ``0x...`` (any form :func:`parse_int` reads), or ``linux-6.9`` /
        ``linux-6.9+mte``: the MAIR_EL1 that release programs (linux.asm.memory ``mair_for``).
    :param field: the name used in errors.
    :returns: (value, the release of a preset or None, whether MTE's 0xf0 is in it).
    """
    typed = text.strip().lower()
    if not typed.startswith(MAIR_PRESET):
        return parse_int(text, field, bits=64), None, False
    from ..linux.asm.memory import mair_for
    from ..linux.version import modelled_release

    release_text, plus, extra = typed[len(MAIR_PRESET):].partition("+")
    if plus and extra != "mte":
        from ..errors import ParseError

        raise ParseError(f"{field}={truncate(text.strip())}: a Linux MAIR preset takes only "
                         "'+mte' after the release (expected linux-RELEASE or "
                         "linux-RELEASE+mte, e.g. linux-6.9)")
    from ..errors import ConfigError

    try:
        release = modelled_release(release_text, field)
    except ConfigError as exc:
        why = str(exc).partition(": ")[2]
        raise ConfigError(f"{field}={truncate(text.strip())}: {why}") from None
    if plus:
        from ..linux.asm.memory import mt_layout

        layout = mt_layout(release)
        if "MT_NORMAL_TAGGED" not in layout.names:
            first = _first_tagged_release()
            raise ConfigError(f"{field}={truncate(text.strip())}: Linux {release} has no "
                              f"MT_NORMAL_TAGGED (arm64 MTE support came in v{first})")
    return mair_for(release, mte=bool(plus)), release, bool(plus)


def _first_tagged_release() -> str:
    """The first release whose MAIR layout has MT_NORMAL_TAGGED."""
    from ..linux.asm.memory import MT_LAYOUTS

    return str(next(lay.since for lay in MT_LAYOUTS if "MT_NORMAL_TAGGED" in lay.names))


def _releases(index: int) -> str:
    """The releases MT_LAYOUTS[index] is in, e.g. '5.10..5.13' or '5.14..7.0'."""
    from ..linux.asm.memory import MT_LAYOUTS
    from ..linux.version import LAST_MINOR, NEWEST_MODELLED, KernelVersion

    first = MT_LAYOUTS[index].since
    if index + 1 < len(MT_LAYOUTS):
        nxt = MT_LAYOUTS[index + 1].since
        last = (KernelVersion(nxt.major, nxt.minor - 1) if nxt.minor
                else KernelVersion(nxt.major - 1, LAST_MINOR[nxt.major - 1]))
    else:
        last = NEWEST_MODELLED
    return f"{first}..{last}"


def _byte_in_linux(byte: int, release: Any) -> str:
    """Where Linux ``release`` puts attribute ``byte`` in its MAIR_EL1 (MT_* and index)."""
    from ..arch.sysregs import MAIR_ELx

    every = MAIR_ELx.encode(**{f"Attr{n}": byte for n in range(8)})  # the byte at every index
    names, _notes, _r = _linux_names(every, release)
    held = [f"{n} (Attr{i})" for i, n in enumerate(names) if n is not None]
    return (f"Linux {release}: {', '.join(held)}" if held
            else f"Linux {release} puts 0x{byte:02x} at no MT_* index")


def _linux_names(value: int, release: Any) -> tuple[list[str | None], list[str | None], str | None]:
    """Linux's MT_* names for each Attr<n> of MAIR ``value``, per release.

    With ``release``: Attr<n> is named when it holds the byte that release puts at index n
    (MT_NORMAL_TAGGED: 0xff as proc.S programs it, or 0xf0 after cpu_enable_mte()); an index the
    release uses for another byte gets a note saying what it expects.  Without: names only when
    the whole register is one that a layout of linux.asm.memory MT_LAYOUTS programs.

    :returns: (names, notes, the releases the names hold for).
    """
    from ..arch.sysregs import MAIR_ELx
    from ..linux.asm.memory import MT_LAYOUTS, mt_layout
    from ..linux.asm.sysreg import MAIR_ATTR_NORMAL

    names: list[str | None] = [None] * 8
    notes: list[str | None] = [None] * 8
    if release is None:
        for i, layout in enumerate(MT_LAYOUTS):
            if value in (layout.mair(mte=False), layout.mair(mte=True)):
                return [layout.name(n) for n in range(8)], notes, _releases(i)
        return names, notes, None
    layout = mt_layout(release)
    for name, idx, byte in layout.slots:
        held = MAIR_ELx.get(value, f"Attr{idx}")
        allowed = {byte, MAIR_ATTR_NORMAL} if name == "MT_NORMAL_TAGGED" else {byte}
        if held in allowed:
            names[idx] = name
        else:
            want = " or ".join(f"0x{b:02x}" for b in sorted(allowed, reverse=True))
            notes[idx] = f"not Linux {release}'s {name} ({want})"
    return names, notes, str(release)


def _mair_attr_json(attr: MairAttr, index: int | None, linux: str | None) -> dict[str, Any]:
    attrs = None
    if attr.attrs is not None:
        attrs = attr.attrs.to_json()
        if not (attr.attrs.is_device or attr.attrs.is_nc):
            attrs["shareability"] = None  # from the descriptor's SH, not from MAIR
    return {"index": index, "value": attr.value, "raw": f"0x{attr.value:02x}",
            "reserved": attr.reserved, "rule": attr.rule, "attrs": attrs, "linux": linux,
            "permitted": list(attr.permitted)}


def mair_text(attr: MairAttr) -> str:
    """One MAIR byte as text: its type, or why it is reserved and the rule."""
    if attr.attrs is None:
        return f"{attr.reserved} ({attr.rule})"
    a = attr.attrs
    text = attrs_text(a, shareability=False)
    if a.is_device or a.is_nc:
        text += ", always OSH"
    return text


def _run_mair(args: argparse.Namespace) -> int:
    from ..arch.mair import decode_attr, decode_register
    from ..arch.sysregs import MAIR_ATTR

    value, release, _mte = mair_value(args.value)
    if args.kernel is not None:
        from ..linux.version import modelled_release

        kernel = modelled_release(args.kernel, "--kernel")
        if release is not None and kernel != release:
            from ..errors import ConfigError

            raise ConfigError(f"--kernel={truncate(args.kernel)}: VALUE is Linux {release}'s "
                              "MAIR (give one release)")
        release = kernel
    cpu = _cpu(args)
    typed = args.value.strip().lower()
    wide = typed.startswith("0x") and len(typed.replace("_", "")) > 4  # 0x0044: a register
    preset = typed.startswith(MAIR_PRESET)
    if value <= 0xFF and not args.register and not wide and not preset:
        attr = decode_attr(value, cpu)
        if args.json:
            emit_json({"command": "decode mair", "value": value, "hex": f"0x{value:02x}",
                       "register": False, "cpu": cpu.name,
                       "attrs": [_mair_attr_json(attr, None, None)]})
            return 0
        print(f"MAIR attribute 0x{value:02x}: {mair_text(attr)}"
              + (" (EffectiveShareability)" if attr.attrs and attr.attrs.shareability.value == "OSH"
                 else ""))
        if attr.attrs is not None:
            halves = MAIR_ATTR.decode(value)
            print(f"  outer nibble 0b{halves['Outer']:04b}, inner nibble 0b{halves['Inner']:04b} "
                  "(ASL94 S1DecodeMemAttrs)")
        if release is not None:
            print(f"  {_byte_in_linux(value, release)}")
        return 0
    attrs = decode_register(value, cpu, name="MAIR_ELx")
    linux, notes, releases = _linux_names(value, release)
    if args.json:
        rows = [_mair_attr_json(a, n, linux[n]) for n, a in enumerate(attrs)]
        for row, note in zip(rows, notes, strict=True):
            row["linux_note"] = note
        emit_json({"command": "decode mair", "value": value, "hex": f"0x{value:016x}",
                   "register": True, "cpu": cpu.name, "linux": any(linux),
                   "linux_releases": releases if any(linux) else None,
                   "kernel": str(release) if release is not None else None, "attrs": rows})
        return 0
    texts = [mair_text(a) for a in attrs]
    width = max(len(t) for t in texts)
    print(f"MAIR_ELx = 0x{value:016x}")
    for n, (a, t) in enumerate(zip(attrs, texts, strict=True)):
        tail = (f"  Linux {linux[n]} ({releases})" if linux[n] else
                f"  {notes[n]}" if notes[n] else "")
        print(f"  Attr{n}  0x{a.value:02x}  {t:<{width}}{tail}".rstrip())
    return 0


# --- descriptors ------------------------------------------------------------------------------


def _granule_level(args: argparse.Namespace) -> tuple[Granule, int]:
    from ..arch.descriptor import Granule

    granule = Granule.parse(args.granule)
    level = parse_int(args.level, "level", minimum=-1, maximum=3)
    return granule, level


def _field_rows(layout: Layout | None, raw: int, stage: int, granule: Granule
                ) -> list[tuple[str, str, str]]:
    if layout is None:  # invalid or reserved: only the Type bits every descriptor has mean anything
        from ..arch.descriptor import DescType, descriptor_layout

        t = descriptor_layout(stage, DescType.TABLE, granule, 1).field("Type")
        return [("Type", t.bits, f"0b{(raw & t.inplace_mask) >> t.lsb:0{t.width}b}"),
                ("ignored", f"[63:{t.msb + 1}]", f"0x{raw & ~t.inplace_mask:x}")]
    return layout.describe(raw)


def _print_fields(rows: list[tuple[str, str, str]]) -> None:
    wn = max(len(r[0]) for r in rows)
    wb = max(len(r[1]) for r in rows)
    for name, bits, value in rows:
        print(f"  {name:<{wn}}  {bits:<{wb}}  {value}")


def _sh_text(sh: int | None) -> str | None:
    from ..arch.descriptor import sh_decode

    if sh is None:
        return None
    shs = sorted(sh_decode(sh), key=lambda s: s.rank)
    if len(shs) == 1:
        return shs[0].value
    return ("reserved: CONSTRAINED UNPREDICTABLE: one of {"
            + ", ".join(s.value for s in shs) + "} (DecodeShareability)")


def _run_desc(args: argparse.Namespace, stage: int) -> int:
    from ..arch.cpu import lpa_64k
    from ..arch.descriptor import Granule, S1Descriptor, S2Descriptor
    from ..errors import ConfigError

    raw = parse_int(args.desc, "descriptor", bits=64)
    granule, level = _granule_level(args)
    if stage == 1:
        args.mair_value = mair_value(args.mair)[0]  # a number, or linux-6.9
    cls = S1Descriptor if stage == 1 else S2Descriptor
    # The PE decides the descriptor form, not IPS/PS (ASL AArch64.LeafBase/NextTableBase): a 64KB
    # descriptor holds OA[51:48] in bits[15:12] with FEAT_LPA; DS=1 needs FEAT_LPA2.
    cpu = _cpu(args)
    if args.ds and not cpu.lpa2:
        raise ConfigError(f"--ds: cpu {cpu.name!r} does not implement FEAT_LPA2 (DS is RES0)")
    pa_bits = 52 if args.ds or (granule is Granule.K64 and lpa_64k(cpu)) else 48
    desc = cls.decode(raw, granule, level, ds=args.ds, pa_bits=pa_bits)
    layout = desc.layout
    rows = _field_rows(layout, raw, stage, granule)
    problems = layout.check(raw) if layout is not None else []
    head = (f"S{stage} descriptor 0x{raw:016x} at level {level}, {granule.value} granule: "
            f"{desc.type.value}" + (f" ({layout.name})" if layout is not None else ""))
    result: dict[str, Any] = {
        "command": f"decode s{stage}",
        "raw": raw,
        "granule": granule.value,
        "level": level,
        "type": desc.type.value,
        "layout": layout.name if layout is not None else None,
        "fields": [{"name": n, "bits": b, "value": v} for n, b, v in rows],
        "problems": problems,
        "address": desc.address if layout is not None else None,
    }
    lines: list[str] = []
    if not desc.type.is_leaf:
        if desc.type.value == "table":
            lines.append(f"next-level table at 0x{desc.address:x}: no memory attributes here")
        elif desc.type.value == "invalid":
            lines.append("invalid (bit[0]=0): a walk takes a Translation fault")
        else:
            lines.append("reserved (Type 0b01 where no block is allowed): a walk takes a "
                         "Translation fault (ASL AArch64.DecodeDescriptorType)")
    elif stage == 1:
        assert isinstance(desc, S1Descriptor)
        lines += _s1_memory(args, desc, result)
    else:
        assert isinstance(desc, S2Descriptor)
        lines += _s2_memory(args, desc, result)
    if args.json:
        emit_json(result)
        return 0
    print(head)
    _print_fields(rows)
    for p in problems:
        print(f"  problem: {p}")
    for line in lines:
        print(line)
    return 0


def _s1_memory(args: argparse.Namespace, desc: Any, result: dict[str, Any]) -> list[str]:
    """The memory type MAIR_ELx.Attr<AttrIndx> gives a stage-1 block or page."""
    from ..arch.mair import decode as mair_decode
    from ..arch.memtype import Shareability
    from ..arch.sysregs import MAIR_ELx

    mair = args.mair_value
    idx = desc.attr_index
    byte = MAIR_ELx.get(mair, f"Attr{idx}")
    sh_raw = desc.sh
    field = f"MAIR_ELx.Attr{idx}"
    cpu = _cpu(args)
    sh_text = _sh_text(sh_raw)
    # A reserved byte is an error here (ReservedError): this command reports one descriptor's
    # type, and `memattr combine` lists what an UNKNOWN allocated byte may give.
    base = mair_decode(byte, Shareability.ISH, cpu, field=field)
    shs = sorted(desc.shareability or (), key=lambda s: s.rank)
    outcomes: list[MemoryAttributes] = []
    for sh in shs or [None]:
        a = mair_decode(byte, sh, cpu, field=field) if sh is not None else base
        if a not in outcomes:
            outcomes.append(a)
    result.update({"attr_index": idx, "mair_attr": byte, "sh": sh_raw,
                   "outcomes": [a.to_json() for a in outcomes]})
    lines = [f"memory type: {field}=0x{byte:02x}: " + (
        attrs_text(outcomes[0], shareability=sh_raw is not None) if len(outcomes) == 1 else
        "CONSTRAINED UNPREDICTABLE: one of {"
        + ", ".join(f"{a.short} {a.shareability.value}" for a in outcomes) + "}"
    ) + " (S1DecodeMemAttrs)"]
    if sh_text is not None:
        lines.append(f"shareability: SH=0b{sh_raw:02b} {sh_text}")
    elif sh_raw is None:
        lines.append("shareability: TCR_ELx.SH0/SH1 (DS=1: bits[9:8] hold OA[51:50])")
    return lines


def _s2_memory(args: argparse.Namespace, desc: Any, result: dict[str, Any]) -> list[str]:
    """What a stage-2 block or page's MemAttr means, with and/or without FWB."""
    from ..arch.memtype import Shareability
    from ..arch.s2memattr import fwb_meaning, s2_decode_mem_attrs
    from ..errors import ConfigError
    from ..report.explain import decision_json, s2_meaning

    fwb = parse_flag_pair(args.fwb, args.no_fwb, "HCR_EL2.FWB", "fwb")
    cpu = _cpu(args)
    if fwb and not cpu.s2fwb:
        raise ConfigError(f"HCR_EL2.FWB=1: RES0 without FEAT_S2FWB (cpu {cpu.name})")
    memattr = desc.memattr
    lines = []
    meanings: dict[str, Any] = {}
    if fwb is not True:
        dec = s2_decode_mem_attrs(memattr, Shareability.ISH, False, cpu)
        records = tuple(chain[-1] for chain in dec.chains)
        text = s2_meaning(records)
        lines.append(f"MemAttr 0b{memattr:04b} without FWB: {text} ({records[0].rule.value})")
        meanings["no_fwb"] = {"text": text, "reserved": dec.reserved,
                              "outcomes": [a.to_json() for a in dec.outcomes],
                              "decisions": [decision_json(d) for c in dec.chains for d in c]}
    if fwb is not False and cpu.s2fwb:
        case = fwb_meaning(memattr, cpu)
        m = case.result
        text = s2_meaning((case,))
        lines.append(f"MemAttr 0b{memattr:04b} with FWB: {text} ({case.rule.value})")
        meanings["fwb"] = {"text": text, "rule": m.rule.value, "reserved": m.reserved,
                           "device": m.device.name if m.device is not None else None,
                           "decisions": [decision_json(case)]}
    sh_text = _sh_text(desc.sh)
    if sh_text is not None:
        lines.append(f"shareability: SH=0b{desc.sh:02b} {sh_text}")
    elif desc.sh is None:
        lines.append("shareability: VTCR_EL2.SH0 (DS=1: bits[9:8] hold OA[51:50])")
    ex = desc.exec_perms()
    lines.append(f"access: read {'yes' if desc.readable else 'no'}, write "
                 f"{'yes' if desc.writable else 'no'}, execute EL1 {'yes' if ex.el1 else 'no'}, "
                 f"EL0 {'yes' if ex.el0 else 'no'} (S2AP=0b{desc.s2ap:02b}, XN=0b{desc.xn:02b}; "
                 "AArch64.S2ApplyOutputPerms)")
    if desc.fnxs:
        lines.append("FnXS=1: the stage-2 XS attribute is 0")
    result.update({"memattr": memattr, "sh": desc.sh, "meaning": meanings,
                   "s2ap": desc.s2ap, "xn": desc.xn, "fnxs": desc.fnxs})
    return lines


# --- registers with a field table ---------------------------------------------------------

_RESERVED_KINDS = ("RES0", "RES1", "IGNORED")


def _title(args: argparse.Namespace, what: str) -> str:
    """The register name to print: the alias typed if it names an EL (esr_el2), else the table's."""
    name = REGISTERS[what][0]
    return args.what.upper() if args.what != what and args.what.startswith(name[:3].lower()) \
        else name


def _meaning(f: Field, x: int) -> str:
    """What a field value means beyond its raw hex: an enum name, an address, a violation."""
    kind = f.kind.value
    if kind == "flag":
        return f.doc if x else ""
    if kind in ("field", "software", "IGNORED"):
        return ""
    if kind in ("RES0", "RES1"):
        return f.render(x).partition(" ")[2].strip("()")  # '' unless violated
    return f.render(x)


def _rows(layout: Layout, value: int) -> list[dict[str, Any]]:
    """Every row of ``layout`` for ``value``: name, bits, kind, raw hex and meaning."""
    rows = []
    for f in layout.fields:
        x = (value & f.inplace_mask) >> f.lsb
        rows.append({"name": f.name, "bits": f.bits, "kind": f.kind.value,
                     "raw": f"0x{x:x}", "value": _meaning(f, x)})
    return rows


def _print_rows(rows: list[dict[str, Any]], indent: str = "  ", nonzero: bool = False) -> None:
    """The rows holding information: named fields, and reserved ones only when violated.

    :param nonzero: leave out the fields whose raw value is 0 (a violated RES1 row stays).
    """
    shown = [r for r in rows if (r["kind"] not in _RESERVED_KINDS or r["value"])
             and not (nonzero and r["raw"] == "0x0" and r["kind"] not in _RESERVED_KINDS)]
    wn = max((len(r["name"]) for r in shown), default=0)
    wb = max((len(r["bits"]) for r in shown), default=0)
    wr = max((len(r["raw"]) for r in shown), default=0)
    for r in shown:
        print(f"{indent}{r['name']:<{wn}}  {r['bits']:<{wb}}  {r['raw']:<{wr}}  {r['value']}"
              .rstrip())


def _run_register(args: argparse.Namespace) -> int:
    import importlib

    what = _CANONICAL[args.what]
    _name, _aliases, module, table = REGISTERS[what]
    title = _title(args, what)
    value = parse_int(args.value, title, bits=64)
    layout: Layout = getattr(importlib.import_module(f"memattr.arch.{module}"), table)
    rows = _rows(layout, value)
    doc: dict[str, Any] = {"command": f"decode {what}", "register": title,
                           "value": f"0x{value:016x}", "fields": rows,
                           "problems": [p.replace(layout.name, title, 1)
                                        for p in layout.check(value)]}
    summary = _SUMMARIES.get(what, lambda _v, _d: [])(value, doc)
    doc["summary"] = summary
    if args.json:
        emit_json(doc)
        return 0
    print(f"{title} = 0x{value:016x}")
    _print_rows(rows, nonzero=args.nonzero)
    for sub in doc.get("iss", []):
        if sub["name"] == "ISS" or sub["raw"] != "0x0":
            print(f"{sub['name']} ({sub['layout']}, {sub['title']}):")
            _print_rows(sub["fields"], "    ", nonzero=args.nonzero)
    for p in doc["problems"]:
        print(f"  problem: {p}")
    for line in summary:
        print(line)
    return 0


def _esr_summary(value: int, doc: dict[str, Any]) -> list[str]:
    """ESR: the exception class, the ISS (and ISS2) of that class field by field, the syndrome."""
    from ..arch.esr import EC_MEANING, LAYOUTS, decode_esr, decode_fsc

    s = decode_esr(value)
    for row in doc["fields"]:
        if row["name"] == "EC":
            row["value"] = f"{s.ec_name}: {s.ec_meaning}"
    doc["ec"] = {"raw": f"0x{s.ec:02x}", "name": s.ec_name if s.ec in {e.value for e in EC_MEANING}
                 else None, "meaning": s.ec_meaning}
    subs = []
    for part, lname, raw in (("ISS", s.iss_layout, s.iss), ("ISS2", s.iss2_layout, s.iss2)):
        if lname is None:
            continue
        lay = LAYOUTS[lname]
        rows = _rows(lay, raw)
        for row in rows:
            if row["name"] in ("DFSC", "IFSC") and row["kind"] == "field":
                row["value"] = str(decode_fsc(int(row["raw"], 16)))
        subs.append({"name": part, "layout": lname, "title": lay.doc, "raw": f"0x{raw:x}",
                     "fields": rows})
    doc["iss"] = subs
    doc["fsc"] = None if s.fsc is None else {"code": f"0x{s.fsc.code:02x}",
                                             "kind": s.fsc.kind.value, "level": s.fsc.level}
    return ["syndrome:"] + [f"  {line}" for line in s.lines]


def _hpfar_summary(value: int, doc: dict[str, Any]) -> list[str]:
    from ..arch.esr import hpfar_ipa

    ipa = hpfar_ipa(value)
    doc["ipa_page"] = f"0x{ipa:x}"
    return [f"faulting IPA page: 0x{ipa:x} (FIPA << 12; the offset in the page is FAR[11:0])"]


def _walk_problem(doc: dict[str, Any], exc: Exception) -> list[str]:
    """A value the walk decoder rejects: one more problem (unless check() said it already)."""
    if str(exc) not in doc["problems"]:
        doc["problems"].append(str(exc))
    return []


def _tcr_summary(value: int, doc: dict[str, Any]) -> list[str]:
    from ..arch.registers import decode_tcr_el1
    from ..errors import MemattrError

    try:
        tcr = decode_tcr_el1(value)
    except MemattrError as exc:
        return _walk_problem(doc, exc)
    out = []
    for n, half in ((0, tcr.t0), (1, tcr.t1)):
        if half.epd:
            out.append(f"TTBR{n}_EL1: walks disabled (EPD{n}=1)")
        else:
            assert half.granule is not None
            out.append(f"TTBR{n}_EL1: {half.granule.value} granule, {half.ia_bits}-bit VA, start "
                       f"level {half.start_level}" + (", DS=1" if half.ds else ""))
    out.append(f"IPS: {tcr.ips_bits}-bit intermediate physical addresses")
    doc["walk"] = out
    return out


def _vtcr_summary(value: int, doc: dict[str, Any]) -> list[str]:
    from ..arch.registers import decode_vtcr_el2
    from ..errors import MemattrError

    try:
        v = decode_vtcr_el2(value)
    except MemattrError as exc:
        return _walk_problem(doc, exc)
    out = [f"stage 2: {v.tg0.value} granule, {v.ia_bits}-bit IPA, start level {v.start_level} "
           f"({v.concatenated} concatenated table{'s' if v.concatenated > 1 else ''}), PS "
           f"{v.pa_bits} bits (effective {v.effective_pa_bits}), {v.vmid_bits}-bit VMID"
           + (", DS=1" if v.ds else "")]
    doc["walk"] = out
    return out


def _ttb_summary(value: int, doc: dict[str, Any]) -> list[str]:
    from ..arch.registers import ttb_base_address

    b48, b52 = ttb_base_address(value), ttb_base_address(value, pa_bits=52)
    doc["table_base"] = f"0x{b48:x}"
    doc["table_base_52bit_oa"] = f"0x{b52:x}"
    return [f"table base: 0x{b48:x} (0x{b52:x} if the OA is 52 bits: BADDR[5:2] hold "
            "address[51:48])"]


_SUMMARIES: dict[str, Any] = {
    "esr": _esr_summary, "hpfar": _hpfar_summary, "tcr": _tcr_summary, "vtcr": _vtcr_summary,
    "ttbr0": _ttb_summary, "ttbr1": _ttb_summary, "vttbr": _ttb_summary,
}


# --- PAR_EL1 ----------------------------------------------------------------------------------


def _register_par(sub: Any) -> None:
    p = sub.add_parser(
        "par",
        help="PAR_EL1 as an AT instruction writes it (F=0: PA, ATTR, SH, NS; F=1: FST, PTW, S)",
        description=(
            "Decode a 64-bit PAR_EL1 with its field table (the F=0 or the F=1 layout, ASL "
            "AArch64.EncodePAR): the output address, ATTR in MAIR_ELx format (ASL "
            "EncodePARAttrs), SH and NS; or the fault status, PTW and stage."
        ),
    )
    p.add_argument("value", metavar="VALUE", help="the PAR_EL1 value")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _run_par(args: argparse.Namespace) -> int:
    from ..arch.par import decode_par

    value = parse_int(args.value, "PAR_EL1", bits=64)
    par = decode_par(value)
    rows = par.rows()
    if args.json:
        emit_json({"command": "decode par", "value": value, "f": par.f, "pa": par.pa,
                   "attr": par.attr, "sh": par.sh, "ns": par.ns,
                   "fst": par.fst.code if par.fst is not None else None, "ptw": par.ptw,
                   "stage": par.stage, "summary": par.summary, "problems": list(par.problems),
                   "fields": [{"name": n, "bits": b, "value": v} for n, b, v in rows]})
        return 0
    print(f"PAR_EL1 = 0x{value:016x}: {par.summary}")
    _print_fields(rows)
    for problem in par.problems:
        print(f"  problem: {problem}")
    return 0

"""``memattr decode mair|s1|s2``: a MAIR byte or register, or a stage-1/stage-2 descriptor."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from ._common import attrs_text, emit_json, parse_flag_pair, parse_int

if TYPE_CHECKING:
    from ..arch.cpu import Cpu
    from ..arch.descriptor import Granule
    from ..arch.fields import Layout
    from ..arch.mair import MairAttr
    from ..arch.memtype import MemoryAttributes

__all__ = ["register", "run"]

_GRANULES = "4k, 16k or 64k"


def register(subparsers: Any) -> None:
    """Add ``decode`` and its three targets."""
    p = subparsers.add_parser(
        "decode",
        help="decode a MAIR attribute/register or a stage-1/stage-2 descriptor",
        description="Decode a MAIR_ELx attribute byte or register, or a VMSAv8-64 descriptor.",
    )
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True, prog="memattr decode")

    m = sub.add_parser(
        "mair",
        help="a MAIR_ELx attribute byte (0..0xff) or a whole 64-bit MAIR_ELx (Attr0..Attr7)",
        description=(
            "Decode a MAIR_ELx attribute byte (ASL94 S1DecodeMemAttrs), or a whole 64-bit "
            "MAIR_ELx when VALUE is above 0xff, is typed with more than two hex digits, or "
            "--register is given: Attr<n> is bits [8n+7:8n].  Reserved bytes are shown as "
            "reserved, with the rule; the Attr<n> holding Linux's MT_* byte for index n is named."
        ),
    )
    m.add_argument("value", metavar="VALUE", help="attribute byte or MAIR_ELx value")
    m.add_argument("--register", action="store_true",
                   help="treat VALUE as the 64-bit register even if it is <= 0xff")
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
    s1.add_argument("--mair", required=True, metavar="VALUE", help="MAIR_ELx (64-bit)")
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


def _walk_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--granule", default="4k", help=f"translation granule: {_GRANULES} (default 4k)")
    p.add_argument("--level", default="3", help="lookup level the descriptor is at (default 3)")
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
    return _run_desc(args, stage=1 if args.what == "s1" else 2)


# --- MAIR -------------------------------------------------------------------------------------


def _linux_names(index: int, byte: int) -> str | None:
    """The Linux MT_* name this Attr<index> holds, if it holds Linux's byte for it."""
    from ..arch.mair import LINUX_MAIR_BYTES, LINUX_MT

    for name, idx in LINUX_MT.items():
        if idx != index:
            continue
        ok = {LINUX_MAIR_BYTES[name]}
        if name == "MT_NORMAL_TAGGED":
            ok.add(LINUX_MAIR_BYTES["MT_NORMAL"])  # 0xff until MTE is enabled (cpu_enable_mte)
        if byte in ok:
            return name
    return None


def _mair_attr_json(attr: MairAttr, index: int | None, linux: str | None) -> dict[str, Any]:
    attrs = None
    if attr.attrs is not None:
        attrs = attr.attrs.to_json()
        if not (attr.attrs.is_device or attr.attrs.is_nc):
            attrs["shareability"] = None  # from the descriptor's SH, not from MAIR
    return {"index": index, "value": attr.value, "reserved": attr.reserved, "rule": attr.rule,
            "attrs": attrs, "linux": linux, "permitted": list(attr.permitted)}


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

    value = parse_int(args.value, "MAIR_ELx", bits=64)
    cpu = _cpu(args)
    typed = args.value.strip().lower()
    wide = typed.startswith("0x") and len(typed.replace("_", "")) > 4  # 0x0044: a register
    if value <= 0xFF and not args.register and not wide:
        attr = decode_attr(value, cpu)
        if args.json:
            emit_json({"command": "decode mair", "value": value, "register": False,
                       "cpu": cpu.name, "attrs": [_mair_attr_json(attr, None, None)]})
            return 0
        print(f"MAIR attribute 0x{value:02x}: {mair_text(attr)}"
              + (" (EffectiveShareability)" if attr.attrs and attr.attrs.shareability.value == "OSH"
                 else ""))
        if attr.attrs is not None:
            print(f"  outer nibble 0b{value >> 4:04b}, inner nibble 0b{value & 0xF:04b} "
                  "(ASL94 S1DecodeMemAttrs)")
        return 0
    attrs = decode_register(value, cpu, name="MAIR_ELx")
    linux = [_linux_names(n, a.value) for n, a in enumerate(attrs)]
    if args.json:
        emit_json({"command": "decode mair", "value": value, "register": True, "cpu": cpu.name,
                   "attrs": [_mair_attr_json(a, n, linux[n]) for n, a in enumerate(attrs)]})
        return 0
    texts = [mair_text(a) for a in attrs]
    width = max(len(t) for t in texts)
    print(f"MAIR_ELx = 0x{value:016x}")
    for n, (a, t) in enumerate(zip(attrs, texts, strict=True)):
        tail = f"  Linux {linux[n]}" if linux[n] else ""
        print(f"  Attr{n}  0x{a.value:02x}  {t:<{width}}{tail}".rstrip())
    return 0


# --- descriptors ------------------------------------------------------------------------------


def _granule_level(args: argparse.Namespace) -> tuple[Granule, int]:
    from ..arch.descriptor import Granule

    granule = Granule.parse(args.granule)
    level = parse_int(args.level, "level", minimum=-1, maximum=3)
    return granule, level


def _field_rows(layout: Layout | None, raw: int) -> list[tuple[str, str, str]]:
    if layout is None:
        return [("Type", "[1:0]", f"0b{raw & 3:02b}"), ("ignored", "[63:2]", f"0x{raw & ~3:x}")]
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
    from ..arch.descriptor import S1Descriptor, S2Descriptor

    raw = parse_int(args.desc, "descriptor", bits=64)
    granule, level = _granule_level(args)
    if stage == 1:
        args.mair_value = parse_int(args.mair, "MAIR_ELx", bits=64)
    cls = S1Descriptor if stage == 1 else S2Descriptor
    desc = cls.decode(raw, granule, level)
    layout = desc.layout
    rows = _field_rows(layout, raw)
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

    mair = args.mair_value
    idx = desc.attr_index
    byte = (mair >> (8 * idx)) & 0xFF
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
        attrs_text(outcomes[0]) if len(outcomes) == 1 else
        "CONSTRAINED UNPREDICTABLE: one of {"
        + ", ".join(f"{a.short} {a.shareability.value}" for a in outcomes) + "}"
    ) + " (S1DecodeMemAttrs)"]
    if sh_text is not None:
        lines.append(f"shareability: SH=0b{sh_raw:02b} {sh_text}")
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

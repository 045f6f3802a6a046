"""``memattr combine``: one access's effective attributes, the rule behind each step, its properties."""

from __future__ import annotations

import argparse

from ..errors import ConfigError
from ._common import attrs_text, emit_json, parse_flag_pair, parse_int, parse_sh

TYPE_CHECKING = False  # importing typing costs ~2 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..arch.combine import Access, Controls, Resolution
    from ..arch.memtype import MemoryAttributes
    from ..arch.properties import AlignmentOutcome, TypeProperties

__all__ = ["register", "run", "ACCESSES"]

ACCESSES = ("read", "write", "ifetch", "ttw", "dczva")
CPU_HELP = ("the PE whose features apply: a preset name (default all: every feature memattr "
            "models; an unknown name lists the presets)")

_ACCESS_LABEL = {"read": "unaligned data access", "write": "unaligned data access",
                 "dczva": "DC ZVA"}


def register(subparsers: Any) -> None:
    """Add ``combine`` and its options."""
    p = subparsers.add_parser(
        "combine",
        help="effective attributes of S1 MAIR attribute x S2 MemAttr, with the rules",
        description=(
            "Combine a stage-1 MAIR attribute byte with a stage-2 MemAttr[3:0] as Arm's "
            "pseudocode does (ASL94 S2CombineS1MemAttrs / AArch64.S2ApplyFWBMemAttrs), and show "
            "each rule that decided the result, the properties of the result and the alignment "
            "outcome.  Defaults: a running KVM guest (HCR_EL2.VM=1, FWB=0, CD=0; SCTLR_EL1.M=C="
            "I=1), SH1=SH2=ISH, a data read."
        ),
    )
    p.add_argument("--s1", required=True, metavar="ATTR", help="stage-1 MAIR attribute byte")
    p.add_argument("--s2", required=True, metavar="MEMATTR", help="stage-2 MemAttr[3:0]")
    p.add_argument("--fwb", action="store_true", help="HCR_EL2.FWB=1 (FEAT_S2FWB)")
    p.add_argument("--no-fwb", action="store_true", help="HCR_EL2.FWB=0 (the default)")
    p.add_argument("--sh1", default="ISH", metavar="SH",
                   help="stage-1 SH: NSH, ISH, OSH or 0..3 (0b01 is reserved; default ISH)")
    p.add_argument("--sh2", default="ISH", metavar="SH", help="stage-2 SH, as --sh1")
    p.add_argument("--hcr", metavar="VALUE", help="HCR_EL2 (VM, PTW, DC, CD, ID, FWB, DCT bits)")
    p.add_argument("--sctlr", metavar="VALUE", help="SCTLR_EL1 (M, A, C, I bits)")
    p.add_argument("--access", default="read", choices=ACCESSES,
                   help="the access kind (default read)")
    p.add_argument("--fnxs", action="store_true", help="stage-2 descriptor FnXS=1 (FEAT_XS)")
    p.add_argument("--cpu", default="all", metavar="NAME", help=CPU_HELP)
    p.add_argument("--sources", action="store_true",
                   help="show where each property comes from (always in --json)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def controls_from_args(args: argparse.Namespace) -> tuple[Controls, bool | None]:
    """HCR_EL2/SCTLR_EL1 controls from --hcr, --sctlr and --fwb/--no-fwb (checked for conflicts)."""
    from ..arch.combine import Controls

    fwb = parse_flag_pair(args.fwb, args.no_fwb, "HCR_EL2.FWB", "fwb")
    hcr = parse_int(args.hcr, "HCR_EL2", bits=64) if args.hcr is not None else None
    sctlr = parse_int(args.sctlr, "SCTLR_EL1", bits=64) if args.sctlr is not None else None
    hcr_fwb = Controls.from_registers(hcr).fwb if hcr is not None else None  # arch reads FWB
    if hcr_fwb is not None and fwb is not None and hcr_fwb != fwb:
        flag = "--fwb" if fwb else "--no-fwb"
        raise ConfigError(
            f"HCR_EL2.FWB={int(hcr_fwb)}: conflicts with {flag} (HCR_EL2={args.hcr})"
        )
    return Controls.from_registers(hcr, sctlr, fwb=fwb), fwb


def _label(a: MemoryAttributes, all_: tuple[MemoryAttributes, ...]) -> str:
    shorts = [f"{o.short} {o.shareability.value}" for o in all_]
    if len(set(shorts)) == len(shorts):
        return f"{a.short} {a.shareability.value}"
    return str(a)


def effective_line(res: Resolution) -> str:
    """'effective: ...': the one outcome, or every permitted one, never a guess."""
    labels = dict.fromkeys(_label(a, res.outcomes) for a in res.outcomes)
    choices = list(labels) + list(res.faults)
    if len(res.outcomes) == 1 and not res.faults:
        return "effective: " + attrs_text(res.outcomes[0])
    if len(choices) > _MAX_LISTED:
        types = list(dict.fromkeys(a.short for a in res.outcomes))
        shown = ", ".join(types[:_MAX_LISTED]) + (", ..." if len(types) > _MAX_LISTED else "")
        faults = f" or one of {len(res.faults)} faults" if res.faults else ""
        return (f"effective: CONSTRAINED UNPREDICTABLE: one of {len(res.outcomes)} attributes "
                f"of {len(types)} types ({shown}){faults}")
    if len(choices) > 1:
        return "effective: CONSTRAINED UNPREDICTABLE: one of {" + ", ".join(choices) + "}"
    if res.faults:
        return "effective: " + res.faults[0]
    return "effective: no permitted outcome"


def _alignment(
    s1: int, s2: int, controls: Controls, access: Access, res: Resolution
) -> AlignmentOutcome | None:
    from ..arch.properties import alignment_outcome

    if access.value not in _ACCESS_LABEL or not res.s1:
        return None  # no data access to check
    return alignment_outcome(s1, s2, controls=controls, access=access, aligned=False, resolution=res)


def alignment_line(access: Access, out: AlignmentOutcome) -> str:
    """'unaligned data access: alignment fault, taken at stage 2 (rule)', from its records."""
    label = _ACCESS_LABEL[access.value]
    if out.stage is None:
        return f"{label}: no alignment fault ({out.rule})"
    rule = out.decisions[-1].rule.value if out.decisions else "SCTLR_EL1.A"
    maybe = "" if out.certain else " (for some of the permitted types)"
    return f"{label}: alignment fault, taken at stage {out.stage}{maybe} ({rule})"


def properties_lines(props: list[TypeProperties], *, sources: bool = False) -> list[str]:
    """'properties of X:' blocks; outcomes with the same properties share one block."""
    groups: dict[tuple[tuple[str, str], ...], list[TypeProperties]] = {}
    for tp in props:
        groups.setdefault(tuple((p.name, p.value) for p in tp.properties), []).append(tp)
    lines = []
    for key, tps in groups.items():
        names = [f"{tp.attrs.short} {tp.attrs.shareability.value}" if len(props) > 1
                 else tp.attrs.short for tp in tps]
        lines.append(f"properties of {', '.join(names)}:")
        width = max(len(name) for name, _ in key)
        for p in tps[0].properties:
            tail = f"  [{p.source}]" if sources else ""
            lines.append(f"  {p.name:<{width}}  {p.value}{tail}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Resolve one access and print (or emit as JSON) the answer."""
    from ..arch.combine import Access, resolve
    from ..arch.cpu import get_cpu
    from ..arch.properties import type_properties
    from ..report.explain import text_lines

    s1 = parse_int(args.s1, "S1 attribute", bits=8)
    s2 = parse_int(args.s2, "S2 MemAttr", bits=4)
    sh1 = parse_sh(args.sh1, "SH1")
    sh2 = parse_sh(args.sh2, "SH2")
    cpu = get_cpu(args.cpu)
    controls, _ = controls_from_args(args)
    access = Access(args.access)
    res = resolve(s1, s2, sh1=sh1, sh2=sh2, fnxs=args.fnxs, controls=controls, access=access,
                  cpu=cpu)
    align = _alignment(s1, s2, controls, access, res)
    props = [type_properties(a) for a in res.outcomes]
    if args.json:
        emit_json(_to_json(args, s1, s2, sh1, sh2, controls, access, res, align, props))
        return 0
    lines = [effective_line(res)]
    if len(res.outcomes) > 1:
        shown = res.outcomes[:_MAX_LISTED]
        lines += [f"  one of: {attrs_text(a)}" for a in shown]
        if len(res.outcomes) > len(shown):
            lines.append(f"  ... and {len(res.outcomes) - len(shown)} more (--json lists all)")
    lines += [f"  {line}" for line in text_lines(res.paths)]
    if res.reserved:
        lines += [f"  note: {note}" for note in res.reserved.split("; ")]
    lines += [f"  fault: {fault}" for fault in res.faults]
    if align is not None:
        lines.append("  " + alignment_line(access, align))
    lines += properties_lines(props, sources=args.sources)
    print("\n".join(lines))
    return 0


_MAX_LISTED = 12


def _to_json(
    args: argparse.Namespace,
    s1: int,
    s2: int,
    sh1: int,
    sh2: int,
    controls: Controls,
    access: Access,
    res: Resolution,
    align: AlignmentOutcome | None,
    props: list[TypeProperties],
) -> dict[str, Any]:
    from .._value import fields
    from ..report.explain import decision_json, steps_json

    return {
        "command": "combine",
        "input": {
            "s1": s1,
            "s2": s2,
            "sh1": sh1,
            "sh2": sh2,
            "fnxs": bool(args.fnxs),
            "access": access.value,
            "cpu": args.cpu,
            "controls": {f.name: getattr(controls, f.name) for f in fields(controls)},
        },
        "outcomes": [a.to_json() for a in res.outcomes],
        "constrained_unpredictable": len(res.outcomes) + len(res.faults) > 1,
        "reserved": res.reserved,
        "faults": list(res.faults),
        "steps": steps_json(res.paths),
        "s1": [a.to_json() for a in res.s1],
        "s2": [a.to_json() for a in res.s2],
        "properties": [tp.to_json() for tp in props],
        "alignment": None if align is None else {
            "access": access.value, "faults": align.faults, "stage": align.stage, "rule": align.rule,
            "certain": align.certain, "decisions": [decision_json(d) for d in align.decisions],
        },
    }

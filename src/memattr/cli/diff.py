"""``memattr diff``: two page-table dumps, or a dump and the table the model writes, by range."""

from __future__ import annotations

import argparse
import sys

from ._common import add_fail_on, emit_json, fail_status, parse_flag_pair

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run"]

_GRANULES = {"4K": 4096, "16K": 16384, "64K": 65536}


def register(subparsers: Any) -> None:
    """Add ``diff`` and its options."""
    p = subparsers.add_parser(
        "diff",
        help="compare page-table dumps, or a dump with what a policy writes for a scenario's VM",
        description=(
            "Compare two page-table dumps (Linux kernel_page_tables, KVM stage2_page_tables, "
            "memattr's own), or a stage-2 dump with the table the Linux model writes for the VM "
            "a scenario file describes (--scenario, under each --policy), or two policies' "
            "tables for one scenario.  The first side is the reference: 'missing' = mapped there "
            "and not in the other, 'extra' = the other way.  Differences by range: missing/extra "
            "mappings, permissions, memory type (MemAttr / MAIR byte), leaf size.  Only what both "
            "sides state is compared (KVM prints no memory type; its X column depends on the "
            "kernel: --kvm-dialect); the rest is listed as not compared."),
    )
    p.add_argument("dumps", nargs="*", metavar="DUMP",
                   help="page-table dump files (0, 1 or 2; '-' for standard input)")
    p.add_argument("--scenario", metavar="FILE",
                   help="a scenario file (or bundled name): the model's VM to compare with")
    p.add_argument("--policy", action="append", default=[], metavar="P",
                   help="the policy whose table the model writes (repeatable; default: the "
                        "scenario's first, or all of them with no dump)")
    p.add_argument("--fwb", action="store_true", help="model a host with FEAT_S2FWB")
    p.add_argument("--no-fwb", action="store_true", help="model a host without FEAT_S2FWB")
    p.add_argument("--touch", choices=("dump", "scenario"),
                   help="which pages the model faults in: those the dump maps (default with a "
                        "dump) or the scenario's guest mappings and accesses")
    p.add_argument("--ipa-bits", metavar="N", help="the modelled VM's IPA size (default 40)")
    p.add_argument("--granule", choices=sorted(_GRANULES),
                   help="the dumps' translation granule, when their ranges do not settle it")
    p.add_argument("--va-bits", metavar="N", help="the dumps' input-address size")
    p.add_argument("--kvm-dialect", choices=("v6.11", "x-fixed", "xnx"),
                   help="the X column of a stage2_page_tables dump (v6.11 printed X for XN)")
    p.add_argument("--budget", metavar="N",
                   help="the most faults the model takes (default 4096)")
    p.add_argument("--emit-model", metavar="FILE",
                   help="write the modelled table in memattr's dump format ('-': stdout only)")
    p.add_argument("--limit", metavar="N", help="ranges shown per comparison (default 200)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_fail_on(p, ("diff",))


def _dump(path: str, args: argparse.Namespace) -> Any:
    from ..inputs.files import display_name, read_bytes
    from ..interop.ptdump import parse_ptdump
    from ._common import parse_int

    data = read_bytes(path, what="page-table dump", arg="DUMP")
    va = parse_int(args.va_bits, "--va-bits", minimum=16, maximum=64) \
        if args.va_bits is not None else None
    gran = _GRANULES[args.granule] if args.granule else None
    d = parse_ptdump(data, display_name(path), granule=gran, va_bits=va)
    if args.kvm_dialect is not None and d.dialects and d.dialects != {"xnx"}:
        # A FEAT_XNX dump names its dialect itself; the others read as --kvm-dialect says.
        d = parse_ptdump(data, display_name(path), granule=gran, va_bits=va,
                         kvm_dialect=args.kvm_dialect)
    return d


def run(args: argparse.Namespace) -> int:
    """Parse, model, compare, print."""
    from ..errors import ConfigError
    from ._common import parse_int

    if len(args.dumps) > 2:
        raise ConfigError(f"DUMP: {len(args.dumps)} files given (expected at most two)")
    if args.dumps.count("-") > 1:
        raise ConfigError("DUMP=-: standard input given twice (expected it once)")
    if not args.dumps and args.scenario is None:
        raise ConfigError("DUMP=(missing): nothing to compare (expected two dumps, a dump and "
                          "--scenario, or --scenario with two policies)")
    if len(args.dumps) == 1 and args.scenario is None:
        raise ConfigError("DUMP: one dump and no --scenario (expected a second dump, or "
                          "--scenario FILE to compare it with the model)")
    if len(args.dumps) == 2 and args.scenario is not None:
        raise ConfigError("--scenario: two dumps are compared with each other (expected one dump "
                          "with --scenario)")
    if args.touch == "dump" and not args.dumps:
        raise ConfigError("--touch=dump: no dump given (expected a dump, or --touch scenario)")
    import memattr.analysis.replay  # noqa: F401 - the Linux model's modules load in order

    from ..interop.diff import diff_sides, render_diff, side_of_dump

    limit = parse_int(args.limit, "--limit", minimum=0, maximum=1 << 20) \
        if args.limit is not None else 200
    dumps = [_dump(p, args) for p in args.dumps]
    diffs = []
    model_text = None
    if args.scenario is None:
        diffs.append((diff_sides(side_of_dump(dumps[0]), side_of_dump(dumps[1])), 0))
    else:
        from ..analysis.scenario import load
        from ..interop.stage2 import DEFAULT_BUDGET, model_side, model_side_for, model_vm
        from ..linux.policy import get_policy
        from .run import _scenario_path

        sc = load(_scenario_path(args.scenario), arg="--scenario")
        pols = list(dict.fromkeys(args.policy)) or (list(sc.policies) if not dumps
                                                    else [sc.policies[0]])
        for name in pols:
            get_policy(name)
        if not dumps and len(pols) < 2:
            raise ConfigError(f"--policy: one policy ({pols[0]}) and no dump: nothing to compare "
                              "(expected a second --policy, or a dump)")
        fwb_flag = parse_flag_pair(args.fwb, args.no_fwb, "FWB", "fwb")
        fwb = fwb_flag if fwb_flag is not None else sc.cpu.fwb[-1]
        ipa = parse_int(args.ipa_bits, "--ipa-bits", minimum=32, maximum=52) \
            if args.ipa_bits is not None else (dumps[0].va_bits if dumps and dumps[0].va_bits
                                               and 32 <= dumps[0].va_bits <= 52 else 40)
        budget = parse_int(args.budget, "--budget", minimum=1, maximum=1 << 20) \
            if args.budget is not None else DEFAULT_BUDGET
        touch = args.touch or ("dump" if dumps else "scenario")
        if dumps:
            other = side_of_dump(dumps[0])
            for name in pols:
                vm = model_vm(sc, name, fwb=fwb, ipa_bits=ipa)
                if touch == "dump":
                    side, faults = model_side_for(vm, other, budget=budget)
                else:
                    side, faults = model_side(vm), vm.faults
                model_text = model_text or vm.dump_text()
                diffs.append((diff_sides(side, other), faults))
        else:
            vms = [model_vm(sc, name, fwb=fwb, ipa_bits=ipa) for name in pols]
            sides = [model_side(vm) for vm in vms]
            model_text = vms[0].dump_text()
            for vm, side in zip(vms[1:], sides[1:], strict=True):
                diffs.append((diff_sides(sides[0], side), vm.faults))
    found = {"diff"} if any(d.found for d, _f in diffs) else set()
    doc: dict[str, object] = {}
    if args.emit_model is not None:
        if model_text is None:
            raise ConfigError("--emit-model: no model (expected --scenario)")
        if args.emit_model == "-" and args.json:
            doc["model"] = model_text  # standard output carries one JSON document: the dump too
        else:
            _write(args.emit_model, model_text)
            if args.emit_model == "-":
                return fail_status(args, found)
    if args.json:
        doc["comparisons"] = [dict(d.to_json(), faults=f) for d, f in diffs]
        emit_json(doc)
    else:
        parts = []
        for d, faults in diffs:
            text = render_diff(d, limit=limit)
            if faults:
                text += (f"the model took {faults} faults (first and last page of each range, "
                         "more where they differ; pages between two that agree are taken alike)\n")
            parts.append(text)
        sys.stdout.write("\n".join(parts))
    return fail_status(args, found)


def _write(path: str, text: str) -> None:
    from ..errors import ConfigError
    from ..inputs.escape import show_path

    if path == "-":
        sys.stdout.write(text)
        return
    if path == "":
        raise ConfigError("--emit-model='': empty file name (expected a path, or '-')")
    try:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--emit-model={show_path(path)}: cannot write: {reason}") from None

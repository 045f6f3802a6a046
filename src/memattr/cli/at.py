"""``memattr at FILE.toml --va VA --op S12E1R``: what an AT instruction writes to PAR_EL1, for
the tables and registers of a walk file (see ``memattr walk --help``)."""

from __future__ import annotations

import argparse

from ._common import add_fail_on, emit_json, fail_status, parse_int

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..mmu.at import ATResult

__all__ = ["register", "run"]

_OPS = ("S1E1R", "S1E1W", "S1E0R", "S1E0W", "S12E1R", "S12E1W", "S12E0R", "S12E0W")


def register(subparsers: Any) -> None:
    """Add ``at`` and its options."""
    p = subparsers.add_parser(
        "at",
        help="what AT S1E1R/W, S1E0R/W, S12E1R/W, S12E0R/W write to PAR_EL1 for a walk file",
        description=(
            "Execute address translation instructions on the tables and registers of a walk "
            "file (both forms of `memattr walk`) and show PAR_EL1: on success the output "
            "address (the IPA for S1E*, the PA for S12E*), ATTR (ASL EncodePARAttrs, MAIR "
            "format), SH and NS; on a fault F=1 with FST, PTW, S.  AT takes no alignment "
            "fault.  From EL1 a stage-2 fault on the stage-1 walk of AT S1E* is an exception "
            "to EL2 instead."
        ),
    )
    p.add_argument("file", metavar="FILE.toml", nargs="?", help="the walk file")
    p.add_argument("--example", action="store_true",
                   help="use the example walk file shipped with memattr")
    p.add_argument("--va", metavar="VA", required=True, help="the virtual address")
    p.add_argument("--op", choices=_OPS, action="append", metavar="OP",
                   help=f"the AT operation, repeatable: {', '.join(_OPS)} (default S12E1R)")
    p.add_argument("--from-el", choices=("1", "2"), default="2",
                   help="Exception level executing it (default 2)")
    p.add_argument("--cpu", metavar="NAME", help="the PE (a preset name)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_fail_on(p, ("fault",))


def run(args: argparse.Namespace) -> int:
    """Load the walk file, execute each AT, print PAR_EL1."""
    from ..analysis.walkfile import example_path, load
    from ..errors import ConfigError
    from ..mmu.at import at

    path = example_path() if args.example else args.file
    if path is None:
        raise ConfigError("at: give FILE.toml or --example")
    built = load(path, cpu=args.cpu, arg="FILE.toml")
    va = parse_int(args.va, "--va", bits=64)
    results = [at(built.mem, built.regime, op, va, from_el=int(args.from_el))
               for op in (args.op or ["S12E1R"])]
    # a fault: an exception instead of PAR_EL1, or PAR_EL1.F=1 (the AT's walk faulted)
    faulted = any(r.abort is not None or (r.decoded is not None and r.decoded.f) for r in results)
    status = fail_status(args, {"fault"} if faulted else set())
    if args.json:
        emit_json({"file": path, "va": va, "results": [_json(r) for r in results]})
        return status
    for r in results:
        print("\n".join(_text(r)))
    return status


def _text(r: ATResult) -> list[str]:
    out = [f"AT {r.op.value} VA 0x{r.va:x} (from EL{r.from_el})"]
    if r.abort is not None:
        from ..arch.esr import decode_esr  # the syndrome tables: only for an exception

        f = r.abort
        out.append(f"  exception instead of PAR_EL1 (PAR_EL1 UNKNOWN): {f}")
        line = f"  ESR_EL{f.target_el}=0x{f.esr:08x} FAR_EL{f.target_el}=0x{f.far:x}"
        if f.hpfar is not None:
            line += f" HPFAR_EL2=0x{f.hpfar:x}"
        out.append(line)
        out.extend(f"    {ln}" for ln in decode_esr(f.esr).lines[1:])
        return out
    p = r.decoded
    assert p is not None and r.par is not None
    out.append(f"  PAR_EL1=0x{r.par:016x}: {p.summary}"
               + ("  (ATTR and SH UNKNOWN: reserved MAIR attribute)" if r.attrs_unknown else ""))
    for extra in r.pars[1:]:
        out.append(f"  or PAR_EL1=0x{extra:016x} (CONSTRAINED UNPREDICTABLE)")
    for name, bits, value in p.rows(compact=True):
        out.append(f"    {name:<12} {bits:<8} {value}")
    return out


def _json(r: ATResult) -> dict[str, Any]:
    d: dict[str, Any] = {"op": r.op.value, "from_el": r.from_el, "par": r.par,
                         "pars": list(r.pars), "attrs_unknown": r.attrs_unknown,
                         "decoded": None, "abort": None}
    p = r.decoded
    if p is not None:
        d["decoded"] = {"f": p.f, "pa": p.pa, "attr": p.attr, "sh": p.sh, "ns": p.ns,
                        "fst": p.fst.code if p.fst is not None else None,
                        "ptw": p.ptw, "stage": p.stage, "summary": p.summary}
    if r.abort is not None:
        f = r.abort
        d["abort"] = {"kind": f.kind.value, "stage": f.stage, "level": f.level,
                      "s1ptw": f.s1ptw, "esr": f.esr, "far": f.far, "hpfar": f.hpfar,
                      "reason": f.reason, "rule": f.rule,
                      "branch": f.decision.branch if f.decision else None}
    return d

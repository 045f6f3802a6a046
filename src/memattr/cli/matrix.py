"""``memattr matrix``: every policy x device class x mapping source x guest mapping x access kind x
FWB, with the outcome and hazards of each, and a verdict per (policy, device class)."""

from __future__ import annotations

import argparse
import sys

from ._common import add_fail_on, fail_status, parse_flag_pair

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..linux.policy import Policy

__all__ = ["register", "run", "policies_from_args"]


def register(subparsers: Any) -> None:
    """Add ``matrix`` and its options."""
    p = subparsers.add_parser(
        "matrix",
        help="every policy x device class x mapping source x guest mapping x access x FWB",
        description=(
            "Run every access kind (loads and stores of 1-64 bytes, aligned and not, LDP/STP, "
            "SIMD, LD64B/ST64B, exclusives, atomics, DC ZVA, DC CIVAC, instruction fetch) "
            "through every guest mapping of every device class and mapping source, under every "
            "policy, with and without FWB: the stage-2 type, the effective type, what happens "
            "end to end (the architecture, KVM, the bus) and the hazards the review named; then "
            "a verdict per policy and device class.  Filters narrow the matrix; names are "
            "checked.  Reference: docs/matrix.md."),
    )
    p.add_argument("--policy", action="append", metavar="P",
                   help="a policy (repeatable; default: every built-in one), e.g. 6.8, 6.9, v2")
    p.add_argument("--policy-file", action="append", metavar="FILE",
                   help="a policy written as rules (TOML, docs/policy-files.md; repeatable)")
    p.add_argument("--device", action="append", metavar="D",
                   help="a device class (repeatable), e.g. pcie-bar, axi, gicv")
    p.add_argument("--guest", action="append", metavar="G",
                   help="a guest mapping (repeatable), e.g. ioremap_wc, ioremap, mmu_off")
    p.add_argument("--access", action="append", metavar="A",
                   help="an access kind (repeatable; 'all' for every one modelled), e.g. st64b")
    p.add_argument("--fwb", action="store_true", help="only a host with FEAT_S2FWB")
    p.add_argument("--no-fwb", action="store_true", help="only a host without FEAT_S2FWB")
    p.add_argument("--format", choices=("text", "json", "csv", "html"), default="text",
                   help="text (default), json (docs/matrix.md#json), csv, or html (one "
                        "self-contained page)")
    p.add_argument("--json", dest="format", action="store_const", const="json",
                   help="same as --format json")
    p.add_argument("--summary", action="store_true",
                   help="only the verdicts and hazards (text, html), no rows")
    p.add_argument("--engine", choices=("bulk", "scalar"), default="bulk",
                   help="bulk (default, tables) or scalar (a VM per cell: slow, the reference)")
    add_fail_on(p, ("hazard",))


def _unique_name(policy: Policy, taken: set[str]) -> Policy:
    """A policy file's policy, renamed 'NAME@FILE' when a policy already has its name."""
    from dataclasses import replace
    from pathlib import PurePath

    if policy.name not in taken:
        return policy
    base = PurePath(policy.source or "file").name
    name = f"{policy.name}@{base}"
    n = 2
    while name in taken:
        name = f"{policy.name}@{base}#{n}"
        n += 1
    return replace(policy, name=name)


def policies_from_args(names: list[str] | None, files: list[str] | None) -> list[Policy] | None:
    """The policies ``--policy`` and ``--policy-file`` name (None: neither was given)."""
    if not names and not files:
        return None
    from ..analysis.policyfile import load_policy_file
    from ..linux.policy import get_policy, policies

    out: list[Policy] = [get_policy(n) for n in dict.fromkeys(names or [])]
    taken = set(policies()) | {p.name for p in out}
    for path in files or []:
        pol = _unique_name(load_policy_file(path, arg="--policy-file"), taken)
        taken.add(pol.name)
        out.append(pol)
    return out


def run(args: argparse.Namespace) -> int:
    """Build, render, and gate."""
    from ..analysis.access import access_names
    from ..analysis.matrix import build_matrix

    fwb = parse_flag_pair(args.fwb, args.no_fwb, "FWB", "fwb")
    accesses = args.access
    if accesses and "all" in accesses:
        accesses = list(access_names())
    m = build_matrix(policies_from_args(args.policy, args.policy_file), args.device,
                     guests=args.guest, accesses=accesses,
                     fwb=None if fwb is None else (fwb,), engine=args.engine)
    if args.format == "json":
        import json

        # one write: the document is large, and json.dump would write it piece by piece
        sys.stdout.write(json.dumps(m.to_json(), separators=(",", ":")) + "\n")
    elif args.format == "csv":
        from ..report.matrix import render_csv

        sys.stdout.write(render_csv(m))
    elif args.format == "html":
        from ..report.matrix import render_html

        sys.stdout.write(render_html(m, rows=not args.summary))
    else:
        from ..report.matrix import render_text

        sys.stdout.write(render_text(m, rows=not args.summary))
    bad = any(v.verdict != "ok" for v in m.verdicts)
    return fail_status(args, {"hazard"} if bad else set())

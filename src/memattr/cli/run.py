"""``memattr run FILE``: replay a scenario file under one or more policies, with and without FWB."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import add_fail_on, emit_json, fail_status, parse_flag_pair

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run", "use_color"]


def register(subparsers: Any) -> None:
    """Add ``run`` and its options."""
    p = subparsers.add_parser(
        "run",
        help="replay a scenario file (TOML) under policies, with and without FWB",
        description=(
            "Replay a scenario file: for each guest mapping, policy and FWB setting print the "
            "VMM's stage-1 type, the stage-2 MemAttr KVM wrote, the guest's stage-1 type, the "
            "effective type and its properties, the accesses replayed, the hazards and the "
            "events (mapping created, MMIO exit, injected abort, -EINVAL/-EFAULT/-ENOEXEC).  "
            "The table marks with * every cell that differs from the first policy.  FILE is a "
            "path ('-' for standard input), or the name of a bundled scenario (e.g. 'demo').  Input "
            "files are bounded: at most 16 MiB (MEMATTR_MAX_INPUT=SIZE changes it), arrays and "
            "inline tables nested at most 32 deep, keys of at most 16 dotted parts.  Schema: "
            "docs/scenarios.md."
        ),
    )
    p.add_argument("file", metavar="FILE", help="scenario file (TOML) or bundled scenario name")
    p.add_argument("--policy", action="append", metavar="P",
                   help="policy to compare (repeatable; replaces the file's policies), e.g. "
                        "6.8, 6.9, 6.17, v2, pcie-only, mirror-vma, fwb-0b110")
    p.add_argument("--policy-file", action="append", metavar="FILE",
                   help="a policy written as rules (TOML, docs/policy-files.md; repeatable; "
                        "compared with the --policy ones, or with the file's policies)")
    p.add_argument("--fwb", action="store_true", help="only a host with FEAT_S2FWB")
    p.add_argument("--no-fwb", action="store_true", help="only a host without FEAT_S2FWB")
    p.add_argument("--brief", action="store_true", help="only the comparison table")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the differences and hazard levels (default auto: on a terminal, "
                        "unless NO_COLOR is set)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    add_fail_on(p, ("fault", "hazard"))


def use_color(choice: str) -> bool:
    """Whether to colour output: --color always/never, or auto (a terminal, no NO_COLOR)."""
    if choice != "auto":
        return choice == "always"
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return sys.stdout.isatty()


def _scenario_path(text: str) -> str:
    """FILE as given when it names a file ('-': standard input), else a bundled scenario's path."""
    if text in ("", "-") or any(c in text for c in "/\\") or text.endswith(".toml") \
            or os.path.isfile(text):  # isfile is False (not an error) for any unusable name
        return text
    from ..analysis.scenario import bundled_path

    return str(bundled_path(text))


def run(args: argparse.Namespace) -> int:
    """Load, replay and print."""
    from ..analysis.replay import replay
    from ..analysis.scenario import load

    fwb = parse_flag_pair(args.fwb, args.no_fwb, "FWB", "fwb")
    sc = load(_scenario_path(args.file), arg="FILE")
    names = args.policy
    if args.policy_file:
        from ..linux.policy import policies, register_policy
        from .matrix import policies_from_args

        chosen = policies_from_args(args.policy or list(sc.policies), args.policy_file) or []
        known = policies()
        for pol in chosen:
            if known.get(pol.name) is not pol:
                register_policy(pol.name, pol, replace=True)
        names = [pol.name for pol in chosen]
    rp = replay(sc, policies=names, fwb=fwb)
    status = fail_status(args, _found(rp)) if args.fail_on else 0
    if args.json:
        from ..report.document import replay_document

        emit_json(replay_document(rp))
        return status
    from ..report.text import render_replay

    sys.stdout.write(render_replay(rp, color=use_color(args.color), details=not args.brief))
    return status


def _found(rp: Any) -> set[str]:
    """What --fail-on can name in a replay: 'fault' when a mapping or access ended in an
    exception or an error (an errno, an injected abort, a stage-1 fault, a rejected memslot),
    'hazard' when a check is at level hazard."""
    found: set[str] = set()
    for r in rp.results:
        for e in (r.evaluation, *(a.evaluation for a in r.accesses)):
            if e.errno is not None or e.injected or e.stage1_fault is not None \
                    or e.setup_failed is not None:
                found.add("fault")
        if any(a.events and any(ev.errno is not None for ev in a.events) for a in r.accesses):
            found.add("fault")
        if any(h.level == "hazard" for h in r.hazards):
            found.add("hazard")
    return found

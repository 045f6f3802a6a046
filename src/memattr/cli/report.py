"""``memattr report [SCENARIO ...] -o report.html``: one self-contained HTML file with the S1 x S2
heatmaps, the policy matrix, each scenario's table, the reclaim-ordering witnesses and the
sources."""

from __future__ import annotations

import argparse
import os
import sys

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``report`` and its options."""
    p = subparsers.add_parser(
        "report",
        help="write one self-contained HTML report (heatmaps, policy matrix, scenarios, "
             "ordering witnesses)",
        description=(
            "Write one self-contained HTML file (inline CSS and SVG; nothing fetched, no "
            "script): the S1 x S2 heatmaps without and with FWB, the policy matrix with a "
            "verdict per policy and device class, each SCENARIO's comparison table with its "
            "reasons and hazards, the reclaim-ordering witnesses of the review's cases as "
            "timelines, and the sources cited (links to the repository's docs/ and to "
            "lore.kernel.org).  SCENARIO is a file or a bundled name (default: every bundled "
            "scenario)."),
    )
    p.add_argument("scenarios", metavar="SCENARIO", nargs="*",
                   help="scenario files (TOML) or bundled names (default: all bundled)")
    p.add_argument("-o", "--output", metavar="FILE", required=True,
                   help="the HTML file to write ('-' for standard output)")
    p.add_argument("--policy", action="append", metavar="P",
                   help="policy for the scenarios and the matrix (repeatable; default: each "
                        "scenario's own, and every policy in the matrix)")
    p.add_argument("--policy-file", action="append", metavar="FILE",
                   help="a proposed policy written as rules (TOML, docs/policy-files.md), added "
                        "to the matrix and the scenarios (repeatable)")
    p.add_argument("--no-matrix", action="store_true", help="leave the policy matrix out")


def _docs_base(output: str) -> str:
    """The path from the report's directory to the repository root (where docs/ is), when memattr
    runs from a source checkout; '' otherwise (links then assume the report sits at the root)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    if output == "-" or not (root / "docs").is_dir():
        return ""
    try:
        rel = os.path.relpath(root, Path(output).resolve().parent)
    except ValueError:  # another drive
        return ""
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"


def run(args: argparse.Namespace) -> int:
    """Replay, render, write."""
    from ..analysis.replay import replay
    from ..analysis.scenario import bundled, bundled_path, load
    from ..errors import ConfigError
    from ..inputs.escape import show_path
    from ..report.html import render_report
    from .matrix import policies_from_args
    from .run import _scenario_path

    names = args.scenarios or [str(bundled_path(n)) for n in bundled()]
    scenarios = [load(_scenario_path(n), arg="SCENARIO") for n in names]
    chosen = policies_from_args(args.policy, args.policy_file)
    if args.policy_file and chosen:
        from ..linux.policy import policies, register_policy

        known = policies()
        for pol in chosen:  # this process only: the scenarios replay the files' policies too
            if known.get(pol.name) is not pol:
                register_policy(pol.name, pol, replace=True)
    pol_names = [pol.name for pol in chosen] if chosen else None
    replays = [replay(sc, policies=pol_names) for sc in scenarios]
    matrix = None
    if not args.no_matrix:
        from ..analysis.matrix import build_matrix

        matrix = build_matrix(policies=chosen).to_json()
    page = render_report(replays, matrix, policies=pol_names or (),
                         docs_base=_docs_base(args.output))
    if args.output == "-":
        sys.stdout.write(page)
        return 0
    try:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(page)
    except OSError as exc:
        raise ConfigError(f"-o {show_path(args.output)}: cannot write: {exc.strerror or exc} "
                          "(expected a writable file name)") from None
    print(f"wrote {show_path(args.output)} ({len(page.encode()):,} bytes; "
          f"{len(replays)} scenarios)")
    return 0

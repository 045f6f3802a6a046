"""``memattr demo``: the story in a screen -- a GPU's write-combined BAR before and after 6.9."""

from __future__ import annotations

import argparse
import sys

from ._common import emit_json

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add ``demo`` and its options."""
    p = subparsers.add_parser(
        "demo",
        help="the story in a screen: a vfio-pci BAR mapped ioremap_wc, under 6.8, 6.9 and 6.17",
        description=(
            "Replay the bundled demo scenario (memattr/scenarios/demo.toml): a PCIe GPU's "
            "prefetchable BAR passed through with vfio-pci and mapped by the guest with "
            "ioremap_wc and ioremap, the GICv2 virtual CPU interface, a vfio-platform device and "
            "guest RAM, under Linux 6.8, 6.9 and 6.17, with and without FWB; then say why each "
            "answer is what it is."
        ),
    )
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the differences (default auto: on a terminal, unless NO_COLOR)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def run(args: argparse.Namespace) -> int:
    """Replay demo.toml and tell its story."""
    from ..analysis.replay import replay
    from ..analysis.scenario import bundled_path, load

    rp = replay(load(bundled_path("demo")))
    if args.json:
        from ..report.demo import demo_document

        emit_json(demo_document(rp))
        return 0
    from ..report.demo import render_demo
    from .run import use_color

    sys.stdout.write(render_demo(rp, color=use_color(args.color)))
    return 0

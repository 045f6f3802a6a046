"""The ``memattr`` command line: a thin argparse client over the library.

Each command is one module of this package listed in :data:`COMMANDS`.  A command module
exposes two functions:

- ``register(subparsers)``: add its sub-parser and arguments (standard-library imports only,
  so that every command starts fast);
- ``run(args) -> int``: do the work, importing what it needs inside the function, and return
  the exit status.

To add a command (``walk``, ``run``, ``demo``, ``explain`` ...): write ``memattr/cli/<name>.py``
with those two functions and add ``"<name>"`` to :data:`COMMANDS`.  A listed module that does
not exist yet is skipped, so one missing command never breaks the others.

Errors: any :class:`memattr.errors.MemattrError` (bad number, out of range, reserved where a
value is required, conflicting flags) and every argparse error become one line on stderr,
``memattr: error: <field>=<value>: <why>``, and exit status 2.
"""

from __future__ import annotations

import gc
import sys
from types import ModuleType

from .. import __version__
from ..errors import MemattrError
from ._common import Parser, error_line

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = [
    "decode",
    "combine",
    "table",
    "explain",
    "run",
    "demo",
    "walk",
    "at",
]
"""Command modules of :mod:`memattr.cli`, in the order ``--help`` lists them."""


def _load(name: str) -> ModuleType | None:
    """Import a command module; None if it does not exist (yet)."""
    full = f"{__name__}.{name}"
    try:
        __import__(full)
    except ModuleNotFoundError as exc:
        if exc.name != full:
            raise
        return None
    return sys.modules[full]


def _wanted(argv: list[str]) -> list[str]:
    """The command modules to register: only the one named on the command line, if any.

    Registering one command keeps a single query fast; ``memattr --help``, a typo or no
    command at all registers every command so that help and errors list them.
    """
    for arg in argv:
        if not arg.startswith("-"):
            return [arg] if arg in COMMANDS else list(COMMANDS)
    return list(COMMANDS)


def build_parser(argv: list[str] | None = None) -> tuple[Parser, dict[str, ModuleType]]:
    """The top-level parser and the command modules registered in it.

    :param argv: the command line; when it names a command only that one is registered.
    """
    parser = Parser(
        prog="memattr",
        description="Arm64 memory attributes under KVM: MAIR, descriptors, S1 x S2 combining.",
        epilog="Numbers: hex 0x.., binary 0b.. or decimal.  --json: one JSON document on stdout.",
    )
    parser.add_argument("--version", action="version", version=f"memattr {__version__}")
    # An explicit prog keeps argparse from building a HelpFormatter (and importing shutil).
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, prog="memattr")
    modules: dict[str, ModuleType] = {}
    for name in COMMANDS if argv is None else _wanted(argv):
        mod = _load(name)
        if mod is not None:
            mod.register(sub)
            modules[name] = mod
    return parser, modules


def main(argv: list[str] | None = None) -> int:
    """Run one ``memattr`` command line; returns the exit status (2 on bad input)."""
    program = argv is None  # the console script: the process exits when main returns
    if argv is None:
        argv = sys.argv[1:]
    # A query allocates little that is cyclic; pausing the collector while the lazily imported
    # modules build their classes shortens start-up.  The previous state is restored.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _main(argv)
    finally:
        if gc_was_enabled:
            gc.enable()
        if program:
            # Nothing left needs collecting before exit: moving every object out of the
            # collector's reach spares the interpreter's final collection (~2 ms of a query).
            gc.freeze()


def _main(argv: list[str]) -> int:
    parser, modules = build_parser(argv)
    try:
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return exc.code if isinstance(exc.code, int) else 0
        return int(modules[args.command].run(args))
    except MemattrError as exc:
        print(error_line(exc), file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (memattr table | head): stop quietly.
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0

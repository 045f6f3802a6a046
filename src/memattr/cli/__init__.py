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
``memattr: error: <field>=<value>: <why>``, and exit status 2.  The line is escaped
(:func:`memattr.inputs.escape.escape`): no input reaches the terminal raw.  A mistyped command,
choice, option or policy name ends in "did you mean ...?".  Under ``--json`` the line on stderr
is one JSON object instead, ``{"error": "ParseError", "field": "ESR", "message": "..."}``
(standard output stays empty, so a pipe into a JSON reader never sees an error as a result).
With no command at all the usage and the command list go to standard output, the error line to
stderr (status 2).  ``--fail-on KIND`` makes a command that found what it names exit 1.

Output: a reader that goes away (``memattr table | head``) ends the command quietly with status
0; output that cannot be written (a full disk, a closed standard output) is one error line and
status 2, never a traceback.  Input files are bounded (:mod:`memattr.inputs.files`).
"""

from __future__ import annotations

import argparse
import gc
import sys
from types import ModuleType

from .. import __version__
from ..errors import MemattrError
from ._common import Parser, error_json, error_line, json_wanted

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

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
    "host",
    "diff",
    "replay",
    "report",
    "matrix",
    "completion",
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
    command at all registers every command so that help and errors list them;
    ``memattr --version`` registers none.
    """
    for arg in argv:
        if not arg.startswith("-"):
            return [arg] if arg in COMMANDS else list(COMMANDS)
    if argv == ["--version"]:
        return []  # the version only: no command is looked at
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


class _OutputError(Exception):
    """Writing to standard output failed (not a broken pipe): the disk is full, the fd closed."""


class _Stdout:
    """Standard output for one command: write errors become :class:`_OutputError`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputError(exc.strerror or str(exc)) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise _OutputError(exc.strerror or str(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _complain(line: str) -> None:
    """Print an error line on stderr if there is one to print on."""
    if sys.stderr is None:
        return
    try:
        print(line, file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush of what is left cannot fail."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ else 1)
        os.close(devnull)
    except (OSError, ValueError):
        pass


def main(argv: list[str] | None = None) -> int:
    """Run one ``memattr`` command line; returns the exit status (2 on bad input)."""
    program = argv is None  # the console script: the process exits when main returns
    if argv is None:
        argv = sys.argv[1:]
    if sys.stdout is None:  # started with standard output closed (memattr ... >&-)
        _complain("memattr: error: standard output is closed (expected somewhere to write to)")
        return 2
    for stream in (sys.stdout, sys.stderr):
        # a file name that is not UTF-8 must never make a print raise UnicodeEncodeError
        if stream is not None and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="backslashreplace")
            except (OSError, ValueError):
                pass
    # A query allocates little that is cyclic; pausing the collector while the lazily imported
    # modules build their classes shortens start-up.  The previous state is restored.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    stdout = sys.stdout
    sys.stdout = _Stdout(stdout)  # type: ignore[assignment]
    try:
        status = _main(argv)
        sys.stdout.flush()
        return status
    except BrokenPipeError:
        # The reader went away (memattr table | head): stop quietly.
        _silence_stdout()
        return 0
    except _OutputError as exc:
        _complain(f"memattr: error: cannot write the output: {exc} (expected a writable "
                  "standard output)")
        _silence_stdout()
        return 2
    finally:
        sys.stdout = stdout
        if gc_was_enabled:
            gc.enable()
        if program:
            # Nothing left needs collecting before exit: moving every object out of the
            # collector's reach spares the interpreter's final collection (~2 ms of a query).
            gc.freeze()


# Commands whose FILE argument is not read through memattr.inputs yet: the name, the bounds and
# the shape of the text are checked here first (a FIFO, /dev/zero, a 500-deep nesting or a
# 20,000-part key never reaches them).  Remove a command when it reads with memattr.inputs.toml.
_PRECHECK: dict[str, tuple[str, str, str]] = {}


def _precheck(args: argparse.Namespace) -> None:
    spec = _PRECHECK.get(args.command)
    if spec is None or getattr(args, spec[0], None) is None:
        return
    from ..inputs.files import read_text, show_path
    from ..inputs.tomlscan import scan

    path = getattr(args, spec[0])
    scan(read_text(path, what=spec[2], arg=spec[1], stdin=False), show_path(path))


def _main(argv: list[str]) -> int:
    parser, modules = build_parser(argv)
    try:
        if not any(not a.startswith("-") for a in argv) and not {"-h", "--help", "--version"} \
                & set(argv):
            sys.stdout.write(parser.format_help())  # no command: the usage and the commands
        try:
            args = parser.parse_args(argv)
        except SystemExit as exc:  # --help / --version
            return exc.code if isinstance(exc.code, int) else 0
        _precheck(args)
        return int(modules[args.command].run(args))
    except MemattrError as exc:
        _complain(error_json(exc) if json_wanted(argv) else error_line(exc))
        return 2

"""``memattr replay SCENARIO TRACE``: a trace of guest accesses through a scenario, counted per
outcome and hazard; ``--generate PATTERN`` writes a realistic trace instead."""

from __future__ import annotations

import argparse
import os
import sys

from ._common import add_fail_on, emit_json, fail_status, parse_flag_pair, parse_int

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run"]

_PATTERNS = ("ring", "memcpy_toio", "memcpy")  # analysis.tracegen.PATTERNS (a test keeps them equal)


def register(subparsers: Any) -> None:
    """Add ``replay`` and its options."""
    p = subparsers.add_parser(
        "replay",
        help="replay a trace of guest accesses (CSV or JSON lines, gzip accepted) through a "
             "scenario",
        description=(
            "Replay a trace of guest accesses through a scenario under its policies (or "
            "--policy), with and without FWB, and count the accesses per outcome (completes as "
            "Normal-NC, alignment fault at stage 2, MMIO exit ...) and per hazard; list the first "
            "offending accesses with their line numbers.  TRACE ('-' for standard input; gzip "
            "is recognised by its magic) has one access per line: CSV 'addr,size,kind[,cpu"
            "[,time]]' or a JSON object {\"addr\", \"size\", \"kind\", \"cpu\", \"time\"}.  addr "
            "is an IPA (0x.. or decimal) or GUEST_MAPPING+OFFSET; size 1, 2, 4, 8, 16, 32 or 64; "
            "kind read, write or exec, optionally with the instruction class (write:ldp, "
            "read:simd, write:exclusive, write:atomic, read:ldr-writeback).  Lines starting with "
            "'#' and a header line are skipped; a line is at most 4096 bytes.  The trace is "
            "streamed: memory does not grow with its length.  --generate PATTERN writes a trace "
            "of COUNT accesses to the scenario's mappings instead (-o FILE, '.gz' compresses): "
            "ring (descriptors by __iowrite64_copy, a writel doorbell, readl status), "
            "memcpy_toio (odd lengths: head/tail bytes and 8-byte stores, as arm64 does) or "
            "memcpy (glibc's AArch64 memcpy: overlapping, mostly unaligned stores)."),
    )
    p.add_argument("scenario", metavar="SCENARIO",
                   help="scenario file (TOML) or bundled scenario name")
    p.add_argument("trace", metavar="TRACE", nargs="?",
                   help="trace file (CSV or JSON lines, gzip accepted); '-' for standard input")
    p.add_argument("--policy", action="append", metavar="P",
                   help="policy to replay (repeatable; replaces the scenario's policies)")
    p.add_argument("--fwb", action="store_true", help="only a host with FEAT_S2FWB")
    p.add_argument("--no-fwb", action="store_true", help="only a host without FEAT_S2FWB")
    p.add_argument("--show", default="10", metavar="N",
                   help="how many offending accesses to list (default 10)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                   help="colour the headings (default auto: on a terminal, unless NO_COLOR)")
    add_fail_on(p, ("fault", "hazard"))
    g = p.add_argument_group("generating a trace")
    g.add_argument("--generate", choices=_PATTERNS, metavar="PATTERN",
                   help="write a trace of PATTERN instead of replaying one: " + ", ".join(_PATTERNS))
    g.add_argument("--count", default="10000", metavar="N",
                   help="accesses to generate (default 10000)")
    g.add_argument("-o", "--output", metavar="FILE",
                   help="where to write the trace ('-' or absent: standard output; a name ending "
                        "in .gz is compressed)")
    g.add_argument("--format", choices=("csv", "jsonl"), default="csv",
                   help="the generated trace's syntax (default csv)")
    g.add_argument("--seed", default="0", metavar="N", help="random seed (default 0)")
    g.add_argument("--mapping", metavar="NAME",
                   help="the guest mapping the ring or copies go to (default: the first "
                        "write-combining one)")
    g.add_argument("--regs", metavar="NAME",
                   help="the guest mapping of the doorbell and status registers (default: the "
                        "first Device one)")


def _progress() -> Any:
    """A rich progress bar on standard error when it is a terminal, else None."""
    if not (sys.stderr is not None and sys.stderr.isatty()) or os.environ.get("TERM") == "dumb":
        return None
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("replaying"), BarColumn(), DownloadColumn(),
                    TimeRemainingColumn(), transient=True, console=Console(stderr=True))


def _generate(args: argparse.Namespace, sc: Any) -> int:
    import gzip
    import io

    from ..analysis.tracegen import generate, write_trace
    from ..errors import ConfigError
    from ..inputs.escape import show_path

    count = parse_int(args.count, "--count", maximum=10**10)
    seed = parse_int(args.seed, "--seed", bits=64)
    accesses = generate(sc, args.generate, count, seed=seed, data=args.mapping, regs=args.regs)
    out = args.output
    if out in (None, "-"):
        if args.json:
            raise ConfigError("--json: the generated trace is what goes to standard output "
                              "(expected -o FILE with --json, or no --json; --format jsonl "
                              "writes the trace as JSON lines)")
        write_trace(accesses, sys.stdout, fmt=args.format)
        return 0
    try:
        raw = open(out, "wb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise ConfigError(f"-o {show_path(out)}: cannot write: {exc.strerror or exc} (expected "
                          "a writable file name)") from None
    try:
        stream: Any = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if out.endswith(".gz") \
            else raw
        text = io.TextIOWrapper(stream, encoding="utf-8", newline="\n")
        n = write_trace(accesses, text, fmt=args.format)
        text.flush()
        text.detach()
        if stream is not raw:
            stream.close()
        raw.close()  # flushes: a full disk shows here
    except OSError as exc:
        try:
            raw.close()
        except OSError:
            pass  # the buffer that could not be written: already reported below
        raise ConfigError(f"-o {show_path(out)}: cannot write: {exc.strerror or exc}") from None
    if args.json:
        emit_json({"wrote": n, "pattern": args.generate, "file": out, "format": args.format})
    else:
        print(f"wrote {n} accesses ({args.generate}) to {show_path(out)}")
    return 0


def run(args: argparse.Namespace) -> int:
    """Replay (or generate) a trace."""
    from ..analysis.replay import replay  # noqa: F401 - loads the Linux model in a good order
    from ..analysis.scenario import load
    from ..errors import ConfigError
    from .run import _scenario_path, use_color

    fwb = parse_flag_pair(args.fwb, args.no_fwb, "FWB", "fwb")
    sc = load(_scenario_path(args.scenario), arg="SCENARIO")
    if args.generate is not None:
        if args.trace is not None:
            raise ConfigError("TRACE=given with --generate: give one of them (--generate writes "
                              "a trace to -o FILE)")
        return _generate(args, sc)
    if args.trace is None:
        raise ConfigError("TRACE=(missing): required (a trace file, '-' for standard input, or "
                          "--generate PATTERN)")
    show = parse_int(args.show, "--show", maximum=10000)
    from ..analysis.trace import replay_trace

    bar = _progress()
    if bar is None:
        tr = replay_trace(sc, args.trace, policies=args.policy, fwb=fwb, show=show)
    else:
        with bar:
            task = bar.add_task("replay", total=None)

            def tick(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            tr = replay_trace(sc, args.trace, policies=args.policy, fwb=fwb, show=show,
                              progress=tick)
    if args.json:
        emit_json(tr.to_json())
    else:
        from ..report.trace_text import render_trace

        sys.stdout.write(render_trace(tr, color=use_color(args.color)))
    return fail_status(args, tr.found)

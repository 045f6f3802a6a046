"""``memattr explain INPUT``: every abort (or exception) report in a value, a line, a log file or
standard input, explained in its context (:mod:`memattr.interop.esr_story`).

INPUT is ``-`` (standard input), a file (dmesg, journal, serial console, QEMU's stderr, a mail
with quoted-printable text), a log line, or an ESR value in hex (``0x`` optional).  A value says
nothing of who took it: ``--el`` gives the EL that took it (the ESR_EL<n> it was read from);
``--kernel`` gives the release when the log does not.
"""

from __future__ import annotations

import argparse

from ._common import add_fail_on, emit_json, fail_status, parse_int, truncate

TYPE_CHECKING = False  # importing typing costs ~2 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run", "esr_argument"]


def register(subparsers: Any) -> None:
    """Add ``explain`` and its options."""
    p = subparsers.add_parser(
        "explain",
        help="explain an ESR value, a log line, or every abort report in a log file or '-'",
        description=(
            "Find every arm64 abort or exception report in INPUT -- the kernel's 'Unable to "
            "handle kernel ...' / 'Mem abort info' / pgd..pte chain, 'Unhandled fault', "
            "'unhandled exception' of a process, 'SError Interrupt', 'Internal error: Oops', "
            "KVM's 'Unsupported FSC ... ESR_EL2=', QEMU's 'kvm run failed' with its register "
            "dump -- and explain each in its context: who took it (the host kernel, host user "
            "space, KVM on behalf of a guest, the guest itself), the EL and stage, the syndrome "
            "(every exception class named, ISS decoded), the page-table chain decoded with the "
            "granule, VA size and MAIR of the kernel release, and what each kernel release does "
            "(the Linux model replays the access per mapping source).  INPUT: '-' for standard "
            "input, a file, a line, or an ESR value in hex.  Mail text in quoted-printable is "
            "decoded.  Files are bounded (16 MiB; MEMATTR_MAX_INPUT)."
        ),
    )
    p.add_argument("esr", metavar="INPUT",
                   help="an ESR value (hex), a log line, a log file, or '-' for standard input")
    p.add_argument("--el", choices=("1", "2"),
                   help="the Exception level that took the exception (the ESR_EL<n> a bare "
                        "value was read from); 2 for a value KVM logged")
    p.add_argument("--kernel", metavar="RELEASE",
                   help="the host kernel release (5.5 ..), when the log does not say")
    p.add_argument("--guest", action="store_true",
                   help="the log (or value) is a guest's own: its faults are the guest's")
    p.add_argument("--far", help="FAR_ELx value (the faulting address; its page offset "
                                 "completes the IPA)")
    p.add_argument("--hpfar", help="HPFAR_EL2 value (gives the faulting IPA; implies --el 2)")
    p.add_argument("--json", action="store_true",
                   help="one JSON document on stdout: {reports: [...]} with every field, "
                        "register values as integers and *_hex strings (a single report's "
                        "fields are also at the top level)")
    add_fail_on(p, ("fault",))


_VALUE_CHARS = frozenset("0123456789abcdefABCDEF_")


def _is_value(text: str) -> bool:
    """The argument is a bare hex value ('0x' optional)."""
    t = text.strip()
    t = t[2:] if t[:2] in ("0x", "0X") else t
    return bool(t) and set(t) <= _VALUE_CHARS


def esr_argument(text: str) -> str:
    """The ESR value in the ESR argument: the token after 'ESR_EL2=' (or 'ESR:') in a log line,
    with a '0X' prefix written '0x', or the argument itself; checked to be at most 64 bits.

    A log line's value must end at a word boundary, so '0X92000061' is never read as '0'.
    """
    import re

    from ..errors import EncodingError, ParseError
    from ..inputs.escape import show

    m = re.search(r"\bESR(?:_EL[123])?\s*[=:]\s*((?:0[xX])?[0-9a-fA-F_]+)\b", text)
    token = m.group(1) if m else text.strip()
    if re.fullmatch(r"(?:0[xX])?[0-9a-fA-F_]+", token) is None:
        raise ParseError(f"ESR={show(text)}: not a number and no abort report in it (expected "
                         "an ESR value in hex, a log line such as 'kvm: Unsupported FSC: ... "
                         "ESR_EL2=0x...', a log file, or '-')")
    if token[:2] == "0X":
        token = "0x" + token[2:]
    digits = (token[2:] if token[:2] == "0x" else token).replace("_", "")
    if not digits:
        raise ParseError(f"ESR={show(text)}: no digits (expected an ESR value in hex)")
    if len(digits.lstrip("0")) > 16:
        raise EncodingError(f"ESR={truncate(token)}: out of range (0x0..0xffffffffffffffff, "
                            "64 bits)")
    return token


def _read(text: str) -> tuple[str, bytes | str] | None:
    """(name, contents) when INPUT names standard input or a file, else None."""
    if _is_value(text):
        return None
    import os

    from ..inputs.files import read_bytes

    if text == "-":
        return "<stdin>", read_bytes("-", what="log", arg="INPUT")
    if "\n" not in text and len(text) < 4096:
        try:
            is_file = os.path.exists(text)  # a directory or a FIFO gets read_bytes' own error
        except (OSError, ValueError):
            is_file = False
        if is_file:
            from ..inputs.escape import show_path

            return show_path(text), read_bytes(text, what="log", arg="INPUT")
    return None


def run(args: argparse.Namespace) -> int:
    """Find the reports, explain each, print."""
    from ..interop.esr_story import explain_log, explain_value

    el = int(args.el) if args.el is not None else None
    far = parse_int(args.far, "FAR_EL2", bits=64) if args.far is not None else None
    hpfar = parse_int(args.hpfar, "HPFAR_EL2", bits=64) if args.hpfar is not None else None
    if hpfar is not None and el is None:
        el = 2
    kernel = args.kernel
    if kernel is not None:
        from ..linux.version import modelled_release

        kernel = str(modelled_release(kernel, "--kernel"))
    read = _read(args.esr)
    stories: list[Any] = []
    if read is None and _is_value(args.esr):
        value = int(esr_argument(args.esr).replace("_", ""), 16)
        stories = [explain_value(value, el=el, far=far, hpfar=hpfar, kernel=kernel,
                                 guest=args.guest)]
        source = "<value>"
    else:
        source, data = read if read is not None else ("<argument>", args.esr)
        stories = explain_log(data, source, kernel=kernel, el=el,
                              guest=True if args.guest else None)
        if not stories and read is None and "ESR" in args.esr.upper():
            # a line with an 'ESR_EL2=' / 'ESR:' value but no report around it
            value = int(esr_argument(args.esr).replace("_", "").removeprefix("0x"), 16)
            stories = [explain_value(value, el=el, far=far, hpfar=hpfar, kernel=kernel,
                                     guest=args.guest)]
        if not stories:
            from ..errors import ParseError
            from ..inputs.escape import show

            if read is None:
                what = "no such file, and " if " " not in args.esr.strip() else ""
                raise ParseError(f"ESR={show(args.esr)}: {what}not an ESR value or a line with "
                                 "an abort report (expected an ESR value in hex, a log line such "
                                 "as 'kvm: Unsupported FSC: ... ESR_EL2=0x...', a log file, or "
                                 "'-')")
            raise ParseError(f"{source}: no arm64 abort or exception report found (expected "
                             "'Unable to handle kernel ...', 'Unhandled fault', 'unhandled "
                             "exception', 'SError Interrupt', 'Internal error:', KVM's "
                             "'Unsupported FSC' or QEMU's 'kvm run failed')")
        if far is not None or hpfar is not None:
            from ..interop.esr_story import explain_report

            stories = [explain_report(st.report, index=st.index, kernel=kernel, el=el,
                                      guest=st.attribution.who.name == "GUEST", far=far,
                                      hpfar=hpfar, links=st.links)
                       if st.report is not None else st for st in stories]
    status = fail_status(args, {"fault"} if stories else set())
    if args.json:
        from ..interop.esr_story import story_json

        reports = [story_json(s) for s in stories]
        doc: dict[str, Any] = {"command": "explain", "input": source, "reports": reports}
        if len(reports) == 1:  # one report (a value, a line): its fields also at the top
            doc.update({k: v for k, v in reports[0].items() if k not in doc})
        emit_json(doc)
        return status
    for n, story in enumerate(stories):
        if n:
            print()
        for line in story.lines:
            print(_wrap(line))
    return status


def _wrap(line: str, width: int = 100) -> str:
    """``line`` folded at spaces to ``width`` columns, continuation lines indented 4 more than
    the first (a word longer than the width stays whole)."""
    if len(line) <= width:
        return line
    indent = " " * (len(line) - len(line.lstrip(" ")) + 4)
    out: list[str] = []
    current = line[:len(line) - len(line.lstrip(" "))]
    for word in line.split():
        gap = "" if current.strip() == "" else " "
        if current.strip() and len(current) + len(gap) + len(word) > width:
            out.append(current)
            current, gap = indent, ""
        current += gap + word
    out.append(current)
    return "\n".join(out)

"""``memattr explain``: the story behind an abort syndrome a KVM host logged.

Every exception class is named and its ISS decoded (:func:`memattr.arch.esr.decode_esr`); the
memory-type story is told for Data and Instruction Aborts.
"""

from __future__ import annotations

import argparse

from ._common import emit_json, parse_int, truncate

TYPE_CHECKING = False  # importing typing costs ~2 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["register", "run", "esr_argument"]


def register(subparsers: Any) -> None:
    """Add ``explain`` and its options."""
    p = subparsers.add_parser(
        "explain",
        help="explain an ESR_EL2 value or a 'kvm: Unsupported FSC ... ESR_EL2=0x...' line",
        description="Decode an abort syndrome and say which stage faulted, what KVM does with "
        "it and which kernel versions differ.",
    )
    p.add_argument("esr", metavar="ESR", help="ESR_EL2 value, or a dmesg line containing ESR_EL2=0x...")
    p.add_argument("--far", help="FAR_EL2 value (for the page offset of the IPA)")
    p.add_argument("--hpfar", help="HPFAR_EL2 value (gives the faulting IPA)")
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")


def esr_argument(text: str) -> str:
    """The ESR value in the ESR argument: the token after 'ESR_EL2=' (or 'ESR:') in a log line,
    with a '0X' prefix written '0x', or the argument itself; checked to be at most 64 bits.

    A log line's value must end at a word boundary, so '0X92000061' is never read as '0'.
    """
    import re

    from ..errors import EncodingError, ParseError
    from ..inputs.escape import show

    m = re.search(r"\bESR(?:_EL2)?\s*[=:]\s*((?:0[xX])?[0-9a-fA-F]+)\b", text)
    token = m.group(1) if m else text.strip()
    if re.fullmatch(r"(?:0[xX])?[0-9a-fA-F]+", token) is None:
        raise ParseError(f"ESR={show(text)}: not a number and no ESR_EL2=<hex> in it (expected "
                         "an ESR_EL2 value in hex, or a log line containing ESR_EL2=0x...)")
    if token[:2] == "0X":
        token = "0x" + token[2:]
    digits = token[2:] if token[:2] == "0x" else token
    if len(digits.lstrip("0")) > 16 and all(c in "0123456789abcdefABCDEF" for c in digits):
        raise EncodingError(f"ESR={truncate(token)}: out of range (0x0..0xffffffffffffffff, "
                            "64 bits)")
    return token


def run(args: argparse.Namespace) -> int:
    """Print the explanation."""
    from ..interop.esr_story import explain, parse_report

    esr = parse_report(esr_argument(args.esr))
    far = parse_int(args.far, "FAR_EL2", bits=64) if args.far is not None else None
    hpfar = parse_int(args.hpfar, "HPFAR_EL2", bits=64) if args.hpfar is not None else None
    story = explain(esr, far=far, hpfar=hpfar)
    if args.json:
        s = story.syndrome
        emit_json({
            "esr": esr, "esr_hex": f"0x{esr:x}", "ec": s.ec, "ec_name": s.ec_name,
            "ec_meaning": s.ec_meaning, "il": s.il,
            "fsc": None if s.fsc is None else {"code": s.fsc.code, "kind": s.fsc.kind.value,
                                               "level": s.fsc.level},
            "isv": s.isv, "wnr": s.wnr, "s1ptw": s.s1ptw,
            "iss": {"layout": s.iss_layout,
                    "fields": [{"name": n, "raw": f"0x{x:x}"} for n, x in s.iss_fields]},
            "iss2": {"layout": s.iss2_layout,
                     "fields": [{"name": n, "raw": f"0x{x:x}"} for n, x in s.iss2_fields]},
            "ipa": story.ipa,
            "explanation": list(story.lines),
        })
        return 0
    import textwrap

    for line in story.lines:
        print(textwrap.fill(line, width=100, subsequent_indent="    "))
    return 0

"""What every command shares: number parsing, the one-line error, JSON output, short renderings.

Imports here must stay cheap (standard library only, nothing heavy): every command loads this
module to define its arguments.
"""

from __future__ import annotations

import argparse
import os
import sys

from ..errors import ConfigError, EncodingError, MemattrError, ParseError
from ..inputs.escape import escape, show_int, truncate

TYPE_CHECKING = False  # importing typing costs ~2 ms of start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any, NoReturn

    from ..arch.memtype import MemoryAttributes

__all__ = [
    "ArgumentError",
    "Parser",
    "parse_int",
    "parse_flag_pair",
    "parse_sh",
    "error_line",
    "emit_json",
    "attrs_text",
    "SH_NAMES",
    "FAIL_ON",
    "FAIL_STATUS",
    "add_fail_on",
    "fail_status",
    "HEX_KEYS",
    "with_hex",
    "json_wanted",
    "error_json",
    "suggest",
]

SH_NAMES = {"NSH": 0b00, "OSH": 0b10, "ISH": 0b11}
"""SH[1:0] encodings by name (0b01 is reserved and accepted as a number only)."""

_SH_LONG = {"NSH": "Non-shareable", "ISH": "Inner Shareable", "OSH": "Outer Shareable"}


class ArgumentError(MemattrError, ValueError):
    """A command line argparse rejected (unknown option, missing or malformed argument)."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors raise :class:`ArgumentError` instead of printing usage.

    A mistyped command, sub-command, choice or option gets a "did you mean" (difflib) for the
    nearest name the parser knows.
    """

    _argv: list[str] | None = None  # the command line being parsed (sub-parsers share it)

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        Parser._argv = list(args) if args is not None else sys.argv[1:]
        return super().parse_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        hint = ""
        argv = Parser._argv
        unknown = "unrecognized arguments: "
        if message.startswith(unknown) and argv is not None:
            words = message[len(unknown):].split()
            bad = next((w for w in words if w.startswith("-")), None)
            if bad is not None:
                hint = suggest(bad.partition("=")[0], _option_strings(self, argv), "")
        elif message.startswith("the following arguments are required") and argv:
            known = _option_strings(self, argv)  # 'memattr --verson': a typo, not a gap
            bad = next((a for a in argv if a.startswith("-") and a != "-"
                        and a.partition("=")[0] not in known), None)
            if bad is not None:
                hint = f"; {truncate(bad)} is not an option" + suggest(bad.partition("=")[0],
                                                                        known, "")
        raise ArgumentError(_one_line(message) + hint)

    def _get_formatter(self) -> argparse.HelpFormatter:
        # argparse builds a formatter for every add_argument; giving the width here spares
        # HelpFormatter its shutil import (bz2, lzma...) on every start-up.
        factory: Any = self.formatter_class  # typeshed's protocol omits the width parameter
        formatter: argparse.HelpFormatter = factory(prog=self.prog, width=_terminal_width())
        return formatter


_WIDTH: list[int] = []  # the terminal width, once looked up


def _terminal_width() -> int:
    """What shutil.get_terminal_size() would say, less two columns (as argparse does).

    Looked up once: argparse asks for a formatter on every add_argument.
    """
    if _WIDTH:
        return _WIDTH[0]
    _WIDTH.append(_query_width())
    return _WIDTH[0]


def _query_width() -> int:
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns if sys.__stdout__ else 80
        except (AttributeError, ValueError, OSError):
            columns = 80
    return max(columns, 11) - 2


def _memoise_argparse_gettext() -> None:
    """Make argparse translate each of its messages once per process.

    argparse passes its fixed texts ('show this help message and exit', 'usage: ' ...) through
    gettext for every argument it adds, and gettext searches the locale directories afresh on
    each call (some 60 look-ups of a few stat() calls each for one ``decode``: ~1.5 ms of a
    query).  A translation cannot change while the process runs, so the memo returns what
    gettext returned; where the catalogue directory does not exist gettext would return every
    message unchanged, and so does the memo.
    """
    translate = getattr(argparse, "_", None)
    if translate is None or getattr(translate, "__memattr_memo__", False):
        return
    import gettext  # argparse has imported it

    seen: dict[str, str] = {}
    if not os.path.isdir(gettext.bindtextdomain(gettext.textdomain())):
        # No message catalogue directory at all (most Python builds): every translation is the
        # message itself, found without importing locale or searching.
        def memo(message: str) -> str:
            return message
    else:
        def memo(message: str) -> str:
            text = seen.get(message)
            if text is None:
                text = seen[message] = translate(message)
            return text

    memo.__memattr_memo__ = True  # type: ignore[attr-defined]
    argparse._ = memo  # type: ignore[attr-defined]


_memoise_argparse_gettext()


def _one_line(message: str) -> str:
    """Reshape argparse's messages to 'field=value: why' where argparse names both (values cut
    short: an argument may be arbitrarily long)."""
    return truncate(_reshape(message), 600)


def _reshape(message: str) -> str:
    required = "the following arguments are required: "
    if message.startswith(required):
        names = message[len(required):].split(", ")
        return f"{names[0]}=(missing): required" + (
            f" (also missing: {', '.join(names[1:])})" if len(names) > 1 else "")
    unknown = "unrecognized arguments: "
    if message.startswith(unknown):
        return f"argument={truncate(message[len(unknown):])}: unrecognized"
    head, sep, why = message.partition(": ")
    if head.startswith("argument ") and sep:
        field = head[len("argument "):].split("/")[0]
        for marker in ("invalid choice: ", "invalid "):
            if why.startswith(marker):
                rest = why[len(marker):]
                if marker == "invalid choice: ":
                    value, _, choices = rest.partition(" (")
                    allowed = choices.rstrip(")").replace("'", "")
                    names = allowed.removeprefix("choose from ").split(", ")
                    typed = value.strip(chr(39))
                    return (f"{field}={truncate(typed)}: invalid choice ({allowed})"
                            + suggest(typed, names))
                kind, _, value = rest.partition(" value: ")
                return f"{field}={truncate(value.strip(chr(39)))}: invalid {kind} value"
        return f"{field}=(none): {why}"
    return " ".join(message.split())


def _option_strings(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """Every option string of ``parser`` and of the sub-commands ``argv`` names, in order."""
    found: list[str] = []
    current: argparse.ArgumentParser | None = parser
    words = iter(argv)
    while current is not None:
        subs = None
        for action in current._actions:
            found.extend(action.option_strings)
            if isinstance(action, argparse._SubParsersAction):
                subs = action.choices
        current = None
        if subs:
            for w in words:
                if w in subs:
                    current = subs[w]
                    break
    return found


def suggest(word: str, names: list[str] | tuple[str, ...], quote: str = "'") -> str:
    """``"; did you mean 'NAME'?"`` for the name nearest ``word`` (difflib), or ``""``.

    :param names: the names that would have been accepted.
    :param quote: how to quote the suggestion.
    """
    import difflib  # only on the error path

    close = difflib.get_close_matches(word, [n for n in names if n], n=1, cutoff=0.6)
    return f"; did you mean {quote}{close[0]}{quote}?" if close else ""


def parse_int(
    text: str | int,
    field: str,
    *,
    bits: int | None = None,
    minimum: int = 0,
    maximum: int | None = None,
) -> int:
    """Parse hex (0x..), binary (0b..), octal (0o..) or decimal; check it fits ``bits`` bits.

    :param text: the argument as typed (an int passes through the range check).
    :param field: the name used in the error, e.g. ``S1 attribute`` or ``HCR_EL2``.
    :param bits: the width the value must fit in.
    :param minimum: the inclusive lower bound (0 unless negative values make sense).
    :param maximum: an inclusive upper bound, when not a power of two.
    """
    if isinstance(text, int):
        value = text
        shown = show_int(text)
    else:
        shown = truncate(text.strip())
        s = text.strip().lower().replace("_", "")
        neg = s.startswith("-")
        body = s[1:] if neg else s
        base = {"0x": 16, "0b": 2, "0o": 8}.get(body[:2], 10)
        digits = body[2:] if base != 10 else body
        try:
            if not digits or not digits.isascii() or not digits.isalnum():
                raise ValueError(digits)
            value = int(digits, base)
        except ValueError:
            raise ParseError(
                f"{field}={shown}: not a number (hex 0x.., binary 0b.. or decimal)"
            ) from None
        value = -value if neg else value
    limit = (1 << bits) - 1 if bits is not None else maximum
    if maximum is not None and limit is not None:
        limit = min(limit, maximum)
    if value < minimum or (limit is not None and value > limit):
        if minimum < 0:
            allowed = f"{minimum}..{limit}"
        elif limit is not None:
            allowed = f"0x0..0x{limit:x}"
        else:
            allowed = "not negative"
        if bits is not None and limit == (1 << bits) - 1:
            allowed += f", {bits} bits"
        raise EncodingError(f"{field}={shown}: out of range ({allowed})")
    return value


def parse_flag_pair(on: bool, off: bool, field: str, flag: str) -> bool | None:
    """Merge ``--X`` / ``--no-X`` into True, False or None (neither); both is an error."""
    if on and off:
        raise ConfigError(f"{field}=--{flag} --no-{flag}: conflicting flags (give one of them)")
    return True if on else False if off else None


def parse_sh(text: str, field: str) -> int:
    """An SH[1:0] value: NSH, ISH, OSH, or a number 0..3 (0b01 is reserved, kept as is)."""
    name = text.strip().upper()
    if name in SH_NAMES:
        return SH_NAMES[name]
    try:
        return parse_int(text, field, bits=2)
    except ParseError:
        raise ParseError(f"{field}={text}: not NSH, ISH, OSH or a number 0..3") from None


_ERROR_LIMIT = 2000  # characters of one error line; values in it are cut far shorter


def error_line(exc: BaseException) -> str:
    """The one line the CLI prints for a rejected input: whitespace folded, control characters
    escaped (:func:`memattr.inputs.escape.escape`), at most a couple of thousand characters."""
    text = escape(" ".join(str(exc).split()))
    if len(text) > _ERROR_LIMIT:
        half = _ERROR_LIMIT // 2
        text = f"{text[:half]} ... {text[-half:]}"
    return f"memattr: error: {text}"


HEX_KEYS = frozenset({
    # registers
    "esr", "far", "hpfar", "par", "pars", "tcr", "ttbr0", "ttbr1", "mair", "sctlr", "hcr",
    "vtcr", "vttbr", "esr_el1", "esr_el2", "far_el1", "far_el2", "hpfar_el2", "pstate",
    "vm_flags",
    # descriptors and attribute encodings
    "desc", "s1_desc", "s2_desc", "s2_descriptor", "old", "new", "attr", "s1_attr", "mair_attr",
    "guest_attr", "s2_memattr", "memattr",
    # addresses
    "va", "ipa", "pa", "address", "desc_pa", "table", "input", "chain_va",
    # a register or descriptor as decoded ("decode mair", "decode s1", "decode par")
    "value", "raw",
})
"""Integer JSON fields that hold a register, descriptor, attribute encoding or address: the JSON
writer puts a ``<key>_hex`` string ("0x92000061") next to each (lists: a list of strings)."""


def _hex_of(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return f"0x{value:x}"
    if isinstance(value, list) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return [f"0x{v:x}" for v in value]
    return None


_ATTRS_KEYS = frozenset({"type", "shareability", "tagged"})  # MemoryAttributes.to_json()


def with_hex(obj: Any) -> Any:
    """``obj`` with a ``<key>_hex`` string beside every :data:`HEX_KEYS` integer (recursively;
    a key that already has its ``_hex`` sibling is left alone, and a memory-attributes object,
    ``MemoryAttributes.to_json()``, is a value kept as it is)."""
    if isinstance(obj, dict):
        if _ATTRS_KEYS <= obj.keys():
            return obj
        out: dict[str, Any] = {}
        for key, value in obj.items():
            out[key] = with_hex(value)
            if key in HEX_KEYS and f"{key}_hex" not in obj:
                shown = _hex_of(value)
                if shown is not None:
                    out[f"{key}_hex"] = shown
        return out
    if isinstance(obj, list | tuple):
        return [with_hex(v) for v in obj]
    return obj


def emit_json(obj: Any, *, compact: bool = False) -> None:
    """Write one JSON document to stdout (register values get hex strings, :func:`with_hex`)."""
    import json

    obj = with_hex(obj)
    if compact:
        json.dump(obj, sys.stdout, separators=(",", ":"))
    else:
        json.dump(obj, sys.stdout, indent=2)
    sys.stdout.write("\n")


def json_wanted(argv: list[str]) -> bool:
    """``--json`` or ``--format json`` is on the command line (before any ``--``)."""
    for k, arg in enumerate(argv):
        if arg == "--":
            return False
        if arg in ("--json", "--format=json") or \
                (arg == "--format" and k + 1 < len(argv) and argv[k + 1] == "json"):
            return True
    return False


def error_json(exc: BaseException) -> str:
    """The one-line JSON object the CLI writes on stderr for a rejected input under ``--json``:
    ``{"error": kind, "field": name or null, "message": text}`` (the text escaped as in
    :func:`error_line`)."""
    import json

    message = error_line(exc).removeprefix("memattr: error: ")
    return json.dumps({"error": type(exc).__name__, "field": _field_of(message),
                       "message": message})


def _field_of(message: str) -> str | None:
    """The field a message names: ``NAME=value: why`` or ``file:line: key: what``."""
    head, sep, _ = message.partition(": ")
    if not sep:
        return None
    name, eq, _ = head.partition("=")
    if eq and name:
        return name
    parts = message.split(": ")
    if len(parts) >= 3 and parts[0].rpartition(":")[2].isdigit() and " " not in parts[1]:
        return parts[1]  # file:line: key: what
    return None


def sh_long(name: str) -> str:
    """'Outer Shareable' for 'OSH', and so on."""
    return _SH_LONG[name]


def attrs_text(a: MemoryAttributes, *, shareability: bool = True) -> str:
    """One readable line: 'Device-nGnRE, Outer Shareable (XS=1)', Normal with both levels."""
    parts = [a.short]
    if shareability:
        parts.append(sh_long(a.shareability.value))
    xs = "" if a.xs is None else f"XS={int(a.xs)}"  # no XS attribute without FEAT_XS
    if a.inner is not None and a.outer is not None:
        detail = f"inner {a.inner}, outer {a.outer}" + (f", {xs}" if xs else "")
    else:
        detail = xs or "no XS attribute: no FEAT_XS"
    if a.notagaccess:
        detail += ", NoTagAccess"
    return ", ".join(parts) + f" ({detail})"


# --- gating CI: --fail-on -------------------------------------------------------------------

FAIL_ON = ("fault", "hazard", "diff")
"""What ``--fail-on`` can name: a fault or abort in the answer, a hazard found, a difference."""

FAIL_STATUS = 1
"""The exit status when something ``--fail-on`` names was found (2 stays bad input)."""


def add_fail_on(parser: argparse.ArgumentParser, choices: tuple[str, ...] = FAIL_ON) -> None:
    """Add ``--fail-on KIND`` (repeatable) to a command that can find ``choices``."""
    parser.add_argument(
        "--fail-on", action="append", choices=choices, default=[], metavar="KIND",
        help=f"exit with status {FAIL_STATUS} when the answer has a {' / '.join(choices)} "
             "(repeatable; for CI gates)")


def fail_status(args: argparse.Namespace, found: set[str] | frozenset[str]) -> int:
    """The exit status of a command that found ``found`` (kinds from :data:`FAIL_ON`)."""
    wanted = set(getattr(args, "fail_on", None) or ())
    return FAIL_STATUS if wanted & set(found) else 0

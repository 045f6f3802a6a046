"""The one sanitiser for text that reaches a terminal, and how echoed input values are shown.

Every string that came from input (a TOML key or value, a scenario or device name, a file name, a
command-line argument) goes through :func:`escape` before it is printed: control characters
(C0, DEL, C1 -- ESC, CSI ``\\x9b``, OSC), format characters (bidirectional overrides, zero-width
characters), line and paragraph separators and unassigned code points are written as Python
writes them in ``repr`` (``\\x1b``, ``\\u202e``), so no input can move the cursor, clear the
screen, set the window title or reorder what is shown.  A file name that is not valid UTF-8 comes
from the operating system with its bytes as lone surrogates (PEP 383); they are shown as the
bytes they stand for (``\\xff``), so printing them never raises ``UnicodeEncodeError``.
JSON output is not escaped here: ``json`` writes control characters as ``\\u001b`` itself and the
document keeps the exact value.

:func:`show` renders a value echoed in an error: strings quoted, escaped and truncated (80
characters by default), integers in decimal or hex with the sign in front (``-0x1``, never
``0x-1``), booleans as TOML writes them.
"""

from __future__ import annotations

__all__ = ["escape", "truncate", "show", "show_int", "show_path", "ECHO_LIMIT", "PATH_LIMIT"]

ECHO_LIMIT = 80
"""Characters of an input value echoed in a message before it is cut."""

PATH_LIMIT = 160
"""Characters of a file name shown in a message before its middle is cut."""

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch in _NAMED:
        return _NAMED[ch]
    if 0xDC80 <= code <= 0xDCFF:  # a byte of an undecodable file name (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str, *, newlines: bool = False) -> str:
    """``text`` with every character that is not printable written as an escape.

    :param text: a string that came from input.
    :param newlines: keep ``\\n`` as a line break (for multi-line text rendered as such).
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        if ch.isprintable() or (newlines and ch == "\n"):
            out.append(ch)
        else:
            out.append(_escape_char(ch))
    return "".join(out)


def truncate(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters with ``...`` and the full length when longer."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


def show_int(value: int, *, hex_: bool = True, limit: int = ECHO_LIMIT) -> str:
    """An integer for a message: ``0x1f000`` (or decimal), the sign first (``-0xf000``).

    :param value: the integer.
    :param hex_: hex (the default, for addresses and sizes); decimal for counts and indexes.
    :param limit: digits shown before the number is cut (a 2**100000 from a file stays short).
    """
    sign = "-" if value < 0 else ""
    mag = -value if value < 0 else value
    if hex_ and mag >= 10:
        digits = f"{mag:x}"
        if len(digits) > limit:
            return f"{sign}0x{digits[:limit]}... ({len(digits)} hex digits)"
        return f"{sign}0x{digits}"
    if mag.bit_length() > 4 * limit:  # str() of a huge int is slow and hits the digit limit
        return f"{sign}{mag >> (mag.bit_length() - 64):d}... (a {mag.bit_length()}-bit number)"
    digits = str(mag)
    if len(digits) > limit:
        return f"{sign}{digits[:limit]}... ({len(digits)} digits)"
    return f"{sign}{digits}"


def show(value: object, *, hex_: bool = False, limit: int = ECHO_LIMIT) -> str:
    """A value from input as an error message echoes it: short, escaped, unambiguous.

    :param value: a parsed TOML value or a command-line string.
    :param hex_: show integers in hex.
    :param limit: characters of a string shown before it is cut.
    """
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return show_int(value, hex_=hex_, limit=limit)
    if isinstance(value, str):
        return "'" + escape(truncate(value, limit)) + "'"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, float):
        return repr(value)
    return escape(truncate(str(value), limit))  # TOML dates and times


def show_path(path: object, *, limit: int = PATH_LIMIT) -> str:
    """A file name for a message: escaped, its middle cut when longer than ``limit``.

    :param path: a ``str``, ``bytes`` or ``os.PathLike`` file name.
    """
    import os

    try:
        text = os.fsdecode(path)  # type: ignore[arg-type]
    except TypeError:
        text = str(path)
    if text == "":
        return "''"
    if len(text) > limit:
        half = (limit - 3) // 2
        text = f"{text[:half]}...{text[-half:]}"
    return escape(text)

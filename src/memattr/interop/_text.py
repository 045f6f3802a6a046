"""Text input for the artefact parsers: bounded reading, line splitting, one-line errors, escaping.

Every parser in :mod:`memattr.interop` takes ``str`` or ``bytes`` plus a ``source`` name and goes
through :func:`split_lines`, so the bounds below hold for all of them:

- at most ``Limits.max_bytes`` (16 MiB) of input,
- at most ``Limits.max_lines`` (1,000,000) lines, each at most ``Limits.max_line`` (16,384)
  characters,
- no NUL byte (binary data); bytes must be UTF-8 except where a parser says it is lenient
  (logs: invalid sequences become U+FFFD, since serial consoles emit line noise),
- each parser bounds its own records (``Limits.max_records``, 100,000).

Errors are :class:`memattr.errors.ParseError` with one line ``source:line: what is wrong``; text
echoed from the input is escaped and cut to ``_ECHO`` characters.  Strings taken from the input
are stored raw in the records; :func:`escape` renders them for a terminal.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from ..errors import ParseError

__all__ = ["Limits", "DEFAULT_LIMITS", "escape", "echo", "fail", "split_lines", "read_input"]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on one input: bytes, lines, characters per line, records produced."""

    max_bytes: int = 16 << 20
    max_lines: int = 1_000_000
    max_line: int = 16_384
    max_records: int = 100_000


DEFAULT_LIMITS = Limits()

_ECHO = 60  # characters of input quoted in an error message


def _escape_char(ch: str) -> str:
    o = ord(ch)
    if ch == "\\":
        return "\\\\"
    if o < 0x20 or o == 0x7F or 0x80 <= o <= 0x9F:
        return {"\t": "\\t", "\n": "\\n", "\r": "\\r"}.get(ch, f"\\x{o:02x}")
    # Bidirectional overrides/isolates and line/paragraph separators reorder or break a terminal line.
    if 0x202A <= o <= 0x202E or 0x2066 <= o <= 0x2069 or o in (0x2028, 0x2029, 0x200E, 0x200F):
        return f"\\u{o:04x}"
    return ch


def escape(text: str) -> str:
    """``text`` with control characters (C0, DEL, C1), bidi controls and backslashes escaped.

    :param text: a string that came from input.
    """
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape_char(c) for c in text)


def echo(text: str, limit: int = _ECHO) -> str:
    """``text`` escaped and cut to ``limit`` characters, for quoting input in a message.

    :param text: a string that came from input.
    :param limit: characters kept before ``...``.
    """
    cut = text if len(text) <= limit else text[:limit]
    return repr(escape(cut)) + ("..." if len(text) > limit else "")


def fail(source: str, line: int | None, what: str) -> ParseError:
    """The one-line ParseError ``source:line: what`` (``source: what`` without a line).

    :param source: file name or ``<input>``.
    :param line: 1-based line number, or None.
    :param what: what is wrong (already escaped where it quotes input).
    """
    where = escape(source) + (f":{line}" if line is not None else "")
    return ParseError(f"{where}: {what}")


def split_lines(data: str | bytes, source: str, limits: Limits = DEFAULT_LIMITS, *,
                lenient: bool = False) -> list[str]:
    """The lines of ``data`` (without line ends), after checking the bounds of :class:`Limits`.

    :param data: the whole input.
    :param source: its name for messages.
    :param limits: bounds to enforce.
    :param lenient: replace invalid UTF-8 with U+FFFD instead of failing.
    """
    if isinstance(data, bytes):
        if len(data) > limits.max_bytes:
            raise fail(source, None, f"input is {len(data)} bytes (at most {limits.max_bytes})")
        nul = data.find(b"\0")
        if nul >= 0:
            raise fail(source, data.count(b"\n", 0, nul) + 1, "binary data (NUL byte): not a text file")
        try:
            text = data.decode("utf-8", errors="replace" if lenient else "strict")
        except UnicodeDecodeError as e:
            where = data.count(b"\n", 0, e.start) + 1
            raise fail(source, where, f"not UTF-8 text (byte 0x{data[e.start]:02x})") from None
    else:
        text = data
        if len(text) > limits.max_bytes:
            raise fail(source, None, f"input is {len(text)} characters (at most {limits.max_bytes})")
        nul = text.find("\0")
        if nul >= 0:
            raise fail(source, text.count("\n", 0, nul) + 1, "binary data (NUL byte): not a text file")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > limits.max_lines:
        raise fail(source, limits.max_lines + 1, f"more than {limits.max_lines} lines")
    for i, one in enumerate(lines):
        if one.endswith("\r"):
            one = lines[i] = one[:-1]
        if len(one) > limits.max_line:
            raise fail(source, i + 1, f"line is {len(one)} characters long (at most {limits.max_line})")
    return lines


def read_input(path: str, limits: Limits = DEFAULT_LIMITS) -> bytes:
    """The bytes of the regular file ``path``, refusing FIFOs, devices and files over the bound.

    :param path: a file name.
    :param limits: ``max_bytes`` is enforced before and while reading.
    """
    try:
        st = os.stat(path)
    except OSError as e:
        raise fail(path, None, f"cannot read: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        raise fail(path, None, "not a regular file")
    if st.st_size > limits.max_bytes:
        raise fail(path, None, f"file is {st.st_size} bytes (at most {limits.max_bytes})")
    try:
        with open(path, "rb") as f:
            data = f.read(limits.max_bytes + 1)
    except OSError as e:
        raise fail(path, None, f"cannot read: {e.strerror or e}") from None
    if len(data) > limits.max_bytes:
        raise fail(path, None, f"file is more than {limits.max_bytes} bytes")
    return data

"""The number and size grammar of input files: ``0x1000``, ``0b101``, ``4096``, ``"64K"``,
``"2 MiB"``, ``"1_024"``.

A unit is a binary multiple, as page and BAR sizes are: K, KB, KiB = 2**10; M, MB, MiB = 2**20;
G = 2**30; T = 2**40; P = 2**50; E = 2**60 (case-insensitive); ``B`` alone is bytes.
"""

from __future__ import annotations

import re

__all__ = ["UNITS", "parse_number", "parse_size", "format_size"]

UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50, "e": 1 << 60}
"""Unit letters (lower case) and their multipliers."""

_NUMBER = re.compile(r"(?:0x[0-9a-f](?:_?[0-9a-f])*|0b[01](?:_?[01])*|0o[0-7](?:_?[0-7])*"
                     r"|[0-9](?:_?[0-9])*)", re.IGNORECASE)
_SIZE = re.compile(r"\s*(" + _NUMBER.pattern + r")\s*(?:([kmgtpe])(i?b)?|(b))?\s*", re.IGNORECASE)
_MAX_DECIMAL = 40  # digits; more than any 128-bit value needs, far below int()'s own limit


def parse_number(text: str) -> int:
    """A non-negative integer written 0x.., 0b.., 0o.. or in decimal, with optional underscores.

    :raises ValueError: the text is not such a number.
    """
    if _NUMBER.fullmatch(text) is None:
        raise ValueError("not a number")
    digits = text.replace("_", "")
    base = {"0x": 16, "0b": 2, "0o": 8}.get(digits[:2].lower(), 10)
    if base == 10 and len(digits) > _MAX_DECIMAL:
        raise ValueError(f"a number of {len(digits)} digits")
    return int(digits[2:] if base != 10 else digits, base)


def parse_size(value: object) -> int:
    """A size or address: an integer, or a string such as '16M', '4KiB', '2 MiB', '0x1000'.

    :raises ValueError: not an integer and not such a string (booleans are not numbers).
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        m = _SIZE.fullmatch(value)
        if m is not None:
            unit = (m.group(2) or "").lower()
            return parse_number(m.group(1)) * UNITS[unit]
    raise ValueError("not a number or a size such as '16M'")


def format_size(n: int) -> str:
    """'4K', '2M', '1G' when ``n`` is an exact multiple of a unit, else hex."""
    for letter in "EPTGMK":
        mult = UNITS[letter.lower()]
        if n >= mult and n % mult == 0:
            return f"{n // mult}{letter}"
    return f"0x{n:x}" if n >= 10 else str(n)

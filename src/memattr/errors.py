"""The one error tree of memattr: misuse and bad input raise these; walks return faults as values."""

from __future__ import annotations

__all__ = [
    "MemattrError",
    "EncodingError",
    "ReservedError",
    "ParseError",
    "ConfigError",
]


class MemattrError(Exception):
    """Root of every error memattr raises on purpose; the CLI prints it as one line and exits 2."""


class EncodingError(MemattrError, ValueError):
    """A value does not fit the field or register it is meant for (width, alignment, range)."""


class ReservedError(MemattrError, ValueError):
    """A reserved encoding was given where a defined value is required."""


class ParseError(MemattrError, ValueError):
    """Text input (a number, a dump file, a scenario) could not be parsed; names file:line when known."""


class ConfigError(MemattrError, ValueError):
    """An impossible or inconsistent configuration (conflicting flags, overlapping maps, bad policy)."""

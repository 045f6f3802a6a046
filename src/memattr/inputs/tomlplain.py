"""Plain TOML without ``tomllib``: the common subset of input files, parsed in one pass.

Importing :mod:`tomllib` costs a single query ~5 ms of start-up (it imports :mod:`typing`,
:mod:`datetime` and :mod:`string` and compiles its patterns), about a third of the 2.5x
``python -c pass`` budget of ``memattr walk --example``.  :func:`loads` reads the subset most
memattr files are written in and hands every other text to ``tomllib.loads``, so the result --
or the error -- is always tomllib's:

- lines of ``key = value``, ``[table]`` and ``[[array-of-tables]]`` headers, blank lines and
  ``#`` comments (line endings ``\\n`` or ``\\r\\n``);
- keys and header names: one bare key (``A-Za-z0-9_-``), no dots, no quotes;
- values: ``true``, ``false``, integers (decimal with an optional sign, ``0x``, ``0o``, ``0b``,
  with ``_`` between digits; TOML 1.0 section "Integer"), basic strings without escapes.

Anything else -- floats, dates, arrays, inline tables, escapes, literal or multi-line strings,
dotted or quoted keys, a key or table given twice, a header naming something already defined
otherwise -- or any line the subset does not describe exactly, makes :func:`loads` return
``tomllib.loads(text)`` instead.  ``tests/inputs/test_tomlplain.py`` checks the two agree.

:func:`parse_plain` can also note the line of every key path, as
:func:`memattr.inputs.tomlscan.scan` records them (so a plain file needs no pre-scan; the same
test checks the two agree).
"""

from __future__ import annotations

import re

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["loads", "parse_plain"]

_KEY = r"[A-Za-z0-9_-]+"
# One line of the subset: a header, or key = value, then an optional comment.  The value
# alternatives: a basic string without escapes or control characters (TOML 1.0 "basic-char":
# tab and every non-control character but '"' and '\'), a boolean, an integer.
_LINE = re.compile(
    r"[ \t]*(?:"
    r"(?P<aot>\[\[)[ \t]*(?P<aname>" + _KEY + r")[ \t]*\]\]"
    r"|\[[ \t]*(?P<tname>" + _KEY + r")[ \t]*\]"
    r"|(?P<key>" + _KEY + r")[ \t]*=[ \t]*(?:"
    r"\"(?P<str>[^\"\\\x00-\x08\x0a-\x1f\x7f]*)\""
    r"|(?P<bool>true|false)"
    r"|(?P<hex>0x[0-9A-Fa-f](?:_?[0-9A-Fa-f])*)"
    r"|(?P<oct>0o[0-7](?:_?[0-7])*)"
    r"|(?P<bin>0b[01](?:_?[01])*)"
    r"|(?P<dec>[+-]?(?:0|[1-9](?:_?[0-9])*))"
    r")"
    r")?[ \t]*(?:#[^\x00-\x08\x0a-\x1f\x7f]*)?"
)
_BASES = (("hex", 16), ("oct", 8), ("bin", 2))


class _NotPlain(Exception):  # noqa: N818 - internal control flow, never escapes loads()
    """The text is outside the subset: tomllib decides."""


def parse_plain(text: str,
                lines: dict[tuple[str | int, ...], int] | None = None) -> dict[str, Any] | None:
    """The document if ``text`` is in the plain subset (see the module), else None.

    :param lines: if given, filled with the 1-based line of every key path (``("s2", 0, "ipa")``
        for a key of the first ``[[s2]]``; ``("s2",)`` and ``("s2", 0)`` for the header), as
        :func:`memattr.inputs.tomlscan.scan` maps them; left incomplete when the text is not plain.
    """
    try:
        return _parse(text, lines)
    except _NotPlain:
        return None


def _parse(text: str, lines: dict[tuple[str | int, ...], int] | None) -> dict[str, Any]:
    root: dict[str, Any] = {}
    current = root
    table: tuple[str | int, ...] = ()  # the key path of the current table (for ``lines``)
    explicit: set[str] = set()  # names of [table] headers seen (a second one is an error)
    arrays: set[str] = set()  # names of [[array]] headers seen
    match = _LINE.fullmatch
    if text.endswith("\r"):
        raise _NotPlain  # a CR not followed by LF
    for n, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]  # CRLF; a lone CR anywhere else fails the line pattern
        m = match(line)
        if m is None:
            raise _NotPlain
        key = m.group("key")
        if key is not None:
            if key in current:
                raise _NotPlain  # a key given twice, or a key over a table
            current[key] = _value(m)
            if lines is not None:
                lines.setdefault(table + (key,), n)
            continue
        name = m.group("aname")
        if name is not None:
            if name in root and name not in arrays:
                raise _NotPlain  # [[name]] over a key or a [table]
            arrays.add(name)
            current = {}
            elements = root.setdefault(name, [])
            elements.append(current)
            if lines is not None:
                lines.setdefault((name,), n)
                table = (name, len(elements) - 1)
                lines[table] = n
            continue
        name = m.group("tname")
        if name is not None:
            if name in root or name in explicit:
                raise _NotPlain  # [name] twice, or over a key or an array
            explicit.add(name)
            current = root[name] = {}
            if lines is not None:
                table = (name,)
                lines.setdefault(table, n)
    return root


def _value(m: re.Match[str]) -> object:
    s = m.group("str")
    if s is not None:
        return s
    b = m.group("bool")
    if b is not None:
        return b == "true"
    try:
        d = m.group("dec")
        if d is not None:
            return int(d)  # int() takes the sign and underscores between digits, as TOML does
        for group, base in _BASES:
            v = m.group(group)
            if v is not None:
                return int(v[2:], base)
    except ValueError:  # beyond int()'s digit limit: tomllib raises what it raises
        raise _NotPlain from None
    raise _NotPlain  # pragma: no cover - the pattern gives one of the groups


def loads(text: str) -> dict[str, Any]:
    """``tomllib.loads(text)``: the same document, or the same TOMLDecodeError, imported only
    for text outside the plain subset."""
    got = parse_plain(text)
    if got is not None:
        return got
    import tomllib

    return tomllib.loads(text)

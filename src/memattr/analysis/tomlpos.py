"""Line numbers for TOML keys: tomllib parses values but keeps no positions, so scan the text.

:func:`key_lines` maps each key path (``("device", 0, "bar", 1, "size")``: table names, array-of-
tables indices and keys) to the 1-based line that defines it.  :func:`line_of` finds the line of a
path, falling back to its closest defined ancestor.  The scan understands table headers, arrays of
tables, dotted and quoted keys, and skips the bodies of multi-line strings and arrays; inline
tables are attributed to the line of the key that holds them.
"""

from __future__ import annotations

import re

__all__ = ["KeyPath", "key_lines", "line_of", "format_path"]

KeyPath = tuple[str | int, ...]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _split_key(text: str) -> list[str] | None:
    """Split a (possibly dotted, possibly quoted) TOML key; None when it is not a key."""
    parts: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return None
        if text[i] in "\"'":
            quote = text[i]
            end = text.find(quote, i + 1)
            if end < 0:
                return None
            parts.append(text[i + 1 : end])
            i = end + 1
        else:
            m = _BARE.match(text, i)
            if m is None:
                return None
            parts.append(m.group(0))
            i = m.end()
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return parts
        if text[i] != ".":
            return None
        i += 1


def _strip_comment(line: str) -> str:
    """The line without a trailing comment (a '#' outside quotes)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            return line[:i]
    return line


def _depth_change(value: str) -> int:
    """Net count of '[' / '{' minus ']' / '}' outside quotes in a value fragment."""
    depth = 0
    quote = ""
    for ch in value:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
    return depth


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path defined in ``text`` to its 1-based line number."""
    lines: dict[KeyPath, int] = {}
    counts: dict[tuple[str, ...], int] = {}  # array-of-tables name path -> elements seen
    table: KeyPath = ()
    depth = 0
    in_string = ""
    for lineno, raw in enumerate(text.splitlines(), start=1):
        if in_string:
            if in_string in raw:
                in_string = ""
            continue
        line = _strip_comment(raw).strip()
        if depth > 0:
            depth += _depth_change(line)
            continue
        if not line:
            continue
        if line.startswith("[[") and line.endswith("]]"):
            names = _split_key(line[2:-2])
            if names is None:
                continue
            named = _names_with_indices(tuple(names), counts)
            idx = counts.get(tuple(names), 0)
            counts[tuple(names)] = idx + 1
            # a new element resets the counts of the arrays nested inside it
            for key in [k for k in counts if len(k) > len(names) and k[: len(names)] == tuple(names)]:
                del counts[key]
            table = named + (idx,)
            lines.setdefault(named, lineno)
            lines[table] = lineno
            continue
        if line.startswith("[") and line.endswith("]"):
            names = _split_key(line[1:-1])
            if names is None:
                continue
            table = _names_with_indices(tuple(names), counts)
            lines.setdefault(table, lineno)
            continue
        eq = _find_eq(line)
        if eq < 0:
            continue
        names = _split_key(line[:eq])
        if names is None:
            continue
        path = table
        for name in names:
            path = path + (name,)
            lines.setdefault(path, lineno)
        value = line[eq + 1 :].strip()
        for quote in ('"""', "'''"):
            if value.startswith(quote) and value.count(quote) == 1:
                in_string = quote
                break
        else:
            depth = max(_depth_change(value), 0)
            if value.startswith("[") and depth == 0:
                _index_array(path, value, lineno, lines)
    return lines


def _index_array(path: KeyPath, value: str, lineno: int, lines: dict[KeyPath, int]) -> None:
    """Give the elements of a one-line array the line of their key (so errors on them resolve)."""
    count = value.count(",") + 1
    for i in range(count):
        lines.setdefault(path + (i,), lineno)


def _find_eq(line: str) -> int:
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "=":
            return i
    return -1


def _names_with_indices(names: tuple[str, ...], counts: dict[tuple[str, ...], int]) -> KeyPath:
    """Insert the current element index after each prefix that names an array of tables."""
    out: list[str | int] = []
    for i, name in enumerate(names):
        out.append(name)
        prefix = names[: i + 1]
        if prefix in counts and i + 1 < len(names):
            out.append(counts[prefix] - 1)
    return tuple(out)


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its closest ancestor that has one; None if none does."""
    for n in range(len(path), 0, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def format_path(path: KeyPath) -> str:
    """Render a key path the way a user writes it: ``device[0].bar[1].size``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"

"""A linear pre-scan of TOML text: bounds checked before ``tomllib`` runs, and the line of every key.

``tomllib`` parses values but keeps no positions, recurses once per nested array or inline table
(a value nested ~500 deep raises ``RecursionError``) and builds one nested table per part of a
dotted key.  :func:`scan` reads the text once, in time linear in its length, and

- refuses, with a one-line :class:`~memattr.errors.ParseError` at ``file:line``, text that goes
  beyond :class:`Limits`: arrays and inline tables nested deeper than ``depth``, a key or table
  header of more than ``key_parts`` dotted parts or a key part longer than ``key_length``
  characters, a key path longer than ``path_depth``, more than ``values`` keys and array
  elements in all;
- returns the 1-based line that defines each key path: ``("device", 0, "bar", 1, "size")`` for
  table names, array-of-tables and array indices, and keys (dotted, quoted, inside inline
  tables).

The scan understands comments, the four string forms (multi-line ones may span lines), table
headers and arrays of tables.  It never fails on text that is merely invalid TOML: it records
what it can and leaves the syntax error to ``tomllib``.
"""

from __future__ import annotations

import re

from .._value import dataclass, field  # dataclasses, cheaper to import
from ..errors import ParseError
from .escape import escape, truncate

__all__ = ["KeyPath", "Limits", "DEFAULT_LIMITS", "scan", "key_lines", "line_of", "format_path"]

KeyPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on the shape of a TOML text, checked by :func:`scan` before ``tomllib`` parses it.

    :param depth: arrays and inline tables nested in one value.
    :param key_parts: dotted parts of one key or table header.
    :param key_length: characters of one key part.
    :param path_depth: parts of a whole key path (table names, indices, keys).
    :param values: keys, table headers and array elements in the whole text.
    """

    depth: int = 32
    key_parts: int = 16
    key_length: int = 256
    path_depth: int = 64
    values: int = 200_000


DEFAULT_LIMITS = Limits()
"""The bounds every memattr input file is held to."""

# The scanner's patterns, compiled on first use (_compile): a file in the plain subset is read
# without a scan (memattr.inputs.toml.parse), and compiling them is most of a scan's start-up.
_WS: re.Pattern[str]
_BARE: re.Pattern[str]
_BASIC: re.Pattern[str]
_LITERAL: re.Pattern[str]
_SCALAR: re.Pattern[str]
_ML_BASIC_STOP: re.Pattern[str]
_ESCAPES: re.Pattern[str]


def _compile() -> None:
    global _WS, _BARE, _BASIC, _LITERAL, _SCALAR, _ML_BASIC_STOP, _ESCAPES  # noqa: PLW0603
    if "_ESCAPES" in globals():
        return
    _WS = re.compile(r"[ \t\r]*")
    _BARE = re.compile(r"[A-Za-z0-9_-]+")
    _BASIC = re.compile(r'"(?:[^"\\\n]|\\.)*"?')
    _LITERAL = re.compile(r"'[^'\n]*'?")
    _SCALAR = re.compile(r"[^,\]}\n#\[{]*")
    _ML_BASIC_STOP = re.compile(r'[\\"]')
    _ESCAPES = re.compile(r"\\(?:u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|(.))", re.DOTALL)

_SIMPLE_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\",
                   "e": "\x1b"}


def _unescape(body: str) -> str:
    """The value of a basic-string key (TOML escapes); unknown escapes are kept as written."""
    if "\\" not in body:
        return body

    def one(m: re.Match[str]) -> str:
        code = m.group(1) or m.group(2)
        if code is not None:
            n = int(code, 16)
            return chr(n) if n <= 0x10FFFF else m.group(0)
        return _SIMPLE_ESCAPES.get(m.group(3), m.group(0))

    return _ESCAPES.sub(one, body)


@dataclass(slots=True)
class _Node:
    """Array-of-tables bookkeeping: elements seen so far and the tables nested under the name."""

    count: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


class _Scanner:
    def __init__(self, text: str, name: str, limits: Limits) -> None:
        _compile()
        self.text = text
        self.n = len(text)
        self.name = name
        self.limits = limits
        self.line = 1
        self.lines: dict[KeyPath, int] = {}
        self.values = 0
        self.root = _Node()

    # --- errors and bookkeeping ---------------------------------------------------------------

    def fail(self, path: KeyPath, what: str, expected: str) -> ParseError:
        return ParseError(f"{self.name}:{self.line}: {format_path(path)}: {what} "
                          f"(expected {expected})")

    def record(self, path: KeyPath) -> None:
        """Note that ``path`` is defined on the current line (the first definition wins)."""
        if len(path) > self.limits.path_depth:
            raise self.fail(path[: self.limits.path_depth], f"a key path of more than "
                            f"{self.limits.path_depth} parts", f"at most {self.limits.path_depth}")
        self.values += 1
        if self.values > self.limits.values:
            raise self.fail(path, f"more than {self.limits.values} keys and array elements in "
                            "the file", f"at most {self.limits.values}")
        self.lines.setdefault(path, self.line)

    # --- lexing -------------------------------------------------------------------------------

    def ws(self, i: int) -> int:
        m = _WS.match(self.text, i)
        return m.end() if m else i

    def ws_lines(self, i: int) -> int:
        """Skip blanks, newlines and comments (inside arrays and inline tables)."""
        t = self.text
        while i < self.n:
            i = self.ws(i)
            if i >= self.n:
                break
            if t[i] == "\n":
                self.line += 1
                i += 1
            elif t[i] == "#":
                i = self.eol(i)
            else:
                break
        return i

    def eol(self, i: int) -> int:
        """The position of the next newline (or the end)."""
        j = self.text.find("\n", i)
        return self.n if j < 0 else j

    def string(self, i: int) -> int:
        """Skip the string starting at ``i``, counting the newlines of multi-line ones."""
        t = self.text
        if t.startswith('"""', i):
            j = i + 3
            while True:
                m = _ML_BASIC_STOP.search(t, j)
                if m is None:
                    end = self.n
                    break
                k = m.start()
                if t[k] == "\\":
                    j = k + 2
                elif t.startswith('"""', k):
                    end = k + 3
                    while end < self.n and t[end] == '"' and end - k < 5:
                        end += 1
                    break
                else:
                    j = k + 1
            self.line += t.count("\n", i, end)
            return end
        if t.startswith("'''", i):
            k = t.find("'''", i + 3)
            if k < 0:
                end = self.n
            else:
                end = k + 3
                while end < self.n and t[end] == "'" and end - k < 5:
                    end += 1
            self.line += t.count("\n", i, end)
            return end
        m = (_BASIC if t[i] == '"' else _LITERAL).match(t, i)
        assert m is not None  # both patterns match their opening quote
        return m.end()

    def key(self, i: int, base: KeyPath) -> tuple[list[str] | None, int]:
        """A dotted key at ``i``: its parts (None if there is none) and where it ends."""
        t = self.text
        parts: list[str] = []
        while True:
            i = self.ws(i)
            if i >= self.n:
                return None, i
            c = t[i]
            if c == '"' or c == "'":
                m = (_BASIC if c == '"' else _LITERAL).match(t, i)
                assert m is not None
                raw = m.group(0)
                if len(raw) < 2 or not raw.endswith(c):
                    return None, m.end()
                part = _unescape(raw[1:-1]) if c == '"' else raw[1:-1]
                i = m.end()
            else:
                m = _BARE.match(t, i)
                if m is None:
                    return None, i
                part = m.group(0)
                i = m.end()
            if len(part) > self.limits.key_length:
                raise self.fail(base + tuple(parts) + (part,), f"a key of {len(part)} "
                                "characters", f"at most {self.limits.key_length}")
            parts.append(part)
            if len(parts) > self.limits.key_parts:
                raise self.fail(base + tuple(parts), f"a key of more than {self.limits.key_parts}"
                                " dotted parts", f"at most {self.limits.key_parts}")
            i = self.ws(i)
            if i < self.n and t[i] == ".":
                i += 1
                continue
            return parts, i

    # --- structure ------------------------------------------------------------------------------

    def header(self, i: int) -> tuple[KeyPath | None, int]:
        """A ``[table]`` or ``[[array]]`` header: the table path it opens (None if malformed)."""
        t = self.text
        aot = t.startswith("[[", i)
        parts, j = self.key(i + (2 if aot else 1), ())
        if parts is None:
            return None, j
        j = self.ws(j)
        close = "]]" if aot else "]"
        if not t.startswith(close, j):
            return None, j
        node = self.root
        path: list[str | int] = []
        for k, name in enumerate(parts):
            node = node.children.setdefault(name, _Node())
            path.append(name)
            if aot and k == len(parts) - 1:
                self.record(tuple(path))
                node.count += 1
                node.children = {}  # a new element starts its nested arrays afresh
                path.append(node.count - 1)
                self.lines[tuple(path)] = self.line
            else:
                if node.count > 0:
                    path.append(node.count - 1)
                self.record(tuple(path))
        return tuple(path), j + len(close)

    def value(self, i: int, path: KeyPath, depth: int) -> int:
        """Skip the value at ``i`` (recording the keys and elements inside it); its end."""
        t = self.text
        i = self.ws(i)
        if i >= self.n:
            return i
        c = t[i]
        if c == '"' or c == "'":
            return self.string(i)
        if c == "[" or c == "{":
            if depth >= self.limits.depth:
                raise self.fail(path, f"arrays or inline tables nested more than "
                                f"{self.limits.depth} deep", f"at most {self.limits.depth}")
            return self.array(i + 1, path, depth + 1) if c == "[" else \
                self.inline(i + 1, path, depth + 1)
        m = _SCALAR.match(t, i)
        return m.end() if m else i

    def array(self, i: int, path: KeyPath, depth: int) -> int:
        t = self.text
        index = 0
        while True:
            i = self.ws_lines(i)
            if i >= self.n:
                return i
            c = t[i]
            if c == "]":
                return i + 1
            if c == ",":
                index += 1
                i += 1
                continue
            if c in "}=":
                return i  # not TOML: tomllib will say so
            self.record(path + (index,))
            j = self.value(i, path + (index,), depth)
            i = j if j > i else i + 1

    def inline(self, i: int, path: KeyPath, depth: int) -> int:
        t = self.text
        while True:
            i = self.ws_lines(i)
            if i >= self.n:
                return i
            c = t[i]
            if c == "}":
                return i + 1
            if c == ",":
                i += 1
                continue
            parts, j = self.key(i, path)
            if parts is None:
                return max(j, i + 1)
            j = self.ws(j)
            if j >= self.n or t[j] != "=":
                return j
            i = self.value(j + 1, self.keyval(path, parts), depth)

    def keyval(self, table: KeyPath, parts: list[str]) -> KeyPath:
        path = table
        for part in parts:
            path = path + (part,)
            self.record(path)
        return path

    def run(self) -> dict[KeyPath, int]:
        t = self.text
        table: KeyPath = ()
        i = 0
        while i < self.n:
            i = self.ws(i)
            if i >= self.n:
                break
            c = t[i]
            if c == "\n":
                self.line += 1
                i += 1
                continue
            if c == "#":
                i = self.eol(i)
                continue
            if c == "[":
                opened, i = self.header(i)
                if opened is not None:
                    table = opened
                i = self.eol(i)
                continue
            parts, j = self.key(i, table)
            j = self.ws(j)
            if parts is None or j >= self.n or t[j] != "=":
                i = self.eol(max(j, i + 1))
                continue
            i = self.value(j + 1, self.keyval(table, parts), 0)
            # the rest of the line is a comment (or an error tomllib reports)
            if i < self.n and t[i] != "\n":
                i = self.eol(i)
        return self.lines


def scan(text: str, name: str = "<string>", limits: Limits = DEFAULT_LIMITS) -> dict[KeyPath, int]:
    """Check ``text`` against ``limits`` and map every key path it defines to its line.

    :param text: the TOML text (not yet parsed).
    :param name: the file name used in errors (already escaped for display).
    :param limits: the bounds.
    :raises ParseError: ``name:line: key: ... (expected at most N)`` when a bound is exceeded.
    """
    return _Scanner(text, name, limits).run()


def key_lines(text: str) -> dict[KeyPath, int]:
    """Map every key path defined in ``text`` to its 1-based line (what the scan found before a
    bound was exceeded, if one was; bounds are enforced by :func:`scan`)."""
    scanner = _Scanner(text, "<string>", DEFAULT_LIMITS)
    try:
        return scanner.run()
    except ParseError:
        return scanner.lines


def line_of(lines: dict[KeyPath, int], path: KeyPath) -> int | None:
    """The line of ``path``, or of its closest ancestor that has one; None if none does."""
    for n in range(len(path), 0, -1):
        line = lines.get(path[:n])
        if line is not None:
            return line
    return None


def format_path(path: KeyPath, *, limit: int = 40, parts: int = 16) -> str:
    """A key path as a user writes it: ``device[0].bar[1].size``; odd keys quoted and escaped.

    :param limit: characters shown of each key before it is cut.
    :param parts: parts shown of a longer path (its middle becomes ``...``).
    """
    _compile()
    out = ""
    for i, part in enumerate(path):
        if len(path) > parts and i == parts - 4:
            out += "..."
        if len(path) > parts and parts - 4 <= i < len(path) - 4:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
            continue
        text = escape(truncate(part, limit))
        if _BARE.fullmatch(part) is None:
            text = f'"{text}"'
        out += ("." if out and not out.endswith("...") else "") + text
    return out or "(top level)"

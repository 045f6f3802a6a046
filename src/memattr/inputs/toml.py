"""The declaration-driven TOML reader: a file's schema as data, its errors as ``file:line: key``.

A schema is a :class:`Table` of :class:`Field` s, each with a value :class:`Kind`
(:class:`Bool`, :class:`Str`, :class:`Enum`, :class:`Int`, :class:`Number` for addresses and
sizes with units and a bit width, :class:`List`, :class:`AnyOf`, :class:`Check`), or a nested
:class:`Table` or :class:`ArrayOf` tables.  A table may select extra keys by a tag
(``kind = "pcie"``: :attr:`Table.variants`) and require exactly one, or at most one, of a group of
keys.  Reading a file::

    doc = load("setup.toml", what="scenario file")   # bounded read, pre-scan, tomllib
    rec = read(doc, SCHEMA)                          # converted values, defaults, positions
    rec["device"][0]["bar"][0]["size"]               # 1048576
    raise rec["device"][0].error("bdf", "taken by device 'x'", kind=ConfigError)

Every error is one line, ``file:line: key: what is wrong (what was expected)``, with the value
echoed short and escaped (:func:`memattr.inputs.escape.show`).  An error carries its location
(:func:`is_located`), so a caller that adds a location to errors from lower layers
(:func:`locate`) never repeats one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .._value import dataclass, field  # dataclasses, cheaper to import
from ..errors import ConfigError, MemattrError, ParseError
from .escape import show, show_int, show_path
from .files import display_name, read_text
from .tomlplain import parse_plain
from .tomlscan import DEFAULT_LIMITS, KeyPath, Limits, format_path, line_of, scan

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any

__all__ = [
    "Invalid",
    "Kind",
    "Bool",
    "Str",
    "Enum",
    "Int",
    "Number",
    "List",
    "AnyOf",
    "Check",
    "Field",
    "Table",
    "ArrayOf",
    "Document",
    "Record",
    "parse",
    "load",
    "read",
    "located_error",
    "is_located",
    "locate",
]


# --- errors -------------------------------------------------------------------------------------


def located_error(kind: type[MemattrError], where: str, path: KeyPath | None, what: str,
                  expected: str | None = None) -> MemattrError:
    """``kind('where: key: what (expected ...)')``, marked as carrying its location.

    :param where: ``file:line``.
    :param path: the key path (None for an error about the whole file).
    :param what: what is wrong, values already shown with :func:`~memattr.inputs.escape.show`.
    :param expected: what was expected, or None.
    """
    text = f"{where}: "
    if path is not None:
        text += f"{format_path(path)}: "
    text += what
    if expected:
        text += f" (expected {expected})"
    exc = kind(text)
    exc.location = where  # type: ignore[attr-defined]
    return exc


def is_located(exc: BaseException) -> bool:
    """Whether ``exc`` already names a file and line (raised by this reader or :func:`locate`)."""
    return getattr(exc, "location", None) is not None


def locate(exc: MemattrError, where: str, path: KeyPath | None) -> MemattrError:
    """``exc`` with ``where: key:`` in front, unless it already names its place (same class)."""
    if is_located(exc):
        return exc
    return located_error(type(exc), where, path, str(exc))


class Invalid(Exception):
    """What a :class:`Kind` raises for a bad value; the reader adds the place.

    :param problem: what is wrong, e.g. ``got true`` or ``0x1ff is out of range``.
    :param expected: what was expected, when more precise than the kind's description.
    :param at: the path below the key the problem is at (a list element: ``(3,)``).
    :param kind: the error class (ConfigError for a value that is well-formed but impossible).
    """

    def __init__(self, problem: str, expected: str | None = None, at: KeyPath = (),
                 kind: type[MemattrError] = ParseError) -> None:
        super().__init__(problem)
        self.problem = problem
        self.expected = expected
        self.at = at
        self.kind = kind


# --- value kinds ----------------------------------------------------------------------------------


class Kind:
    """A TOML value kind: :meth:`convert` returns the Python value or raises :class:`Invalid`."""

    expected: str = "a value"

    def convert(self, value: object) -> Any:
        raise NotImplementedError


def _got(value: object, hex_: bool = False) -> str:
    return f"got {show(value, hex_=hex_)}"


class Bool(Kind):
    """``true`` or ``false``."""

    expected = "true or false"

    def convert(self, value: object) -> bool:
        if not isinstance(value, bool):
            raise Invalid(_got(value))
        return value


class Str(Kind):
    """A string of at most ``max_length`` characters.

    :param max_length: the longest string accepted.
    :param expected: how to describe the value in errors.
    """

    def __init__(self, max_length: int = 256, expected: str = "a string") -> None:
        self.max_length = max_length
        self.expected = expected

    def convert(self, value: object) -> str:
        if not isinstance(value, str):
            raise Invalid(_got(value))
        if len(value) > self.max_length:
            raise Invalid(f"{show(value)} is too long", f"at most {self.max_length} characters")
        return value


class Enum(Kind):
    """One of a fixed set of names; the result is the name, or what ``options`` maps it to.

    :param options: the names (a sequence), or a mapping from name to result.
    :param noun: what a name is, for errors ('a mapping source').
    :param fold_case: accept any case ('nsh' for 'NSH').
    :param error: the error class for an unknown name (ConfigError when naming a known thing).
    """

    def __init__(self, options: Sequence[str] | Mapping[str, Any], noun: str = "a valid name",
                 *, fold_case: bool = False, error: type[MemattrError] = ParseError) -> None:
        self.options: dict[str, Any] = dict(options) if isinstance(options, Mapping) else \
            {name: name for name in options}
        self.noun = noun
        self.fold_case = fold_case
        self.error = error
        self.expected = "one of " + ", ".join(self.options)
        self._folded = {name.lower(): name for name in self.options}

    def convert(self, value: object) -> Any:
        if not isinstance(value, str):
            raise Invalid(_got(value))
        name = self._folded.get(value.strip().lower()) if self.fold_case else \
            (value if value in self.options else None)
        if name is None:
            raise Invalid(f"{show(value)} is not {self.noun}", kind=self.error)
        return self.options[name]


class Int(Kind):
    """A TOML integer in ``lo..hi`` (a count or an index: shown in decimal).

    :param lo: the smallest value accepted.
    :param hi: the largest value accepted (None: no bound).
    :param expected: how to describe the value in errors.
    """

    def __init__(self, lo: int = 0, hi: int | None = None, expected: str | None = None) -> None:
        self.lo = lo
        self.hi = hi
        self.expected = expected or (f"an integer {lo}..{hi}" if hi is not None
                                     else f"an integer >= {lo}")

    def convert(self, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise Invalid(_got(value))
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise Invalid(f"{show_int(value, hex_=False)} is out of range")
        return value


class Number(Kind):
    """An address or size: a TOML integer, or a string such as '0x1000', '64K' or '2 MiB'.

    :param bits: the width the value has (an address below ``2**bits``).
    :param units: accept strings with units ('64K') as well as numbers.
    :param lo: the smallest value accepted.
    :param hi: the largest value accepted (below ``2**bits`` anyway).
    :param power_of_two: the value must be a power of two (a BAR or page size).
    :param align: the value must be a multiple of this.
    :param expected: how to describe the value in errors.
    """

    def __init__(self, bits: int = 64, *, units: bool = True, lo: int = 0, hi: int | None = None,
                 power_of_two: bool = False, align: int = 1, expected: str | None = None) -> None:
        self.bits = bits
        self.units = units
        self.lo = lo
        self.hi = (1 << bits) - 1 if hi is None else min(hi, (1 << bits) - 1)
        self.power_of_two = power_of_two
        self.align = align
        self.expected = expected or (
            "a number such as 0x1000" + (" or a size such as '64K'" if units else ""))

    def convert(self, value: object) -> int:
        from .units import parse_number, parse_size

        if isinstance(value, bool):
            raise Invalid(_got(value))
        if isinstance(value, int):
            n = value
        elif isinstance(value, str):
            try:
                n = parse_size(value) if self.units else parse_number(value.strip())
            except ValueError:
                raise Invalid(_got(value)) from None
        else:
            raise Invalid(_got(value))
        if n < self.lo:
            raise Invalid(f"{show_int(n)} is below {show_int(self.lo)}")
        if n > self.hi:
            full = self.hi == (1 << self.bits) - 1
            raise Invalid(f"{show_int(n)} does not fit in {self.bits} bits" if full else
                          f"{show_int(n)} is above {show_int(self.hi)}")
        if self.power_of_two and n & (n - 1):
            raise Invalid(f"{show_int(n)} is not a power of two")
        if n % self.align:
            raise Invalid(f"{show_int(n)} is not a multiple of {show_int(self.align)}")
        return n


class List(Kind):
    """An array of values of one kind, as a tuple.

    :param item: the kind of each element.
    :param min_length: the fewest elements accepted.
    :param max_length: the most elements accepted.
    :param unique: drop repeated elements (keeping the first of each).
    :param expected: how to describe the value in errors.
    """

    def __init__(self, item: Kind, *, min_length: int = 0, max_length: int = 4096,
                 unique: bool = False, expected: str | None = None) -> None:
        self.item = item
        self.min_length = min_length
        self.max_length = max_length
        self.unique = unique
        self.expected = expected or f"an array of {item.expected}"

    def convert(self, value: object) -> tuple[Any, ...]:
        if not isinstance(value, list):
            raise Invalid(_got(value))
        if len(value) < self.min_length:
            raise Invalid(f"an array of {len(value)} elements",
                          f"at least {self.min_length}: {self.expected}")
        if len(value) > self.max_length:
            raise Invalid(f"an array of {len(value)} elements", f"at most {self.max_length}")
        out = []
        for i, v in enumerate(value):
            try:
                out.append(self.item.convert(v))
            except Invalid as exc:
                raise Invalid(exc.problem, exc.expected or self.item.expected, (i,) + exc.at,
                              exc.kind) from None
        return tuple(dict.fromkeys(out)) if self.unique else tuple(out)


class AnyOf(Kind):
    """The first of several kinds that accepts the value (``xn = true`` or ``xn = 2``).

    :param kinds: the alternatives, tried in order.
    :param expected: how to describe the value in errors.
    """

    def __init__(self, *kinds: Kind, expected: str | None = None) -> None:
        self.kinds = kinds
        self.expected = expected or " or ".join(k.expected for k in kinds)

    def convert(self, value: object) -> Any:
        first: Invalid | None = None
        for kind in self.kinds:
            try:
                return kind.convert(value)
            except Invalid as exc:
                first = first or exc
        assert first is not None
        # the problem the best-matching kind reports (an out-of-range number, not "got 5")
        for kind in self.kinds:
            try:
                kind.convert(value)
            except Invalid as exc:
                if not exc.problem.startswith("got "):
                    raise Invalid(exc.problem, exc.expected, exc.at, exc.kind) from None
        raise Invalid(first.problem, None, first.at, first.kind)


class Check(Kind):
    """A kind with one more rule: ``test(value)`` returns what is wrong, or None.

    :param kind: the underlying kind.
    :param test: the rule on the converted value.
    :param expected: how to describe a value the rule accepts.
    """

    def __init__(self, kind: Kind, test: Callable[[Any], str | None],
                 expected: str | None = None) -> None:
        self.kind = kind
        self.test = test
        self.expected = expected or kind.expected

    def convert(self, value: object) -> Any:
        out = self.kind.convert(value)
        problem = self.test(out)
        if problem:
            raise Invalid(problem, self.expected)
        return out


# --- structure ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """A key of a table.

    :param key: the TOML key.
    :param kind: the value's kind, or a nested :class:`Table` / :class:`ArrayOf`.
    :param default: the value when the key is absent (a Table field reads its default as if
        written: ``{}`` gives a table of defaults, None gives None).
    :param required: the key must be given.
    :param doc: one line of what the key means (for documentation and errors).
    :param expected: what to say is expected, instead of the kind's description.
    """

    key: str
    kind: Kind | Table | ArrayOf
    default: Any = None
    required: bool = False
    doc: str = ""
    expected: str | None = None

    def describe(self) -> str:
        if self.expected:
            return self.expected
        if isinstance(self.kind, Table):
            return f"a table [{self.key}]"
        if isinstance(self.kind, ArrayOf):
            return f"an array of tables [[{self.key}]]"
        return self.kind.expected


@dataclass(frozen=True)
class Table:
    """A TOML table's schema.

    :param fields: the keys every such table may have.
    :param tag: the key whose value selects extra keys (``kind``, ``source``).
    :param variants: for each tag value, the keys it adds.
    :param exactly_one: groups of keys of which exactly one must be given.
    :param at_most_one: groups of keys of which at most one may be given.
    :param doc: one line of what the table describes.
    """

    fields: tuple[Field, ...]
    tag: str | None = None
    variants: Mapping[str, tuple[Field, ...]] = field(default_factory=dict)
    exactly_one: tuple[tuple[str, ...], ...] = ()
    at_most_one: tuple[tuple[str, ...], ...] = ()
    doc: str = ""

    def fields_for(self, variant: str | None) -> tuple[Field, ...]:
        """Every field of the table when the tag has the value ``variant``."""
        return self.fields + tuple(self.variants.get(variant, ())) if variant is not None \
            else self.fields

    def keys(self, variant: str | None = None) -> tuple[str, ...]:
        """The keys allowed when the tag has the value ``variant``."""
        return tuple(f.key for f in self.fields_for(variant))


@dataclass(frozen=True)
class ArrayOf:
    """An array of tables (``[[name]]``, or ``[{...}, {...}]``).

    :param table: the schema of each element.
    :param max_length: the most elements accepted.
    """

    table: Table
    max_length: int = 4096


# --- documents and records ------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A parsed TOML file: its display name, text, data and the line of every key.

    :param name: the file name as messages show it (escaped).
    :param text: the text.
    :param data: what ``tomllib`` returned.
    :param lines: key path -> 1-based line (:func:`memattr.inputs.tomlscan.scan`).
    :param path: the file name as given ('-' for standard input).
    """

    name: str
    text: str
    data: dict[str, Any]
    lines: dict[KeyPath, int]
    path: str = "<string>"

    def line(self, path: KeyPath) -> int:
        """The line of ``path`` or of its closest ancestor (1 if none has one)."""
        found = line_of(self.lines, path)
        return 1 if found is None else found

    def where(self, path: KeyPath) -> str:
        """``file:line`` of ``path``."""
        return f"{self.name}:{self.line(path)}"

    def error(self, path: KeyPath, what: str, expected: str | None = None,
              kind: type[MemattrError] = ParseError) -> MemattrError:
        """The error ``file:line: path: what (expected ...)``."""
        return located_error(kind, self.where(path), path, what, expected)


class Record:
    """A table read against its schema: converted values (defaults filled in) and positions.

    ``rec[key]`` is the value (a :class:`Record` for a nested table, a tuple of them for an array
    of tables); :meth:`has` says whether the file gave the key; :meth:`error` builds an error
    located at one of its keys.
    """

    __slots__ = ("doc", "path", "values", "given", "variant")

    def __init__(self, doc: Document, path: KeyPath, values: dict[str, Any],
                 given: frozenset[str], variant: str | None = None) -> None:
        self.doc = doc
        self.path = path
        self.values = values
        self.given = given
        self.variant = variant

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def has(self, key: str) -> bool:
        """Whether the file gave ``key`` (rather than its default)."""
        return key in self.given

    @property
    def line(self) -> int:
        """The line that opens this table."""
        return self.doc.line(self.path)

    def where(self, *at: str | int) -> str:
        """``file:line`` of a key of this table (or of the table)."""
        return self.doc.where(self.path + at)

    def error(self, at: str | int | KeyPath | None, what: str, expected: str | None = None,
              kind: type[MemattrError] = ConfigError) -> MemattrError:
        """The error ``file:line: table.key: what (expected ...)`` for a key (None: the table)."""
        sub: KeyPath = () if at is None else at if isinstance(at, tuple) else (at,)
        return self.doc.error(self.path + sub, what, expected, kind)

    def __repr__(self) -> str:
        return f"Record({format_path(self.path)}, {self.values!r})"


def parse(text: str, name: str = "<string>", *, limits: Limits = DEFAULT_LIMITS,
          path: str | None = None) -> Document:
    """Pre-scan ``text`` against ``limits``, parse it and keep key positions (the plain subset
    directly, :mod:`memattr.inputs.tomlplain`; any other text with ``tomllib``).

    :param text: the TOML text.
    :param name: the file name for messages (escaped by the caller, e.g. ``display_name``).
    :param limits: the bounds of :mod:`memattr.inputs.tomlscan`.
    :param path: the file name as given (defaults to ``name``).
    :raises ParseError: a bound exceeded, or a TOML syntax error, at ``file:line``.
    """
    lines: dict[KeyPath, int] = {}
    data = parse_plain(text, lines) if _plain_fits(limits) else None
    if data is not None and text.count("\n") < limits.values and \
            all(len(part) <= limits.key_length for key in lines for part in key
                if isinstance(part, str)):
        # The plain subset (no tomllib, no pre-scan: start-up): one key or header per line, at
        # most three parts per key path, no nesting -- within the limits the scan would check.
        return Document(name, text, data, lines, path if path is not None else name)
    lines = scan(text, name, limits)
    data = parse_plain(text)
    if data is None:
        data = _tomllib_loads(text, name)
    return Document(name, text, data, lines, path if path is not None else name)


def _plain_fits(limits: Limits) -> bool:
    """Whether every plain-subset text with at most ``limits.values`` lines and short keys is
    within ``limits`` (key paths of up to three parts, one part per key, no nesting)."""
    return limits.path_depth >= 3 and limits.key_parts >= 1 and limits.depth >= 0


def _tomllib_loads(text: str, name: str) -> dict[str, Any]:
    """``tomllib.loads(text)``, its errors as one located ParseError."""
    import re
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        what = re.sub(r"\s*\(at (?:line \d+, column \d+|end of document)\)", "", msg)
        where = f"{name}:{m.group(1)}" if m else f"{name}:{text.count(chr(10)) + 1}"
        col = f" at column {m.group(2)}" if m else ""
        raise located_error(ParseError, where, None, f"TOML syntax: {show(what)[1:-1]}{col}",
                            "TOML 1.0, see https://toml.io") from None
    except (RecursionError, ValueError, MemoryError) as exc:  # past the pre-scan's bounds
        raise located_error(ParseError, f"{name}:1", None, f"cannot parse: {type(exc).__name__}",
                            "a smaller, less nested TOML file") from None


def load(path: str | os.PathLike[str], *, what: str = "TOML file", limit: int | None = None,
         limits: Limits = DEFAULT_LIMITS, arg: str | None = None, stdin: bool = True) -> Document:
    """Read (bounded, :func:`memattr.inputs.files.read_text`) and :func:`parse` a TOML file.

    :param path: a file name, or '-' for standard input.
    :param what: what the file is, for messages ('scenario file').
    :param limit: the size bound in bytes (default: ``MEMATTR_MAX_INPUT`` or 16 MiB).
    :param limits: the shape bounds checked before ``tomllib`` runs.
    :param arg: the command-line argument that named the file.
    :param stdin: whether '-' means standard input.
    """
    text = read_text(path, what=what, limit=limit, arg=arg, stdin=stdin)
    name = display_name(path) if stdin else show_path(path)
    return parse(text, name, limits=limits, path=os.fspath(path))


def read(doc: Document, schema: Table) -> Record:
    """Check the document's top-level table against ``schema`` and convert every value.

    :raises ParseError: a wrong type, a missing or unknown key, a value out of range.
    :raises ConfigError: a kind's error class for well-formed but impossible values.
    """
    return _read_table(doc, schema, doc.data, ())


def _read_table(doc: Document, schema: Table, data: object, path: KeyPath) -> Record:
    if not isinstance(data, dict):
        name = format_path(path)
        raise doc.error(path, _got(data), f"a table [{name}]")
    variant: str | None = None
    given = frozenset(data)
    values: dict[str, Any] = {}
    fields = schema.fields
    if schema.tag is not None:
        tag_field = next(f for f in schema.fields if f.key == schema.tag)
        values[schema.tag] = _read_field(doc, tag_field, data, path)
        variant = values[schema.tag]
        fields = schema.fields_for(variant)
    allowed = tuple(f.key for f in fields)
    for key in data:
        if key not in allowed:
            which = f" for {schema.tag} {show(variant)}" if variant is not None else ""
            raise doc.error(path + (key,), f"unknown key{which}", "one of " + ", ".join(allowed))
    for group in schema.exactly_one:
        have = [k for k in group if k in data]
        if len(have) != 1:
            got = "none" if not have else " and ".join(have)
            raise doc.error(path + ((have[-1],) if have else ()),
                            f"give exactly one of {_or(group)} (got {got})")
    for group in schema.at_most_one:
        have = [k for k in group if k in data]
        if len(have) > 1:
            raise doc.error(path + (have[-1],), f"give either {_or(group)}, not both"
                            if len(group) == 2 else f"give at most one of {_or(group)} "
                            f"(got {' and '.join(have)})")
    for f in fields:
        if f.key not in values:
            values[f.key] = _read_field(doc, f, data, path)
    return Record(doc, path, values, given, variant)


def _or(keys: Sequence[str]) -> str:
    return ", ".join(keys[:-1]) + " or " + keys[-1] if len(keys) > 1 else keys[0]


def _read_field(doc: Document, f: Field, data: dict[str, Any], path: KeyPath) -> Any:
    here = path + (f.key,)
    if f.key not in data:
        if f.required:
            raise doc.error(here, "missing required key", f.describe())
        if isinstance(f.kind, Table) and f.default is not None:
            return _read_table(doc, f.kind, f.default, here)
        if isinstance(f.kind, ArrayOf):
            return () if f.default is None else f.default
        return f.default
    value = data[f.key]
    if isinstance(f.kind, Table):
        return _read_table(doc, f.kind, value, here)
    if isinstance(f.kind, ArrayOf):
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            raise doc.error(here, _got(value), f.describe())
        if len(value) > f.kind.max_length:
            raise doc.error(here, f"{len(value)} tables", f"at most {f.kind.max_length}")
        return tuple(_read_table(doc, f.kind.table, v, here + (i,)) for i, v in enumerate(value))
    try:
        return f.kind.convert(value)
    except Invalid as exc:
        raise doc.error(here + exc.at, exc.problem, exc.expected or f.describe(),
                        exc.kind) from None

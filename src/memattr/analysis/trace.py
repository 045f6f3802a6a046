"""Trace replay: a stream of guest accesses through a scenario, counted per outcome and hazard.

A trace is a text file (gzip-compressed or not, told by its magic bytes), one guest access per
line, either CSV or, for a line that starts with ``{``, one JSON object::

    # addr,size,kind[,cpu[,time]]          (a header line naming the fields is allowed)
    0x1000000010,8,write                    an IPA, hex (0x..) or decimal
    wc+0x10,8,write:ldp,3,1042.000125       a [[guest_mapping]] name + offset, CPU, timestamp
    {"addr":"0x1000000010","size":8,"kind":"read","cpu":0,"time":17}

``size`` is 1, 2, 4, 8, 16, 32 or 64 bytes; ``kind`` is ``read``, ``write`` or ``exec``,
optionally with the instruction class after a colon (``write:ldp``; the classes of a scenario's
``[[access]] instr``, :data:`~memattr.analysis.scenario.INSTR_CLASSES`).  Blank lines and lines
starting with ``#`` are skipped.  A line is at most :data:`MAX_LINE` bytes; a line that is not
one access is an error ``file:line: field: what (expected ...)``.

The answer for one access is what :func:`~memattr.analysis.replay.replay` says for it as the only
``[[access]]`` of its guest mapping (:func:`answer_of`), under each policy and FWB setting.  That
answer depends only on the access's *class*: its guest mapping, the segment of the mapping it
falls in (split where the memslot, the host region or a page with read side effects changes),
its size, whether it is aligned, and its kind.  :func:`replay_trace` therefore reads the trace in
pieces of :data:`CHUNK` bytes, parses and classifies each piece with numpy (a line the vectorised
parser cannot read is handed to the scalar parser :func:`parse_line`, which defines the syntax),
counts the classes with ``np.bincount``, and asks the scalar engine once per class seen.  Memory
stays bounded by the piece size, whatever the trace's length.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ..errors import MemattrError, ParseError
from ..inputs.escape import show, show_int
from .scenario import ACCESS_OPS, INSTR_CLASSES, AccessSpec, GuestMappingSpec, Scenario

if TYPE_CHECKING:

    from .hazards import Hazard
    from .replay import AccessResult, Result

__all__ = [
    "ACCESS_SIZES",
    "MAX_LINE",
    "CHUNK",
    "CPU_MAX",
    "FIELDS",
    "KINDS",
    "KIND_TOKENS",
    "OUTSIDE",
    "TraceAccess",
    "parse_line",
    "Layout",
    "build_layout",
    "Answer",
    "answer_of",
    "is_fault",
    "Offender",
    "TraceReplay",
    "replay_trace",
    "replay_stream",
    "open_trace",
]

ACCESS_SIZES = (1, 2, 4, 8, 16, 32, 64)
"""The access sizes a trace line may give (those of a scenario's ``[[access]] size``)."""

MAX_LINE = 4096
"""The longest line accepted, in bytes, without its line ending."""

CHUNK = 1 << 19
"""Bytes of (decompressed) trace text parsed at a time."""

CPU_MAX = 0xFFFF
"""The largest CPU number a line may give."""

MAX_TIME = 32
"""The longest timestamp accepted, in characters."""

FIELDS = ("addr", "size", "kind", "cpu", "time")
"""The CSV columns, in order (``cpu`` and ``time`` optional), and the JSON keys."""

_GZIP_MAGIC = b"\x1f\x8b"


def _kinds() -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for op in ACCESS_OPS:
        if op == "exec":
            out.append((op, "ldr"))  # an instruction fetch: the class is IFETCH whatever is named
            continue
        out += [(op, instr) for instr in INSTR_CLASSES]
    return tuple(out)


KINDS: tuple[tuple[str, str], ...] = _kinds()
"""Every access kind as (op, instr): the ``[[access]]`` op and instr values (derived)."""


def _tokens() -> dict[str, int]:
    out: dict[str, int] = {}
    for i, (op, instr) in enumerate(KINDS):
        if op == "exec":
            out[op] = i
            continue
        out[f"{op}:{instr}"] = i
        if instr == "ldr":
            out[op] = i
    return out


KIND_TOKENS: dict[str, int] = _tokens()
"""The ``kind`` spellings (``read``, ``write:ldp``, ``exec`` ...) and their index in KINDS."""

OUTSIDE = "outside the scenario's guest mappings (not evaluated)"
"""The outcome counted for an IPA that no ``[[guest_mapping]]`` covers."""

_SIZE_INDEX = {s: i for i, s in enumerate(ACCESS_SIZES)}
_NUMBER = re.compile(r"(?:0[xX](?P<hex>[0-9a-fA-F]{1,16})|(?P<dec>[0-9]{1,20}))\Z")
_TIME = re.compile(r"[0-9]+(?:\.[0-9]+)?\Z")
_CPU = re.compile(r"[0-9]{1,5}\Z")
_SIZE = re.compile(r"[0-9]{1,2}\Z")
_U64 = (1 << 64) - 1


# --- one line: the definition of the syntax -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceAccess:
    """One access of a trace, as its line gives it.

    :param line: the line number (from 1).
    :param mapping: the guest mapping named (``wc+0x10``), or None for an IPA.
    :param address: the IPA, or the offset into ``mapping``.
    :param size: bytes.  :param op: read, write or exec.  :param instr: the instruction class.
    :param cpu: the CPU, if given.  :param time: the timestamp as written, if given.
    """

    line: int
    mapping: str | None
    address: int
    size: int
    op: str
    instr: str
    cpu: int | None = None
    time: str | None = None

    @property
    def kind(self) -> str:
        """The kind as a line spells it: 'write', 'write:ldp', 'exec'."""
        if self.op == "exec" or self.instr == "ldr":
            return self.op
        return f"{self.op}:{self.instr}"

    @property
    def where(self) -> str:
        """The address as a line spells it: '0x1000000010' or 'wc+0x10'."""
        if self.mapping is None:
            return f"0x{self.address:x}"
        return f"{self.mapping}+0x{self.address:x}"

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "mapping": self.mapping, "address": self.address,
                "size": self.size, "op": self.op, "instr": self.instr, "cpu": self.cpu,
                "time": self.time}


class _Raw(str):
    """A JSON number kept as the text it was written as (json.loads parse_int/parse_float)."""

    __slots__ = ()


def _error(where: str, line: int, fld: str, what: str, expected: str) -> ParseError:
    return ParseError(f"{where}:{line}: {fld}: {what} (expected {expected})")


def _number(text: str, where: str, line: int, fld: str) -> int:
    m = _NUMBER.match(text)
    value = None if m is None else int(m["hex"], 16) if m["hex"] else int(m["dec"], 10)
    if value is None or value > _U64:
        raise _error(where, line, fld, f"{show(text)} is not a 64-bit address",
                     "hex 0x.. of at most 16 digits, or decimal below 2**64")
    return value


def _address(text: str, names: Iterable[str], where: str, line: int
             ) -> tuple[str | None, int]:
    if "+" in text:
        name, _, off = text.rpartition("+")
        if name not in names:
            have = ", ".join(show(n) for n in sorted(names)) or "none"
            raise _error(where, line, "addr", f"no guest mapping named {show(name)}",
                         f"an IPA, or NAME+OFFSET with NAME one of {have}")
        return name, _number(off, where, line, "addr")
    if text == "":
        raise _error(where, line, "addr", "empty", "an IPA (0x..) or NAME+OFFSET")
    return None, _number(text, where, line, "addr")


def _kind(text: str, where: str, line: int) -> tuple[str, str]:
    i = KIND_TOKENS.get(text)
    if i is None:
        ops = ", ".join(ACCESS_OPS)
        raise _error(where, line, "kind", f"{show(text)} is not an access kind",
                     f"{ops}, or read/write:CLASS with CLASS one of {', '.join(INSTR_CLASSES)}")
    return KINDS[i]


def _size(value: object, where: str, line: int) -> int:
    text = value if isinstance(value, str) else None
    if text is None or _SIZE.match(text) is None or int(text) not in _SIZE_INDEX:
        raise _error(where, line, "size", f"{show(value)} is not an access size",
                     ", ".join(map(str, ACCESS_SIZES)) + " bytes")
    return int(text)


def _cpu(value: object, where: str, line: int) -> int | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or _CPU.match(value) is None or int(value) > CPU_MAX:
        raise _error(where, line, "cpu", f"{show(value)} is not a CPU number", f"0..{CPU_MAX}")
    return int(value)


def _time(value: object, where: str, line: int) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_TIME or _TIME.match(value) is None:
        raise _error(where, line, "time", f"{show(value)} is not a timestamp",
                     f"digits with at most one '.', at most {MAX_TIME} characters")
    return str(value)


def _json_number(obj: dict[str, object], key: str, where: str, line: int) -> str | None:
    """A JSON number as the text it was written as; None when the key is absent."""
    if key not in obj:
        return None
    v = obj[key]
    if not isinstance(v, _Raw):
        raise _error(where, line, key, f"{show(v)} is not a JSON number", "a number")
    return str(v)


def _json_fields(text: str, where: str, line: int) -> list[object]:
    try:
        obj = json.loads(text, parse_int=_Raw, parse_float=_Raw, parse_constant=_Raw)
    except (ValueError, RecursionError) as exc:
        what = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise _error(where, line, "line", f"not a JSON object: {what}",
                     'one object such as {"addr": "0x1000", "size": 8, "kind": "write"}') from None
    if not isinstance(obj, dict):
        raise _error(where, line, "line", "a JSON value that is not an object",
                     'one object such as {"addr": "0x1000", "size": 8, "kind": "write"}')
    extra = [k for k in obj if k not in FIELDS]
    if extra:
        raise _error(where, line, show(extra[0]), "unknown key", ", ".join(FIELDS))
    for key in FIELDS[:3]:
        if key not in obj:
            raise _error(where, line, key, "missing", f"the keys {', '.join(FIELDS[:3])}")
    addr = obj["addr"]
    if isinstance(addr, _Raw):
        addr = str(addr)  # a JSON number: read as an address written in decimal
    elif not isinstance(addr, str):
        raise _error(where, line, "addr", f"{show(addr)} is not an address",
                     'a string such as "0x1000" or "wc+0x10", or a number')
    kind = obj["kind"]
    if not isinstance(kind, str) or isinstance(kind, _Raw):
        raise _error(where, line, "kind", f"{show(kind)} is not a JSON string",
                     'an access kind such as "write" or "write:ldp"')
    return [addr, _json_number(obj, "size", where, line), kind,
            _json_number(obj, "cpu", where, line), _json_number(obj, "time", where, line)]


def parse_line(raw: bytes, line: int, where: str, names: Iterable[str]) -> TraceAccess | None:
    """One trace line: the access it gives, or None for a blank line, a comment or a header.

    This is the definition of the trace syntax; the vectorised reader agrees with it.

    :param raw: the line's bytes without the newline (a final CR is dropped).
    :param line: its number, for messages.  :param where: the file name as messages show it.
    :param names: the scenario's guest mapping names.
    :raises ParseError: ``file:line: field: what (expected ...)``.
    """
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    if len(raw) > MAX_LINE:
        raise _error(where, line, "line", f"{len(raw)} bytes long",
                     f"at most {MAX_LINE} bytes per line")
    bare = raw.strip(b" \t")
    if bare == b"" or bare.startswith(b"#"):
        return None  # a comment is skipped whatever bytes it holds
    try:
        stripped = bare.decode("utf-8")
    except UnicodeDecodeError as exc:
        col = exc.start + 1 + len(raw) - len(raw.lstrip(b" \t"))
        raise _error(where, line, "line", f"not UTF-8 ({exc.reason} at column {col})",
                     "UTF-8 text") from None
    fields: list[object]
    if stripped.startswith("{"):
        fields = _json_fields(stripped, where, line)
    else:
        parts = [p.strip(" \t") for p in stripped.split(",")]
        if parts[0] == FIELDS[0]:
            if parts != list(FIELDS[:len(parts)]) or len(parts) < 3:
                raise _error(where, line, "header", show(stripped),
                             "the columns " + ",".join(FIELDS) + " (cpu and time optional)")
            return None
        if not 3 <= len(parts) <= 5:
            raise _error(where, line, "line", f"{len(parts)} fields",
                         "3 to 5 comma-separated fields: " + ",".join(FIELDS))
        fields = parts + [None] * (5 - len(parts))
    addr, size, kind, cpu, t = fields
    assert isinstance(addr, str) and isinstance(kind, str)
    mapping, address = _address(addr, names, where, line)
    n = _size(size, where, line)
    op, instr = _kind(kind, where, line)
    return TraceAccess(line, mapping, address, n, op, instr, _cpu(cpu, where, line),
                       _time(t, where, line))


# --- the scenario's guest mappings as IPA segments -------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Where a trace's addresses go: the guest mappings, and the IPA intervals between every
    boundary at which an access's answer can change.

    :param scenario: the scenario (its guest mappings, in file order).
    :param policies: the policy names replayed.  :param fwb: the FWB settings replayed.
    :param bounds: sorted interval starts (IPA; the first is 0): interval ``i`` is
        ``bounds[i] <= ipa < bounds[i + 1]``.
    :param owner: per interval, the one guest mapping covering it, -1 for none, -2 for several.
    """

    scenario: Scenario
    policies: tuple[str, ...]
    fwb: tuple[bool, ...]
    bounds: Any  # uint64 array
    owner: Any  # int32 array
    ipa: Any  # uint64 per mapping
    size: Any  # uint64 per mapping
    names: dict[str, int] = field(default_factory=dict)

    @property
    def mappings(self) -> tuple[GuestMappingSpec, ...]:
        return self.scenario.guest_mappings

    @property
    def combos(self) -> tuple[tuple[str, bool], ...]:
        """Every (policy, FWB) replayed, in the order of the results."""
        return tuple((p, f) for p in self.policies for f in self.fwb)

    def resolve(self, a: TraceAccess, where: str) -> tuple[int, int]:
        """(guest mapping index, offset) of an access; (-1, 0) outside every mapping.

        :raises ParseError: the IPA is in several mappings, or the access crosses a mapping's end.
        """
        import numpy as np

        if a.mapping is not None:
            m = self.names[a.mapping]
            gm = self.mappings[m]
            if a.address > gm.size - a.size:
                raise _error(where, a.line, "addr", f"offset {show_int(a.address)} + size "
                             f"{a.size} is beyond guest mapping {show(gm.name)} "
                             f"({show_int(gm.size)} bytes)", "an access inside the mapping")
            return m, a.address
        i = int(np.searchsorted(self.bounds, np.uint64(a.address), side="right")) - 1
        m = int(self.owner[i])
        if m == -1:
            return -1, 0
        if m == -2:
            inside = [g.name for g in self.mappings if g.ipa <= a.address < g.ipa + g.size]
            raise _error(where, a.line, "addr", f"IPA {show_int(a.address)} is inside guest "
                         f"mappings {', '.join(show(n) for n in inside)}",
                         f"NAME+OFFSET to say which, e.g. {show(inside[0])[1:-1]}+0x"
                         f"{a.address - self.mappings[self.names[inside[0]]].ipa:x}")
        gm = self.mappings[m]
        if a.address - gm.ipa > gm.size - a.size:
            raise _error(where, a.line, "addr", f"IPA {show_int(a.address)} + size {a.size} "
                         f"crosses the end of guest mapping {show(gm.name)} (IPA "
                         f"{show_int(gm.ipa)} + {show_int(gm.size)})", "an access inside it")
        return m, a.address - gm.ipa


def _breaks(r: Result, regions: Sequence[Any]) -> set[int]:
    """Offsets inside one guest mapping where the backing can change: the memslot's end, a host
    region's edges, the edges of a page with read side effects (from the mapping's evaluation)."""
    e = r.evaluation
    gm = r.mapping
    out: set[int] = set()
    if e.memslot is not None:
        out.add(e.memslot.guest_phys_addr + e.memslot.memory_size - gm.ipa)
    if e.leaf is None:
        return {b for b in out if 0 < b < gm.size}
    pa0 = e.leaf.phys + (e.ipa - e.leaf.ipa)
    for reg in regions:
        if reg.end <= pa0 or reg.base >= pa0 + gm.size:
            continue
        out |= {reg.base - pa0, reg.end - pa0}
        for page in reg.read_side_effects:
            start = reg.base + (page << 12)
            out |= {start - pa0, start + (1 << 12) - pa0}
    return {b for b in out if 0 < b < gm.size}


def build_layout(sc: Scenario, *, policies: Sequence[str] | None = None,
                 fwb: bool | None = None) -> Layout:
    """The :class:`Layout` of a scenario for the policies and FWB settings replayed.

    :param sc: the loaded scenario.
    :param policies: policy names (default: the scenario's).
    :param fwb: one FWB setting (default: the scenario's ``cpu.fwb``).
    """
    import numpy as np

    from .replay import build_platform, replay

    names = tuple(dict.fromkeys(policies)) if policies else sc.policies
    fwbs = (fwb,) if fwb is not None else sc.cpu.fwb
    points: set[int] = {0}
    spans: list[tuple[int, int]] = []
    if sc.guest_mappings:
        base = replay(replace(sc, accesses=()), policies=names[:1], fwb=fwbs[0])
        regions = build_platform(sc).regions()
        for gm, r in zip(sc.guest_mappings, base.results, strict=True):
            spans.append((gm.ipa, gm.ipa + gm.size))
            points |= {gm.ipa, gm.ipa + gm.size}
            points |= {gm.ipa + b for b in _breaks(r, regions)}
    bounds = np.array(sorted(p for p in points if p <= _U64), dtype=np.uint64)
    owner = np.full(len(bounds), -1, dtype=np.int32)
    for m, (lo, hi) in enumerate(spans):
        i0 = int(np.searchsorted(bounds, np.uint64(lo)))
        i1 = int(np.searchsorted(bounds, np.uint64(hi))) if hi <= _U64 else len(bounds)
        cur = owner[i0:i1]
        owner[i0:i1] = np.where(cur == -1, m, -2)
    ipas = np.array([g.ipa for g in sc.guest_mappings], dtype=np.uint64)
    sizes = np.array([g.size for g in sc.guest_mappings], dtype=np.uint64)
    return Layout(sc, names, tuple(fwbs), bounds, owner, ipas, sizes,
                  {g.name: i for i, g in enumerate(sc.guest_mappings)})


# --- the scalar engine's answer for one access -------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """What one access does under one policy and FWB setting.

    :param outcome: the phrase ``memattr run`` prints for the access.
    :param fault: the access does not complete: an alignment or stage-1 fault, an injected
        abort, a KVM_RUN error, an exit the VMM cannot emulate (not an MMIO exit).
    :param effective: the effective type, when one.
    :param hazards: the hazards of the access at level 'hazard' or 'unknown'
        (:mod:`memattr.analysis.hazards`, as ``memattr run`` reports them).
    """

    outcome: str
    fault: bool
    effective: str | None = None
    hazards: tuple[Hazard, ...] = ()

    @property
    def offending(self) -> bool:
        return self.fault or any(h.level == "hazard" for h in self.hazards)

    def to_json(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "fault": self.fault, "effective": self.effective,
                "hazards": [h.to_json() for h in self.hazards]}


_OUTSIDE_ANSWER = Answer(OUTSIDE, False)
_COUNTED = ("hazard", "unknown")


def is_fault(a: AccessResult) -> bool:
    """Whether a replayed access does not complete (see :class:`Answer` ``fault``)."""
    from ..linux.events import EventKind

    e = a.evaluation
    if e.setup_failed is not None or e.stage1_fault is not None or e.injected:
        return True
    if e.alignment is not None and e.alignment.faults:
        return True
    if e.errno is not None:
        return True
    return any(ev.kind is EventKind.NISV_EXIT for ev in e.events)


def answer_of(layout: Layout, m: int, offset: int, size: int, op: str, instr: str
              ) -> dict[tuple[str, bool], Answer]:
    """The scalar engine's answer for one access, per (policy, FWB): the access replayed as the
    only ``[[access]]`` of its guest mapping (:func:`memattr.analysis.replay.replay`).

    :param layout: the scenario and the policies and FWB settings.
    :param m: the guest mapping's index (-1: outside every mapping, not evaluated).
    :param offset: the byte offset into the mapping.
    """
    if m < 0:
        return {c: _OUTSIDE_ANSWER for c in layout.combos}
    from .replay import replay

    sc = layout.scenario
    gm = sc.guest_mappings[m]
    spec = AccessSpec(gm.name, op, size, offset, instr)
    rp = replay(replace(sc, guest_mappings=(gm,), accesses=(spec,)), policies=layout.policies,
                fwb=layout.fwb[0] if len(layout.fwb) == 1 else None)
    out: dict[tuple[str, bool], Answer] = {}
    for r in rp.results:
        (acc,) = r.accesses
        eff = acc.evaluation.effective
        hz = tuple(h for h in r.hazards if h.level in _COUNTED)
        out[(r.policy_name, r.fwb)] = Answer(acc.outcome, is_fault(acc),
                                             eff.short if eff is not None else None, hz)
    return out


# --- reading: pieces of lines ------------------------------------------------------------------------


def open_trace(path: str, *, arg: str | None = "TRACE") -> tuple[io.BufferedIOBase, int | None]:
    """A trace file opened for streaming (gzip told by its magic bytes), and its size on disk.

    :param path: a file name, or '-' for standard input.
    :param arg: the command-line argument that named it, for messages.
    """
    import gzip

    from ..inputs.files import open_stream

    raw, size = open_stream(path, what="trace file", arg=arg)
    buffered: Any = raw if hasattr(raw, "peek") else io.BufferedReader(raw)  # type: ignore[arg-type]
    try:
        head = buffered.peek(2)[:2]
    except OSError:
        head = b""
    if head == _GZIP_MAGIC:
        return gzip.GzipFile(fileobj=buffered, mode="rb"), size  # type: ignore[return-value]
    return buffered, size


def _pieces(stream: Any, where: str, progress: Callable[[int], None] | None = None
            ) -> Iterator[tuple[int, bytes]]:
    """(number of lines before the piece, piece) with whole lines only, at most about CHUNK
    bytes each; the last piece may end without a newline."""
    import gzip
    import zlib

    carry = b""
    lines = 0
    while True:
        try:
            block = stream.read(CHUNK)
        except (OSError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise ParseError(f"{where}: after line {lines}: cannot read the trace: "
                             f"{type(exc).__name__}: {exc} (expected a text file, or gzip)"
                             ) from None
        if progress is not None:
            progress(len(block))
        if not block:
            break
        data = carry + block if carry else block
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            if len(carry) > MAX_LINE + 1:
                raise _error(where, lines + 1, "line", f"more than {MAX_LINE} bytes long",
                             f"at most {MAX_LINE} bytes per line")
            continue
        carry = data[cut:]
        yield lines, data[:cut]
        lines += data.count(b"\n", 0, cut)
        if len(carry) > MAX_LINE + 1:
            raise _error(where, lines + 1, "line", f"more than {MAX_LINE} bytes long",
                         f"at most {MAX_LINE} bytes per line")
    if carry:
        yield lines, carry


# --- the vectorised parser ---------------------------------------------------------------------------

_WIDTH = 32  # tokens (mapping names, kinds) matched in the fast path: at most this many bytes
_PAD = 64  # zero bytes around a piece, so that every window of up to _PAD bytes exists
_JSON_KEYS = (b'{"addr":"', b'"size":', b'"kind":"', b'"cpu":', b'"time":')


class _Luts:
    """Byte lookup tables of the vectorised parser (built once)."""

    def __init__(self) -> None:
        import numpy as np

        self.hex = np.full(256, 255, dtype=np.uint8)
        for i, ch in enumerate(b"0123456789abcdef"):
            self.hex[ch] = i
        for i, ch in enumerate(b"ABCDEF"):
            self.hex[ch] = 10 + i
        self.dec = np.full(256, 255, dtype=np.uint8)
        for i, ch in enumerate(b"0123456789"):
            self.dec[ch] = i
        # timestamps: 1 a digit, 2 a dot, 4 anything else
        self.time = np.full(256, 4, dtype=np.uint8)
        self.time[np.frombuffer(b"0123456789", dtype=np.uint8)] = 1
        self.time[ord(".")] = 2
        # JSON string bytes the fast path leaves to the scalar parser: quote, backslash, controls
        self.jbad = np.zeros(256, dtype=bool)
        self.jbad[:0x20] = True
        self.jbad[[ord('"'), ord("\\")]] = True
        # keep the low k bytes of a little-endian word, k = 0..8
        self.keep = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=np.uint64)
        self.size = np.full(100, -1, dtype=np.int8)
        for i, sz in enumerate(ACCESS_SIZES):
            self.size[sz] = i


_LUTS: _Luts | None = None


def _luts() -> _Luts:
    global _LUTS
    if _LUTS is None:
        _LUTS = _Luts()
    return _LUTS


class _Windows:
    """Fixed-width windows over a piece padded with zeros: ``at(pos, w)`` copies the ``w`` bytes
    from each position (one row per position) without building an index matrix."""

    def __init__(self, buf: Any) -> None:
        import numpy as np
        from numpy.lib.stride_tricks import sliding_window_view

        self.padded = np.concatenate((np.zeros(_PAD, np.uint8), buf, np.zeros(_PAD, np.uint8)))
        self._views: dict[int, Any] = {}
        self._view = sliding_window_view

    def at(self, pos: Any, width: int) -> Any:
        v = self._views.get(width)
        if v is None:
            v = self._views[width] = self._view(self.padded, width)
        return v[pos + _PAD]

    def ending(self, end: Any, width: int) -> Any:
        """The ``width`` bytes before each ``end`` (right-aligned fields)."""
        return self.at(end - width, width)


class _Tokens:
    """Byte strings of at most _WIDTH bytes, matched exactly against fields of a piece."""

    def __init__(self, tokens: Sequence[bytes]) -> None:
        import numpy as np

        self.words = np.zeros((len(tokens) + 1, _WIDTH // 8), dtype=np.uint64)
        self.lens = np.full(len(tokens) + 1, -1, dtype=np.int64)
        for i, t in enumerate(tokens):
            if 0 < len(t) <= _WIDTH:
                pad = t + b"\0" * (_WIDTH - len(t))
                self.words[i] = np.frombuffer(pad, dtype="<u8")
                self.lens[i] = len(t)
        self.mult = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                              0x27D4EB2F165667C5], dtype=np.uint64)[: _WIDTH // 8]
        h = self._hash(self.words, self.lens)
        valid = np.flatnonzero(self.lens > 0)
        order = np.argsort(h[valid], kind="stable")
        self.sorted_h = h[valid][order]
        self.index = valid[order]

    def _hash(self, words: Any, lens: Any) -> Any:
        import numpy as np

        with np.errstate(over="ignore"):
            return (words * self.mult).sum(axis=1, dtype=np.uint64) ^ lens.astype(np.uint64)

    def match(self, win: _Windows, s: Any, e: Any) -> Any:
        """Index of the token equal to the bytes ``s:e`` of each field, or -1 (equality is
        checked byte for byte; the hash only finds the candidate)."""
        import numpy as np

        n = len(s)
        out = np.full(n, -1, dtype=np.int64)
        if n == 0 or len(self.sorted_h) == 0:
            return out
        ln = e - s
        nw = _words_for(ln, _WIDTH)  # only as many words as the longest field needs
        words = win.at(s, 8 * nw).view("<u8")  # (n, nw) little-endian words
        k = np.clip(ln[:, None] - 8 * np.arange(nw), 0, 8)
        words = words & _luts().keep[k]
        with np.errstate(over="ignore"):
            h = (words * self.mult[:nw]).sum(axis=1, dtype=np.uint64) ^ ln.astype(np.uint64)
        j = np.minimum(np.searchsorted(self.sorted_h, h), len(self.sorted_h) - 1)
        cand = self.index[j]
        hit = (ln > 0) & (ln <= _WIDTH) & (self.sorted_h[j] == h) & (self.lens[cand] == ln)
        hit &= (self.words[cand, :nw] == words).all(axis=1)
        out[hit] = cand[hit]
        return out


def _words_for(lengths: Any, limit: int) -> int:
    """64-bit words needed to hold the longest of ``lengths`` (at most ``limit`` bytes)."""
    longest = int(lengths.max()) if len(lengths) else 1
    return max(1, (min(max(longest, 1), limit) + 7) // 8)


def _any_rows(mask: Any) -> Any:
    """``mask.any(axis=1)`` for a C-contiguous bool matrix whose width is a multiple of 8
    (read as 64-bit words: much faster than a reduction along a short axis)."""
    import numpy as np

    words = np.ascontiguousarray(mask).view(np.uint64)
    out = words[:, 0] != 0
    for k in range(1, words.shape[1]):
        out |= words[:, k] != 0
    return out


def _hex(win: _Windows, s: Any, e: Any) -> tuple[Any, Any]:
    """Hex digits ``s:e`` (at most 16) of each field: (uint64 values, ok)."""
    import numpy as np

    ln = e - s
    d = _luts().hex[win.ending(e, 16)]
    outside = np.arange(16) < (16 - ln)[:, None]
    ok = (ln >= 1) & (ln <= 16) & ~_any_rows((d == 255) & ~outside)
    d[outside] = 0
    packed = np.ascontiguousarray(d[:, 0::2] * np.uint8(16) + d[:, 1::2])  # two digits a byte
    return packed.view(">u8").ravel().astype(np.uint64), ok


def _dec(win: _Windows, s: Any, e: Any, width: int) -> tuple[Any, Any]:
    """Decimal digits ``s:e`` (at most ``width`` <= 19) of each field: (uint64 values, ok)."""
    import numpy as np

    ln = e - s
    ok = (ln >= 1) & (ln <= width)
    if width <= 8:  # short numbers: one column at a time
        pb, dec = win.padded, _luts().dec
        value = np.zeros(len(s), dtype=np.uint64)
        scale = np.uint64(1)
        for k in range(width):
            d = dec[pb[e - 1 - k + _PAD]]
            present = k < ln
            ok &= ~present | (d != 255)
            value += np.where(present & (d != 255), d, 0).astype(np.uint64) * scale
            scale *= np.uint64(10)
        return value, ok
    d = _luts().dec[win.ending(e, width)]
    outside = np.arange(width) < (width - ln)[:, None]
    ok &= ~((d == 255) & ~outside).any(axis=1)
    d[outside] = 0
    weights = np.uint64(10) ** np.arange(width - 1, -1, -1, dtype=np.uint64)
    return (d.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64), ok


def _stamp_ok(win: _Windows, s: Any, e: Any, dots: Any) -> Any:
    """Each field is empty or a timestamp as :data:`_TIME` says (digits, at most one dot, a digit
    at each end, at most MAX_TIME characters).

    :param dots: the positions of '.' in the piece.
    """
    import numpy as np

    ln = e - s
    pb, t = win.padded, _luts().time
    width = 8 * _words_for(ln, MAX_TIME)
    c = t[win.at(s, width)]
    ok = ~_any_rows((c == 4) & (np.arange(width) < ln[:, None]))
    ok &= np.searchsorted(dots, e) - np.searchsorted(dots, s) <= 1
    ok &= (t[pb[s + _PAD]] == 1) & (t[pb[e - 1 + _PAD]] == 1)
    return (ln == 0) | ((ln <= MAX_TIME) & ok)


@dataclass
class _Piece:
    """What the vectorised parser made of one piece: one entry per line."""

    line: Any  # int64 line numbers
    state: Any  # 0 skip (blank, comment), 1 parsed, 2 for the scalar parser
    mapping: Any  # int32: -1 for an IPA
    address: Any  # uint64: the IPA, or the offset into the mapping
    size: Any  # int8 index into ACCESS_SIZES
    kind: Any  # int16 token index (the vectorised parser) or KINDS index
    starts: Any
    ends: Any


def _parse_piece(data: bytes, first_line: int, names: _Tokens, kinds: _Tokens) -> _Piece:
    """The vectorised parser: every line it can read as the scalar parser would, the others
    marked for the scalar parser (state 2).  It never rejects a line itself."""
    import numpy as np

    L = _luts()
    buf = np.frombuffer(data, dtype=np.uint8)
    nb = len(buf)
    win = _Windows(buf)
    pb = win.padded
    nl = np.flatnonzero(buf == 10)
    ends = nl if (nb == 0 or buf[-1] == 10) else np.append(nl, nb)
    n = len(ends)
    starts = np.empty_like(ends)
    if n:
        starts[0] = 0
        starts[1:] = ends[:-1] + 1
    line = first_line + 1 + np.arange(n, dtype=np.int64)
    eff = ends - ((ends > starts) & (pb[ends - 1 + _PAD] == 13))
    ln = eff - starts
    state = np.full(n, 2, dtype=np.int8)
    state[(ln == 0) | (pb[starts + _PAD] == ord("#"))] = 0
    piece = _Piece(line, state, np.full(n, -1, dtype=np.int32), np.zeros(n, dtype=np.uint64),
                   np.full(n, -1, dtype=np.int8), np.full(n, -1, dtype=np.int16), starts, eff)
    cand = np.flatnonzero((state == 2) & (ln <= MAX_LINE))
    if len(cand) == 0:
        return piece
    s0, e_all = starts[cand], eff[cand]
    cpos = np.flatnonzero(buf == 44)
    c0 = np.searchsorted(cpos, s0)
    nc = np.searchsorted(cpos, e_all) - c0
    keep = (nc >= 2) & (nc <= 4) & (pb[s0 + _PAD] != ord(" ")) & (pb[s0 + _PAD] != ord("\t"))
    cand, s0, e_all, c0, nc = cand[keep], s0[keep], e_all[keep], c0[keep], nc[keep]
    cext = np.append(cpos, np.full(5, nb, dtype=cpos.dtype))
    fe = [np.where(nc > k, cext[c0 + k], e_all) for k in range(5)]
    fs = [s0] + [np.minimum(cext[c0 + k - 1] + 1, fe[k]) for k in range(1, 5)]
    good = np.ones(len(cand), dtype=bool)
    is_json = pb[s0 + _PAD] == ord("{")
    if is_json.any():
        # The canonical JSON line: {"addr":"A","size":N,"kind":"K"[,"cpu":C][,"time":T]}
        for k, key in enumerate(_JSON_KEYS):
            present = is_json & (nc >= k)
            lit = np.frombuffer(key, dtype=np.uint8)
            same = fe[k] - fs[k] >= len(key)
            for i, ch in enumerate(lit):
                same &= pb[fs[k] + i + _PAD] == ch
            good &= ~present | same
            fs[k] = np.where(present & same, fs[k] + len(key), fs[k])
        for k in range(5):
            closing = is_json & (nc == k)
            good &= ~closing | (pb[fe[k] - 1 + _PAD] == ord("}"))
            fe[k] = np.where(closing, np.maximum(fe[k] - 1, fs[k]), fe[k])
        for k in (0, 2):  # the string values end in a quote
            good &= ~is_json | ((fe[k] > fs[k]) & (pb[fe[k] - 1 + _PAD] == ord('"')))
            fe[k] = np.where(is_json, np.maximum(fe[k] - 1, fs[k]), fe[k])
        # JSON strings hold no quote, backslash or control byte here (the scalar parser reads
        # escapes); JSON numbers have no leading zero
        j = np.flatnonzero(is_json)
        inside = np.arange(_PAD) < (fe[0][j] - fs[0][j])[:, None]
        good[j] &= ~_any_rows(L.jbad[win.at(fs[0][j], _PAD)] & inside)
        good[j] &= fe[0][j] - fs[0][j] < _PAD
        for k in (1, 3, 4):
            lz = (fe[k] - fs[k] > 1) & (pb[fs[k] + _PAD] == ord("0")) & \
                (L.dec[pb[fs[k] + 1 + _PAD]] != 255)
            good &= ~(is_json & (nc >= k) & lz)
            good &= ~(is_json & (nc >= k) & (fe[k] == fs[k]))  # an empty value is not JSON
    # addr: an IPA, or NAME+OFFSET (exactly one '+')
    ppos = np.flatnonzero(buf == 43)
    p0 = np.searchsorted(ppos, fs[0])
    npl = np.searchsorted(ppos, fe[0]) - p0
    good &= npl <= 1
    named = npl == 1
    plus = np.append(ppos, [nb])[p0]
    ns = np.where(named, plus + 1, fs[0])
    ne = fe[0]
    m = np.full(len(cand), -1, dtype=np.int64)
    idx = np.flatnonzero(named)
    if len(idx):
        m[idx] = names.match(win, fs[0][idx], plus[idx])
        good[idx] &= m[idx] >= 0
    hexform = (ne - ns >= 3) & (pb[ns + _PAD] == ord("0")) & \
        ((pb[ns + 1 + _PAD] == ord("x")) | (pb[ns + 1 + _PAD] == ord("X")))
    value = np.zeros(len(cand), dtype=np.uint64)
    hi = np.flatnonzero(hexform)
    if len(hi):
        value[hi], ok = _hex(win, ns[hi] + 2, ne[hi])
        good[hi] &= ok
    di = np.flatnonzero(~hexform)
    if len(di):
        value[di], ok = _dec(win, ns[di], ne[di], 19)
        good[di] &= ok
    # size, kind
    v, ok = _dec(win, fs[1], fe[1], 2)
    sz = L.size[np.minimum(v, 99).astype(np.int64)]
    good &= ok & (sz >= 0)
    kd = kinds.match(win, fs[2], fe[2])
    good &= kd >= 0
    # cpu and time: only checked here (the scalar parser reads them for the lines shown)
    c3 = np.flatnonzero(nc >= 3)
    if len(c3):
        v, ok = _dec(win, fs[3][c3], fe[3][c3], 5)
        good[c3] &= (fe[3][c3] == fs[3][c3]) | (ok & (v <= CPU_MAX))
    c4 = np.flatnonzero(nc >= 4)
    if len(c4):
        good[c4] &= _stamp_ok(win, fs[4][c4], fe[4][c4], np.flatnonzero(buf == 46))
    rows = cand[good]
    state[rows] = 1
    piece.mapping[rows] = m[good]
    piece.address[rows] = value[good]
    piece.size[rows] = sz[good]
    piece.kind[rows] = kd[good]
    return piece


# --- the replay ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offender:
    """An access that faults or has a hazard under some policy and FWB setting.

    :param access: the access as its line gives it.
    :param mapping: the guest mapping it falls in.
    :param answers: the answer per (policy, FWB) where it offends.
    """

    access: TraceAccess
    mapping: str
    answers: tuple[tuple[tuple[str, bool], Answer], ...]

    def to_json(self) -> dict[str, Any]:
        return {**self.access.to_json(), "guest_mapping": self.mapping,
                "answers": [{"policy": p, "fwb": f, **a.to_json()} for (p, f), a in self.answers]}


@dataclass
class TraceReplay:
    """The counts of a trace replayed through a scenario.

    :param accesses: accesses read.  :param lines: lines read.  :param outside: accesses outside
        every guest mapping.  :param classes: distinct access classes evaluated.
    :param outcomes: per (policy, FWB), accesses per outcome phrase.
    :param faults: per (policy, FWB), accesses that fault.
    :param hazards: per (policy, FWB), accesses per (hazard kind, level).
    :param offenders: the first accesses that fault or have a hazard, in file order.
    :param by_mapping: accesses per guest mapping name.
    """

    layout: Layout
    name: str
    accesses: int = 0
    lines: int = 0
    outside: int = 0
    classes: int = 0
    outcomes: dict[tuple[str, bool], Counter[str]] = field(default_factory=dict)
    faults: dict[tuple[str, bool], int] = field(default_factory=dict)
    hazards: dict[tuple[str, bool], Counter[tuple[str, str]]] = field(default_factory=dict)
    offenders: list[Offender] = field(default_factory=list)
    offending: int = 0
    by_mapping: Counter[str] = field(default_factory=Counter)

    @property
    def found(self) -> set[str]:
        """What ``--fail-on`` can name that the trace has: 'fault', 'hazard'."""
        out = set()
        if any(self.faults.values()):
            out.add("fault")
        if any(lv == "hazard" for c in self.hazards.values() for (_k, lv) in c):
            out.add("hazard")
        return out

    def to_json(self) -> dict[str, Any]:
        lay = self.layout
        sc = lay.scenario
        return {
            "schema": "memattr.trace/1",
            "scenario": {"name": sc.name, "path": sc.path},
            "trace": self.name,
            "policies": list(lay.policies),
            "fwb": list(lay.fwb),
            "lines": self.lines,
            "accesses": self.accesses,
            "outside": self.outside,
            "classes": self.classes,
            "by_mapping": dict(self.by_mapping),
            "results": [{"policy": p, "fwb": f,
                         "outcomes": dict(self.outcomes.get((p, f), {})),
                         "faults": self.faults.get((p, f), 0),
                         "hazards": [{"kind": k, "level": lv, "accesses": n}
                                     for (k, lv), n in self.hazards.get((p, f), {}).items()]}
                        for p, f in lay.combos],
            "offending": self.offending,
            "first_offending": [o.to_json() for o in self.offenders],
        }


_DENSE = 1 << 22  # class codes looked up in an array up to this many (a dict beyond)


class _Classes:
    """Access classes seen so far, their answers, and counts."""

    def __init__(self, layout: Layout) -> None:
        import numpy as np

        self.layout = layout
        self.n_map = len(layout.mappings) + 1  # the last: outside
        self.slot_of: dict[int, int] = {}
        self.answers: list[dict[tuple[str, bool], Answer]] = []
        self.mapping_of: list[int] = []
        self.counts = np.zeros(0, dtype=np.int64)
        self.offends = np.zeros(0, dtype=bool)
        space = len(layout.bounds) * self.n_map * len(ACCESS_SIZES) * 2 * len(KINDS)
        # code -> slot as an array when the code space is small (it nearly always is)
        self.dense = np.full(space, -1, dtype=np.int64) if space <= _DENSE else None

    def code(self, interval: Any, m: Any, size: Any, aligned: Any, kind: Any) -> Any:
        import numpy as np

        seg = interval.astype(np.int64) * self.n_map + m
        return ((seg * len(ACCESS_SIZES) + size) * 2 + aligned) * len(KINDS) + kind

    def slots(self, codes: Any) -> Any:
        """The slot of each class code, -1 for a class not seen yet."""
        import numpy as np

        if self.dense is not None:
            return self.dense[codes]
        return np.array([self.slot_of.get(c, -1) for c in codes.tolist()], dtype=np.int64)

    def add(self, code: int, m: int, offset: int, size: int, op: str, instr: str) -> None:
        import numpy as np

        ans = answer_of(self.layout, m, offset, size, op, instr)
        if self.dense is not None:
            self.dense[code] = len(self.answers)
        self.slot_of[code] = len(self.answers)
        self.answers.append(ans)
        self.mapping_of.append(m)
        self.counts = np.append(self.counts, 0)
        self.offends = np.append(self.offends, any(a.offending for a in ans.values()))


class _Replayer:
    """Counts the pieces of one trace: parse, resolve, classify, count, keep the offenders."""

    def __init__(self, layout: Layout, name: str, show: int) -> None:
        import numpy as np

        self.layout, self.name, self.show = layout, name, show
        self.names = list(layout.names)
        self.name_tokens = _Tokens([n.encode("utf-8") for n in self.names])
        self.kind_tokens = _Tokens([t.encode() for t in KIND_TOKENS])
        self.kind_of_token = np.array(list(KIND_TOKENS.values()), dtype=np.int16)
        self.classes = _Classes(layout)
        self.result = TraceReplay(layout, name)
        self.sizes = np.array(ACCESS_SIZES, dtype=np.uint64)
        self.map_ipa = np.append(layout.ipa, np.uint64(0)).astype(np.uint64)
        self.map_size = np.append(layout.size, np.uint64(0)).astype(np.uint64)

    def _line(self, data: bytes, p: _Piece, i: int) -> TraceAccess | None:
        return parse_line(data[p.starts[i]:p.ends[i]], int(p.line[i]), self.name, self.names)

    def _slow(self, data: bytes, p: _Piece) -> tuple[int, MemattrError] | None:
        """Lines the vectorised parser left: the scalar parser reads them (first error kept)."""
        import numpy as np

        for i in np.flatnonzero(p.state == 2).tolist():
            try:
                a = self._line(data, p, i)
            except MemattrError as exc:
                return int(p.line[i]), exc
            if a is None:
                p.state[i] = 0
                continue
            p.state[i] = 1
            p.mapping[i] = self.layout.names[a.mapping] if a.mapping is not None else -1
            p.address[i] = a.address
            p.size[i] = _SIZE_INDEX[a.size]
            p.kind[i] = KIND_TOKENS[a.kind]
        return None

    def piece(self, first_line: int, data: bytes) -> None:
        """Count one piece of whole lines."""
        import numpy as np

        lay, res, classes = self.layout, self.result, self.classes
        p = _parse_piece(data, first_line, self.name_tokens, self.kind_tokens)
        res.lines = first_line + len(p.line)
        p.kind = np.where(p.kind >= 0, self.kind_of_token[np.maximum(p.kind, 0)], -1)
        errors: list[tuple[int, MemattrError]] = []
        slow = self._slow(data, p)
        if slow is not None:
            errors.append(slow)
        rows = np.flatnonzero(p.state == 1)
        if errors:
            rows = rows[p.line[rows] < errors[0][0]]
        # where each access goes: its guest mapping, the IPA interval, refusals
        m = p.mapping[rows].astype(np.int64)
        addr, sz = p.address[rows], p.size[rows].astype(np.int64)
        nbytes = self.sizes[sz]
        named = m >= 0
        mn = np.where(named, m, len(self.map_ipa) - 1)
        refused = named & ((nbytes > self.map_size[mn]) | (addr > self.map_size[mn] - np.minimum(
            nbytes, self.map_size[mn])))
        ipa = np.where(named, self.map_ipa[mn] + np.where(refused, 0, addr), addr)
        interval = np.searchsorted(lay.bounds, ipa, side="right") - 1
        owner = lay.owner[interval].astype(np.int64)
        m = np.where(named, m, owner)
        inside = m >= 0
        mm = np.where(inside, m, len(self.map_ipa) - 1)
        refused |= ~named & (owner == -2)
        refused |= ~named & inside & ((nbytes > self.map_size[mm]) | (
            ipa - self.map_ipa[mm] > self.map_size[mm] - np.minimum(nbytes, self.map_size[mm])))
        bad = np.flatnonzero(refused)
        if len(bad):
            i = int(rows[bad[0]])
            a = self._line(data, p, i)
            assert a is not None
            try:
                lay.resolve(a, self.name)
            except MemattrError as exc:
                errors.append((a.line, exc))
            else:  # pragma: no cover - the vectorised checks and resolve() agree
                raise AssertionError(f"line {a.line}: resolve() accepted what the reader refused")
        stop = min((e[0] for e in errors), default=None)
        if stop is not None:
            keep = p.line[rows] < stop
            rows, m, ipa, sz, interval, inside, nbytes = (
                x[keep] for x in (rows, m, ipa, sz, interval, inside, nbytes))
        kind = np.where(inside, p.kind[rows].astype(np.int64), 0)
        aligned = ((ipa & (nbytes - np.uint64(1))) == 0).astype(np.int64)
        codes = classes.code(np.where(inside, interval, 0), np.where(inside, m, classes.n_map - 1),
                             sz, aligned, kind)
        slot = classes.slots(codes)
        new = np.flatnonzero(slot < 0)
        if len(new):
            uniq, first = np.unique(codes[new], return_index=True)
            for code, f in zip(uniq.tolist(), new[first].tolist(), strict=True):
                line = int(p.line[rows[f]])
                mi = int(m[f]) if inside[f] else -1
                offset = int(ipa[f]) - lay.mappings[mi].ipa if mi >= 0 else 0
                op, instr = KINDS[int(kind[f])]
                try:
                    classes.add(code, mi, offset, ACCESS_SIZES[int(sz[f])], op, instr)
                except MemattrError as exc:
                    errors.append((line, ParseError(f"{self.name}:{line}: {exc}")))
            slot = classes.slots(codes)
        if errors:
            raise min(errors, key=lambda e: e[0])[1]
        classes.counts += np.bincount(slot, minlength=len(classes.counts))
        res.accesses += len(rows)
        hits = np.flatnonzero(classes.offends[slot])
        res.offending += len(hits)
        for h in hits[: max(self.show - len(res.offenders), 0)].tolist():
            a = self._line(data, p, int(rows[h]))
            assert a is not None
            k = int(slot[h])
            answers = classes.answers[k]
            res.offenders.append(Offender(
                a, lay.mappings[classes.mapping_of[k]].name,
                tuple((c, x) for c, x in answers.items() if x.offending)))

    def finish(self) -> TraceReplay:
        """The totals per outcome and hazard, from the class counts."""
        lay, res, classes = self.layout, self.result, self.classes
        for combo in lay.combos:
            res.outcomes[combo] = Counter()
            res.faults[combo] = 0
            res.hazards[combo] = Counter()
        for k, count in enumerate(classes.counts.tolist()):
            if not count:
                continue
            mi = classes.mapping_of[k]
            if mi < 0:
                res.outside += count
            else:
                res.by_mapping[lay.mappings[mi].name] += count
            for combo, answer in classes.answers[k].items():
                res.outcomes[combo][answer.outcome] += count
                if answer.fault:
                    res.faults[combo] += count
                for key in dict.fromkeys((h.kind, h.level) for h in answer.hazards):
                    res.hazards[combo][key] += count
        res.classes = len(classes.answers)
        return res


def replay_stream(layout: Layout, stream: Any, name: str, *, show: int = 10,
                  progress: Callable[[int], None] | None = None) -> TraceReplay:
    """Replay a trace read from a binary stream (already decompressed).

    :param layout: the scenario, policies and FWB settings (:func:`build_layout`).
    :param stream: the trace's bytes (``read(n)``).
    :param name: the file name as messages show it.
    :param show: how many offending accesses to keep.
    :param progress: called with the number of bytes read, after each read.
    """
    r = _Replayer(layout, name, show)
    for first_line, data in _pieces(stream, name, progress):
        r.piece(first_line, data)
    return r.finish()


def replay_trace(sc: Scenario, path: str, *, policies: Sequence[str] | None = None,
                 fwb: bool | None = None, show: int = 10, arg: str | None = "TRACE",
                 progress: Callable[[int, int | None], None] | None = None) -> TraceReplay:
    """Replay a trace file through a scenario (see the module's docstring).

    :param sc: the loaded scenario.
    :param path: the trace file ('-' for standard input; gzip told by its magic).
    :param policies: policy names (default: the scenario's).
    :param fwb: one FWB setting (default: the scenario's).
    :param show: how many offending accesses to keep.
    :param arg: the command-line argument that named the trace, for messages.
    :param progress: called with (bytes of the file read so far, its size or None).
    """
    from ..inputs.files import display_name

    layout = build_layout(sc, policies=policies, fwb=fwb)
    stream, total = open_trace(path, arg=arg)
    raw = getattr(stream, "fileobj", None) or stream
    try:
        def tick(_n: int) -> None:
            if progress is not None:
                try:
                    pos = raw.tell()
                except (OSError, ValueError):
                    pos = 0
                progress(pos, total)

        return replay_stream(layout, stream, display_name(path), show=show,
                             progress=tick if progress is not None else None)
    finally:
        if stream is not _stdin_buffer():
            stream.close()


def _stdin_buffer() -> object:
    import sys

    return getattr(sys.stdin, "buffer", None)


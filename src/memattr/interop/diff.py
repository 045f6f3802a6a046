"""Page-table differences by address range: two parsed dumps, or a dump and a modelled table.

:func:`diff_sides` compares two :class:`Side` values -- the valid ranges one source states, the
address ranges it speaks for, and why it maps nothing where it knows -- and returns every range
where they differ:

- ``missing``: the reference side (A) maps it, the other side (B) does not;
- ``extra``: B maps it, A does not;
- ``permissions``: read/write (S2AP, AP), execute (XN, PXN/UXN), access flag, nG, GP, SH;
- ``memtype``: stage-2 MemAttr[3:0], or the stage-1 type (the MAIR byte AttrIndx selects, or
  the type Linux's ptdump names, which stands for the byte proc.S puts at that MT_* index);
- ``leaf-size``: the size of the block or page that maps it (the level and the granule).

Only what both sides state is compared: each :class:`~memattr.interop.ptdump.Mapping` carries the
descriptor bits its words determine (``desc_bits`` under ``desc_mask``), so a field outside
either mask is not compared and is listed in :attr:`DumpDiff.not_compared` with the reason --
KVM's ``stage2_page_tables`` prints no memory type, and its X column reads either way unless its
dialect is known (arch/arm64/kvm/ptdump.c; see :mod:`memattr.interop.ptdump`).  Addresses outside
what either side states (KVM leaves its last range unprinted) are not compared either.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..arch.descriptor import (
    DESC_AF,
    DESC_CONT,
    DESC_SH_MASK,
    DESC_SH_SHIFT,
    S1_AP2,
    S1_AP_SHIFT,
    S1_GP,
    S1_NG,
    S1_PXN,
    S1_UXN,
    S2_MEMATTR_MASK,
    S2_MEMATTR_SHIFT,
    S2_S2AP_SHIFT,
    S2_S2AP_W,
    S2_XN_MASK,
    S2_XN_SHIFT,
    SH_NAMES,
    XN_NAMES,
)
from ..errors import ConfigError
from ..inputs.escape import escape
from ..inputs.units import format_size
from .ptdump import DumpFormat, Mapping, PageTableDump, entry_size

__all__ = [
    "KINDS",
    "Field",
    "S1_FIELDS",
    "S2_FIELDS",
    "Side",
    "Change",
    "DiffItem",
    "DumpDiff",
    "side_of_dump",
    "diff_sides",
    "render_diff",
    "stage1_type_byte",
]

KINDS = ("missing", "extra", "permissions", "memtype", "leaf-size")
"""The kinds of difference, in the order a report lists them."""


@dataclass(frozen=True, slots=True)
class Field:
    """One attribute compared: its name, the descriptor bits, its kind, and how values read."""

    name: str
    mask: int
    kind: str
    values: dict[int, str] = field(default_factory=dict)

    def value(self, bits: int) -> int:
        """The field's value in ``bits`` (shifted down)."""
        return (bits & self.mask) >> ((self.mask & -self.mask).bit_length() - 1)

    def show(self, bits: int, known: int | None = None) -> str:
        """The value as a report shows it; bits outside ``known`` (when given) print as '?'."""
        v = self.value(bits)
        if known is None or known & self.mask == self.mask:
            return self.values.get(v, f"0b{v:0{self.mask.bit_count()}b}")
        k = self.value(known)
        width = self.mask.bit_count()
        pattern = "".join(bit if known_bit == "1" else "?"
                          for bit, known_bit in zip(f"{v:0{width}b}", f"{k:0{width}b}",
                                                    strict=True))
        return f"0b{pattern}"


_S2AP_R = 1 << S2_S2AP_SHIFT
_S1_USER = 1 << S1_AP_SHIFT
_SH = DESC_SH_MASK << DESC_SH_SHIFT

S2_FIELDS: tuple[Field, ...] = (
    Field("read", _S2AP_R, "permissions", {0: "no read", 1: "R"}),
    Field("write", S2_S2AP_W, "permissions", {0: "no write", 1: "W"}),
    Field("execute", S2_XN_MASK << S2_XN_SHIFT, "permissions", dict(XN_NAMES)),
    Field("access flag", DESC_AF, "permissions", {0: "AF=0", 1: "AF=1"}),
    Field("shareability", _SH, "permissions", dict(SH_NAMES)),
    Field("MemAttr", S2_MEMATTR_MASK << S2_MEMATTR_SHIFT, "memtype"),
)
"""Stage-2 leaf attributes compared (arch.descriptor's stage-2 field table)."""

S1_FIELDS: tuple[Field, ...] = (
    Field("EL0 access", _S1_USER, "permissions", {0: "EL1 only", 1: "EL0+EL1"}),
    Field("write", S1_AP2, "permissions", {0: "RW", 1: "read-only"}),
    Field("PXN", S1_PXN, "permissions", {0: "PXN=0", 1: "PXN=1"}),
    Field("UXN", S1_UXN, "permissions", {0: "UXN=0", 1: "UXN=1"}),
    Field("access flag", DESC_AF, "permissions", {0: "AF=0", 1: "AF=1"}),
    Field("nG", S1_NG, "permissions", {0: "global", 1: "nG"}),
    Field("GP", S1_GP, "permissions", {0: "GP=0", 1: "GP=1"}),
    Field("contiguous", DESC_CONT, "permissions", {0: "CON=0", 1: "CON=1"}),
    Field("shareability", _SH, "permissions", dict(SH_NAMES)),
)
"""Stage-1 leaf attributes compared (the memory type is compared as the MAIR byte)."""


def _mt_bytes() -> dict[str, int]:
    from ..linux.asm.memory import MT_LAYOUTS

    return {name: byte for layout in MT_LAYOUTS for name, _idx, byte in layout.slots}


def stage1_type_byte(m: Mapping) -> int | None:
    """The MAIR attribute byte behind a stage-1 range: memattr's dump states it; Linux's ptdump
    names an MT_* index, whose byte is what proc.S programs there (the same in every layout).

    :param m: a stage-1 mapping.
    """
    if m.mair_byte is not None:
        return m.mair_byte
    mt = m.mt
    return _mt_bytes().get(mt) if mt is not None else None


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison.

    :param label: how reports name it ('stage2.txt', 'model 6.9 FWB=1').
    :param stage: 1 or 2.
    :param mappings: the valid ranges, in address order, not overlapping.
    :param stated: the address ranges it speaks for (merged, in order); elsewhere it is silent.
    :param granule: its translation granule when known (leaf sizes need it).
    :param reasons: (start, end, why) where it knows why nothing is mapped (the model's events).
    :param silent: (field name, why) for attributes it never states.
    :param source: the file its line numbers refer to.
    """

    label: str
    stage: int
    mappings: tuple[Mapping, ...]
    stated: tuple[tuple[int, int], ...]
    granule: int | None = None
    reasons: tuple[tuple[int, int, str], ...] = ()
    silent: tuple[tuple[str, str], ...] = ()
    source: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "stage": self.stage, "granule": self.granule,
                "mappings": len(self.mappings), "source": self.source,
                "stated": [[hex(a), hex(b)] for a, b in self.stated]}


def merge_ranges(ranges: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Sorted, merged [start, end) ranges."""
    out: list[list[int]] = []
    for a, b in sorted(ranges):
        if b <= a:
            continue
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return tuple((a, b) for a, b in out)


def _intersect(xs: Sequence[tuple[int, int]], ys: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out = []
    i = j = 0
    while i < len(xs) and j < len(ys):
        lo, hi = max(xs[i][0], ys[j][0]), min(xs[i][1], ys[j][1])
        if lo < hi:
            out.append((lo, hi))
        if xs[i][1] < ys[j][1]:
            i += 1
        else:
            j += 1
    return out


_KVM_SILENT = ("MemAttr", "KVM's stage2_page_tables prints no memory type "
               "(arch/arm64/kvm/ptdump.c stage2_pte_bits)")


def side_of_dump(d: PageTableDump, label: str | None = None) -> Side:
    """The side a parsed dump gives: its valid ranges, and the ranges it prints (a memattr dump
    states its whole input-address space: what it does not list is unmapped).

    :param d: the parsed dump.
    :param label: how to name it (default its source).
    """
    valid = tuple(m for m in d.mappings if m.valid)
    stated: tuple[tuple[int, int], ...]
    if d.format is DumpFormat.MEMATTR and d.va_bits is not None and \
            all(m.end <= 1 << d.va_bits for m in d.mappings):
        stated = ((0, 1 << d.va_bits),)
    elif d.format is DumpFormat.MEMATTR:
        stated = merge_ranges((m.start, m.end) for m in valid)
    else:
        stated = merge_ranges((m.start, m.end) for m in d.mappings)
    silent: list[tuple[str, str]] = []
    if d.format is DumpFormat.KVM:
        silent.append(_KVM_SILENT)
        if d.dialect is None and "xnx" not in d.dialects:
            silent.append(("execute", "the X column of stage2_page_tables reads either way: "
                           "v6.11 printed X for a non-executable range, later kernels for an "
                           "executable one (pass the dialect)"))
        silent.append(("shareability", "stage2_page_tables prints no SH"))
    return Side(label if label is not None else d.source, d.stage, valid, stated, d.granule,
                silent=tuple(silent), source=d.source)


@dataclass(frozen=True, slots=True)
class Change:
    """One attribute that differs: its name, kind and both values as shown."""

    field: str
    kind: str
    a: str
    b: str

    def __str__(self) -> str:
        return f"{self.field}: {self.a} -> {self.b}"


@dataclass(frozen=True, slots=True)
class DiffItem:
    """A range where the sides differ.

    :param kinds: the kinds of difference (``KINDS``).
    :param changes: each attribute that differs (for ``missing``/``extra``: none).
    :param line_a: the line of side A that states it (None: no line, e.g. nothing mapped).
    :param why: why the side without a mapping has none, when it knows.
    """

    start: int
    end: int
    kinds: tuple[str, ...]
    changes: tuple[Change, ...]
    line_a: int | None
    line_b: int | None
    why: str = ""
    a: str = ""
    b: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"start": hex(self.start), "end": hex(self.end), "size": self.end - self.start,
                "kinds": list(self.kinds),
                "changes": [{"field": c.field, "kind": c.kind, "a": c.a, "b": c.b}
                            for c in self.changes],
                "line_a": self.line_a, "line_b": self.line_b, "why": self.why,
                "a": self.a, "b": self.b}


@dataclass(frozen=True, slots=True)
class DumpDiff:
    """Every difference between two sides, and what could not be compared."""

    a: Side
    b: Side
    items: tuple[DiffItem, ...]
    compared: tuple[tuple[int, int], ...]
    not_compared: tuple[str, ...]

    @property
    def counts(self) -> dict[str, int]:
        """Ranges per kind of difference."""
        out = dict.fromkeys(KINDS, 0)
        for it in self.items:
            for k in it.kinds:
                out[k] += 1
        return out

    @property
    def found(self) -> bool:
        """Whether any difference was found."""
        return bool(self.items)

    def to_json(self) -> dict[str, Any]:
        return {"a": self.a.to_json(), "b": self.b.to_json(),
                "differences": [it.to_json() for it in self.items],
                "counts": self.counts,
                "compared": [[hex(x), hex(y)] for x, y in self.compared],
                "compared_bytes": sum(y - x for x, y in self.compared),
                "not_compared": list(self.not_compared)}


def _leaf_size(m: Mapping, granule: int | None) -> int | None:
    if m.level is None or granule is None:
        return None
    try:
        return entry_size(granule, m.level)
    except (ValueError, OverflowError):
        return None


def _describe(m: Mapping | None) -> str:
    """A short rendering of a range's attributes as its side states them."""
    if m is None:
        return "not mapped"
    if m.oa is not None or m.memattr is not None or m.attr_index is not None:
        head = " ".join(m.words)
        extra = f" MemAttr=0x{m.memattr:x}" if m.memattr is not None else (
            f" AttrIndx={m.attr_index} MAIR=0x{m.mair_byte:02x}" if m.attr_index is not None
            and m.mair_byte is not None else "")
        return escape(f"{head}{extra}")
    words = " ".join(m.words)
    return escape(words) if words else "mapped"


class _Finder:
    """The mapping of a side covering an address (mappings sorted and disjoint)."""

    def __init__(self, maps: Sequence[Mapping]) -> None:
        self.maps = maps
        self.starts = [m.start for m in maps]

    def at(self, addr: int) -> Mapping | None:
        i = bisect_right(self.starts, addr) - 1
        if i >= 0 and self.maps[i].start <= addr < self.maps[i].end:
            return self.maps[i]
        return None


def _reason_at(reasons: Sequence[tuple[int, int, str]], addr: int) -> str:
    for lo, hi, why in reasons:
        if lo <= addr < hi:
            return why
    return ""


def _compare(ma: Mapping, mb: Mapping, stage: int, ga: int | None, gb: int | None,
             silent: set[str]) -> tuple[list[str], list[Change]]:
    kinds: list[str] = []
    changes: list[Change] = []
    fields = S2_FIELDS if stage == 2 else S1_FIELDS
    for f in fields:
        if f.name in silent:
            continue
        common = ma.desc_mask & mb.desc_mask & f.mask
        if not common:
            continue
        if (ma.desc_bits ^ mb.desc_bits) & common:
            a, b = f.show(ma.desc_bits, ma.desc_mask), f.show(mb.desc_bits, mb.desc_mask)
            if f.kind == "memtype":
                a += f" ({escape(ma.memtype)})" if ma.memtype else ""
                b += f" ({escape(mb.memtype)})" if mb.memtype else ""
            changes.append(Change(f.name, f.kind, a, b))
            if f.kind not in kinds:
                kinds.append(f.kind)
    if stage == 1 and "memory type" not in silent:
        ba, bb = stage1_type_byte(ma), stage1_type_byte(mb)
        if ba is not None and bb is not None and ba != bb:
            changes.append(Change("memory type", "memtype", _s1_type(ma, ba), _s1_type(mb, bb)))
            kinds.append("memtype")
    if "leaf size" not in silent:
        sa, sb = _leaf_size(ma, ga), _leaf_size(mb, gb)
        if sa is not None and sb is not None and sa != sb:
            changes.append(Change("leaf size", "leaf-size", _leaf_text(sa, ma.level),
                                  _leaf_text(sb, mb.level)))
            kinds.append("leaf-size")
    return kinds, changes


def _s1_type(m: Mapping, byte: int) -> str:
    from ..arch.mair import decode_attr

    dec = decode_attr(byte)
    name = dec.attrs.short if dec.attrs is not None else "reserved"
    return f"MAIR 0x{byte:02x} {name}"


def _leaf_text(size: int, level: int | None) -> str:
    what = "page" if level == 3 else "block"
    return f"{format_size(size)} {what} (level {level})"


def _stated_fields(side: Side, stage: int) -> set[str]:
    """Fields stated by at least one mapping of ``side``."""
    out: set[str] = set()
    fields = S2_FIELDS if stage == 2 else S1_FIELDS
    for m in side.mappings:
        for f in fields:
            if m.desc_mask & f.mask:
                out.add(f.name)
    return out


def diff_sides(a: Side, b: Side) -> DumpDiff:
    """Every range where ``a`` (the reference) and ``b`` differ, within what both state.

    :param a: the reference side: ``missing`` means mapped here and not in ``b``.
    :param b: the other side: ``extra`` means mapped here and not in ``a``.
    """
    if a.stage != b.stage:
        raise ConfigError(f"cannot compare a stage-{a.stage} table ({escape(a.label)}) with a "
                          f"stage-{b.stage} table ({escape(b.label)}) (expected two of the same "
                          "stage)")
    stage = a.stage
    compared = _intersect(a.stated, b.stated)
    silent = {n for n, _ in a.silent} | {n for n, _ in b.silent}
    not_compared: list[str] = []
    said: dict[tuple[str, str], list[str]] = {}
    for side in (a, b):
        for name, why in side.silent:
            said.setdefault((name, why), []).append(side.label)
    for (name, why), labels in said.items():
        who = "both sides" if len(labels) == 2 else escape(labels[0])
        not_compared.append(f"{name} ({who}): {why}")
    if a.granule is not None and b.granule is not None and a.granule != b.granule:
        silent.add("leaf size")
        not_compared.append(f"leaf size: the granules differ ({format_size(a.granule)} in "
                            f"{escape(a.label)}, {format_size(b.granule)} in {escape(b.label)})")
    elif a.granule is None or b.granule is None:
        which = a if a.granule is None else b
        not_compared.append(f"leaf size: {escape(which.label)}: the granule is not settled by its "
                            "ranges (pass it)")
    fa, fb = _stated_fields(a, stage), _stated_fields(b, stage)
    for name in sorted((fa ^ fb) - silent):
        mute = b if name in fa else a
        if not mute.mappings:
            continue  # it maps nothing: nothing it could state
        not_compared.append(f"{name}: {escape(mute.label)} does not state it")
    for one, other in ((a, b), (b, a)):
        mapped = merge_ranges((m.start, m.end) for m in one.mappings)
        outside = sum(y - x for x, y in mapped) - sum(y - x for x, y in _intersect(mapped, compared))
        if outside > 0:
            not_compared.append(f"{format_size(outside)} mapped in {escape(one.label)} lie "
                                f"outside what {escape(other.label)} states")
    find_a, find_b = _Finder(a.mappings), _Finder(b.mappings)
    points: set[int] = set()
    changes: list[Change]
    for x, y in compared:
        points.update((x, y))
    for each in (a, b):
        for m in each.mappings:
            points.update((m.start, m.end))
        for r0, r1, _w in each.reasons:
            points.update((r0, r1))
    cuts = sorted(points)
    items: list[DiffItem] = []
    ci = 0
    for p, q in zip(cuts, cuts[1:], strict=False):
        while ci < len(compared) and compared[ci][1] <= p:
            ci += 1
        if ci >= len(compared):
            break
        if compared[ci][0] > p:
            continue  # between two compared ranges
        ma, mb = find_a.at(p), find_b.at(p)
        if ma is None and mb is None:
            continue
        why = ""
        if ma is not None and mb is None:
            kinds, changes = ["missing"], []
            why = _reason_at(b.reasons, p)
        elif ma is None and mb is not None:
            kinds, changes = ["extra"], []
            why = _reason_at(a.reasons, p)
        else:
            assert ma is not None and mb is not None
            kinds, changes = _compare(ma, mb, stage, a.granule, b.granule, silent)
        if not kinds:
            continue
        la = ma.line if ma is not None else None
        lb = mb.line if mb is not None else None
        prev = items[-1] if items else None
        if prev is not None and prev.end == p and (prev.kinds, prev.changes, prev.line_a,
                                                   prev.line_b, prev.why) == \
                (tuple(kinds), tuple(changes), la, lb, why):
            items[-1] = DiffItem(prev.start, q, prev.kinds, prev.changes, la, lb, why, prev.a,
                                 prev.b)
        else:
            items.append(DiffItem(p, q, tuple(kinds), tuple(changes), la, lb, why,
                                  _describe(ma), _describe(mb)))
    return DumpDiff(a, b, tuple(items), tuple(compared), tuple(dict.fromkeys(not_compared)))


def _range(lo: int, hi: int) -> str:
    end = "2^64" if hi == 1 << 64 else f"0x{hi:016x}"
    return f"0x{lo:016x}-{end} {format_size(hi - lo):>6}"


def render_diff(d: DumpDiff, *, limit: int | None = None) -> str:
    """The differences as text: one line per range, then the counts and what was not compared.

    :param d: the comparison.
    :param limit: at most this many ranges (the rest counted).
    """
    src_a = escape(d.a.source) if d.a.source else "A"
    src_b = escape(d.b.source) if d.b.source else "B"
    out = [f"A: {escape(d.a.label)}", f"B: {escape(d.b.label)}"]
    shown = d.items if limit is None else d.items[:limit]
    for it in shown:
        where = []
        if it.line_a is not None and d.a.source:
            where.append(f"{src_a}:{it.line_a}")
        if it.line_b is not None and d.b.source:
            where.append(f"{src_b}:{it.line_b}")
        at = f"  [{', '.join(where)}]" if where else ""
        if it.kinds == ("missing",):
            text = f"missing: A maps it ({it.a}), B does not" + (f": {escape(it.why)}" if it.why
                                                                 else "")
        elif it.kinds == ("extra",):
            text = f"extra: B maps it ({it.b}), A does not" + (f": {escape(it.why)}" if it.why
                                                              else "")
        else:
            text = "; ".join(f"{c.field}: A {c.a}, B {c.b}" for c in it.changes)
        out.append(f"  {_range(it.start, it.end)}  {text}{at}")
    if limit is not None and len(d.items) > limit:
        out.append(f"  ... and {len(d.items) - limit} more ranges (--json lists every one)")
    counts = d.counts
    total = sum(y - x for x, y in d.compared)
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no differences"
    out.append(f"{len(d.items)} differing ranges ({summary}) in {format_size(total) if total else '0'}"
               " compared")
    if d.not_compared:
        out.append("not compared:")
        out += [f"  {line}" for line in d.not_compared]
    return "\n".join(out) + "\n"

"""Vectorised stage-1 x stage-2 combining for millions of inputs, by table lookup (numpy).

The input space of the table is small: stage-1 MAIR byte (256) x stage-2 MemAttr (16) x
HCR_EL2.FWB (2) x HCR_EL2.CD (2) = 16,384 inputs, each resolved once by the scalar rules (the
composition :func:`memattr.arch.combine.resolve` uses, without assembling its records) with
SH1 = SH2 = ISH (0b11), a data read, FnXS = 0, the CPU's features (every feature by default)
and otherwise the default :class:`~memattr.arch.combine.Controls` (stage 1 and stage 2 on,
caches on).  Each input maps to an *outcome id*: one distinct (outcomes, reserved note,
faults) triple.  A batch is then index arithmetic and ``np.take``.  Without FEAT_S2FWB the
HCR_EL2.FWB = 1 half does not exist (asking for it is a ConfigError).

numpy is imported inside functions only, so importing this module stays cheap.
"""

from __future__ import annotations

import gc
from functools import lru_cache

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import ConfigError, EncodingError
from . import impdef as _impdef
from .combine import (
    Access,
    Controls,
    Resolution,
    _Branch,
    _combine_core,
    _Ctx,
    _ctx,
    _fwb_core,
    _s2_checks,
    _Stage1,
    _stage1,
    _Stage2,
    _stage2,
    resolve,
)
from .cpu import ALL, Cpu
from .memtype import Cacheability, MemoryAttributes

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    import numpy as np
    import numpy.typing as npt

__all__ = [
    "TABLE_SIZE",
    "TableRow",
    "OutcomeArrays",
    "table_index",
    "combine_batch",
    "outcome_table",
    "outcome_arrays",
    "table_rows",
]

TABLE_SIZE = 2 * 2 * 256 * 16
"""Inputs in the lookup table: FWB x CD x S1 byte x S2 MemAttr."""

_SH_ISH = 0b11
_CACHE_CODE = {Cacheability.NC: 0, Cacheability.WT: 1, Cacheability.WB: 2}


def table_index(fwb: int, cd: int, s1: int, s2: int) -> int:
    """Flat table position of one input; rows are ordered fwb, hcr_cd, s1, s2 ascending."""
    return ((fwb * 2 + cd) * 256 + s1) * 16 + s2


# --- the table path: combine's stages and rules, outcomes only -------------------------------

_Hit = tuple[object, tuple[MemoryAttributes, ...], tuple[str, ...]]
_OUT: dict[tuple[int, int], _Hit] = {}


def _stage1_column(sh1: int, ctx: _Ctx) -> tuple[tuple[_Stage1, ...], list[int], list[_Stage1]]:
    """Stage 1 of every byte: the 256 entries, each byte's index into the distinct stage-1
    entries (allocated bytes first, in byte order; the reserved bytes share the last one)."""
    hit = _S1COL.get((sh1, ctx.k1))
    if hit is not None:
        return hit
    st1s = tuple(_stage1(b, sh1, ctx) for b in range(256))
    distinct: dict[int, int] = {}
    order: list[_Stage1] = []
    for st1 in sorted(st1s, key=lambda st: st[3] is not None):  # stable: bytes in order
        if id(st1[1]) not in distinct:
            distinct[id(st1[1])] = len(order)
            order.append(st1)
    out = (st1s, [distinct[id(st1[1])] for st1 in st1s], order)
    _S1COL[(sh1, ctx.k1)] = out
    return out


_S1COL: dict[tuple[int, int], tuple[tuple[_Stage1, ...], list[int], list[_Stage1]]] = {}


def _column(s2_memattr: int, sh2: int, fnxs: bool, sh1: int, ctx: _Ctx
            ) -> tuple[list[_Hit], str | None]:
    """The outcomes of every S1 byte 0..255 with one stage 2, and stage 2's reserved note.

    The same stages, rules and :func:`~memattr.arch.combine._pair` as ``combine.resolve``,
    without assembling records; outcomes are memoized per (stage-1 branches, stage-2
    signature) in :data:`_OUT`.  Each entry is (branches, outcomes, faults), the outcome and
    fault tuples interned (equal ones are one object).
    """
    st1s, index, order = _stage1_column(sh1, ctx)
    st2 = ctx.s2.get(s2_memattr | sh2 << 4 | fnxs << 6) or _stage2(s2_memattr, sh2, fnxs, ctx)
    sig, branches2 = st2[5], st2[1]
    # The common cases, as _pair: one stage-2 branch and no fault: S2CombineS1MemAttrs directly;
    # with FWB, one stage-2 shareability: AArch64.S2ApplyFWBMemAttrs then the HCR_EL2 checks.
    simple2: tuple[MemoryAttributes, ...] | None = None
    fwb_sh = None
    if branches2 is not None:
        if ctx.controls.fwb:
            if len(branches2) == 1:  # type: ignore[arg-type]
                fwb_sh = branches2[0][1]  # type: ignore[index]
        elif all(f is None for _c, _a, f in branches2):  # type: ignore[attr-defined]
            simple2 = tuple(a for _c, a, _f in branches2)  # type: ignore[attr-defined]
    mte2, perm = bool(ctx.cpu.mte2), bool(ctx.cpu.mte_perm)
    get = _OUT.get
    hs: list[_Hit] = []
    for st1 in order:  # allocated bytes first: a reserved byte's union reuses their outcomes
        b1 = st1[1]
        h = get((id(b1), sig))
        if h is None or h[0] is not b1:
            if st1[3] is None and len(b1) == 1 and b1[0][2] is None and (
                    simple2 is not None or fwb_sh is not None):
                a1 = b1[0][1]
                if simple2 is not None:
                    if len(simple2) == 1:
                        h = _keep1(b1, sig, _combine_core(a1, simple2[0], mte2, perm)[2])  # type: ignore[arg-type]
                    else:  # outcomes are canonical: identity is equality
                        h = _keep(b1, sig, tuple({id(e): e for e in (
                            _combine_core(a1, a2, mte2, perm)[2]  # type: ignore[arg-type]
                            for a2 in simple2)}.values()), ())
                else:
                    walk = _fwb_core(a1, s2_memattr, fwb_sh, fnxs, mte2, perm)[2]  # type: ignore[arg-type]
                    checked = _s2_checks(walk, ctx)
                    if len(checked) != 1:
                        h = _outcomes_of(st1, st2, s2_memattr, fnxs, ctx)
                    elif checked[0][1] is None:
                        h = _keep(b1, sig, (), (checked[0][2],))  # type: ignore[arg-type]
                    else:
                        h = _keep1(b1, sig, checked[0][1])
            else:
                h = _outcomes_of(st1, st2, s2_memattr, fnxs, ctx)
        hs.append(h)
    return [hs[i] for i in index], st2[2]


def _outcomes_of(st1: _Stage1, st2: _Stage2, s2_memattr: int, fnxs: bool, ctx: _Ctx
                 ) -> tuple[object, tuple[MemoryAttributes, ...], tuple[str, ...]]:
    """(branches, outcomes, faults) of stage-1 branches crossed with a stage 2, memoized."""
    b1 = st1[1]
    sig = st2[5]
    hit = _OUT.get((id(b1), sig))
    if hit is not None and hit[0] is b1:
        return hit
    cores = st1[3]
    branches2 = st2[1]
    out: tuple[object, tuple[MemoryAttributes, ...], tuple[str, ...]]
    if cores is not None:  # a reserved byte: the union over every allocated byte
        seen: dict[int, MemoryAttributes] = {}
        faults: dict[str, None] = {}
        get = _OUT.get
        for core in cores:
            h = get((id(core), sig))
            if h is None or h[0] is not core:
                h = _outcomes_of(((), core, None, None), st2, s2_memattr, fnxs, ctx)
            for o in h[1]:
                seen[id(o)] = o
            for f in h[2]:
                faults[f] = None
        out = (b1, tuple(seen.values()), tuple(faults))
    else:
        out = (b1, *_cross_outcomes(b1, branches2, s2_memattr, fnxs, ctx))  # type: ignore[arg-type]
    return _keep(b1, sig, out[1], out[2])


def _cross_outcomes(b1: tuple[_Branch, ...], branches2: object, s2_memattr: int, fnxs: bool,
                    ctx: _Ctx) -> tuple[tuple[MemoryAttributes, ...], tuple[str, ...]]:
    """The outcomes and faults of stage-1 branches crossed with stage 2's, in the order
    ``combine._cross`` meets them, from the rules' decisions without their records."""
    outs: dict[int, MemoryAttributes] = {}
    faults: dict[str, None] = {}
    mte2, perm = bool(ctx.cpu.mte2), bool(ctx.cpu.mte_perm)
    fwb = ctx.controls.fwb
    for _chain, a1, fault in b1:
        if fault is not None:
            faults[fault] = None
        elif branches2 is None:  # stage 2 off: stage 1's attributes
            outs[id(a1)] = a1  # type: ignore[assignment]
        elif fwb:
            for _c, sh in branches2:  # type: ignore[attr-defined]
                walk = _fwb_core(a1, s2_memattr, sh, fnxs, mte2, perm)[2]  # type: ignore[arg-type]
                for _adj, a, f in _s2_checks(walk, ctx):
                    if f is not None:
                        faults[f] = None
                    else:
                        outs[id(a)] = a  # type: ignore[assignment]
        else:
            for _c, a2, f in branches2:  # type: ignore[attr-defined]
                if f is not None:
                    faults[f] = None
                else:
                    e = _combine_core(a1, a2, mte2, perm)[2]  # type: ignore[arg-type]
                    outs[id(e)] = e
    return tuple(outs.values()), tuple(faults)


_OUTS: dict[tuple[int, ...], tuple[MemoryAttributes, ...]] = {}
_FAULTS: dict[tuple[str, ...], tuple[str, ...]] = {}
_ONE: dict[int, tuple[MemoryAttributes, tuple[MemoryAttributes, ...]]] = {}


def _keep(b1: object, sig: int, outs: tuple[MemoryAttributes, ...], faults: tuple[str, ...]
          ) -> _Hit:
    """Memoize an outcome in :data:`_OUT`, with equal outcome tuples as one object (the
    attributes are canonical, so their ids say which), so a caller may key on id()."""
    if len(outs) == 1 and not faults:
        return _keep1(b1, sig, outs[0])
    out = (b1, _OUTS.setdefault(tuple(map(id, outs)), outs), _FAULTS.setdefault(faults, faults))
    _OUT[(id(b1), sig)] = out
    return out


def _keep1(b1: object, sig: int, end: MemoryAttributes) -> _Hit:
    """:func:`_keep` of one outcome and no fault (the common case)."""
    one = _ONE.get(id(end))
    if one is None or one[0] is not end:
        one = _ONE[id(end)] = (end, _OUTS.setdefault((id(end),), (end,)))
    out = (b1, one[1], ())
    _OUT[(id(b1), sig)] = out
    return out


@dataclass(frozen=True, slots=True)
class _Tables:
    """The lookup table and what it indexes (derived from the scalar rules; do not edit)."""

    ids: tuple[int, ...]  # input position (table_index) -> outcome id (_NO_ROW: no such input)
    outcomes: tuple[Resolution, ...]  # outcome id -> Resolution (outcomes, reserved, faults)
    cpu: Cpu


_NO_ROW = 0xFFFF  # id of an input that does not exist on the CPU (FWB without S2FWB)


@lru_cache(maxsize=8)
def _tables(cpu: Cpu = ALL) -> _Tables:
    """Resolve every input of the table once with the scalar rules and intern the results.

    Pure Python (numpy is imported only by :func:`_lut`, for the batch path).  The build
    allocates little that is cyclic and keeps nearly all of it (memos): the collector is
    paused meanwhile (its ~90 passes over the new objects would cost a tenth of the build).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _build(cpu)
    finally:
        if enabled:
            gc.enable()


def _build(cpu: Cpu) -> _Tables:
    # Derived from the scalar rules; do not edit: every entry comes from combine's composition.
    intern: dict[tuple[int, int, str | None], int] = {}
    by_outs: dict[str | None, dict[int, int]] = {}
    table: list[Resolution] = []
    flat: list[int] = []
    for fwb in (False, True):
        for cd in (False, True):
            if fwb and not cpu.s2fwb:
                flat.extend([_NO_ROW] * (256 * 16))
                continue
            ctx = _ctx(Controls(fwb=fwb, cd=cd), Access.READ, cpu, _impdef.DEFAULT)
            cols = [_column(s2, _SH_ISH, False, _SH_ISH, ctx) for s2 in range(16)]
            notes1 = [st1[2] for st1 in _stage1_column(_SH_ISH, ctx)[0]]
            noted = [s1 for s1, n1 in enumerate(notes1) if n1 is not None]
            col_ids = []
            for hs, n2 in cols:
                # A row without a stage-1 note or a fault is its (interned) outcome tuple and
                # stage 2's note: one id each.
                seen = by_outs.setdefault(n2, {})
                get = seen.get
                ids = [-1 if h[2] else get(id(h[1]), -1) for h in hs]
                redo = noted if -1 not in ids else sorted(
                    {*noted, *(s1 for s1, oid in enumerate(ids) if oid == -1)})
                for s1 in redo:
                    h, n1 = hs[s1], notes1[s1]
                    note = n1 if n2 is None else (n2 if n1 is None else f"{n1}; {n2}")
                    # Outcome and fault tuples from _column are interned: ids say which.
                    key = (id(h[1]), id(h[2]), note)
                    oid = intern.get(key, -1)
                    if oid < 0:
                        oid = intern[key] = len(table)
                        # Records are per input: call combine.resolve for them.
                        table.append(Resolution(h[1], note, h[2]))
                    if n1 is None and not h[2]:
                        seen[id(h[1])] = oid  # interned: alive in _OUTS
                    ids[s1] = oid
                col_ids.append(ids)
            flat += [ids[s1] for s1 in range(256) for ids in col_ids]  # s1 major, s2 minor
    assert len(flat) == TABLE_SIZE and len(table) < _NO_ROW
    return _Tables(tuple(flat), tuple(table), cpu)


@lru_cache(maxsize=8)
def _lut(cpu: Cpu = ALL) -> npt.NDArray[np.uint16]:
    """The table as a read-only numpy array (input position -> outcome id)."""
    import numpy as np

    lut = np.array(_tables(cpu).ids, dtype=np.uint16)
    lut.setflags(write=False)
    return lut


def outcome_table(cpu: Cpu = ALL) -> list[Resolution]:
    """Outcome id -> its Resolution (outcomes, reserved note, faults; no per-input records)."""
    return list(_tables(cpu).outcomes)


@dataclass(frozen=True, slots=True)
class OutcomeArrays:
    """Per-outcome-id numpy arrays, for masks and counts over a batch (``arr[ids]``).

    Attribute arrays describe the single outcome and are only meaningful where ``single`` is
    True; elsewhere (reserved S1 byte: no outcome; CONSTRAINED UNPREDICTABLE: several) the
    int8 codes are -1 and the booleans False.  Codes: ``device`` is the DeviceType 'dd' value
    (0 nGnRnE .. 3 GRE); ``inner``/``outer`` 0 NC, 1 WT, 2 WB; ``shareability`` the SH[1:0]
    encoding (0b00 NSH, 0b10 OSH, 0b11 ISH).
    """

    n_outcomes: Any  # uint16: number of permitted outcomes
    single: Any  # bool: exactly one outcome
    reserved: Any  # bool: a reserved or CONSTRAINED UNPREDICTABLE input was involved
    is_device: Any  # bool
    device: Any  # int8
    inner: Any  # int8
    outer: Any  # int8
    shareability: Any  # int8
    xs: Any  # bool
    tagged: Any  # bool


@lru_cache(maxsize=8)
def outcome_arrays(cpu: Cpu = ALL) -> OutcomeArrays:
    """Per-id arrays derived from :func:`outcome_table` (derived; do not edit)."""
    import numpy as np

    table = _tables(cpu).outcomes
    n = len(table)

    def codes() -> npt.NDArray[np.int8]:
        return np.full(n, -1, dtype=np.int8)

    n_out = np.zeros(n, dtype=np.uint16)
    reserved = np.zeros(n, dtype=bool)
    is_device, xs, tagged = (np.zeros(n, dtype=bool) for _ in range(3))
    device, inner, outer, sh = codes(), codes(), codes(), codes()
    for oid, res in enumerate(table):
        n_out[oid] = len(res.outcomes)
        reserved[oid] = res.reserved is not None
        if len(res.outcomes) != 1:
            continue
        a: MemoryAttributes = res.outcomes[0]
        is_device[oid] = a.is_device
        if a.device is not None:
            device[oid] = a.device.value
        if a.inner is not None and a.outer is not None:
            inner[oid] = _CACHE_CODE[a.inner.cacheability]
            outer[oid] = _CACHE_CODE[a.outer.cacheability]
        sh[oid] = a.shareability.encoding
        xs[oid] = bool(a.xs)  # False also where the CPU has no FEAT_XS (no XS attribute)
        tagged[oid] = a.tagged
    arrays = OutcomeArrays(n_out, n_out == 1, reserved, is_device, device, inner, outer, sh, xs,
                           tagged)
    for arr in (n_out, reserved, is_device, device, inner, outer, sh, xs, tagged, arrays.single):
        arr.setflags(write=False)
    return arrays


def _check_range(name: str, arr: Any, limit: int) -> None:
    """Raise EncodingError unless every element is in 0..limit-1 (skipped when the dtype fits)."""
    import numpy as np

    if arr.dtype.kind == "b":
        return
    if arr.dtype.kind not in "iu":
        raise EncodingError(f"{name}: dtype {arr.dtype} is not an integer type")
    info = np.iinfo(arr.dtype)
    if info.min >= 0 and info.max < limit:
        return
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= limit):
        bad = arr[(arr < 0) | (arr >= limit)][0]
        raise EncodingError(f"{name}={hex(int(bad))}: out of range (0x0..0x{limit - 1:x})")


def combine_batch(s1: Any, s2: Any, fwb: Any = False, cd: Any = False, *,
                  cpu: Cpu = ALL) -> npt.NDArray[np.uint16]:
    """Outcome ids of many accesses: S1 MAIR byte x S2 MemAttr under HCR_EL2.FWB and .CD.

    :param s1: stage-1 MAIR attribute bytes, integer array (uint8 is fastest).
    :param s2: stage-2 MemAttr[3:0] values, integer array broadcastable with ``s1``.
    :param fwb: HCR_EL2.FWB, a bool or a bool/0-1 array broadcastable with ``s1``.
    :param cd: HCR_EL2.CD, a bool or a bool/0-1 array broadcastable with ``s1``.
    :param cpu: the PE (:mod:`memattr.arch.cpu`); FWB needs FEAT_S2FWB.
    :returns: uint16 outcome ids; look them up in :func:`outcome_table` or
        :func:`outcome_arrays`.  Same answer as ``combine.resolve`` element by element.
    """
    import numpy as np

    lut = _lut(cpu)
    s1a, s2a = np.asarray(s1), np.asarray(s2)
    _check_range("S1 MAIR attribute", s1a, 256)
    _check_range("S2 MemAttr", s2a, 16)
    flags = [(np.asarray(fwb), 13, "HCR_EL2.FWB"), (np.asarray(cd), 12, "HCR_EL2.CD")]
    shape = np.broadcast_shapes(s1a.shape, s2a.shape, *(f.shape for f, _, _ in flags))
    # Index = ((fwb * 2 + cd) * 256 + s1) * 16 + s2, as table_index, computed in uint16 (the
    # ranges are checked above, so the unsafe casts cannot wrap).
    idx = np.empty(shape, dtype=np.uint16)
    np.left_shift(s1a, 4, out=idx, dtype=np.uint16, casting="unsafe")
    np.bitwise_or(idx, s2a, out=idx, dtype=np.uint16, casting="unsafe")
    for f, shift, name in flags:
        if f.ndim == 0:
            if bool(f):
                idx |= np.uint16(1 << shift)
        else:
            _check_range(name, f, 2)
            np.bitwise_or(idx, np.left_shift(f, shift, dtype=np.uint16, casting="unsafe"),
                          out=idx)
    out = np.take(lut, idx)
    if not cpu.s2fwb and out.size and bool((out == _NO_ROW).any()):
        raise ConfigError(f"HCR_EL2.FWB=1: RES0 without FEAT_S2FWB (cpu {cpu.name})")
    return out


@dataclass(frozen=True, slots=True)
class TableRow:
    """One row of the S1 x S2 x FWB x CD table (``memattr table``)."""

    fwb: bool
    hcr_cd: bool
    s1: int
    s2: int
    reserved: str | None
    outcomes: tuple[MemoryAttributes, ...]

    def to_json(self) -> dict[str, Any]:
        """The row object of ``memattr table --json``."""
        return {
            "fwb": self.fwb,
            "hcr_cd": self.hcr_cd,
            "s1": self.s1,
            "s2": self.s2,
            "reserved": self.reserved,
            "outcomes": [a.to_json() for a in self.outcomes],
        }


def _select(value: bool | int | None, space: range) -> list[int]:
    return list(space) if value is None else [int(value)]


def table_rows(
    *,
    fwb: bool | None = None,
    cd: bool | None = None,
    s1: int | None = None,
    s2: int | None = None,
    cpu: Cpu = ALL,
) -> list[TableRow]:
    """Rows of the table in order fwb, hcr_cd, s1, s2 ascending; None means every value.

    :param fwb: HCR_EL2.FWB, or None for both (only 0 without FEAT_S2FWB).
    :param cd: HCR_EL2.CD, or None for both.
    :param s1: one stage-1 MAIR byte (0..0xff), or None for all 256.
    :param s2: one stage-2 MemAttr (0..0xf), or None for all 16.
    :param cpu: the PE whose features decide (:mod:`memattr.arch.cpu`).

    :returns: one :class:`TableRow` per input: ``fwb``, ``hcr_cd``, ``s1``, ``s2``,
        ``reserved`` (a note, or None) and ``outcomes`` (every permitted attribute set).
    :raises EncodingError: ``s1`` or ``s2`` out of range.
    :raises ConfigError: FWB=1 on a CPU without FEAT_S2FWB.

    With both ``s1`` and ``s2`` given (at most four rows) each row is resolved on its own
    (:func:`~memattr.arch.combine.resolve`, the rule the table is built from) and the table is
    not built.
    """
    if s1 is not None and not 0 <= s1 <= 0xFF:
        raise EncodingError(f"S1 MAIR attribute=0x{s1:x}: out of range (0x00..0xff)")
    if s2 is not None and not 0 <= s2 <= 0xF:
        raise EncodingError(f"S2 MemAttr=0x{s2:x}: out of range (4 bits, 0x0..0xf)")
    if fwb and not cpu.s2fwb:
        raise ConfigError(f"HCR_EL2.FWB=1: RES0 without FEAT_S2FWB (cpu {cpu.name})")
    rows = []
    fwbs = [0] if fwb is None and not cpu.s2fwb else _select(fwb, range(2))
    if s1 is not None and s2 is not None:
        # A few rows (one query): resolve each input as the table would, without building it.
        for f in fwbs:
            for c in _select(cd, range(2)):
                res = resolve(s1, s2, sh1=_SH_ISH, sh2=_SH_ISH,
                              controls=Controls(fwb=bool(f), cd=bool(c)), cpu=cpu)
                rows.append(TableRow(bool(f), bool(c), s1, s2, res.reserved, res.outcomes))
        return rows
    tables = _tables(cpu)
    lut = tables.ids
    outcomes = tables.outcomes
    for f in fwbs:
        for c in _select(cd, range(2)):
            for a in _select(s1, range(256)):
                base = ((f * 2 + c) * 256 + a) * 16
                for b in _select(s2, range(16)):
                    res = outcomes[lut[base + b]]
                    rows.append(TableRow(bool(f), bool(c), a, b, res.reserved, res.outcomes))
    return rows

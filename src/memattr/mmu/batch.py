"""Vectorised two-stage walks (numpy): millions of accesses of one kind through the same tables.

:func:`walk_batch` computes, for an array of VAs, what :func:`memattr.mmu.walk.walk` computes
for each: the PA, or the fault (kind, stage, level, S1PTW, ESR, HPFAR), the leaf descriptors,
the stage-1 MAIR byte, the stage-2 MemAttr and the effective permissions.  The same checks run
in the same order (see :mod:`memattr.mmu.walk`); a hypothesis test holds the two equal.

How it is fast: physical memory is snapshotted once into one ``uint64`` array (cached until
memory changes) with a dense frame -> row index, so a descriptor read is two gathers.  The
stage-2 translations of stage-1 table addresses are done once per distinct table page
(``np.unique``), not once per access.  Alignment and PTW checks on memory types use lookup
tables built with the scalar rules (arch.combine.resolve), so they cannot drift from them.

Limits: one access kind, EL and size per call; no ISV syndrome (ESR has ISV=0: give ``srt`` to
the scalar walker for that); no TLB.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..arch.combine import Controls, resolve
from ..arch.descriptor import FINAL_LEVEL
from ..arch.esr import FaultKind, encode_fsc
from ..arch.properties import s1_has_alignment_fault, s2_has_alignment_fault
from .pgtable import Codec
from .physmem import FRAME_SHIFT, PhysMem
from .regime import Geometry, Regime, Stage1Half
from .walk import Access, AccessKind

if TYPE_CHECKING:
    pass

__all__ = ["FAULT_CODES", "BatchResult", "walk_batch", "compare"]

FAULT_CODES: dict[int, FaultKind | None] = {
    0: None,
    1: FaultKind.TRANSLATION,
    2: FaultKind.ACCESS_FLAG,
    3: FaultKind.PERMISSION,
    4: FaultKind.ADDRESS_SIZE,
    5: FaultKind.ALIGNMENT,
}
"""The ``fault`` array's codes."""

_CODE = {k: c for c, k in FAULT_CODES.items() if k is not None}
_TRANS, _AF, _PERM, _ASZ, _ALIGN = 1, 2, 3, 4, 5

CHUNK = 1 << 16
"""Accesses walked together: large enough to amortise Python overhead, small enough that the
working arrays stay in cache."""

Arr = Any  # numpy arrays (kept loose so importing this module does not need numpy typing)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Per-access results of :func:`walk_batch`, each a numpy array of the batch's length.

    ``fault`` holds :data:`FAULT_CODES` (0 = translated).  Where there is no fault: ``pa``,
    ``ipa`` and ``perms`` (bit 0 read, 1 write, 2 exec) are set.  Where there is one: ``stage``,
    ``level`` (-2 for none, i.e. alignment), ``s1ptw``, ``esr`` and ``hpfar`` (with
    ``hpfar_valid``).  ``s1_desc``/``s2_desc`` are the leaf descriptors reached (0 if none),
    ``s1_level``/``s2_level`` their levels (-2 if none), ``s1_attr`` the MAIR byte (-1 with
    stage 1 off or not reached), ``s2_memattr`` MemAttr[3:0] (-1 if none).
    """

    va: Arr
    pa: Arr
    ipa: Arr
    fault: Arr
    stage: Arr
    level: Arr
    s1ptw: Arr
    esr: Arr
    hpfar: Arr
    hpfar_valid: Arr
    s1_desc: Arr
    s2_desc: Arr
    s1_level: Arr
    s2_level: Arr
    s1_attr: Arr
    s2_memattr: Arr
    perms: Arr

    def __len__(self) -> int:
        return int(self.va.shape[0])


class _Mem:
    """A snapshot of physical memory: one uint64 array and a frame -> row index."""

    DENSE_LIMIT = 1 << 24

    def __init__(self, mem: PhysMem) -> None:
        import numpy as np

        pfns = sorted(mem.frames)
        n = len(pfns)
        blob = b"".join(bytes(mem.frames[p]) for p in pfns) + bytes(4096)
        self.flat = np.frombuffer(blob, dtype="<u8")
        self.zero_row = n
        self.pfns = np.asarray(pfns, dtype=np.int64)
        self.dense = None
        if n and pfns[-1] - pfns[0] < self.DENSE_LIMIT:
            self.base = pfns[0]
            span = pfns[-1] - pfns[0] + 1
            row = np.full(span + 1, n, dtype=np.int64)  # last slot: the zero frame
            row[self.pfns - self.base] = np.arange(n, dtype=np.int64)
            self.dense = row
            self.span = span

    def read(self, pa: Arr) -> Arr:
        """The 64-bit values at ``pa`` (uint64 array, 8-byte aligned); zero where untouched."""
        import numpy as np

        pfn = (pa >> np.uint64(FRAME_SHIFT)).astype(np.int64)
        if self.dense is not None:
            rel = np.clip(pfn - self.base, -1, self.span)
            row = self.dense[rel]
        elif self.pfns.size:
            pos = np.searchsorted(self.pfns, pfn)
            pos = np.minimum(pos, self.pfns.size - 1)
            row = np.where(self.pfns[pos] == pfn, pos, self.zero_row)
        else:
            row = np.full(pa.shape, self.zero_row, dtype=np.int64)
        off = ((pa >> np.uint64(3)) & np.uint64(511)).astype(np.int64)
        return self.flat[row * 512 + off]


def _snapshot(mem: PhysMem) -> _Mem:
    got = mem.derived.get("batch-snapshot")
    if got is not None and got[0] == mem.generation:
        return got[1]  # type: ignore[no-any-return]
    snap = _Mem(mem)
    mem.derived["batch-snapshot"] = (mem.generation, snap)
    return snap


# --- lookup tables from the scalar rules ---------------------------------------------------


_resolve = lru_cache(maxsize=16384)(resolve)


@lru_cache(maxsize=64)
def _luts(controls: Controls, kind: AccessKind) -> tuple[Any, Any]:
    """(S1 type faults unaligned accesses [MAIR byte], S2 (or FWB-combined) type faults them
    [MAIR byte, MemAttr]) -- each entry from combine.resolve and arch.properties."""
    import numpy as np

    acc = kind.combine_access
    s1dev = np.zeros(256, dtype=bool)
    s2dev = np.zeros((256, 16), dtype=bool)
    for b in range(256):
        r = _resolve(b, 0xF, controls=controls, access=acc)
        s1dev[b] = any(s1_has_alignment_fault(a, acc, False) for a in r.s1)
        for m in range(16):
            r2 = _resolve(b, m, controls=controls, access=acc) if controls.fwb or b == 0 else None
            if r2 is None:  # without FWB the stage-2 type does not depend on stage 1
                s2dev[b, m] = s2dev[0, m]
            else:
                s2dev[b, m] = any(s2_has_alignment_fault(a, acc, False) for a in r2.s2)
    return s1dev, s2dev


@lru_cache(maxsize=64)
def _ptw_lut(controls: Controls, walk_attr: int, sh1: int) -> Any:
    """S2 MemAttr -> the stage-1 walk hits stage-2 Device (resolve with AccessType TTW)."""
    import numpy as np

    from ..arch.combine import Access as CAccess

    out = np.zeros(16, dtype=bool)
    for m in range(16):
        r = _resolve(walk_attr, m, sh1=sh1, sh2=0b11, controls=controls, access=CAccess.TTW)
        out[m] = any(a.is_device for a in r.s2)
    return out


@lru_cache(maxsize=16)
def _fsc_lut() -> Any:
    """(fault code, level + 1) -> FSC, from arch.esr.encode_fsc."""
    import numpy as np

    lut = np.zeros((6, 6), dtype=np.uint64)
    for code, kind in FAULT_CODES.items():
        if kind is None:
            continue
        for lvl in range(-1, 4):
            try:
                lut[code, lvl + 1] = encode_fsc(kind, None if kind is FaultKind.ALIGNMENT
                                                else lvl)
            except Exception:  # noqa: BLE001 - combinations with no encoding stay 0
                lut[code, lvl + 1] = 0
        if kind is FaultKind.ALIGNMENT:
            lut[code, :] = encode_fsc(kind, None)
    return lut


# --- the walk ------------------------------------------------------------------------------


class _State:
    """Per-access arrays and the fault bookkeeping of one batch."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.fault = np.zeros(n, dtype=np.uint8)
        self.stage = np.zeros(n, dtype=np.uint8)
        self.level = np.full(n, -2, dtype=np.int8)
        self.s1ptw = np.zeros(n, dtype=bool)
        self.fipa = np.zeros(n, dtype=np.uint64)
        self.fipa_valid = np.zeros(n, dtype=bool)

    def set(self, mask: Arr, code: int, stage: int, level: Any, *, s1ptw: Any = False,
            ipa: Arr | None = None) -> None:
        """Record a fault where ``mask`` and no earlier fault."""
        import numpy as np

        m = mask & (self.fault == 0)
        if not m.any():
            return
        self.fault[m] = code
        self.stage[m] = stage
        self.level[m] = level if np.isscalar(level) else level[m]
        self.s1ptw[m] = s1ptw if np.isscalar(s1ptw) else s1ptw[m]
        if ipa is not None:
            self.fipa[m] = ipa[m]
            self.fipa_valid[m] = True

    @property
    def alive(self) -> Arr:
        """Accesses without a fault so far."""
        return self.fault == 0


def _dec(plan: tuple[tuple[int, int, int], ...], raw: Arr) -> Arr:
    import numpy as np

    out = np.zeros(raw.shape, dtype=np.uint64)
    for lsb, mask, ashift in plan:
        out |= ((raw >> np.uint64(lsb)) & np.uint64(mask)) << np.uint64(ashift)
    return out


class _S2Out:
    """Stage-2 results of a sub-batch: output address, leaf, level and local faults."""

    __slots__ = ("pa", "raw", "level", "fault", "flevel")

    def __init__(self, pa: Arr, raw: Arr, level: Arr, fault: Arr, flevel: Arr) -> None:
        self.pa, self.raw, self.level, self.fault, self.flevel = pa, raw, level, fault, flevel


def _walk_tree(snap: _Mem, geom: Geometry, root: int, ia: Arr, alive: Arr,
               on_table: Any = None, translate_pages: Any = None,
               on_ptw_fault: Any = None) -> _S2Out:
    """Walk one tree for ``ia`` where ``alive``: leaf raw/level, output address, local faults.

    For stage 1, ``translate_pages`` maps distinct descriptor pages (IPAs) to PAs -- the S1PTW
    -- returning (pa, ok, fault, level) per page, and ``on_ptw_fault(mask, fault, level,
    ipa)`` records the faults.  The distinct pages are found without sorting: every access
    carries the id of its current table among the distinct tables of its level, so a page is
    (table id, page in table) and a next table is (table id, index), both small integers.
    ``on_table`` sees each table descriptor (hierarchical attributes).
    """
    import numpy as np

    n = ia.shape[0]
    c = Codec(geom)
    fault = np.zeros(n, dtype=np.uint8)
    flevel = np.full(n, -2, dtype=np.int8)
    leaf = np.zeros(n, dtype=np.uint64)
    lvl = np.full(n, -2, dtype=np.int8)
    out = np.zeros(n, dtype=np.uint64)
    done = ~alive
    if root >> geom.oa_bits:
        fault[alive] = _ASZ
        flevel[alive] = geom.start_level
        return _S2Out(out, leaf, lvl, fault, flevel)
    table = np.full(n, root, dtype=np.uint64)
    ptw = translate_pages is not None
    if ptw:
        tid = np.zeros(n, dtype=np.int64)
        utab = np.array([root], dtype=np.uint64)
    for level in geom.levels:
        act = ~done
        if not act.any():
            break
        shift = geom.shift(level)
        index = (ia >> np.uint64(shift)) & np.uint64(geom.entries(level) - 1)
        addr = table + (index << np.uint64(3))
        if ptw:
            ppt = max(1, geom.table_bytes(level) >> FRAME_SHIFT)
            key = tid * ppt + ((index << np.uint64(3)) >> np.uint64(FRAME_SHIFT)).astype(np.int64)
            big = utab.size * ppt
            np.clip(key, 0, big - 1, out=key)
            ids = np.nonzero(np.bincount(key[act], minlength=big))[0]
            uipa = utab[ids // ppt] + ((ids % ppt).astype(np.uint64) << np.uint64(FRAME_SHIFT))
            upa, uok, ufault, uflevel = translate_pages(uipa)
            remap = np.zeros(big, dtype=np.int64)
            remap[ids] = np.arange(ids.size, dtype=np.int64)
            pos = remap[key]
            ok = act & uok[pos]
            bad = act & ~ok
            if bad.any():
                on_ptw_fault(bad, ufault[pos], uflevel[pos], addr)
            addr = upa[pos] | (addr & np.uint64((1 << FRAME_SHIFT) - 1))
            done |= bad
            act = ok
            if not act.any():
                break
        raw = snap.read(addr)
        typ = raw & np.uint64(3)
        if level == FINAL_LEVEL:
            is_table = np.zeros(n, dtype=bool)
            is_leaf = typ == np.uint64(3)
        else:
            is_table = typ == np.uint64(3)
            is_leaf = (typ == np.uint64(1)) if c.leaf_ok.get(level) else np.zeros(n, dtype=bool)
        bad = act & ~(is_table | is_leaf)
        if bad.any():
            fault[bad] = _TRANS
            flevel[bad] = level
            done |= bad
        tab = act & is_table
        if tab.any():
            nxt = _dec(c.table_plan, raw) & ~np.uint64(geom.granule.size - 1)
            asz = tab & ((nxt >> np.uint64(geom.oa_bits)) != 0)
            if asz.any():
                fault[asz] = _ASZ
                flevel[asz] = level
                done |= asz
                tab &= ~asz
            if on_table is not None:
                on_table(raw, tab)
            table = np.where(tab, nxt, table)
            if ptw:
                ents = geom.entries(level)
                slot = tid * ents + index.astype(np.int64)
                big = utab.size * ents
                tab_idx = np.nonzero(tab)[0]
                if big <= max(4 * n, 1 << 22):
                    np.clip(slot, 0, big - 1, out=slot)
                    ids = np.nonzero(np.bincount(slot[tab_idx], minlength=big))[0]
                    rep = np.zeros(big, dtype=np.int64)
                    rep[slot[tab_idx]] = tab_idx
                    utab = nxt[rep[ids]]
                    remap = np.zeros(big, dtype=np.int64)
                    remap[ids] = np.arange(ids.size, dtype=np.int64)
                    tid = remap[slot]
                else:
                    uq: Any = np.unique(nxt[tab_idx], return_inverse=True)
                    utab = uq[0]
                    tid = np.zeros(n, dtype=np.int64)
                    tid[tab_idx] = uq[1].reshape(-1)
                if utab.size == 0:
                    utab = np.array([root], dtype=np.uint64)
        lf = act & is_leaf
        if lf.any():
            bs = geom.block_size(level)
            oa = _dec(c.leaf_plan[level], raw) & ~np.uint64(bs - 1)
            asz = lf & ((oa >> np.uint64(geom.oa_bits)) != 0)
            good = lf
            if asz.any():
                fault[asz] = _ASZ
                flevel[asz] = level
                good = lf & ~asz
            af = good & ((raw & np.uint64(1 << 10)) == 0)
            np.copyto(leaf, raw, where=good)
            np.copyto(lvl, np.int8(level), where=good)
            if af.any():
                fault[af] = _AF
                flevel[af] = level
                good = good & ~af
            np.copyto(out, oa | (ia & np.uint64(bs - 1)), where=good)
            done |= lf
    return _S2Out(out, leaf, lvl, fault, flevel)


def walk_batch(
    mem: PhysMem,
    regime: Regime,
    vas: Any,
    *,
    kind: AccessKind | str = AccessKind.READ,
    el: int = 1,
    size: int = 8,
) -> BatchResult:
    """Translate every VA of ``vas`` (an integer array) as one access kind, as
    :func:`memattr.mmu.walk.walk` would one by one.

    :param kind: read, write or exec (for all of them).  :param el: 0 or 1.
    :param size: access size in bytes (alignment checks).
    """
    import numpy as np

    k = AccessKind(kind) if isinstance(kind, str) else kind
    Access(0, k, el, size)  # validates el and size
    va_all = np.ascontiguousarray(vas, dtype=np.uint64).reshape(-1)
    snap = _snapshot(mem)
    n_all = va_all.shape[0]
    if n_all <= CHUNK:
        return _walk_chunk(snap, regime, va_all, k, el, size)
    parts = [_walk_chunk(snap, regime, va_all[i:i + CHUNK], k, el, size)
             for i in range(0, n_all, CHUNK)]
    joined = {f: np.concatenate([getattr(p, f) for p in parts])
              for f in BatchResult.__dataclass_fields__}
    return BatchResult(**joined)


def _walk_chunk(snap: _Mem, regime: Regime, va: Arr, k: AccessKind, el: int,
                size: int) -> BatchResult:
    """One cache-sized slice of a batch."""
    import numpy as np

    n = va.shape[0]
    ctl = regime.controls
    st = _State(n)
    s1dev, s2dev = _luts(ctl, k)
    aligned = (va & np.uint64(size - 1)) == 0
    is_exec = k is AccessKind.EXEC
    if ctl.a and not is_exec:
        st.set(~aligned, _ALIGN, 1, -2)

    s2 = regime.s2 if regime.s2_enabled else None
    s1_desc = np.zeros(n, dtype=np.uint64)
    s1_level = np.full(n, -2, dtype=np.int8)
    s1_attr = np.full(n, -1, dtype=np.int16)
    ipa = np.zeros(n, dtype=np.uint64)
    p1 = np.zeros(n, dtype=np.uint8)

    if regime.s1_enabled:
        for half in regime.s1.halves:
            sel = st.alive & (((va >> np.uint64(55)) & np.uint64(1)) == np.uint64(half.n))
            if sel.any():
                _stage1(snap, regime, half, va, sel, st, k, el, s1_desc, s1_level, ipa, p1)
        ok = s1_level >= 0
        idx = ((s1_desc >> np.uint64(2)) & np.uint64(7)).astype(np.int64)
        mair = np.array([regime.s1.mair_attr(i) for i in range(8)], dtype=np.int16)
        s1_attr = np.where(ok, mair[idx], np.int16(-1)).astype(np.int16)
        byte = np.where(ok, s1_attr, 0).astype(np.int64)
    else:
        over = st.alive & ((va >> np.uint64(regime.pa_max)) != 0)
        st.set(over, _ASZ, 1, 0)
        ipa = va.copy()
        p1[:] = 7
        byte = np.full(n, 0xFF, dtype=np.int64)

    # Stage-1 alignment (memory type), then stage-1 permission (R_XCHFJ).
    if not is_exec:
        st.set(st.alive & ~aligned & s1dev[byte], _ALIGN, 1, -2)
    bit = {AccessKind.READ: 1, AccessKind.WRITE: 2, AccessKind.EXEC: 4}[k]
    st.set(st.alive & ((p1 & bit) == 0), _PERM, 1, s1_level)

    s2_desc = np.zeros(n, dtype=np.uint64)
    s2_level = np.full(n, -2, dtype=np.int8)
    s2_memattr = np.full(n, -1, dtype=np.int8)
    pa = ipa.copy()
    p2 = np.full(n, 7, dtype=np.uint8)
    if s2 is not None:
        geom = s2.geometry
        live = st.alive
        over = live & ((ipa >> np.uint64(geom.ia_bits)) != 0)
        st.set(over, _TRANS, 2, 0, ipa=ipa)
        live = st.alive
        r = _walk_tree(snap, geom, s2.root, ipa, live)
        _merge(st, live, r, ipa, s1ptw=False)
        got = r.level >= 0
        s2_desc = r.raw
        s2_level = r.level
        s2_memattr = np.where(got, ((r.raw >> np.uint64(2)) & np.uint64(15)).astype(np.int8),
                              np.int8(-1)).astype(np.int8)
        p2 = _s2_perm_bits(r.raw, el, regime.xnx)
        ma = np.where(got, s2_memattr, 0).astype(np.int64)
        if not is_exec:
            st.set(st.alive & ~aligned & s2dev[byte, ma], _ALIGN, 2, -2, ipa=ipa)
        st.set(st.alive & ((p2 & bit) == 0), _PERM, 2, s2_level, ipa=ipa)
        pa = r.pa
    perms = p1 & p2
    return _finish(st, k, el, va, pa, ipa, s1_desc, s2_desc, s1_level, s2_level, s1_attr,
                   s2_memattr, perms)


def _merge(st: _State, live: Arr, r: _S2Out, ipa: Arr, *, s1ptw: bool) -> None:
    """Copy a sub-walk's local faults into the batch (stage 2)."""
    for code in (_TRANS, _AF, _ASZ, _PERM):
        m = live & (r.fault == code)
        if m.any():
            st.set(m, code, 2, r.flevel, s1ptw=s1ptw, ipa=ipa)


def _s2_perm_bits(raw: Arr, el: int, xnx: bool) -> Arr:
    """Stage-2 permission bits (1 read, 2 write, 4 exec) of leaf descriptors."""
    import numpy as np

    rd = ((raw >> np.uint64(6)) & np.uint64(1)).astype(np.uint8)
    wr = ((raw >> np.uint64(7)) & np.uint64(1)).astype(np.uint8)
    xn = ((raw >> np.uint64(53)) & np.uint64(3)).astype(np.uint8)
    if xnx:
        # XN[1:0]: 0 both, 1 PXN (not EL1), 2 neither, 3 UXN (not EL0).
        if el == 1:
            ex = (xn == 0) | (xn == 3)
        else:
            ex = (xn == 0) | (xn == 1)
    else:
        ex = (xn & 2) == 0
    return (rd | (wr << 1) | (ex.astype(np.uint8) << 2)).astype(np.uint8)


def _stage1(snap: _Mem, regime: Regime, half: Stage1Half, va: Arr, sel: Arr, st: _State,
            k: AccessKind, el: int, s1_desc: Arr, s1_level: Arr, ipa_out: Arr,
            p1: Arr) -> None:
    """Stage 1 for the accesses of one VA range (``sel``), S1PTW included."""
    import numpy as np

    s1 = regime.s1
    if half.epd or half.geometry is None:
        st.set(sel, _TRANS, 1, 0)
        return
    geom = half.geometry
    width = geom.ia_bits
    top = 55 if half.tbi else 63
    hi = (va >> np.uint64(width)) & np.uint64((1 << (top + 1 - width)) - 1)
    want = 0 if half.n == 0 else (1 << (top + 1 - width)) - 1
    st.set(sel & (hi != np.uint64(want)), _TRANS, 1, 0)
    live = sel & st.alive
    if not live.any():
        return
    ia = va & np.uint64((1 << width) - 1)
    n = va.shape[0]
    ap_t = np.zeros(n, dtype=np.uint64)
    uxn_t = np.zeros(n, dtype=bool)
    pxn_t = np.zeros(n, dtype=bool)
    s2 = regime.s2 if regime.s2_enabled else None
    ctl = regime.controls
    ptw_lut = None
    if s2 is not None and ctl.ptw:
        tcr = s1.decoded
        h = tcr.t1 if half.n else tcr.t0
        rgn = {0b00: 0x4, 0b01: 0xF, 0b10: 0xA, 0b11: 0xE}
        ptw_lut = _ptw_lut(ctl, (rgn[h.orgn] << 4) | rgn[h.irgn], h.sh if h.sh != 1 else 0b11)

    def on_table(raw: Arr, tab: Arr) -> None:
        if half.hpd:
            return
        hi = np.where(tab, raw >> np.uint64(59), np.uint64(0))
        if not hi.any():
            return
        ap_t[:] |= (hi >> np.uint64(2)) & np.uint64(3)
        uxn_t[:] |= ((hi >> np.uint64(1)) & np.uint64(1)) != 0
        pxn_t[:] |= (hi & np.uint64(1)) != 0

    def translate_pages(uipa: Arr) -> tuple[Arr, Arr, Arr, Arr]:
        # The stage-2 walk of each distinct stage-1 descriptor page (S1PTW).
        m = uipa.shape[0]
        ufault = np.zeros(m, dtype=np.uint8)
        uflevel = np.full(m, -2, dtype=np.int8)
        assert s2 is not None
        over = (uipa >> np.uint64(s2.geometry.ia_bits)) != 0
        ufault[over] = _TRANS
        uflevel[over] = 0
        r = _walk_tree(snap, s2.geometry, s2.root, uipa, ~over)
        take = ~over & (r.fault != 0)
        ufault[take] = r.fault[take]
        uflevel[take] = r.flevel[take]
        ok = ufault == 0
        noread = ok & (((r.raw >> np.uint64(6)) & np.uint64(1)) == 0)
        ufault[noread] = _PERM
        uflevel[noread] = r.level[noread]
        ok &= ~noread
        if ptw_lut is not None:
            dev = ok & ptw_lut[((r.raw >> np.uint64(2)) & np.uint64(15)).astype(np.int64)]
            ufault[dev] = _PERM
            uflevel[dev] = r.level[dev]
            ok &= ~dev
        return r.pa, ok, ufault, uflevel

    def on_ptw_fault(bad: Arr, fcode: Arr, flevel: Arr, addr: Arr) -> None:
        for code in (_TRANS, _AF, _ASZ, _PERM):
            cm = bad & (fcode == code)
            if cm.any():
                st.set(cm, code, 2, flevel, s1ptw=True, ipa=addr)

    if s2 is None:
        r = _walk_tree(snap, geom, half.root, ia, live, on_table)
    else:
        r = _walk_tree(snap, geom, half.root, ia, live, on_table, translate_pages, on_ptw_fault)
    for code in (_TRANS, _AF, _ASZ):
        m = live & (r.fault == code)
        if m.any():
            st.set(m, code, 1, r.flevel)
    got = live & (r.level >= 0)
    s1_desc[got] = r.raw[got]
    s1_level[got] = r.level[got]
    ok = got & (r.fault == 0)
    ipa_out[ok] = r.pa[ok]
    raw = r.raw
    ap = (raw >> np.uint64(6)) & np.uint64(3)
    ap2 = ((ap & np.uint64(2)) != 0) | ((ap_t & np.uint64(2)) != 0)
    ap1 = ((ap & np.uint64(1)) != 0) & ((ap_t & np.uint64(1)) == 0)
    el0_w = ap1 & ~ap2
    uxn = (((raw >> np.uint64(54)) & np.uint64(1)) != 0) | uxn_t
    pxn = (((raw >> np.uint64(53)) & np.uint64(1)) != 0) | pxn_t
    if el == 0:
        rd, wr, ex = ap1, el0_w, ~uxn
    else:
        rd, wr, ex = np.ones(n, dtype=bool), ~ap2, ~(pxn | el0_w)
    if s1.sctlr_bit("WXN"):
        ex = ex & ~wr
    bits = rd.astype(np.uint8) | (wr.astype(np.uint8) << 1) | (ex.astype(np.uint8) << 2)
    p1[got] = bits[got]


def _finish(st: _State, k: AccessKind, el: int, va: Arr, pa: Arr, ipa: Arr, s1_desc: Arr,
            s2_desc: Arr, s1_level: Arr, s2_level: Arr, s1_attr: Arr, s2_memattr: Arr,
            perms: Arr) -> BatchResult:
    """ESR/HPFAR of the faults, and the result arrays."""
    import numpy as np

    fault = st.fault
    faulted = fault != 0
    lvl = np.clip(st.level.astype(np.int64) + 1, 0, 5)
    fsc = _fsc_lut()[fault.astype(np.int64), lvl]
    stage2 = st.stage == 2
    instr = np.full(fault.shape, k is AccessKind.EXEC)
    lower = stage2 | (el == 0)
    ec = np.where(instr, np.where(lower, 0x20, 0x21), np.where(lower, 0x24, 0x25))
    wnr = (k is AccessKind.WRITE) & ~instr & ~st.s1ptw
    esr = (ec.astype(np.uint64) << np.uint64(26)) | np.uint64(1 << 25) | fsc \
        | (wnr.astype(np.uint64) << np.uint64(6)) \
        | ((stage2 & st.s1ptw).astype(np.uint64) << np.uint64(7))
    esr = np.where(faulted, esr, np.uint64(0))
    hv = faulted & stage2 & st.fipa_valid & (fault != _ALIGN)
    hpfar = np.where(hv, ((st.fipa >> np.uint64(12)) & np.uint64((1 << 40) - 1))
                     << np.uint64(4), np.uint64(0))
    ok = ~faulted
    return BatchResult(
        va=va, pa=np.where(ok, pa, np.uint64(0)), ipa=np.where(ok, ipa, np.uint64(0)),
        fault=fault, stage=np.where(faulted, st.stage, 0).astype(np.uint8),
        level=np.where(faulted, st.level, -2).astype(np.int8),
        s1ptw=st.s1ptw & faulted, esr=esr, hpfar=hpfar, hpfar_valid=hv,
        s1_desc=s1_desc, s2_desc=s2_desc, s1_level=s1_level, s2_level=s2_level,
        s1_attr=s1_attr, s2_memattr=s2_memattr,
        perms=np.where(ok, perms, 0).astype(np.uint8),
    )


def compare(batch: BatchResult, i: int, result: Any) -> list[str]:
    """Differences between element ``i`` of a batch and a scalar :class:`WalkResult`
    (empty when they agree); used by the tests and handy when debugging."""
    diffs: list[str] = []
    pairs: list[tuple[str, Any, Any]]
    f = result.fault
    code = int(batch.fault[i])
    if f is None:
        if code:
            diffs.append(f"batch faults ({FAULT_CODES[code]}) where the scalar walk translates")
            return diffs
        t = result.translation
        pairs = [("pa", int(batch.pa[i]), t.pa), ("ipa", int(batch.ipa[i]), t.ipa),
                 ("perms", int(batch.perms[i]),
                  int(t.perms.read) | int(t.perms.write) << 1 | int(t.perms.exec) << 2)]
    else:
        if FAULT_CODES.get(code) is not f.kind:
            diffs.append(f"fault kind {FAULT_CODES.get(code)} != {f.kind}")
            return diffs
        lvl = int(batch.level[i])
        pairs = [("stage", int(batch.stage[i]), f.stage),
                 ("level", None if lvl == -2 else lvl, f.level),
                 ("s1ptw", bool(batch.s1ptw[i]), f.s1ptw), ("esr", int(batch.esr[i]), f.esr),
                 ("hpfar", int(batch.hpfar[i]) if batch.hpfar_valid[i] else None, f.hpfar)]
    for name, got, want in pairs:
        if got != want:
            diffs.append(f"{name}: batch {got!r} != scalar {want!r}")
    if f is None:
        t = result.translation
        extra = [("s1_desc", int(batch.s1_desc[i]), t.s1_desc or 0),
                 ("s2_desc", int(batch.s2_desc[i]), t.s2_desc or 0),
                 ("s1_attr", int(batch.s1_attr[i]), -1 if t.s1_attr is None else t.s1_attr),
                 ("s2_memattr", int(batch.s2_memattr[i]),
                  -1 if t.s2_memattr is None else t.s2_memattr)]
        for name, got, want in extra:
            if got != want:
                diffs.append(f"{name}: batch {got!r} != scalar {want!r}")
    return diffs


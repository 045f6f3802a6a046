"""Vectorised two-stage walks (numpy): millions of accesses of one kind through the same tables.

:func:`walk_batch` computes, for an array of VAs, what :func:`memattr.mmu.walk.walk` computes
for each: the PA, or the fault (kind, stage, level, S1PTW, ESR, HPFAR), the leaf descriptors,
the stage-1 MAIR byte, the stage-2 MemAttr and the effective permissions.  The same checks run
in the same order (see :mod:`memattr.mmu.walk`); a hypothesis test holds the two equal.

The rules are not re-coded here: the permissions, the fault status codes, the whole ESR and
whether HPFAR_EL2 is valid are lookup tables generated from the scalar walker's rules
(:func:`~memattr.mmu.walk.s1_perm_table`, :func:`~memattr.mmu.walk.s2_perm_table`,
:func:`~memattr.mmu.walk.fault_esr`, :func:`~memattr.mmu.walk.ipa_valid`), and alignment and
PTW checks on memory types come from tables built with arch.combine.resolve and
arch.properties.

How it is fast: physical memory is snapshotted once into one ``uint64`` array (cached until
memory changes) with a dense frame -> row index, so a descriptor read is two gathers.  The
stage-2 translations of stage-1 table addresses are done once per distinct table page, not once
per access.

Limits: one access kind, EL and size per call; no ISV syndrome (ESR has ISV=0: give ``srt`` to
the scalar walker for that); no TLB; hardware Access flag / dirty updates (FEAT_HAFDBS) are not
written to memory -- the descriptors reported are the ones the scalar walk would leave.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..arch.combine import Access as CombineAccess
from ..arch.combine import Controls, resolve
from ..arch.cpu import Cpu
from ..arch.descriptor import (
    DESC_AF,
    DESC_DBM,
    DESC_TABLE,
    DESC_VALID,
    FINAL_LEVEL,
    S1_AP2,
    S1_AP_MASK,
    S1_AP_RDONLY,
    S1_AP_SHIFT,
    S1_APTABLE_MASK,
    S1_APTABLE_SHIFT,
    S1_ATTRINDX_MASK,
    S1_ATTRINDX_SHIFT,
    S1_PXN,
    S1_PXNTABLE,
    S1_UXN,
    S1_UXNTABLE,
    S2_MEMATTR_MASK,
    S2_MEMATTR_SHIFT,
    S2_S2AP_MASK,
    S2_S2AP_SHIFT,
    S2_S2AP_W,
    S2_S2AP_WRITE,
    S2_XN_MASK,
    S2_XN_SHIFT,
)
from ..arch.esr import FaultKind
from ..arch.properties import s1_has_alignment_fault, s2_has_alignment_fault
from ..arch.walkparams import VA_RANGE_BIT, addr_top, walk_mair_attr
from ..errors import EncodingError
from .pgtable import Codec
from .physmem import FRAME_SHIFT, FRAME_SIZE, PhysMem
from .regime import Geometry, Regime, Stage1Half
from .walk import (
    ALL_PERMS,
    PERM_R,
    PERM_W,
    PERM_X,
    S1_PERM_INDEX,
    S2_PERM_INDEX,
    Access,
    AccessKind,
    fault_esr,
    hpfar_value,
    ipa_valid,
    s1_perm_table,
    s2_perm_table,
)

__all__ = ["FAULT_CODES", "BatchResult", "walk_batch", "esr_table", "CHUNK"]

FAULT_CODES: dict[int, FaultKind | None] = {
    0: None,
    1: FaultKind.TRANSLATION,
    2: FaultKind.ACCESS_FLAG,
    3: FaultKind.PERMISSION,
    4: FaultKind.ADDRESS_SIZE,
    5: FaultKind.ALIGNMENT,
    6: FaultKind.SYNC_EXTERNAL_ON_WALK,
}
"""The ``fault`` array's codes."""

_TRANS, _AF, _PERM, _ASZ, _ALIGN, _EXT = 1, 2, 3, 4, 5, 6
_WALK_CODES = (_TRANS, _AF, _ASZ, _PERM, _EXT)
_LEVEL_NONE = -2  # the ``level`` array's value for a fault without a level (alignment)

CHUNK = 1 << 16
"""Accesses walked together: large enough to amortise Python overhead, small enough that the
working arrays stay in cache."""

Arr = Any  # numpy arrays (kept loose so importing this module does not need numpy typing)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """Per-access results of :func:`walk_batch`, each a numpy array of the batch's length.

    ``fault`` holds :data:`FAULT_CODES` (0 = translated).  Where there is no fault: ``pa``,
    ``ipa`` and ``perms`` (:data:`~memattr.mmu.walk.PERM_BITS`: read, write, exec) are set.
    Where there is one: ``stage``,
    ``level`` (-2 for none, i.e. alignment), ``s1ptw``, ``esr`` and ``hpfar`` (with
    ``hpfar_valid``).  ``s1_desc``/``s2_desc`` are the leaf descriptors reached (0 if none; with
    hardware updates in force, as the scalar walk leaves them), ``s1_level``/``s2_level`` their
    levels (-2 if none), ``s1_attr`` the MAIR byte (-1 with stage 1 off or not reached),
    ``s2_memattr`` MemAttr[3:0] (-1 if none).
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
        blob = b"".join(bytes(mem.frames[p]) for p in pfns) + bytes(FRAME_SIZE)
        self.flat = np.frombuffer(blob, dtype="<u8")
        self.zero_row = n
        self.pfns = np.asarray(pfns, dtype=np.int64)
        self.pa_bits = mem.pa_bits
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
        off = ((pa & np.uint64(FRAME_SIZE - 1)) >> np.uint64(3)).astype(np.int64)
        return self.flat[row * (FRAME_SIZE // 8) + off]

    def beyond(self, pa: Arr) -> Arr:
        """Where ``pa`` is outside the simulated memory (a read there is an External abort)."""
        import numpy as np

        return (pa >> np.uint64(self.pa_bits)) != 0


def _snapshot(mem: PhysMem) -> _Mem:
    got = mem.derived.get("batch-snapshot")
    if got is not None and got[0] == mem.generation:
        return got[1]  # type: ignore[no-any-return]
    if mem.images:
        mem.materialize()
    snap = _Mem(mem)
    mem.derived["batch-snapshot"] = (mem.generation, snap)
    return snap


# --- lookup tables from the scalar rules ---------------------------------------------------


_resolve = lru_cache(maxsize=16384)(resolve)


@lru_cache(maxsize=64)
def _luts(controls: Controls, kind: AccessKind, features: Cpu) -> tuple[Any, Any]:
    """(S1 type faults unaligned accesses [MAIR byte], S2 (or FWB-combined) type faults them
    [MAIR byte, MemAttr]) -- each entry from combine.resolve and arch.properties."""
    import numpy as np

    acc = kind.combine_access
    s1dev = np.zeros(256, dtype=bool)
    s2dev = np.zeros((256, 16), dtype=bool)
    for b in range(256):
        r = _resolve(b, 0xF, controls=controls, access=acc, cpu=features)
        s1dev[b] = any(s1_has_alignment_fault(a, acc, False) for a in r.s1)
        for m in range(16):
            r2 = (_resolve(b, m, controls=controls, access=acc, cpu=features)
                  if controls.fwb or b == 0 else None)
            if r2 is None:  # without FWB the stage-2 type does not depend on stage 1
                s2dev[b, m] = s2dev[0, m]
            else:
                s2dev[b, m] = any(s2_has_alignment_fault(a, acc, False) for a in r2.s2)
    return s1dev, s2dev


@lru_cache(maxsize=64)
def _ptw_lut(controls: Controls, walk_attr: int, sh1: int, features: Cpu) -> Any:
    """S2 MemAttr -> the stage-1 walk hits stage-2 Device (resolve with AccessType TTW)."""
    import numpy as np

    out = np.zeros(16, dtype=bool)
    for m in range(16):
        r = _resolve(walk_attr, m, sh1=sh1, sh2=0b11, controls=controls,
                     access=CombineAccess.TTW, cpu=features)
        out[m] = any(a.is_device for a in r.s2)
    return out


@lru_cache(maxsize=64)
def esr_table(kind: AccessKind, el: int) -> Any:
    """ESR_ELx of every fault a batch can report, from the scalar :func:`fault_esr`: indexed
    [fault code, level + 2 (0: no level), stage - 1, S1PTW, hardware table update (WnR=1)];
    0 where no such fault exists."""
    import numpy as np

    acc = Access(0, kind, el, 1)
    lut = np.zeros((len(FAULT_CODES), 6, 2, 2, 2), dtype=np.uint64)
    for code, fk in FAULT_CODES.items():
        if fk is None:
            continue
        for li, level in enumerate((None, -1, 0, 1, 2, 3)):
            if (fk is FaultKind.ALIGNMENT) != (level is None):
                continue
            for stage in (1, 2):
                for ptw in (False, True):
                    for upd in (False, True):
                        try:
                            lut[code, li, stage - 1, int(ptw), int(upd)] = fault_esr(
                                fk, stage, level, acc, s1ptw=ptw, wnr=True if upd else None)
                        except EncodingError:  # no FSC for this kind at this level
                            continue
    return lut


@lru_cache(maxsize=1)
def _hpfar_valid_lut() -> Any:
    """[fault code, S1PTW] -> HPFAR_EL2 holds the IPA (the scalar :func:`ipa_valid`)."""
    import numpy as np

    lut = np.zeros((len(FAULT_CODES), 2), dtype=bool)
    for code, fk in FAULT_CODES.items():
        if fk is not None:
            for ptw in (0, 1):
                lut[code, ptw] = ipa_valid(fk, bool(ptw))
    return lut


# The packed permission indexes of the scalar tables, placed (as the scalar walker packs them).
_IX_UXN = S1_PERM_INDEX.field_mask("UXN")
_IX_PXN = S1_PERM_INDEX.field_mask("PXN")
_IX_APTABLE_SHIFT = S1_PERM_INDEX.shift_mask("APTable")[0]
_IX_UXNTABLE = S1_PERM_INDEX.field_mask("UXNTable")
_IX_PXNTABLE = S1_PERM_INDEX.field_mask("PXNTable")
_IX_XN_SHIFT = S2_PERM_INDEX.shift_mask("XN")[0]


@lru_cache(maxsize=16)
def _perm_luts(el: int, wxn: bool, xnx: bool) -> tuple[Any, Any]:
    """(stage-1 permission bits by :data:`~memattr.mmu.walk.S1_PERM_INDEX`, stage-2 by
    :data:`~memattr.mmu.walk.S2_PERM_INDEX`): the scalar tables."""
    import numpy as np

    s1 = np.array([p.bits for p in s1_perm_table(el, wxn)], dtype=np.uint8)
    s2 = np.array([p.bits for p in s2_perm_table(el, xnx)], dtype=np.uint8)
    return s1, s2


# --- the walk ------------------------------------------------------------------------------


class _State:
    """Per-access arrays and the fault bookkeeping of one batch."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.fault = np.zeros(n, dtype=np.uint8)
        self.stage = np.zeros(n, dtype=np.uint8)
        self.level = np.full(n, _LEVEL_NONE, dtype=np.int8)
        self.s1ptw = np.zeros(n, dtype=bool)
        self.update = np.zeros(n, dtype=bool)
        self.fipa = np.zeros(n, dtype=np.uint64)
        self.fipa_valid = np.zeros(n, dtype=bool)

    def set(self, mask: Arr, code: int, stage: int, level: Any, *, s1ptw: Any = False,
            ipa: Arr | None = None, update: bool = False) -> None:
        """Record a fault where ``mask`` and no earlier fault (``update``: on the hardware update
        of a stage-1 descriptor, a table write)."""
        import numpy as np

        m = mask & (self.fault == 0)
        if not m.any():
            return
        self.fault[m] = code
        self.stage[m] = stage
        self.level[m] = level if np.isscalar(level) else level[m]
        self.s1ptw[m] = s1ptw if np.isscalar(s1ptw) else s1ptw[m]
        self.update[m] = update
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
    """Results of one tree walk over a sub-batch: output address, leaf, level, local faults;
    for stage 1 with S1PTW also, per access, the stage-2 write permission and level of the
    page holding the leaf descriptor, and the leaf descriptor's IPA."""

    __slots__ = ("pa", "raw", "level", "fault", "flevel", "ptw_w", "ptw_level", "desc_ipa")

    def __init__(self, pa: Arr, raw: Arr, level: Arr, fault: Arr, flevel: Arr) -> None:
        self.pa, self.raw, self.level, self.fault, self.flevel = pa, raw, level, fault, flevel
        self.ptw_w: Arr = None
        self.ptw_level: Arr = None
        self.desc_ipa: Arr = None


def _walk_tree(snap: _Mem, geom: Geometry, root: int, ia: Arr, alive: Arr, ha: bool,
               on_table: Any = None, translate_pages: Any = None,
               on_ptw_fault: Any = None) -> _S2Out:
    """Walk one tree for ``ia`` where ``alive``: leaf raw/level, output address, local faults
    (ASL AArch64.S1Walk / AArch64.S2Walk; ``ha``: TCR/VTCR.HA, no Access flag fault).

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
    flevel = np.full(n, _LEVEL_NONE, dtype=np.int8)
    leaf = np.zeros(n, dtype=np.uint64)
    lvl = np.full(n, _LEVEL_NONE, dtype=np.int8)
    out = np.zeros(n, dtype=np.uint64)
    done = ~alive
    result = _S2Out(out, leaf, lvl, fault, flevel)
    if root >> geom.oa_bits:
        fault[alive] = _ASZ
        flevel[alive] = 0  # the table base: level 0 (ASL AArch64.S1Walk / S2Walk)
        return result
    table = np.full(n, root, dtype=np.uint64)
    ptw = translate_pages is not None
    if ptw:
        tid = np.zeros(n, dtype=np.int64)
        utab = np.array([root], dtype=np.uint64)
        result.ptw_w = np.zeros(n, dtype=bool)
        result.ptw_level = np.zeros(n, dtype=np.int8)
        result.desc_ipa = np.zeros(n, dtype=np.uint64)
    u = np.uint64
    for level in geom.levels:
        act = ~done
        if not act.any():
            break
        shift = geom.shift(level)
        index = (ia >> u(shift)) & u(geom.entries(level) - 1)
        addr = table + (index << u(3))
        if ptw:
            ppt = max(1, geom.table_bytes(level) >> FRAME_SHIFT)
            key = tid * ppt + ((index << u(3)) >> u(FRAME_SHIFT)).astype(np.int64)
            big = utab.size * ppt
            np.clip(key, 0, big - 1, out=key)
            ids = np.nonzero(np.bincount(key[act], minlength=big))[0]
            uipa = utab[ids // ppt] + ((ids % ppt).astype(np.uint64) << u(FRAME_SHIFT))
            upa, uok, ufault, uflevel, uw, ulevel = translate_pages(uipa)
            remap = np.zeros(big, dtype=np.int64)
            remap[ids] = np.arange(ids.size, dtype=np.int64)
            pos = remap[key]
            ok = act & uok[pos]
            bad = act & ~ok
            if bad.any():
                on_ptw_fault(bad, ufault[pos], uflevel[pos], addr)
            np.copyto(result.ptw_w, uw[pos], where=ok)
            np.copyto(result.ptw_level, ulevel[pos], where=ok)
            np.copyto(result.desc_ipa, addr, where=ok)
            addr = upa[pos] | (addr & u(FRAME_SIZE - 1))
            done |= bad
            act = ok
            if not act.any():
                break
        ext = act & snap.beyond(addr)
        if ext.any():
            fault[ext] = _EXT
            flevel[ext] = level
            done |= ext
            act &= ~ext
        raw = snap.read(addr)
        valid = (raw & u(DESC_VALID)) != 0
        bit1 = (raw & u(DESC_TABLE)) != 0
        if level == FINAL_LEVEL:
            is_table = np.zeros(n, dtype=bool)
            is_leaf = valid & bit1
        else:
            is_table = valid & bit1
            is_leaf = (valid & ~bit1) if c.leaf_ok.get(level) else np.zeros(n, dtype=bool)
        bad = act & ~(is_table | is_leaf)
        if bad.any():
            fault[bad] = _TRANS
            flevel[bad] = level
            done |= bad
        tab = act & is_table
        if tab.any():
            nxt = _dec(c.table_plan, raw)
            asz = tab & ((nxt >> u(geom.oa_bits)) != 0)
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
            oa = _dec(c.leaf_plan[level], raw) & ~u(bs - 1)
            asz = lf & ((oa >> u(geom.oa_bits)) != 0)
            good = lf
            if asz.any():
                fault[asz] = _ASZ
                flevel[asz] = level
                good = lf & ~asz
            np.copyto(leaf, raw, where=good)
            np.copyto(lvl, np.int8(level), where=good)
            if not ha:
                af = good & ((raw & u(DESC_AF)) == 0)
                if af.any():
                    fault[af] = _AF
                    flevel[af] = level
                    good = good & ~af
            np.copyto(out, oa | (ia & u(bs - 1)), where=good)
            done |= lf
    return result


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


def _features(regime: Regime) -> Cpu:
    cpu = regime.cpu
    return cpu


def _walk_chunk(snap: _Mem, regime: Regime, va: Arr, k: AccessKind, el: int,
                size: int) -> BatchResult:
    """One cache-sized slice of a batch."""
    import numpy as np

    u = np.uint64
    n = va.shape[0]
    ctl = regime.controls
    feats = _features(regime)
    st = _State(n)
    s1dev, s2dev = _luts(ctl, k, feats)
    p1lut, p2lut = _perm_luts(el, regime.s1.sctlr_bit("WXN"), regime.xnx)
    aligned = (va & u(size - 1)) == 0
    is_exec = k is AccessKind.EXEC
    write = k is AccessKind.WRITE
    if ctl.a and not is_exec:
        st.set(~aligned, _ALIGN, 1, _LEVEL_NONE)

    s2 = regime.s2 if regime.s2_enabled else None
    s1_desc = np.zeros(n, dtype=np.uint64)
    s1_level = np.full(n, _LEVEL_NONE, dtype=np.int8)
    s1_attr = np.full(n, -1, dtype=np.int16)
    ipa = np.zeros(n, dtype=np.uint64)
    p1 = np.zeros(n, dtype=np.uint8)

    upd_deny = np.zeros(n, dtype=bool)
    upd_level = np.zeros(n, dtype=np.int8)
    upd_ipa = np.zeros(n, dtype=np.uint64)
    if regime.s1_enabled:
        for half in regime.s1.halves:
            sel = st.alive & (((va >> u(VA_RANGE_BIT)) & u(1)) == u(half.n))
            if sel.any():
                _stage1(snap, regime, half, va, sel, st, k, el, s1_desc, s1_level, ipa, p1,
                        p1lut, p2lut, upd_deny, upd_level, upd_ipa)
        ok = s1_level >= 0
        idx = ((s1_desc >> u(S1_ATTRINDX_SHIFT)) & u(S1_ATTRINDX_MASK)).astype(np.int64)
        mair = np.array([regime.s1.mair_attr(i) for i in range(8)], dtype=np.int16)
        s1_attr = np.where(ok, mair[idx], np.int16(-1)).astype(np.int16)
        byte = np.where(ok, s1_attr, 0).astype(np.int64)
    else:
        # ASL AArch64.S1DisabledOutput: VA[top:PAMax] must be zero (top 55 with TBI).
        top = np.where(((va >> u(VA_RANGE_BIT)) & u(1)) == u(1),
                       _top(regime.s1.halves[1], is_exec), _top(regime.s1.halves[0], is_exec))
        keep = np.where(top == VA_RANGE_BIT, u((1 << (VA_RANGE_BIT + 1)) - 1), u((1 << 64) - 1))
        ipa = va & keep
        over = st.alive & ((ipa >> u(regime.pa_max)) != 0)
        st.set(over, _ASZ, 1, 0)
        p1[:] = ALL_PERMS.bits
        byte = np.full(n, 0xFF, dtype=np.int64)

    # Stage-1 alignment (memory type), then stage-1 permission.
    if not is_exec:
        st.set(st.alive & ~aligned & s1dev[byte], _ALIGN, 1, _LEVEL_NONE)
    bit = {AccessKind.READ: PERM_R, AccessKind.WRITE: PERM_W, AccessKind.EXEC: PERM_X}[k]
    st.set(st.alive & ((p1 & bit) == 0), _PERM, 1, s1_level)
    if regime.s1_enabled:
        st.set(st.alive & upd_deny, _PERM, 2, upd_level, s1ptw=True, ipa=upd_ipa, update=True)
        _s1_updates(regime, va, s1_desc, st.alive & (s1_level >= 0), write)

    s2_desc = np.zeros(n, dtype=np.uint64)
    s2_level = np.full(n, _LEVEL_NONE, dtype=np.int8)
    s2_memattr = np.full(n, -1, dtype=np.int8)
    pa = ipa.copy()
    p2 = np.full(n, ALL_PERMS.bits, dtype=np.uint8)
    if s2 is not None:
        live = st.alive
        geom = s2.geometry
        if geom is None:
            st.set(live, _TRANS, 2, 0, ipa=ipa)
        else:
            over = live & ((ipa >> u(geom.ia_bits)) != 0)
            st.set(over, _TRANS, 2, 0, ipa=ipa)
            live = st.alive
            r = _walk_tree(snap, geom, s2.root, ipa, live, s2.params.ha)
            _merge(st, live, r, ipa, s1ptw=False)
            got = r.level >= 0
            s2_desc = r.raw
            s2_level = r.level
            s2_memattr = np.where(got, ((r.raw >> u(S2_MEMATTR_SHIFT))
                                        & u(S2_MEMATTR_MASK)).astype(np.int8),
                                  np.int8(-1)).astype(np.int8)
            p2 = _s2_perm_bits(r.raw, p2lut, s2.params.hd)
            ma = np.where(got, s2_memattr, 0).astype(np.int64)
            if not is_exec:
                st.set(st.alive & ~aligned & s2dev[byte, ma], _ALIGN, 2, _LEVEL_NONE, ipa=ipa)
            st.set(st.alive & ((p2 & bit) == 0), _PERM, 2, s2_level, ipa=ipa)
            s2_desc = _s2_updated(s2.params.ha, s2.params.hd, s2_desc, st.alive & got, write)
            pa = r.pa
    perms = p1 & p2
    return _finish(st, k, el, va, pa, ipa, s1_desc, s2_desc, s1_level, s2_level, s1_attr,
                   s2_memattr, perms)


def _top(half: Stage1Half, is_exec: bool) -> int:
    """ASL AArch64.AddrTop for one VA range."""
    p = half.params
    return addr_top(p.tbi, p.tbid, is_exec)


def _s1_updates(regime: Regime, va: Arr, s1_desc: Arr, ok: Arr, write: bool) -> None:
    """The stage-1 leaves as the scalar walk leaves them after hardware updates (AF set with
    HA; AP[2] cleared for a write with HD and DBM=1), in place where ``ok``."""
    import numpy as np

    u = np.uint64
    for half in regime.s1.halves:
        p = half.params
        if not p.ha:
            continue
        sel = ok & (((va >> u(VA_RANGE_BIT)) & u(1)) == u(half.n))
        new = s1_desc | u(DESC_AF)
        if p.hd and write:
            new = np.where((s1_desc & u(DESC_DBM)) != 0, new & ~u(S1_AP2), new)
        np.copyto(s1_desc, new, where=sel)


def _s2_updated(ha: bool, hd: bool, raw: Arr, ok: Arr, write: bool) -> Arr:
    """Stage-2 leaves after the hardware updates the scalar walk makes."""
    import numpy as np

    if not ha:
        return raw
    u = np.uint64
    new = raw | u(DESC_AF)
    if hd and write:
        new = np.where((raw & u(DESC_DBM)) != 0, new | u(S2_S2AP_W), new)
    return np.where(ok, new, raw)


def _merge(st: _State, live: Arr, r: _S2Out, ipa: Arr, *, s1ptw: bool) -> None:
    """Copy a sub-walk's local faults into the batch (stage 2)."""
    for code in _WALK_CODES:
        m = live & (r.fault == code)
        if m.any():
            st.set(m, code, 2, r.flevel, s1ptw=s1ptw, ipa=ipa)


def _s2_perm_bits(raw: Arr, lut: Arr, hd: bool) -> Arr:
    """Stage-2 permission bits (:data:`~memattr.mmu.walk.PERM_BITS`) of leaf descriptors, by the
    scalar table; with HA+HD, DBM=1 makes a leaf writable (ASL AArch64.S2ApplyOutputPerms)."""
    import numpy as np

    u = np.uint64
    s2ap = (raw >> u(S2_S2AP_SHIFT)) & u(S2_S2AP_MASK)
    if hd:
        s2ap = np.where((raw & u(DESC_DBM)) != 0, s2ap | u(S2_S2AP_WRITE), s2ap)
    xn = (raw >> u(S2_XN_SHIFT)) & u(S2_XN_MASK)
    return lut[(s2ap | (xn << u(_IX_XN_SHIFT))).astype(np.int64)]


def _stage1(snap: _Mem, regime: Regime, half: Stage1Half, va: Arr, sel: Arr, st: _State,
            k: AccessKind, el: int, s1_desc: Arr, s1_level: Arr, ipa_out: Arr,
            p1: Arr, p1lut: Arr, p2lut: Arr, upd_deny: Arr, upd_level: Arr,
            upd_ipa: Arr) -> None:
    """Stage 1 for the accesses of one VA range (``sel``), S1PTW included; ``upd_*`` receive
    where the hardware update of the leaf would fault at stage 2."""
    import numpy as np

    u = np.uint64
    p = half.params
    if half.geometry is None:
        st.set(sel, _TRANS, 1, 0)  # AArch64.S1TxSZFaults
        return
    geom = half.geometry
    width = geom.ia_bits
    top = _top(half, k is AccessKind.EXEC)
    if width <= top:
        hi = (va >> u(width)) & u((1 << (top + 1 - width)) - 1)
        want = 0 if half.n == 0 else (1 << (top + 1 - width)) - 1
        st.set(sel & (hi != u(want)), _TRANS, 1, 0)  # AArch64.VAIsOutOfRange
    if p.epd:
        st.set(sel, _TRANS, 1, 0)
    live = sel & st.alive
    if not live.any():
        return
    ia = va & u((1 << width) - 1)
    n = va.shape[0]
    tperm = np.zeros(n, dtype=np.uint64)
    s2 = regime.s2 if regime.s2_enabled else None
    ctl = regime.controls
    ptw_lut = None
    if s2 is not None and ctl.ptw:
        ptw_lut = _ptw_lut(ctl, walk_mair_attr(p.irgn, p.orgn), p.sh if p.sh != 1 else 0b11,
                           _features(regime))

    def on_table(raw: Arr, tab: Arr) -> None:
        if p.hpd:
            return
        bits = (((raw >> u(S1_APTABLE_SHIFT)) & u(S1_APTABLE_MASK)) << u(_IX_APTABLE_SHIFT)) \
            | np.where((raw & u(S1_UXNTABLE)) != 0, u(_IX_UXNTABLE), u(0)) \
            | np.where((raw & u(S1_PXNTABLE)) != 0, u(_IX_PXNTABLE), u(0))
        tperm[:] |= np.where(tab, bits, u(0))

    p2lut_el1 = _perm_luts(1, False, regime.xnx)[1]  # table walks are checked as EL1 reads

    def translate_pages(uipa: Arr) -> tuple[Arr, Arr, Arr, Arr, Arr, Arr]:
        # The stage-2 walk of each distinct stage-1 descriptor page (S1PTW).
        m = uipa.shape[0]
        ufault = np.zeros(m, dtype=np.uint8)
        uflevel = np.full(m, _LEVEL_NONE, dtype=np.int8)
        assert s2 is not None
        g2 = s2.geometry
        if g2 is None:
            ufault[:] = _TRANS
            uflevel[:] = 0
            no = np.zeros(m, dtype=bool)
            return np.zeros(m, dtype=np.uint64), no, ufault, uflevel, no, uflevel
        over = (uipa >> u(g2.ia_bits)) != 0
        ufault[over] = _TRANS
        uflevel[over] = 0
        r = _walk_tree(snap, g2, s2.root, uipa, ~over, s2.params.ha)
        take = ~over & (r.fault != 0)
        ufault[take] = r.fault[take]
        uflevel[take] = r.flevel[take]
        ok = ufault == 0
        perm = _s2_perm_bits(r.raw, p2lut_el1, s2.params.hd)
        if ptw_lut is not None:
            dev = ok & ptw_lut[((r.raw >> u(S2_MEMATTR_SHIFT)) & u(S2_MEMATTR_MASK))
                               .astype(np.int64)]
            ufault[dev] = _PERM
            uflevel[dev] = r.level[dev]
            ok &= ~dev
        noread = ok & ((perm & PERM_R) == 0)
        ufault[noread] = _PERM
        uflevel[noread] = r.level[noread]
        ok &= ~noread
        return r.pa, ok, ufault, uflevel, (perm & PERM_W) != 0, r.level

    def on_ptw_fault(bad: Arr, fcode: Arr, flevel: Arr, addr: Arr) -> None:
        for code in _WALK_CODES:
            cm = bad & (fcode == code)
            if cm.any():
                st.set(cm, code, 2, flevel, s1ptw=True, ipa=addr)

    if s2 is None:
        r = _walk_tree(snap, geom, half.root, ia, live, p.ha, on_table)
    else:
        r = _walk_tree(snap, geom, half.root, ia, live, p.ha, on_table, translate_pages,
                       on_ptw_fault)
    for code in (_TRANS, _AF, _ASZ, _EXT):
        m = live & (r.fault == code)
        if m.any():
            st.set(m, code, 1, r.flevel)
    got = live & (r.level >= 0)
    s1_desc[got] = r.raw[got]
    s1_level[got] = r.level[got]
    ok = got & (r.fault == 0)
    ipa_out[ok] = r.pa[ok]
    raw = r.raw
    ap = (raw >> u(S1_AP_SHIFT)) & u(S1_AP_MASK)
    if p.hd:
        ap = np.where((raw & u(DESC_DBM)) != 0, ap & ~u(S1_AP_RDONLY), ap)
    idx = ap | np.where((raw & u(S1_UXN)) != 0, u(_IX_UXN), u(0)) \
        | np.where((raw & u(S1_PXN)) != 0, u(_IX_PXN), u(0)) | tperm
    bits = p1lut[idx.astype(np.int64)]
    p1[got] = bits[got]
    if p.ha and s2 is not None and r.ptw_w is not None:
        # The hardware update of the leaf (AF, or AP[2] for a write with HD and DBM=1) is a
        # stage-2 write of the descriptor: it needs S2AP[1] on the table page (ASL
        # AArch64.S1Translate; faults with S1PTW=1, WnR=1).  The caller records it after the
        # stage-1 alignment and permission checks.
        need = ok & ((raw & u(DESC_AF)) == 0)
        if p.hd and k is AccessKind.WRITE:
            need |= ok & ((raw & u(DESC_DBM)) != 0) & ((raw & u(S1_AP2)) != 0)
        deny = need & ~r.ptw_w
        if deny.any():
            upd_deny[:] |= deny
            np.copyto(upd_level, r.ptw_level, where=deny)
            np.copyto(upd_ipa, r.desc_ipa, where=deny)


def _finish(st: _State, k: AccessKind, el: int, va: Arr, pa: Arr, ipa: Arr, s1_desc: Arr,
            s2_desc: Arr, s1_level: Arr, s2_level: Arr, s1_attr: Arr, s2_memattr: Arr,
            perms: Arr) -> BatchResult:
    """ESR/HPFAR of the faults (from the scalar rules' tables), and the result arrays."""
    import numpy as np

    u = np.uint64
    fault = st.fault
    faulted = fault != 0
    code = fault.astype(np.int64)
    lvl = np.clip(st.level.astype(np.int64) + 2, 0, 5)
    stage_i = np.clip(st.stage.astype(np.int64) - 1, 0, 1)
    ptw = st.s1ptw.astype(np.int64)
    upd = st.update.astype(np.int64)
    esr = np.where(faulted, esr_table(k, el)[code, lvl, stage_i, ptw, upd], u(0))
    hv = faulted & (st.stage == 2) & st.fipa_valid & _hpfar_valid_lut()[code, ptw]
    hpfar = np.where(hv, hpfar_value(st.fipa), u(0))  # type: ignore[arg-type]
    ok = ~faulted
    return BatchResult(
        va=va, pa=np.where(ok, pa, u(0)), ipa=np.where(ok, ipa, u(0)),
        fault=fault, stage=np.where(faulted, st.stage, 0).astype(np.uint8),
        level=np.where(faulted, st.level, _LEVEL_NONE).astype(np.int8),
        s1ptw=st.s1ptw & faulted, esr=esr, hpfar=hpfar, hpfar_valid=hv,
        s1_desc=s1_desc, s2_desc=s2_desc, s1_level=s1_level, s2_level=s2_level,
        s1_attr=s1_attr, s2_memattr=s2_memattr,
        perms=np.where(ok, perms, 0).astype(np.uint8),
    )

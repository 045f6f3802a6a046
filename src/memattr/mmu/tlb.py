"""A TLB model: cached translations, TLBI and DSB, and the stale-translation hazard.

Two kinds of entry, as the architecture allows (Arm ARM D8.13 "Translation Lookaside
Buffers"):

- *combined* stage-1+2 entries, VA -> PA, tagged with the VMID, the ASID (none for a global,
  nG=0, stage-1 leaf) and the leaf level;
- *stage-2-only* entries, IPA -> PA, tagged with the VMID (used by walks that miss, including
  the stage-1 table walks).

Each entry remembers every descriptor (address, value) its walk read.  A hit re-runs the walk
over those remembered values -- what the hardware would use -- and compares them with memory:
a descriptor that changed is a **stale translation** hazard, naming the maintenance that would
have removed the entry.  TLBI only marks entries; they are gone at the next DSB (a DSB ...ST
does not complete TLB maintenance), so a hit between TLBI and DSB is reported as
**TLBI not completed**.

TLBI operations (EL1&0 regime, the VMID/ASID given as operands; the IS variants act the same,
this model has one PE): ``VAE1``/``VAE1IS`` (combined entries of the VA, ASID or global),
``VALE1[IS]`` likewise, ``VMALLE1[IS]`` (all combined entries of the VMID), ``IPAS2E1[IS]``
and ``IPAS2LE1[IS]`` (stage-2-only entries of the IPA), ``VMALLS12E1[IS]`` (every entry of the
VMID), ``ALLE1[IS]`` (everything).  The capacity is unbounded and nothing is evicted: the model
shows what *may* be used.
"""

from __future__ import annotations

import enum

from .._value import dataclass, replace  # dataclasses, cheaper to import
from ..arch.descriptor import S1_NG
from ..errors import ConfigError
from .events import Event, EventKind
from .physmem import DescReader
from .regime import Regime
from .walk import Access, S2Cache, S2Out, WalkResult, walk

__all__ = [
    "HazardKind",
    "Hazard",
    "TLBEntry",
    "Lookup",
    "TLB",
    "TLBI_OPS",
]

TLBI_OPS = frozenset({
    "VAE1", "VAE1IS", "VALE1", "VALE1IS", "VMALLE1", "VMALLE1IS", "IPAS2E1", "IPAS2E1IS",
    "IPAS2LE1", "IPAS2LE1IS", "VMALLS12E1", "VMALLS12E1IS", "ALLE1", "ALLE1IS",
})
"""The TLBI operations this model implements."""


class HazardKind(enum.Enum):
    """Why a TLB hit is a problem."""

    STALE = "stale translation"  # a descriptor changed and no TLBI removed the entry
    UNSYNCHRONISED = "TLBI not completed"  # a TLBI was issued but no DSB has completed it


@dataclass(frozen=True, slots=True)
class Hazard:
    """A TLB hit whose entry no longer matches the tables.

    :param desc_pa: the descriptor that changed.  :param cached: its value in the entry.
    :param current: its value in memory.  :param stage: the stage of that descriptor.
    :param s1ptw: it was read to translate a stage-1 table address.
    :param needed: the maintenance that removes the entry.
    """

    kind: HazardKind
    address: int
    desc_pa: int
    cached: int
    current: int
    stage: int
    level: int
    s1ptw: bool
    needed: str

    def __str__(self) -> str:
        ptw = " (stage-1 walk)" if self.s1ptw else ""
        return (f"{self.kind.value} at 0x{self.address:x}: stage-{self.stage} L{self.level}"
                f"{ptw} descriptor @0x{self.desc_pa:x} cached 0x{self.cached:016x}, now "
                f"0x{self.current:016x}; needs {self.needed}")


@dataclass(frozen=True, slots=True)
class TLBEntry:
    """One cached translation.

    :param combined: a VA -> PA (stage 1+2) entry; else IPA -> PA (stage 2 only).
    :param asid: the ASID, None for global or stage-2-only entries.
    :param base: VA (combined) or IPA (stage 2) of the first byte.  :param size: bytes.
    :param reads: (descriptor PA, value, stage, level, s1ptw) of every descriptor read.
    """

    combined: bool
    vmid: int
    asid: int | None
    base: int
    size: int
    level: int
    ipa_base: int
    reads: tuple[tuple[int, int, int, int, bool], ...]
    pending: bool = False
    s2: S2Out | None = None

    def covers(self, addr: int) -> bool:
        """``addr`` lies in this entry."""
        return self.base <= addr < self.base + self.size


@dataclass(frozen=True, slots=True)
class Lookup:
    """The result of an access through the TLB."""

    result: WalkResult
    hit: bool
    hazards: tuple[Hazard, ...]


class _Snapshot:
    """Descriptor reads served from an entry's remembered values, else from memory."""

    def __init__(self, mem: DescReader, values: dict[int, int]) -> None:
        self.mem = mem
        self.values = values

    def read64(self, addr: int) -> int:
        """The remembered value at ``addr``, else memory's."""
        v = self.values.get(addr)
        return self.mem.read64(addr) if v is None else v


_Key = tuple[int, int | None, int, int]  # (vmid, asid, size, base)


class TLB(S2Cache):
    """The TLB of one PE for the EL1&0 regime."""

    def __init__(self, mem: DescReader) -> None:
        self.mem = mem
        self._combined: dict[_Key, TLBEntry] = {}
        self._s2: dict[_Key, TLBEntry] = {}
        self._sizes: set[int] = set()
        self._s2_sizes: set[int] = set()
        self._hazards: list[Hazard] = []
        self.log: list[str] = []
        """The maintenance applied, in order ("TLBI VAE1IS va=0x.. asid=1", "DSB ISH")."""

    # --- inspection ----------------------------------------------------------------------
    def entries(self) -> list[TLBEntry]:
        """Every entry, combined first."""
        return list(self._combined.values()) + list(self._s2.values())

    def __len__(self) -> int:
        return len(self._combined) + len(self._s2)

    # --- hazards ---------------------------------------------------------------------------
    def _check(self, entry: TLBEntry, addr: int) -> list[Hazard]:
        out = []
        for pa, cached, stage, level, s1ptw in entry.reads:
            cur = self.mem.read64(pa)
            if cur == cached:
                continue
            kind = HazardKind.UNSYNCHRONISED if entry.pending else HazardKind.STALE
            out.append(Hazard(kind, addr, pa, cached, cur, stage, level, s1ptw,
                              self._needed(entry, stage, s1ptw)))
        return out

    @staticmethod
    def _needed(entry: TLBEntry, stage: int, s1ptw: bool) -> str:
        if entry.pending:
            return "a DSB to complete the TLBI already issued"
        if not entry.combined:
            return (f"TLBI IPAS2E1IS (IPA 0x{entry.base:x}, VMID {entry.vmid}) or "
                    "VMALLS12E1IS, then DSB ISH")
        if stage == 1 and not s1ptw:
            asid = "any ASID (global entry)" if entry.asid is None else f"ASID {entry.asid}"
            return (f"TLBI VAE1IS (VA 0x{entry.base:x}, {asid}, VMID {entry.vmid}) or "
                    "VMALLE1IS, then DSB ISH")
        return (f"TLBI IPAS2E1IS (IPA 0x{entry.ipa_base:x}) + DSB ISH + TLBI VMALLE1IS + DSB ISH, "
                f"or TLBI VMALLS12E1IS + DSB ISH (VMID {entry.vmid})")

    # --- S2Cache (used by walks that miss) -------------------------------------------------
    def s2_lookup(self, vmid: int, ipa: int) -> S2Out | None:
        """A stage-2-only entry covering ``ipa`` (its hazards are recorded)."""
        for size in self._s2_sizes:
            e = self._s2.get((vmid, None, size, ipa & ~(size - 1)))
            if e is not None:
                self._hazards.extend(self._check(e, ipa))
                return e.s2
        return None

    def s2_fill(self, vmid: int, out: S2Out) -> None:
        """Remember a stage-2 translation."""
        reads = tuple((s.desc_pa, s.raw, 2, s.level, s.s1ptw) for s in out.steps)
        self._s2[(vmid, None, out.size, out.ipa_base)] = TLBEntry(
            False, vmid, None, out.ipa_base, out.size, out.level, out.ipa_base, reads, s2=out)
        self._s2_sizes.add(out.size)

    # --- lookups ---------------------------------------------------------------------------
    def _find(self, vmid: int, asid: int, va: int) -> TLBEntry | None:
        for size in self._sizes:
            base = va & ~(size - 1)
            e = self._combined.get((vmid, asid, size, base))
            if e is None:
                e = self._combined.get((vmid, None, size, base))
            if e is not None:
                return e
        return None

    def access(self, regime: Regime, access: Access) -> Lookup:
        """Translate ``access`` through the TLB: a hit replays the cached descriptors (and
        reports hazards), a miss walks memory and fills the TLB."""
        vmid, asid = regime.vmid, regime.asid
        e = self._find(vmid, asid, access.va)
        if e is not None:
            snap = _Snapshot(self.mem, {pa: v for pa, v, *_ in e.reads})
            res = walk(snap, regime, access, hw_update=False)
            res = res.replace(steps=tuple(replace(s, cached=True) for s in res.steps))
            return Lookup(res, True, tuple(self._check(e, access.va)))
        self._hazards = []
        res = walk(self.mem, regime, access, cache=self)
        found = tuple(self._hazards)
        self._hazards = []
        t = res.translation
        if t is not None:
            size = t.size
            base = access.va & ~(size - 1)
            glob = t.s1_desc is not None and not t.s1_desc & S1_NG
            key_asid = None if (glob or t.s1_desc is None) else asid
            level = t.s1_level if t.s1_level is not None else (t.s2_level or 3)
            reads = tuple((s.desc_pa, s.raw, s.stage, s.level, s.s1ptw) for s in res.steps)
            ipa_base = t.ipa & ~(size - 1)
            self._combined[(vmid, key_asid, size, base)] = TLBEntry(
                True, vmid, key_asid, base, size, level, ipa_base, reads)
            self._sizes.add(size)
        return Lookup(res, False, found)

    # --- maintenance -----------------------------------------------------------------------
    def tlbi(self, op: str, *, vmid: int = 0, asid: int | None = None, va: int | None = None,
             ipa: int | None = None) -> int:
        """Issue TLBI ``op``; returns the number of entries it marked for invalidation."""
        name = op.upper()
        if name not in TLBI_OPS:
            raise ConfigError(f"TLBI {op}: not modelled (known: {', '.join(sorted(TLBI_OPS))})")
        base = name.removesuffix("IS")

        def mark(table: dict[_Key, TLBEntry], pred: object) -> int:
            n = 0
            for k, e in table.items():
                if not e.pending and pred(e):  # type: ignore[operator]
                    table[k] = replace(e, pending=True)
                    n += 1
            return n

        if base in ("VAE1", "VALE1"):
            if va is None:
                raise ConfigError(f"TLBI {name}: needs va=")
            n = mark(self._combined, lambda e: e.vmid == vmid and e.covers(va)
                     and (e.asid is None or asid is None or e.asid == asid))
            desc = f"va=0x{va:x} asid={asid} vmid={vmid}"
        elif base == "VMALLE1":
            n = mark(self._combined, lambda e: e.vmid == vmid)
            desc = f"vmid={vmid}"
        elif base in ("IPAS2E1", "IPAS2LE1"):
            if ipa is None:
                raise ConfigError(f"TLBI {name}: needs ipa=")
            n = mark(self._s2, lambda e: e.vmid == vmid and e.covers(ipa))
            desc = f"ipa=0x{ipa:x} vmid={vmid}"
        elif base == "VMALLS12E1":
            n = mark(self._combined, lambda e: e.vmid == vmid)
            n += mark(self._s2, lambda e: e.vmid == vmid)
            desc = f"vmid={vmid}"
        else:  # ALLE1
            n = mark(self._combined, lambda e: True) + mark(self._s2, lambda e: True)
            desc = "all"
        self.log.append(f"TLBI {name} {desc}")
        return n

    def dsb(self, domain: str = "ISH") -> int:
        """DSB: complete earlier TLBIs (not for a store-only DSB ...ST); returns entries removed."""
        self.log.append(f"DSB {domain}")
        if domain.upper().endswith("ST"):
            return 0
        n = 0
        for table in (self._combined, self._s2):
            for k in [k for k, e in table.items() if e.pending]:
                del table[k]
                n += 1
        self._sizes = {k[2] for k in self._combined}
        self._s2_sizes = {k[2] for k in self._s2}
        return n

    def observe(self, ev: Event) -> None:
        """Apply a builder event (subscribe with ``page_table.subscribe(tlb.observe)``)."""
        if ev.kind is EventKind.TLBI:
            op = ev.op
            base = op.upper().removesuffix("IS")
            kw: dict[str, int | None] = {"vmid": ev.vmid or 0, "asid": ev.asid}
            if base in ("VAE1", "VALE1"):
                kw["va"] = ev.ia
            elif base in ("IPAS2E1", "IPAS2LE1"):
                kw["ipa"] = ev.ia
            self.tlbi(op, **kw)  # type: ignore[arg-type]
        elif ev.kind is EventKind.DSB:
            self.dsb(ev.op or "ISH")

    def flush(self) -> None:
        """Forget everything (as after reset)."""
        self._combined.clear()
        self._s2.clear()
        self._sizes.clear()
        self._s2_sizes.clear()

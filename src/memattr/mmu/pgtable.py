"""Translation table builder with a kvm_pgtable-like API: real descriptors in simulated memory.

Construction (each returns a :class:`PageTable` whose root is allocated unless given)::

    PageTable.stage2(mem, vtcr=VTCR_EL2, vttbr=None)        # registers -> geometry, VMID
    PageTable.stage1(mem, tcr=TCR_EL1, ttbr=None, ttbr1=False)
    PageTable(mem, Geometry.for_stage2(Granule.K4, ia_bits=40), vmid=1)   # keywords

The stable API that the linux layer calls (as KVM calls kvm_pgtable_stage2_map/unmap)::

    pt.map(ia, size, oa, attrs, *, contiguous=False, max_leaf=None) -> list[Event]
    pt.unmap(ia, size) -> list[Event]

and further ``protect(ia, size, attrs)``, ``split(ia)``, ``collapse(ia, level)``,
``lookup(ia)``, ``translate(ia)``, ``leaves()``.  ``attrs`` is the leaf attribute bits -- every
bit of a leaf descriptor but the output address and the type, as KVM's stage2_set_prot_attr()
builds a kvm_pte_t -- made with :func:`s2_attrs` / :func:`s1_attrs`.

``map`` uses the largest leaf each alignment of IA and OA allows (``max_leaf`` caps it, e.g.
4096 for pages only) and sets the Contiguous bit on every complete, aligned contiguous set when
``contiguous`` is true (:meth:`Geometry.contiguous_entries`).  Replacing a valid descriptor
always follows break-before-make: write the invalid descriptor, DSB ISHST, TLBI, DSB ISH, write
the new one.  The TLBIs are KVM's: a stage-2 leaf gets TLBI IPAS2E1IS (with its level) + DSB ISH
+ TLBI VMALLE1IS + DSB ISH (__kvm_tlb_flush_vmid_ipa); a stage-2 table descriptor or a bulk
change gets TLBI VMALLS12E1IS (__kvm_tlb_flush_vmid); stage 1 uses TLBI VAE1IS per leaf and
VMALLE1IS for tables and bulk changes.  Installing into an invalid entry needs no BBM.

Each step is an :class:`~memattr.mmu.events.Event` (``pt.events``; ``pt.subscribe(fn)`` for live
delivery, e.g. a TLB).  Bulk paths -- 32 or more consecutive entries of one table -- are written
with numpy and summarised as one ``BULK`` event per table page (first descriptor + count); a bulk
change of valid entries is one BULK break, one whole-VMID/ASID TLBI and one BULK make.

Misuse raises: an overlapping map is a ConfigError; an unaligned range, an input beyond the IA
size or an output beyond the OA size (PS/IPS) is an EncodingError naming the value in hex.

Stage-1 tables live in the guest's IPA space: give the builder an :class:`IpaSpace` (guest
memory seen through a stage-2 table) so the walker finds them where the guest put them.
"""

from __future__ import annotations

from .._value import dataclass  # dataclasses, cheaper to import
from ..arch import registers as R
from ..arch.cpu import ALL, Cpu
from ..arch.descriptor import (
    DESC_CONT,
    DESC_TABLE,
    DESC_TYPE_MASK,
    DESC_VALID,
    FINAL_LEVEL,
    DescType,
    block_allowed,
    descriptor_layout,
)
from ..arch.fields import FieldKind, Layout
from ..arch.walkparams import ttbr_baddr
from ..errors import ConfigError, EncodingError
from .events import Event, EventKind
from .physmem import FRAME_SHIFT, FRAME_SIZE, WORD, PhysMem, TableMemory
from .regime import Geometry, Stage1Regime, Stage2Regime

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any

    import numpy as np

__all__ = [
    "BULK_MIN",
    "Leaf",
    "PageTable",
    "IpaSpace",
    "s1_attrs",
    "s2_attrs",
    "visit",
    "Visit",
    "Codec",
    "VISIT_LIMIT",
]

BULK_MIN = 32
"""Consecutive entries of one table from which the numpy bulk path is used."""

_VALID = DESC_VALID
_TABLE_BIT = DESC_TABLE
_TYPE = DESC_TYPE_MASK
_CONT = DESC_CONT

# The reference page layouts the attribute helpers encode with (4KB, 48-bit OA: attribute bit
# positions are the same for every granule; with DS=1 SH is replaced by OA[51:50]).
_S1_PAGE = descriptor_layout(1, DescType.PAGE, R.Granule.K4, FINAL_LEVEL)
_S2_PAGE = descriptor_layout(2, DescType.PAGE, R.Granule.K4, FINAL_LEVEL)


def s2_attrs(
    *,
    memattr: int,
    s2ap: int = 0b11,
    sh: int | None = 0b11,
    af: bool = True,
    xn: int | bool = 0,
    fnxs: bool = False,
    dbm: bool = False,
    sw: int = 0,
    pbha: int = 0,
) -> int:
    """Stage-2 leaf attribute bits (a kvm_pte_t without OA and type).

    :param memattr: MemAttr[3:0]. :param s2ap: S2AP[1:0] (bit 0 read, bit 1 write).
    :param sh: SH[1:0] (None with DS=1, where bits[9:8] hold OA[51:50]).
    :param xn: XN[1:0] with FEAT_XNX, or a bool (True = 0b10, not executable anywhere).
    """
    xn_val = (0b10 if xn else 0) if isinstance(xn, bool) else xn
    fields: dict[str, int] = {"MemAttr": memattr, "S2AP": s2ap, "AF": int(af), "XN": xn_val,
                              "FnXS": int(fnxs), "DBM": int(dbm), "SW": sw, "PBHA": pbha}
    value = _S2_PAGE.encode(**fields)
    if sh is not None:
        value = _S2_PAGE.set(value, "SH", sh)
    return value


def s1_attrs(
    *,
    attr_index: int,
    ap: int = 0,
    sh: int | None = 0b11,
    af: bool = True,
    ng: bool = False,
    pxn: bool = False,
    uxn: bool = False,
    ns: bool = False,
    gp: bool = False,
    dbm: bool = False,
    sw: int = 0,
    pbha: int = 0,
) -> int:
    """Stage-1 leaf attribute bits (a descriptor without OA and type).

    :param attr_index: AttrIndx[2:0] into MAIR_EL1. :param ap: AP[2:1] (0 EL1 RW, 1 EL1+EL0
        RW, 2 EL1 RO, 3 EL1+EL0 RO).  :param sh: SH[1:0] (None with DS=1).
    """
    fields: dict[str, int] = {"AttrIndx": attr_index, "AP": ap, "AF": int(af), "nG": int(ng),
                              "PXN": int(pxn), "UXN": int(uxn), "NS": int(ns), "GP": int(gp),
                              "DBM": int(dbm), "SW": sw, "PBHA": pbha}
    value = _S1_PAGE.encode(**fields)
    if sh is not None:
        value = _S1_PAGE.set(value, "SH", sh)
    return value


def _addr_plan(layout: Layout) -> tuple[tuple[int, int, int], ...]:
    """(lsb, width mask, address shift) of each ADDRESS field of ``layout``."""
    return tuple((f.lsb, f.mask, f.addr_shift or 0) for f in layout.fields
                 if f.kind is FieldKind.ADDRESS)


def _enc_addr(plan: tuple[tuple[int, int, int], ...], addr: Any) -> Any:
    """Place ``addr`` (int or numpy array) into the address fields of ``plan``."""
    out = None
    for lsb, mask, ashift in plan:
        part = ((addr >> ashift) & mask) << lsb
        out = part if out is None else out | part
    return out


def _addr_split(plan: tuple[tuple[int, int, int], ...]
                ) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """(in-place mask of the fields holding their own address bits, the other fields)."""
    mask = 0
    extra = []
    for lsb, width, ashift in plan:
        if ashift == lsb:
            mask |= width << lsb
        else:
            extra.append((lsb, width, ashift))
    return mask, tuple(extra)


@dataclass(frozen=True, slots=True)
class Leaf:
    """A valid block or page descriptor: what it maps and where it lives."""

    ia: int
    size: int
    level: int
    raw: int
    desc_pa: int
    oa: int

    @property
    def contiguous(self) -> bool:
        """The Contiguous bit."""
        return bool(self.raw & _CONT)

    @property
    def is_block(self) -> bool:
        """A block (not a level-3 page)."""
        return self.level != FINAL_LEVEL


@dataclass(frozen=True, slots=True)
class Visit:
    """One non-table entry found by :func:`visit`: a leaf or an invalid (or reserved) entry."""

    ia: int
    size: int
    level: int
    raw: int
    desc_pa: int


class Codec:
    """Descriptor arithmetic for one geometry (type, OA and table address fields, attribute
    mask), derived once from arch.descriptor's layouts so walks need no dataclass per read.

    The address of a table or leaf descriptor is ``raw & and_mask`` plus, for the 52-bit forms,
    the ``extra`` fields ((lsb, width mask, address bit) of OA[51:48] in bits[15:12] with
    FEAT_LPA, or OA[51:50] in bits[9:8] with DS=1).
    """

    def __init__(self, geom: Geometry) -> None:
        g = geom
        self.geom = g
        st = g.stage
        form = g.form_pa_bits
        tlevel = min(g.start_level, FINAL_LEVEL - 1)
        self.table_plan = _addr_plan(descriptor_layout(st, DescType.TABLE, g.granule, tlevel,
                                                       g.ds, form))
        self.table_and, self.table_extra = _addr_split(self.table_plan)
        self.leaf_plan: dict[int, tuple[tuple[int, int, int], ...]] = {}
        self.leaf_and: dict[int, int] = {}
        self.leaf_extra: dict[int, tuple[tuple[int, int, int], ...]] = {}
        self.leaf_ok: dict[int, bool] = {}
        for level in g.levels:
            if level == FINAL_LEVEL:
                t = DescType.PAGE
            elif block_allowed(g.granule, level, g.ds, g.pa_max):  # AArch64.BlockDescSupported
                t = DescType.BLOCK
            else:
                self.leaf_ok[level] = False
                continue
            self.leaf_ok[level] = True
            lay = descriptor_layout(st, t, g.granule, level, g.ds, form)
            plan = _addr_plan(lay)
            self.leaf_plan[level] = plan
            self.leaf_and[level], self.leaf_extra[level] = _addr_split(plan)
        page = descriptor_layout(st, DescType.PAGE, g.granule, FINAL_LEVEL, g.ds, form)
        allowed = 0
        for f in page.fields:
            if f.kind in (FieldKind.ADDRESS, FieldKind.RES0) or f.name == "Type":
                continue
            allowed |= f.inplace_mask
        self.attr_mask = allowed & ~_CONT
        self.levels: tuple[tuple[int, int, int, int], ...] = tuple(
            (lv, g.shift(lv), g.entries(lv) - 1, g.block_size(lv)) for lv in g.levels)
        """(level, index shift, index mask, bytes per entry) of each level, root first."""
        self.gran_mask = g.granule.size - 1
        self.oa_mask = {lv: ~(g.block_size(lv) - 1) for lv in g.levels}

    def table(self, addr: int) -> int:
        """A table descriptor pointing at ``addr``."""
        return _TYPE | _enc_addr(self.table_plan, addr)

    def table_addr(self, raw: int) -> int:
        """The next-level table address of a table descriptor (ASL AArch64.NextTableBase)."""
        addr = raw & self.table_and
        for lsb, mask, ashift in self.table_extra:
            addr |= ((raw >> lsb) & mask) << ashift
        return addr

    def leaf(self, level: int, oa: int, attrs: int) -> int:
        """A block (page at level 3) descriptor mapping ``oa`` with ``attrs``."""
        t = _TYPE if level == FINAL_LEVEL else _VALID
        return t | attrs | _enc_addr(self.leaf_plan[level], oa)

    def leaf_oa(self, level: int, raw: int) -> int:
        """The output address of a leaf at ``level`` (ASL AArch64.LeafBase)."""
        addr = raw & self.leaf_and[level]
        for lsb, mask, ashift in self.leaf_extra[level]:
            addr |= ((raw >> lsb) & mask) << ashift
        return addr

    def leaf_attrs(self, raw: int) -> int:
        """The attribute bits of a leaf (Contiguous included)."""
        return raw & (self.attr_mask | _CONT)

    def kind(self, level: int, raw: int) -> DescType:
        """ASL AArch64.DecodeDescriptorType, as arch.descriptor.decode_descriptor_type, with
        the block levels looked up once."""
        if not raw & _VALID:
            return DescType.INVALID
        if raw & _TABLE_BIT:
            return DescType.PAGE if level == FINAL_LEVEL else DescType.TABLE
        return DescType.BLOCK if level != FINAL_LEVEL and self.leaf_ok.get(level) \
            else DescType.RESERVED


class PageTable:
    """One translation table tree in memory, with break-before-make updates and an event log.

    :param mem: where the tables live: :class:`PhysMem` for stage 2 (and stage 1 without
        stage 2), an :class:`IpaSpace` for a guest's stage 1.
    :param geometry: the tree's shape.
    :param root: the root table address (allocated when None).
    :param vmid: VMID for the TLBI events (default: the stage-2 table's for an IpaSpace, else 0).
    :param asid: ASID for stage-1 TLBI events.
    :param bulk_min: consecutive entries of one table from which the numpy bulk path is used
        (default :data:`BULK_MIN`; 1 always bulk, a huge value never).
    """

    def __init__(
        self,
        mem: TableMemory,
        geometry: Geometry,
        *,
        root: int | None = None,
        vmid: int | None = None,
        asid: int = 0,
        bulk_min: int = BULK_MIN,
    ) -> None:
        if bulk_min < 1:
            raise ConfigError(f"bulk_min={bulk_min}: must be at least 1")
        self.mem = mem
        self.geom = geometry
        self.bulk_min = bulk_min
        if vmid is None:
            # A guest's stage 1 (tables in an IpaSpace) is maintained in its VM's context.
            vmid = mem.s2.vmid if isinstance(mem, IpaSpace) else 0
        self.vmid: int = vmid
        self.asid = asid
        self.events: list[Event] = []
        self._listeners: list[Callable[[Event], None]] = []
        self._codec = Codec(geometry)
        self._tables: dict[int, int] = {}
        if root is None:
            size = geometry.root_bytes
            root = mem.alloc_table(size, align=size)
            self._emit(Event(EventKind.TABLE_ALLOC, geometry.start_level, 0, root,
                             count=max(1, size // geometry.granule.size)))
        elif root & (max(geometry.table_bytes(geometry.start_level), 64) - 1):
            raise EncodingError(
                f"root=0x{root:x}: not aligned to the {geometry.table_bytes(geometry.start_level)}"
                "-byte root table"
            )
        if root >> geometry.oa_bits:
            raise EncodingError(
                f"root=0x{root:x}: beyond the {geometry.oa_bits}-bit output address size"
            )
        self.root = root
        self._tables[root] = geometry.start_level

    # --- constructors ----------------------------------------------------------------------
    @classmethod
    def stage2(cls, mem: TableMemory, *, vtcr: int, vttbr: int | None = None,
               cpu: Cpu = ALL, bulk_min: int = BULK_MIN) -> PageTable:
        """A stage-2 table for VTCR_EL2 ``vtcr`` on ``cpu``; the root comes from VTTBR_EL2.BADDR
        when non-zero, else it is allocated (read :attr:`vttbr` for the register value).

        ConfigError when the PE cannot walk with ``vtcr`` (the reason a walk would fault)."""
        reg = Stage2Regime(vtcr, vttbr or 0, cpu=cpu)
        if reg.geometry is None:
            rule = reg.params.rule.value if reg.params.rule else ""
            raise ConfigError(f"VTCR_EL2=0x{vtcr:x}: {reg.fault} ({rule})")
        root = reg.root if vttbr and reg.root else None
        return cls(mem, reg.geometry, root=root, vmid=reg.vmid, bulk_min=bulk_min)

    @classmethod
    def stage1(
        cls, mem: TableMemory, *, tcr: int, ttbr: int | None = None, ttbr1: bool = False,
        cpu: Cpu = ALL, bulk_min: int = BULK_MIN,
    ) -> PageTable:
        """A stage-1 EL1&0 table for one half of TCR_EL1 (TTBR0, or TTBR1 with ``ttbr1``)."""
        reg = Stage1Regime(tcr, ttbr0=0 if ttbr1 else (ttbr or 0),
                           ttbr1=(ttbr or 0) if ttbr1 else 0, mair=0, cpu=cpu)
        half = reg.halves[1 if ttbr1 else 0]
        if half.geometry is None:
            rule = half.params.rule.value if half.params.rule else ""
            raise ConfigError(f"TCR_EL1=0x{tcr:x}: the TTBR{int(ttbr1)} range cannot be walked: "
                              f"{half.fault} ({rule})")
        asid = R.TTBRx_EL1.get(ttbr or 0, "ASID")
        root = half.root if ttbr and half.root else None
        return cls(mem, half.geometry, root=root, asid=asid, bulk_min=bulk_min)

    # --- register values -------------------------------------------------------------------
    @property
    def vttbr(self) -> int:
        """VTTBR_EL2 for this stage-2 table: VMID, BADDR."""
        return R.VTTBR_EL2.set(ttbr_baddr(self.root), "VMID", self.vmid)

    @property
    def ttbr(self) -> int:
        """TTBRn_EL1 for this stage-1 table: ASID, BADDR."""
        return R.TTBRx_EL1.set(ttbr_baddr(self.root), "ASID", self.asid)

    # --- events ----------------------------------------------------------------------------
    def subscribe(self, fn: Callable[[Event], None]) -> None:
        """Call ``fn`` with every future event (a TLB's ``observe``, a trace writer ...)."""
        self._listeners.append(fn)

    def _emit(self, ev: Event) -> None:
        self.events.append(ev)
        for fn in self._listeners:
            fn(ev)

    def _dsb(self, domain: str = "ISH") -> None:
        self._emit(Event(EventKind.DSB, op=domain))

    def _tlbi_leaf(self, ia: int, level: int) -> None:
        """TLB maintenance after breaking one leaf (KVM __kvm_tlb_flush_vmid_ipa / Linux)."""
        self._dsb("ISHST")
        if self.geom.stage == 2:
            self._emit(Event(EventKind.TLBI, level, ia, op="IPAS2E1IS", vmid=self.vmid))
            self._dsb()
            self._emit(Event(EventKind.TLBI, op="VMALLE1IS", vmid=self.vmid))
        else:
            self._emit(Event(EventKind.TLBI, level, ia, op="VAE1IS", vmid=self.vmid,
                             asid=self.asid))
        self._dsb()

    def _tlbi_all(self) -> None:
        """TLB maintenance after breaking a table descriptor or many leaves."""
        self._dsb("ISHST")
        if self.geom.stage == 2:
            self._emit(Event(EventKind.TLBI, op="VMALLS12E1IS", vmid=self.vmid))
        else:
            self._emit(Event(EventKind.TLBI, op="VMALLE1IS", vmid=self.vmid))
        self._dsb()

    def _write(self, addr: int, old: int, new: int, level: int, ia: int, op: str) -> None:
        self.mem.write64(addr, new)
        kind = EventKind.BREAK if (old & _VALID and not new & _VALID) else EventKind.WRITE
        self._emit(Event(kind, level, ia, addr, old, new, op=op))

    # --- validation ------------------------------------------------------------------------
    def _stage_regs(self) -> tuple[str, str]:
        return ("IPA", "VTCR_EL2.PS") if self.geom.stage == 2 else ("VA", "TCR_EL1.IPS")

    def _check_range(self, op: str, ia: int, size: int) -> None:
        g = self.geom
        gran = g.granule.size
        what = self._stage_regs()[0]
        if size <= 0:
            raise EncodingError(f"{op} size=0x{size:x}: must be positive")
        if ia < 0 or ia % gran or size % gran:
            raise EncodingError(
                f"{op} {what}=0x{ia:x} size=0x{size:x}: not aligned to the {g.granule} granule"
            )
        if ia + size > g.ia_size:
            raise EncodingError(
                f"{op} {what}=0x{ia:x} size=0x{size:x}: beyond the {g.ia_bits}-bit input "
                f"address space (end 0x{ia + size:x} > 0x{g.ia_size:x})"
            )

    def _check_oa(self, op: str, oa: int, size: int) -> None:
        g = self.geom
        reg = self._stage_regs()[1]
        if oa < 0 or oa % g.granule.size:
            raise EncodingError(f"{op} OA=0x{oa:x}: not aligned to the {g.granule} granule")
        if oa + size > 1 << g.oa_bits:
            raise EncodingError(
                f"{op} OA=0x{oa:x} size=0x{size:x}: beyond the {g.oa_bits}-bit output address "
                f"size ({reg}; end 0x{oa + size:x})"
            )

    def _check_attrs(self, op: str, attrs: int) -> None:
        bad = attrs & ~self._codec.attr_mask
        if attrs < 0 or bad:
            if bad & _CONT:
                raise EncodingError(
                    f"{op} attrs=0x{attrs:x}: the Contiguous bit (0x{_CONT:x}) is set by "
                    "contiguous=True, not in attrs"
                )
            raise EncodingError(
                f"{op} attrs=0x{attrs:x}: bits 0x{bad:x} are not leaf attribute bits "
                f"(output address, type or RES0 for {self.geom.describe()})"
            )

    def _min_leaf_level(self, max_leaf: int | None) -> int:
        if max_leaf is None:
            return self.geom.start_level
        for level in self.geom.levels:
            if self.geom.block_size(level) == max_leaf and self._codec.leaf_ok.get(level):
                return level
        sizes = [hex(self.geom.block_size(lv)) for lv in self.geom.levels
                 if self._codec.leaf_ok.get(lv)]
        raise EncodingError(
            f"max_leaf=0x{max_leaf:x}: not a block or page size of this table "
            f"(allowed: {', '.join(sizes)})"
        )

    # --- reading ---------------------------------------------------------------------------
    def _entries(self, table: int, i0: int, i1: int) -> Any:
        """Entries [i0, i1) of a table: a list for short spans, a numpy array for long ones."""
        if i1 - i0 < self.bulk_min:
            r = self.mem.read64
            return [r(table + 8 * i) for i in range(i0, i1)]
        return self.mem.read_u64s(table + 8 * i0, i1 - i0)

    def lookup(self, ia: int) -> Leaf | None:
        """The leaf mapping ``ia`` (a software walk of this table alone), or None."""
        g, c = self.geom, self._codec
        if not 0 <= ia < g.ia_size:
            return None
        table = self.root
        for level in g.levels:
            addr = table + 8 * g.index(ia, level)
            raw = self.mem.read64(addr)
            k = c.kind(level, raw)
            if k is DescType.TABLE:
                table = c.table_addr(raw)
                continue
            if not k.is_leaf:
                return None
            size = g.block_size(level)
            return Leaf(ia & ~(size - 1), size, level, raw, addr, c.leaf_oa(level, raw))
        return None

    def translate(self, ia: int) -> int | None:
        """The output address of ``ia``, or None if unmapped."""
        leaf = self.lookup(ia)
        return None if leaf is None else leaf.oa + (ia - leaf.ia)

    def leaves(self, lo: int = 0, hi: int | None = None) -> Iterator[Leaf]:
        """Every valid leaf intersecting [lo, hi), in address order."""
        c = self._codec
        for v in visit(self.mem, self.geom, self.root, lo, hi, bulk_min=self.bulk_min):
            k = c.kind(v.level, v.raw)
            if k.is_leaf:
                yield Leaf(v.ia, v.size, v.level, v.raw, v.desc_pa, c.leaf_oa(v.level, v.raw))

    def tables(self) -> dict[int, int]:
        """Table pages owned by this tree: address -> level."""
        return dict(self._tables)

    def _first_leaf(self, table: int, level: int, base: int, lo: int, hi: int) -> Leaf | None:
        g, c = self.geom, self._codec
        shift = g.shift(level)
        i0 = (lo - base) >> shift
        i1 = ((hi - 1 - base) >> shift) + 1
        ents = self._entries(table, i0, i1)
        if not isinstance(ents, list):
            import numpy as np

            idx = np.nonzero(ents & np.uint64(_VALID))[0]
            pairs = [(int(i) + i0, int(ents[i])) for i in idx]
        else:
            pairs = [(i0 + j, e) for j, e in enumerate(ents) if e & _VALID]
        for i, raw in pairs:
            k = c.kind(level, raw)
            ebase = base + (i << shift)
            if k.is_leaf:
                return Leaf(ebase, 1 << shift, level, raw, table + 8 * i, c.leaf_oa(level, raw))
            if k is DescType.TABLE:
                found = self._first_leaf(c.table_addr(raw), level + 1, ebase, max(lo, ebase),
                                         min(hi, ebase + (1 << shift)))
                if found is not None:
                    return found
        return None

    # --- map -------------------------------------------------------------------------------
    def map(
        self,
        ia: int,
        size: int,
        oa: int,
        attrs: int,
        *,
        contiguous: bool = False,
        max_leaf: int | None = None,
    ) -> list[Event]:
        """Map [ia, ia + size) to [oa, oa + size) with leaf attribute bits ``attrs``.

        :param contiguous: set the Contiguous bit on complete, aligned contiguous sets.
        :param max_leaf: the largest leaf to use (a block or page size), default any.
        :returns: the events of this call.
        """
        self._check_range("map", ia, size)
        self._check_oa("map", oa, size)
        self._check_attrs("map", attrs)
        min_level = self._min_leaf_level(max_leaf)
        g = self.geom
        hit = self._first_leaf(self.root, g.start_level, 0, ia, ia + size)
        if hit is not None:
            raise ConfigError(
                f"map {self._stage_regs()[0]}=0x{ia:x}-0x{ia + size:x}: overlaps the existing "
                f"mapping 0x{hit.ia:x}-0x{hit.ia + hit.size:x} (level {hit.level} descriptor "
                f"0x{hit.raw:016x} at 0x{hit.desc_pa:x}); unmap it first"
            )
        start = len(self.events)
        self._map_in(self.root, g.start_level, 0, ia, ia + size, oa - ia, attrs, contiguous,
                     min_level)
        return self.events[start:]

    def _map_in(
        self, table: int, level: int, base: int, lo: int, hi: int, delta: int, attrs: int,
        cont: bool, min_level: int,
    ) -> None:
        g, c = self.geom, self._codec
        shift = g.shift(level)
        bs = 1 << shift
        i0 = (lo - base) >> shift
        i1 = ((hi - 1 - base) >> shift) + 1
        f0 = -(-(lo - base) // bs)
        f1 = (hi - base) // bs
        if level >= min_level and c.leaf_ok.get(level) and delta % bs == 0 and f0 < f1:
            self._write_leaves(table, level, base, f0, f1, delta, attrs, cont)
            sub = [i for i in (i0, f1) if (i < f0 or i >= f1) and i0 <= i < i1]
        else:
            sub = list(range(i0, i1))
        if len(sub) >= self.bulk_min:
            self._descend_bulk(table, level, base, sub, lo, hi, delta, attrs, cont, min_level)
            return
        for i in sub:
            ebase = base + (i << shift)
            child = self._child(table, level, i, ebase)
            self._map_in(child, level + 1, ebase, max(lo, ebase), min(hi, ebase + bs), delta,
                         attrs, cont, min_level)

    def _child(self, table: int, level: int, i: int, ebase: int) -> int:
        """The next-level table under entry ``i`` (allocated and linked if the entry is empty)."""
        c = self._codec
        addr = table + 8 * i
        raw = self.mem.read64(addr)
        k = c.kind(level, raw)
        if k is DescType.TABLE:
            return c.table_addr(raw)
        if k.is_leaf:  # pragma: no cover - excluded by the overlap check
            raise ConfigError(f"IA=0x{ebase:x}: already mapped at level {level}")
        child = self._alloc(level + 1, ebase, 1)
        self._write(addr, raw, c.table(child), level, ebase, "map")
        return child

    def _alloc(self, level: int, ia: int, count: int) -> int:
        size = self.geom.granule.size
        pa = self.mem.alloc_tables(count, size)
        if (pa + count * size) > 1 << self.geom.oa_bits:
            raise ConfigError(
                f"table page 0x{pa:x}: beyond the {self.geom.oa_bits}-bit output address size; "
                "give the memory a lower alloc_base"
            )
        for j in range(count):
            self._tables[pa + j * size] = level
        self._emit(Event(EventKind.TABLE_ALLOC, level, ia, pa, count=count))
        return pa

    def _descend_bulk(
        self, table: int, level: int, base: int, sub: list[int], lo: int, hi: int, delta: int,
        attrs: int, cont: bool, min_level: int,
    ) -> None:
        """Descend into many entries: empty ones get fresh tables linked in one bulk write."""
        import numpy as np

        g, c = self.geom, self._codec
        shift = g.shift(level)
        bs = 1 << shift
        first, last = sub[0], sub[-1] + 1
        ents = self._entries(table, first, last)
        want = np.zeros(last - first, dtype=bool)
        want[np.asarray(sub) - first] = True
        empty = want & ((ents & np.uint64(_VALID)) == 0)
        n_new = int(empty.sum())
        children: dict[int, int] = {}
        if n_new:
            size = g.granule.size
            pa0 = self._alloc(level + 1, base + (first << shift), n_new)
            new_idx = np.nonzero(empty)[0]
            child_pa = np.uint64(pa0) + np.arange(n_new, dtype=np.uint64) * np.uint64(size)
            descs = np.uint64(_TYPE) | _enc_addr(c.table_plan, child_pa)
            # Write runs of consecutive empty entries in one go, one BULK event per run.
            ents = ents.copy()
            ents[new_idx] = descs
            runs = np.split(new_idx, np.nonzero(np.diff(new_idx) != 1)[0] + 1)
            for run in runs:
                a, b = int(run[0]), int(run[-1]) + 1
                self.mem.fill64(table + 8 * (first + a), ents[a:b])
                self._emit(Event(EventKind.BULK, level, base + ((first + a) << shift),
                                 table + 8 * (first + a), 0, int(ents[a]), op="map",
                                 count=b - a, stride=size))
            for j, pa in zip(new_idx.tolist(), child_pa.tolist(), strict=True):
                children[first + j] = int(pa)
        for i in sub:
            ebase = base + (i << shift)
            child = children.get(i)
            if child is None:
                child = self._child(table, level, i, ebase)
            self._map_in(child, level + 1, ebase, max(lo, ebase), min(hi, ebase + bs), delta,
                         attrs, cont, min_level)

    def _write_leaves(
        self, table: int, level: int, base: int, f0: int, f1: int, delta: int, attrs: int,
        cont: bool,
    ) -> None:
        """Fill entries [f0, f1) of ``table`` with leaves (replacing empty sub-tables)."""
        g, c = self.geom, self._codec
        shift = g.shift(level)
        bs = 1 << shift
        # Entries that hold (necessarily empty) sub-tables are replaced with break-before-make.
        ents = self._entries(table, f0, f1)
        if isinstance(ents, list):
            tabs = [f0 + j for j, e in enumerate(ents) if e & _TYPE == _TYPE]
        else:
            import numpy as np

            tabs = (np.nonzero((ents & np.uint64(_TYPE)) == np.uint64(_TYPE))[0] + f0).tolist()
        c0 = c1 = 0
        if cont:
            n = g.contiguous_entries(level)
            if delta % (n * bs) == 0:
                c0, c1 = -(-f0 // n) * n, (f1 // n) * n
        if tabs:
            for i in tabs:
                ebase = base + (i << shift)
                raw = self.mem.read64(table + 8 * i)
                self._write(table + 8 * i, raw, 0, level, ebase, "map")
                self._tlbi_all()
                self._free_tree(c.table_addr(raw), level + 1, ebase)
        n = f1 - f0
        if n >= self.bulk_min:
            import numpy as np

            # The OA of entry f0 is >= 0 even when base + delta (entry 0's) is not: a mapping
            # whose output is below its input (delta < 0) starts mid-table.
            idx = np.arange(n, dtype=np.uint64)
            oa = np.uint64(base + delta + (f0 << shift)) + (idx << np.uint64(shift))
            vals = _enc_addr(c.leaf_plan[level], oa) | np.uint64(attrs | (_TYPE if level == FINAL_LEVEL
                                                             else _VALID))
            if c1 > c0:
                vals[c0 - f0:c1 - f0] |= np.uint64(_CONT)
            self.mem.fill64(table + 8 * f0, vals)
            self._emit(Event(EventKind.BULK, level, base + (f0 << shift), table + 8 * f0, 0,
                             int(vals[0]), op="map", count=n, stride=bs))
            return
        for i in range(f0, f1):
            ebase = base + (i << shift)
            val = c.leaf(level, ebase + delta, attrs)
            if c0 <= i < c1:
                val |= _CONT
            self._write(table + 8 * i, 0, val, level, ebase, "map")

    def _free_tree(self, table: int, level: int, base: int) -> None:
        """Free a table and every table below it (their entries are already unreachable)."""
        g, c = self.geom, self._codec
        if level < FINAL_LEVEL:
            ents = self._entries(table, 0, g.entries(level))
            items = ents if isinstance(ents, list) else ents.tolist()
            shift = g.shift(level)
            for i, raw in enumerate(items):
                if c.kind(level, raw) is DescType.TABLE:
                    self._free_tree(c.table_addr(raw), level + 1, base + (i << shift))
        self._tables.pop(table, None)
        self.mem.free_table(table, g.granule.size)
        self._emit(Event(EventKind.TABLE_FREE, level, base, table))

    # --- splitting blocks and contiguous sets at range edges ------------------------------
    def _prepare_edges(self, op: str, lo: int, hi: int) -> None:
        """Split blocks and undo contiguous sets that straddle ``lo`` or ``hi``."""
        g = self.geom
        for edge in (lo, hi):
            if edge <= 0 or edge >= g.ia_size:
                continue
            while True:
                leaf = self.lookup(edge)
                if leaf is None or leaf.ia == edge and not leaf.contiguous:
                    break
                if leaf.contiguous:
                    n = g.contiguous_entries(leaf.level)
                    span = n * leaf.size
                    if edge % span == 0:
                        break
                    self._uncontig(leaf)
                    continue
                self._split_leaf(leaf, op)

    def _uncontig(self, leaf: Leaf) -> None:
        """Clear the Contiguous bit of the whole set ``leaf`` belongs to (break-before-make)."""
        g = self.geom
        n = g.contiguous_entries(leaf.level)
        span = n * leaf.size
        first_ia = leaf.ia & ~(span - 1)
        first_pa = leaf.desc_pa - 8 * ((leaf.ia - first_ia) // leaf.size)
        olds = [self.mem.read64(first_pa + 8 * j) for j in range(n)]
        for j, old in enumerate(olds):
            if old & _VALID:
                self._write(first_pa + 8 * j, old, 0, leaf.level, first_ia + j * leaf.size,
                            "uncontig")
        for j, old in enumerate(olds):
            if old & _VALID:
                self._tlbi_leaf(first_ia + j * leaf.size, leaf.level)
        for j, old in enumerate(olds):
            if old & _VALID:
                self._write(first_pa + 8 * j, 0, old & ~_CONT, leaf.level,
                            first_ia + j * leaf.size, "uncontig")

    def _split_leaf(self, leaf: Leaf, op: str = "split") -> list[Event]:
        """Replace a block by a table of the next level mapping the same range (BBM)."""
        g, c = self.geom, self._codec
        if leaf.level == FINAL_LEVEL:
            raise ConfigError(f"split IA=0x{leaf.ia:x}: a level-3 page cannot be split")
        start = len(self.events)
        if leaf.contiguous:
            self._uncontig(leaf)
            leaf = self.lookup(leaf.ia) or leaf
        lv = leaf.level + 1
        attrs = c.leaf_attrs(leaf.raw) & ~_CONT
        child = self._alloc(lv, leaf.ia, 1)
        n = g.entries(lv)
        cs = g.block_size(lv)
        import numpy as np

        idx = np.arange(n, dtype=np.uint64)
        vals = _enc_addr(c.leaf_plan[lv], np.uint64(leaf.oa) + idx * np.uint64(cs)) | np.uint64(
            attrs | (_TYPE if lv == FINAL_LEVEL else _VALID))
        self.mem.fill64(child, vals)
        self._emit(Event(EventKind.BULK, lv, leaf.ia, child, 0, int(vals[0]), op=op, count=n,
                         stride=cs))
        self._write(leaf.desc_pa, leaf.raw, 0, leaf.level, leaf.ia, op)
        self._tlbi_leaf(leaf.ia, leaf.level)
        self._write(leaf.desc_pa, 0, c.table(child), leaf.level, leaf.ia, op)
        return self.events[start:]

    def split(self, ia: int) -> list[Event]:
        """Split the block mapping ``ia`` into a table of next-level leaves (BBM)."""
        leaf = self.lookup(ia)
        if leaf is None:
            raise ConfigError(f"split IA=0x{ia:x}: not mapped")
        if leaf.level == FINAL_LEVEL:
            raise ConfigError(f"split IA=0x{ia:x}: mapped by a level-3 page, not a block")
        return self._split_leaf(leaf)

    def collapse(self, ia: int, level: int) -> list[Event]:
        """Replace the table under the level-``level`` entry for ``ia`` by one block (BBM).

        ConfigError unless every entry below maps one contiguous, block-aligned output range
        with identical attributes (the Contiguous bit aside).
        """
        g, c = self.geom, self._codec
        if level not in g.levels or level == FINAL_LEVEL or not c.leaf_ok.get(level):
            raise ConfigError(
                f"collapse level={level}: no blocks at that level for {g.describe()}"
            )
        table = self.root
        for lv in g.levels:
            addr = table + 8 * g.index(ia, lv)
            raw = self.mem.read64(addr)
            if lv == level:
                break
            if c.kind(lv, raw) is not DescType.TABLE:
                raise ConfigError(f"collapse IA=0x{ia:x}: no table at level {lv + 1}")
            table = c.table_addr(raw)
        if c.kind(level, raw) is not DescType.TABLE:
            raise ConfigError(f"collapse IA=0x{ia:x}: the level-{level} entry is not a table")
        bs = g.block_size(level)
        base = ia & ~(bs - 1)
        leaves = list(self.leaves(base, base + bs))
        why = None
        if sum(lf.size for lf in leaves) != bs:
            why = "not every entry below is mapped"
        else:
            first = leaves[0]
            a0 = c.leaf_attrs(first.raw) & ~_CONT
            if first.oa % bs:
                why = f"the output address 0x{first.oa:x} is not aligned to 0x{bs:x}"
            for lf in leaves:
                if lf.oa - first.oa != lf.ia - base:
                    why = f"IA 0x{lf.ia:x} maps 0x{lf.oa:x}: the output is not contiguous"
                    break
                if c.leaf_attrs(lf.raw) & ~_CONT != a0:
                    why = f"IA 0x{lf.ia:x} has attributes 0x{c.leaf_attrs(lf.raw):x} != 0x{a0:x}"
                    break
        if why is not None:
            raise ConfigError(f"collapse IA=0x{base:x} level {level}: {why}")
        start = len(self.events)
        new = c.leaf(level, leaves[0].oa, a0)
        self._write(addr, raw, 0, level, base, "collapse")
        self._tlbi_all()
        self._write(addr, 0, new, level, base, "collapse")
        self._free_tree(c.table_addr(raw), level + 1, base)
        return self.events[start:]

    # --- unmap -----------------------------------------------------------------------------
    def unmap(self, ia: int, size: int) -> list[Event]:
        """Unmap [ia, ia + size); blocks straddling the ends are split first, emptied tables
        are freed (as kvm_pgtable_stage2_unmap does).  Unmapped parts are skipped."""
        self._check_range("unmap", ia, size)
        start = len(self.events)
        self._prepare_edges("unmap", ia, ia + size)
        self._unmap_in(self.root, self.geom.start_level, 0, ia, ia + size)
        return self.events[start:]

    def _unmap_in(self, table: int, level: int, base: int, lo: int, hi: int) -> bool:
        """Unmap [lo, hi) inside ``table``; returns True if the table is left empty."""
        g, c = self.geom, self._codec
        shift = g.shift(level)
        bs = 1 << shift
        i0 = (lo - base) >> shift
        i1 = ((hi - 1 - base) >> shift) + 1
        ents = self._entries(table, i0, i1)
        items = ents if isinstance(ents, list) else None
        if items is None:
            import numpy as np

            valid = np.nonzero(ents & np.uint64(_VALID))[0]
            leafy = [int(j) for j in valid if c.kind(level, int(ents[j])).is_leaf]
            if len(leafy) >= self.bulk_min:
                self._bulk_clear(table, level, base, i0, ents, leafy)
                valid = np.nonzero(self._entries(table, i0, i1) & np.uint64(_VALID))[0]
            pairs = [(i0 + int(j), int(self.mem.read64(table + 8 * (i0 + int(j)))))
                     for j in valid]
        else:
            pairs = [(i0 + j, e) for j, e in enumerate(items) if e & _VALID]
        for i, raw in pairs:
            ebase = base + (i << shift)
            k = c.kind(level, raw)
            if k.is_leaf:
                self._write(table + 8 * i, raw, 0, level, ebase, "unmap")
                self._tlbi_leaf(ebase, level)
            elif k is DescType.TABLE:
                child = c.table_addr(raw)
                if self._unmap_in(child, level + 1, ebase, max(lo, ebase), min(hi, ebase + bs)):
                    self._write(table + 8 * i, raw, 0, level, ebase, "unmap")
                    self._tlbi_all()
                    self._tables.pop(child, None)
                    self.mem.free_table(child, g.granule.size)
                    self._emit(Event(EventKind.TABLE_FREE, level + 1, ebase, child))
        if table == self.root:
            return False
        rest = self.mem.read_u64s(table, g.entries(level))
        return not bool((rest & _VALID).any())

    def _bulk_clear(self, table: int, level: int, base: int, i0: int, ents: Any,
                    leafy: list[int]) -> None:
        """Break many leaves of one table at once: BULK break + one wide TLBI + DSB."""
        import numpy as np

        shift = self.geom.shift(level)
        idx = np.asarray(leafy)
        new = ents.copy()
        new[idx] = 0
        a, b = int(idx[0]), int(idx[-1]) + 1
        self.mem.fill64(table + 8 * (i0 + a), new[a:b])
        self._emit(Event(EventKind.BULK, level, base + ((i0 + a) << shift), table + 8 * (i0 + a),
                         int(ents[a]), 0, op="unmap", count=len(leafy)))
        self._tlbi_all()

    # --- protect ---------------------------------------------------------------------------
    def protect(self, ia: int, size: int, attrs: int) -> list[Event]:
        """Give every leaf in [ia, ia + size) the attribute bits ``attrs`` (BBM per leaf).

        Blocks and contiguous sets straddling the ends are split / un-hinted first; the
        Contiguous bit of sets wholly inside is kept.  Unmapped parts are skipped.
        """
        self._check_range("protect", ia, size)
        self._check_attrs("protect", attrs)
        start = len(self.events)
        self._prepare_edges("protect", ia, ia + size)
        c = self._codec
        leaves = list(self.leaves(ia, ia + size))
        by_table: dict[int, list[Leaf]] = {}
        for lf in leaves:
            by_table.setdefault(lf.desc_pa - (lf.desc_pa % self.geom.granule.size), []).append(lf)
        for group in by_table.values():
            if len(group) >= self.bulk_min:
                self._bulk_protect(group, attrs)
                continue
            for lf in group:
                new = c.leaf(lf.level, lf.oa, attrs) | (lf.raw & _CONT)
                self._write(lf.desc_pa, lf.raw, 0, lf.level, lf.ia, "protect")
                self._tlbi_leaf(lf.ia, lf.level)
                self._write(lf.desc_pa, 0, new, lf.level, lf.ia, "protect")
        return self.events[start:]

    def _bulk_protect(self, group: list[Leaf], attrs: int) -> None:
        import numpy as np

        c = self._codec
        lo = min(lf.desc_pa for lf in group)
        hi = max(lf.desc_pa for lf in group) + 8
        n = (hi - lo) // 8
        old = self.mem.read_u64s(lo, n)
        mask = np.zeros(n, dtype=bool)
        new = old.copy()
        for lf in group:
            j = (lf.desc_pa - lo) // 8
            mask[j] = True
            new[j] = c.leaf(lf.level, lf.oa, attrs) | (lf.raw & _CONT)
        broken = np.where(mask, np.uint64(0), old)
        first = group[0]
        self.mem.fill64(lo, broken)
        self._emit(Event(EventKind.BULK, first.level, first.ia, lo, int(old[0]), 0, op="protect",
                         count=len(group)))
        self._tlbi_all()
        self.mem.fill64(lo, new)
        self._emit(Event(EventKind.BULK, first.level, first.ia, lo, 0, int(new[0]), op="protect",
                         count=len(group)))


VISIT_LIMIT = 1 << 24
"""Table entries :func:`visit` reads before it stops (a ConfigError): tables that loop back or
are shared many times over would otherwise make a dump of raw memory run for ever."""


def visit(
    mem: TableMemory, geom: Geometry, root: int, lo: int = 0, hi: int | None = None, *,
    bulk_min: int = BULK_MIN, limit: int = VISIT_LIMIT,
) -> Iterator[Visit]:
    """Every non-table entry of the tree intersecting [lo, hi) -- leaves and invalid entries,
    each at the level where the walk meets it -- in address order (kvm_pgtable_walk with
    KVM_PGTABLE_WALK_LEAF).  Works on any tree in memory, not only one built here.

    A table descriptor whose address is beyond the output size is yielded as an entry (a walk
    faults there).  ConfigError when a table is reached twice (the tree loops back or shares a
    table) or after ``limit`` entries.
    """
    codec = Codec(geom)
    end = geom.ia_size if hi is None else min(hi, geom.ia_size)
    if lo >= end:
        return
    state = _VisitState(bulk_min, limit)
    yield from _visit(mem, geom, codec, root, geom.start_level, 0, lo, end, state)


class _VisitState:
    __slots__ = ("bulk_min", "limit", "count", "seen")

    def __init__(self, bulk_min: int, limit: int) -> None:
        self.bulk_min = bulk_min
        self.limit = limit
        self.count = 0
        self.seen: dict[int, tuple[int, int]] = {}


def _visit(mem: TableMemory, geom: Geometry, codec: Codec, table: int, level: int, base: int,
           lo: int, hi: int, state: _VisitState) -> Iterator[Visit]:
    first = state.seen.get(table)
    if first is not None:
        raise ConfigError(
            f"table 0x{table:x} is reached twice (for IA 0x{first[0]:x} at level {first[1]} and "
            f"0x{base:x} at level {level}): the tables loop back or share a table; stopped"
        )
    state.seen[table] = (base, level)
    shift = geom.shift(level)
    i0 = (lo - base) >> shift
    i1 = ((hi - 1 - base) >> shift) + 1
    n = i1 - i0
    state.count += n
    if state.count > state.limit:
        raise ConfigError(f"more than {state.limit} table entries under this root: stopped")
    if n >= state.bulk_min:
        items = mem.read_u64s(table + 8 * i0, n).tolist()
    else:
        items = [mem.read64(table + 8 * i) for i in range(i0, i1)]
    for j, raw in enumerate(items):
        i = i0 + j
        ebase = base + (i << shift)
        if codec.kind(level, raw) is DescType.TABLE:
            nxt = codec.table_addr(raw)
            if not nxt >> geom.oa_bits:
                yield from _visit(mem, geom, codec, nxt, level + 1, ebase,
                                  max(lo, ebase), min(hi, ebase + (1 << shift)), state)
                continue
        yield Visit(ebase, 1 << shift, level, raw, table + 8 * i)


class IpaSpace:
    """Guest memory by IPA, seen through a stage-2 :class:`PageTable`: where a guest's stage-1
    tables live.  Reads and writes translate each address with the stage-2 table; table pages
    are allocated from the IPA pool [pool_base, pool_base + pool_size), which stage 2 must map.
    """

    def __init__(self, s2: PageTable, pool_base: int, pool_size: int) -> None:
        if s2.geom.stage != 2:
            raise ConfigError("IpaSpace: needs a stage-2 PageTable")
        if not isinstance(s2.mem, PhysMem):
            raise ConfigError("IpaSpace: the stage-2 table must live in a PhysMem")
        if pool_base % FRAME_SIZE or pool_size % FRAME_SIZE or pool_size <= 0:
            raise ConfigError(
                f"IpaSpace pool 0x{pool_base:x}+0x{pool_size:x}: must be 4 KiB aligned"
            )
        self.s2: PageTable = s2
        self.mem: PhysMem = s2.mem
        self.pool_base = pool_base
        self.pool_end = pool_base + pool_size
        self._next = pool_base
        self._free: dict[int, list[int]] = {}
        self.allocated: dict[int, int] = {}
        self._cache: dict[int, int] = {}
        s2.subscribe(self._forget)

    def _forget(self, ev: Event) -> None:
        """Drop cached IPA -> PA translations when the stage-2 table changes."""
        if ev.kind in (EventKind.BREAK, EventKind.BULK, EventKind.TABLE_FREE):
            self._cache.clear()

    @property
    def generation(self) -> int:
        """The physical memory's write counter."""
        return self.mem.generation

    def pa(self, ipa: int) -> int:
        """The physical address of ``ipa`` (ConfigError if stage 2 does not map it)."""
        page = ipa >> FRAME_SHIFT
        base = self._cache.get(page)
        if base is None:
            pa = self.s2.translate(page << FRAME_SHIFT)
            if pa is None:
                raise ConfigError(
                    f"IPA=0x{ipa:x}: not mapped at stage 2 (guest table memory must be mapped)"
                )
            base = self._cache[page] = pa
        return base | (ipa & (FRAME_SIZE - 1))

    def read64(self, addr: int) -> int:
        """64-bit read at an IPA."""
        return self.mem.read64(self.pa(addr))

    def write64(self, addr: int, value: int) -> None:
        """64-bit write at an IPA."""
        self.mem.write64(self.pa(addr), value)

    def read_u64s(self, addr: int, count: int) -> np.ndarray[Any, Any]:
        """``count`` 64-bit values from an IPA (page by page through stage 2)."""
        import numpy as np

        out = np.zeros(count, dtype=np.uint64)
        done = 0
        while done < count:
            take = min(count - done, (FRAME_SIZE - addr % FRAME_SIZE) // WORD)
            out[done:done + take] = self.mem.read_u64s(self.pa(addr), take)
            addr += WORD * take
            done += take
        return out

    def fill64(self, addr: int, values: np.ndarray[Any, Any]) -> None:
        """Store 64-bit values from an IPA on (page by page through stage 2)."""
        done, count = 0, int(values.shape[0])
        while done < count:
            take = min(count - done, (FRAME_SIZE - addr % FRAME_SIZE) // WORD)
            self.mem.fill64(self.pa(addr), values[done:done + take])
            addr += WORD * take
            done += take

    def alloc_table(self, size: int = FRAME_SIZE, align: int | None = None) -> int:
        """Zeroed table memory from the IPA pool (stage 2 must map it)."""
        align = size if align is None else align
        free = self._free.get(size)
        if free:
            for i, ipa in enumerate(free):
                if ipa % align == 0:
                    del free[i]
                    self.allocated[ipa] = size
                    return ipa
        ipa = -(-self._next // align) * align
        if ipa + size > self.pool_end:
            raise ConfigError(
                f"IpaSpace: table pool exhausted (0x{ipa:x} + 0x{size:x} > 0x{self.pool_end:x})"
            )
        for off in range(0, size, FRAME_SIZE):
            self.pa(ipa + off)  # must be mapped at stage 2
        self._next = ipa + size
        self.allocated[ipa] = size
        return ipa

    def alloc_tables(self, count: int, size: int = FRAME_SIZE) -> int:
        """``count`` consecutive table pages from the IPA pool."""
        base = self.alloc_table(size * count, align=size)
        if count > 1:
            del self.allocated[base]
            for i in range(count):
                self.allocated[base + i * size] = size
        return base

    def free_table(self, addr: int, size: int | None = None) -> None:
        """Return a table page to the pool (zeroed)."""
        got = self.allocated.pop(addr, None)
        if got is None:
            raise ConfigError(f"free_table IPA=0x{addr:x}: not a table page of this pool")
        import numpy as np

        self.fill64(addr, np.zeros(got // 8, dtype=np.uint64))
        self._free.setdefault(got, []).append(addr)

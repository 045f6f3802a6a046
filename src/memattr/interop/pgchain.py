"""The page-table chain a kernel fault report prints (``show_pte``), decoded.

arch/arm64/mm/fault.c ``show_pte`` prints ``<swapper|user> pgtable: %luk pages, %llu-bit VAs,
pgdp=...`` and then ``[addr] pgd=..., p4d=..., pud=..., pmd=..., pte=...``, stopping after the
first entry that is not a table.  Folded levels print the entry above them again: with 64K
pages and 48-bit VAs the walk has three levels (pgd is level 1) and p4d and pud repeat pgd.
Each printed entry is decoded here with the granule and VA size the report states
(:class:`memattr.arch.descriptor.S1Descriptor`), a leaf's AttrIndx through the MAIR_EL1 of the
kernel release (:func:`memattr.linux.asm.memory.mair_for`, MT_* names from ``mt_layout``) and
its permissions through the stage-1 rules (:func:`memattr.mmu.walk.s1_perms`).
"""

from __future__ import annotations

from .._value import dataclass

TYPE_CHECKING = False  # importing typing costs start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..linux.version import KernelVersion
    from .logscan import AbortReport

__all__ = ["ChainEntry", "Chain", "decode_chain", "chain_lines", "walk_levels"]

_PAGE_SHIFT = {4096: 12, 16384: 14, 65536: 16}
_NAME_LEVEL = {"p4d": 0, "pud": 1, "pmd": 2, "pte": 3}  # pgd: the start level


def walk_levels(granule: int, va_bits: int) -> int:
    """How many lookup levels a walk of ``va_bits`` takes with ``granule``-byte pages
    (arch/arm64 ``CONFIG_PGTABLE_LEVELS``: ARM64_HW_PGTABLE_LEVELS(va_bits))."""
    shift = _PAGE_SHIFT[granule]
    return -(-(va_bits - shift) // (shift - 3))


@dataclass(frozen=True, slots=True)
class ChainEntry:
    """One printed entry of the chain.

    :param name: pgd, p4d, pud, pmd or pte, as printed.  :param raw: the value printed.
    :param level: the lookup level it was read at.  :param folded: the level does not exist in
        this configuration (the entry repeats the one above).  :param kind: table, block, page,
        invalid or reserved.  :param address: the next table (table) or the output address (leaf).
    :param attr_index: a leaf's AttrIndx.  :param mair_attr: MAIR_EL1.Attr<AttrIndx> of the
        release (None: release unknown).  :param mt: the release's MT_* name for the index.
    :param memtype: the memory type that byte gives.  :param el1, el0: permissions (``RW-``).
    :param flags: AF, nG, DBM, Contiguous ... as set.  :param problem: why it could not be decoded.
    """

    name: str
    raw: int
    level: int | None
    folded: bool = False
    kind: str | None = None
    address: int | None = None
    attr_index: int | None = None
    mair_attr: int | None = None
    mt: str | None = None
    memtype: str | None = None
    el1: str | None = None
    el0: str | None = None
    flags: tuple[str, ...] = ()
    problem: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "raw": self.raw, "raw_hex": f"0x{self.raw:016x}",
                "level": self.level, "folded": self.folded, "type": self.kind,
                "address": self.address, "attr_index": self.attr_index,
                "mair_attr": self.mair_attr, "mt": self.mt, "memtype": self.memtype,
                "el1": self.el1, "el0": self.el0, "flags": list(self.flags),
                "problem": self.problem}


@dataclass(frozen=True, slots=True)
class Chain:
    """The decoded chain: geometry, the entries, the leaf (if one), and whether it agrees with
    the fault status the syndrome reports."""

    va: int
    owner: str | None
    granule: int | None
    va_bits: int | None
    levels: int | None
    release: str | None
    entries: tuple[ChainEntry, ...]
    note: str | None = None  # show_pte's own remark ("address between user and kernel ...")
    agreement: str | None = None

    @property
    def leaf(self) -> ChainEntry | None:
        """The block or page entry the walk ended in, if any."""
        return next((e for e in self.entries if e.kind in ("block", "page")), None)

    def to_json(self) -> dict[str, Any]:
        return {"va": self.va, "owner": self.owner, "granule": self.granule,
                "va_bits": self.va_bits, "levels": self.levels, "release": self.release,
                "entries": [e.to_json() for e in self.entries], "note": self.note,
                "agreement": self.agreement}


def _flags(d: Any) -> tuple[str, ...]:
    out = []
    for attr, name in (("af", "AF"), ("ng", "nG"), ("dbm", "DBM"), ("contiguous", "Contiguous"),
                       ("gp", "GP"), ("ns", "NS")):
        if getattr(d, attr, False):
            out.append(name)
    return tuple(out)


def decode_chain(report: AbortReport, release: KernelVersion | None, *,
                 fault_level: int | None = None, fault_kind: str | None = None,
                 write: bool | None = None, el: int = 1) -> Chain | None:
    """Decode ``report``'s pgd..pte chain (None when it printed none).

    :param release: the kernel release whose MAIR_EL1 gives the leaf's memory type.
    :param fault_level: the level the syndrome's fault status names.  :param fault_kind: its
        kind ('translation', 'permission' ...).  :param write: the access was a write (WnR).
    :param el: the Exception level of the access (0: user space), for the permission check.
    """
    if report.chain_va is None:
        return None
    pg = report.pgtable
    if not report.chain:
        return Chain(report.chain_va, pg.owner if pg else None, pg.granule if pg else None,
                     pg.va_bits if pg else None, None, str(release) if release else None, (),
                     note=report.chain_note)
    if pg is None:
        unknown = tuple(ChainEntry(n, v, None, problem="no 'pgtable:' line: granule and VA size "
                                   "unknown") for n, v in report.chain)
        return Chain(report.chain_va, None, None, None, None,
                     str(release) if release else None, unknown)
    from ..arch.descriptor import Granule, S1Descriptor
    from ..arch.mair import decode_attr
    from ..arch.sysregs import MAIR_ELx
    from ..errors import MemattrError
    from ..mmu.walk import s1_perms

    granule = Granule.parse(f"{pg.granule >> 10}k")
    levels = walk_levels(pg.granule, pg.va_bits)
    start = 4 - levels
    ds = pg.va_bits > 48 and pg.granule != 65536  # FEAT_LPA2 (52-bit VAs with 4K/16K pages)
    pa_bits = 52 if pg.va_bits > 48 else 48
    mair = layout = None
    if release is not None:
        from ..linux.asm.memory import mair_for, mt_layout

        mair, layout = mair_for(release), mt_layout(release)
    entries: list[ChainEntry] = []
    ap_table = 0
    uxn_table = pxn_table = False
    stopped = False
    for name, raw in report.chain:
        level = start if name == "pgd" else _NAME_LEVEL.get(name)
        if level is None:
            entries.append(ChainEntry(name, raw, None, problem="not a page-table level name"))
            continue
        if name != "pgd" and level <= start:
            entries.append(ChainEntry(name, raw, start, folded=True))
            continue
        if stopped:
            entries.append(ChainEntry(name, raw, level, problem="printed after the walk ended"))
            continue
        try:
            d = S1Descriptor.decode(raw, granule, level, ds=ds, pa_bits=pa_bits)
        except MemattrError as exc:
            entries.append(ChainEntry(name, raw, level, problem=str(exc)))
            stopped = True
            continue
        kind = d.type.value
        if kind == "table":
            ap_table |= d.ap_table
            uxn_table |= d.uxn_table
            pxn_table |= d.pxn_table
            entries.append(ChainEntry(name, raw, level, kind=kind, address=d.address))
            continue
        stopped = True
        if kind not in ("block", "page"):
            entries.append(ChainEntry(name, raw, level, kind=kind))
            continue
        byte = mt = memtype = None
        if mair is not None and layout is not None:
            byte = MAIR_ELx.get(mair, f"Attr{d.attr_index}")
            mt = layout.name(d.attr_index)
            a = decode_attr(byte)
            memtype = a.attrs.short if a.attrs is not None else f"reserved ({a.reserved})"
        perms = [str(s1_perms(d.ap, d.uxn, d.pxn, e, ap_table=ap_table, uxn_table=uxn_table,
                              pxn_table=pxn_table)) for e in (1, 0)]
        entries.append(ChainEntry(name, raw, level, kind=kind, address=d.address,
                                  attr_index=d.attr_index, mair_attr=byte, mt=mt,
                                  memtype=memtype, el1=perms[0], el0=perms[1], flags=_flags(d)))
    chain = Chain(report.chain_va, pg.owner, pg.granule, pg.va_bits, levels,
                  str(release) if release else None, tuple(entries), note=report.chain_note)
    return _agree(chain, fault_level, fault_kind, write, el)


def _agree(chain: Chain, level: int | None, kind: str | None, write: bool | None,
           el: int) -> Chain:
    """Say whether the chain agrees with the syndrome's fault status."""
    if kind is None:
        return chain
    real = [e for e in chain.entries if not e.folded and e.kind is not None]
    last = real[-1] if real else None
    text = None
    if kind == "translation" and last is not None:
        if last.kind in ("invalid", "reserved") and last.level == level:
            text = f"the {last.name} entry (level {level}) is {last.kind}: a level {level} " \
                   "translation fault, as the syndrome says"
        elif last.kind in ("invalid", "reserved"):
            text = f"the walk ends at an {last.kind} {last.name} entry (level {last.level}); " \
                   f"the syndrome says level {level}: the table changed after the fault, or " \
                   "the report is of another walk"
        else:
            text = f"the chain ends in a valid {last.kind}, but the syndrome reports a level " \
                   f"{level} translation fault: the entry was written after the fault"
    elif kind == "permission" and chain.leaf is not None:
        leaf = chain.leaf
        perms = leaf.el0 if el == 0 else leaf.el1
        if perms is not None and write is not None:
            allowed = "W" in perms if write else "R" in perms
            what = "write" if write else "read"
            verdict = ("permitted (a stale TLB entry, or a DBM/dirty-state update)" if allowed
                       else "not permitted: the permission fault the syndrome reports")
            text = f"the {leaf.name} allows {perms} at EL{el}: a {what} is {verdict}"
            if write and not allowed and "DBM" in leaf.flags:
                text += "; DBM=1 marks it writable-clean (Linux PTE_WRITE): the write faults " \
                        "unless the CPU manages the dirty state (FEAT_HAFDBS with TCR_EL1.HD)"
    return Chain(chain.va, chain.owner, chain.granule, chain.va_bits, chain.levels, chain.release,
                 chain.entries, chain.note, text)


def chain_lines(chain: Chain) -> list[str]:
    """The chain as text, one entry a line."""
    from ..inputs.escape import escape

    geometry = [escape(chain.owner)] if chain.owner else []
    if chain.granule is not None:
        geometry.append(f"{chain.granule >> 10}K pages, {chain.va_bits}-bit VAs"
                        + (f", {chain.levels} levels" if chain.levels else ""))
    head = "page tables" + (f" ({', '.join(geometry)})" if geometry else "") + \
        f" for VA 0x{chain.va:016x}:"
    out = [head]
    if chain.note:
        out.append(f"  {escape(chain.note)}")
    for e in chain.entries:
        row = f"  {e.name}=0x{e.raw:016x}"
        if e.problem:
            out.append(f"{row}: {e.problem}")
        elif e.folded:
            out.append(f"{row}: level folded into pgd (the same entry)")
        elif e.kind == "table":
            out.append(f"{row}: level {e.level} table -> next table at PA 0x{e.address:x}")
        elif e.kind in ("block", "page"):
            mt = (f", MAIR_EL1.Attr{e.attr_index}=0x{e.mair_attr:02x}"
                  f"{' ' + e.mt if e.mt else ' (unused by this kernel)'}: {e.memtype}"
                  if e.mair_attr is not None else
                  f", AttrIndx {e.attr_index} (give --kernel for the type)")
            out.append(f"{row}: level {e.level} {e.kind} -> PA 0x{e.address:x}{mt}; "
                       f"EL1 {e.el1}, EL0 {e.el0}"
                       + (f"; {' '.join(e.flags)}" if e.flags else ""))
        else:
            out.append(f"{row}: level {e.level} {e.kind}")
    if chain.agreement:
        out.append(f"  {chain.agreement}")
    return out

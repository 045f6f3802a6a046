"""What the table builder did, step by step: descriptor writes, break-before-make, TLBI and DSB.

Every :class:`~memattr.mmu.pgtable.PageTable` operation records its steps as :class:`Event`
values, in program order, the way casemate traces a hypervisor (``mem-write``, ``tlbi``,
``barrier dsb``).  A :class:`~memattr.mmu.tlb.TLB` subscribed to a page table applies the TLBI
and DSB events as they happen.

Bulk operations are summarised: a table page filled in one go is one ``BULK`` event carrying the
first descriptor and the count, not one event per entry.
"""

from __future__ import annotations

import enum

from .._value import dataclass  # dataclasses, cheaper to import

__all__ = ["EventKind", "Event"]


class EventKind(enum.Enum):
    """The kinds of builder step."""

    WRITE = "write"  # a descriptor written (the 'make' of BBM, or invalid -> valid)
    BREAK = "break"  # break-before-make step 1: a valid descriptor replaced by an invalid one
    TLBI = "tlbi"  # a TLB invalidation instruction (op names it, e.g. IPAS2E1IS)
    DSB = "dsb"  # a DSB completing earlier TLBIs (op names the domain, e.g. ISH)
    TABLE_ALLOC = "table-alloc"  # table page(s) allocated (count pages at desc_pa)
    TABLE_FREE = "table-free"  # a table page returned to the allocator
    BULK = "bulk"  # ``count`` consecutive descriptors of one table page written at once


@dataclass(frozen=True, slots=True)
class Event:
    """One builder step.

    :param kind: what happened.
    :param level: lookup level of the descriptor (TLBI: the TTL level hint), or None.
    :param ia: input address the descriptor maps (TLBI: the VA/IPA operand), or None.
    :param desc_pa: address of the descriptor written (TABLE_*: of the table), or None.
    :param old: the descriptor before the write, or None.
    :param new: the descriptor after the write (BULK: the first one), or None.
    :param op: TLBI operation or DSB domain; for WRITE/BREAK the builder call ("map", "split").
    :param count: BULK: descriptors written; TABLE_ALLOC: pages allocated.
    :param vmid: TLBI: the VMID operand.  :param asid: TLBI: the ASID operand.
    :param stride: BULK: the output-address step between consecutive descriptors.
    """

    kind: EventKind
    level: int | None = None
    ia: int | None = None
    desc_pa: int | None = None
    old: int | None = None
    new: int | None = None
    op: str = ""
    count: int = 1
    vmid: int | None = None
    asid: int | None = None
    stride: int = 0

    def __str__(self) -> str:
        parts = [self.kind.value]
        if self.op:
            parts.append(self.op)
        if self.level is not None:
            parts.append(f"L{self.level}")
        if self.ia is not None:
            parts.append(f"ia=0x{self.ia:x}")
        if self.desc_pa is not None:
            parts.append(f"at=0x{self.desc_pa:x}")
        if self.old is not None:
            parts.append(f"old=0x{self.old:016x}")
        if self.new is not None:
            parts.append(f"new=0x{self.new:016x}")
        if self.count != 1:
            parts.append(f"x{self.count}")
        if self.vmid is not None:
            parts.append(f"vmid={self.vmid}")
        if self.asid is not None:
            parts.append(f"asid={self.asid}")
        return " ".join(parts)

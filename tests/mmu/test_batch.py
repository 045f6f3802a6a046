"""The numpy batch walker equals the scalar walker, access by access."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from tests.mmu.helpers import RAM_IPA, RAM_PA, Setup, compare
from tests.mmu.strategies import Scenario, scenarios

from memattr.mmu.batch import FAULT_CODES, walk_batch
from memattr.mmu.pgtable import s1_attrs, s2_attrs
from memattr.mmu.walk import Access, AccessKind, walk


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sc=scenarios())
def test_batch_equals_scalar(sc: Scenario) -> None:
    """For random tables, registers and accesses, walk_batch gives what walk gives."""
    vas = np.array(sc.vas, dtype=np.uint64)
    b = walk_batch(sc.setup.mem, sc.regime, vas, kind=sc.kind, el=sc.el, size=sc.size)
    for i, va in enumerate(sc.vas):
        r = walk(sc.setup.mem, sc.regime, Access(va, sc.kind, sc.el, sc.size))
        assert compare(b, i, r) == [], (hex(va), r.fault)


def test_batch_covers_every_fault_kind() -> None:
    """One batch with translation, AF, permission, address size, alignment and S1PTW faults."""
    s = Setup(ram_leaf=4096, ips=40)
    assert s.s1 is not None and s.s2 is not None
    kib = 1 << 10
    s.s1.map(0x10_0000, 4 * kib, RAM_IPA + 0x20_0000, s1_attrs(attr_index=0))
    s.s1.map(0x20_0000, 4 * kib, RAM_IPA + 0x21_0000, s1_attrs(attr_index=0, af=False))
    s.s1.map(0x30_0000, 4 * kib, RAM_IPA + 0x22_0000, s1_attrs(attr_index=0, ap=0b10))
    s.s1.map(0x40_0000, 4 * kib, RAM_IPA + 0x23_0000, s1_attrs(attr_index=4))
    s.s1.map(0x50_0000, 4 * kib, 0x7000_0000, s1_attrs(attr_index=0))
    s.s2.map(0x8000_0000, 4 * kib, 0x9_0000_0000, s2_attrs(memattr=1))
    s.s1.map(0x60_0000, 4 * kib, 0x8000_0000, s1_attrs(attr_index=2))
    leaf = s.s1.lookup(0x10_0000)
    assert leaf is not None
    s.s1.map(0x70_0000, 4 * kib, RAM_IPA + 0x24_0000, s1_attrs(attr_index=0))
    far = s.s1.lookup(0x70_0000)
    assert far is not None
    s.tables.write64(far.desc_pa, far.raw | (1 << 44))  # type: ignore[attr-defined]
    vas = [0x10_0008, 0x20_0000, 0x30_0000, 0x40_0004, 0x50_0000, 0x60_0004, 0x70_0000,
           0x1_0000_0000, 1 << 50]
    reg = s.regime()
    b = walk_batch(s.mem, reg, vas, kind=AccessKind.WRITE)
    kinds = {FAULT_CODES[int(c)] for c in b.fault}
    assert len(kinds) == 6  # None and the five fault kinds
    assert int(b.pa[0]) == RAM_PA + 0x20_0008
    for i, va in enumerate(vas):
        assert compare(b, i, walk(s.mem, reg, Access(va, AccessKind.WRITE))) == []


def test_batch_chunks_and_memory_changes() -> None:
    """Long batches are walked in chunks; a write to memory invalidates the snapshot."""
    s = Setup()
    assert s.s1 is not None
    s.s1.map(0, 1 << 21, RAM_IPA + (1 << 21), s1_attrs(attr_index=0), max_leaf=4096)
    vas = np.arange(0, 1 << 21, 16, dtype=np.uint64)  # 131072 accesses: several chunks
    b = walk_batch(s.mem, s.regime(), vas)
    assert (b.fault == 0).all() and int(b.pa[-1]) == RAM_PA + (1 << 21) + (1 << 21) - 16
    s.s1.unmap(0, 4096)
    b = walk_batch(s.mem, s.regime(), vas[:300])
    assert (b.fault[:256] != 0).all() and (b.fault[256:] == 0).all()

"""Walking what a machine holds: tables built by the page-table API and the same memory loaded
raw (images, descriptors at addresses) with the same register values walk alike; malformed
images and looping tables are errors or faults, never hangs."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from tests.mmu.helpers import Setup
from tests.mmu.strategies import Scenario, scenarios

from memattr.arch.cpu import ALL
from memattr.arch.descriptor import s1_leaf, s1_table
from memattr.arch.esr import FaultKind
from memattr.errors import ConfigError
from memattr.mmu.dump import linux_ptdump
from memattr.mmu.pgtable import VISIT_LIMIT, visit
from memattr.mmu.physmem import FRAME_SHIFT, FRAME_SIZE, PhysMem
from memattr.mmu.regime import Regime
from memattr.mmu.walk import Access, walk


def _raw_copy(mem: PhysMem, *, as_images: bool) -> PhysMem:
    """The same contents in a fresh memory: each touched frame as an image, or every non-zero
    64-bit word written at its address."""
    out = PhysMem(cpu=mem.cpu or ALL)
    for pfn, frame in mem.iter_frames():
        if as_images:
            out.add_image(pfn << FRAME_SHIFT, bytes(frame), name=f"frame 0x{pfn:x}")
            continue
        for off in range(0, FRAME_SIZE, 8):
            word = int.from_bytes(frame[off:off + 8], "little")
            if word:
                out.write64((pfn << FRAME_SHIFT) + off, word)
    return out


def _raw_regime(reg: Regime) -> Regime:
    """The same registers, given as raw values."""
    s1, s2 = reg.s1, reg.s2
    return Regime.from_registers(tcr=s1.tcr, mair=s1.mair, ttbr0=s1.ttbr0, ttbr1=s1.ttbr1,
                                 sctlr=s1.sctlr, hcr=reg.hcr,
                                 vtcr=s2.vtcr if s2 is not None else None,
                                 vttbr=s2.vttbr if s2 is not None else 0, cpu=reg.cpu)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sc=scenarios())
def test_raw_memory_walks_as_the_built_tables(sc: Scenario) -> None:
    """For random tables built with PageTable, the memory loaded raw (as images, or word by
    word) with the registers given raw gives every access the same steps and result."""
    raw_reg = _raw_regime(sc.regime)
    for as_images in (True, False):
        raw = _raw_copy(sc.setup.mem, as_images=as_images)
        for va in sc.vas:
            acc = Access(va, sc.kind, sc.el, sc.size)
            want = walk(sc.setup.mem, sc.regime, acc, hw_update=False)
            got = walk(raw, raw_reg, acc, hw_update=False)
            assert got.steps == want.steps and got.fault == want.fault
            assert got.translation == want.translation


def test_images_are_read_lazily_and_checked() -> None:
    """An image is copied in frame by frame on first access; writes land in the copy; an empty
    image, one beyond the PA space and overlapping images are ConfigErrors."""
    mem = PhysMem(40)
    img = mem.add_image(0x1000_0004, bytes(range(16)) * 512, name="dump")
    assert (img.base, img.size, img.end) == (0x1000_0004, 8192, 0x1000_2004)
    assert mem.frames == {}
    assert mem.read64(0x1000_0008) == int.from_bytes(bytes(range(4, 12)), "little")
    assert sorted(mem.frames) == [0x10000]
    mem.write64(0x1000_1000, 7)
    assert mem.read64(0x1000_1000) == 7 and mem.read(0x1000_2000, 8)[:4] == bytes(range(12, 16))
    with pytest.raises(ConfigError, match="no bytes"):
        mem.add_image(0, b"")
    with pytest.raises(ConfigError, match="beyond the 40-bit"):
        mem.add_image((1 << 40) - 4, b"12345678")
    with pytest.raises(ConfigError, match="overlaps image 'dump'"):
        mem.add_image(0x1000_2000, b"x" * 8)
    assert mem.alloc_table() != 0x1000_0000  # the allocator keeps out of images


def test_a_table_that_points_to_itself_walks_once_per_level() -> None:
    """A table descriptor pointing back at its own table: the walk reads one descriptor per
    level; at level 3 the same bits are a page descriptor (ASL AArch64.DecodeDescriptorType)
    whose AF is 0: an Access flag fault.  A dump of the tables stops with a one-line error."""
    mem = PhysMem()
    root = 0x10_0000
    mem.write64(root, s1_table(root, level=0).encode())  # entry 0 -> the table itself
    reg = Regime.from_registers(tcr=Setup(s2=None).tcr, mair=0xFF, ttbr0=root, hcr=0)
    r = walk(mem, reg, Access(0x10))
    assert [s.level for s in r.steps] == [0, 1, 2, 3]
    assert r.fault is not None and (r.fault.kind, r.fault.level) == (FaultKind.ACCESS_FLAG, 3)
    geom = reg.s1.halves[0].geometry
    assert geom is not None
    with pytest.raises(ConfigError, match="reached twice"):
        linux_ptdump(mem, geom, root, attr_labels={})


def test_visit_stops_on_a_table_shared_many_times() -> None:
    """visit() refuses a tree whose tables are shared (every entry of every level pointing at
    one table would be 512**4 entries): a ConfigError, not a hang."""
    mem = PhysMem()
    root, shared = 0x10_0000, 0x20_0000
    for i in range(512):
        mem.write64(root + 8 * i, s1_table(shared, level=0).encode())
        mem.write64(shared + 8 * i, s1_leaf(0, 0, level=1).encode())
    geom = Regime.from_registers(tcr=Setup(s2=None).tcr, mair=0xFF, ttbr0=root,
                                 hcr=0).s1.halves[0].geometry
    assert geom is not None
    with pytest.raises(ConfigError, match="reached twice"):
        list(visit(mem, geom, root))
    with pytest.raises(ConfigError, match="more than 100"):
        list(visit(mem, geom, 0x30_0000, limit=100))
    assert VISIT_LIMIT >= 1 << 20

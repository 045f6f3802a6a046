"""Sparse physical memory: descriptors, bytes, regions and the table allocator."""

from __future__ import annotations

import numpy as np
import pytest

from memattr.errors import ConfigError, EncodingError
from memattr.mmu.physmem import FRAME_SIZE, PhysMem, RegionKind


def test_read64_write64_little_endian() -> None:
    """A descriptor is stored little-endian and reads back; untouched memory reads zero."""
    mem = PhysMem(48)
    assert mem.read64(0x1000) == 0
    mem.write64(0x1008, 0x0123_4567_89AB_CDEF)
    assert mem.read(0x1008, 8) == bytes.fromhex("efcdab8967452301")
    assert mem.read64(0x1008) == 0x0123_4567_89AB_CDEF
    assert len(mem.frames) == 1


def test_bytes_cross_frames() -> None:
    """Byte reads and writes may straddle a 4 KiB frame boundary."""
    mem = PhysMem(40)
    mem.write(0xFFE, b"abcd")
    assert mem.read(0xFFC, 8) == b"\0\0abcd\0\0"
    assert sorted(mem.frames) == [0, 1]


def test_bounds_and_alignment_are_errors() -> None:
    """Accesses beyond pa_bits and unaligned descriptor accesses raise EncodingError."""
    mem = PhysMem(32)
    with pytest.raises(EncodingError, match="0x100000000"):
        mem.read64(1 << 32)
    with pytest.raises(EncodingError, match="not 8-byte aligned"):
        mem.write64(4, 1)
    with pytest.raises(EncodingError, match="64-bit"):
        mem.write64(8, 1 << 64)
    with pytest.raises(ConfigError):
        PhysMem(60)


def test_numpy_views_and_copies() -> None:
    """u64 views write through to the frame; fill64/read_u64s cross frames."""
    mem = PhysMem(48)
    view = mem.u64(0x2000, 4)
    view[:] = [1, 2, 3, 4]
    assert mem.read64(0x2018) == 4
    vals = np.arange(1024, dtype=np.uint64)
    mem.fill64(0x3800, vals)  # 256 in frame 3, 768 in frames 4 and 5
    assert mem.read64(0x3800) == 0 and mem.read64(0x3808) == 1
    assert mem.read64(0x3800 + 8 * 1023) == 1023
    assert (mem.read_u64s(0x3800, 1024) == vals).all()
    assert mem.read_u64s(0x100_0000, 3).tolist() == [0, 0, 0]
    with pytest.raises(EncodingError):
        mem.u64(0x2FF8, 2)


def test_regions() -> None:
    """Tagged regions are found by address; overlapping tags are refused."""
    mem = PhysMem(48)
    bar = mem.add_region(0x80_0000_0000, 0x1_0000, "MMIO", "nic BAR0")
    mem.add_region(0x4000_0000, 0x4000_0000, RegionKind.RAM, "guest RAM")
    assert mem.region_at(0x80_0000_0010) == bar
    assert mem.region_at(0x3FFF_FFFF) is None
    assert "nic BAR0" in str(bar)
    with pytest.raises(ConfigError, match="overlaps"):
        mem.add_region(0x80_0000_8000, 0x1000, RegionKind.MMIO, "clash")


def test_allocator_alignment_reuse_and_obstacles() -> None:
    """Table pages are aligned, skip used frames and regions, and are reused after free."""
    mem = PhysMem(48, alloc_base=0x10_0000)
    mem.write64(0x10_0000, 1)  # data in the first frame: skipped
    a = mem.alloc_table()
    assert a == 0x10_1000
    big = mem.alloc_table(0x1_0000)  # 64 KiB, 64 KiB aligned
    assert big % 0x1_0000 == 0 and big > a
    mem.add_region(big + 0x1_0000, 0x2000, RegionKind.MMIO, "dev")
    c = mem.alloc_table()
    assert c >= big + 0x1_0000 + 0x2000
    mem.write64(a, 5)
    mem.free_table(a)
    assert mem.read64(a) == 0
    assert mem.alloc_table() == a
    with pytest.raises(ConfigError):
        mem.free_table(0x123000)
    run = mem.alloc_tables(8)
    assert all(run + i * FRAME_SIZE in mem.allocated for i in range(8))
    mem.free_table(run + 3 * FRAME_SIZE)


def test_allocator_exhaustion() -> None:
    """Running out of table memory is a ConfigError naming the limit."""
    mem = PhysMem(48, alloc_base=0x1000, alloc_limit=0x3000)
    mem.alloc_tables(2)
    with pytest.raises(ConfigError, match="out of table memory"):
        mem.alloc_table()

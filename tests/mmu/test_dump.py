"""Table dumps: Linux kernel_page_tables (golden: a real arm64 dump rebuilt and re-printed),
KVM stage2_page_tables in its three dialects, and memattr's own format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memattr.arch.descriptor import Granule, s1_table
from memattr.errors import ConfigError
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR
from memattr.linux.asm.memory import mt_names
from memattr.linux.ptdump import attr_labels
from memattr.mmu.dump import format_size, kvm_ptdump, linux_level_names, linux_ptdump, memattr_dump
from memattr.mmu.pgtable import PageTable, s1_attrs, s2_attrs
from memattr.mmu.physmem import PhysMem
from memattr.mmu.regime import Geometry

LINUX_MT = mt_names("6.9")  # the v5.14+ MT_* indexes
LABELS = attr_labels("6.9")  # and the words ptdump.c prints for them

SAMPLE = Path(__file__).resolve().parents[1] / "data" / "ptdump_arm64_kernel_page_tables_full_qemu_mte.txt"
_LINE = re.compile(r"^0x([0-9a-f]{16})-0x([0-9a-f]{16}) +\d+[KMGTPE] (PGD|PUD|PMD|PTE)(.*)$")
_LEVEL = {"PGD": 0, "PUD": 1, "PMD": 2, "PTE": 3}
_TYPES = {"MEM/NORMAL": "MT_NORMAL", "MEM/NORMAL-TAGGED": "MT_NORMAL_TAGGED",
          "MEM/NORMAL-NC": "MT_NORMAL_NC", "DEVICE/nGnRnE": "MT_DEVICE_nGnRnE",
          "DEVICE/nGnRE": "MT_DEVICE_nGnRE"}
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


def test_format_size() -> None:
    """note_page's size: the largest unit that divides it, right-aligned in 9 columns."""
    assert format_size(4096) == "        4K"
    assert format_size(2112 * KIB) == "     2112K"
    assert format_size(512 * GIB) == "      512G"
    assert format_size(261632 * GIB) == "   261632G"
    assert format_size(1 << 48) == "      256T"


def test_linux_level_names() -> None:
    """The root is PGD; 3-level tables name L2 PMD; 5-level ones have a P4D."""
    assert linux_level_names(Geometry.for_stage1(Granule.K4, 48)) == \
        {0: "PGD", 1: "PUD", 2: "PMD", 3: "PTE"}
    assert linux_level_names(Geometry.for_stage1(Granule.K4, 39)) == \
        {1: "PGD", 2: "PMD", 3: "PTE"}
    assert linux_level_names(Geometry.for_stage1(Granule.K4, 52, 52, True))[0] == "P4D"


def _ensure_table(pt: PageTable, va: int, level: int) -> None:
    """Make the walk of ``va`` reach a table at ``level`` (empty tables the kernel had)."""
    g = pt.geom
    table = pt.root
    for lv in range(g.start_level, level):
        addr = table + 8 * g.index(va, lv)
        raw = pt.mem.read64(addr)
        if raw & 3 != 3:
            child = pt.mem.alloc_table()
            pt.mem.write64(addr, s1_table(child, level=lv).encode())
            raw = pt.mem.read64(addr)
        table = raw & 0x0000_FFFF_FFFF_F000


def test_golden_kernel_page_tables() -> None:
    """Rebuild the tables of a real arm64 kernel_page_tables dump (4K, 48-bit VA, TTBR1) from
    its lines, dump them again with the same markers: the output is identical, byte for byte
    (the sample's kernel printed the bits of invalid ranges: zero_prot=True)."""
    text = SAMPLE.read_text()
    lines = text.splitlines()
    mem = PhysMem(48)
    geom = Geometry.for_stage1(Granule.K4, 48)
    pt = PageTable(mem, geom, asid=0)
    base = (1 << 64) - (1 << 48)
    markers: list[tuple[int, str | None]] = []
    pending: list[str] = []
    for line in lines:
        m = re.match(r"^---\[ (.*) \]---$", line)
        if m:
            pending.append(m.group(1))
            continue
        m = _LINE.match(line)
        assert m, line
        start, end, lvl, rest = int(m.group(1), 16), int(m.group(2), 16), m.group(3), m.group(4)
        end = end or (1 << 64)
        markers += [(start, name) for name in pending]
        pending = []
        level = _LEVEL[lvl]
        toks = rest.split()
        if "F" in toks:
            if level > 0:  # the kernel's (possibly empty) tables covering the hole
                step = geom.block_size(level - 1)
                for va in range(start - start % step, end, step):
                    _ensure_table(pt, va - base, level)
            continue
        idx = LINUX_MT[_TYPES[toks[-1]]]
        attrs = s1_attrs(attr_index=idx, ap=(1 if "USR" in toks else 0) | (2 if "ro" in toks
                                                                          else 0),
                         sh=0b11 if "SHD" in toks else 0b00, af="AF" in toks, ng="NG" in toks,
                         pxn="NX" in toks, uxn="UXN" in toks, gp="GP" in toks)
        size = geom.block_size(level)
        pt.map(start - base, end - start, start - base, attrs, contiguous="CON" in toks,
               max_leaf=size)
    markers += [(1 << 64, name) for name in pending]
    markers.append((1 << 65, None))
    out = linux_ptdump(mem, geom, pt.root, attr_labels=LABELS, ttbr1=True, markers=markers,
                       zero_prot=True)
    assert out.splitlines() == lines
    # Mainline prints nothing after the level name of an invalid range.
    plain = linux_ptdump(mem, geom, pt.root, attr_labels=LABELS, ttbr1=True, markers=markers)
    assert "0xffff000000000000-0xffff008000000000         512G PGD" in plain.splitlines()


def _kvm_table() -> tuple[PhysMem, PageTable]:
    mem = PhysMem(48)
    pt = PageTable(mem, Geometry.for_stage2(Granule.K4, 40), vmid=1)
    pt.map(GIB, GIB, 0x1_0000_0000, s2_attrs(memattr=0xF))  # RAM, executable
    pt.map(0x80_0000_0000, 64 * KIB, 0x80_0000_0000, s2_attrs(memattr=0x1, xn=True))
    pt.map(0x90_0000_0000, 4 * KIB, 0x90_0000_0000, s2_attrs(memattr=0x5, s2ap=1, xn=0b01))
    return mem, pt


def test_kvm_dump_dialects() -> None:
    """KVM's lines: level as a number; X/XN per dialect; BLK for blocks; last range left out."""
    mem, pt = _kvm_table()
    new = kvm_ptdump(mem, pt.geom, pt.root).splitlines()
    assert new[0] == "---[ Guest IPA ]---"
    assert new[2] == ("0x0000000040000000-0x0000000080000000           1G 1   R W px ux  "
                      "AF BLK")
    assert new[4] == ("0x0000008000000000-0x0000008000010000          64K 3   R W PXNUXN "
                      "AF    ")
    assert "PXNux " in kvm_ptdump(mem, pt.geom, pt.root)
    old = kvm_ptdump(mem, pt.geom, pt.root, dialect="v6.11").splitlines()
    # v6.11 printed X for a non-executable range (fixed in Aug 2025).
    assert old[2].endswith("1G 1   R W   AF BLK")
    assert old[4].endswith("64K 3   R W X AF    ")
    fixed = kvm_ptdump(mem, pt.geom, pt.root, dialect="x-fixed").splitlines()
    assert fixed[2].endswith("1G 1   R W X AF BLK") and fixed[4].endswith("64K 3   R W   AF    ")
    closed = kvm_ptdump(mem, pt.geom, pt.root, close=True).splitlines()
    assert len(closed) == len(new) + 1
    assert closed[-1] == "0x0000009040000000-0x0000010000000000         447G 1"
    with pytest.raises(ConfigError, match="dialect"):
        kvm_ptdump(mem, pt.geom, pt.root, dialect="6.99")
    with pytest.raises(ConfigError, match="stage-2"):
        kvm_ptdump(mem, Geometry.for_stage1(Granule.K4, 48), pt.root)


def test_memattr_dump_adds_types() -> None:
    """memattr's dump shows OA, MemAttr and its meaning, and the effective type with S1."""
    mem, pt = _kvm_table()
    out = memattr_dump(mem, pt.geom, pt.root, s1_attr=0x44).splitlines()
    assert out[0].startswith("# stage 2, 4k granule, 40-bit IA")
    assert "-> 0x100000000" in out[1] and "MemAttr=0xf Normal inner WB, outer WB" in out[1]
    assert out[1].endswith("with S1 0x44: Normal-NC OSH")
    assert "Device nGnRE" in out[2] and out[2].endswith("Device-nGnRE OSH")
    fwb = memattr_dump(mem, pt.geom, pt.root, fwb=True).splitlines()
    assert "S1's attributes when S1 is Device" in fwb[3]
    s1 = PageTable(mem, Geometry.for_stage1(Granule.K4, 48))
    s1.map(0x1000, 4 * KIB, 0x9000_0000, s1_attrs(attr_index=4, pxn=True, uxn=True))
    line = memattr_dump(mem, s1.geom, s1.root, mair=LINUX_MAIR).splitlines()[1]
    assert "AttrIndx=4 MAIR=0x04 Device-nGnRE" in line and "PXN UXN" in line

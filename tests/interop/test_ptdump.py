"""Page-table dumps: the real arm64 ptdumps, written 16K/64K and KVM samples, round trip through
memattr.mmu.dump's writers, and corrupt input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from tests.interop.strategies import TableSpec, table_specs

from memattr.arch.descriptor import Granule
from memattr.errors import ParseError
from memattr.interop.ptdump import DumpFormat, entry_size, parse_kvm_ipa_range, parse_kvm_levels, parse_ptdump
from memattr.linux.ptdump import attr_labels
from memattr.mmu.dump import kvm_ptdump, linux_ptdump, memattr_dump
from memattr.mmu.pgtable import Codec, PageTable, s1_attrs, s2_attrs, visit
from memattr.mmu.physmem import PhysMem
from memattr.mmu.regime import Geometry

DATA = Path(__file__).resolve().parents[1] / "data"
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30


def test_real_full_dump_golden() -> None:
    """Facts of the real 4K/48-bit MTE dump (tests/data/README.md)."""
    d = parse_ptdump((DATA / "ptdump_arm64_kernel_page_tables_full_qemu_mte.txt").read_bytes(), va_bits=48)
    assert d.format is DumpFormat.LINUX and d.stage == 1 and d.granule == 4096
    assert len(d.mappings) == 246 - len(d.markers)
    assert [n for _, n in d.markers][:4] == ["Linear Mapping start", "Linear Mapping end", "Modules start",
                                             "Modules end"]
    leaves = d.leaves()
    by = {t: [m for m in leaves if m.memtype == t] for t in ("DEVICE/nGnRE", "DEVICE/nGnRnE", "MEM/NORMAL-NC",
                                                              "MEM/NORMAL-TAGGED")}
    assert len(by["DEVICE/nGnRE"]) == 19 and len(by["MEM/NORMAL-NC"]) == 3 and len(by["MEM/NORMAL-TAGGED"]) == 6  # noqa: E501
    (ecam,) = by["DEVICE/nGnRnE"]
    assert (ecam.start, ecam.size, ecam.mt) == (0xFFFF800090000000, 256 * MIB, "MT_DEVICE_nGnRnE")
    assert all(m.size == 128 * KIB and m.marker == "vmalloc() area" for m in by["MEM/NORMAL-NC"])
    assert sorted(m.start for m in by["DEVICE/nGnRE"] if m.size == 64 * MIB) == [0xFFFF800084000000, 0xFFFF8000A4000000]  # noqa: E501
    pci = next(m for m in leaves if m.marker == "PCI I/O start")
    assert (pci.start, pci.end, pci.memtype) == (0xFFFFFFFFC0800000, 0xFFFFFFFFC0810000, "DEVICE/nGnRE")
    # The kernel printed a zero descriptor's words after F: kept, but the range is invalid.
    first = d.mappings[0]
    assert not first.valid and first.words[0] == "F" and first.level == 0 and first.memtype is None
    blk = next(m for m in leaves if m.level_name == "PMD")
    assert blk.bit(1 << 1) is False and blk.bit(1 << 7) is True  # a block; "ro"
    tagged = by["MEM/NORMAL-TAGGED"][0]
    assert tagged.bit(1 << 53) and tagged.bit(1 << 54) and tagged.bit(3 << 8) and tagged.bit(1 << 11)
    assert tagged.bit(1 << 6) is False  # no USR


def test_real_mainline_lpa2_excerpt() -> None:
    """Mainline prints nothing after the level of an invalid range; this LPA2 kernel has no SHD."""
    d = parse_ptdump((DATA / "ptdump_arm64_mainline_lpa2_pwndbg_issue3285_excerpt.txt").read_text())
    assert len(d.mappings) == 16 and len(d.leaves()) == 8
    assert d.mappings[0].words == () and not d.mappings[0].valid
    dev = d.mappings[1]
    assert dev.memtype == "DEVICE/nGnRE" and dev.bit(3 << 8) is None and dev.bit(1 << 10)
    assert d.granules == frozenset({4096})


def test_written_16k_and_64k() -> None:
    """16K: PGD is level 1 with 47-bit VAs; 64K/48-bit: PGD level 1, 512M PMD blocks."""
    text16 = (DATA / "ptdump_arm64_16k_47bit_written.txt").read_text()
    # Sizes rule larger granules out, never smaller ones: 16K ranges are also 4K ranges.
    assert parse_ptdump(text16).granules == frozenset({4096, 16384})
    d16 = parse_ptdump(text16, granule=16 * KIB, va_bits=47)
    assert d16.granule == 16 * KIB
    assert [(m.level_name, m.level) for m in d16.mappings[:5]] == [("PMD", 2), ("PTE", 3), ("PTE", 3),
                                                                   ("PMD", 2), ("PGD", 1)]
    assert d16.mappings[-1].end == 1 << 64
    assert [m.memtype for m in d16.leaves()][-2:] == ["DEVICE/nGnRE", "MEM/NORMAL-NC"]
    d64 = parse_ptdump((DATA / "ptdump_arm64_64k_48bit_written.txt").read_text(), granule=64 * KIB, va_bits=48)  # noqa: E501
    assert d64.granule == 64 * KIB and d64.mappings[0].size == 512 * MIB and d64.mappings[0].level == 2
    cont = d64.mappings[1]
    assert cont.bit(1 << 52) is True and cont.memtype == "MEM/NORMAL-TAGGED"
    # Without the VA size the PGD's level is not known; the granule still is.
    assert parse_ptdump((DATA / "ptdump_arm64_64k_48bit_written.txt").read_text()).mappings[4].level is None


def test_kvm_dialects() -> None:
    """v6.11's X is ambiguous without the version; xnx is explicit; no memory type column."""
    old = parse_ptdump((DATA / "kvm_stage2_v6.11_4k_40bit_written.txt").read_text())
    assert old.format is DumpFormat.KVM and old.stage == 2 and old.dialects == frozenset({"v6.11", "x-fixed"})
    gic = old.mappings[1]
    assert gic.level == 3 and gic.bit(1 << 54) is None and gic.bit(1 << 6) and gic.bit(1 << 7)
    known = parse_ptdump((DATA / "kvm_stage2_v6.11_4k_40bit_written.txt").read_text(), kvm_dialect="v6.11")
    assert known.mappings[1].bit(1 << 54) is True and known.mappings[4].bit(1 << 54) is False
    new = parse_ptdump((DATA / "kvm_stage2_xnx_4k_40bit_written.txt").read_text())
    assert new.dialect == "xnx" and new.granule == 4096
    ram = new.mappings[4]
    assert (ram.start, ram.size, ram.level, ram.bit(1 << 1)) == (GIB, GIB, 1, False)
    assert (ram.desc_bits >> 53) & 3 == 0 and (new.mappings[1].desc_bits >> 53) & 3 == 2
    ro = new.mappings[5]
    assert ro.bit(1 << 6) is True and ro.bit(1 << 7) is False
    assert all(m.memtype is None for m in new.mappings)
    with pytest.raises(ParseError, match="mixes the xnx dialect"):
        parse_ptdump((DATA / "kvm_stage2_xnx_4k_40bit_written.txt").read_text(), kvm_dialect="v6.11")


def test_kvm_debugfs_numbers() -> None:
    """ipa_range and stage2_levels hold one number each."""
    assert parse_kvm_ipa_range("40\n") == 40 and parse_kvm_levels("3\n") == 3
    with pytest.raises(ParseError, match="IPA size 99"):
        parse_kvm_ipa_range("99\n")
    with pytest.raises(ParseError, match="one number"):
        parse_kvm_levels("x\n")


def test_entry_size() -> None:
    """Bytes per entry by granule and level."""
    assert [entry_size(4096, lv) for lv in (-1, 0, 1, 2, 3)] == [256 << 40, 512 * GIB, GIB, 2 * MIB, 4 * KIB]
    assert [entry_size(16384, lv) for lv in (1, 2, 3)] == [64 * GIB, 32 * MIB, 16 * KIB]
    assert [entry_size(65536, lv) for lv in (1, 2, 3)] == [4 << 40, 512 * MIB, 64 * KIB]


# -- round trip through the writers in memattr.mmu.dump ------------------------------------------

_GRAN = {4: Granule.K4, 16: Granule.K16, 64: Granule.K64}


def _build(spec: TableSpec) -> tuple[PhysMem, PageTable]:
    mem = PhysMem(48)
    g = _GRAN[spec.granule_kib]
    geom = Geometry.for_stage1(g, 48) if spec.stage == 1 else Geometry.for_stage2(g, 40)
    pt = PageTable(mem, geom, asid=0) if spec.stage == 1 else PageTable(mem, geom, vmid=1)
    for page, pages, attr, ap, xn, ng, cont in spec.maps:
        ia = page * g.size
        if ia + pages * g.size > geom.ia_size:
            break
        if spec.stage == 1:
            attrs = s1_attrs(attr_index=attr, ap=ap, ng=ng, pxn=bool(xn & 1), uxn=bool(xn & 2))
        else:
            attrs = s2_attrs(memattr=attr, s2ap=ap, xn=xn, af=not ng)
        pt.map(ia, pages * g.size, 0x1_0000_0000 + ia, attrs, contiguous=cont)
    return mem, pt


def _check(dump, mem: PhysMem, pt: PageTable, base: int) -> None:  # type: ignore[no-untyped-def]
    """Every entry the walker visits lies in a parsed range of its level whose known bits match."""
    ms = list(dump.mappings)
    i = 0
    for v in visit(mem, pt.geom, pt.root):
        va = base + v.ia
        while i < len(ms) and ms[i].end <= va:
            i += 1
        if i == len(ms):
            break  # KVM leaves the last range out
        m = ms[i]
        assert m.start <= va < m.end
        if m.level is not None:
            assert m.level == v.level
        if v.raw & 1:
            assert m.valid and (v.raw & m.desc_mask) == m.desc_bits
        else:
            assert not m.valid


@settings(max_examples=40, deadline=None)
@given(table_specs(stage=1))
def test_roundtrip_linux(spec: TableSpec) -> None:
    """linux_ptdump's text parses back to the tables' levels and attribute bits."""
    mem, pt = _build(spec)
    text = linux_ptdump(mem, pt.geom, pt.root, attr_labels=attr_labels("6.9"), ttbr1=True)
    base = (1 << 64) - pt.geom.ia_size
    d = parse_ptdump(text, va_bits=48)
    assert d.format is DumpFormat.LINUX and spec.granule_kib * KIB in d.granules
    _check(d, mem, pt, base)


@settings(max_examples=40, deadline=None)
@given(table_specs(stage=2))
def test_roundtrip_kvm(spec: TableSpec) -> None:
    """kvm_ptdump's three dialects parse back, with the dialect given where the text is ambiguous."""
    mem, pt = _build(spec)
    for dialect in ("v6.11", "x-fixed", "xnx"):
        text = kvm_ptdump(mem, pt.geom, pt.root, dialect=dialect)
        d = parse_ptdump(text, kvm_dialect=dialect)
        assert d.format is DumpFormat.KVM and spec.granule_kib * KIB in d.granules
        _check(d, mem, pt, 0)
        auto = parse_ptdump(text)
        if any(m.valid for m in auto.mappings):
            assert (auto.dialect == "xnx") == (dialect == "xnx")


@settings(max_examples=40, deadline=None)
@given(table_specs())
def test_roundtrip_memattr(spec: TableSpec) -> None:
    """memattr_dump's lines parse back to OA, level and the stated attribute bits."""
    mem, pt = _build(spec)
    # Linux's MAIR_EL1 layout (MT_NORMAL 0xff, MT_NORMAL_TAGGED 0xf0, NC 0x44, nGnRnE, nGnRE).
    text = memattr_dump(mem, pt.geom, pt.root, mair=0x04_00_44_F0_FF if spec.stage == 1 else None)
    d = parse_ptdump(text)
    assert d.format is DumpFormat.MEMATTR and d.stage == spec.stage and d.granule == spec.granule_kib * KIB
    codec = Codec(pt.geom)
    for v in visit(mem, pt.geom, pt.root):
        if not codec.kind(v.level, v.raw).is_leaf:
            continue
        m = next(x for x in d.mappings if x.start <= v.ia < x.end)
        assert m.level == v.level and m.oa is not None
        assert m.oa + (v.ia - m.start) == codec.leaf_oa(v.level, v.raw)
        assert (v.raw & m.desc_mask) == m.desc_bits


@pytest.mark.parametrize(("text", "message"), [
    ("0x0000000000000000-0x0000000000001000           8K PTE\n", r"^f:1: size 8K is not end - start = 0x1000$"),  # noqa: E501
    ("0x0000000000002000-0x0000000000001000           4K PTE\n", r"^f:1: end 0x1000 is not above start"),
    ("0x0000000000001000-0x0000000000002000           4K PMD\n", r"^f:1: range 0x1000-0x2000 at level 2"),
    ("0x0000000000000000-0x0000000000001000           4K PTE RW\n"
     "0x0000000000000000-0x0000000000001000           4K PTE RW\n", r"^f:2: range starts at 0x0, inside"),
    ("0x0000000000000000-0x0000000000001000           4K PTE RW \x1b[2J\n", r"^f:1: attribute word"),
    ("0x0000000000000000-0x0000000000001000           4K PTE RW bogus\n", r"^f:1: 'bogus' is not a kernel_page"),  # noqa: E501
    ("0x0000000000000000-0x0000000000001000           4K PTE RW ro\n", r"^f:1: both ro and RW"),
    ("---[ Guest IPA ]---\n0x0000000000000000-0x0000000000001000           4K 3   R W px\n",
     r"^f:2: execute column 'px'"),
    ("---[ Guest IPA ]---\n0x0000000000000000-0x0000000000001000           4K 9   R W\n", r"^f:2: level 9"),
    ("hello\n", r"^f:1: not a dump line"),
    ("\n", r"^f:1: no page-table range lines"),
])
def test_corrupt(text: str, message: str) -> None:
    """Each inconsistency is one file:line error."""
    with pytest.raises(ParseError, match=message):
        parse_ptdump(text, "f")


def test_granule_hint_checked() -> None:
    """A granule the sizes contradict is an error at the first line that shows it."""
    text = (DATA / "ptdump_arm64_16k_47bit_written.txt").read_text()
    with pytest.raises(ParseError, match=r"^f:5: range .* of a 64K granule"):
        parse_ptdump(text, "f", granule=65536)

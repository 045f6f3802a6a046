"""Page-table differences by range: dumps against dumps, dumps against the model's table."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import memattr.analysis.replay  # noqa: F401 - the Linux model's modules load in order
from memattr.analysis.scenario import bundled_path, load
from memattr.arch.descriptor import Granule
from memattr.errors import ConfigError
from memattr.interop.diff import (
    KINDS,
    S1_FIELDS,
    S2_FIELDS,
    Side,
    diff_sides,
    merge_ranges,
    render_diff,
    side_of_dump,
    stage1_type_byte,
)
from memattr.interop.ptdump import parse_ptdump
from memattr.interop.stage2 import model_side, model_side_for, model_vm
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR
from memattr.linux.asm.memory import mt_names
from memattr.linux.ptdump import attr_labels
from memattr.mmu.dump import kvm_ptdump, linux_ptdump, memattr_dump
from memattr.mmu.pgtable import PageTable, s1_attrs, s2_attrs
from memattr.mmu.physmem import PhysMem
from memattr.mmu.regime import Geometry

LINUX_MT = mt_names("6.9")  # the v5.14+ MT_* indexes

DATA = Path(__file__).resolve().parents[1] / "data"
KIB, MIB, GIB = 1 << 10, 1 << 20, 1 << 30
V611 = DATA / "kvm_stage2_v6.11_4k_40bit_written.txt"
XNX = DATA / "kvm_stage2_xnx_4k_40bit_written.txt"


def _kvm(path: Path, dialect: str | None = None):  # type: ignore[no-untyped-def]
    return parse_ptdump(path.read_text(), path.name, kvm_dialect=dialect)


def test_same_guest_two_dialects() -> None:
    """The v6.11 and FEAT_XNX dumps of one guest agree once the v6.11 dialect is known."""
    d = diff_sides(side_of_dump(_kvm(V611, "v6.11")), side_of_dump(_kvm(XNX)))
    assert d.items == () and not d.found
    # Both print the same ranges: everything but KVM's unprinted last range is compared.
    assert d.compared == ((0, 0x80_4000_0000),)
    assert any(n.startswith("MemAttr (both sides)") for n in d.not_compared)


def test_wrong_dialect_shows_every_executable_range() -> None:
    """Read as the fixed dialect, the v6.11 dump's X means executable: all four mapped ranges
    differ in XN (only XN[1] is known in the older dialects)."""
    d = diff_sides(side_of_dump(_kvm(V611, "x-fixed")), side_of_dump(_kvm(XNX)))
    got = [(it.start, it.end, it.kinds, [(c.field, c.a, c.b) for c in it.changes]) for it in d.items]
    assert got == [
        (0x800_0000, 0x801_0000, ("permissions",), [("execute", "0b0?", "XN")]),
        (0x4000_0000, 0x8000_0000, ("permissions",), [("execute", "0b1?", "X")]),
        (0x8000_0000, 0x8020_0000, ("permissions",), [("execute", "0b1?", "X")]),
        (0x80_0000_0000, 0x80_0001_0000, ("permissions",), [("execute", "0b0?", "XN")]),
    ]
    assert d.items[0].line_a == 3 and d.items[0].line_b == 3
    assert d.counts["permissions"] == 4 and d.counts["missing"] == 0


def test_unknown_dialect_is_not_compared() -> None:
    """Without the dialect the X column is not compared, and the report says so."""
    d = diff_sides(side_of_dump(_kvm(V611)), side_of_dump(_kvm(XNX)))
    assert d.items == ()
    assert any(n.startswith("execute (kvm_stage2_v6.11") for n in d.not_compared)


def _s2_table(maps: list[tuple[int, int, int, int]]) -> str:
    """A memattr stage-2 dump of (ipa, size, pa, memattr) leaves."""
    mem = PhysMem(48)
    pt = PageTable(mem, Geometry.for_stage2(Granule.K4, 40), vmid=1)
    for ipa, size, pa, attr in maps:
        pt.map(ipa, size, pa, s2_attrs(memattr=attr, xn=attr != 0xF))
    return memattr_dump(mem, pt.geom, pt.root)


def test_missing_extra_memtype_leaf_size() -> None:
    """Each kind of difference, on two memattr dumps that state everything."""
    a = parse_ptdump(_s2_table([(GIB, 2 * MIB, 0x1_0000_0000, 0xF), (0x80_0000_0000, 64 * KIB,
                                                                     0x80_0000_0000, 0x1),
                                (0x90_0000_0000, 4 * KIB, 0x90_0000_0000, 0x5)]), "a")
    b = parse_ptdump(_s2_table([(GIB, 2 * MIB, 0x1_0000_0000, 0xF),  # as 4K pages below
                                (0x80_0000_0000, 64 * KIB, 0x80_0000_0000, 0x5),
                                (0xA0_0000_0000, 4 * KIB, 0xA0_0000_0000, 0x5)]), "b")
    assert a.va_bits == 40
    sa, sb = side_of_dump(a), side_of_dump(b)
    assert sa.stated == ((0, 1 << 40),)
    d = diff_sides(sa, sb)
    kinds = [(hex(it.start), it.kinds) for it in d.items]
    assert kinds == [("0x8000000000", ("memtype",)), ("0x9000000000", ("missing",)),
                     ("0xa000000000", ("extra",))]
    mt = d.items[0].changes[0]
    assert (mt.field, mt.a.split()[0], mt.b.split()[0]) == ("MemAttr", "0b0001", "0b0101")
    # Leaf sizes: the same RAM as 2M block vs 4K pages.
    mem = PhysMem(48)
    pt = PageTable(mem, Geometry.for_stage2(Granule.K4, 40), vmid=1)
    pt.map(GIB, 2 * MIB, 0x1_0000_0000, s2_attrs(memattr=0xF), max_leaf=4 * KIB)
    c = parse_ptdump(memattr_dump(mem, pt.geom, pt.root), "c")
    d2 = diff_sides(side_of_dump(a), side_of_dump(c))
    first = d2.items[0]
    assert first.kinds == ("leaf-size",) and (first.start, first.end) == (GIB, GIB + 2 * MIB)
    assert (first.changes[0].a, first.changes[0].b) == ("2M block (level 2)", "4K page (level 3)")
    text = render_diff(d2)
    assert "leaf size: A 2M block (level 2), B 4K page (level 3)" in text
    assert set(d2.counts) == set(KINDS)


def test_stage1_types_compared_through_mair_bytes() -> None:
    """A Linux kernel_page_tables dump and memattr's stage-1 dump of one table: same types (the
    MT_* name stands for the byte proc.S puts there); a changed AttrIndx is a memtype change."""
    mem = PhysMem(48)
    geom = Geometry.for_stage1(Granule.K4, 48)
    pt = PageTable(mem, geom, asid=0)
    pt.map(0x40_0000, 64 * KIB, 0x8000_0000, s1_attrs(attr_index=LINUX_MT["MT_NORMAL"]))
    pt.map(0x80_0000, 4 * KIB, 0x9000_0000, s1_attrs(attr_index=LINUX_MT["MT_DEVICE_nGnRE"],
                                                      pxn=True, uxn=True))
    linux = parse_ptdump(linux_ptdump(mem, geom, pt.root, attr_labels=attr_labels("6.9")), "kpt", va_bits=48)
    ours = parse_ptdump(memattr_dump(mem, geom, pt.root, mair=LINUX_MAIR), "ours")
    assert [stage1_type_byte(m) for m in linux.leaves()] == [0xFF, 0x04]
    d = diff_sides(side_of_dump(linux), side_of_dump(ours))
    assert d.items == ()
    pt.unmap(0x80_0000, 4 * KIB)
    pt.map(0x80_0000, 4 * KIB, 0x9000_0000, s1_attrs(attr_index=LINUX_MT["MT_NORMAL_NC"],
                                                      pxn=True, uxn=True))
    nc = parse_ptdump(memattr_dump(mem, geom, pt.root, mair=LINUX_MAIR), "nc")
    d = diff_sides(side_of_dump(linux), side_of_dump(nc))
    (it,) = d.items
    assert it.kinds == ("memtype",) and [c.field for c in it.changes] == ["memory type"]
    assert it.changes[0].a == "MAIR 0x04 Device-nGnRE" and it.changes[0].b == "MAIR 0x44 Normal-NC"


def test_stages_must_match() -> None:
    """A stage-1 table is not compared with a stage-2 one."""
    kpt = parse_ptdump((DATA / "ptdump_arm64_16k_47bit_written.txt").read_text(), "k")
    with pytest.raises(ConfigError, match="stage-1 table .* stage-2 table"):
        diff_sides(side_of_dump(kpt), side_of_dump(_kvm(XNX)))


def test_model_against_dump_and_policies() -> None:
    """The demo's VM under 6.8 printed as KVM would; the 6.9 model faulted at the pages the dump
    maps agrees on every printed column; 6.8 against 6.9 differs only in the BAR's MemAttr."""
    sc = load(bundled_path("demo"))
    vm68 = model_vm(sc, "6.8", fwb=True)
    s68 = model_side(vm68)
    t = vm68.kvm.pgt.table
    dump = parse_ptdump(kvm_ptdump(vm68.kvm.pgt.mem, t.geom, t.root), "host.txt")
    vm69 = model_vm(sc, "6.9", fwb=True)
    s69, faults = model_side_for(vm69, side_of_dump(dump))
    assert 0 < faults <= 2 * len(dump.leaves()) + 2
    d = diff_sides(s69, side_of_dump(dump))
    assert d.items == () and d.compared
    d2 = diff_sides(s68, model_side(model_vm(sc, "6.9", fwb=True)))
    assert {it.kinds for it in d2.items} == {("memtype",)}
    assert all(c.a.startswith("0b0001") and c.b.startswith("0b0101")
               for it in d2.items for c in it.changes)


def test_model_says_why_nothing_is_mapped() -> None:
    """A dumped range no memslot covers is 'extra', with the model's reason (an MMIO exit)."""
    sc = load(bundled_path("vfio-pci-bar"))
    d = parse_ptdump(V611.read_text(), "v611", kvm_dialect="v6.11")
    side, _ = model_side_for(model_vm(sc, "6.9", fwb=True), side_of_dump(d))
    diff = diff_sides(side, side_of_dump(d))
    extra = [it for it in diff.items if it.kinds == ("extra",)]
    assert extra and all("KVM_EXIT_MMIO" in it.why for it in extra)


def test_budget_bounds_the_faults() -> None:
    """A dump needing more faults than the budget is refused, not modelled for minutes."""
    sc = load(bundled_path("vfio-pci-bar"))
    d = parse_ptdump(V611.read_text(), "v611", kvm_dialect="v6.11")
    with pytest.raises(ConfigError, match="more than 2 faults"):
        model_side_for(model_vm(sc, "6.9", fwb=True), side_of_dump(d), budget=2)


def test_model_is_stage2_only() -> None:
    """The model of a VM is a stage-2 table."""
    kpt = parse_ptdump((DATA / "ptdump_arm64_16k_47bit_written.txt").read_text(), "k")
    with pytest.raises(ConfigError, match="stage-2"):
        model_side_for(model_vm(load(bundled_path("demo")), "6.9", fwb=True), side_of_dump(kpt))


def test_field_tables_are_disjoint() -> None:
    """No two compared fields share a bit (each difference is named once)."""
    for fields in (S1_FIELDS, S2_FIELDS):
        seen = 0
        for f in fields:
            assert f.mask and not seen & f.mask, f.name
            seen |= f.mask


@st.composite
def _tables(draw: st.DrawFn) -> str:
    mem = PhysMem(48)
    pt = PageTable(mem, Geometry.for_stage2(Granule.K4, 40), vmid=1)
    page = draw(st.integers(0, 64))
    for _ in range(draw(st.integers(1, 6))):
        n = draw(st.integers(1, 24))
        pt.map(page * 4096, n * 4096, 0x1_0000_0000 + page * 4096,
               s2_attrs(memattr=draw(st.sampled_from([0x1, 0x5, 0xF])), s2ap=draw(st.integers(1, 3)),
                        xn=draw(st.integers(0, 3))))
        page += n + draw(st.integers(0, 40))
    return memattr_dump(mem, pt.geom, pt.root)


@settings(max_examples=60, deadline=None)
@given(_tables(), _tables())
def test_diff_properties(x: str, y: str) -> None:
    """A side never differs from itself; swapping the sides swaps missing and extra over the
    same ranges; every reported range lies in what both state."""
    a, b = side_of_dump(parse_ptdump(x, "x")), side_of_dump(parse_ptdump(y, "y"))
    assert diff_sides(a, a).items == ()
    ab, ba = diff_sides(a, b), diff_sides(b, a)
    swap = {"missing": "extra", "extra": "missing"}
    assert sorted((i.start, i.end, tuple(swap.get(k, k) for k in i.kinds)) for i in ab.items) == \
        sorted((i.start, i.end, i.kinds) for i in ba.items)
    for it in ab.items:
        assert any(lo <= it.start and it.end <= hi for lo, hi in ab.compared)


def test_merge_ranges() -> None:
    """Overlapping and touching ranges merge; empty ones vanish."""
    assert merge_ranges([(5, 9), (0, 3), (3, 4), (8, 12), (20, 20)]) == ((0, 4), (5, 12))


def test_sides_outside_each_other_are_reported() -> None:
    """What one side maps where the other is silent is counted as not compared."""
    d = parse_ptdump(V611.read_text(), "v611", kvm_dialect="v6.11")
    narrow = Side("narrow", 2, (), ((0, 0x4000_0000),), 4096)
    out = diff_sides(narrow, side_of_dump(d))
    assert any("lie outside what narrow states" in n for n in out.not_compared)

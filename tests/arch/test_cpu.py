"""The CPU is one value: features switch exactly the rules they govern, presets cite sources.

For each feature, the whole table (S1 byte x S2 MemAttr x FWB x CD) is computed with the feature
on and off; only the rows the feature governs may change, and some of them must:

- FEAT_XS: the XS attribute (None without it) and the bytes 0b0000dd01, 0x40, 0xA0, which are
  reserved without it (so the reserved bytes' UNKNOWN allocated set shrinks);
- FEAT_MTE2: the byte 0xF0 (Tagged Normal) and the reserved bytes' allocated set;
- FEAT_MTE_PERM: stage-2 MemAttr 0b0100 without FWB (NoTagAccess) and MemAttr[3] with FWB;
- FEAT_S2FWB: HCR_EL2.FWB itself (RES0 without it: a ConfigError).
"""

from __future__ import annotations

import pytest

from memattr._value import replace
from memattr.arch import batch, combine, mair
from memattr.arch.combine import Controls, resolve
from memattr.arch.cpu import (
    ALL,
    CORTEX_A76,
    NEOVERSE_N1,
    NEOVERSE_V2,
    PRESETS,
    QEMU_9_2_MAX,
    Cpu,
    get_cpu,
)
from memattr.arch.memtype import MemoryAttributes
from memattr.errors import ConfigError

XS_BYTES = {0x01, 0x05, 0x09, 0x0D, 0x40, 0xA0}
ALWAYS_RESERVED = {b for b in range(256) if b not in mair.allocated_bytes(
    ALL.with_(name="none", xs=False, mte2=False, mte_perm=False)) and b not in XS_BYTES | {0xF0}}

Row = tuple[bool, bool, int, int]


def table(cpu: Cpu) -> dict[Row, tuple[frozenset[MemoryAttributes], str | None]]:
    return {(r.fwb, r.hcr_cd, r.s1, r.s2): (frozenset(r.outcomes), r.reserved)
            for r in batch.table_rows(cpu=cpu)}


def changed(on: dict[Row, tuple[frozenset[MemoryAttributes], str | None]],
            off: dict[Row, tuple[frozenset[MemoryAttributes], str | None]],
            same: object = None) -> set[Row]:
    """Rows whose outcomes or note differ (``same`` maps an 'on' outcome to its 'off' form)."""
    out = set()
    for k, (outs, note) in on.items():
        mapped = frozenset(same(a) for a in outs) if callable(same) else outs  # type: ignore[operator]
        if k not in off or off[k] != (mapped, note):
            out.add(k)
    return out


def test_always_reserved_is_the_twenty() -> None:
    """docs/architecture.md#mair-attribute-bytes: 0b0000dd1x (8) and xxxx0000 other than 0x40/0xA0/0xF0
    (12)."""
    assert len(ALWAYS_RESERVED) == 20


def test_feat_xs_governs_xs_and_its_encodings() -> None:
    """Without FEAT_XS: every outcome has no XS (None), the XS bytes become reserved; nothing
    else changes."""
    on_cpu = ALL.with_(name="xs-on")
    off_cpu = ALL.with_(name="xs-off", xs=False)
    on, off = table(on_cpu), table(off_cpu)
    diff = changed(on, off, same=lambda a: replace(a, xs=None))
    governed = {k for k in on if k[2] in XS_BYTES | ALWAYS_RESERVED}
    assert diff <= governed
    assert {k[2] for k in diff} == XS_BYTES | ALWAYS_RESERVED  # each governed byte changes
    assert all(a.xs is None for outs, _ in off.values() for a in outs)
    assert all(off[k][1] and "UNKNOWN allocated" in off[k][1] for k in on if k[2] in XS_BYTES)


def test_feat_mte2_governs_tagged_normal() -> None:
    """Without FEAT_MTE2 (and so without FEAT_MTE_PERM): 0xF0 is reserved, nothing is Tagged,
    and no other row changes."""
    on_cpu = ALL.with_(name="mte2-on", mte_perm=False)
    off_cpu = ALL.with_(name="mte2-off", mte2=False, mte_perm=False)
    on, off = table(on_cpu), table(off_cpu)
    diff = changed(on, off)
    assert {k[2] for k in diff} == {0xF0} | ALWAYS_RESERVED
    assert any(a.tagged for outs, _ in on.values() for a in outs)
    assert not any(a.tagged for outs, _ in off.values() for a in outs)


def test_feat_mte_perm_governs_notagaccess() -> None:
    """Without FEAT_MTE_PERM: S2 MemAttr 0b0100 is CONSTRAINED UNPREDICTABLE again (no FWB),
    MemAttr[3] is RES0 with FWB; no other row changes."""
    on, off = table(ALL), table(ALL.with_(name="perm-off", mte_perm=False))
    diff = changed(on, off)
    governed = {k for k in on if (not k[0] and k[3] == 0b0100) or (k[0] and k[3] & 0b1000)}
    assert diff <= governed
    assert any(not k[0] for k in diff) and any(k[0] for k in diff)
    row = on[(False, False, 0xFF, 0b0100)][0]
    assert len(row) == 1 and next(iter(row)).is_wb
    assert len(off[(False, False, 0xFF, 0b0100)][0]) == 3
    tagged_fwb = on[(True, False, 0xF0, 0b1111)][0]
    assert all(a.notagaccess and a.tagged for a in tagged_fwb)


def test_feat_s2fwb_governs_hcr_fwb() -> None:
    """Without FEAT_S2FWB the FWB rows do not exist and asking for them is a ConfigError; the
    FWB = 0 rows are unchanged."""
    cpu = ALL.with_(name="no-fwb", s2fwb=False)
    on, off = table(ALL), table(cpu)
    assert set(off) == {k for k in on if not k[0]}
    assert not changed({k: v for k, v in on.items() if not k[0]}, off)
    with pytest.raises(ConfigError, match="FEAT_S2FWB"):
        resolve(0x44, 0x5, controls=Controls(fwb=True), cpu=cpu)
    with pytest.raises(ConfigError, match="FEAT_S2FWB"):
        batch.table_rows(fwb=True, cpu=cpu)
    with pytest.raises(ConfigError, match="FEAT_S2FWB"):
        combine.combine(mair.decode(0x44), 0x5, fwb=True, cpu=cpu)


def test_fnxs_needs_feat_xs() -> None:
    """The stage-2 FnXS bit is RES0 without FEAT_XS: a ConfigError, not a silent XS."""
    with pytest.raises(ConfigError, match="FEAT_XS"):
        resolve(0x44, 0x5, fnxs=True, cpu=NEOVERSE_N1)


@pytest.mark.parametrize("cpu", [NEOVERSE_N1, NEOVERSE_V2, CORTEX_A76, QEMU_9_2_MAX],
                         ids=lambda c: c.name)
def test_presets_are_registered_with_sources(cpu: Cpu) -> None:
    """Each preset is looked up by name and cites the register values it comes from."""
    assert PRESETS[cpu.name] is cpu and get_cpu(cpu.name) is cpu
    assert any(k in cpu.source for k in ("MMFR0", "PARANGE"))  # the register values used
    assert ("QEMU" in cpu.source) or ("TRM" in cpu.source)


def test_preset_features_from_their_id_registers() -> None:
    """N1 and A76 (Armv8.2): no FEAT_S2FWB, FEAT_XS or MTE; 48- and 40-bit PA; QEMU 9.2 max
    and Neoverse V2: FEAT_S2FWB and FEAT_MTE2, no FEAT_XS (QEMU added it in 10.0)."""
    assert (NEOVERSE_N1.pa_max, CORTEX_A76.pa_max, QEMU_9_2_MAX.pa_max) == (48, 40, 52)
    for c in (NEOVERSE_N1, CORTEX_A76):
        assert not (c.s2fwb or c.xs or c.mte2 or c.mte_perm or c.lpa or c.lva)
        assert c.ha and c.hd and c.hpds2 and c.lse
    for c in (NEOVERSE_V2, QEMU_9_2_MAX):
        assert c.s2fwb and c.mte2 and not c.xs and not c.mte_perm
    assert QEMU_9_2_MAX.lpa and QEMU_9_2_MAX.lpa2 and QEMU_9_2_MAX.lva


def test_unknown_cpu_lists_the_presets() -> None:
    with pytest.raises(ConfigError, match="neoverse-n1"):
        get_cpu("pentium")


def test_reserved_rows_list_every_allocated_outcome() -> None:
    """memattr table: each reserved byte's row lists the union of the allocated bytes' rows
    (S1ConstrainUnpredictableRESMAIR -> ConstrainUnpredictableBits(Unpredictable_RESMAIR, 8))."""
    rows = table(ALL)
    allocated = mair.allocated_bytes(ALL)
    n = 0
    for (fwb, cd, s1, s2), (outs, note) in rows.items():
        if s1 in allocated:
            continue
        n += 1
        union = frozenset().union(*(rows[(fwb, cd, b, s2)][0] for b in allocated))
        assert outs == union, (fwb, cd, hex(s1), s2)
        assert note is not None and "UNKNOWN allocated" in note
    assert n == 1280

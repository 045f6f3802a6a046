"""The walk against Arm's v9.4 pseudocode, rule by rule: hand-built descriptors at hand-computed
addresses, each test naming the ASL function it checks (rems-project/sail-arm
arm-v9.4-a/src/v8_base.sail), at the three granules, both stages and S1PTW."""

from __future__ import annotations

import pytest

from memattr.arch import registers as R
from memattr.arch.cpu import ALL, Cpu
from memattr.arch.descriptor import (
    DESC_AF,
    Granule,
    s1_leaf,
    s1_table,
    s2_leaf,
    s2_table,
)
from memattr.arch.esr import FaultKind, decode_esr
from memattr.arch.impdef import ImpDef
from memattr.arch.walkparams import WalkRule
from memattr.mmu.physmem import PhysMem
from memattr.mmu.regime import Regime, Stage2Regime
from memattr.mmu.walk import Access, AccessKind, WalkResult, walk

G4, G16, G64 = Granule.K4, Granule.K16, Granule.K64
R_, W_, X_ = AccessKind.READ, AccessKind.WRITE, AccessKind.EXEC
KIB, MIB, GIB, TIB = 1 << 10, 1 << 20, 1 << 30, 1 << 40
MAIR = 0x04FF  # Attr0 Normal WB, Attr1 Device-nGnRE
NO_LPA = ALL.with_(name="pa48", pa_max=48, lpa=False, lpa2=False)
HCR_VM = R.HCR_EL2.encode(VM=1, RW=1)


def tcr(granule: Granule, va_bits: int, ips_bits: int = 48, **flags: int) -> int:
    """TCR_EL1 for a TTBR0 walk (TTBR1 disabled with EPD1)."""
    return R.TCR_EL1.encode(T0SZ=64 - va_bits, TG0=R.tg0_encoding(granule),
                            TG1=R.tg1_encoding(granule), T1SZ=64 - va_bits, EPD1=1,
                            IPS=R.ps_encoding(ips_bits), SH0=3, IRGN0=1, ORGN0=1, **flags)


def vtcr(granule: Granule, ipa_bits: int, sl0: int, ps_bits: int = 48, **flags: int) -> int:
    """VTCR_EL2 (RES1 bit 31 set by the table)."""
    return R.VTCR_EL2.encode(T0SZ=64 - ipa_bits, SL0=sl0, TG0=R.tg0_encoding(granule),
                             PS=R.ps_encoding(ps_bits), SH0=3, IRGN0=1, ORGN0=1, **flags)


def s1_regime(t: int, ttbr0: int, cpu: Cpu = ALL, **kw: int) -> Regime:
    return Regime.from_registers(tcr=t, mair=MAIR, ttbr0=ttbr0, hcr=0, cpu=cpu, **kw)


def go(mem: PhysMem, reg: Regime, va: int, kind: AccessKind = R_, el: int = 1) -> WalkResult:
    return walk(mem, reg, Access(va, kind, el))


def s1_esr(fsc: int) -> int:
    """ESR_EL1 of a stage-1 data read abort at EL1: EC 0x25, IL."""
    return 0x9600_0000 | fsc


def s2_esr(fsc: int, *, s1ptw: bool = False, wnr: bool = False) -> int:
    """ESR_EL2 of a stage-2 data abort from EL1: EC 0x24, IL."""
    return 0x9200_0000 | fsc | (int(s1ptw) << 7) | (int(wnr) << 6)


# --- AArch64.BlockDescSupported, AArch64.LeafBase: PAMax, not PS ------------------------------


def _64k_l1_block(cpu: Cpu, ips: int, oa: int) -> tuple[PhysMem, Regime, int]:
    """Stage 1, 64KB, 48-bit VA (start level 1, VA[47:42] indexes 64 entries); VA 0x400_0000_1234
    is L1 index 1, a 4 TiB block at ``oa``."""
    mem = PhysMem(cpu=cpu)
    root = 0x10_0000
    raw = s1_leaf(oa, 0, granule=G64, level=1, pa_bits=52).encode()
    mem.write64(root + 8 * 1, raw)
    return mem, s1_regime(tcr(G64, 48, ips), root, cpu), 0x400_0000_1234


def test_block_desc_supported_64k_level1_follows_pamax_not_ips() -> None:
    """AArch64.BlockDescSupported: a 64KB level-1 block exists when PAMax >= 52, whatever
    TCR_EL1.IPS says (48 here); with PAMax 48 the same descriptor is a Translation fault."""
    mem, reg, va = _64k_l1_block(ALL, 48, 4 * TIB)
    r = go(mem, reg, va)
    assert r.ok and r.pa == 4 * TIB + 0x1234
    assert r.translation.s1_level == 1 and r.translation.size == 4 * TIB  # type: ignore[union-attr]
    mem2, reg2, _ = _64k_l1_block(NO_LPA, 48, 4 * TIB)
    f = go(mem2, reg2, va).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.TRANSLATION, 1, 1)
    assert f.rule == "AArch64.DecodeDescriptorType" and f.esr == s1_esr(0b000101)


def test_leaf_base_64k_oa_51_48_is_output_address_with_lpa() -> None:
    """AArch64.LeafBase: with FEAT_LPA bits[15:12] of a 64KB leaf are OA[51:48]; the output
    beyond TCR_EL1.IPS is then an Address size fault (AArch64.OAOutOfRange), inside a 52-bit
    IPS it translates."""
    oa = (1 << 48) | 4 * TIB
    mem, reg, va = _64k_l1_block(ALL, 48, oa)
    assert (mem.read64(0x10_0008) >> 12) & 0xF == 1  # OA[51:48] = 1 in bits[15:12]
    f = go(mem, reg, va).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.ADDRESS_SIZE, 1)
    assert f.esr == s1_esr(0b000001)
    mem52, reg52, _ = _64k_l1_block(ALL, 52, oa)
    r = go(mem52, reg52, va)
    assert r.ok and r.pa == oa + 0x1234


def test_leaf_base_without_lpa_ignores_bits_15_12() -> None:
    """AArch64.LeafBase without FEAT_LPA (PAMax 48): bits[15:12] are not address bits; a
    64KB level-2 block (512 MiB, VA[41:29]) with them set translates below 2**48."""
    mem = PhysMem(cpu=NO_LPA)
    root, l2 = 0x10_0000, 0x20_0000
    mem.write64(root + 8 * 0, s1_table(l2, granule=G64, level=1).encode())
    mem.write64(l2 + 8 * 3, s1_leaf(0x6000_0000, 0, granule=G64, level=2).encode() | 0xF000)
    reg = s1_regime(tcr(G64, 48, 48), root, NO_LPA)
    r = go(mem, reg, 3 * 512 * MIB + 0x10)
    assert r.ok and r.pa == 0x6000_0010
    mem.write64(l2 + 8 * 3, s1_leaf(0x6000_0000, 0, granule=G64, level=2).encode() | 0x1000)
    reg52 = s1_regime(tcr(G64, 48, 52), root, ALL)
    r52 = go(mem, reg52, 3 * 512 * MIB + 0x10)
    assert r52.ok and r52.pa == (1 << 48) | 0x6000_0010  # with FEAT_LPA: OA[48] from bit 12


def test_stage2_and_s1ptw_64k_level1_block() -> None:
    """AArch64.BlockDescSupported at stage 2: VTCR_EL2 64KB, 48-bit IPA, SL0=0b10 (level 1),
    PS 48; a 4 TiB level-1 block maps IPA 0 -> PA 0 and the guest's stage-1 tables in it are
    reached through it (S1PTW)."""
    mem = PhysMem(cpu=ALL)
    s2root = 0x80_0000
    mem.write64(s2root, s2_leaf(0, 0xF, granule=G64, level=1, pa_bits=52).encode())
    s1root, l3 = 0x10_0000, 0x20_0000
    mem.write64(s1root + 8 * 0, s1_table(l3, granule=G64, level=2).encode())
    mem.write64(l3 + 8 * 5, s1_leaf(0x3000_0000, 0, granule=G64, level=3).encode())
    reg = Regime.from_registers(tcr=tcr(G64, 42, 48), mair=MAIR, ttbr0=s1root,
                                vtcr=vtcr(G64, 48, 0b10), vttbr=s2root)
    r = go(mem, reg, 5 * 64 * KIB + 0x44)
    assert r.ok and r.pa == 0x3000_0044
    assert [(s.stage, s.level, s.s1ptw) for s in r.steps] == [
        (2, 1, True), (1, 2, False), (2, 1, True), (1, 3, False), (2, 1, False)]
    bad = Regime.from_registers(tcr=tcr(G64, 42, 48), mair=MAIR, ttbr0=s1root,
                                vtcr=vtcr(G64, 48, 0b10), vttbr=s2root, cpu=NO_LPA)
    f = go(mem, bad, 5 * 64 * KIB + 0x44).fault
    assert f is not None and f.s1ptw and (f.kind, f.level) == (FaultKind.TRANSLATION, 1)


# --- AArch64.S1Walk / AArch64.S2Walk: the base Address size fault is at level 0 ---------------


@pytest.mark.parametrize(("granule", "va_bits", "start"), [(G4, 48, 0), (G16, 47, 1),
                                                           (G64, 42, 2)])
def test_s1walk_base_address_size_fault_is_level_0(granule: Granule, va_bits: int,
                                                   start: int) -> None:
    """AArch64.S1Walk: TTBR0_EL1 beyond TCR_EL1.IPS (40 bits) is an Address size fault at
    level 0 (DFSC 0b000000), whatever the start level."""
    mem = PhysMem(cpu=ALL)
    reg = s1_regime(tcr(granule, va_bits, 40), 1 << 44)
    assert reg.s1.halves[0].geometry.start_level == start  # type: ignore[union-attr]
    f = go(mem, reg, 0x1000).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.ADDRESS_SIZE, 1, 0)
    assert f.esr == s1_esr(0) and f.rule == "AArch64.S1Walk" and f.s1ptw is False
    assert f.decision is not None and (f.decision.rule, f.decision.branch, f.decision.result) \
        == (WalkRule.S1Walk, "base_address_size", FaultKind.ADDRESS_SIZE)


@pytest.mark.parametrize(("granule", "ipa_bits", "sl0", "start"),
                         [(G4, 40, 1, 1), (G16, 40, 1, 2), (G64, 42, 1, 2)])
def test_s2walk_base_address_size_fault_is_level_0(granule: Granule, ipa_bits: int, sl0: int,
                                                   start: int) -> None:
    """AArch64.S2Walk: VTTBR_EL2 beyond VTCR_EL2.PS (40 bits) is an Address size fault at
    level 0, with HPFAR_EL2 (ASL IPAValid)."""
    mem = PhysMem(cpu=ALL)
    reg = Regime.from_registers(tcr=0, mair=0, sctlr=0, vtcr=vtcr(granule, ipa_bits, sl0, 40),
                                vttbr=1 << 44)
    assert reg.s2.geometry.start_level == start  # type: ignore[union-attr]
    f = go(mem, reg, 0x1234_5000).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.ADDRESS_SIZE, 2, 0)
    assert f.esr == s2_esr(0) and f.hpfar == (0x1234_5000 >> 12) << 4


def test_s1ptw_base_address_size_fault_is_level_0() -> None:
    """AArch64.S2Walk for a stage-1 table read (S1PTW): a VTTBR_EL2 base beyond PS faults at
    level 0 with S1PTW=1, WnR=0 and HPFAR_EL2 = the table's IPA."""
    mem = PhysMem(cpu=ALL)
    reg = Regime.from_registers(tcr=tcr(G4, 48), mair=MAIR, ttbr0=0x4000_0000,
                                vtcr=vtcr(G4, 40, 1, 40), vttbr=1 << 44)
    f = go(mem, reg, 0x1000, W_).fault
    assert f is not None and f.s1ptw and (f.kind, f.stage, f.level) == (
        FaultKind.ADDRESS_SIZE, 2, 0)
    assert f.esr == s2_esr(0, s1ptw=True) and f.hpfar == (0x4000_0000 >> 12) << 4


# --- AArch64.S2Translate: VTCR_EL2 only with stage 2 on; its faults are values ----------------


def test_vtcr_is_not_interpreted_with_stage2_off() -> None:
    """AArch64.S2Translate reads VTCR_EL2 only when HCR_EL2.VM or DC is set: a VTCR_EL2 that
    cannot be walked (T0SZ=0, the reset-like 0x80000000) with VM=0 lets stage 1 alone walk;
    with VM=1 every access is a level-0 Translation fault (AArch64.S2TxSZFaults)."""
    mem = PhysMem(cpu=ALL)
    root = 0x10_0000
    mem.write64(root, s1_table(0x11_0000, level=0).encode())
    mem.write64(0x11_0000, s1_table(0x12_0000, level=1).encode())
    mem.write64(0x12_0000, s1_table(0x13_0000, level=2).encode())
    mem.write64(0x13_0000, s1_leaf(0x9000_0000, 0).encode())
    reset = 0x8000_0000
    off = Regime.from_registers(tcr=tcr(G4, 48), mair=MAIR, ttbr0=root, hcr=0, vtcr=reset)
    assert off.s2 is not None and off.s2.fault is not None and not off.s2_enabled
    r = go(mem, off, 0x18)
    assert r.ok and r.pa == 0x9000_0018
    on = Regime.from_registers(tcr=tcr(G4, 48), mair=MAIR, ttbr0=root, hcr=HCR_VM, vtcr=reset)
    f = go(mem, on, 0x18).fault
    assert f is not None and f.s1ptw and (f.kind, f.level) == (FaultKind.TRANSLATION, 0)
    assert f.rule == "AArch64.S2TxSZFaults" and f.esr == s2_esr(0b000100, s1ptw=True)


@pytest.mark.parametrize(("granule", "ipa_bits", "sl0"), [
    (G4, 40, 0),  # level 2 resolves at most 21 + 9 + 4 = 34 bits
    (G16, 36, 2),  # level 1 needs 36 + 1 = 37 bits at least
    (G64, 46, 1),  # level 2 resolves at most 29 + 13 + 4 = 46: 47 bits too many
])
def test_s2_inconsistent_sl_is_a_level_0_translation_fault(granule: Granule, ipa_bits: int,
                                                          sl0: int) -> None:
    """AArch64.S2InconsistentSL: VTCR_EL2.SL0 whose start level cannot resolve the T0SZ IPA
    size is a stage-2 Translation fault at level 0 returned as a value (no exception)."""
    bits = ipa_bits + 1 if granule is G64 else ipa_bits
    s2 = Stage2Regime(vtcr(granule, bits, sl0))
    assert s2.geometry is None and s2.params.rule is WalkRule.S2InconsistentSL
    reg = Regime(Regime.from_registers(tcr=0, mair=0, sctlr=0, hcr=0).s1, s2, HCR_VM)
    f = go(PhysMem(), reg, 0x2000).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.TRANSLATION, 2, 0)
    assert f.rule == "AArch64.S2InconsistentSL" and "SL0" in f.reason
    assert f.decision is not None and f.decision.rule is WalkRule.S2InconsistentSL
    assert (f.decision.branch, f.decision.result) == ("registers", FaultKind.TRANSLATION)
    assert f.decision.input("stage") == 2 and f.decision.input("address") == 0x2000


@pytest.mark.parametrize(("granule", "ipa_bits", "sl0", "cpu", "why"), [
    (G64, 42, 0b11, ALL, "reserved"),
    (G4, 40, 0b10, NO_LPA.with_(pa_max=40), "PAMax >= 44"),
    (G16, 48, 0b11, ALL, "DS=1"),
])
def test_s2_invalid_sl(granule: Granule, ipa_bits: int, sl0: int, cpu: Cpu, why: str) -> None:
    """AArch64.S2InvalidSL: SL0 reserved for the granule, level 0 needing PAMax >= 44 (4KB),
    16KB SL0=0b11 needing DS=1."""
    s2 = Stage2Regime(vtcr(granule, ipa_bits, sl0, 40), cpu=cpu)
    assert s2.params.rule is WalkRule.S2InvalidSL and why in (s2.fault or "")
    reg = Regime.from_registers(tcr=0, mair=0, sctlr=0, vtcr=s2.vtcr, cpu=cpu)
    f = go(PhysMem(cpu=cpu), reg, 0).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.TRANSLATION, 0)


def test_s2_min_txsz_follows_pamax() -> None:
    """AArch64.S2MinTxSZ: the largest IPA is PAMax (40 bits here): T0SZ=16 is below the
    minimum 24 -- a fault by default (AArch64.S2TxSZFaults, IMPLEMENTATION DEFINED without
    FEAT_LPA), or clamped to 40 bits when the PE does not fault."""
    cpu = NO_LPA.with_(pa_max=40)
    v = vtcr(G4, 48, 0b01, 40)  # SL0=0b01: level 1
    f = go(PhysMem(cpu=cpu), Regime.from_registers(tcr=0, mair=0, sctlr=0, vtcr=v, cpu=cpu),
           0x1000).fault
    assert f is not None and f.rule == "AArch64.S2TxSZFaults" and f.level == 0
    clamp = ImpDef(fault_on_txsz_below_minimum=False)
    s2 = Stage2Regime(v, cpu=cpu, imp=clamp)
    assert s2.params.txsz == 24 and s2.params.notes  # clamped: a 40-bit IPA from level 1
    assert s2.geometry is not None and (s2.geometry.ia_bits, s2.geometry.concat) == (40, 2)
    # Level 0 (SL0=0b10) needs PAMax >= 44 (AArch64.S2InvalidSL): not with this PE.
    assert Stage2Regime(vtcr(G4, 48, 0b10, 40), cpu=cpu, imp=clamp).params.rule is \
        WalkRule.S2InvalidSL


def test_s1_txsz_faults_and_lva() -> None:
    """AArch64.S1TxSZFaults: T0SZ below AArch64.S1MinTxSZ is a level-0 Translation fault
    (required with FEAT_LVA); a 52-bit VA with 64KB needs FEAT_LVA (minimum 12, else 16)."""
    t = tcr(G64, 52, 52)
    with_lva = s1_regime(t, 0x10_0000, ALL)
    assert with_lva.s1.halves[0].geometry is not None
    no_lva = s1_regime(t, 0x10_0000, ALL.with_(lva=False))
    f = go(PhysMem(), no_lva, 0x1000).fault
    assert f is not None and (f.kind, f.level, f.rule) == (FaultKind.TRANSLATION, 0,
                                                           "AArch64.S1TxSZFaults")
    assert "T0SZ=0xc" in f.reason


def test_reserved_tg0_uses_the_implementation_defined_granule() -> None:
    """AArch64.S1DecodeTG0: TG0=0b11 is reserved; the walk uses the IMPLEMENTATION DEFINED
    granule (4KB by default, memattr.arch.impdef) and says so."""
    t = R.TCR_EL1.set(tcr(G16, 47), "TG0", 0b11)
    half = s1_regime(t, 0x10_0000).s1.halves[0]
    assert half.params.granule is G4 and "TG0=0x3" in half.params.notes[0]


def test_ds_counts_only_with_lpa2() -> None:
    """AArch64.GetS1TTWParams: TCR_EL1.DS is used only with FEAT_LPA2 (and 4KB/16KB): a 52-bit
    VA with 4KB walks from level -1 with it, and is a T0SZ fault without it."""
    t = tcr(G4, 52, 52, DS=1)
    assert s1_regime(t, 0x10_0000, ALL).s1.halves[0].params.start_level == -1
    f = go(PhysMem(), s1_regime(t, 0x10_0000, ALL.with_(lpa2=False, lpa=True)), 0).fault
    assert f is not None and f.rule == "AArch64.S1TxSZFaults"


def test_ps_reserved_encoding_is_capped() -> None:
    """AArch64.PhysicalAddressSize decodes PS 0b111 as 56 bits and caps it (48 for 4KB without
    DS): VTCR_EL2.PS=0b111 walks, it is not an error."""
    v = R.VTCR_EL2.set(vtcr(G4, 40, 1), "PS", 0b111)
    s2 = Stage2Regime(v)
    assert s2.fault is None and s2.geometry is not None and s2.geometry.oa_bits == 48


def test_physical_address_size_is_capped_by_pamax() -> None:
    """AArch64.PhysicalAddressSize: VTCR_EL2.PS = 52 bits with a 48-bit PAMax gives a 48-bit
    output size: a 64KB leaf with OA[48] set is an Address size fault."""
    cpu = ALL.with_(pa_max=48, lpa=True, lpa2=False)
    mem = PhysMem(cpu=cpu)
    s2root = 0x80_0000
    mem.write64(s2root + 8 * 0, s2_table(0x81_0000, granule=G64, level=2).encode())
    leaf = s2_leaf(0, 0xF, granule=G64, level=3).encode() | (1 << 12)  # OA[48]
    mem.write64(0x81_0000, leaf)
    reg = Regime.from_registers(tcr=0, mair=0, sctlr=0, vtcr=vtcr(G64, 42, 1, 52),
                                vttbr=s2root, cpu=cpu)
    assert reg.s2.geometry.oa_bits == 48  # type: ignore[union-attr]
    f = go(mem, reg, 0x10).fault
    assert f is not None and (f.kind, f.stage, f.level) == (FaultKind.ADDRESS_SIZE, 2, 3)


# --- FEAT_HAFDBS: hardware Access flag and dirty state ----------------------------------------


def _s1_page(cpu: Cpu, **tcr_flags: int) -> tuple[PhysMem, Regime, int]:
    mem = PhysMem(cpu=cpu)
    root = 0x10_0000
    mem.write64(root, s1_table(0x11_0000, level=0).encode())
    mem.write64(0x11_0000, s1_table(0x12_0000, level=1).encode())
    mem.write64(0x12_0000, s1_table(0x13_0000, level=2).encode())
    return mem, s1_regime(tcr(G4, 48, 48, **tcr_flags), root, cpu), 0x13_0000


def test_hardware_access_flag_update() -> None:
    """AArch64.S1Walk / AArch64.S1Translate: AF=0 is an Access flag fault unless TCR_EL1.HA
    (FEAT_HAFDBS), where the walk succeeds and sets AF in the descriptor (MemSwapTableDesc)."""
    mem, reg, l3 = _s1_page(ALL, HA=1)
    mem.write64(l3, s1_leaf(0x9000_0000, 0, af=False).encode())
    r = go(mem, reg, 0x10)
    assert r.ok and mem.read64(l3) & DESC_AF
    assert len(r.updates) == 1 and r.updates[0].stage == 1 and "AF" in r.updates[0].what
    mem.write64(l3, s1_leaf(0x9000_0000, 0, af=False).encode())
    f = go(mem, s1_regime(reg.s1.tcr, reg.s1.ttbr0, ALL.with_(ha=False, hd=False)), 0x10).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.ACCESS_FLAG, 3)


def test_hardware_dirty_state() -> None:
    """AArch64.S1ApplyOutputPerms with HA+HD: DBM=1 makes a read-only (AP[2]=1) page writable;
    a write clears AP[2] (the dirty state); a read leaves it."""
    mem, reg, l3 = _s1_page(ALL, HA=1, HD=1)
    desc = s1_leaf(0x9000_0000, 0, ap=0b10, dbm=True).encode()
    mem.write64(l3, desc)
    assert go(mem, reg, 0x10).ok and mem.read64(l3) == desc
    r = go(mem, reg, 0x10, W_)
    assert r.ok and mem.read64(l3) == desc & ~(1 << 7)
    mem.write64(l3, desc)
    no_hd = s1_regime(reg.s1.tcr, reg.s1.ttbr0, ALL.with_(hd=False))
    f = go(mem, no_hd, 0x10, W_).fault
    assert f is not None and f.kind is FaultKind.PERMISSION


def test_af_update_through_read_only_stage2_is_an_s1ptw_write_fault() -> None:
    """AArch64.S1Translate writes the updated stage-1 descriptor through stage 2: a table page
    stage 2 maps read-only gives a stage-2 Permission fault with S1PTW=1 and WnR=1."""
    mem = PhysMem(cpu=ALL)
    s2root = 0x80_0000  # 4KB, 40-bit IPA, level 1 (2 concatenated tables)
    mem.write64(s2root, s2_leaf(0, 0xF, 0b01, level=1).encode())  # IPA 0..1G read-only
    root = 0x10_0000
    mem.write64(root, s1_table(0x11_0000, level=0).encode())
    mem.write64(0x11_0000, s1_table(0x12_0000, level=1).encode())
    mem.write64(0x12_0000, s1_table(0x13_0000, level=2).encode())
    mem.write64(0x13_0000, s1_leaf(0x3000_0000, 0, af=False).encode())
    reg = Regime.from_registers(tcr=tcr(G4, 48, 48, HA=1), mair=MAIR, ttbr0=root,
                                vtcr=vtcr(G4, 40, 1), vttbr=s2root)
    f = go(mem, reg, 0x10).fault
    assert f is not None and f.s1ptw and (f.kind, f.stage, f.level) == (
        FaultKind.PERMISSION, 2, 1)
    assert decode_esr(f.esr).wnr and f.esr == s2_esr(0b001101, s1ptw=True, wnr=True)
    assert f.hpfar == (0x13_0000 >> 12) << 4  # IPAValid: a Permission fault on the walk


def test_hpfar_invalid_for_stage2_permission_fault_on_the_access() -> None:
    """ASL IPAValid: a stage-2 Permission fault on the access itself (not on the walk) has no
    valid HPFAR_EL2 (KVM's __get_fault_info uses AT then)."""
    mem = PhysMem(cpu=ALL)
    s2root = 0x80_0000
    mem.write64(s2root, s2_leaf(0, 0xF, 0b01, level=1).encode())
    reg = Regime.from_registers(tcr=0, mair=0, sctlr=0, vtcr=vtcr(G4, 40, 1), vttbr=s2root)
    f = go(mem, reg, 0x1000, W_).fault
    assert f is not None and (f.kind, f.stage) == (FaultKind.PERMISSION, 2) and f.hpfar is None


def test_external_abort_beyond_the_memory() -> None:
    """A table beyond the simulated memory (40 bits here, PAMax 52): a synchronous External
    abort on the table walk (DFSC 0b0101LL), not an error."""
    mem = PhysMem(40)
    root = 0x10_0000
    mem.write64(root, s1_table(1 << 44, level=0).encode())
    f = go(mem, s1_regime(tcr(G4, 48, 48), root), 0x10).fault
    assert f is not None and (f.kind, f.level) == (FaultKind.SYNC_EXTERNAL_ON_WALK, 1)
    assert f.esr == s1_esr(0b010101)


def test_fnxs_needs_feat_xs() -> None:
    """Stage-2 FnXS (bit 11) forces XS=0 only with FEAT_XS; without it the bit is RES0 and
    ignored (AArch64.S2ApplyOutputPerms / S2DecodeMemAttrs under the PE's features)."""
    mem = PhysMem(cpu=ALL)
    s2root = 0x80_0000
    mem.write64(s2root, s2_leaf(0, 0x1, level=1, fnxs=True).encode())  # Device-nGnRE
    # Without FEAT_XS there is no XS attribute at all (None), so FnXS cannot force it to 0.
    for cpu, xs in ((ALL, False), (ALL.with_(xs=False), None)):
        reg = Regime.from_registers(tcr=0, mair=0, sctlr=0, hcr=HCR_VM | R.HCR_EL2.encode(DC=0),
                                    vtcr=vtcr(G4, 40, 1), vttbr=s2root, cpu=cpu)
        t = go(mem, reg, 0x1000).translation
        assert t is not None and t.attrs is not None and t.attrs.xs is xs


@pytest.mark.parametrize(("rgn", "cache"), [
    (0b00, "NC"), (0b01, "WB"), (0b10, "WT"), (0b11, "WB")])
def test_walk_mair_attr(rgn: int, cache: str) -> None:
    """ASL WalkMemAttrs: IRGN/ORGN give Normal memory of the cacheability TCR_ELx names, Inner
    from IRGN and Outer from ORGN, with the allocation hints 0b01 WB RA WA, 0b10 WT RA nWA,
    0b11 WB RA nWA (Arm ARM D24.2 TCR_EL1.IRGN0)."""
    from memattr.arch.mair import decode_attr
    from memattr.arch.walkparams import walk_mair_attr

    for other in range(4):
        a = decode_attr(walk_mair_attr(rgn, other)).attrs
        b = decode_attr(walk_mair_attr(other, rgn)).attrs
        assert a is not None and b is not None and a.inner is not None and b.outer is not None
        assert a.inner.cacheability.name == cache and b.outer.cacheability.name == cache
        if cache != "NC":
            assert a.inner.read_allocate and a.inner.write_allocate == (rgn == 0b01)
            assert not a.inner.transient


@pytest.mark.parametrize("wxn", [False, True])
@pytest.mark.parametrize("el", [0, 1])
def test_walk_permission_bits_are_s1_perm_table(el: int, wxn: bool) -> None:
    """The walker's lazily filled stage-1 permission bits equal s1_perm_table, entry by entry
    (every packed AP, UXN, PXN, APTable, UXNTable, PXNTable), and refuse indexes beyond it."""
    from memattr.mmu.walk import _S1PermBits, s1_perm_table

    table = [p.bits for p in s1_perm_table(el, wxn)]
    lazy = _S1PermBits(el, wxn)
    assert [lazy[i] for i in range(len(table))] == table
    for bad in (-1, len(table)):
        with pytest.raises(KeyError):
            lazy[bad]  # noqa: B018

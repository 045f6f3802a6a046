"""AT S1E1R/W, S1E0R/W, S12E1R/W, S12E0R/W (ASL AArch64.AT) and the PAR_EL1 they write
(ASL AArch64.EncodePAR): by hand, and against the walker on random tables."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from tests.mmu.helpers import RAM_IPA, RAM_PA, Setup
from tests.mmu.strategies import Scenario, scenarios

from memattr.arch.esr import FaultKind, decode_esr
from memattr.arch.memtype import DeviceType
from memattr.arch.par import decode_par, encode_par_attrs, par_encode_shareability
from memattr.errors import ConfigError
from memattr.mmu.at import AT_OPS, ATOp, at
from memattr.mmu.pgtable import s1_attrs, s2_attrs
from memattr.mmu.regime import HCR_DEFAULT, SCTLR_DEFAULT
from memattr.mmu.walk import Access, AccessKind, walk

KIB, MIB = 1 << 10, 1 << 20


def _setup() -> Setup:
    s = Setup(ram_leaf=4096)
    assert s.s1 is not None and s.s2 is not None
    s.s1.map(0x40_0000, 4 * KIB, RAM_IPA + 2 * MIB, s1_attrs(attr_index=0, ap=0b10))  # EL1 RO
    s.s1.map(0x41_0000, 4 * KIB, RAM_IPA + 3 * MIB, s1_attrs(attr_index=0, ap=0b01))  # EL0 RW
    s.s2.map(0x80_0000_0000, 64 * KIB, 0x80_0000_0000, s2_attrs(memattr=0x1, xn=True))
    s.s1.map(0x80_0000, 64 * KIB, 0x80_0000_0000, s1_attrs(attr_index=2))  # MT_NORMAL_NC
    return s


def test_s12e1r_gives_the_pa_and_s1e1r_the_ipa() -> None:
    """AT S12E1R reports the PA and the combined attributes; AT S1E1R the IPA and stage 1's
    (ASL AArch64.AT: TranslationStage_12 vs TranslationStage_1)."""
    s = _setup()
    reg = s.regime()
    r12 = at(s.mem, reg, ATOp.S12E1R, 0x40_0123)
    p = r12.decoded
    assert p is not None and not p.f and p.pa == RAM_PA + 2 * MIB and p.attr == 0xFF
    assert r12.par == 0xFF00_0001_0020_0B80  # ATTR WB, PA, bit 11, NS, SH ISH (0b11 << 7)
    r1 = at(s.mem, reg, "AT S1E1R", 0x40_0123)
    assert r1.decoded is not None and r1.decoded.pa == RAM_IPA + 2 * MIB


def test_permission_faults_for_each_el_and_direction() -> None:
    """AT S1E1W of an EL1 read-only page and AT S1E0R of an EL1-only page fault at stage 1
    (F=1, FST = the permission DFSC, S=0, PTW=0); AT S1E0W of an EL0 RW page succeeds."""
    s = _setup()
    reg = s.regime()
    w = at(s.mem, reg, ATOp.S1E1W, 0x40_0000).decoded
    assert w is not None and w.f and w.stage == 1 and not w.ptw
    assert w.fst is not None and (w.fst.kind, w.fst.level) == (FaultKind.PERMISSION, 3)
    e0 = at(s.mem, reg, ATOp.S1E0R, 0x40_0000).decoded
    assert e0 is not None and e0.f and e0.fst.kind is FaultKind.PERMISSION  # type: ignore[union-attr]
    ok = at(s.mem, reg, ATOp.S12E0W, 0x41_0010).decoded
    assert ok is not None and not ok.f and ok.pa == RAM_PA + 3 * MIB


def test_at_takes_no_alignment_fault() -> None:
    """ASL AArch64.AT translates with aligned = TRUE: the guest's Normal-NC over stage-2 Device
    BAR gives Device-nGnRE in PAR_EL1 (ATTR 0x04, SH OSH) where an unaligned write faults."""
    s = _setup()
    reg = s.regime(sctlr=SCTLR_DEFAULT | 2)  # SCTLR_EL1.A too
    assert walk(s.mem, reg, Access(0x80_0004, AccessKind.WRITE)).fault is not None
    p = at(s.mem, reg, ATOp.S12E1W, 0x80_0004).decoded
    assert p is not None and not p.f and p.attr == 0x04 and p.sh == 0b10
    assert p.attrs is not None and p.attrs.attrs is not None
    assert p.attrs.attrs.device is DeviceType.nGnRE


def test_stage2_fault_on_the_walk_from_el2_and_from_el1() -> None:
    """A stage-2 fault on the stage-1 table walk: from EL2, PAR_EL1 has F=1, PTW=1, S=1; from
    EL1, AT S1E1R takes the stage-2 abort to EL2 instead (ESR_EL2 S1PTW=1, CM=1, WnR=1) and
    PAR_EL1 is UNKNOWN (ASL AArch64.AT)."""
    s = _setup()
    assert s.s1 is not None and s.s2 is not None
    s.s2.protect(s.s1.root, 4 * KIB, s2_attrs(memattr=0xF, s2ap=0b10))  # S1 root not readable
    reg = s.regime()
    r = at(s.mem, reg, ATOp.S1E1R, 0x40_0000)
    p = r.decoded
    assert p is not None and p.f and p.ptw and p.stage == 2
    assert p.fst is not None and p.fst.kind is FaultKind.PERMISSION
    el1 = at(s.mem, reg, ATOp.S1E1R, 0x40_0000, from_el=1)
    assert el1.par is None and el1.abort is not None and el1.abort.s1ptw
    syn = decode_esr(el1.abort.esr)
    assert syn.cm and syn.wnr and syn.s1ptw and el1.abort.target_el == 2
    with pytest.raises(ConfigError, match="UNDEFINED at EL1"):
        at(s.mem, reg, ATOp.S12E1R, 0x40_0000, from_el=1)


def test_at_sets_the_access_flag_but_not_the_dirty_state() -> None:
    """AArch64.S1Translate: with TCR_EL1.HA an AT sets AF; AT S1E1W never sets the dirty state
    (the update is for accesses other than AT, IC and DC)."""
    from memattr.arch import registers as R
    from memattr.arch.descriptor import DESC_AF, S1_AP2

    s = Setup(s2=None)
    assert s.s1 is not None
    s.s1.map(0x10_0000, 4 * KIB, 0x9000_0000,
             s1_attrs(attr_index=0, ap=0b10, af=False, dbm=True))
    tcr = R.TCR_EL1.set(R.TCR_EL1.set(s.tcr, "HA", 1), "HD", 1)
    reg = s.regime(tcr=tcr)
    leaf = s.s1.lookup(0x10_0000)
    assert leaf is not None
    p = at(s.mem, reg, ATOp.S1E1W, 0x10_0000).decoded
    assert p is not None and not p.f  # DBM makes it writable
    now = s.mem.read64(leaf.desc_pa)
    assert now & DESC_AF and now & S1_AP2


def test_ops_and_parsing() -> None:
    """The eight operations, their stage, EL and direction; bad names are errors."""
    assert AT_OPS == ("S1E1R", "S1E1W", "S1E0R", "S1E0W", "S12E1R", "S12E1W", "S12E0R",
                      "S12E0W")
    assert [(o.stage12, o.el, o.write) for o in (ATOp.S1E0W, ATOp.S12E1R)] == [
        (False, 0, True), (True, 1, False)]
    with pytest.raises(ConfigError, match="expected one of"):
        ATOp.parse("S1E2R")


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sc=scenarios())
def test_at_agrees_with_the_walker(sc: Scenario) -> None:
    """For random tables and registers, every AT gives what the walker gives for the same
    access (aligned, a read or write at EL0 or EL1): the fault (FST, PTW, S) or the output
    address with EncodePARAttrs / PAREncodeShareability of the walk's attributes."""
    for op in ATOp:
        kind = AccessKind.WRITE if op.write else AccessKind.READ
        for va in sc.vas[:3]:
            w = walk(sc.setup.mem, sc.regime, Access(va, kind, op.el, 1), hw_update=False)
            r = at(sc.setup.mem, sc.regime, op, va, hw_update=False)
            f = w.fault
            if f is not None:  # the decision record says what the fault says
                d = f.decision
                assert d is not None and d.result is f.kind and d.rule.value == f.rule
                assert (d.input("stage"), d.input("level"), d.input("s1ptw")) == (
                    f.stage, f.level, f.s1ptw)
            s1_done = f is None or (f.stage == 2 and not f.s1ptw)
            if not op.stage12 and s1_done and sc.regime.s1_enabled:
                p = r.decoded
                assert p is not None and not p.f, (op, hex(va), r.par)
                ipa = w.translation.ipa if f is None else f.ipa  # type: ignore[union-attr]
                assert p.pa == ipa & ~0xFFF  # type: ignore[operator]
                continue
            if f is not None and (op.stage12 or not s1_done):
                if f.kind is FaultKind.SYNC_EXTERNAL_ON_WALK:
                    assert r.abort is not None
                    continue
                p = r.decoded
                assert p is not None and p.f, (op, hex(va), f)
                assert (p.fst.code, p.ptw, p.stage) == (f.fsc, f.s1ptw, f.stage)  # type: ignore[union-attr]
                continue
            if not op.stage12:
                continue  # stage 1 off: AT S1E* gives the VA (checked by the walk itself)
            t = w.translation
            assert t is not None
            p = r.decoded
            assert p is not None and not p.f and p.pa == t.pa & ~0xFFF
            if t.attrs is not None:
                cpu = sc.regime.cpu
                assert p.attr == encode_par_attrs(t.attrs, xs=cpu.xs, mte=cpu.mte2)
                assert p.sh == par_encode_shareability(t.attrs)
                assert r.pars == tuple(dict.fromkeys(r.pars)) and r.par in r.pars
            else:
                # A reserved MAIR byte: ATTR is one of the permitted set (RESMAIR), all listed.
                assert r.attrs_unknown and r.pars == tuple(dict.fromkeys(r.pars))
                assert not r.pars or r.par in r.pars


def test_hcr_defaults_are_used() -> None:
    """The regime of a KVM guest (HCR_EL2 VM|RW) is what at() translates through."""
    s = _setup()
    assert s.regime().hcr == HCR_DEFAULT
    assert decode_par(at(s.mem, s.regime(), "S12E1R", 0x40_0000).par or 0).pa == \
        RAM_PA + 2 * MIB

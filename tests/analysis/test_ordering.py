"""The reclaim-ordering model: the review's claims (docs/review.md#reclaim-and-reset-ordering) with
their witnesses checked by hand, the model's invariants, and its inputs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memattr.analysis.ordering import (
    _OP_DSB,
    MAX_WRITES,
    REVIEW_CASES,
    Actor,
    Bus,
    Config,
    HostSequence,
    Move,
    SerialisationPoint,
    Stage,
    Verdict,
    WriteType,
    _Machine,
    all_configs,
    buffer_props,
    explore,
    make_config,
    write_type_of,
)
from memattr.analysis.ordering_rules import OrderingRule as R
from memattr.arch.memtype import NORMAL_NC, NORMAL_WB, DEVICE_nGnRE
from memattr.errors import ConfigError
from memattr.linux import LinuxGuest, MemslotSpec, VfioPciBar, evaluate
from memattr.linux.kvm.features import HostFeatures
from memattr.platform.examples import example_platform

NC, NE, E = WriteType.NORMAL_NC, WriteType.DEVICE_nGnRnE, WriteType.DEVICE_nGnRE
PCIE, AXI = Bus.PCIE, Bus.AXI_LIKE
RC, IC, NOWHERE = (SerialisationPoint.ROOT_COMPLEX, SerialisationPoint.INTERCONNECT,
                   SerialisationPoint.NOWHERE)
CFG, PLAT, SW = HostSequence.CONFIG_RESET, HostSequence.PLATFORM_RESET, \
    HostSequence.CONTEXT_SWITCH
ALL = all_configs()
VERDICTS = {c: explore(c) for c in ALL}


def steps(v: Verdict) -> list[tuple[str, str, tuple[str, ...], R]]:
    """A witness as (lane, move, units, rule) tuples, the form the hand-checked traces use."""
    return [(s.actor.value, s.move.value, s.units, s.rule) for s in v.witness]


def effective_6x(policy: str) -> WriteType:
    """The write type of a guest ioremap_wc over a vfio-pci BAR, asked of the Linux model."""
    ev = evaluate(policy, HostFeatures(fwb=True), example_platform(), VfioPciBar("nic", 0),
                  MemslotSpec(), LinuxGuest().ioremap_wc())
    assert ev.effective is not None
    return write_type_of(ev.effective)


# --- case 21: PCIe -----------------------------------------------------------------------------
@pytest.mark.parametrize("writes", range(1, MAX_WRITES + 1))
@pytest.mark.parametrize("sp", [RC, IC])
@pytest.mark.parametrize("flush", [False, True])
def test_case21_nc_over_pcie_under_6_9_cannot_land_after_the_reset(writes: int,
                                                                  sp: SerialisationPoint,
                                                                  flush: bool) -> None:
    """Case 21: Normal-NC (what 6.9 gives ioremap_wc on a vfio-pci BAR) over PCIe: when TLBI+DSB
    serialises the writes at the root complex (or before it), no interleaving lets one land
    after the config-space reset.  C2a holds the CfgWr back; with a flushing read first, B2a
    holds the read back instead and the CfgWr never meets a write."""
    wt = effective_6x("6.9")
    assert wt is NC
    v = explore(Config(wt, writes, PCIE, sp, CFG, flush))
    assert not v.reachable and v.witness == ()
    assert v.states > 10
    rules = [d.rule for d in v.decisions]
    assert (R.PCIE_B2A if flush else R.PCIE_C2A) in rules and R.DSB_AFTER_TLBI in rules
    sp_decision = next(d for d in v.decisions if d.rule is R.SERIALISATION_POINT)
    assert sp_decision.branch == sp.value and sp_decision.result is Stage.SP


def test_case21_under_6_8_is_device_ngnre_and_also_ordered() -> None:
    """Case 21 under 6.8: the same mapping is Device-nGnRE; the config reset is ordered too."""
    assert effective_6x("6.8") is E
    assert not explore(Config(E, 2, PCIE, RC, CFG)).reachable


def test_case21_without_a_serialisation_point_the_cfgwr_overtakes() -> None:
    """Case 21 with the assumption switched off (TLBI+DSB only guarantees the write left CPU0):
    the CfgWr reaches the root complex first on its own path and lands first.  Hand-checked."""
    v = explore(Config(NC, 1, PCIE, NOWHERE, CFG))
    assert v.reachable
    assert steps(v) == [
        ("CPU1", "zap", (), R.VFIO_ZAP),
        ("CPU1", "s2-unmap", (), R.KVM_S2_UNMAP),
        ("CPU1", "tlbi", (), R.KVM_TLBI),
        ("CPU0", "store", ("W1",), R.OLD_TRANSLATION),  # the TLBI is not performed on CPU0 yet
        ("CPU0", "tlbi-performed", (), R.TLBI_PERFORMED),
        ("CPU0", "drain", ("W1",), R.WRITE_BUFFER),
        ("CPU1", "dsb", (), R.EARLY_ACK),  # W1 has left CPU0: all the DSB waits for
        ("CPU1", "issue", ("CfgWr",), R.PCIE_FLR),
        ("fabric", "serialise", ("CfgWr",), R.INDEPENDENT_PATHS),  # W1 still on CPU0's path
        ("fabric", "serialise", ("W1",), R.PROGRESS),  # behind the CfgWr in the root complex
        ("device", "land", ("CfgWr",), R.PROGRESS),
        ("device", "land", ("W1",), R.PROGRESS),
    ]
    assert v.witness[-1].after_boundary and not any(s.after_boundary for s in v.witness[:-1])
    assert v.witness[6].stage is Stage.PATH
    assert v.witness[10].overtaken == (("W1", Stage.SP, R.INDEPENDENT_PATHS),)
    last = v.decisions[-1]
    assert (last.rule, last.branch, last.input("write"), last.input("by")) == \
        (R.INDEPENDENT_PATHS, "overtaken", "W1", "CfgWr")


# --- case 22: a platform reset path ------------------------------------------------------------
PLATFORM_WITNESS = [
    ("CPU1", "zap", (), R.VFIO_ZAP),
    ("CPU1", "s2-unmap", (), R.KVM_S2_UNMAP),
    ("CPU1", "tlbi", (), R.KVM_TLBI),
    ("CPU0", "store", ("W1",), R.OLD_TRANSLATION),
    ("CPU0", "tlbi-performed", (), R.TLBI_PERFORMED),
    ("CPU0", "drain", ("W1",), R.WRITE_BUFFER),
    ("fabric", "serialise", ("W1",), R.PROGRESS),
    ("CPU1", "dsb", (), R.SERIALISATION_POINT),  # W1 is serialised: the DSB may complete
    ("CPU1", "issue", ("reset",), R.PLATFORM_RESET),
    ("device", "land", ("reset",), R.SEPARATE_RESET_PATH),  # does not pass the point W1 is at
    ("device", "land", ("W1",), R.PROGRESS),
]


@pytest.mark.parametrize(("bus", "sp"), [(AXI, IC), (PCIE, RC)])
def test_case22_platform_reset_is_flagged_with_its_witness(bus: Bus,
                                                           sp: SerialisationPoint) -> None:
    """Case 22: the same NC write, serialised before the DSB completes, but the reset goes over
    another path (ACPI _RST, a reset bus): it lands first.  Hand-checked, for an AXI-like
    platform device and for a PCIe device reset that way."""
    v = explore(Config(NC, 1, bus, sp, PLAT))
    assert v.reachable
    assert steps(v) == PLATFORM_WITNESS
    assert v.witness[9].overtaken == (("W1", Stage.SP, R.SEPARATE_RESET_PATH),)
    assert v.decisions[-1].rule is R.SEPARATE_RESET_PATH
    assert v.decisions[-1].input("was_at") is Stage.SP


@pytest.mark.parametrize("wt", [NC, E])
@pytest.mark.parametrize(("bus", "sp"), [(AXI, IC), (PCIE, RC), (PCIE, IC)])
def test_case22_a_flushing_read_orders_the_reset(wt: WriteType, bus: Bus,
                                                 sp: SerialisationPoint) -> None:
    """Case 22: a flushing read first (Jason's fix) cannot pass the serialised writes, and the
    host waits for its data before the reset: ordered for every number of writes."""
    for n in range(1, MAX_WRITES + 1):
        v = explore(Config(wt, n, bus, sp, PLAT, True))
        assert not v.reachable
        rules = {d.rule for d in v.decisions}
        assert R.AWAIT_COMPLETION in rules
        assert (R.PCIE_B2A if bus is PCIE else R.EARLY_RESPONSE_ORDER) in rules


def test_case22_a_flushing_read_does_not_help_without_a_serialisation_point() -> None:
    """Case 22: with nothing serialising CPU0's write, the read on CPU1's path cannot flush it."""
    v = explore(Config(NC, 1, AXI, NOWHERE, PLAT, True))
    assert v.reachable
    assert [s.move for s in v.witness].count(Move.COMPLETE) == 1  # the read did complete first
    assert v.decisions[-1].rule is R.INDEPENDENT_PATHS


# --- case 23: Device-nGnRnE + DSB vs Device-nGnRE vs NC ------------------------------------
@pytest.mark.parametrize("cfg", [c for c in ALL if c.memtype is NE and c.host is not SW],
                         ids=lambda c: c.label)
def test_case23_ngnrne_plus_dsb_completes_at_the_end_point(cfg: Config) -> None:
    """Case 23: Device-nGnRnE + DSB gives end-point completion (subject to the device): no
    interleaving on any path, with any assumption, lands after the reset."""
    v = VERDICTS[cfg]
    assert not v.reachable
    assert v.decisions[0].result is R.ENDPOINT_ACK
    assert v.decisions[1].result is Stage.DEVICE


@pytest.mark.parametrize("wt", [E, NC])
def test_case23_ngnre_and_nc_need_a_read_back(wt: WriteType) -> None:
    """Case 23: Device-nGnRE and Normal-NC complete at an intermediate point: on a platform
    reset path they land after the reset (the same hand-checked witness), and a read-back
    first orders them."""
    v = explore(Config(wt, 1, AXI, IC, PLAT))
    assert v.reachable and steps(v) == PLATFORM_WITNESS
    assert v.decisions[0].branch == wt.value and v.decisions[0].result is R.EARLY_ACK
    assert not explore(Config(wt, 1, AXI, IC, PLAT, True)).reachable


def test_case23_nc_gathers_and_reorders_but_ngnre_does_not() -> None:
    """Case 23: with two writes, NC's shortest hazard is the same length as nGnRE's, but only NC
    explores gathered and reordered states (more of them)."""
    nc, ne = explore(Config(NC, 2, AXI, IC, PLAT)), explore(Config(E, 2, AXI, IC, PLAT))
    assert nc.reachable and ne.reachable
    assert len(nc.witness) == len(ne.witness)
    assert nc.states > ne.states


# --- case 24: a context-switched shared peripheral ---------------------------------------------
def test_case24_gicv_like_nc_write_lands_after_the_switch() -> None:
    """Case 24: guest A's buffered NC write to a GICV-like shared peripheral lands after KVM's
    switch to guest B, since no TLBI+DSB happens at switch time.  Hand-checked."""
    v = explore(Config(NC, 1, AXI, IC, SW))
    assert v.reachable and v.boundary == "switch"
    assert steps(v) == [
        ("CPU0", "store", ("W1",), R.WRITE_BUFFER),
        ("CPU0", "switch", (), R.VCPU_SWITCH),
        ("CPU0", "issue", ("switch",), R.VCPU_SWITCH),  # KVM writes vCPU B's state, no DSB
        ("CPU0", "drain", ("W1",), R.WRITE_BUFFER),
        ("CPU0", "drain", ("switch",), R.WRITE_BUFFER),
        ("fabric", "serialise", ("switch",), R.NO_BARRIER),  # passes W1 on CPU0's path
        ("fabric", "serialise", ("W1",), R.PROGRESS),
        ("device", "land", ("switch",), R.PROGRESS),
        ("device", "land", ("W1",), R.PROGRESS),
    ]
    assert v.decisions[-1].rule is R.NO_BARRIER
    assert all(s.move not in (Move.TLBI, Move.DSB) for s in v.witness)


@pytest.mark.parametrize("wt", list(WriteType))
@pytest.mark.parametrize(("bus", "sp"), [(AXI, IC), (AXI, NOWHERE), (PCIE, RC)])
def test_case24_only_the_exclusion_keeps_the_switch_ordered(wt: WriteType, bus: Bus,
                                                            sp: SerialisationPoint) -> None:
    """Case 24: the Device-nR types (GICV stays Device-nGnRE under 6.9) arrive in program order
    with KVM's switch write; every type that may reorder (nGRE, GRE, NC) lets a write land
    after the switch."""
    for n in range(1, MAX_WRITES + 1):
        v = explore(Config(wt, n, bus, sp, SW))
        assert v.reachable == buffer_props(wt).reordering, (wt, n)
        if not v.reachable:
            assert R.NO_REORDERING in {d.rule for d in v.decisions}


# --- the whole space -----------------------------------------------------------------------------
def test_review_cases_verdicts() -> None:
    """The named review cases give the verdicts the review reached."""
    expected = {
        "PCIe, Normal-NC (6.9), config reset (docs/review.md#case-21-reclaim-pcie)": False,
        "PCIe, Normal-NC, 3 writes (docs/review.md#case-21-reclaim-pcie)": False,
        "PCIe, serialisation point nowhere (docs/review.md#case-21-reclaim-pcie)": True,
        "platform reset, no flushing read (docs/review.md#case-22-reclaim-platform-device)": True,
        "platform reset, flushing read (docs/review.md#case-22-reclaim-platform-device)": False,
        "PCIe device, platform reset (docs/review.md#case-22-reclaim-platform-device)": True,
        "Device-nGnRnE + DSB, platform reset (docs/review.md#case-23-reclaim-what-each-type-needs)": False,
        "Device-nGnRE, platform reset (docs/review.md#case-23-reclaim-what-each-type-needs)": True,
        "Device-nGnRE, read-back first (docs/review.md#case-23-reclaim-what-each-type-needs)": False,
        "Normal-NC, platform reset (docs/review.md#case-23-reclaim-what-each-type-needs)": True,
        "GICV-like, Normal-NC, no TLBI+DSB (docs/review.md#case-24-context-switched-peripheral)": True,
        "GICV-like, Device-nGnRE (the exclusion) (docs/review.md#case-24-context-switched-peripheral)": False,
    }
    assert {name: explore(cfg).reachable for name, cfg in REVIEW_CASES} == expected


def test_all_configs_count() -> None:
    """Every valid combination once: 5 types x 3 write counts x 21 (bus, point, sequence,
    flushing read) combinations the constraints allow."""
    assert len(ALL) == len(set(ALL)) == 5 * 3 * 21


@pytest.mark.parametrize("cfg", [c for c in ALL if c.writes < MAX_WRITES], ids=lambda c: c.label)
def test_one_more_write_never_removes_a_hazard(cfg: Config) -> None:
    """A hazard with n writes stays with n+1.  On reclaim the extra write may simply never be
    issued (same witness length); at a vCPU switch every write precedes the switch on the same
    CPU, so the witness has exactly one more step, its store."""
    bigger = Config(cfg.memtype, cfg.writes + 1, cfg.bus, cfg.serialisation, cfg.host,
                    cfg.flushing_read)
    if VERDICTS[cfg].reachable:
        assert VERDICTS[bigger].reachable
        extra = 1 if cfg.host is SW else 0
        assert len(VERDICTS[bigger].witness) == len(VERDICTS[cfg].witness) + extra
    assert VERDICTS[bigger].states > VERDICTS[cfg].states


@pytest.mark.parametrize("cfg", [c for c in ALL if c.host is not SW], ids=lambda c: c.label)
def test_reclaim_verdict_follows_the_assumption(cfg: Config) -> None:
    """Over every reclaim configuration: a write lands after the reset exactly when the type is
    acknowledged early and the reset can get past the point TLBI+DSB left it at -- nowhere, or
    a platform reset path without a flushing read."""
    early = buffer_props(cfg.memtype).early_ack
    bypass = cfg.serialisation is NOWHERE or (cfg.host is PLAT and not cfg.flushing_read)
    assert VERDICTS[cfg].reachable == (early and bypass)


@pytest.mark.parametrize("cfg", [c for c in ALL if VERDICTS[c].reachable], ids=lambda c: c.label)
def test_witness_shape(cfg: Config) -> None:
    """Every witness: ends with a guest write landing after the boundary landed; stores come
    before the TLBI is performed; the DSB comes after it; the host's steps are in program
    order."""
    w = VERDICTS[cfg].witness
    assert w[-1].move is Move.LAND and w[-1].after_boundary and w[-1].units[0].startswith("W")
    boundary = VERDICTS[cfg].boundary
    lands = [i for i, s in enumerate(w) if s.move is Move.LAND and s.units == (boundary,)]
    assert len(lands) == 1 and lands[0] < len(w) - 1
    moves = [s.move for s in w]
    if Move.TLBI_PERFORMED in moves:
        t = moves.index(Move.TLBI_PERFORMED)
        assert all(m is not Move.STORE for m in moves[t:])
        assert moves.index(Move.TLBI) < t < moves.index(Move.DSB)
    host = [m for s, m in zip(w, moves, strict=True) if s.actor is Actor.CPU1]
    order = [Move.ZAP, Move.S2_UNMAP, Move.TLBI, Move.DSB]
    assert [m for m in host if m in order] == order[:len([m for m in host if m in order])]


def _depth_first_shortest(cfg: Config, limit: int) -> int | None:
    """The shortest hazard by iterative deepening (a second search over the same machine)."""
    m = _Machine(cfg)

    def dfs(s: tuple, depth: int, seen: dict) -> bool:
        for _raw, t, goal in m.successors(s):
            if goal:
                return True
            if depth > 1 and seen.get(t, -1) < depth - 1:
                seen[t] = depth - 1
                if dfs(t, depth - 1, seen):
                    return True
        return False

    for depth in range(1, limit + 1):
        if dfs(m.initial(), depth, {}):
            return depth
    return None


@pytest.mark.parametrize("cfg", [c for c in ALL if c.writes == 1], ids=lambda c: c.label)
def test_breadth_first_witness_is_shortest(cfg: Config) -> None:
    """An independent iterative-deepening search finds a hazard exactly when the BFS does, and
    none shorter than the BFS witness."""
    v = VERDICTS[cfg]
    found = _depth_first_shortest(cfg, 16)
    assert found == (len(v.witness) if v.reachable else None)


# --- invariants of the machine along random runs -------------------------------------------------
@settings(max_examples=150, deadline=None)
@given(cfg=st.sampled_from(ALL), choices=st.lists(st.integers(0, 1000), max_size=40))
def test_random_runs_keep_the_invariants(cfg: Config, choices: list[int]) -> None:
    """Along any run: each issued guest write is in exactly one place; no store follows the
    TLBI; once the DSB has completed, no guest write is behind its completion point."""
    m = _Machine(cfg)
    s = m.initial()
    dsb_at = next((i for i, (op, _) in enumerate(m.ops) if op == _OP_DSB), None)
    for c in choices:
        succ = list(m.successors(s))
        if not succ:
            break
        _raw, s, _goal = succ[c % len(succ)]
        nxt, performed, pc, _landed, buf, p0, p1, sp = s
        held = [w for q in (buf, p0, sp) for u in q for w in u if w < 10]
        assert len(held) == len(set(held)) and all(w < nxt for w in held)
        assert not any(w < 10 for u in p1 for w in u)
        if dsb_at is not None and pc > dsb_at:
            assert performed
            before = {Stage.DEVICE: (buf, p0, sp), Stage.SP: (buf, p0), Stage.PATH: (buf,)}
            assert not any(w < 10 for q in before[m.completion] for u in q for w in u)


# --- the write buffer's properties come from the architecture layer -----------------------
@pytest.mark.parametrize(("wt", "g", "r", "e"), [
    (WriteType.DEVICE_nGnRnE, False, False, False),
    (WriteType.DEVICE_nGnRE, False, False, True),
    (WriteType.DEVICE_nGRE, False, True, True),
    (WriteType.DEVICE_GRE, True, True, True),
    (WriteType.NORMAL_NC, True, True, True),
])
def test_buffer_props(wt: WriteType, g: bool, r: bool, e: bool) -> None:
    """G/R/E per type (Arm ARM B2.8 as the arch layer states it), with its citation."""
    p = buffer_props(wt)
    assert (p.gathering, p.reordering, p.early_ack) == (g, r, e)
    assert all("B2.8" in s for s in p.sources)


def test_gathering_only_where_permitted() -> None:
    """Only G types (Device-GRE, Normal-NC) ever gather buffered writes."""
    for cfg in ALL:
        if cfg.writes < 2:
            continue
        m = _Machine(cfg)
        gathers = any(raw[1] is Move.GATHER for raw, _t, _g in m.successors(
            (2, False, 0, False, ((0,), (1,)), (), (), ())))
        assert gathers == buffer_props(cfg.memtype).gathering


def test_write_type_of() -> None:
    """Effective types map to write types; a cacheable type is refused with a one-line error."""
    assert write_type_of(NORMAL_NC) is NC
    assert write_type_of(DEVICE_nGnRE) is E
    for wt in WriteType:
        assert write_type_of(wt.attrs) is wt
    with pytest.raises(ConfigError, match="Normal-WB"):
        write_type_of(NORMAL_WB)


# --- inputs --------------------------------------------------------------------------------------
def test_make_config_from_names() -> None:
    """A later step drives the model with names: values or member names both work."""
    c = make_config("Normal-NC", 2, "axi-like", "interconnect", "platform-reset", True)
    assert c == Config(NC, 2, AXI, IC, PLAT, True)
    assert make_config("DEVICE_nGnRE", bus="PCIE") == Config(E, 1, PCIE, RC, CFG)
    assert c.to_json()["bus"] == "axi-like"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"writes": 0}, "writes=0: allowed 1..3"),
    ({"writes": 4}, "writes=4: allowed 1..3"),
    ({"bus": "axi-like", "serialisation": "root-complex", "host": "platform-reset"},
     "serialisation=root-complex: needs bus=pcie"),
    ({"bus": "axi-like", "serialisation": "interconnect"}, "host=config-reset: needs bus=pcie"),
    ({"host": "context-switch", "flushing_read": True}, "flushing_read=True"),
    ({"memtype": "Normal-WB"}, "memtype='Normal-WB': not one of Device-nGnRnE"),
    ({"bus": "isa"}, "bus='isa': not one of pcie, axi-like"),
    ({"flushing_read": "yes"}, "flushing_read='yes': allowed True or False"),
])
def test_bad_configs(kwargs: dict, message: str) -> None:
    """Bad input raises ConfigError naming the field, the value and what is allowed."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(".", r"\.")):
        make_config(**kwargs)


def test_verdict_json() -> None:
    """The verdict serialises with its witness and decisions."""
    v = explore(Config(NC, 1, AXI, IC, PLAT))
    j = v.to_json()
    assert j["reachable"] is True and len(j["witness"]) == len(v.witness)  # type: ignore[arg-type]
    assert j["decisions"][-1]["rule"] == "platform:reset_path"  # type: ignore[index]


def test_docs_example_runs() -> None:
    """The example at the top of docs/ordering.md runs and finds the platform-reset hazard."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "ordering.md").read_text()
    code = doc.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.replace("print(witness_text(v))", "text = witness_text(v)")
    scope: dict[str, object] = {}
    exec(code, scope)
    v = scope["v"]
    assert isinstance(v, Verdict) and v.reachable
    assert "W1 lands AFTER reset" in str(scope["text"])

"""Decisions as data: the records of every table input are consistent with its outcome.

Over all 16,384 inputs of ``memattr table`` (S1 byte x S2 MemAttr x HCR_EL2.FWB x HCR_EL2.CD,
SH = ISH, a data read), and over instruction fetches and stage-1 walks for a sample:

- every path ends in a record whose result is one of the outcomes or faults, and every outcome
  and fault ends some path (the chain of results ends in the outcome set);
- a record of a type-deciding rule appears only where that rule decided: its branch is the one
  an independent classification of the path's stage-1 and stage-2 values gives (written below
  from the rules as docs/architecture.md states them, not from memattr), and its result is what the next
  step consumed;
- re-running the named rule on the path's values returns the same record;
- a reserved S1 byte's paths are, after its two RESMAIR records, exactly the paths of the
  allocated bytes it may stand for.

:func:`check_path` returns the problems it finds; ``test_checker_catches_false_claims`` shows
it reports a fabricated record, so the exhaustive test can fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest

from memattr.arch import combine, mair
from memattr.arch.combine import Access, Controls, Resolution, resolve
from memattr.arch.cpu import ALL, NEOVERSE_N1, Cpu
from memattr.arch.decision import AslRule, Decision
from memattr.arch.memtype import Cacheability, MemoryAttributes

_CTL = {(f, c): Controls(fwb=f, cd=c) for f in (False, True) for c in (False, True)}


def fwb_case(memattr: int) -> str:
    """docs/architecture.md#stage-2-memattr-with-fwb: MemAttr[2:0] -> the FWB rule (0b100 behaves as 0b101 in
    ASL94)."""
    low = memattr & 0b111
    if low >> 2 == 0:
        return "device"
    return {0b100: "nc", 0b101: "nc", 0b110: "force_wb", 0b111: "as_s1"}[low]


def expected_combine_branch(s1: MemoryAttributes, s2: MemoryAttributes) -> str:
    """docs/architecture.md#combining-stage-1-and-stage-2: which case of S2CombineS1MemAttrs the stage types
    select."""
    return {(True, True): "both_device", (True, False): "s1_device",
            (False, True): "s2_device", (False, False): "both_normal"}[
        (s1.is_device, s2.is_device)]


def expected_fwb_branch(s1: MemoryAttributes, memattr: int) -> str:
    case = fwb_case(memattr)
    if case == "device":
        return "device_s1_device" if s1.is_device else "device_s1_normal"
    if case == "nc":
        return "nc_s1_device" if s1.is_device else "nc_s1_normal"
    return case


def _last(path: Sequence[Decision], rule: AslRule, before: int) -> Decision | None:
    return next((d for d in reversed(path[:before]) if d.rule is rule), None)


def check_path(path: Sequence[Decision], end: object, *, fwb: bool, cd: bool, access: Access,
               cpu: Cpu, memattr: int) -> list[str]:
    """The problems of one path that ends in ``end`` (an outcome or a fault)."""
    bad: list[str] = []
    if not path:
        return ["empty path"]
    if path[-1].result != end:
        bad.append(f"path ends in {path[-1].rule.value} = {path[-1].result!r}, not {end!r}")
    # The stage-1 value the combining saw: the last stage-1 record's attributes.
    s1: MemoryAttributes | None = None
    s2: MemoryAttributes | None = None
    for n, d in enumerate(path):
        r = d.rule
        if r in (AslRule.S1DecodeMemAttrs, AslRule.AArch64_S1DisabledOutput):
            s1 = d.result  # type: ignore[assignment]
            if r is AslRule.S1DecodeMemAttrs:
                want = mair.decode_attr(d.input("attr"), cpu).attrs  # type: ignore[arg-type]
                if want is None or want.with_shareability(d.result.shareability) != d.result:  # type: ignore[union-attr]
                    bad.append(f"S1DecodeMemAttrs of 0x{d.input('attr'):02x} gives {d.result}")
        elif r is AslRule.AArch64_S1Translate and isinstance(d.result, MemoryAttributes):
            s1 = d.result
        elif r is AslRule.S2DecodeMemAttrs:
            s2 = d.result  # type: ignore[assignment]
            if fwb:
                bad.append("S2DecodeMemAttrs record with FWB")
            if d.input("attr") != memattr:
                bad.append(f"S2DecodeMemAttrs of 0b{d.input('attr'):04b}, not 0b{memattr:04b}")
        elif r is AslRule.AArch64_S2Translate:
            data_cd = access is not Access.IFETCH and cd
            why = {"data_hcr_cd_as_nc": data_cd, "ifetch_device_as_nc": access is Access.IFETCH,
                   "ttw_device_as_nc": access is Access.TTW,
                   "ifetch_hcr_id_as_nc": False, "stage2_disabled": False}.get(d.branch, False)
            if not why:
                bad.append(f"AArch64.S2Translate {d.branch} for a {access.value} with CD={cd}")
            if d.branch.endswith("_as_nc") and not d.result.is_nc:  # type: ignore[union-attr]
                bad.append(f"AArch64.S2Translate {d.branch} gives {d.result}")
            s2 = d.result  # type: ignore[assignment]
        elif r is AslRule.S2CombineS1MemAttrs:
            if fwb:
                bad.append("S2CombineS1MemAttrs record with FWB")
            if s1 is None or s2 is None:
                bad.append("S2CombineS1MemAttrs before both stages")
                continue
            if d.branch != expected_combine_branch(s1, s2):
                bad.append(f"S2CombineS1MemAttrs branch {d.branch} for S1 {s1.short}, "
                           f"S2 {s2.short}")
            again = combine.s2_combine_s1_mem_attrs(s1, s2, cpu)
            if again[-1] != d or tuple(again) != tuple(path[n - len(again) + 1:n + 1]):
                bad.append("S2CombineS1MemAttrs re-run on the path's values differs")
        elif r is AslRule.AArch64_S2ApplyFWBMemAttrs and isinstance(d.result, MemoryAttributes):
            if not fwb:
                bad.append("AArch64.S2ApplyFWBMemAttrs record without FWB")
            if s1 is None:
                bad.append("AArch64.S2ApplyFWBMemAttrs before stage 1")
                continue
            if d.branch != expected_fwb_branch(s1, memattr):
                bad.append(f"AArch64.S2ApplyFWBMemAttrs branch {d.branch} for S1 {s1.short}, "
                           f"MemAttr 0b{memattr:04b}")
            again = combine.aarch64_s2_apply_fwb_mem_attrs(s1, memattr, d.input("sh"),  # type: ignore[arg-type]
                                                           bool(d.input("fnxs")), cpu)
            if again[-1] != d:
                bad.append("AArch64.S2ApplyFWBMemAttrs re-run on the path's values differs")
            s2 = d.result
        elif r is AslRule.S2CombineS1Device:
            # Only where both stages are Device: S2CombineS1MemAttrs's both_device case, or the
            # FWB Device case over an S1 Device.
            owner = next((e for e in path[n + 1:] if e.rule in (
                AslRule.S2CombineS1MemAttrs, AslRule.AArch64_S2ApplyFWBMemAttrs)
                and isinstance(e.result, MemoryAttributes)), None)
            if owner is None or owner.branch not in ("both_device", "device_s1_device"):
                bad.append("S2CombineS1Device where the stages are not both Device")
            elif owner.result.device is not d.result:  # type: ignore[union-attr]
                bad.append("S2CombineS1Device result is not the combined Device type")
            if s1 is None or not s1.is_device:
                bad.append("S2CombineS1Device with a Normal stage 1")
        elif r is AslRule.S2CombineS1AttrHints:
            owner = next((e for e in path[n + 1:] if e.rule is AslRule.S2CombineS1MemAttrs),
                         None)
            if owner is None or owner.branch != "both_normal":
                bad.append("S2CombineS1AttrHints where the stages are not both Normal")
            elif d.result not in (owner.result.inner, owner.result.outer):  # type: ignore[union-attr]
                bad.append("S2CombineS1AttrHints result is not a level of the outcome")
        elif r is AslRule.EffectiveShareability and n == max(
                i for i, e in enumerate(path) if e.rule is AslRule.EffectiveShareability):
            if isinstance(end, MemoryAttributes) and path[-1].rule is not AslRule.AArch64_S2Translate \
                    and d.result is not end.shareability:
                bad.append(f"EffectiveShareability {d.result} but the outcome is "
                           f"{end.shareability}")
    if isinstance(end, MemoryAttributes):
        deciders = {d.rule for d in path} & {
            AslRule.S2CombineS1MemAttrs, AslRule.AArch64_S2ApplyFWBMemAttrs,
            AslRule.AArch64_S2Translate}
        if not deciders:
            bad.append("an outcome with no combining or stage-2 record")
    return bad


def check_resolution(res: Resolution, **kw: object) -> list[str]:
    """Problems of a whole resolution: its paths against its outcomes and faults."""
    bad: list[str] = []
    ends = [p[-1].result for p in res.paths]
    for o in (*res.outcomes, *res.faults):
        if not any(e == o for e in ends):
            bad.append(f"no path ends in {o}")
    for path in res.paths:
        end = path[-1].result
        if not any(end == o for o in (*res.outcomes, *res.faults)):
            bad.append(f"a path ends in {end!r}, not a permitted outcome")
            continue
        bad += check_path(path, end, **kw)  # type: ignore[arg-type]
    return bad


@pytest.mark.parametrize(("fwb", "cd"), list(itertools.product((False, True), repeat=2)),
                         ids=lambda v: str(int(v)))
def test_every_table_row_has_consistent_records(fwb: bool, cd: bool) -> None:
    """All 4,096 inputs of this FWB/CD quarter of the table: the records say what decided."""
    cpu = ALL
    reserved_prefixes = 0
    problems: list[tuple[str, str]] = []
    allocated = mair.allocated_bytes(cpu)
    for s2 in range(16):
        own_paths: dict[int, set[tuple[int, ...]]] = {}
        for s1 in allocated:
            res = resolve(s1, s2, controls=_CTL[fwb, cd], cpu=cpu)
            own_paths[s1] = {tuple(map(id, p[1:])) for p in res.paths}
            for p in check_resolution(res, fwb=fwb, cd=cd, access=Access.READ, cpu=cpu,
                                      memattr=s2):
                problems.append((f"0x{s1:02x}/0b{s2:04b}", p))
        union = set().union(*own_paths.values())
        for s1 in sorted(set(range(256)) - set(allocated)):
            res = resolve(s1, s2, controls=_CTL[fwb, cd], cpu=cpu)
            assert res.s1_unknown
            heads = {(p[0].rule, p[0].result, p[1].rule) for p in res.paths}
            if heads != {(AslRule.S1ConstrainUnpredictableRESMAIR, True,
                          AslRule.ConstrainUnpredictableBits)}:
                problems.append((f"0x{s1:02x}/0b{s2:04b}", f"RESMAIR records: {heads}"))
            # After the reserved byte's two records: exactly the allocated bytes' paths
            # (past their own S1ConstrainUnpredictableRESMAIR record).
            tails = {tuple(map(id, p[2:])) for p in res.paths}
            if tails != union:
                problems.append((f"0x{s1:02x}/0b{s2:04b}", "paths are not the allocated bytes'"))
            reserved_prefixes += 1
    assert reserved_prefixes == 16 * 20
    assert not problems, f"{len(problems)} problems, first: {problems[:5]}"


@pytest.mark.parametrize("access", [Access.IFETCH, Access.TTW], ids=lambda a: a.value)
@pytest.mark.parametrize("fwb", [False, True], ids=["fwb0", "fwb1"])
def test_fetch_and_walk_records(access: Access, fwb: bool) -> None:
    """Instruction fetches and stage-1 walks: faults and NC outcomes each have their records."""
    problems = []
    for s1, s2 in itertools.product((0x00, 0x04, 0x44, 0xBB, 0xFF), range(16)):
        res = resolve(s1, s2, controls=Controls(fwb=fwb), access=access)
        for p in check_resolution(res, fwb=fwb, cd=False, access=access, cpu=ALL, memattr=s2):
            problems.append((hex(s1), s2, p))
    assert not problems, problems[:5]


def test_issue_example_says_what_decided() -> None:
    """combine --s1 0xff --s2 0x1 --access ifetch: S2 Device is taken as Normal NC by
    AArch64.S2Translate (or the fetch faults); no Device-wins record (issue 8)."""
    res = resolve(0xFF, 0x1, access=Access.IFETCH)
    assert {a.short for a in res.outcomes} == {"Normal-NC"}
    assert res.faults == (combine.FAULT_S2_INSTRDEVICE,)
    rules = {(d.rule, d.branch) for d in res.decisions}
    assert (AslRule.AArch64_S2Translate, "ifetch_device_as_nc") in rules
    assert (AslRule.AArch64_S2CheckPermissions, "Unpredictable_INSTRDEVICE") in rules
    assert not {r for r, b in rules if r is AslRule.S2CombineS1Device}
    assert (AslRule.S2CombineS1MemAttrs, "both_normal") in rules  # S1 WB x S2 taken as NC


def test_checker_catches_false_claims() -> None:
    """The checker reports a fabricated record: the exhaustive tests can fail."""
    res = resolve(0x44, 0x1)  # S1 Normal-NC x S2 Device-nGnRE, no FWB
    path = res.paths[0]
    assert check_path(path, res.outcomes[0], fwb=False, cd=False, access=Access.READ, cpu=ALL,
                      memattr=0x1) == []
    comb = path[-1]
    assert comb.rule is AslRule.S2CombineS1MemAttrs and comb.branch == "s2_device"
    # The old story: "S2CombineS1Device" for an S1 Normal over S2 Device.
    fake = Decision(AslRule.S2CombineS1Device, "nGnRE", comb.inputs, comb.result.device)  # type: ignore[union-attr]
    bad = check_path((*path[:-1], fake, comb), res.outcomes[0], fwb=False, cd=False,
                     access=Access.READ, cpu=ALL, memattr=0x1)
    assert any("not both Device" in b for b in bad)
    # A wrong branch, and a path that ends elsewhere.
    wrong = Decision(comb.rule, "both_normal", comb.inputs, comb.result)
    assert check_path((*path[:-1], wrong), res.outcomes[0], fwb=False, cd=False,
                      access=Access.READ, cpu=ALL, memattr=0x1)
    other = resolve(0xFF, 0xF).single
    assert check_path(path, other, fwb=False, cd=False, access=Access.READ, cpu=ALL,
                      memattr=0x1)


def test_records_without_xs_or_fwb_feature() -> None:
    """On a CPU without FEAT_XS and FEAT_S2FWB the records are as consistent (XS is None)."""
    problems = []
    for s1, s2 in itertools.product(range(0, 256, 7), range(16)):
        res = resolve(s1, s2, cpu=NEOVERSE_N1)
        assert all(a.xs is None for a in res.outcomes)
        for p in check_resolution(res, fwb=False, cd=False, access=Access.READ, cpu=NEOVERSE_N1,
                                  memattr=s2):
            problems.append((hex(s1), s2, p))
    assert not problems, problems[:5]


def test_decisions_are_each_record_once() -> None:
    """Resolution.decisions lists every record of every path once, in path order."""
    res = resolve(0xFF, 0x4, cpu=NEOVERSE_N1)  # three permitted outcomes
    assert len(res.paths) == 3
    ids = [id(d) for d in res.decisions]
    assert len(ids) == len(set(ids)) == len({id(d) for p in res.paths for d in p})
    hints = [d for d in res.decisions if d.rule is AslRule.S2CombineS1AttrHints]
    assert {d.result.cacheability for d in hints} >= {Cacheability.NC, Cacheability.WT,  # type: ignore[attr-defined]
                                                       Cacheability.WB}

"""Stage-1 x stage-2 combining, checked against an independent reference written from docs/architecture.md.

The reference combiner below is written from docs/architecture.md: #mair-attribute-bytes,
#stage-2-memattr-without-fwb, #stage-2-memattr-with-fwb, #combining-stage-1-and-stage-2 and
#register-controls (HCR_EL2 / SCTLR_EL1), and from docs/review.md#stage-2-encodings for the Linux
table.  It does not call memattr.

A reference value is a ``Ref`` named tuple:
(memtype, device name, inner level, outer level, shareability, xs, tagged), a level being
(cacheability, read_allocate, write_allocate, transient).
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import pytest

from memattr.arch import combine, mair, s2memattr
from memattr.arch.combine import Access, Controls
from memattr.arch.cpu import ALL
from memattr.arch.impdef import ImpDef
from memattr.arch.memtype import (
    Cacheability,
    CacheAttrs,
    DeviceType,
    MemoryAttributes,
    MemType,
    Shareability,
)
from memattr.errors import EncodingError

Level = tuple[str, bool, bool, bool]


class Ref(NamedTuple):
    memtype: str
    device: str | None
    inner: Level | None
    outer: Level | None
    sh: str
    xs: bool
    tagged: bool


NC: Level = ("NC", False, False, False)
WB_RWA: Level = ("WB", True, True, False)
WT_RA: Level = ("WT", True, False, False)

# docs/architecture.md#mair-attribute-bytes, docs/architecture.md#stage-2-memattr-without-fwb: dd = 00 nGnRnE,
# 01 nGnRE, 10 nGRE, 11 GRE.
DEVICE_NAMES = ("nGnRnE", "nGnRE", "nGRE", "GRE")
# docs/review.md#stage-2-encodings: Device types combine to the more restrictive value of each G/R/E bit
# (1 = the permissive G, R or E).
GRE_BITS = {"nGnRnE": (0, 0, 0), "nGnRE": (0, 0, 1), "nGRE": (0, 1, 1), "GRE": (1, 1, 1)}
SH_RANK = {"NSH": 0, "ISH": 1, "OSH": 2}


# --- reference: stage 1 (docs/architecture.md#mair-attribute-bytes) -------------------------------


def ref_nibble(n: int) -> Level:
    """docs/architecture.md#mair-attribute-bytes DecodeLDFAttr for a non-zero nibble."""
    if n == 0b0100:
        return NC
    ra, wa = bool(n & 0b10), bool(n & 0b01)
    top = n >> 2
    cache = "WT" if top in (0b00, 0b10) else "WB"
    return (cache, ra, wa, top in (0b00, 0b01) and (ra or wa))


def ref_mair(byte: int) -> tuple[str, str | None, Level | None, Level | None, bool, bool] | None:
    """docs/architecture.md#mair-attribute-bytes with FEAT_XS and FEAT_MTE2: (type, device, inner, outer, xs,
    tagged) or None."""
    hi, lo = byte >> 4, byte & 0xF
    if hi == 0:
        if lo & 0b10:
            return None
        return ("Device", DEVICE_NAMES[lo >> 2], None, None, not (lo & 1), False)
    if lo == 0:
        return {
            0x40: ("Normal", None, NC, NC, False, False),
            0xA0: ("Normal", None, WT_RA, WT_RA, False, False),
            0xF0: ("Normal", None, WB_RWA, WB_RWA, False, True),
        }.get(byte)
    inner, outer = ref_nibble(lo), ref_nibble(hi)
    return ("Normal", None, inner, outer, not (inner[0] == "WB" and outer[0] == "WB"), False)


def is_nc(r: Ref) -> bool:
    return r.memtype == "Normal" and r.inner[0] == "NC" and r.outer[0] == "NC"  # type: ignore[index]


def effective(r: Ref) -> Ref:
    """docs/architecture.md#combining-stage-1-and-stage-2 EffectiveShareability: Device and Normal iNC/oNC are
    OSH."""
    return r._replace(sh="OSH") if r.memtype == "Device" or is_nc(r) else r


def ref_s1(byte: int, sh: str = "ISH", *, eff_at_s1: bool = True) -> Ref | None:
    """The stage-1 attributes of a MAIR byte with descriptor SH ``sh``.

    Whether stage 1 passes on the descriptor SH or the effective one is the ASL94 ImpDefBool
    "Apply effective shareability at stage 1" (docs/architecture.md does not decide it): ``eff_at_s1``.
    """
    d = ref_mair(byte)
    if d is None:
        return None
    r = Ref(d[0], d[1], d[2], d[3], sh, d[4], d[5])
    return effective(r) if eff_at_s1 else r


# --- reference: stage 2 without FWB (docs/architecture.md#stage-2-memattr-without-fwb) ------------

S2_CACHE = {0b01: "NC", 0b10: "WT", 0b11: "WB"}


def ref_s2_nofwb(memattr: int, sh: str = "ISH", xs: bool = True) -> list[Ref]:
    """docs/architecture.md#stage-2-memattr-without-fwb: the permitted stage-2 attributes; inner 00 may be NC,
    WT or WB. No hints."""
    if memattr >> 2 == 0:
        return [Ref("Device", DEVICE_NAMES[memattr & 3], None, None, sh, xs, False)]
    outer = (S2_CACHE[memattr >> 2], False, False, False)
    inners = [S2_CACHE[memattr & 3]] if memattr & 3 else ["NC", "WT", "WB"]
    return [Ref("Normal", None, (i, False, False, False), outer, sh, xs, False) for i in inners]


# --- reference: the rules -------------------------------------------------------------------------
# docs/architecture.md#stage-2-memattr-with-fwb, docs/architecture.md#combining-stage-1-and-stage-2


def ref_more_restrictive(a: str, b: str) -> str:
    """Device types: the more restrictive of each G/R/E bit (docs/review.md#stage-2-encodings,
    docs/architecture.md#combining-stage-1-and-stage-2)."""
    bits = tuple(x & y for x, y in zip(GRE_BITS[a], GRE_BITS[b], strict=True))
    return next(name for name, v in GRE_BITS.items() if v == bits)


def ref_sh(a: str, b: str) -> str:
    """docs/architecture.md#combining-stage-1-and-stage-2: OSH if either is OSH, else ISH if either is ISH,
    else NSH."""
    return a if SH_RANK[a] >= SH_RANK[b] else b


def ref_level(s1: Level, s2: Level) -> Level:
    """docs/architecture.md#combining-stage-1-and-stage-2: NC if either NC, else WT if either WT, else WB;
    hints from S1 when not NC."""
    if "NC" in (s1[0], s2[0]):
        return NC
    cache = "WT" if "WT" in (s1[0], s2[0]) else "WB"
    return (cache, s1[1], s1[2], s1[3])


def ref_tagged(r: Ref, s1_tagged: bool) -> bool:
    """docs/architecture.md#combining-stage-1-and-stage-2 Tags: S1 tagged and the result Normal WB RWA
    non-transient in both nibbles."""
    return s1_tagged and r.memtype == "Normal" and r.inner == WB_RWA and r.outer == WB_RWA


def ref_combine_nofwb(s1: Ref, s2: Ref) -> Ref:
    """docs/architecture.md#combining-stage-1-and-stage-2: S2CombineS1MemAttrs."""
    if s1.memtype == "Device" and s2.memtype == "Device":
        base = Ref("Device", ref_more_restrictive(s1.device, s2.device), None, None, "", True, False)
    elif s1.memtype == "Device":
        base = Ref("Device", s1.device, None, None, "", True, False)
    elif s2.memtype == "Device":
        base = Ref("Device", s2.device, None, None, "", True, False)
    else:
        base = Ref("Normal", None, ref_level(s1.inner, s2.inner), ref_level(s1.outer, s2.outer),
                   "", True, False)
    wb = base.memtype == "Normal" and base.inner[0] == "WB" and base.outer[0] == "WB"
    xs = False if wb else (s1.xs and s2.xs)
    r = base._replace(sh=ref_sh(s1.sh, s2.sh), xs=xs, tagged=ref_tagged(base, s1.tagged))
    return effective(r)


def ref_fwb(s1: Ref, memattr: int, sh2: str = "ISH", fnxs: bool = False) -> Ref:
    """docs/architecture.md#stage-2-memattr-with-fwb: AArch64_S2ApplyFWBMemAttrs on MemAttr[2:0] (MemAttr[3]
    ignored)."""
    low = memattr & 0b111
    if low >> 2 == 0:  # 0dd: Device
        dd = DEVICE_NAMES[low & 3]
        dev = ref_more_restrictive(s1.device, dd) if s1.memtype == "Device" else dd
        base = Ref("Device", dev, None, None, "", s1.xs, False)
    elif low == 0b111:  # S1 unchanged
        base = s1
    elif low == 0b110:  # Normal WB even over Device
        def lvl(x: Level | None) -> Level:
            if s1.memtype == "Normal" and x is not None and x[0] != "NC":
                return ("WB", x[1], x[2], x[3])
            return WB_RWA

        base = Ref("Normal", None, lvl(s1.inner), lvl(s1.outer), "", False, False)
    else:  # 0b101, and 0b100 which ASL94 treats like it
        base = s1 if s1.memtype == "Device" else Ref("Normal", None, NC, NC, "", s1.xs, False)
    r = base._replace(sh=ref_sh(s1.sh, sh2), tagged=ref_tagged(base, s1.tagged))
    if fnxs:
        r = r._replace(xs=False)
    return effective(r)


def ref_nc(r: Ref) -> Ref:
    """Normal iNC/oNC in place of a Normal attribute: OSH, untagged, XS kept
    (docs/architecture.md#stage-2-memattr-with-fwb, docs/architecture.md#combining-stage-1-and-stage-2)."""
    return Ref("Normal", None, NC, NC, "OSH", r.xs, False)


def ref_resolve(byte: int, memattr: int, *, fwb: bool, cd: bool, eff_at_s1: bool = True
                ) -> set[Ref] | None:
    """The permitted results of a data read with stage 1 and 2 on; None for a reserved S1 byte."""
    s1 = ref_s1(byte, "ISH", eff_at_s1=eff_at_s1)
    if s1 is None:
        return None
    if fwb:
        r = ref_fwb(s1, memattr)
        # docs/architecture.md#stage-2-memattr-with-fwb: after the table, HCR_EL2.CD = 1 makes a Normal result
        # Normal NC.
        return {ref_nc(r) if cd and r.memtype == "Normal" else r}
    out = set()
    for s2 in ref_s2_nofwb(memattr):
        # docs/architecture.md#combining-stage-1-and-stage-2: HCR_EL2.CD = 1 replaces a Normal S2 by Normal NC
        # before combining.
        if cd and s2.memtype == "Normal":
            s2 = ref_nc(s2)
        out.add(ref_combine_nofwb(s1, s2))
    return out


# --- adapters -------------------------------------------------------------------------------


def level_of(c: CacheAttrs | None) -> Level | None:
    if c is None:
        return None
    return (c.cacheability.value, c.read_allocate, c.write_allocate, c.transient)


def summary(a: MemoryAttributes) -> Ref:
    """The implementation's attributes as a Ref."""
    return Ref(
        a.memtype.value,
        a.device.name if a.device is not None else None,
        level_of(a.inner),
        level_of(a.outer),
        a.shareability.value,
        a.xs,
        a.tagged,
    )


def cache_attrs(lv: Level) -> CacheAttrs:
    return CacheAttrs(Cacheability(lv[0]), lv[1], lv[2], lv[3])


def to_attrs(r: Ref) -> MemoryAttributes:
    """A Ref as the implementation's value (for calling the per-rule functions)."""
    return MemoryAttributes(
        MemType(r.memtype),
        device=DeviceType[r.device] if r.device is not None else None,
        inner=cache_attrs(r.inner) if r.inner is not None else None,
        outer=cache_attrs(r.outer) if r.outer is not None else None,
        shareability=Shareability[r.sh],
        xs=r.xs,
        tagged=r.tagged,
    )


def resolve_summaries(res: combine.Resolution) -> set[Ref]:
    return {summary(a) for a in res.outcomes}


INNER00 = (0b0100, 0b1000, 0b1100)

# The reference is docs/architecture.md's: FEAT_XS and FEAT_MTE2, and no FEAT_MTE_PERM (which gives stage-2
# MemAttr 0b0100 a meaning of its own, checked in test_mte_perm_* below).
REF_CPU = ALL.with_(name="reference", mte_perm=False)


def ref_reserved(memattr: int, *, fwb: bool, cd: bool, eff_at_s1: bool) -> set[Ref]:
    """A reserved S1 byte stands for an UNKNOWN allocated one: every defined byte's results."""
    out: set[Ref] = set()
    for byte in DEFINED_S1:
        out |= ref_resolve(byte, memattr, fwb=fwb, cd=cd, eff_at_s1=eff_at_s1) or set()
    return out


# --- the whole space -------------------------------------------------------------------------------
# docs/architecture.md#stage-2-memattr-with-fwb, docs/architecture.md#combining-stage-1-and-stage-2,
# docs/architecture.md#register-controls


@pytest.mark.parametrize("eff_at_s1", [True, False], ids=["s1eff", "s1desc"])
@pytest.mark.parametrize("cd", [False, True], ids=["cd0", "cd1"])
@pytest.mark.parametrize("fwb", [False, True], ids=["fwb0", "fwb1"])
@pytest.mark.parametrize("s2", range(16), ids=lambda m: f"s2_{m:04b}")
def test_resolve_matches_reference(s2: int, fwb: bool, cd: bool, eff_at_s1: bool) -> None:
    """Every S1 byte x this S2 MemAttr resolves to the reference's permitted set
    (docs/architecture.md#stage-2-memattr-with-fwb, docs/architecture.md#combining-stage-1-and-stage-2,
    docs/architecture.md#register-controls)."""
    controls = Controls(fwb=fwb, cd=cd)
    imp = ImpDef(apply_effective_shareability_at_s1=eff_at_s1)
    bad = []
    union = ref_reserved(s2, fwb=fwb, cd=cd, eff_at_s1=eff_at_s1)
    for byte in range(256):
        expected = ref_resolve(byte, s2, fwb=fwb, cd=cd, eff_at_s1=eff_at_s1)
        res = combine.resolve(byte, s2, sh1=0b11, sh2=0b11, controls=controls, imp=imp,
                              cpu=REF_CPU)
        got = resolve_summaries(res)
        if expected is None:
            # S1DecodeMemAttrs: ConstrainUnpredictableBits(Unpredictable_RESMAIR, 8).
            if got != union or "UNKNOWN allocated" not in (res.reserved or ""):
                bad.append((f"0x{byte:02X}", "reserved S1 byte", len(got), res.reserved))
            continue
        if res.faults or got != expected or len(res.outcomes) != len(expected):
            bad.append((f"0x{byte:02X}", sorted(expected), sorted(got), res.faults))
            continue
        if not fwb and s2 in INNER00:
            if not res.reserved:
                bad.append((f"0x{byte:02X}", "inner 00 is CONSTRAINED UNPREDICTABLE: note expected"))
        elif len(res.outcomes) != 1:
            bad.append((f"0x{byte:02X}", "defined input: exactly one outcome", res.outcomes))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


@pytest.mark.parametrize("s2", INNER00, ids=lambda m: f"s2_{m:04b}")
def test_inner00_has_three_outcomes_for_cacheable_s1(s2: int) -> None:
    """Without FWB, S2 inner field 00 over S1 Normal-WB gives inner NC, WT and WB
    (docs/architecture.md#stage-2-memattr-without-fwb)."""
    res = combine.resolve(0xFF, s2, controls=Controls(fwb=False), cpu=REF_CPU)
    assert len(res.outcomes) == 3
    assert {a.inner.cacheability for a in res.outcomes} == set(Cacheability)  # type: ignore[union-attr]
    assert "UNPREDICTABLE" in (res.reserved or "")


# --- per-rule functions ---------------------------------------------------------------------


@pytest.mark.parametrize(("s1", "s2"), list(itertools.product(DeviceType, repeat=2)),
                         ids=lambda d: d.name)
def test_s2_combine_s1_device(s1: DeviceType, s2: DeviceType) -> None:
    """Both stages Device: the more restrictive of each G/R/E bit
    (docs/architecture.md#combining-stage-1-and-stage-2, docs/review.md#stage-2-encodings)."""
    got = combine.s2_combine_s1_device(s1, s2)
    assert got.result.name == ref_more_restrictive(s1.name, s2.name)
    assert got.rule.value == "S2CombineS1Device" and got.branch == got.result.name


SH_TABLE = [
    ("NSH", "NSH", "NSH"), ("NSH", "ISH", "ISH"), ("NSH", "OSH", "OSH"),
    ("ISH", "NSH", "ISH"), ("ISH", "ISH", "ISH"), ("ISH", "OSH", "OSH"),
    ("OSH", "NSH", "OSH"), ("OSH", "ISH", "OSH"), ("OSH", "OSH", "OSH"),
]


@pytest.mark.parametrize(("s1", "s2", "expected"), SH_TABLE)
def test_s2_combine_s1_shareability(s1: str, s2: str, expected: str) -> None:
    """Shareability: OSH if either stage is OSH, else ISH if either is ISH, else NSH
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    got = combine.s2_combine_s1_shareability(Shareability[s1], Shareability[s2])
    assert got.result is Shareability[expected]


ALL_LEVELS = sorted({ref_nibble(n) for n in range(1, 16)})


def test_all_levels_enumerated() -> None:
    """The 15 nibbles 0001..1111 give 15 distinct level attributes (docs/architecture.md#mair-attribute-bytes
    DecodeLDFAttr)."""
    assert len(ALL_LEVELS) == 15


@pytest.mark.parametrize("s1", ALL_LEVELS, ids=str)
def test_s2_combine_s1_attr_hints(s1: Level) -> None:
    """Per level: NC if either NC, else WT if either WT, else WB; hints from S1
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    for s2 in ALL_LEVELS:
        got = combine.s2_combine_s1_attr_hints(cache_attrs(s1), cache_attrs(s2))
        assert level_of(got.result) == ref_level(s1, s2), (s1, s2)
        assert got.branch == ref_level(s1, s2)[0].lower()


@pytest.mark.parametrize("sh", list(Shareability), ids=lambda s: s.value)
def test_effective_shareability(sh: Shareability) -> None:
    """Device and Normal iNC/oNC are OSH; other Normal keeps its shareability
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    for dt in DeviceType:
        a = MemoryAttributes(MemType.Device, device=dt, shareability=sh)
        assert combine.effective_shareability(a).result is Shareability.OSH
    for inner, outer in itertools.product(ALL_LEVELS, repeat=2):
        a = MemoryAttributes(MemType.Normal, inner=cache_attrs(inner), outer=cache_attrs(outer),
                             shareability=sh)
        expected = Shareability.OSH if inner[0] == outer[0] == "NC" else sh
        assert combine.effective_shareability(a).result is expected, (inner, outer)


DEFINED_S1 = [b for b in range(256) if ref_mair(b) is not None]


@pytest.mark.parametrize("fnxs", [False, True], ids=["fnxs0", "fnxs1"])
@pytest.mark.parametrize("memattr", range(16), ids=lambda m: f"m{m:04b}")
def test_aarch64_s2_apply_fwb_mem_attrs(memattr: int, fnxs: bool) -> None:
    """FWB MemAttr applied to every S1 type and SH gives the docs/architecture.md#stage-2-memattr-with-fwb
    table's result."""
    bad = []
    for byte, s1_sh, sh2 in itertools.product(DEFINED_S1, SH_RANK, SH_RANK):
        s1 = ref_s1(byte, s1_sh, eff_at_s1=False)
        assert s1 is not None
        chain = combine.aarch64_s2_apply_fwb_mem_attrs(to_attrs(s1), memattr, Shareability[sh2],
                                                       fnxs)
        got = chain[-1].result
        expected = ref_fwb(s1, memattr, sh2, fnxs)
        if summary(got) != expected:
            bad.append((f"0x{byte:02X}", s1_sh, sh2, expected, summary(got)))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


@pytest.mark.parametrize("memattr", range(8), ids=lambda m: f"m{m:03b}")
def test_fwb_memattr3_is_ignored_for_the_type(memattr: int) -> None:
    """With FWB, MemAttr[3] does not change the resulting type (docs/architecture.md#stage-2-memattr-with-fwb:
    ASL94 ignores it)."""
    for byte in DEFINED_S1:
        s1 = to_attrs(ref_s1(byte))  # type: ignore[arg-type]
        lo = combine.aarch64_s2_apply_fwb_mem_attrs(s1, memattr, cpu=REF_CPU)[-1].result
        hi = combine.aarch64_s2_apply_fwb_mem_attrs(s1, memattr | 0b1000, cpu=REF_CPU)[-1].result
        assert summary(lo) == summary(hi), hex(byte)


# --- Linux table (docs/review.md#stage-2-encodings) -----------------------------------------------

# Guest S1 byte -> (effective type under S2 Device-nGnRE, under S2 Normal-NC).
LINUX_TABLE = {
    0x00: ("Device-nGnRnE", "Device-nGnRnE"),
    0x04: ("Device-nGnRE", "Device-nGnRE"),
    0x08: ("Device-nGnRE", "Device-nGRE"),
    0x0C: ("Device-nGnRE", "Device-GRE"),
    0x44: ("Device-nGnRE", "Normal-NC"),
    0xBB: ("Device-nGnRE", "Normal-NC"),
    0xFF: ("Device-nGnRE", "Normal-NC"),
}
# Linux S2 encodings (docs/review.md#stage2_set_prot_attr): DEVICE 0b0001 / 0b001, NORMAL_NC 0b0101 / 0b101.
LINUX_S2 = {("device", False): 0b0001, ("device", True): 0b001,
            ("nc", False): 0b0101, ("nc", True): 0b101}


def type_name(r: Ref) -> str:
    if r.memtype == "Device":
        return f"Device-{r.device}"
    i, o = r.inner[0], r.outer[0]  # type: ignore[index]
    return f"Normal-{i}" if i == o else f"Normal-i{i}-o{o}"


@pytest.mark.parametrize("fwb", [False, True], ids=["fwb0", "fwb1"])
@pytest.mark.parametrize("s2kind", ["device", "nc"])
@pytest.mark.parametrize("s1", sorted(LINUX_TABLE), ids=lambda b: f"0x{b:02X}")
def test_linux_table(s1: int, s2kind: str, fwb: bool) -> None:
    """The guest's effective type for a passthrough BAR is the one docs/review.md#stage-2-encodings
    gives, OSH, with or without FWB."""
    expected = LINUX_TABLE[s1][0 if s2kind == "device" else 1]
    res = combine.resolve(s1, LINUX_S2[(s2kind, fwb)], controls=Controls(fwb=fwb))
    got = res.single
    assert type_name(summary(got)) == expected
    assert got.shareability is Shareability.OSH  # docs/review.md#stage-2-encodings: every row is OSH


# --- ASL94 vs QEMU (docs/architecture.md#where-qemu-differs): we follow ASL94 ---------------------

ASL_VS_QEMU = [
    # (S1 byte, S2 MemAttr, FWB, CD, expected type, note)
    (0x00, 0b001, True, False, "Device-nGnRnE", "s14.1 FWB Device over S1 Device: more restrictive"),
    (0x04, 0b000, True, False, "Device-nGnRnE", "s14.1 S2 nGnRnE is the more restrictive"),
    (0x0C, 0b010, True, False, "Device-nGRE", "s14.1 FWB: min(GRE, nGRE)"),
    (0x08, 0b0101, False, False, "Device-nGRE", "s14.2 S1 nGRE over S2 NC stays nGRE"),
    (0x0C, 0b0101, False, False, "Device-GRE", "s14.2 S1 GRE over S2 NC stays GRE"),
    (0x0C, 0b1000 | 0b10, False, False, "Device-GRE", "s14.2 S1 GRE over S2 oWT/iWT"),
    (0xFF, 0b111, True, True, "Normal-NC", "s14.4 CD=1 with FWB makes Normal NC"),
    (0xFF, 0b110, True, True, "Normal-NC", "s14.4 CD=1 with FWB makes forced WB NC"),
    (0x09, 0b1111, False, False, "Device-nGRE", "s14.5 FEAT_XS 0x09 is nGRE with XS=0"),
    (0x40, 0b1111, False, False, "Normal-NC", "s14.5 0x40 is NC/NC"),
    (0xA0, 0b1111, False, False, "Normal-WT", "s14.5 0xA0 is WT/WT"),
    (0xFF, 0b100, True, False, "Normal-NC", "s14.6 FWB 0b100 behaves as 0b101"),
    (0x04, 0b100, True, False, "Device-nGnRE", "s14.6 FWB 0b100 over S1 Device keeps S1"),
    (0xFF, 0b1101, True, False, "Normal-NC", "s14.6 FWB MemAttr[3] ignored: 0b1101 is 0b101"),
    (0xFF, 0b1001, True, False, "Device-nGnRE", "s14.6 FWB MemAttr[3] ignored: 0b1001 is 0b001"),
]


@pytest.mark.parametrize(("s1", "s2", "fwb", "cd", "expected", "note"), ASL_VS_QEMU,
                         ids=[row[5] for row in ASL_VS_QEMU])
def test_asl94_where_qemu_differs(s1: int, s2: int, fwb: bool, cd: bool, expected: str,
                                  note: str) -> None:
    """Where QEMU differs from ASL94 (docs/architecture.md#where-qemu-differs) the result follows ASL94."""
    got = combine.resolve(s1, s2, controls=Controls(fwb=fwb, cd=cd)).single
    assert type_name(summary(got)) == expected, note
    if got.is_device or got.is_nc:
        assert got.shareability is Shareability.OSH  # s14.5: 0x40 must force OSH too


def test_transient_hint_kept_when_s2_wt_downgrades() -> None:
    """S1 WB-transient over S2 WT gives WT keeping S1's RWA and transient flag
    (docs/architecture.md#combining-stage-1-and-stage-2, docs/architecture.md#where-qemu-differs)."""
    got = combine.resolve(0x77, 0b1010, controls=Controls(fwb=False)).single
    assert level_of(got.inner) == ("WT", True, True, True)
    assert level_of(got.outer) == ("WT", True, True, True)


def test_fwb_device_xs_comes_from_s1() -> None:
    """FWB Device: XS is S1's, so an S1 FEAT_XS Device byte keeps XS = 0
    (docs/architecture.md#stage-2-memattr-with-fwb)."""
    assert combine.resolve(0x05, 0b001, controls=Controls(fwb=True)).single.xs is False
    assert combine.resolve(0x04, 0b001, controls=Controls(fwb=True)).single.xs is True


def test_fnxs_forces_xs_zero() -> None:
    """S2 FnXS = 1 makes XS 0 with and without FWB (docs/architecture.md#stage-2-descriptor,
    docs/architecture.md#stage-2-memattr-with-fwb, docs/architecture.md#combining-stage-1-and-stage-2)."""
    for fwb, s2 in ((False, 0b0001), (False, 0b0101), (True, 0b001), (True, 0b101)):
        for s1 in (0x04, 0x44, 0xBB):
            got = combine.resolve(s1, s2, fnxs=True, controls=Controls(fwb=fwb)).single
            assert got.xs is False, (fwb, s2, hex(s1))


# --- controls (docs/architecture.md#register-controls) --------------------------------------------

LINUX_IO_S2 = [(False, 0b0001), (True, 0b001), (False, 0b0101), (True, 0b101)]


@pytest.mark.parametrize("access", [Access.READ, Access.WRITE], ids=lambda a: a.value)
@pytest.mark.parametrize(("fwb", "s2"), LINUX_IO_S2, ids=lambda v: str(v))
@pytest.mark.parametrize("s1", [0x00, 0x44, 0xFF, 0x02], ids=lambda b: f"0x{b:02X}")
def test_guest_mmu_off_data_is_device_nGnRnE(s1: int, fwb: bool, s2: int, access: Access) -> None:
    """SCTLR_EL1.M = 0: data accesses are Device-nGnRnE OSH over Linux's S2 types (s6, scen. 6)."""
    got = combine.resolve(s1, s2, controls=Controls(fwb=fwb, m=False), access=access).single
    assert (got.memtype, got.device) == (MemType.Device, DeviceType.nGnRnE)
    assert got.shareability is Shareability.OSH


def test_guest_mmu_off_over_s2_normal() -> None:
    """MMU off over S2 Normal: S1 Device wins without FWB, FWB 0b110 forces WB
    (docs/architecture.md#stage-2-memattr-with-fwb, docs/architecture.md#combining-stage-1-and-stage-2,
    docs/architecture.md#register-controls)."""
    nofwb = combine.resolve(0xFF, 0b1111, controls=Controls(fwb=False, m=False)).single
    assert summary(nofwb) == Ref("Device", "nGnRnE", None, None, "OSH", True, False)
    fwb = combine.resolve(0xFF, 0b110, controls=Controls(fwb=True, m=False)).single
    assert summary(fwb) == Ref("Normal", None, WB_RWA, WB_RWA, "OSH", False, False)


@pytest.mark.parametrize("m", [False, True], ids=["m0", "m1"])
@pytest.mark.parametrize("vm", [False, True], ids=["vm0", "vm1"])
@pytest.mark.parametrize(("fwb", "s2"), [(False, 0b1111), (True, 0b110), (True, 0b111)],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("s1", [0x00, 0x44, 0x02], ids=lambda b: f"0x{b:02X}")
def test_hcr_dc_gives_normal_wb(s1: int, fwb: bool, s2: int, vm: bool, m: bool) -> None:
    """HCR_EL2.DC = 1: stage 1 is off and Normal WB RWA; stage 2 still applies
    (docs/architecture.md#register-controls)."""
    got = combine.resolve(s1, s2, controls=Controls(fwb=fwb, dc=True, vm=vm, m=m)).single
    # S1 NSH combined with S2 ISH gives ISH; WB/WB gives XS 0; untagged without HCR_EL2.DCT.
    assert summary(got) == Ref("Normal", None, WB_RWA, WB_RWA, "ISH", False, False)


def test_hcr_dc_with_s2_device() -> None:
    """HCR_EL2.DC = 1 over S2 Device-nGnRE gives Device-nGnRE: stage 2 is on
    (docs/architecture.md#combining-stage-1-and-stage-2, docs/architecture.md#register-controls)."""
    for fwb, s2 in ((False, 0b0001), (True, 0b001)):
        got = combine.resolve(0xFF, s2, controls=Controls(fwb=fwb, dc=True, vm=False)).single
        assert (got.device, got.shareability) == (DeviceType.nGnRE, Shareability.OSH)


def test_hcr_dc_dct_tagged() -> None:
    """HCR_EL2.DC = 1 with DCT = 1 gives Tagged Normal WB over S2 WB
    (docs/architecture.md#combining-stage-1-and-stage-2, docs/architecture.md#register-controls)."""
    got = combine.resolve(0x00, 0b1111, controls=Controls(dc=True, dct=True)).single
    assert got.tagged is True and got.is_wb


@pytest.mark.parametrize(("s1", "s2", "expected"), [
    (0x44, 0b0001, Ref("Normal", None, NC, NC, "OSH", True, False)),
    (0x04, 0b1111, Ref("Device", "nGnRE", None, None, "OSH", True, False)),
    (0xFF, 0b0101, Ref("Normal", None, WB_RWA, WB_RWA, "ISH", False, False)),
], ids=["nc-over-dev", "dev-over-wb", "wb-over-nc"])
def test_stage2_off_uses_stage1_only(s1: int, s2: int, expected: Ref) -> None:
    """HCR_EL2.VM = 0 and DC = 0: the result is stage 1's attributes alone
    (docs/architecture.md#register-controls)."""
    for fwb in (False, True):
        got = combine.resolve(s1, s2, controls=Controls(vm=False, dc=False, fwb=fwb)).single
        assert summary(got) == expected


@pytest.mark.parametrize(("fwb", "s2"), [(False, 0b1111), (False, 0b0101), (True, 0b111),
                                         (True, 0b101)], ids=lambda v: str(v))
@pytest.mark.parametrize("s1", [0x00, 0x04, 0x08, 0x0C, 0x0D], ids=lambda b: f"0x{b:02X}")
def test_ifetch_from_s1_device(s1: int, fwb: bool, s2: int) -> None:
    """Instruction fetch from S1 Device: a Permission fault or Normal NC (s6, s7 INSTRDEVICE)."""
    res = combine.resolve(s1, s2, controls=Controls(fwb=fwb), access=Access.IFETCH)
    assert res.faults, "the Permission fault must be a permitted outcome"
    assert res.outcomes and all(a.is_nc for a in res.outcomes)
    assert all(a.shareability is Shareability.OSH for a in res.outcomes)


def test_ifetch_from_s1_normal_no_fault() -> None:
    """Instruction fetch from S1 Normal WB over S2 WB is Normal WB with no fault
    (docs/architecture.md#register-controls)."""
    for fwb, s2 in ((False, 0b1111), (True, 0b110)):
        res = combine.resolve(0xFF, s2, controls=Controls(fwb=fwb), access=Access.IFETCH)
        assert not res.faults
        assert res.single.is_wb


def test_ifetch_with_sctlr_i0_is_nc() -> None:
    """SCTLR_EL1.I = 0: instruction fetches use Normal NC (docs/architecture.md#register-controls)."""
    res = combine.resolve(0xFF, 0b1111, controls=Controls(i=False), access=Access.IFETCH)
    assert res.single.is_nc


@pytest.mark.parametrize(("fwb", "s2"), [(False, 0b0001), (True, 0b001), (False, 0b0000)],
                         ids=lambda v: str(v))
def test_ifetch_to_s2_device_is_nc(fwb: bool, s2: int) -> None:
    """Instruction fetch from an S2 Device location: S2 treated as Normal NC
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    res = combine.resolve(0xFF, s2, controls=Controls(fwb=fwb), access=Access.IFETCH)
    assert res.outcomes and all(a.is_nc for a in res.outcomes)


def test_ifetch_with_hcr_id_is_nc() -> None:
    """HCR_EL2.ID = 1 makes a Normal S2 Normal NC for instruction fetches
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    res = combine.resolve(0xFF, 0b1111, controls=Controls(id=True), access=Access.IFETCH)
    assert res.single.is_nc


def test_mmu_off_ifetch() -> None:
    """SCTLR_EL1.M = 0 fetches: Normal WT-RA non-transient with I = 1, else Normal NC (s6)."""
    on = combine.resolve(0x00, 0b1111, controls=Controls(m=False, i=True), access=Access.IFETCH)
    assert (level_of(on.single.inner), level_of(on.single.outer)) == (WT_RA, WT_RA)
    off = combine.resolve(0x00, 0b1111, controls=Controls(m=False, i=False), access=Access.IFETCH)
    assert off.single.is_nc and off.single.shareability is Shareability.OSH


def test_sctlr_c0_data_normal_becomes_nc() -> None:
    """SCTLR_EL1.C = 0: Normal stage-1 data accesses are Normal NC; Device is unchanged (s6)."""
    assert combine.resolve(0xFF, 0b1111, controls=Controls(c=False)).single.is_nc
    dev = combine.resolve(0x04, 0b1111, controls=Controls(c=False)).single
    assert dev.device is DeviceType.nGnRE


@pytest.mark.parametrize(("fwb", "s2"), [(False, 0b0001), (True, 0b001)], ids=["fwb0", "fwb1"])
def test_s1_walk_to_s2_device(fwb: bool, s2: int) -> None:
    """A stage-1 walk to S2 Device: NC with HCR_EL2.PTW = 0, a fault with PTW = 1
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    res = combine.resolve(0xFF, s2, controls=Controls(fwb=fwb, ptw=False), access=Access.TTW)
    assert not res.faults
    assert res.single.is_nc
    res1 = combine.resolve(0xFF, s2, controls=Controls(fwb=fwb, ptw=True), access=Access.TTW)
    assert res1.faults and not res1.outcomes


@pytest.mark.parametrize(("fwb", "s2"), [(False, 0b1111), (True, 0b110), (True, 0b111),
                                         (False, 0b1010), (False, 0b0101)], ids=lambda v: str(v))
def test_hcr_cd_normal_results_become_nc(fwb: bool, s2: int) -> None:
    """HCR_EL2.CD = 1: every Normal data result is Normal NC, Device is unchanged (s4, s5)."""
    for byte in DEFINED_S1:
        got = combine.resolve(byte, s2, controls=Controls(fwb=fwb, cd=True)).single
        s1 = ref_mair(byte)
        assert s1 is not None
        if s1[0] == "Device" and not (fwb and s2 == 0b110):
            assert got.is_device, hex(byte)
        else:
            assert got.is_nc and got.shareability is Shareability.OSH, hex(byte)
            assert got.tagged is False


def test_hcr_cd_does_not_affect_ifetch() -> None:
    """HCR_EL2.CD applies to data accesses only (docs/architecture.md#stage-2-memattr-with-fwb,
    docs/architecture.md#combining-stage-1-and-stage-2)."""
    res = combine.resolve(0xFF, 0b1111, controls=Controls(cd=True), access=Access.IFETCH)
    assert res.single.is_wb


# --- stage-2 MemAttr decoding ---------------------------------------------------------------------
# docs/architecture.md#stage-2-memattr-without-fwb, docs/architecture.md#stage-2-memattr-with-fwb,
# docs/linux-versions.md#stage-2-memattr-encodings


@pytest.mark.parametrize("fnxs", [False, True], ids=["fnxs0", "fnxs1"])
@pytest.mark.parametrize("memattr", range(16), ids=lambda m: f"m{m:04b}")
def test_s2_decode_mem_attrs(memattr: int, fnxs: bool) -> None:
    """Without FWB, MemAttr decodes to the docs/architecture.md#stage-2-memattr-without-fwb type(s), XS = NOT
    FnXS, no hints."""
    got = s2memattr.s2_decode_mem_attrs(memattr, Shareability.ISH, fnxs, REF_CPU)

    def key(r: Ref) -> tuple:
        return (r.memtype, r.device, r.inner, r.outer, r.xs)

    expected = {key(r) for r in ref_s2_nofwb(memattr, "ISH", not fnxs)}
    assert {key(summary(a)) for a in got.outcomes} == expected
    assert len(got.outcomes) == len(expected)
    assert (got.reserved is not None) == (memattr in INNER00)


# docs/architecture.md#stage-2-memattr-with-fwb: MemAttr[2:0] -> rule; 0b100 falls into the 0b101 branch;
# MemAttr[3] ignored.
FWB_RULES = {0b000: ("DEVICE", "nGnRnE"), 0b001: ("DEVICE", "nGnRE"), 0b010: ("DEVICE", "nGRE"),
             0b011: ("DEVICE", "GRE"), 0b100: ("NC_OR_S1_DEVICE", None),
             0b101: ("NC_OR_S1_DEVICE", None), 0b110: ("FORCE_WB", None), 0b111: ("AS_S1", None)}


@pytest.mark.parametrize("memattr", range(16), ids=lambda m: f"m{m:04b}")
def test_fwb_meaning(memattr: int) -> None:
    """With FWB, MemAttr[2:0] selects the docs/architecture.md#stage-2-memattr-with-fwb rule; 0b100 and
    MemAttr[3] are noted."""
    got = s2memattr.fwb_meaning(memattr, REF_CPU).result
    rule, dev = FWB_RULES[memattr & 0b111]
    assert got.rule.name == rule
    assert (got.device.name if got.device is not None else None) == dev
    assert (got.reserved is not None) == (memattr & 0b111 == 0b100 or memattr & 0b1000 != 0)


def test_linux_s2_constants() -> None:
    """Linux's MT_S2_* and MT_S2_FWB_* values (docs/linux-versions.md#stage-2-memattr-encodings,
    docs/review.md#stage2_set_prot_attr)."""
    from memattr.linux.asm.memory import S2_MEMATTRS  # the kernel's constants live in linux

    assert S2_MEMATTRS["DEVICE_nGnRE"] == (0x1, 0x1)
    assert S2_MEMATTRS["NORMAL_NC"] == (0x5, 0x5)
    assert S2_MEMATTRS["NORMAL"] == (0xF, 0x6)
    assert S2_MEMATTRS["AS_S1"] == (0xF, 0x7)


@pytest.mark.parametrize(("byte", "cpu"), [(0x05, ALL.with_(xs=False)),
                                           (0xF0, ALL.with_(mte2=False, mte_perm=False))],
                         ids=["0x05-no-xs", "0xF0-no-mte2"])
def test_features_reach_stage1_decode(byte: int, cpu: object) -> None:
    """resolve() decodes S1 with the CPU's features: 0x05 is reserved without FEAT_XS, 0xF0
    without FEAT_MTE2, and a reserved byte permits what any allocated byte gives (s1)."""
    res = combine.resolve(byte, 0b1111, cpu=cpu)  # type: ignore[arg-type]
    assert res.reserved and "UNKNOWN allocated" in res.reserved
    allocated = mair.allocated_bytes(cpu)  # type: ignore[arg-type]
    # 20 bytes are reserved always; FEAT_XS allocates 0x01/05/09/0D, 0x40, 0xA0; FEAT_MTE2 0xF0.
    assert byte not in allocated and len(allocated) == (230 if byte == 0x05 else 235)
    expected = {a for b in allocated
                for a in combine.resolve(b, 0b1111, cpu=cpu).outcomes}  # type: ignore[arg-type]
    assert set(res.outcomes) == expected
    assert combine.resolve(byte, 0b1111).single  # allocated with every feature


# --- the remaining public rules -------------------------------------------------------------


@pytest.mark.parametrize("fwb", [False, True], ids=["fwb0", "fwb1"])
def test_combine_function_matches_reference(fwb: bool) -> None:
    """combine() of decoded S1 attributes with an S2 MemAttr gives the reference set (s3-s5)."""
    bad = []
    for byte, memattr in itertools.product(DEFINED_S1, range(16)):
        s1 = ref_s1(byte)
        assert s1 is not None
        got = {summary(a) for a in combine.combine(to_attrs(s1), memattr, fwb=fwb, cpu=REF_CPU)}
        if fwb:
            expected = {ref_fwb(s1, memattr)}
        else:
            expected = {ref_combine_nofwb(s1, s2) for s2 in ref_s2_nofwb(memattr)}
        if got != expected:
            bad.append((f"0x{byte:02X}", memattr, sorted(expected), sorted(got)))
    assert not bad, f"{len(bad)} mismatches, first: {bad[:3]}"


@pytest.mark.parametrize(("sh", "expected"), [
    (0b00, {"NSH"}), (0b10, {"OSH"}), (0b11, {"ISH"}), (0b01, {"NSH", "ISH", "OSH"}),
])
def test_decode_shareability(sh: int, expected: set[str]) -> None:
    """SH 00 NSH, 10 OSH, 11 ISH; 01 is CONSTRAINED UNPREDICTABLE among all three
    (docs/architecture.md#shareability-field)."""
    assert {s.value for s in combine.decode_shareability(sh)} == expected


def test_s1_disabled_output() -> None:
    """Stage 1 off: DC gives Normal WB NSH XS 0, fetches WT-RA or NC, data nGnRnE OSH (s6)."""
    def out(access: Access, controls: Controls) -> MemoryAttributes:
        return combine.s1_disabled_output(access, controls).result  # type: ignore[no-any-return]

    dc = out(Access.READ, Controls(dc=True))
    assert summary(dc) == Ref("Normal", None, WB_RWA, WB_RWA, "NSH", False, False)
    dct = out(Access.READ, Controls(dc=True, dct=True))
    assert dct.tagged is True
    data = out(Access.WRITE, Controls(m=False))
    assert (data.device, data.shareability) == (DeviceType.nGnRnE, Shareability.OSH)
    fetch = out(Access.IFETCH, Controls(m=False, i=True))
    assert (level_of(fetch.inner), level_of(fetch.outer)) == (WT_RA, WT_RA)
    nc = out(Access.IFETCH, Controls(m=False, i=False))
    assert nc.is_nc and nc.shareability is Shareability.OSH


@pytest.mark.parametrize("s1_tagged", [False, True], ids=["s1untagged", "s1tagged"])
def test_s2_mem_tag_type(s1_tagged: bool) -> None:
    """Tagged only if S1 is tagged and the result is Normal WB RWA non-transient
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    for inner, outer in itertools.product(ALL_LEVELS, repeat=2):
        a = MemoryAttributes(MemType.Normal, inner=cache_attrs(inner), outer=cache_attrs(outer))
        expected = s1_tagged and inner == WB_RWA and outer == WB_RWA
        assert combine.s2_mem_tag_type(a, s1_tagged).result is expected, (inner, outer)
        assert combine.s2_mem_tag_type(a, s1_tagged, NO_MTE).result is False
    for dt in DeviceType:
        dev = MemoryAttributes(MemType.Device, device=dt)
        assert combine.s2_mem_tag_type(dev, s1_tagged).result is False


NO_MTE = ALL.with_(name="no-mte", mte2=False, mte_perm=False)


def test_normal_nc_mem_attr() -> None:
    """NormalNCMemAttr is Normal iNC/oNC, OSH, untagged, with the given XS
    (docs/architecture.md#combining-stage-1-and-stage-2)."""
    for xs in (False, True):
        assert summary(combine.normal_nc_mem_attr(xs)) == Ref("Normal", None, NC, NC, "OSH", xs, False)


@pytest.mark.parametrize(
    ("s1", "s2", "sh1", "sh2", "field"),
    [
        (0x100, 0, 0b11, 0b11, "S1 MAIR attribute=0x100"),  # packed with SH: aliases 0x00, SH 0b01
        (0x1FF, 0, 0b11, 0b11, "S1 MAIR attribute=0x1ff"),
        (0x44, 0x10, 0b11, 0b11, "S2 MemAttr=0x10"),  # packed with SH2: aliases 0x0, SH 0b01
        (0x44, 0x5, 0b11, 0b100, "SH2=0x4"),  # packed with FnXS
        (0x44, 0x5, 0b100, 0b11, "SH1=0x4"),
    ],
)
def test_out_of_range_inputs_raise_after_in_range_ones(s1: int, s2: int, sh1: int, sh2: int,
                                                       field: str) -> None:
    """A value wider than its field raises EncodingError even when the in-range input its bits
    would alias was resolved before (the stage memos are keyed by packed fields)."""
    for a in (0x00, 0x44, 0xFF):
        for b in range(16):
            for sh in (0, 1, 2, 3):
                combine.resolve(a, b, sh1=sh, sh2=sh)
                combine.resolve(a, b, sh1=sh, sh2=sh, fnxs=True)
    with pytest.raises(EncodingError, match=field):
        combine.resolve(s1, s2, sh1=sh1, sh2=sh2)

"""Access kinds end to end (memattr.analysis.access): the architecture's outcome for each
effective type and access kind (a table written from the rules), and what the Linux model, KVM and
the bus make of them."""

from __future__ import annotations

import pytest

from memattr.analysis.access import (
    ACCESS_KINDS,
    DEFAULT_ACCESSES,
    access_kind,
    arch_outcome,
    evaluate_access,
)
from memattr.arch.instr import Outcome
from memattr.arch.memtype import (
    DEVICE_GRE,
    NORMAL_NC,
    NORMAL_WB,
    DEVICE_nGnRE,
    DEVICE_nGnRnE,
    DEVICE_nGRE,
)
from memattr.errors import ConfigError
from memattr.linux.kvm.features import HostFeatures
from memattr.linux.mmap import VfioPciBar
from memattr.linux.system import MemslotSpec
from memattr.platform.examples import example_platform

OK, A1 = Outcome.OK, Outcome.ALIGNMENT_S1
X1, X2, NA = Outcome.ABORT_S1, Outcome.ABORT_S2, Outcome.NOT_ATOMIC

TYPES = {"Device-nGnRnE": DEVICE_nGnRnE, "Device-nGnRE": DEVICE_nGnRE,
         "Device-nGRE": DEVICE_nGRE, "Device-GRE": DEVICE_GRE, "Normal-NC": NORMAL_NC,
         "Normal-WB": NORMAL_WB}

# The architecture's answer when both stages have the type (LD64B/ST64B locations and the
# exclusive/atomic support not known, so their sets are whole).  From the rules, not the code:
# B2.8.2 (an unaligned element to Device: Alignment fault, stage 1 checked first; ordinary
# accesses to Normal: performed), B2.8.2.1.2 (LD64B/ST64B: 64-byte aligned always; exclusives and
# atomics: performed on Write-Back, else IMPLEMENTATION DEFINED), C3.2.8 (LD64B/ST64B on Device or
# Normal iNC-oNC: the location may not support them: a stage-1 0x35 abort, or not single-copy
# atomic; on Write-Back: 0x35 at stage 1 or 2 by the PE's approach), ASL AccessType_DCZero (DC
# ZVA to Device: Alignment fault).
DEV, NC, WB = "device", "nc", "wb"
EXPECTED: dict[str, dict[str, frozenset[Outcome]]] = {
    "ldr4": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "str8": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "ldr8-unaligned": {DEV: {A1}, NC: {OK}, WB: {OK}},
    "str8-unaligned": {DEV: {A1}, NC: {OK}, WB: {OK}},
    "ldp16": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "stp16-unaligned": {DEV: {A1}, NC: {OK}, WB: {OK}},
    "str-q": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "str-q-unaligned": {DEV: {A1}, NC: {OK}, WB: {OK}},
    "ld1-16": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "st1-16-unaligned": {DEV: {A1}, NC: {OK}, WB: {OK}},
    "ld64b": {DEV: {OK, X1, NA}, NC: {OK, X1, NA}, WB: {X1, X2}},
    "st64b": {DEV: {OK, X1, NA}, NC: {OK, X1, NA}, WB: {X1, X2}},
    "st64b-unaligned": {DEV: {A1}, NC: {A1}, WB: {A1}},
    "ldxr8": {DEV: {OK, X1}, NC: {OK, X1}, WB: {OK}},
    "stxr8": {DEV: {OK, X1}, NC: {OK, X1}, WB: {OK}},
    "ldadd8": {DEV: {OK, X1}, NC: {OK, X1}, WB: {OK}},
    "dc-zva": {DEV: {A1}, NC: {OK}, WB: {OK}},
    "dc-civac": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "ifetch": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "memcpy-toio-64": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "ldrb": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "str4": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "ldr8": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "stp16": {DEV: {OK}, NC: {OK}, WB: {OK}},
    "ldr-q": {DEV: {OK}, NC: {OK}, WB: {OK}},
}


def test_the_table_covers_every_access_kind() -> None:
    """The expected table has a row for every access kind modelled, and the default matrix's
    kinds are among them."""
    assert set(EXPECTED) == {k.name for k in ACCESS_KINDS}
    assert set(DEFAULT_ACCESSES) <= set(EXPECTED)


@pytest.mark.parametrize("type_name", list(TYPES))
@pytest.mark.parametrize("kind", [k.name for k in ACCESS_KINDS])
def test_access_outcome_table(type_name: str, kind: str) -> None:
    """The architecture's outcome for each effective type and access kind (stage 1 and stage 2
    of that type) is the table's."""
    a = TYPES[type_name]
    cls = DEV if a.is_device else NC if a.is_nc else WB
    got = arch_outcome(access_kind(kind), (a,), (a,), (a,))
    assert got == EXPECTED[kind][cls], (type_name, kind, got)


def test_the_stage_that_faults_follows_the_walker_order() -> None:
    """Stage 1 Normal over stage 2 Device: an unaligned store faults at stage 2; DC ZVA too; an
    exclusive to Normal-WB over Device aborts at stage 2."""
    s1, s2 = (NORMAL_NC,), (DEVICE_nGnRE,)
    assert arch_outcome(access_kind("str8-unaligned"), s1, s2, s2) == {Outcome.ALIGNMENT_S2}
    assert arch_outcome(access_kind("dc-zva"), s1, s2, s2) == {Outcome.ALIGNMENT_S2}
    assert arch_outcome(access_kind("ldxr8"), (NORMAL_WB,), s2, s2) == {OK, X2}
    assert arch_outcome(access_kind("ldxr8"), (NORMAL_WB,), s2, s2,
                        atomics_supported=False) == {X2}


def test_access_kinds() -> None:
    """What the PE issues: LDP two elements, ST64B one 64-byte block, DC ZVA its block, DC CIVAC
    nothing, a memcpy_toio burst eight stores; unknown names are refused, listing the known."""
    assert [(p.address, p.size) for p in access_kind("stp16-unaligned").pieces(0x100)] == \
        [(0x104, 8), (0x10C, 8)]
    (b,) = access_kind("st64b").pieces(0x100)
    assert b.atomic64 and b.size == 64 and b.write
    assert [(p.address, p.size) for p in access_kind("dc-zva").pieces(0x1010)] == [(0x1000, 64)]
    assert access_kind("dc-civac").pieces(0) == ()
    assert len(access_kind("memcpy-toio-64").pieces(0)) == 8
    assert access_kind("stp16-unaligned").odd and access_kind("st64b").odd
    assert not access_kind("ldp16").unaligned and not access_kind("ldr4").odd
    with pytest.raises(ConfigError, match="unknown access kind.*ldr4"):
        access_kind("ldr3")


# --- end to end -----------------------------------------------------------------------------------

PLAT = example_platform()


def outcome(policy: str, guest: str, kind: str, *, fwb: bool = True) -> set[str]:
    o = evaluate_access(policy, HostFeatures(fwb=fwb, atomics_uncached=None), PLAT,
                        VfioPciBar("nic", 0), MemslotSpec(size=0x10000), guest, kind,
                        offset=0x1000)
    return {r.text for r in o.results}


@pytest.mark.parametrize("fwb", [False, True])
def test_unaligned_store_case_28(fwb: bool) -> None:
    """docs/review.md#case-28-unaligned-store: stage-2 Device under 6.8 with a guest Normal-NC
    mapping: a stage-2 Alignment fault, KVM_RUN -EFAULT; guest Device over 6.9's Normal-NC: a
    stage-1 fault the guest takes; both Normal-NC: one MemWr of 2 DW with full byte enables."""
    assert outcome("6.8", "ioremap_wc", "str8-unaligned", fwb=fwb) == {
        "alignment fault at stage 2; KVM_RUN -EFAULT (Unsupported FSC)"}
    assert outcome("6.9", "ioremap", "str8-unaligned", fwb=fwb) == {
        "alignment fault at stage 1; taken by the guest's EL1"}
    assert outcome("6.9", "ioremap_wc", "str8-unaligned", fwb=fwb) == {
        "completed as Normal-NC; PCIe: MemWr 2 DW, BE 0b1111/0b1111"}


def test_exclusives_are_a_set_and_kvm_reacts_per_release() -> None:
    """An LDADD through a guest Write-Back mapping of a Normal-NC BAR: performed (if the memory
    system supports atomics there) or a stage-2 0x35 abort, which KVM fails KVM_RUN with before
    7.0 and injects into the guest from 7.0 (2937aeec9dc5)."""
    done = "completed as Normal-NC; performed by the memory system as an atomic transaction " \
        "(how it reaches the device is IMPLEMENTATION DEFINED)"
    fault = "unsupported exclusive or atomic access fault at stage 2"
    assert outcome("6.9", "memremap_wb", "ldadd8") == {
        done, f"{fault}; KVM_RUN -EFAULT (Unsupported FSC)"}
    assert outcome("7.0", "memremap_wb", "ldadd8") == {
        done, f"{fault}; data abort injected into the guest"}


def test_st64b_sets() -> None:
    """ST64B to Normal-NC: one 16-DW MemWr if the location supports it, else a stage-1 0x35
    abort or a store that is not single-copy atomic (C3.2.8); unaligned: a stage-1 Alignment
    fault."""
    tlp = "PCIe: MemWr 16 DW, BE 0b1111/0b1111"
    assert outcome("6.9", "ioremap_wc", "st64b") == {
        f"completed as Normal-NC; {tlp}",
        f"completed as Normal-NC, not single-copy atomic; {tlp}",
        "unsupported exclusive or atomic access fault at stage 1; taken by the guest's EL1"}
    assert outcome("6.9", "ioremap_wc", "st64b-unaligned") == {
        "alignment fault at stage 1; taken by the guest's EL1"}


def test_fetch_gather_and_maintenance() -> None:
    """An instruction fetch from the BAR is refused (-ENOEXEC, a prefetch abort); eight stores
    gather on Normal-NC, not on Device-nGnRE; DC CIVAC on Normal-NC reaches no device."""
    assert outcome("6.9", "ioremap_wc", "ifetch") == {
        "stage-2 fault; prefetch abort injected into the guest (-ENOEXEC)"}
    (nc,) = outcome("6.9", "ioremap_wc", "memcpy-toio-64")
    assert "8 x MemWr 2 DW" in nc and "gathering may merge them into MemWr 16 DW" in nc
    (dev,) = outcome("6.9", "ioremap", "memcpy-toio-64")
    assert "8 x MemWr 2 DW" in dev and "gathering" not in dev
    assert outcome("6.9", "ioremap_wc", "dc-civac") == {
        "completed as Normal-NC; no cached copy: no transaction reaches the device"}
    assert outcome("6.9", "ioremap", "dc-zva") == {
        "alignment fault at stage 1; taken by the guest's EL1"}

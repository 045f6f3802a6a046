"""Kernel decisions render from their records (report/kernel.py): every (rule, branch) the Linux
model produces has a template, and a phrase never contradicts the record's result."""

from __future__ import annotations

import itertools
from functools import cache

from memattr.arch.combine import Access
from memattr.linux import (
    AnonymousRam,
    DriverPfnmap,
    GicvInterface,
    HostFeatures,
    MemslotSpec,
    NvgraceRegion,
    PciSysfsResource,
    VfioPciBar,
    VfioPlatformRegion,
    evaluate,
)
from memattr.linux.decisions import KernelRule
from memattr.linux.kvm.abort import GuestAccess, InstrClass
from memattr.linux.kvm.memslot import KVM_MEM_LOG_DIRTY_PAGES
from memattr.linux.system import Evaluation
from memattr.platform.examples import example_platform
from memattr.report.kernel import TEMPLATES, kernel_story, kernel_why, render_decision

PLAT = example_platform()
SOURCES = [VfioPciBar("nic", 0), NvgraceRegion("gpu", "resmem", size=1 << 21),
           NvgraceRegion("gpu", "usemem", size=1 << 21), VfioPlatformRegion("dma-engine"),
           PciSysfsResource("nic", 0, wc=True), AnonymousRam(1 << 21),
           DriverPfnmap(0x80_0100_0000, 1 << 20), GicvInterface(), None]
ACCESSES = [GuestAccess.read(8), GuestAccess.fetch(),
            GuestAccess(Access.WRITE, 8, InstrClass.LDR_STR, aligned=False),
            GuestAccess(Access.WRITE, 16, InstrClass.LDP_STP)]


@cache
def _sweep() -> tuple[Evaluation, ...]:
    return tuple(_evaluations())


def _evaluations():  # type: ignore[no-untyped-def]
    for pol, src, fwb, acc in itertools.product(["5.10", "6.8", "6.9", "6.17", "v1", "v3"],
                                                SOURCES, (False, True), ACCESSES):
        slot = None if src is None or isinstance(src, GicvInterface) else MemslotSpec()
        yield evaluate(pol, HostFeatures(fwb=fwb, dic=False), PLAT, src, slot, "ioremap_wc",
                       access=acc)
    yield evaluate("6.9", HostFeatures(), PLAT, VfioPciBar("nic", 0),
                   MemslotSpec(flags=KVM_MEM_LOG_DIRTY_PAGES), "ioremap")


def test_every_kernel_branch_has_a_template() -> None:
    """No record the model produces falls back to the generic rendering."""
    missing = set()
    for ev in _sweep():
        for d in ev.decisions:
            if isinstance(d.rule, KernelRule) and (d.rule, d.branch) not in TEMPLATES:
                missing.add((d.rule.value, d.branch))
    assert not missing, sorted(missing)


def test_rendering_names_the_result() -> None:
    """An errno result appears in its phrase; the 'why' of a mapped BAR names the MemAttr."""
    for ev in _sweep():
        for d in ev.decisions:
            if isinstance(d.rule, KernelRule) and str(d.result).startswith("-E") and \
                    TEMPLATES.get((d.rule, d.branch)):
                assert str(d.result) in render_decision(d) or "ENOEXEC" in render_decision(d), d
    ev = evaluate("6.9", HostFeatures(), PLAT, VfioPciBar("nic", 0), MemslotSpec(), "ioremap_wc")
    assert "NORMAL_NC (MemAttr 0b0101)" in kernel_why(ev.decisions)
    assert any("VM_ALLOW_ANY_UNCACHED" in line for line in kernel_story(ev.decisions))

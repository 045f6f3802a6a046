"""What each kernel release does with the access behind a report: the Linux model asked, per
mapping source, instead of prose.

:func:`alignment_outlook` replays an unaligned guest access through a guest ``ioremap_wc``
(Normal-NC) mapping of each kind of memory a VMM can hand to KVM -- a vfio-pci BAR, a
vfio-platform region, a driver's PFN map (DRM/TTM, dma-buf: a virtio-gpu blob) of device memory
or of host RAM, sysfs ``resourceN`` / ``resourceN_wc``, ``/dev/mem`` -- under each merged
policy's release (:func:`memattr.linux.policy.policies`), the newest release modelled and the
report's own release, with and without FEAT_S2FWB (:func:`memattr.linux.system.evaluate` walks
the tables the guest and KVM wrote).  :func:`exec_outlook` does the same for an instruction
fetch, :func:`nisv_outlook` for an access KVM cannot decode (ISV=0) outside every memslot, and
:func:`user_mapping_outlook` says which host mmap paths give user space a Device mapping (where
an unaligned access faults at stage 1).  Every answer carries the kernel's decisions, rendered by
:func:`memattr.report.kernel.kernel_why`.

The devices are the example platform's (:func:`memattr.platform.examples.example_platform`):
the answers depend on the kind of memory and the mmap path, not on the device.
"""

from __future__ import annotations

from functools import lru_cache

from .._value import dataclass

TYPE_CHECKING = False  # importing typing costs start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

    from ..linux.mmap import MappingSource
    from ..linux.system import Evaluation
    from ..platform.physmap import Platform

__all__ = ["Cell", "Row", "Outlook", "checked_releases", "alignment_outlook", "exec_outlook",
           "nisv_outlook", "user_mapping_outlook"]

_SPAN = 0x1_0000  # bytes of each modelled mapping (a 64 KiB window is enough for one access)


@dataclass(frozen=True, slots=True)
class Cell:
    """One mapping source under one release.

    :param release: the kernel release.  :param faulted: the access ends in the fault asked
        about.  :param outcome: what happened, short.  :param why: the kernel's decisions.
    :param fwb_differs: FEAT_S2FWB changes the answer (``outcome`` is then both, no-FWB first).
    """

    release: str
    faulted: bool
    outcome: str
    why: str
    fwb_differs: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"release": self.release, "faulted": self.faulted, "outcome": self.outcome,
                "why": self.why, "fwb_differs": self.fwb_differs}


@dataclass(frozen=True, slots=True)
class Row:
    """One mapping source across the releases."""

    source: str
    cells: tuple[Cell, ...]

    @property
    def faulting(self) -> tuple[str, ...]:
        """The releases where the access faults."""
        return tuple(c.release for c in self.cells if c.faulted)

    @property
    def fixed_from(self) -> str | None:
        """The first release from which no later release checked faults, if an earlier one did."""
        last_fault = max((i for i, c in enumerate(self.cells) if c.faulted), default=None)
        if last_fault is None or last_fault + 1 >= len(self.cells):
            return None
        return self.cells[last_fault + 1].release

    def cell(self, release: str) -> Cell | None:
        """The cell of ``release``."""
        return next((c for c in self.cells if c.release == release), None)

    def verdict(self) -> str:
        """'faults on 6.8; no fault from 6.9 (6.9, 6.13, 6.17, 7.0)' and the like."""
        rels = [c.release for c in self.cells]
        faulting = self.faulting
        if not faulting:
            return f"no fault on any release checked ({', '.join(rels)})"
        if len(faulting) == len(rels):
            return f"faults on every release checked ({', '.join(rels)})"
        fixed = self.fixed_from
        if fixed is not None and all(c.faulted for c in self.cells[:rels.index(fixed)]):
            later = rels[rels.index(fixed):]
            return (f"faults on {', '.join(faulting)}; fixed from Linux {fixed} (no fault on "
                    f"{', '.join(later)})")
        return "faults on " + ", ".join(faulting) + "; not on " + ", ".join(
            r for r in rels if r not in faulting)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "verdict": self.verdict(), "fixed_from": self.fixed_from,
                "cells": [c.to_json() for c in self.cells]}


@dataclass(frozen=True, slots=True)
class Outlook:
    """The model's answer for one kind of access across mapping sources and releases.

    :param question: the access replayed, in words.  :param releases: the releases checked.
    :param rows: one per mapping source.  :param notes: further answers of the model (what a
        guest mapping the page Device gets, what a VMM capability changes).
    """

    question: str
    releases: tuple[str, ...]
    rows: tuple[Row, ...]
    notes: tuple[str, ...] = ()
    fault: str = ""  # how the fault comes about where it does (rule and KVM's handling)

    def row(self, source: str) -> Row | None:
        """The row whose source label starts with ``source``."""
        return next((r for r in self.rows if r.source.startswith(source)), None)

    def to_json(self) -> dict[str, Any]:
        return {"question": self.question, "releases": list(self.releases),
                "fault": self.fault, "rows": [r.to_json() for r in self.rows],
                "notes": list(self.notes)}


def checked_releases(release: str | None = None) -> tuple[str, ...]:
    """The releases an outlook replays: each merged policy's (6.8, 6.9, 6.17), the newest
    release modelled, and ``release`` (the report's), in order."""
    from ..linux.policy import policies
    from ..linux.version import NEWEST_MODELLED, KernelVersion

    found = {p.release for p in policies().values() if not p.what_if} | {NEWEST_MODELLED}
    if release is not None:
        found.add(KernelVersion.parse(release))
    return tuple(str(r) for r in sorted(found))


def _platform() -> Platform:
    from ..platform.examples import example_platform

    return example_platform()


def _sources(platform: Platform) -> list[tuple[str, MappingSource]]:
    """The kinds of memory a VMM can give KVM, each with the mmap path that makes its VMA."""
    from ..linux.mmap import (
        DevMem,
        DriverPfnmap,
        PciSysfsResource,
        VfioPciBar,
        VfioPlatformRegion,
    )
    from ..platform.examples import EXAMPLE_AMBA, EXAMPLE_NIC

    _rc, nic = platform.endpoint(EXAMPLE_NIC)
    bar = nic.bar(0).address
    ram = next(r.base for r in platform.ram if r.in_linear_map)
    return [
        ("vfio-pci BAR", VfioPciBar(EXAMPLE_NIC, 0)),
        ("vfio-platform region", VfioPlatformRegion(EXAMPLE_AMBA)),
        ("DRM/TTM or dma-buf PFN map of device memory (a virtio-gpu blob in VRAM)",
         DriverPfnmap(bar, _SPAN, "writecombine", name="PFNMAP of device memory")),
        ("DRM/TTM or dma-buf PFN map of host RAM (a virtio-gpu blob in system memory)",
         DriverPfnmap(ram, _SPAN, "writecombine", name="PFNMAP of host RAM")),
        ("sysfs resourceN", PciSysfsResource(EXAMPLE_NIC, 0)),
        ("sysfs resourceN_wc", PciSysfsResource(EXAMPLE_NIC, 0, wc=True)),
        ("/dev/mem", DevMem(bar, _SPAN)),
    ]


def _evaluate(release: str, fwb: bool, source: MappingSource | None, guest: str,
              access: Any, **kw: Any) -> Evaluation:
    from ..linux.kvm.features import HostFeatures
    from ..linux.system import MemslotSpec, evaluate

    slot = MemslotSpec() if source is not None else None
    return evaluate(release, HostFeatures(fwb=fwb), _platform(), source, slot, guest,
                    access=access, **kw)


def _cell(release: str, results: list[tuple[bool, str, str]]) -> Cell:
    """One cell from the (faulted, outcome, why) of each FWB setting."""
    faulted = any(r[0] for r in results)
    outcomes = [r[1] for r in results]
    differs = len(set(outcomes)) > 1
    outcome = " / ".join(outcomes) if differs else outcomes[0]
    return Cell(release, faulted, outcome, results[-1][2], differs)


def _why(e: Evaluation) -> str:
    """The kernel's decisions on the way to the stage-2 mapping (the fault's own handling is
    :func:`_fault_text`)."""
    from ..linux.decisions import KernelRule
    from ..report.kernel import kernel_why

    return kernel_why(d for d in e.decisions if d.rule is not KernelRule.kvm_handle_guest_abort)


def _fault_text(e: Evaluation) -> str:
    """The architecture rule that faulted and what KVM did with the fault."""
    from ..linux.decisions import KernelRule
    from ..report.kernel import render_decision

    parts = [e.alignment.rule] if e.alignment is not None and e.alignment.stage else []
    parts += [t for d in e.decisions if d.rule is KernelRule.kvm_handle_guest_abort
              for t in (render_decision(d),) if t]
    if e.errno is not None:
        parts.append(f"KVM_RUN returns {e.errno}")
    return "; ".join(parts)


def _alignment_result(e: Evaluation) -> tuple[bool, str, str]:
    why = _why(e)
    a = e.alignment
    if a is not None and a.stage == 2:
        errno = f", KVM_RUN {e.errno}" if e.errno is not None else ""
        return True, f"stage-2 {e.s2_kind}: alignment fault at stage 2, taken to EL2{errno}", why
    if a is not None and a.stage == 1:
        return False, "the guest takes an alignment fault at stage 1 (KVM not involved)", why
    eff = e.effective.short if e.effective is not None else "no single type"
    return False, f"stage-2 {e.s2_kind}: {eff}, no alignment fault", why


def _rows(releases: tuple[str, ...], sources: list[tuple[str, MappingSource]], guest: str,
          access: Any, result: Any) -> tuple[tuple[Row, ...], str]:
    """Each source under each release, with and without FWB; and the first fault's story."""
    rows = []
    fault = ""
    for label, source in sources:
        cells = []
        for rel in releases:
            results = []
            for fwb in (False, True):
                e = _evaluate(rel, fwb, source, guest, access)
                results.append(result(e))
                if not fault and results[-1][0]:
                    fault = _fault_text(e)
            cells.append(_cell(rel, results))
        rows.append(Row(label, tuple(cells)))
    return tuple(rows), fault


@lru_cache(maxsize=16)
def alignment_outlook(write: bool, size: int, releases: tuple[str, ...]) -> Outlook:
    """An unaligned guest access through ``ioremap_wc``, per mapping source and release.

    :param write: a store (WnR=1) rather than a load.  :param size: bytes accessed.
    :param releases: the releases to replay (:func:`checked_releases`).
    """
    from ..arch.combine import Access
    from ..linux.kvm.abort import GuestAccess

    access = GuestAccess(Access.WRITE if write else Access.READ, size, aligned=False)
    rows, fault = _rows(releases, _sources(_platform()), "ioremap_wc", access, _alignment_result)
    newest = releases[-1]
    dev = _evaluate(newest, True, _sources(_platform())[0][1], "ioremap", access)
    _f, outcome, _why = _alignment_result(dev)
    notes = (f"a guest that maps the page Device (ioremap) instead: {outcome} on {newest}, "
             "whatever KVM maps at stage 2",)
    what = "write" if write else "read"
    return Outlook(f"an unaligned {size}-byte {what} through a guest Normal-NC mapping "
                   "(ioremap_wc, or a write-combining mmap in guest user space)", releases, rows,
                   notes, fault)


def _exec_result(e: Evaluation) -> tuple[bool, str, str]:
    why = _why(e)
    if e.injected:
        return True, f"{e.injected} injected into the guest (KVM saw {e.errno or 'a fault'})", why
    if e.errno is not None:
        return True, f"KVM_RUN {e.errno}", why
    return False, f"executes (stage-2 {e.s2_kind})", why


@lru_cache(maxsize=4)
def exec_outlook(releases: tuple[str, ...]) -> Outlook:
    """A guest instruction fetch from each kind of memory (guest memremap, executable), per
    release."""
    from ..linux.kvm.abort import GuestAccess

    rows, fault = _rows(releases, _sources(_platform())[:4], "memremap(MEMREMAP_WB)",
                        GuestAccess.fetch(), _exec_result)
    return Outlook("a guest instruction fetch (guest memremap mapping)", releases, rows,
                   fault=fault)


@lru_cache(maxsize=8)
def nisv_outlook(write: bool, release: str) -> Outlook:
    """A guest access KVM cannot decode (a load/store pair: ISV=0) outside every memslot, with
    and without the VMM's KVM_CAP_ARM_NISV_TO_USER."""
    from ..arch.combine import Access
    from ..linux.kvm.abort import GuestAccess, InstrClass
    from ..linux.kvm.features import VmConfig
    from ..report.kernel import kernel_why, seen

    access = GuestAccess(Access.WRITE if write else Access.READ, 16, InstrClass.LDP_STP)
    cells = []
    for cap in (False, True):
        e = _evaluate(release, True, None, "ioremap", access, vm=VmConfig(nisv_to_user=cap))
        label = "with KVM_CAP_ARM_NISV_TO_USER" if cap else "without KVM_CAP_ARM_NISV_TO_USER"
        cells.append(Cell(label, e.errno is not None, seen(e), kernel_why(e.decisions)))
    return Outlook(f"a guest access it cannot decode (ISV=0; the model replays a load/store "
                   f"pair {'write' if write else 'read'}) to an IPA outside every memslot, on "
                   f"Linux {release}", (release,),
                   (Row("emulated MMIO (no memslot)", tuple(cells)),))


@lru_cache(maxsize=4)
def user_mapping_outlook(release: str) -> Outlook:
    """The stage-1 type each host mmap path gives user space (an unaligned access faults on a
    Device mapping, AArch64.S1HasAlignmentFault)."""
    from ..linux.mm import vma_stage1_attrs
    from ..linux.mmap import mmap_source, source_size
    from ..linux.version import KernelVersion
    from ..report.kernel import kernel_why

    platform = _platform()
    rows = []
    for label, source in _sources(platform):
        size, _align = source_size(platform, source)
        vma = mmap_source(platform, source, release=KernelVersion.parse(release),
                          hva=0x7F00_0000_0000, bits=64, mte=False)
        attrs = vma_stage1_attrs(vma)
        device = attrs.is_device
        outcome = (f"{attrs.short}: an unaligned access faults" if device
                   else f"{attrs.short}: no alignment fault")
        rows.append(Row(label, (Cell(release, device, outcome, kernel_why(vma.decisions)),)))
    return Outlook("an unaligned user-space access through the process's own mapping",
                   (release,), tuple(rows))

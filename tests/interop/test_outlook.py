"""What each release does with the access behind a report: the Linux model, asked per mapping
source (memattr.interop.outlook)."""

from __future__ import annotations

from memattr.interop.outlook import (
    Cell,
    Row,
    alignment_outlook,
    checked_releases,
    exec_outlook,
    nisv_outlook,
    user_mapping_outlook,
)


def test_checked_releases_come_from_the_policies() -> None:
    """The merged policies' releases, the newest modelled one, and the report's, in order."""
    assert checked_releases() == ("6.8", "6.9", "6.17", "7.0")
    assert checked_releases("6.13") == ("6.8", "6.9", "6.13", "6.17", "7.0")
    assert checked_releases("5.15") == ("5.15", "6.8", "6.9", "6.17", "7.0")


def test_unaligned_write_per_source() -> None:
    """vfio-pci is fixed from 6.9; every mapping reaching KVM without VM_ALLOW_ANY_UNCACHED still
    faults on the newest release; a PFN map of host RAM never faults (mapped cacheable)."""
    o = alignment_outlook(True, 8, checked_releases("6.13"))
    vfio = o.row("vfio-pci BAR")
    assert vfio is not None and vfio.faulting == ("6.8",) and vfio.fixed_from == "6.9"
    assert "VM_ALLOW_ANY_UNCACHED" in (vfio.cell("6.13") or vfio.cells[0]).why
    for source in ("vfio-platform", "DRM/TTM or dma-buf PFN map of device memory",
                   "sysfs resourceN", "sysfs resourceN_wc", "/dev/mem"):
        row = o.row(source)
        assert row is not None and all(c.faulted for c in row.cells), source
        assert "-EFAULT" in row.cells[-1].outcome
    ram = o.row("DRM/TTM or dma-buf PFN map of host RAM")
    assert ram is not None and not ram.faulting
    assert ram.cells[-1].fwb_differs  # Normal-NC without FWB, Normal-WB with it
    assert "AArch64.S2HasAlignmentFault" in o.fault and "Unsupported FSC" in o.fault
    assert any("stage 1" in n for n in o.notes)  # a guest mapping Device faults itself


def test_instruction_fetch_from_device_memory() -> None:
    """Every release turns -ENOEXEC into a prefetch abort injected into the guest (v5.5 on)."""
    o = exec_outlook(("5.5", "6.9", "7.0"))
    vfio = o.row("vfio-pci BAR")
    assert vfio is not None and vfio.faulting == ("5.5", "6.9", "7.0")
    assert "prefetch abort" in vfio.cells[0].outcome and "-ENOEXEC" in vfio.cells[0].outcome
    ram = o.row("DRM/TTM or dma-buf PFN map of host RAM")
    assert ram is not None and not ram.faulting


def test_nisv_with_and_without_the_capability() -> None:
    """ISV=0 outside every memslot: -ENOSYS, or KVM_EXIT_ARM_NISV with the VMM's capability."""
    cells = nisv_outlook(True, "6.8").rows[0].cells
    assert cells[0].faulted and "-ENOSYS" in cells[0].outcome
    assert not cells[1].faulted and "KVM_EXIT_ARM_NISV" in cells[1].outcome


def test_user_mappings() -> None:
    """Only the Device host mappings take an unaligned fault in user space."""
    o = user_mapping_outlook("6.8")
    device = {r.source for r in o.rows if r.cells[0].faulted}
    assert device == {"vfio-pci BAR", "vfio-platform region", "sysfs resourceN", "/dev/mem"}


def test_row_verdicts() -> None:
    """A row's verdict names the releases it faults on and where it was fixed."""
    def row(*faults: bool) -> Row:
        rels = ("6.8", "6.9", "6.17")
        return Row("x", tuple(Cell(r, f, "", "") for r, f in zip(rels, faults, strict=True)))

    assert row(True, False, False).verdict() == \
        "faults on 6.8; fixed from Linux 6.9 (no fault on 6.9, 6.17)"
    assert row(True, True, True).verdict() == "faults on every release checked (6.8, 6.9, 6.17)"
    assert row(False, False, False).verdict() == "no fault on any release checked (6.8, 6.9, 6.17)"
    assert row(False, True, False).verdict() == "faults on 6.9; not on 6.8, 6.17"
    assert row(True, False, False).fixed_from == "6.9" and row(True, True, True).fixed_from is None

"""Tests for memattr.linux.version and events: release ordering, citations, errno spelling."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.linux.events import Errno, Event, EventKind
from memattr.linux.version import Commit, KernelVersion


def test_kernel_version_parse_and_order() -> None:
    """Releases parse from '6.9', 'v6.17' or '6.9.3' and order numerically."""
    assert KernelVersion.parse("v6.17") > KernelVersion.parse("6.9.3") > KernelVersion(6, 8)
    assert str(KernelVersion.parse("6.10")) == "6.10"
    with pytest.raises(ConfigError):
        KernelVersion.parse("six")


def test_commit_cite() -> None:
    """Citations read like drgn's: id, subject and release (or 'never merged')."""
    c = Commit("8c47ce3e1d2c", "KVM: arm64: Set io memory s2 pte as normalnc for vfio pci "
               "device", KernelVersion(6, 9))
    assert c.cite() == ('Linux commit 8c47ce3e1d2c ("KVM: arm64: Set io memory s2 pte as '
                        'normalnc for vfio pci device") (in v6.9)')
    assert Commit("x", "y").cite().endswith("(never merged)")


def test_errno_and_event() -> None:
    """Errnos print as -NAME with the kernel's values; events render and serialise."""
    assert (Errno.ENOEXEC, Errno.EFAULT, Errno.EINVAL, Errno.ENOSYS) == (8, 14, 22, 38)
    assert str(Errno.EINVAL) == "-EINVAL"
    e = Event(EventKind.ERROR, "stage2_set_prot_attr", "X with DEVICE", Errno.EINVAL)
    assert str(e) == "error -EINVAL: stage2_set_prot_attr: X with DEVICE"
    assert e.to_json()["errno"] == "EINVAL"

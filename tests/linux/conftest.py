"""Shared fixtures for the Linux system model tests: the example host platform."""

from __future__ import annotations

import pytest

from memattr.platform import Platform
from memattr.platform.examples import example_platform


@pytest.fixture(scope="session")
def plat() -> Platform:
    """The example host (RAM, carve-out, PCIe NIC with SR-IOV, GICv2, AMBA device, GPU memory)."""
    return example_platform()

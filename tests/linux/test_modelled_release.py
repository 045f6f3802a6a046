"""Releases the model describes: an unknown release or policy name is an error, never a guess."""

from __future__ import annotations

import pytest

import memattr.linux.system  # noqa: F401  (memattr.linux.policy is imported through the model)
from memattr.errors import ConfigError
from memattr.linux.policy import get_policy
from memattr.linux.version import LAST_MINOR, NEWEST_MODELLED, OLDEST_MODELLED, modelled_release


def _releases() -> list[str]:
    out = [f"5.{m}" for m in range(OLDEST_MODELLED.minor, LAST_MINOR[5] + 1)]
    out += [f"6.{m}" for m in range(LAST_MINOR[6] + 1)]
    return out + [f"{NEWEST_MODELLED.major}.{m}" for m in range(NEWEST_MODELLED.minor + 1)]


@pytest.mark.parametrize("text", _releases())
def test_every_release_resolves(text: str) -> None:
    """Every release from 5.5 to the newest modelled one names a merged policy."""
    assert str(modelled_release(text)) == text
    assert get_policy(text).release == modelled_release(text)


@pytest.mark.parametrize("text", ["6.99", "5.20", "6.20", "7.1", "8.0", "v6.99"])
def test_releases_that_do_not_exist_are_errors(text: str) -> None:
    """A number that is not a release (or is newer than the model) is a ConfigError naming it."""
    with pytest.raises(ConfigError, match=r"policy='v?[0-9.]+': not a Linux release"):
        get_policy(text)
    with pytest.raises(ConfigError, match="not a Linux release the model describes"):
        modelled_release(text)


def test_older_than_modelled_is_an_error() -> None:
    """5.4 is refused with the reason (no exec-on-device rule before 5.5)."""
    with pytest.raises(ConfigError, match="older than the oldest release modelled"):
        get_policy("5.4")


@pytest.mark.parametrize(("typo", "meant"), [("pcie_only", "pcie-only"), ("fwb-0b11", "fwb-0b111"),
                                             ("mirror-vm", "mirror-vma"), ("devce-gre", "device-gre")])
def test_unknown_policy_suggests_the_nearest(typo: str, meant: str) -> None:
    """A mistyped policy name is an error with a 'did you mean' for the nearest known name."""
    with pytest.raises(ConfigError, match=f"did you mean '{meant}'"):
        get_policy(typo)


def test_linux_versions_page_states_the_modelled_range() -> None:
    """docs/linux-versions.md's "The model covers **vA to vB**" is the code's range
    (OLDEST_MODELLED..NEWEST_MODELLED), and the page has a row for the newest release."""
    import re
    from pathlib import Path

    from memattr.linux.version import KernelVersion

    page = (Path(__file__).resolve().parents[2] / "docs" / "linux-versions.md").read_text(
        encoding="utf-8")
    found = re.findall(r"The model covers \*\*v(\d+\.\d+) to v(\d+\.\d+)\*\*", page)
    assert len(found) == 1, found
    lo, hi = (KernelVersion.parse(v) for v in found[0])
    assert (lo, hi) == (OLDEST_MODELLED, NEWEST_MODELLED)
    assert f"v{NEWEST_MODELLED}" in page.split("## Which stage-2 type", 1)[1]


def test_pkvm_is_described_alike_in_both_pages() -> None:
    """docs/scenarios.md's `pkvm` row and docs/linux-versions.md agree: -EPERM from
    kvm_phys_addr_ioremap, the first KVM_RUN fails, and the host's own stage 2 and protected-VM
    SEA handling are not modelled (neither page claims the host stage 2 has no FWB)."""
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs"
    row = next(line for line in (docs / "scenarios.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("| `pkvm` |"))
    versions = " ".join((docs / "linux-versions.md").read_text(encoding="utf-8").split())
    for text in (row, versions):
        assert "-EPERM" in text and "KVM_RUN" in text
        assert "host's own stage 2" in text and "not modelled" in text
        assert "has no FWB" not in text and "does not use FWB" not in text

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

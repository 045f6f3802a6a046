"""Kernel releases and the commits that changed behaviour between them.

:class:`KernelVersion` orders releases; :class:`Commit` is one citation (hash, subject, first
release).  The registry of every commit the package cites is :mod:`memattr.linux.commits`.
"""

from __future__ import annotations

from functools import total_ordering

from .._value import dataclass  # dataclasses, cheaper to import
from ..errors import ConfigError

__all__ = ["KernelVersion", "Commit", "V5_5", "V5_8", "V5_10", "V5_14", "V6_1", "V6_8", "V6_9",
           "V6_12", "V6_17", "V7_0", "OLDEST_MODELLED", "NEWEST_MODELLED", "LAST_MINOR", "modelled_release"]


@total_ordering
@dataclass(frozen=True, slots=True)
class KernelVersion:
    """A Linux release, ordered: ``KernelVersion(6, 9) > KernelVersion(6, 8)``."""

    major: int
    minor: int

    @classmethod
    def parse(cls, text: str | KernelVersion) -> KernelVersion:
        """Parse '6.9', 'v6.9' or '6.9.3' (the patch level is ignored)."""
        if isinstance(text, KernelVersion):
            return text
        raw = text.strip().lstrip("v")
        try:
            parts = [int(p) for p in raw.split(".")[:2]]
            return cls(parts[0], parts[1])
        except (ValueError, IndexError) as exc:
            raise ConfigError(f"kernel version={text!r}: expected MAJOR.MINOR such as '6.9'") from exc

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, KernelVersion):
            return NotImplemented
        return (self.major, self.minor) < (other.major, other.minor)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


V5_5 = KernelVersion(5, 5)
V5_8 = KernelVersion(5, 8)
V5_10 = KernelVersion(5, 10)
V5_14 = KernelVersion(5, 14)
V6_1 = KernelVersion(6, 1)
V6_8 = KernelVersion(6, 8)
V6_9 = KernelVersion(6, 9)
V6_12 = KernelVersion(6, 12)
V6_17 = KernelVersion(6, 17)
V7_0 = KernelVersion(7, 0)

OLDEST_MODELLED = V5_5
"""The oldest release the Linux model describes: the exec-on-device rule (6d674e28f642) is in
v5.5; older kernels are refused rather than silently given a newer kernel's behaviour."""

NEWEST_MODELLED = V7_0
"""The newest release the Linux model has read (MT_S2_AS_S1, the FEAT_XNX prot layout); a later
number is refused rather than silently given 7.0's behaviour."""

LAST_MINOR = {5: 19, 6: 19}
"""The last minor release of each major series: 5.19, then 6.0; 6.19 (8 Feb 2026), then 7.0."""


def modelled_release(text: str | KernelVersion, what: str = "kernel") -> KernelVersion:
    """A release the model describes (OLDEST_MODELLED..NEWEST_MODELLED, and one that exists:
    6.99 is not a release); ConfigError naming the range otherwise.

    :param text: '6.9', 'v6.9', '6.9.3' or a KernelVersion.
    :param what: the field name used in the error.
    """
    r = KernelVersion.parse(text)
    last = LAST_MINOR.get(r.major, NEWEST_MODELLED.minor if r.major == NEWEST_MODELLED.major else -1)
    if r < OLDEST_MODELLED or r > NEWEST_MODELLED or r.minor > last:
        newest = (f"{NEWEST_MODELLED}" if NEWEST_MODELLED.minor == 0
                  else f"{NEWEST_MODELLED.major}.0..{NEWEST_MODELLED}")
        raise ConfigError(
            f"{what}={str(text).strip()!r}: not a Linux release the model describes (expected "
            f"{OLDEST_MODELLED}..5.{LAST_MINOR[5]}, 6.0..6.{LAST_MINOR[6]} or {newest})")
    return r


@dataclass(frozen=True, slots=True)
class Commit:
    """A Linux commit (or a posted patch, with ``release`` None) cited by a rule.

    :param id: the abbreviated commit hash, or the Message-ID of a posting that was never merged.
    :param subject: the commit subject.
    :param release: the first release containing it, or None.
    :param note: said instead of "never merged" when the release is unknown, or a caveat.
    """

    id: str
    subject: str
    release: KernelVersion | None = None
    note: str | None = None

    def cite(self) -> str:
        """drgn-style citation: 'Linux commit 8c47ce3e1d2c ("...") (in v6.9)'."""
        where = (f" (in v{self.release})" if self.release is not None
                 else f" ({self.note})" if self.note else " (never merged)")
        if self.release is not None and self.note:
            where = f" (in v{self.release}; {self.note})"
        return f'Linux commit {self.id} ("{self.subject}"){where}'

"""Kernel releases and the commits that changed behaviour between them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import total_ordering

from ..errors import ConfigError

__all__ = ["KernelVersion", "Commit", "V6_8", "V6_9", "V6_17", "V7_0"]


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


V6_8 = KernelVersion(6, 8)
V6_9 = KernelVersion(6, 9)
V6_17 = KernelVersion(6, 17)
V7_0 = KernelVersion(7, 0)


@dataclass(frozen=True, slots=True)
class Commit:
    """A Linux commit (or a posted patch, with ``release`` None) cited by a rule.

    :param id: the abbreviated commit hash, or the Message-ID of a posting that was never merged.
    :param subject: the commit subject.
    :param release: the first release containing it, or None.
    """

    id: str
    subject: str
    release: KernelVersion | None = None
    note: str | None = None  # said instead of "never merged" when the release is unknown

    def cite(self) -> str:
        """drgn-style citation: 'Linux commit 8c47ce3e1d2c ("...") (in v6.9)'."""
        where = (f" (in v{self.release})" if self.release is not None
                 else f" ({self.note})" if self.note else " (never merged)")
        return f'Linux commit {self.id} ("{self.subject}"){where}'

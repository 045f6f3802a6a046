"""Translation granules and lookup levels (Arm ARM D8.2).

A module of its own so that register decoding (TCR_ELx, VTCR_EL2 ...) needs no descriptor
formats; :mod:`memattr.arch.descriptor` re-exports every name.
"""

from __future__ import annotations

import enum

from ..errors import ParseError

__all__ = ["FINAL_LEVEL", "Granule", "levels", "level_shift", "block_size", "block_allowed"]

FINAL_LEVEL = 3
"""ASL FINAL_LEVEL: the last lookup level, where descriptors are pages."""


class Granule(enum.Enum):
    """Translation granule; the value is the short spelling used in text ("4k")."""

    K4 = "4k"
    K16 = "16k"
    K64 = "64k"

    @property
    def shift(self) -> int:
        """log2 of the granule size: 12, 14 or 16 (ASL TGxGranuleBits)."""
        return _GRANULE_SHIFT[self]

    @property
    def size(self) -> int:
        """Granule (and page) size in bytes."""
        return 1 << _GRANULE_SHIFT[self]

    @property
    def bits_per_level(self) -> int:
        """Address bits resolved per level: granule bits minus 3 (8-byte descriptors)."""
        return _GRANULE_SHIFT[self] - 3

    def min_level(self, ds: bool = False) -> int:
        """The lowest lookup level: 4KB 0 (-1 with DS=1), 16KB 0, 64KB 1 (Arm ARM D8.2)."""
        if self is Granule.K4:
            return -1 if ds else 0
        return 0 if self is Granule.K16 else 1

    @classmethod
    def parse(cls, text: str) -> Granule:
        """Parse '4k', '4K', '4KB', '4096' (and the 16k/64k spellings)."""
        key = text.strip().lower().removesuffix("b").removesuffix("i")
        for g in cls:
            if key in (g.value, str(g.size)):
                return g
        raise ParseError(f"granule={text!r}: expected 4k, 16k or 64k")

    def __str__(self) -> str:
        return self.value


_GRANULE_SHIFT = {Granule.K4: 12, Granule.K16: 14, Granule.K64: 16}



def levels(granule: Granule, ds: bool = False) -> range:
    """The lookup levels that exist for ``granule`` (Arm ARM D8.2)."""
    return range(granule.min_level(ds), FINAL_LEVEL + 1)


def level_shift(granule: Granule, level: int) -> int:
    """log2 of the region one descriptor maps at ``level``."""
    return granule.shift + granule.bits_per_level * (FINAL_LEVEL - level)


def block_size(granule: Granule, level: int) -> int:
    """Bytes mapped by one block (or page, at level 3) descriptor at ``level``."""
    return 1 << level_shift(granule, level)


def block_allowed(granule: Granule, level: int, ds: bool = False, pa_bits: int = 48) -> bool:
    """Whether a Block descriptor is allowed at ``level`` (ASL AArch64.BlockDescSupported).

    4KB: levels 1 and 2, level 0 with DS=1.  16KB: level 2, level 1 with DS=1.  64KB: level 2,
    level 1 with a 52-bit PA (FEAT_LPA; the ASL tests AArch64.PAMax() >= 52).  Level 3 holds
    pages, never blocks.
    """
    if granule is Granule.K4:
        return level in (1, 2) or (level == 0 and ds)
    if granule is Granule.K16:
        return level == 2 or (level == 1 and ds)
    return level == 2 or (level == 1 and pa_bits >= 52)

"""arch/arm64/include/asm/sysreg.h: the MAIR_ATTR_* attribute bytes Linux programs.

Each byte is the canonical MAIR encoding (:func:`memattr.arch.mair.encode`) of the memory type the
kernel names, so the table states types, not numbers.
"""

from __future__ import annotations

from ...arch.mair import encode
from ...arch.memtype import (
    DEVICE_GRE,
    NORMAL_NC,
    NORMAL_WB,
    Cacheability,
    CacheAttrs,
    DEVICE_nGnRE,
    DEVICE_nGnRnE,
    normal,
)

__all__ = [
    "MAIR_ATTR_DEVICE_nGnRnE",
    "MAIR_ATTR_DEVICE_nGnRE",
    "MAIR_ATTR_DEVICE_GRE",
    "MAIR_ATTR_NORMAL_NC",
    "MAIR_ATTR_NORMAL",
    "MAIR_ATTR_NORMAL_WT",
    "MAIR_ATTR_NORMAL_TAGGED",
    "MAIR_ATTRIDX",
]

MAIR_ATTR_DEVICE_nGnRnE = encode(DEVICE_nGnRnE)  # UL(0x00)
MAIR_ATTR_DEVICE_nGnRE = encode(DEVICE_nGnRE)  # UL(0x04)
MAIR_ATTR_DEVICE_GRE = encode(DEVICE_GRE)  # UL(0x0c), until v5.14
MAIR_ATTR_NORMAL_NC = encode(NORMAL_NC)  # UL(0x44)
MAIR_ATTR_NORMAL = encode(NORMAL_WB)  # UL(0xff): WB non-transient RWA, both levels
# UL(0xbb): WT non-transient RWA, both levels (until v5.14)
MAIR_ATTR_NORMAL_WT = encode(normal(CacheAttrs(Cacheability.WT, True, True, False)))
# UL(0xf0): Tagged Normal (FEAT_MTE2), since v5.10; cpu_enable_mte writes it, 0xff until then.
MAIR_ATTR_NORMAL_TAGGED = encode(normal(CacheAttrs(Cacheability.WB, True, True, False),
                                        tagged=True))


def MAIR_ATTRIDX(attr: int, idx: int) -> int:  # noqa: N802 - the kernel's macro name
    """``MAIR_ATTRIDX(attr, idx)``: ``attr`` placed in the Attr<idx> byte."""
    return attr << (8 * idx)

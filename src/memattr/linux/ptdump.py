"""arch/arm64/mm/ptdump.c: the memory-type words ``kernel_page_tables`` prints per MT_* index.

``pte_bits`` ends with one entry per memory type, each matching PTE_ATTRINDX_MASK against
PTE_ATTRINDX(MT_*) and printing a word; an AttrIndx with no entry prints nothing.  Which index
a word stands for follows the release's MT_* layout (:mod:`memattr.linux.asm.memory`), so
:func:`attr_labels` gives the AttrIndx -> word map that :func:`memattr.mmu.dump.linux_ptdump`
takes.
"""

from __future__ import annotations

from .asm.memory import mt_layout
from .version import KernelVersion

__all__ = ["PTE_MT_WORDS", "attr_labels"]

PTE_MT_WORDS: dict[str, str] = {
    "MT_DEVICE_nGnRnE": "DEVICE/nGnRnE",
    "MT_DEVICE_nGnRE": "DEVICE/nGnRE",
    "MT_DEVICE_GRE": "DEVICE/GRE",  # while MT_DEVICE_GRE existed (before v5.14)
    "MT_NORMAL_NC": "MEM/NORMAL-NC",
    "MT_NORMAL": "MEM/NORMAL",
    "MT_NORMAL_TAGGED": "MEM/NORMAL-TAGGED",  # with MT_NORMAL_TAGGED (v5.10 on)
}
"""MT_* name -> the word ptdump.c's pte_bits prints for it (MT_NORMAL_WT has none)."""


def attr_labels(release: KernelVersion | str) -> dict[int, str]:
    """AttrIndx -> the memory-type word ``kernel_page_tables`` of ``release`` prints for it."""
    return {idx: PTE_MT_WORDS[name] for name, idx, _ in mt_layout(release).slots
            if name in PTE_MT_WORDS}

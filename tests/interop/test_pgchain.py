"""The pgd..pte chain of a kernel fault report, decoded with the stated granule, VA size and the
release's MAIR (memattr.interop.pgchain)."""

from __future__ import annotations

from pathlib import Path

import pytest

import memattr.linux.system  # noqa: F401  (the Linux model, imported in its order)
from memattr.interop.logscan import scan_log
from memattr.interop.pgchain import chain_lines, decode_chain, walk_levels
from memattr.linux.version import KernelVersion

DATA = Path(__file__).parents[1] / "data"


@pytest.mark.parametrize(("granule", "va_bits", "levels"), [
    (4096, 39, 3), (4096, 48, 4), (4096, 52, 5), (16384, 36, 2), (16384, 47, 3), (16384, 48, 4),
    (65536, 42, 2), (65536, 48, 3), (65536, 52, 3),
])
def test_walk_levels(granule: int, va_bits: int, levels: int) -> None:
    """ARM64_HW_PGTABLE_LEVELS for each granule and VA size Linux offers."""
    assert walk_levels(granule, va_bits) == levels


def test_64k_chain_with_folded_levels() -> None:
    """64K/48-bit: pgd is level 1, p4d and pud repeat it, the pte is a read-only Normal page of
    the 6.8 MAIR (MT_NORMAL at index 0), and the write's permission fault agrees."""
    r = scan_log((DATA / "log_serial_console_all_kinds_written.txt").read_bytes())[0]
    chain = decode_chain(r, KernelVersion(6, 8), fault_level=3, fault_kind="permission",
                         write=True)
    assert chain is not None and chain.levels == 3
    kinds = [(e.name, e.level, e.folded, e.kind) for e in chain.entries]
    assert kinds == [("pgd", 1, False, "table"), ("p4d", 1, True, None), ("pud", 1, True, None),
                     ("pmd", 2, False, "table"), ("pte", 3, False, "page")]
    assert chain.entries[0].address == 0xFFFE_0000 and chain.entries[3].address == 0xFFFD_0000
    leaf = chain.leaf
    assert leaf is not None and leaf.address == 0xBA2E_0000
    assert (leaf.attr_index, leaf.mair_attr, leaf.mt, leaf.memtype) == (0, 0xFF, "MT_NORMAL",
                                                                        "Normal-WB")
    assert (leaf.el1, leaf.el0) == ("R--", "---") and "DBM" in leaf.flags
    assert chain.agreement is not None and "not permitted" in chain.agreement
    text = "\n".join(chain_lines(chain))
    assert "level folded into pgd" in text and "PA 0xba2e0000" in text


def test_attr_index_follows_the_release() -> None:
    """The same AttrIndx is MT_NORMAL_WT in 5.13 and MT_DEVICE_nGnRnE in 5.14 (the layouts)."""
    r = scan_log((DATA / "log_serial_console_all_kinds_written.txt").read_bytes())[0]
    from dataclasses import replace

    pte = 0x0060_0000_BA2E_0F8F  # AttrIndx 3
    r = replace(r, chain=r.chain[:-1] + (("pte", pte),))
    leaf_513 = decode_chain(r, KernelVersion(5, 13)).leaf  # type: ignore[union-attr]
    leaf_514 = decode_chain(r, KernelVersion(5, 14)).leaf  # type: ignore[union-attr]
    assert leaf_513 is not None and leaf_514 is not None
    assert (leaf_513.mt, leaf_513.memtype) == ("MT_NORMAL_WT", "Normal-WT")
    assert (leaf_514.mt, leaf_514.memtype) == ("MT_DEVICE_nGnRnE", "Device-nGnRnE")
    unknown = decode_chain(r, None).leaf  # type: ignore[union-attr]
    assert unknown is not None and unknown.memtype is None and unknown.attr_index == 3


def test_translation_fault_level_agrees() -> None:
    """16K/47-bit: the invalid pgd (level 1) is the level 1 translation fault reported."""
    r = scan_log((DATA / "log_journal_rpi_issue6792_interleaved.txt").read_bytes())[0]
    chain = decode_chain(r, None, fault_level=1, fault_kind="translation")
    assert chain is not None and chain.levels == 3
    assert chain.entries[0].kind == "invalid" and chain.entries[0].level == 1
    assert chain.agreement is not None and "as the syndrome says" in chain.agreement
    other = decode_chain(r, None, fault_level=3, fault_kind="translation")
    assert other is not None and "the table changed" in (other.agreement or "")


def test_note_only_chain() -> None:
    """show_pte's remark (address between user and kernel ranges) is kept, no entries."""
    r = scan_log((DATA / "log_dmesg_T_aufs_issue25_oops.txt").read_bytes())[0]
    chain = decode_chain(r, None)
    assert chain is not None and chain.entries == ()
    assert chain.note == "address between user and kernel address ranges"


def test_no_chain() -> None:
    """A report without a chain decodes to None."""
    r = scan_log(b"kvm [1]: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061\n")[0]
    assert decode_chain(r, None) is None

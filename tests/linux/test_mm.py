"""Tests for memattr.linux.mm: vm_flags values, flag decoding, pgprot helpers, VMAs."""

from __future__ import annotations

import pytest

from memattr.errors import ConfigError
from memattr.linux import mm
from memattr.linux.mm import (
    MT,
    PAGE_SHARED,
    VM_ALLOW_ANY_UNCACHED,
    VM_NONE,
    AddressSpace,
    Vma,
    decode_vm_flags,
    kvm_vma_is_cacheable,
    pgprot_device,
    pgprot_noncached,
    pgprot_tagged,
    pgprot_writecombine,
    vm_allow_any_uncached,
    vma_stage1_attrs,
)

# include/linux/mm.h (v6.9-era #defines; later spelt with DECLARE_VMA_BIT at the same bits).
MM_H = {
    "VM_READ": 0x1, "VM_WRITE": 0x2, "VM_EXEC": 0x4, "VM_SHARED": 0x8, "VM_MAYREAD": 0x10,
    "VM_MAYWRITE": 0x20, "VM_MAYEXEC": 0x40, "VM_MAYSHARE": 0x80, "VM_PFNMAP": 0x400,
    "VM_IO": 0x4000, "VM_DONTEXPAND": 0x40000, "VM_HUGETLB": 0x400000,
    "VM_DONTDUMP": 0x04000000, "VM_MIXEDMAP": 0x10000000, "VM_MTE": 1 << 32,
    "VM_MTE_ALLOWED": 1 << 33, "VM_ALLOW_ANY_UNCACHED": 1 << 39,
}


@pytest.mark.parametrize(("name", "value"), list(MM_H.items()))
def test_flag_values(name: str, value: int) -> None:
    """vm_flags bits are the kernel's."""
    assert getattr(mm, name) == value


def test_allow_any_uncached_per_word_size() -> None:
    """VM_ALLOW_ANY_UNCACHED is BIT(39) on 64-bit and VM_NONE on 32-bit (5c656fcdd6c6)."""
    assert vm_allow_any_uncached(64) == 1 << 39 == VM_ALLOW_ANY_UNCACHED
    assert vm_allow_any_uncached(32) == VM_NONE == 0
    with pytest.raises(ConfigError):
        vm_allow_any_uncached(16)


def test_decode_flags_never_hides_bits() -> None:
    """Unknown bits are shown raw in hex after the names."""
    assert decode_vm_flags(0) == "VM_NONE"
    assert decode_vm_flags(mm.VM_IO | mm.VM_PFNMAP) == "VM_PFNMAP|VM_IO"
    assert decode_vm_flags(mm.VM_IO | (1 << 45) | 0x800) == "VM_IO|0x200000000800"


def test_pgprot_helpers() -> None:
    """pgprot_noncached/device/writecombine/tagged select MT_DEVICE_nGnRnE/nGnRE/NORMAL_NC/
    NORMAL_TAGGED and make the mapping non-executable (except tagged)."""
    assert PAGE_SHARED.attrindx == MT.MT_NORMAL
    cases = [(pgprot_noncached, MT.MT_DEVICE_nGnRnE), (pgprot_device, MT.MT_DEVICE_nGnRE),
             (pgprot_writecombine, MT.MT_NORMAL_NC)]
    for fn, mt in cases:
        p = fn(PAGE_SHARED)
        assert p.attrindx == mt and p.mt_name == mt.name
        assert p.value >> 53 & 3 == 3  # PXN | UXN
        assert p.sh == 0b11
    assert pgprot_tagged(PAGE_SHARED).attrindx == MT.MT_NORMAL_TAGGED
    assert mm.Pgprot(7 << 2).mt_name == "AttrIndx=7"


def test_mt_values() -> None:
    """MT_* AttrIndx values of arch/arm64/include/asm/memory.h
    (docs/linux-versions.md#mt-indexes-and-mair_el1)."""
    assert [int(m) for m in MT] == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("attrindx", range(8))
def test_kvm_vma_is_cacheable(attrindx: int) -> None:
    """kvm_vma_is_cacheable is false exactly for MT_NORMAL_NC, MT_DEVICE_nGnRnE, MT_DEVICE_nGnRE."""
    v = Vma(0x1000, 0x2000, 0, mm.Pgprot(attrindx << 2), 0)
    assert kvm_vma_is_cacheable(v) == (attrindx not in (2, 3, 4))


def test_vma_stage1_attrs() -> None:
    """The VMM's own type follows the pgprot under Linux's MAIR."""
    def t(p: mm.Pgprot, mte: bool = False) -> str:
        return vma_stage1_attrs(Vma(0x1000, 0x2000, 0, p, 0), mte=mte).short

    assert t(pgprot_noncached(PAGE_SHARED)) == "Device-nGnRnE"
    assert t(pgprot_device(PAGE_SHARED)) == "Device-nGnRE"
    assert t(pgprot_writecombine(PAGE_SHARED)) == "Normal-NC"
    assert t(PAGE_SHARED) == "Normal-WB"
    assert t(pgprot_tagged(PAGE_SHARED), mte=True) == "Normal-WB-Tagged"
    assert t(pgprot_tagged(PAGE_SHARED), mte=False) == "Normal-WB"


def test_vma_and_address_space() -> None:
    """VMAs translate HVAs; the address space finds and refuses overlapping VMAs."""
    v = Vma(0x10000, 0x12000, 0, PAGE_SHARED, 0x8000_0000, "a")
    assert v.hva_to_phys(0x11234) == 0x8000_1234 and v.hva_to_pfn(0x11234) == 0x80001
    with pytest.raises(ConfigError):
        v.hva_to_phys(0x12000)
    with pytest.raises(ConfigError):
        Vma(0x1000, 0x1000, 0, PAGE_SHARED, 0)
    a = AddressSpace()
    a.insert(v)
    with pytest.raises(ConfigError, match="overlaps"):
        a.insert(v.at(0x11000))
    assert a.find_vma(0x10000) is v and a.find_vma(0x12000) is None
    assert a.find_vma_intersection(0, 0x10001) == (v,)
    h = a.get_unmapped_area(0x3000, 1 << 21)
    assert h % (1 << 21) == 0

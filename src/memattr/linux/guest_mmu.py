"""The guest's stage-1 translation as real tables: a :class:`GuestMmu` writes the guest's page
tables (mmu PageTable builder) into guest RAM in its IPA space, and gives the EL1&0 regime
(TCR_EL1, TTBR0_EL1, MAIR_EL1, SCTLR_EL1 of the guest; VTCR/VTTBR of KVM's stage 2; HCR_EL2) that
:func:`memattr.mmu.walk.walk` translates guest accesses with.

Where the tables live: a pool of guest RAM at the top of the VM's IPA space
(:data:`PT_POOL_SIZE` bytes below ``2**ipa_bits``), backed by host RAM outside the modelled
platform's map at :data:`PT_POOL_PA`.  KVM maps those pages when the guest boots and touches its
page tables (``user_mem_abort`` for anonymous guest RAM: Normal, R|W); :meth:`Kvm.boot_guest_ram
<memattr.linux.kvm.vm.Kvm.boot_guest_ram>` does that and keeps the events apart.

What the model's guest writes: one identity mapping (VA = IPA) per page accessed, in TTBR0 with a
4KB granule and a 48-bit VA, the descriptor's AttrIndx and SH from the :class:`GuestStage1`, AF
set, and no PXN/UXN, so that an instruction fetch reaches stage 2 (Linux's own ioremap adds PXN|UXN;
a guest that keeps them takes its own stage-1 permission fault before KVM sees anything).  EL0
mappings (``user``: a sysfs mmap in guest userspace) have AP[1] = 1 and are accessed at EL0.
"""

from __future__ import annotations

from ..arch import registers as R
from ..arch.registers import Granule
from ..errors import ConfigError
from ..mmu.pgtable import IpaSpace, PageTable, s1_attrs
from ..mmu.regime import Geometry, Regime, Stage1Regime, Stage2Regime
from .guest import GuestStage1

__all__ = ["GuestMmu", "PT_POOL_SIZE", "PT_POOL_PA", "GUEST_VA_BITS", "pt_pool_ipa"]

PT_POOL_SIZE = 1 << 21
"""Guest RAM holding the guest's stage-1 tables: 2 MiB at the top of the IPA space."""
PT_POOL_PA = 0xE000_0000_0000
"""Host physical address backing that guest RAM (outside the modelled platform's map)."""
GUEST_VA_BITS = 48
"""The guest's TCR_EL1.T0SZ = 16: a 48-bit TTBR0 range."""


_REGIME_CACHE = 256
_REGIMES: dict[tuple[int, ...], Regime] = {}


def pt_pool_ipa(ipa_bits: int) -> int:
    """The IPA of the guest's page-table pool in a VM with ``ipa_bits`` of IPA space."""
    return (1 << ipa_bits) - PT_POOL_SIZE


class GuestMmu:
    """A guest's stage-1 tables in its IPA space, over KVM's stage-2 table.

    :param s2: KVM's stage-2 :class:`~memattr.mmu.pgtable.PageTable` (it must already map the
        page-table pool: :meth:`Kvm.boot_guest_ram <memattr.linux.kvm.vm.Kvm.boot_guest_ram>`).
    :param guest: the guest's MAIR, SCTLR_EL1.M and the descriptor fields of its mapping.
    :param ipa_bits: the VM's IPA size (the pool sits at its top).
    """

    def __init__(self, s2: PageTable, guest: GuestStage1, *, ipa_bits: int) -> None:
        if not 32 <= ipa_bits <= 48:
            raise ConfigError(f"IPA size {ipa_bits} bits: the model's guest uses a 48-bit "
                              "TCR_EL1.IPS, so 32..48 bits are modelled")
        self.guest = guest
        self.space = IpaSpace(s2, pt_pool_ipa(ipa_bits), PT_POOL_SIZE)
        tcr = R.TCR_EL1.encode(
            T0SZ=64 - GUEST_VA_BITS, TG0=R.tg0_encoding(Granule.K4), EPD1=1,
            IPS=R.ps_encoding(48),
            SH0=3, IRGN0=1, ORGN0=1, AS=1)
        self.tcr = tcr
        geom = Geometry.for_stage1(Granule.K4, GUEST_VA_BITS, oa_bits=48)
        self.table = PageTable(self.space, geom)
        self.s2 = s2

    def map_page(self, ipa: int) -> int:
        """Map the 4 KiB page holding ``ipa`` at VA = IPA with the guest's attributes; the VA."""
        g = self.guest
        page = ipa & ~0xFFF
        if page >> GUEST_VA_BITS:
            raise ConfigError(f"IPA 0x{ipa:x}: beyond the guest's {GUEST_VA_BITS}-bit VA range "
                              "(the model's guest maps VA = IPA)")
        if self.table.lookup(page) is None and g.mmu_on:
            assert g.attrindx is not None
            attrs = s1_attrs(attr_index=g.attrindx, ap=0b01 if g.user else 0b00, sh=g.sh,
                             ng=g.user)
            self.table.map(page, 0x1000, page, attrs, max_leaf=0x1000)
        return ipa

    def regime(self, *, fwb: bool, cd: bool = False, vtcr: int, vttbr: int) -> Regime:
        """The EL1&0 regime: the guest's TCR/TTBR0/MAIR/SCTLR and KVM's VTCR/VTTBR/HCR.

        A regime is a value of its registers; one with the same registers is shared, so that
        what the walker derives from them (its plan) is built once for every VM that uses them.
        """
        g = self.guest
        sctlr = R.SCTLR_EL1.encode(M=int(g.mmu_on), C=1, I=1)
        hcr = R.HCR_EL2.encode(VM=1, RW=1, FWB=int(fwb), CD=int(cd))
        key = (self.tcr, self.table.ttbr, g.mair, sctlr, vtcr, vttbr, hcr)
        got = _REGIMES.get(key)
        if got is None:
            s1 = Stage1Regime(self.tcr, ttbr0=self.table.ttbr, mair=g.mair, sctlr=sctlr)
            got = Regime(s1, Stage2Regime(vtcr, vttbr), hcr)
            if len(_REGIMES) >= _REGIME_CACHE:
                _REGIMES.clear()
            _REGIMES[key] = got
        return got

    @property
    def el(self) -> int:
        """The Exception level the guest's access is made at (0 for a user mapping)."""
        return 0 if self.guest.user else 1

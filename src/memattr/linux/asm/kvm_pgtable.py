"""arch/arm64/include/asm/kvm_pgtable.h (arch/arm64/kvm/hyp/pgtable.c before v6.10): the
KVM_PTE_* descriptor bits, derived from memattr.arch's descriptor field tables (4KB page
descriptors; the attribute bits sit at the same positions for every granule)."""

from __future__ import annotations

from ...arch.descriptor import DescType, descriptor_layout
from ...arch.fields import genmask
from ...arch.memtype import Shareability
from ...arch.registers import Granule

__all__ = [
    "KVM_PTE_VALID",
    "KVM_PTE_TYPE",
    "KVM_PTE_LEAF_ATTR_LO",
    "KVM_PTE_LEAF_ATTR_HI",
    "KVM_PTE_LEAF_ATTR_LO_S1_ATTRIDX",
    "KVM_PTE_LEAF_ATTR_LO_S1_AP",
    "KVM_PTE_LEAF_ATTR_LO_S1_SH",
    "KVM_PTE_LEAF_ATTR_LO_S1_SH_IS",
    "KVM_PTE_LEAF_ATTR_LO_S1_AF",
    "KVM_PTE_LEAF_ATTR_HI_S1_XN",
    "KVM_PTE_LEAF_ATTR_HI_S1_GP",
    "KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR",
    "KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT",
    "KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R",
    "KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W",
    "KVM_PTE_LEAF_ATTR_LO_S2_SH",
    "KVM_PTE_LEAF_ATTR_LO_S2_SH_SHIFT",
    "KVM_PTE_LEAF_ATTR_LO_S2_SH_IS",
    "KVM_PTE_LEAF_ATTR_LO_S2_AF",
    "KVM_PTE_LEAF_ATTR_HI_S2_XN",
    "KVM_PTE_LEAF_ATTR_HI_SW",
]

_S1 = descriptor_layout(1, DescType.PAGE, Granule.K4, 3)
_S2 = descriptor_layout(2, DescType.PAGE, Granule.K4, 3)

KVM_PTE_VALID = 1 << _S1.field("Type").lsb  # BIT(0)
KVM_PTE_TYPE = 1 << _S1.field("Type").msb  # BIT(1)
KVM_PTE_LEAF_ATTR_LO = genmask(_S1.field("nG").msb, _S1.field("AttrIndx").lsb)  # GENMASK(11, 2)
KVM_PTE_LEAF_ATTR_HI = genmask(63, _S1.field("GP").lsb)  # GENMASK(63, 50)
KVM_PTE_LEAF_ATTR_LO_S1_ATTRIDX = _S1.field_mask("AttrIndx")  # GENMASK(4, 2)
KVM_PTE_LEAF_ATTR_LO_S1_AP = _S1.field_mask("AP")  # GENMASK(7, 6)
KVM_PTE_LEAF_ATTR_LO_S1_SH = _S1.field_mask("SH")  # GENMASK(9, 8)
KVM_PTE_LEAF_ATTR_LO_S1_SH_IS = Shareability.ISH.encoding  # 3
KVM_PTE_LEAF_ATTR_LO_S1_AF = _S1.field_mask("AF")  # BIT(10)
KVM_PTE_LEAF_ATTR_HI_S1_XN = _S1.field_mask("UXN")  # BIT(54)
KVM_PTE_LEAF_ATTR_HI_S1_GP = _S1.field_mask("GP")  # BIT(50)
KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR = _S2.field_mask("MemAttr")  # GENMASK(5, 2)
KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT = _S2.field("MemAttr").lsb  # 2
KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R = 1 << _S2.field("S2AP").lsb  # BIT(6)
KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W = 1 << _S2.field("S2AP").msb  # BIT(7)
KVM_PTE_LEAF_ATTR_LO_S2_SH = _S2.field_mask("SH")  # GENMASK(9, 8)
KVM_PTE_LEAF_ATTR_LO_S2_SH_SHIFT = _S2.field("SH").lsb  # 8
KVM_PTE_LEAF_ATTR_LO_S2_SH_IS = Shareability.ISH.encoding  # 3
KVM_PTE_LEAF_ATTR_LO_S2_AF = _S2.field_mask("AF")  # BIT(10)
KVM_PTE_LEAF_ATTR_HI_S2_XN = 1 << _S2.field("XN").msb  # BIT(54), before FEAT_XNX support
KVM_PTE_LEAF_ATTR_HI_SW = _S2.field_mask("SW")  # GENMASK(58, 55)

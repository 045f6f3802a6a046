"""Constants of arch/arm64/include/asm as the kernel defines them, one module per header.

:mod:`.sysreg` (MAIR_ATTR_* bytes), :mod:`.memory` (MT_* indexes and the MAIR_EL1 each release
programs, MT_S2_* stage-2 encodings), :mod:`.kvm_pgtable` (KVM_PTE_* descriptor bits).  Every
value is derived from memattr.arch's field tables and type encoders, not retyped.
"""

__all__ = ["sysreg", "memory", "kvm_pgtable"]

"""IMPLEMENTATION DEFINED choices, each named as the ASL names it, defaulted and cited.

CONSTRAINED UNPREDICTABLE outcomes are not here: those are modelled as sets where they arise.
"""

from __future__ import annotations

from .._value import dataclass  # dataclasses, cheaper to import

__all__ = ["ImpDef", "DEFAULT"]


@dataclass(frozen=True, slots=True)
class ImpDef:
    """The IMPLEMENTATION DEFINED choices memattr's rules depend on."""

    # ASL94 AArch64.S1Translate: ImpDefBool("Apply effective shareability at stage 1").  When
    # True, a stage-1 Device or Normal iNC/oNC result is reported as OSH before stage 2 combines
    # it; when False the descriptor's SH is passed on.  Visible only where stage 2 turns such a
    # stage-1 type into cacheable Normal (FWB MemAttr 0b110).
    apply_effective_shareability_at_s1: bool = True
    # Exclusives and atomics to Device or Normal Non-cacheable memory need the global monitor /
    # an interconnect that supports them (Arm ARM B2.9.5 / B2.2.6, [prose, not re-verified]).
    # None means "not known": both "supported" and the DFSC 0b110101 abort are permitted.
    uncached_exclusives_supported: bool | None = None
    uncached_atomics_supported: bool | None = None
    # ASL94 AArch64.S1TxSZFaults / AArch64.S2TxSZFaults: ImpDefBool("Fault on TxSZ value below
    # minimum") (a fault is required with FEAT_LVA at stage 1 and FEAT_LPA at stage 2) and
    # ImpDefBool("Fault on TxSZ value above maximum"); when False the walk clamps TxSZ.  QEMU
    # (target/arm/ptw.c, tsz_oob) always faults: so does this default.
    fault_on_txsz_below_minimum: bool = True
    fault_on_txsz_above_maximum: bool = True
    # ASL94 AArch64.S1DecodeTG0/TG1, AArch64.S2DecodeTG0: ImpDefBits("TG0 encoded granule size")
    # -- the granule used for a reserved or unimplemented TGn encoding, in KiB.  When it is not
    # implemented either, the first implemented of 4, 16, 64 KiB is used (QEMU's
    # sanitize_gran_size picks the first implemented of 4K, 16K, 64K).
    tg_encoded_granule_kib: int = 4


DEFAULT = ImpDef()

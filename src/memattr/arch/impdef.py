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


DEFAULT = ImpDef()

"""Decisions as data: what a rule decided, recorded where it decided it.

A rule function returns its result together with :class:`Decision` records (rule, branch, inputs,
result).  Explanations -- CLI text, JSON ``steps``, ``demo`` and ``run`` -- are rendered from these
records by one renderer; nothing re-derives which rule fired, and nothing parses prose.

``rule`` is an enum member whose value is the name of the function that decided: the Arm
pseudocode function for the architecture (:class:`AslRule`, v9.4 names), the kernel function for
Linux's rules (an enum of :mod:`memattr.linux`, which this layer does not know).  ``branch`` is a
short stable identifier of the path taken inside that function (``"s1_device_s2_normal"``), so
that a renderer and a test can key on it.
"""

from __future__ import annotations

import enum

from .._value import dataclass  # dataclasses, cheaper to import

TYPE_CHECKING = False  # importing typing costs start-up; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any

__all__ = ["AslRule", "Decision", "chain_result"]


class AslRule(enum.Enum):
    """Arm pseudocode functions (ASL, v9.4 names) that memattr's rules implement."""

    S1DecodeMemAttrs = "S1DecodeMemAttrs"
    S1ConstrainUnpredictableRESMAIR = "S1ConstrainUnpredictableRESMAIR"
    ConstrainUnpredictableBits = "ConstrainUnpredictableBits"
    DecodeDevice = "DecodeDevice"
    DecodeLDFAttr = "DecodeLDFAttr"
    DecodeShareability = "DecodeShareability"
    S2DecodeMemAttrs = "S2DecodeMemAttrs"
    S2DecodeCacheability = "S2DecodeCacheability"
    S2CombineS1MemAttrs = "S2CombineS1MemAttrs"
    S2CombineS1Device = "S2CombineS1Device"
    S2CombineS1AttrHints = "S2CombineS1AttrHints"
    S2CombineS1Shareability = "S2CombineS1Shareability"
    S2MemTagType = "S2MemTagType"
    AArch64_S2ApplyFWBMemAttrs = "AArch64.S2ApplyFWBMemAttrs"
    EffectiveShareability = "EffectiveShareability"
    NormalNCMemAttr = "NormalNCMemAttr"
    AArch64_S1DisabledOutput = "AArch64.S1DisabledOutput"
    AArch64_S1Translate = "AArch64.S1Translate"
    AArch64_S2Translate = "AArch64.S2Translate"
    AArch64_S1CheckPermissions = "AArch64.S1CheckPermissions"
    AArch64_S2CheckPermissions = "AArch64.S2CheckPermissions"
    AArch64_S2NextWalkStateLeaf = "AArch64.S2NextWalkStateLeaf"
    AArch64_NSS2TTWParams = "AArch64.NSS2TTWParams"
    AArch64_S1HasAlignmentFault = "AArch64.S1HasAlignmentFault"
    AArch64_S2HasAlignmentFault = "AArch64.S2HasAlignmentFault"
    EncodePARAttrs = "EncodePARAttrs"


@dataclass(frozen=True, slots=True)
class Decision:
    """One rule's decision.

    :param rule: the deciding function (an enum member; ``rule.value`` is its name).
    :param branch: a short stable identifier of the branch taken.
    :param inputs: the inputs the branch looked at, as (name, value) pairs.
    :param result: what the rule returned (a value object, a tuple of permitted values, an errno).
    """

    rule: enum.Enum
    branch: str
    inputs: tuple[tuple[str, object], ...] = ()
    result: Any = None  # a rule's own type: readers know their rule's result

    def input(self, name: str, default: object = None) -> Any:
        """The value of input ``name`` (``default`` if the rule did not record it)."""
        for key, value in self.inputs:
            if key == name:
                return value
        return default


def chain_result(decisions: tuple[Decision, ...] | list[Decision]) -> object:
    """The result of the last decision of a chain (None for an empty chain)."""
    return decisions[-1].result if decisions else None

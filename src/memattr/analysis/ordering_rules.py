"""The rules of the reclaim-ordering model (:mod:`memattr.analysis.ordering`), each with its source.

A rule is an :class:`OrderingRule` member; :data:`RULES` gives its one-line statement and where it
comes from (Arm ARM, AMBA AXI, PCIe Base Specification, a kernel function, or a review message on
lore.kernel.org).  The explorer records these members in its witness steps and in the
:class:`~memattr.arch.decision.Decision` records of its verdict; renderers read :data:`RULES`.

Arm ARM and AXI rules marked "[prose, not re-verified]" are stated from the specifications' prose
as the review and its sources report it; their text was not re-read for this model.

The PCIe passing table (:data:`PCIE_PASSING`) is the part of the PCIe Base Specification's
Transaction Ordering rules (section 2.4.1, "Ordering Rules Summary": Table 2-40 in r5.0, 2-39 in
r4.0) that the model needs, with the Relaxed Ordering and ID-Based Ordering attributes clear.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["OrderingRule", "RuleInfo", "RULES", "TlpClass", "PCIE_PASSING", "pcie_may_pass",
           "lore", "PCIE_ORDERING", "ARM_B2_3", "ARM_B2_8", "AXI_ORDERING"]


def lore(message_id: str) -> str:
    """The lore.kernel.org link of a mailing-list message.

    :param message_id: the Message-ID without angle brackets.
    """
    return f"https://lore.kernel.org/all/{message_id}/"


# One spelling of each specification reference, used by every rule below.
PCIE_ORDERING = ("PCIe Base Specification, Transaction Ordering (Table 2-40 in r5.0 / 2-39 in "
                 "r4.0)")
ARM_B2_3 = "Arm ARM B2.3 (ordering; DMB, DSB) [prose, not re-verified]"
ARM_B2_8 = "Arm ARM B2.8 (Device memory attributes G/R/E; Normal memory) [prose, not re-verified]"
ARM_D8_TLBI = "Arm ARM D8 (TLB maintenance: completion by DSB) [prose, not re-verified]"
AXI_ORDERING = "AMBA AXI Protocol Specification (IHI 0022), ordering model [prose, not re-verified]"


class OrderingRule(enum.Enum):
    """A rule of the ordering model.  The value is a stable id: for kernel steps, the function."""

    # -- assumptions (the model's switches) --
    SERIALISATION_POINT = "assume:serialisation_point"
    PROGRESS = "assume:progress"
    SAME_PERIPHERAL = "assume:same_peripheral"
    # -- Arm architecture --
    WRITE_BUFFER = "arm:write_buffer"
    GATHERING = "arm:G"
    REORDERING = "arm:R"
    NO_REORDERING = "arm:nR"
    EARLY_ACK = "arm:E"
    ENDPOINT_ACK = "arm:nE"
    NO_BARRIER = "arm:no_barrier"
    OLD_TRANSLATION = "arm:old_translation"
    TLBI_PERFORMED = "arm:tlbi_performed"
    DSB_AFTER_TLBI = "arm:dsb_after_tlbi"
    # -- interconnect --
    INDEPENDENT_PATHS = "axi:independent_paths"
    EARLY_RESPONSE_ORDER = "axi:early_response"
    AWAIT_COMPLETION = "bus:await_completion"
    SEPARATE_RESET_PATH = "platform:reset_path"
    # -- PCIe (Table "Ordering Rules Summary": row passes column) --
    PCIE_A2A = "pcie:A2a"
    PCIE_A3_A4 = "pcie:A3/A4"
    PCIE_B2A = "pcie:B2a"
    PCIE_C2A = "pcie:C2a"
    PCIE_NP_NP = "pcie:B3/B4/C3/C4"
    # -- the host's steps (kernel functions) --
    VFIO_ZAP = "vfio_pci_zap_bars"
    KVM_S2_UNMAP = "kvm_pgtable_stage2_unmap"
    KVM_TLBI = "__kvm_tlb_flush_vmid_ipa"
    PCIE_FLR = "pcie_flr"
    PLATFORM_RESET = "vfio_platform_call_reset"
    FLUSHING_READ = "flushing_read"
    VCPU_SWITCH = "kvm_arch_vcpu_put"


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a rule says and where it comes from.

    :param text: the rule in one sentence.
    :param source: the specification section, kernel file and function, or review message.
    """

    text: str
    source: str


_WILL = lore("20231012144807.GA12374@willie-the-truck")
_CATALIN_NE = lore("ZSlBOiebenPKXBY4@arm.com")
_CATALIN_SP = lore("ZTEN_oe97VRWbnHb@arm.com")
_JASON_TLP = lore("20231013134541.GP3952@nvidia.com")
_JASON_CFG = lore("20231019115142.GQ3952@nvidia.com")
_LORENZO = lore("ZTEwnBoPLL3PE3Xo@lpieralisi")
_CATALIN_RST = lore("ZW949Tl3VmQfPk0L@arm.com")
_JASON_FLUSH = lore("20231205171024.GH2692119@nvidia.com")
_MARC_GICV = lore("86fs0hatt3.wl-maz@kernel.org")

RULES: dict[OrderingRule, RuleInfo] = {
    OrderingRule.SERIALISATION_POINT: RuleInfo(
        "assumption: TLBI + DSB guarantees that another CPU's early-acknowledged writes reached "
        "this point, where later transactions to the same destination are ordered behind them",
        f"Catalin Marinas, 'some serialisation point' ({_CATALIN_SP}); {ARM_D8_TLBI}"),
    OrderingRule.PROGRESS: RuleInfo(
        "assumption: a transaction in flight eventually moves on; nothing is dropped",
        "model assumption"),
    OrderingRule.SAME_PERIPHERAL: RuleInfo(
        "assumption: the shared mapping and the register the host writes at a vCPU switch belong "
        "to one peripheral (its size is IMPLEMENTATION DEFINED), so Device-nR ordering covers both",
        ARM_B2_8),
    OrderingRule.WRITE_BUFFER: RuleInfo(
        "a store leaves the CPU through its write buffer, which drains on its own (posted)",
        f"{ARM_B2_3}; Will Deacon, 'non-cacheable stores can also be buffered' ({_WILL})"),
    OrderingRule.GATHERING: RuleInfo(
        "G (Device-GRE) and Normal memory: several buffered writes may merge into one transaction",
        ARM_B2_8),
    OrderingRule.REORDERING: RuleInfo(
        "R (Device-nGRE, Device-GRE) and Normal memory: accesses may reach the peripheral out of "
        "program order", ARM_B2_8),
    OrderingRule.NO_REORDERING: RuleInfo(
        "nR (Device-nGnRnE, Device-nGnRE): accesses to one peripheral arrive in program order",
        ARM_B2_8),
    OrderingRule.EARLY_ACK: RuleInfo(
        "E (Device-*E) and Normal memory: an intermediate point may acknowledge a write, so a DSB "
        "completes it at that point, not at the device", ARM_B2_8),
    OrderingRule.ENDPOINT_ACK: RuleInfo(
        "nE (Device-nGnRnE): the write response comes from the end point, so a DSB completes the "
        "write at the device, subject to the device",
        f"{ARM_B2_8}; Catalin Marinas ({_CATALIN_NE})"),
    OrderingRule.NO_BARRIER: RuleInfo(
        "a Normal-NC write and a later Device write to another location are not ordered without "
        "a barrier (DMB/DSB) between them", ARM_B2_3),
    OrderingRule.OLD_TRANSLATION: RuleInfo(
        "until the broadcast TLBI is performed on a CPU, that CPU may keep using the stage-2 "
        "translation from its TLB, so the guest's store still reaches the device",
        ARM_D8_TLBI),
    OrderingRule.TLBI_PERFORMED: RuleInfo(
        "once the TLBI is performed on a CPU, a guest store through the removed translation takes "
        "a stage-2 fault and never reaches the device",
        f"{ARM_D8_TLBI}; the VMA is zapped, so the fault cannot map the page again"),
    OrderingRule.DSB_AFTER_TLBI: RuleInfo(
        "a DSB after a broadcast TLBI completes when every CPU's accesses through the old "
        "translation are complete: at the end point for nE, at the acknowledging point otherwise",
        f"{ARM_D8_TLBI}; {ARM_B2_3}; Catalin Marinas ({_CATALIN_SP})"),
    OrderingRule.INDEPENDENT_PATHS: RuleInfo(
        "transactions on independent paths (different requesters, or read and write channels) "
        "are not ordered unless one waits for the other's completion",
        AXI_ORDERING),
    OrderingRule.EARLY_RESPONSE_ORDER: RuleInfo(
        "a component that gave a write its response must keep every later transaction to the "
        "same destination behind that write, whatever its ID", AXI_ORDERING),
    OrderingRule.AWAIT_COMPLETION: RuleInfo(
        "the host waits for the completion of a non-posted request before its next step",
        f"{PCIE_ORDERING}; {AXI_ORDERING}"),
    OrderingRule.SEPARATE_RESET_PATH: RuleInfo(
        "a platform reset (ACPI _RST, a DT reset controller, a reset bus) reaches the device "
        "over another path that does not pass the serialisation point",
        f"Lorenzo Pieralisi ({_LORENZO}); Catalin Marinas ({_CATALIN_RST})"),
    OrderingRule.PCIE_A2A: RuleInfo(
        "a Posted Request must not pass another Posted Request (RO and IDO clear)",
        f"{PCIE_ORDERING}, entry A2a"),
    OrderingRule.PCIE_A3_A4: RuleInfo(
        "a Posted Request must be able to pass a Non-Posted Request (deadlock avoidance)",
        f"{PCIE_ORDERING}, entries A3, A4"),
    OrderingRule.PCIE_B2A: RuleInfo(
        "a Read Request (MemRd, CfgRd) must not pass a Posted Request (IDO clear)",
        f"{PCIE_ORDERING}, entry B2a"),
    OrderingRule.PCIE_C2A: RuleInfo(
        "a Non-Posted Request with data (CfgWr) must not pass a Posted Request (RO and IDO clear)",
        f"{PCIE_ORDERING}, entry C2a; Jason Gunthorpe ({_JASON_TLP})"),
    OrderingRule.PCIE_NP_NP: RuleInfo(
        "a Non-Posted Request may pass another Non-Posted Request (Y/N: permitted, not required)",
        f"{PCIE_ORDERING}, entries B3, B4, C3, C4"),
    OrderingRule.VFIO_ZAP: RuleInfo(
        "VFIO revokes the user mapping: unmap_mapping_range() over the BARs; KVM's MMU notifier "
        "follows", "drivers/vfio/pci/vfio_pci_core.c vfio_pci_zap_bars()"),
    OrderingRule.KVM_S2_UNMAP: RuleInfo(
        "KVM clears the stage-2 entries (the guest's TLB may still hold them)",
        "arch/arm64/kvm/hyp/pgtable.c kvm_pgtable_stage2_unmap()"),
    OrderingRule.KVM_TLBI: RuleInfo(
        "KVM broadcasts the invalidation: TLBI IPAS2E1IS, DSB ISH, TLBI VMALLE1IS, DSB ISH",
        "arch/arm64/kvm/hyp/{nvhe,vhe}/tlb.c __kvm_tlb_flush_vmid_ipa()"),
    OrderingRule.PCIE_FLR: RuleInfo(
        "vfio-pci resets the function through config space: a non-posted config write "
        "(DEVCTL.BCR_FLR), then config reads until the device answers",
        f"drivers/pci/pci.c pcie_flr(), pci_dev_wait(); Jason Gunthorpe ({_JASON_CFG})"),
    OrderingRule.PLATFORM_RESET: RuleInfo(
        "vfio-platform resets the device through ACPI _RST or a DT reset callback, whose path "
        "and ordering are SoC-specific",
        f"drivers/vfio/platform/vfio_platform_common.c vfio_platform_call_reset(); "
        f"Catalin Marinas ({_CATALIN_RST})"),
    OrderingRule.FLUSHING_READ: RuleInfo(
        "before the reset the host reads from the device and waits for the data, so earlier "
        "writes on the read's path land first",
        f"Jason Gunthorpe ({_JASON_FLUSH})"),
    OrderingRule.VCPU_SWITCH: RuleInfo(
        "at a vCPU switch KVM saves and restores the shared peripheral's state; it runs no TLBI "
        "and no DSB for the guest's mapping",
        f"arch/arm64/kvm/arm.c kvm_arch_vcpu_put(); Marc Zyngier ({_MARC_GICV})"),
}


class TlpClass(enum.Enum):
    """The PCIe request classes of the ordering table (its rows and columns)."""

    POSTED = "Posted Request"  # MemWr
    READ = "Read Request"  # MemRd, CfgRd
    NPR_DATA = "NPR with Data"  # CfgWr (also IOWr, AtomicOp)


# (later, earlier) -> (may the later request pass the earlier one, the table entry that says so).
PCIE_PASSING: dict[tuple[TlpClass, TlpClass], tuple[bool, OrderingRule]] = {
    (TlpClass.POSTED, TlpClass.POSTED): (False, OrderingRule.PCIE_A2A),
    (TlpClass.POSTED, TlpClass.READ): (True, OrderingRule.PCIE_A3_A4),
    (TlpClass.POSTED, TlpClass.NPR_DATA): (True, OrderingRule.PCIE_A3_A4),
    (TlpClass.READ, TlpClass.POSTED): (False, OrderingRule.PCIE_B2A),
    (TlpClass.READ, TlpClass.READ): (True, OrderingRule.PCIE_NP_NP),
    (TlpClass.READ, TlpClass.NPR_DATA): (True, OrderingRule.PCIE_NP_NP),
    (TlpClass.NPR_DATA, TlpClass.POSTED): (False, OrderingRule.PCIE_C2A),
    (TlpClass.NPR_DATA, TlpClass.READ): (True, OrderingRule.PCIE_NP_NP),
    (TlpClass.NPR_DATA, TlpClass.NPR_DATA): (True, OrderingRule.PCIE_NP_NP),
}


def pcie_may_pass(later: TlpClass, earlier: TlpClass) -> tuple[bool, OrderingRule]:
    """May a later request pass an earlier one in the same direction, and which entry says so.

    :param later: the class of the request that arrived second (the table's row).
    :param earlier: the class of the request that arrived first (the table's column).
    """
    return PCIE_PASSING[later, earlier]

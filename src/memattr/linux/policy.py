"""KVM's stage-2 memory-type policy as named, versioned objects, and a registry of them.

A :class:`Policy` is data: which fault path (``user_mem_abort`` of which kernel), how a
non-cacheable ("device") page picks DEVICE or NORMAL_NC, what ``kvm_phys_addr_ioremap`` uses, the
MemAttr values written, and which kernel release the VMM's mmap paths come from.  The built-in
policies are the merged kernels (``6.8``, ``6.9``, ``6.17``), the revision under review (``v2``)
and the alternatives its review discussed.  Users add their own with :func:`register_policy`.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ConfigError
from ..platform.physmap import Platform
from .asm.memory import S2_MEMATTRS
from .commits import COMMITS
from .kvm.features import HostFeatures
from .kvm.pgtable import KVM_PGTABLE_PROT, LINUX_S2_MEMATTRS, PgtableVariant, S2MemAttrs, prot_str
from .mm import Vma
from .version import OLDEST_MODELLED, V6_8, V6_9, V6_17, V7_0, Commit, KernelVersion, modelled_release

__all__ = [
    "FaultPath",
    "DeviceChoice",
    "DeviceContext",
    "FaultContext",
    "RuleResult",
    "Policy",
    "policy_name_problem",
    "register_policy",
    "unregister_policy",
    "get_policy",
    "policies",
    "policy_for_release",
    "POLICY_6_8",
    "POLICY_V2",
    "POLICY_6_9",
    "POLICY_6_17",
    "POLICY_PCIE_ONLY",
    "POLICY_MIRROR_VMA",
    "POLICY_FWB_0B110",
    "POLICY_FWB_0B111",
    "POLICY_DEVICE_GRE",
    "POLICY_V1",
    "POLICY_V3",
    "POLICY_V4",
    "POLICY_V7",
    "with_prot",
    "builtin_policies",
    "COMMITS",
]


class FaultPath(enum.Enum):
    """How ``user_mem_abort`` decides a page must not be mapped cacheable."""

    # <= v6.16: device = kvm_is_device_pfn(pfn) = !pfn_is_map_memory(pfn); VMA not consulted.
    DEVICE_PFN = "device = !pfn_is_map_memory(pfn)"
    # v6.17: s2_force_noncacheable for VM_PFNMAP|VM_MIXEDMAP && !pfn_is_map_memory unless the VMA
    # is cacheable (then FWB && DIC are required, else -EFAULT); other VMAs are cacheable.
    CACHEABLE_PFNMAP = "s2_force_noncacheable unless a cacheable PFNMAP VMA (FWB+DIC)"
    # Will's mirror-the-VMA idea (13 Oct 2023): device from the VMA pgprot; a cacheable VMA over a
    # PFN with no linear-map alias fails with -EINVAL without FWB.
    VMA_PGPROT = "device from the VMA pgprot"
    # v1 1/2 as posted: device from the VMA pgprot, and without FWB every fault on a PFN that is
    # not the kernel's linear alias is -EINVAL, device VMAs included (the NIC regression).
    V1_LINEAR_ALIAS = "v1 1/2: -EINVAL without FWB unless the PFN is in the linear map"
    # A reviewer's rules (a policy file, memattr.analysis.policyfile): ordered rules over what
    # user_mem_abort sees give the stage-2 memory type, whether X is allowed, or an errno.
    RULES = "the policy's rules"


class DeviceChoice(enum.Enum):
    """Which ``kvm_pgtable_prot`` memory-type bit a non-cacheable page gets."""

    DEVICE = "always DEVICE"  # <= 6.8
    NORMAL_NC = "always NORMAL_NC"  # v2 (blanket)
    VMA_FLAG = "NORMAL_NC if VM_ALLOW_ANY_UNCACHED, else DEVICE"  # 6.9+
    HOST_BRIDGE = "NORMAL_NC if the PFN is in a PCIe host-bridge window, else DEVICE"
    VMA_PGPROT = "NORMAL_NC if the VMA is MT_NORMAL_NC, DEVICE for MT_DEVICE_*"  # mirror
    CUSTOM = "the policy's chooser"


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """What a :class:`DeviceChoice` (or a custom chooser) can look at for one faulting page."""

    vma: Vma | None
    pfn: int
    platform: Platform
    host: HostFeatures


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What ``user_mem_abort`` sees of one faulting page, for a policy's rules.

    :param vma: the VMA (flags, pgprot).  :param pfn: the host PFN.
    :param platform: the host (what the PFN is: RAM in the linear map, a BAR, a window).
    :param host: the host CPU features (FWB, CTR_EL0.DIC).
    :param fault: 'read', 'write' or 'exec'.
    """

    vma: Vma
    pfn: int
    platform: Platform
    host: HostFeatures
    fault: str


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What a policy's rules decided for one page.

    :param prot: the memory-type bits: ``KVM_PGTABLE_PROT.DEVICE``, ``.NORMAL_NC``, or the empty
        flag for Normal (cacheable); None when ``errno`` is given.
    :param x: the mapping may be executable (an exec fault adds X; with CTR_EL0.DIC a Normal
        mapping is always executable, as the kernel does); False: an exec fault is -ENOEXEC.
    :param errno: the error user_mem_abort returns instead of mapping.
    :param rule: which rule decided ('file:line', for the explanation).
    """

    prot: KVM_PGTABLE_PROT | None
    x: bool
    errno: Any = None
    rule: str = ""


def policy_name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a policy, or None: a policy name is a column heading of every
    report, so ASCII letters, digits and ``. _ + | -`` only (no control characters)."""
    import re

    if re.fullmatch(r"[A-Za-z0-9._+|-]{1,64}", name):
        return None
    from ..inputs.escape import show

    return f"{show(name)} is not a policy name"


@dataclass(frozen=True)
class Policy:
    """A stage-2 memory-type policy.

    :param name: the registry name ('6.9', 'pcie-only', ...).
    :param summary: one sentence of what it does.
    :param release: the kernel release whose VFIO/mm paths produce the VMAs (and whose
        ``kvm_pgtable_prot`` layout is shown).
    :param fault_path: which ``user_mem_abort`` logic runs.
    :param device_choice: DEVICE or NORMAL_NC for a non-cacheable page.
    :param ioremap_choice: the memory-type bit ``kvm_phys_addr_ioremap`` uses (GICV).
    :param variant: which ``stage2_set_prot_attr``.
    :param memattrs: the MemAttr values KVM writes.
    :param commits: the commits (or postings) the policy follows.
    :param what_if: not a merged kernel.
    :param chooser: for DeviceChoice.CUSTOM: returns KVM_PGTABLE_PROT.DEVICE, .NORMAL_NC, or the
        empty flag for Normal.
    :param notes: caveats shown with results.
    :param rules: for FaultPath.RULES: the ordered rules of a policy file
        (:func:`memattr.analysis.policyfile.load_policy_file`).
    :param source: where the policy was read from (a policy file's name), if not built in.
    """

    name: str
    summary: str
    release: KernelVersion
    fault_path: FaultPath = FaultPath.DEVICE_PFN
    device_choice: DeviceChoice = DeviceChoice.DEVICE
    ioremap_choice: KVM_PGTABLE_PROT = KVM_PGTABLE_PROT.DEVICE
    variant: PgtableVariant = PgtableVariant.V6_9
    memattrs: S2MemAttrs = LINUX_S2_MEMATTRS
    commits: tuple[Commit, ...] = ()
    what_if: bool = False
    chooser: Callable[[DeviceContext], KVM_PGTABLE_PROT] | None = field(default=None, compare=False)
    notes: tuple[str, ...] = ()
    rules: Callable[[FaultContext], RuleResult] | None = field(default=None, compare=False)
    source: str | None = None

    def __post_init__(self) -> None:
        if (self.fault_path is FaultPath.RULES) != (self.rules is not None):
            raise ConfigError(f"policy {self.name!r}: FaultPath.RULES goes with rules, and only it")
        if self.device_choice is DeviceChoice.CUSTOM and self.chooser is None:
            raise ConfigError(f"policy {self.name!r}: device_choice CUSTOM needs a chooser")
        if self.ioremap_choice not in (KVM_PGTABLE_PROT.DEVICE, KVM_PGTABLE_PROT.NORMAL_NC):
            raise ConfigError(f"policy {self.name!r}: ioremap_choice must be DEVICE or NORMAL_NC")
        uses_nc = (self.device_choice not in (DeviceChoice.DEVICE, DeviceChoice.CUSTOM)
                   or self.ioremap_choice is KVM_PGTABLE_PROT.NORMAL_NC)
        if uses_nc and self.variant is PgtableVariant.V6_8:
            raise ConfigError(f"policy {self.name!r}: NORMAL_NC needs the v6.9 stage2_set_prot_attr")

    @property
    def prot_layout(self) -> str:
        """The ``enum kvm_pgtable_prot`` layout (a PROT_LAYOUTS key) this policy's kernel uses."""
        if self.release >= V7_0:
            return "7.0"
        return "6.8" if self.variant is PgtableVariant.V6_8 else "6.9"

    def choose_device_prot(self, ctx: DeviceContext) -> KVM_PGTABLE_PROT:
        """The memory-type bit for a non-cacheable page under this policy."""
        from .mm import MT, VM_ALLOW_ANY_UNCACHED  # local: keeps the import list short

        c = self.device_choice
        if c is DeviceChoice.DEVICE:
            return KVM_PGTABLE_PROT.DEVICE
        if c is DeviceChoice.NORMAL_NC:
            return KVM_PGTABLE_PROT.NORMAL_NC
        if c is DeviceChoice.VMA_FLAG:
            ok = ctx.vma is not None and bool(ctx.vma.vm_flags & VM_ALLOW_ANY_UNCACHED)
            return KVM_PGTABLE_PROT.NORMAL_NC if ok else KVM_PGTABLE_PROT.DEVICE
        if c is DeviceChoice.HOST_BRIDGE:
            inside = ctx.platform.host_bridge_window(ctx.pfn << 12) is not None
            return KVM_PGTABLE_PROT.NORMAL_NC if inside else KVM_PGTABLE_PROT.DEVICE
        if c is DeviceChoice.VMA_PGPROT:
            wc = ctx.vma is not None and ctx.vma.vm_page_prot.attrindx == MT.MT_NORMAL_NC
            return KVM_PGTABLE_PROT.NORMAL_NC if wc else KVM_PGTABLE_PROT.DEVICE
        assert self.chooser is not None
        return self.chooser(ctx)

    def describe(self) -> str:
        """Name, summary and citations, one per line."""
        lines = [f"{self.name}: {self.summary}"]
        lines += [f"  {c.cite()}" for c in self.commits]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


# --- the commits ---------------------------------------------------------------------------
# The commits: memattr.linux.commits (one registry), re-exported here for old callers.
_C = COMMITS
_V2_BASE = KernelVersion(6, 7)  # v2 was applied over next-20231201 (6.7 cycle)

POLICY_6_8 = Policy(
    name="6.8",
    summary="up to v6.8: every PFN outside the linear map is stage-2 Device-nGnRE",
    release=V6_8,
    variant=PgtableVariant.V6_8,
    commits=(_C["exec-device"],),
)
POLICY_V2 = Policy(
    name="v2",
    summary="the revision under review (5 Dec 2023): all IO memory Normal-NC, GICV included",
    release=_V2_BASE,
    device_choice=DeviceChoice.NORMAL_NC,
    ioremap_choice=KVM_PGTABLE_PROT.NORMAL_NC,
    commits=(_C["v2"],),
    what_if=True,
    notes=("never merged; v3 reverted kvm_phys_addr_ioremap to DEVICE (Marc: GICv2 VCPU "
           "interface), v3+ gated on a VMA flag", "stage2_set_prot_attr modelled as v6.9's switch"),
)
POLICY_6_9 = Policy(
    name="6.9",
    summary="v6.9-v6.16: Normal-NC only for non-linear-map PFNs under a VMA with "
            "VM_ALLOW_ANY_UNCACHED (vfio-pci, nvgrace-gpu resmem); everything else Device-nGnRE",
    release=V6_9,
    device_choice=DeviceChoice.VMA_FLAG,
    commits=(_C["normal-nc-flag"], _C["mm-flag"], _C["s2-normalnc"], _C["vfio-wc-safe"]),
)
POLICY_6_17 = Policy(
    name="6.17",
    summary="v6.17: as 6.9, plus a cacheable PFNMAP VMA is mapped cacheable when FWB and "
            "CTR_EL0.DIC are present (-EINVAL at memslot / -EFAULT at fault otherwise)",
    release=V6_17,
    fault_path=FaultPath.CACHEABLE_PFNMAP,
    device_choice=DeviceChoice.VMA_FLAG,
    commits=(_C["normal-nc-flag"], _C["s2-normalnc"], _C["vfio-wc-safe"], _C["assume-cacheable"],
             _C["block-cacheable"], _C["allow-cacheable"], _C["cap"]),
)
_V1_BASE = KernelVersion(6, 6)  # v1 was posted on 7 Sep 2023, in the 6.6 cycle
POLICY_V1 = Policy(
    name="v1",
    summary="the first posting as posted (7 Sep 2023): 1/2 takes the type from the VMA and, "
            "without FWB, fails every fault on a PFN outside the linear map with -EINVAL (device "
            "VMAs included); 2/2 makes every DEVICE mapping Normal-NC, GICV included",
    release=_V1_BASE,
    fault_path=FaultPath.V1_LINEAR_ALIAS,
    device_choice=DeviceChoice.DEVICE,
    variant=PgtableVariant.V6_8,
    memattrs=S2MemAttrs(device=S2_MEMATTRS["NORMAL_NC"]),
    commits=(_C["v1-vma-type"], _C["v1-blanket"]),
    what_if=True,
    notes=("1/2 broke NIC assignment on non-FWB hosts (Shameer, 23 Oct 2023: 'kvm run failed "
           "Invalid argument'); 2/2 changed stage2_set_prot_attr's DEVICE case to "
           "MT_S2_NORMAL_NC, so the prot still says DEVICE while the MemAttr is Normal-NC",),
)
POLICY_V3 = Policy(
    name="v3",
    summary="v3 (8 Dec 2023): Normal-NC for VMAs vfio-pci flags (VM_VFIO_ALLOW_WC), GICV back to "
            "DEVICE; stage2_set_prot_attr tests DEVICE first, so DEVICE|NORMAL_NC is Device",
    release=_V2_BASE,
    device_choice=DeviceChoice.VMA_FLAG,
    variant=PgtableVariant.V3,
    commits=(_C["v3"],),
    what_if=True,
    notes=("the flag was VM_VFIO_ALLOW_WC, renamed VM_ALLOW_ANY_UNCACHED in v7",),
)
POLICY_V4 = Policy(
    name="v4",
    summary="v4-v6 (18 Dec 2023 - 7 Feb 2024): as v3, and DEVICE|NORMAL_NC prints a WARN",
    release=_V2_BASE,
    device_choice=DeviceChoice.VMA_FLAG,
    variant=PgtableVariant.V4,
    commits=(_C["v4"],),
    what_if=True,
    notes=("whether the WARN also returned an error was not verified from the postings; the "
           "model keeps Device",),
)
POLICY_V7 = Policy(
    name="v7",
    summary="v7-v9 (11 Feb 2024 on, merged for v6.9): DEVICE|NORMAL_NC is -EINVAL",
    release=V6_9,
    device_choice=DeviceChoice.VMA_FLAG,
    commits=(_C["v7"], _C["normal-nc-flag"]),
    what_if=True,
)
POLICY_PCIE_ONLY = Policy(
    name="pcie-only",
    summary="what-if: Normal-NC for PFNs inside a PCIe host-bridge window (iomem/host-bridge "
            "probe, Lorenzo 6 Dec 2023), Device-nGnRE otherwise; no VMA flag",
    release=V6_9,
    device_choice=DeviceChoice.HOST_BRIDGE,
    commits=(_C["normal-nc-flag"],),
    what_if=True,
    notes=("discussed as an alternative to the VMA flag (docs/review.md#restricting-to-pcie); "
           "never merged",),
)
POLICY_MIRROR_VMA = Policy(
    name="mirror-vma",
    summary="what-if (Will 13 Oct 2023): the stage-2 type follows the VMA pgprot; a cacheable "
            "VMA over a PFN with no linear-map alias is -EINVAL without FWB",
    release=V6_8,
    fault_path=FaultPath.VMA_PGPROT,
    device_choice=DeviceChoice.VMA_PGPROT,
    commits=(_C["v1-vma-type"], _C["v1-blanket"]),
    what_if=True,
    notes=("Catalin (13 Oct 2023): not feasible, the VMM does not know the BAR layout; v1 1/2 as "
           "posted is the policy 'v1'",),
)
POLICY_FWB_0B110 = Policy(
    name="fwb-0b110",
    summary="what-if: flagged IO memory gets FWB MemAttr 0b110 (forced Normal-WB; breaks MMIO)",
    release=V6_9,
    device_choice=DeviceChoice.VMA_FLAG,
    memattrs=S2MemAttrs(normal_nc=(0xF, 0x6)),
    commits=(_C["s2-normalnc"],),
    what_if=True,
    notes=("Jason 12 Oct 2023: one of the four meaningful FWB encodings; no non-FWB equivalent, "
           "0b1111 (Normal WB) is written without FWB",),
)
POLICY_FWB_0B111 = Policy(
    name="fwb-0b111",
    summary="what-if: flagged IO memory gets FWB MemAttr 0b111 (stage-1 attributes pass through; "
            "a guest can map MMIO cacheable or MTE-tagged)",
    release=V6_9,
    device_choice=DeviceChoice.VMA_FLAG,
    memattrs=S2MemAttrs(normal_nc=(0xF, 0x7)),
    commits=(_C["s2-normalnc"],),
    what_if=True,
    notes=("Jason 12 Oct 2023; without FWB 0b1111 (MT_S2_AS_S1 = MT_S2_NORMAL) has the same "
           "effect",),
)
POLICY_DEVICE_GRE = Policy(
    name="device-gre",
    summary="what-if: flagged IO memory gets stage-2 Device-GRE (0b0011): gathering and "
            "reordering, but unaligned accesses fault",
    release=V6_9,
    device_choice=DeviceChoice.VMA_FLAG,
    memattrs=S2MemAttrs(normal_nc=(0x3, 0x3)),
    commits=(_C["s2-normalnc"],),
    what_if=True,
    notes=("Catalin 13 Nov 2023: best-performing Device type but forbids unaligned accesses",),
)

_BUILTIN = (POLICY_6_8, POLICY_V2, POLICY_6_9, POLICY_6_17, POLICY_PCIE_ONLY, POLICY_MIRROR_VMA,
            POLICY_FWB_0B110, POLICY_FWB_0B111, POLICY_DEVICE_GRE, POLICY_V1, POLICY_V3, POLICY_V4,
            POLICY_V7)
_REGISTRY: dict[str, Policy] = {p.name: p for p in _BUILTIN}


def register_policy(name: str, policy: Policy, *, replace: bool = False) -> Policy:
    """Register ``policy`` under ``name`` (ConfigError if taken, unless ``replace``)."""
    if not name or not isinstance(policy, Policy):
        raise ConfigError(f"register_policy({name!r}): expected a name and a Policy")
    if name in _REGISTRY and not replace:
        raise ConfigError(f"policy {name!r}: already registered (pass replace=True)")
    _REGISTRY[name] = policy
    return policy


def unregister_policy(name: str) -> None:
    """Remove a user policy (built-in ones cannot be removed)."""
    if name in {p.name for p in _BUILTIN}:
        raise ConfigError(f"policy {name!r}: built-in policies cannot be unregistered")
    if _REGISTRY.pop(name, None) is None:
        raise ConfigError(f"policy {name!r}: not registered")


def policy_for_release(release: KernelVersion | str) -> Policy:
    """The merged-kernel policy in force in ``release``: 6.8 (v5.5-6.8), 6.9 (6.9-6.16), 6.17.

    The policy keeps its name but carries ``release``, so everything else that changed between
    releases (mapping sizes, MT layouts, VM_MTE bits, creation-time MMIO mapping) follows it.
    Releases before v5.5 are refused: the model does not describe them (the exec-on-device rule,
    Linux commit 6d674e28f642, is in v5.5).
    """
    r = KernelVersion.parse(release)
    if r < OLDEST_MODELLED:
        raise ConfigError(f"kernel {r}: older than the oldest release modelled (v{OLDEST_MODELLED};"
                          " before it KVM had no exec-on-device rule, "
                          f"{_C['exec-device'].cite()})")
    r = modelled_release(r, "release")  # 6.99 or a release newer than the model: refused
    base = POLICY_6_17 if r >= V6_17 else POLICY_6_9 if r >= V6_9 else POLICY_6_8
    return base if r == base.release else replace(base, release=r)


def with_prot(policy: Policy | str, prot: KVM_PGTABLE_PROT, *, name: str | None = None) -> Policy:
    """``policy`` with ``user_mem_abort`` asking for the memory-type bits ``prot`` (DEVICE,
    NORMAL_NC, both, or neither) for every non-cacheable page: drives ``stage2_set_prot_attr``
    with a chosen prot (DEVICE|NORMAL_NC shows what each revision of the series did)."""
    base = get_policy(policy)
    bits = prot & (KVM_PGTABLE_PROT.DEVICE | KVM_PGTABLE_PROT.NORMAL_NC)
    return replace(base, name=name or f"{base.name}+{prot_str(bits)}",
                   device_choice=DeviceChoice.CUSTOM, chooser=lambda _ctx: bits, what_if=True)


def get_policy(name: str | Policy) -> Policy:
    """A policy by name; 'v6.12' or '6.12' resolve to the merged policy of that release.

    :param name: a registered name ('6.8', '6.9', '6.17', 'v2', 'pcie-only' ...), a release, or
        a :class:`Policy` (returned as is).
    :returns: the :class:`Policy`.
    :raises ConfigError: an unknown name (listing the known ones).
    """
    if isinstance(name, Policy):
        return name
    key = name.strip()
    if key in _REGISTRY:
        return _REGISTRY[key]
    bare = key[1:] if key[:1] in ("v", "V") and key[1:2].isdigit() and "." in key else key
    if bare in _REGISTRY:
        return _REGISTRY[bare]
    if "." in bare and bare.replace(".", "").isdigit():
        if KernelVersion.parse(bare) >= OLDEST_MODELLED:
            modelled_release(bare, "policy")  # 6.99 is not a release: an error, not 6.17
        return policy_for_release(bare)
    import difflib  # only on the error path

    close = difflib.get_close_matches(key, list(_REGISTRY), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"policy {name!r}: unknown (known: {', '.join(_REGISTRY)}, or a release "
                      f"such as 6.12){hint}")


def builtin_policies() -> tuple[Policy, ...]:
    """The built-in policies, merged kernels first (6.8, 6.9, 6.17), then the postings of the
    series and the review's what-ifs."""
    first = (POLICY_6_8, POLICY_6_9, POLICY_6_17)
    return first + tuple(p for p in _BUILTIN if p not in first)


def policies() -> dict[str, Policy]:
    """Every registered policy by name, built-ins first."""
    return dict(_REGISTRY)

"""A reviewer's own stage-2 policy, written as data: ordered rules over what ``user_mem_abort``
sees, in a small TOML file (docs/policy-files.md).

:func:`load_policy_file` reads one with the shared declaration reader
(:mod:`memattr.inputs.toml`: bounded, errors ``file:line: key: what (expected)``) and returns a
:class:`~memattr.linux.policy.Policy` whose ``user_mem_abort`` asks the rules: the first rule
whose ``when`` conditions all hold gives the stage-2 memory type (``DEVICE``, ``NORMAL_NC``,
``NORMAL``), whether the mapping may be executable, or an errno.  Everything else -- the VMAs the
VFIO and mm paths make, the memslot checks, the mapping sizes, ``stage2_set_prot_attr`` and the
MemAttr values written -- is the named release's, so that a rule file changes exactly the choice
the review argued about.  Each built-in policy is also shipped in this form
(``memattr/data/policies/*.toml``, :func:`named_policy_files`) and tested equal to the built-in one over
the whole matrix.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

from ..errors import ConfigError
from ..inputs import toml as t
from ..inputs.escape import show

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..linux.policy import FaultContext, Policy, RuleResult

__all__ = [
    "SCHEMA",
    "CONDITIONS",
    "PGPROTS",
    "BUSES",
    "DEVICE_CLASSES",
    "FAULTS",
    "S2_TYPES",
    "ERRNOS",
    "Rule",
    "load_policy_file",
    "loads_policy",
    "named_policy_files",
    "named_policy_file",
]

PGPROTS = ("cacheable", "normal-nc", "device")
"""The VMA pgprot's cacheability: ``kvm_vma_is_cacheable`` (cacheable), MT_NORMAL_NC, Device."""

BUSES = ("pcie", "axi", "gic", "memory", "none")
"""What the PFN sits behind (the platform's bus model of its region)."""

DEVICE_CLASSES = ("ram", "pcie-bar", "pcie-vf-bar", "pcie-ecam", "pcie-window", "amba", "gicv",
                  "nvgrace-usemem", "nvgrace-resmem", "unmapped")
"""What the PFN is (:class:`memattr.platform.physmap.RegionKind`)."""

FAULTS = ("read", "write", "exec")
"""The fault kind (a cache-maintenance fault is a write fault: ESR.WnR = 1)."""

S2_TYPES = ("DEVICE", "NORMAL_NC", "NORMAL")
"""The ``kvm_pgtable_prot`` memory-type choice a rule gives."""

ERRNOS = ("EFAULT", "EINVAL")
"""The errors a rule may make ``user_mem_abort`` return (refusing execution is ``x = false``)."""

_VARIANTS = ("6.8", "6.9", "v3", "v4")


def _one_or_many(options: tuple[str, ...], noun: str) -> t.Kind:
    return t.AnyOf(t.Enum(options, noun), t.List(t.Enum(options, noun), min_length=1,
                                                 max_length=len(options), unique=True),
                   expected=f"one of {', '.join(options)}, or a list of them")


CONDITIONS = t.Table((
    t.Field("linear_map", t.Bool(), None, doc="pfn_is_map_memory(pfn): RAM in the linear map"),
    t.Field("vm_pfnmap", t.Bool(), None, doc="the VMA has VM_PFNMAP or VM_MIXEDMAP"),
    t.Field("vm_allow_any_uncached", t.Bool(), None, doc="the VMA has VM_ALLOW_ANY_UNCACHED"),
    t.Field("host_bridge", t.Bool(), None, doc="the PFN is in a PCIe host-bridge window"),
    t.Field("fwb", t.Bool(), None, doc="the host uses FEAT_S2FWB"),
    t.Field("dic", t.Bool(), None, doc="CTR_EL0.DIC"),
    t.Field("pgprot", _one_or_many(PGPROTS, "a pgprot cacheability"), None,
            doc="the VMA pgprot: cacheable, normal-nc or device"),
    t.Field("bus", _one_or_many(BUSES, "a bus"), None, doc="the bus the PFN sits behind"),
    t.Field("device", _one_or_many(DEVICE_CLASSES, "a device class"), None,
            doc="what the PFN is"),
    t.Field("fault", _one_or_many(FAULTS, "a fault kind"), None, doc="read, write or exec"),
), doc="conditions that must all hold (none: the rule always applies)")

_RULE = t.Table((
    t.Field("when", CONDITIONS, {}),
    t.Field("s2", t.Enum(S2_TYPES, "a stage-2 type"), None,
            doc="the memory-type bits: DEVICE, NORMAL_NC or NORMAL"),
    t.Field("errno", t.Enum(ERRNOS, "an errno"), None, doc="user_mem_abort fails with it"),
    t.Field("x", t.Bool(), None,
            doc="the mapping may be executable (default: only for NORMAL)"),
    t.Field("note", t.Str(512), ""),
), exactly_one=(("s2", "errno"),), doc="a rule: conditions, then s2 (and x) or errno")

_PAIR = t.List(t.Int(0, 15, "a MemAttr[3:0] value 0..15"), min_length=2, max_length=2,
               expected="[MemAttr without FWB, MemAttr with FWB]")

_MEMATTRS = t.Table((
    t.Field("device", _PAIR, None),
    t.Field("normal_nc", _PAIR, None),
    t.Field("normal", _PAIR, None),
), doc="the MemAttr values written for each prot, as [without FWB, with FWB]")


def _release_problem(v: str) -> str | None:
    from ..linux.version import KernelVersion

    try:
        KernelVersion.parse(v)
    except ConfigError:
        return f"{show(v)} is not a kernel release"
    return None


def _name_problem(v: str) -> str | None:
    from ..linux.policy import policy_name_problem

    return policy_name_problem(v)


SCHEMA = t.Table((
    t.Field("name", t.Check(t.Str(64), _name_problem, "a name of ASCII letters, digits and "
                            ". _ + | - such as 'my-6.9'"), required=True),
    t.Field("summary", t.Str(1024), ""),
    t.Field("release", t.Check(t.Str(16), _release_problem, "a kernel release such as '6.9'"),
            required=True, doc="the kernel whose mmap paths, memslot checks and sizes apply"),
    t.Field("set_prot_attr", t.Enum(_VARIANTS, "a stage2_set_prot_attr variant"), None,
            doc="which stage2_set_prot_attr (default: the release's)"),
    t.Field("ioremap", t.Enum(("DEVICE", "NORMAL_NC"), "a stage-2 type"), "DEVICE",
            doc="what kvm_phys_addr_ioremap maps (the GICv2 virtual CPU interface)"),
    t.Field("memattrs", _MEMATTRS, None),
    t.Field("rule", t.ArrayOf(_RULE, max_length=256), required=True,
            doc="ordered rules; the first that matches decides; the last must have no "
                "conditions"),
), doc="a policy file")
"""The policy file's schema (docs/policy-files.md#schema)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule: its conditions (key, allowed values), its result, and where it was written."""

    when: tuple[tuple[str, frozenset[Any]], ...]
    s2: str | None
    errno: str | None
    x: bool
    where: str
    note: str = ""

    def matches(self, facts: dict[str, Any]) -> bool:
        return all(facts[key] in allowed for key, allowed in self.when)


def _facts(ctx: FaultContext) -> dict[str, Any]:
    """What the conditions look at, for one faulting page (as ``user_mem_abort`` computes it)."""
    from ..linux.mm import MT, VM_ALLOW_ANY_UNCACHED, VM_MIXEDMAP, VM_PFNMAP, kvm_vma_is_cacheable

    vma, platform = ctx.vma, ctx.platform
    pa = ctx.pfn << 12
    region = platform.lookup(pa)
    bus = region.bus
    if kvm_vma_is_cacheable(vma):
        pgprot = "cacheable"
    elif vma.vm_page_prot.attrindx == MT.MT_NORMAL_NC:
        pgprot = "normal-nc"
    else:
        pgprot = "device"
    return {
        "linear_map": platform.pfn_is_map_memory(ctx.pfn),
        "vm_pfnmap": bool(vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)),
        "vm_allow_any_uncached": bool(vma.vm_flags & VM_ALLOW_ANY_UNCACHED),
        "host_bridge": platform.host_bridge_window(pa) is not None,
        "fwb": ctx.host.fwb,
        "dic": ctx.host.dic,
        "pgprot": pgprot,
        "bus": _BUS_NAME.get(bus.name, "none") if bus is not None else "none",
        "device": region.kind.name.lower().replace("_", "-"),
        "fault": ctx.fault,
    }


_BUS_NAME = {"PCIE": "pcie", "AXI": "axi", "GIC": "gic", "MEMORY": "memory"}


def _rules_fn(rules: tuple[Rule, ...]) -> Callable[[FaultContext], RuleResult]:
    from ..linux.events import Errno
    from ..linux.kvm.pgtable import KVM_PGTABLE_PROT
    from ..linux.policy import RuleResult

    prots = {"DEVICE": KVM_PGTABLE_PROT.DEVICE, "NORMAL_NC": KVM_PGTABLE_PROT.NORMAL_NC,
             "NORMAL": KVM_PGTABLE_PROT(0)}

    def decide(ctx: FaultContext) -> RuleResult:
        facts = _facts(ctx)
        for r in rules:
            if r.matches(facts):
                if r.errno is not None:
                    return RuleResult(None, False, Errno[r.errno], r.where)
                assert r.s2 is not None
                return RuleResult(prots[r.s2], r.x, None, r.where)
        raise AssertionError("the last rule has no conditions")  # checked when loaded

    return decide


def _policy(rec: t.Record) -> Policy:
    """The Policy a read policy file describes (ConfigError, located, for what cannot be)."""
    from ..linux.kvm.pgtable import KVM_PGTABLE_PROT, PgtableVariant, S2MemAttrs
    from ..linux.policy import DeviceChoice, FaultPath, Policy
    from ..linux.version import OLDEST_MODELLED, KernelVersion

    release = KernelVersion.parse(rec["release"])
    if release < OLDEST_MODELLED:
        raise rec.error("release", f"{release} is older than the oldest release modelled",
                        f"{OLDEST_MODELLED} or later")
    variant = PgtableVariant(rec["set_prot_attr"]) if rec["set_prot_attr"] is not None else \
        PgtableVariant.for_release(release)
    rules: list[Rule] = []
    recs = rec["rule"]
    if not recs:
        raise rec.error("rule", "no rules", "at least one [[rule]], the last without conditions")
    for i, r in enumerate(recs):
        when = tuple((key, frozenset(v if isinstance(v, tuple) else (v,)))
                     for key in r["when"] if (v := r["when"][key]) is not None)
        if r["s2"] == "NORMAL_NC" and variant is PgtableVariant.V6_8:
            raise r.error("s2", "NORMAL_NC with the 6.8 stage2_set_prot_attr, which has no "
                          "NORMAL_NC", "set_prot_attr = \"6.9\" (or v3, v4)")
        x = r["x"] if r["x"] is not None else r["s2"] == "NORMAL"
        if r["errno"] is not None and r["x"] is not None:
            raise r.error("x", "x with errno: the page is not mapped", "no x for an errno rule")
        rules.append(Rule(when, r["s2"], r["errno"], x, r.where(), r["note"]))
        if i == len(recs) - 1 and when:
            raise r.error("when", "the last rule has conditions, so some page would match no "
                          "rule", "a last [[rule]] without 'when' (the default)")
    m = rec["memattrs"]
    memattrs = S2MemAttrs() if m is None else S2MemAttrs(**{
        k: tuple(m[k]) for k in ("device", "normal_nc", "normal") if m[k] is not None})
    return Policy(
        name=rec["name"], summary=rec["summary"] or f"rules from {rec.doc.name}",
        release=release, fault_path=FaultPath.RULES, device_choice=DeviceChoice.DEVICE,
        ioremap_choice=KVM_PGTABLE_PROT[rec["ioremap"]], variant=variant, memattrs=memattrs,
        what_if=True, rules=_rules_fn(tuple(rules)), source=rec.doc.name,
        notes=(f"policy file {rec.doc.name}: {len(rules)} rules",))


def loads_policy(text: str, name: str = "<string>") -> Policy:
    """A policy from the text of a policy file (``name`` is shown in errors)."""
    return _policy(t.read(t.parse(text, name), SCHEMA))


def load_policy_file(path: str | os.PathLike[str], *, arg: str | None = None) -> Policy:
    """A policy from a policy file ('-': standard input).

    :raises ParseError: the file is not TOML, or a key, type or value is wrong (``file:line``).
    :raises ConfigError: well-formed but impossible (the last rule has conditions, NORMAL_NC with
        the 6.8 ``stage2_set_prot_attr``, a release older than the model).
    """
    return _policy(t.read(t.load(path, what="policy file", arg=arg), SCHEMA))


def named_policy_files() -> dict[str, str]:
    """The built-in policies as policy files shipped with the package: name -> path."""
    root = resources.files("memattr") / "data" / "policies"
    out = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            out[entry.name[:-5]] = str(entry)
    return out


def named_policy_file(name: str) -> Policy:
    """The shipped policy file of the built-in policy ``name``, loaded."""
    files = named_policy_files()
    if name not in files:
        raise ConfigError(f"policy file {show(name)}: none shipped (have {', '.join(files)})")
    return load_policy_file(files[name])


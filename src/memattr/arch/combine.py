"""Stage-1 x stage-2 combining, one function per Arm pseudocode rule (ASL v9.4).

Every rule returns its :class:`~memattr.arch.decision.Decision` (a simple rule) or a chain of
them ending in its own record (a rule that calls others): the result is ``chain[-1].result``.
:func:`resolve` runs the whole path an access takes -- stage-1 decode and the SCTLR_EL1 controls
(AArch64.S1Translate), stage-2 decode with or without FWB, the HCR_EL2 controls
(AArch64.S2Translate, AArch64.S2CheckPermissions), combining -- and returns every permitted
outcome with one chain of records per permitted alternative (:attr:`Resolution.paths`).

Each rule's answer is memoized on the values it reads (all of them immutable), so repeated and
table-wide resolution costs a dictionary look-up, not a recomputation; the records are the same
objects each time.
"""

from __future__ import annotations

import enum
from functools import lru_cache

from .._value import dataclass, replace  # dataclasses, cheaper to import
from ..errors import ConfigError, EncodingError
from . import impdef as _impdef
from .cpu import ALL, Cpu
from .decision import AslRule, Decision
from .mair import _allocated, _decode_attr, _resmair, _s1_decode
from .memtype import (
    Cacheability,
    CacheAttrs,
    DeviceType,
    MemoryAttributes,
    MemType,
    Shareability,
    decode_shareability,
)
from .s2memattr import FwbMeaning, FwbRule, _fwb_meaning, _s2_decode, fwb_notagaccess

__all__ = [
    "Access",
    "Controls",
    "Resolution",
    "decode_shareability",
    "decode_shareability_decision",
    "s2_combine_s1_device",
    "s2_combine_s1_attr_hints",
    "s2_combine_s1_shareability",
    "effective_shareability",
    "s2_mem_tag_type",
    "s2_combine_s1_mem_attrs",
    "aarch64_s2_apply_fwb_mem_attrs",
    "normal_nc_mem_attr",
    "s1_disabled_output",
    "resolve",
    "combine",
    "FAULT_S1_INSTRDEVICE",
    "FAULT_S2_INSTRDEVICE",
    "FAULT_S2_PTW_DEVICE",
]

_NC = CacheAttrs(Cacheability.NC)
_WB_RWA = CacheAttrs(Cacheability.WB, True, True, False)

FAULT_S1_INSTRDEVICE = "Permission fault at stage 1 (Unpredictable_INSTRDEVICE)"
FAULT_S2_INSTRDEVICE = "Permission fault at stage 2 (Unpredictable_INSTRDEVICE)"
FAULT_S2_PTW_DEVICE = "Permission fault at stage 2 (S1PTW to Device, HCR_EL2.PTW=1)"


class Access(enum.Enum):
    """The access kinds whose attributes differ (ASL AccessType, reduced)."""

    READ = "read"
    WRITE = "write"
    IFETCH = "ifetch"
    TTW = "ttw"  # a stage-1 translation table walk read, itself translated by stage 2
    DCZVA = "dczva"

    __hash__ = object.__hash__  # members are singletons: identity hash, at C speed

    @property
    def is_data(self) -> bool:
        return self is not Access.IFETCH


# Controls attribute -> the HCR_EL2 / SCTLR_EL1 field (registers.HCR_EL2, registers.SCTLR_EL1).
_HCR_FIELDS = {"vm": "VM", "ptw": "PTW", "dc": "DC", "cd": "CD", "id": "ID", "fwb": "FWB",
               "dct": "DCT"}
_SCTLR_FIELDS = {"m": "M", "a": "A", "c": "C", "i": "I"}


@dataclass(frozen=True, slots=True)
class Controls:
    """The register controls of the EL1&0 regime under EL2 that change attributes.

    Defaults describe a running KVM guest: stage 2 on (VM), stage 1 on with caches on.

    :param vm: HCR_EL2.VM (stage 2 on).  :param dc: HCR_EL2.DC.  :param cd: HCR_EL2.CD.
    :param id: HCR_EL2.ID.  :param fwb: HCR_EL2.FWB (FEAT_S2FWB).  :param ptw: HCR_EL2.PTW.
    :param dct: HCR_EL2.DCT.  :param m: SCTLR_EL1.M (stage 1 on).  :param a: SCTLR_EL1.A.
    :param c: SCTLR_EL1.C.  :param i: SCTLR_EL1.I.
    """

    vm: bool = True
    dc: bool = False
    cd: bool = False
    id: bool = False
    fwb: bool = False
    ptw: bool = False
    dct: bool = False
    m: bool = True
    a: bool = False
    c: bool = True
    i: bool = True

    @classmethod
    def from_registers(
        cls, hcr: int | None = None, sctlr: int | None = None, *, fwb: bool | None = None
    ) -> Controls:
        """Build controls from raw HCR_EL2 / SCTLR_EL1 values (None keeps the defaults).

        Field positions come from :data:`memattr.arch.registers.HCR_EL2` and ``SCTLR_EL1``.
        """
        kw: dict[str, bool] = {}
        if hcr is not None or sctlr is not None:
            from .registers import HCR_EL2, SCTLR_EL1

            for value, layout, fields_ in ((hcr, HCR_EL2, _HCR_FIELDS),
                                           (sctlr, SCTLR_EL1, _SCTLR_FIELDS)):
                if value is None:
                    continue
                if not 0 <= value < 1 << 64:
                    raise EncodingError(f"{layout.name}=0x{value:x}: out of range (64-bit register)")
                kw.update({k: bool(layout.get(value, f)) for k, f in fields_.items()})
        if fwb is not None:
            if hcr is not None and kw["fwb"] != fwb:
                raise EncodingError(
                    f"HCR_EL2.FWB={int(kw['fwb'])} conflicts with --{'no-' if not fwb else ''}fwb"
                )
            kw["fwb"] = fwb
        return cls(**kw)

    @property
    def s2_enabled(self) -> bool:
        """ASL94 AArch64.NSS2TTWParams walkparams.vm = HCR_EL2.VM OR HCR_EL2.DC."""
        return self.vm or self.dc

    @property
    def s1_enabled(self) -> bool:
        """SCTLR_EL1.M, forced off by HCR_EL2.DC (ASL94 AArch64.S1Enabled)."""
        return self.m and not self.dc


_DEFAULT_CONTROLS = Controls()


@dataclass(frozen=True)
class Resolution:
    """Every permitted outcome of an access's attributes, and the records that decided it.

    ``outcomes`` has exactly one element for a defined input and several where the architecture
    is CONSTRAINED UNPREDICTABLE or a reserved MAIR byte stands for an UNKNOWN allocated one.
    ``faults`` lists permitted fault outcomes (e.g. a Permission fault for an instruction fetch
    from Device).  :attr:`paths` has one chain of records per permitted alternative: each ends in
    a record whose result is one of ``outcomes`` or ``faults``.  ``s1`` are the stage-1
    attributes (after AArch64.S1Translate); ``s2`` the stage-2 ones (decoded, or FWB-combined).
    ``s1_unknown`` is True when the stage-1 MAIR byte is reserved: it stands for an UNKNOWN
    allocated byte, so ``outcomes`` are those of every allocated byte.
    """

    outcomes: tuple[MemoryAttributes, ...]
    reserved: str | None = None
    faults: tuple[str, ...] = ()
    s1: tuple[MemoryAttributes, ...] = ()
    s2: tuple[MemoryAttributes, ...] = ()
    s1_unknown: bool = False

    @property
    def paths(self) -> tuple[tuple[Decision, ...], ...]:
        """One chain of records per permitted alternative (assembled on first use: a reserved
        MAIR byte has one per allocated byte it may stand for)."""
        got: tuple[tuple[Decision, ...], ...] | None = self.__dict__.get("_paths")
        if got is None:
            src = self.__dict__.get("_source")
            if callable(src):  # a reserved byte's: its records are built on first use
                src = src()
            got = () if src is None else _assemble(*src)
            object.__setattr__(self, "_paths", got)  # a cache, not a field
        return got

    @property
    def decisions(self) -> tuple[Decision, ...]:
        """Every record of every path, each once, in the order the paths meet them."""
        seen: dict[int, Decision] = {}
        for path in self.paths:
            for d in path:
                seen.setdefault(id(d), d)
        return tuple(seen.values())

    @property
    def single(self) -> MemoryAttributes:
        """The one outcome of a defined input (raises if there is not exactly one)."""
        if len(self.outcomes) != 1 or self.faults:
            raise ValueError(f"not a single outcome: {len(self.outcomes)} outcomes, "
                             f"faults {self.faults}; {self.reserved}")
        return self.outcomes[0]


# --- value interning ---------------------------------------------------------------------------
# Attributes produced by the memoized rules are canonical: equal values are the same object, so
# later rules can memoize on id() (a canonical object is kept alive by the table below).

_CANON: dict[MemoryAttributes, MemoryAttributes] = {}


def _canon(a: MemoryAttributes) -> MemoryAttributes:
    return _CANON.setdefault(a, a)


_MK: dict[tuple[object, ...], tuple[object, object, MemoryAttributes]] = {}


def _mk(memtype: MemType, device: DeviceType | None, inner: CacheAttrs | None,
        outer: CacheAttrs | None, sh: Shareability, xs: bool | None, tagged: bool,
        notag: bool) -> MemoryAttributes:
    """The canonical MemoryAttributes with these fields (built once, then looked up by id)."""
    key = (memtype, device, id(inner), id(outer), sh, xs, tagged, notag)
    hit = _MK.get(key)
    if hit is not None and hit[0] is inner and hit[1] is outer:
        return hit[2]
    a = _canon(MemoryAttributes(memtype, device, inner, outer, sh, xs, tagged, notag))
    _MK[key] = (inner, outer, a)  # holding inner/outer keeps their ids from being reused
    return a


def normal_nc_mem_attr(xs: bool | None = True) -> MemoryAttributes:
    """ASL94 NormalNCMemAttr: Normal iNC/oNC, Outer Shareable, untagged (XS as given)."""
    return _nc(xs)


@lru_cache(maxsize=4)
def _nc(xs: bool | None) -> MemoryAttributes:
    return _canon(MemoryAttributes(MemType.Normal, inner=_NC, outer=_NC,
                                   shareability=Shareability.OSH, xs=xs))


# --- the small rules ---------------------------------------------------------------------------


@lru_cache(maxsize=8)
def decode_shareability_decision(sh: int) -> Decision:
    """ASL94 DecodeShareability: SH[1:0] -> the permitted shareabilities (three for 0b01)."""
    shs = decode_shareability(sh)
    branch = "Unpredictable_Shareability" if len(shs) > 1 else shs[0].value
    return Decision(AslRule.DecodeShareability, branch, (("sh", sh),), shs)


@lru_cache(maxsize=16)
def s2_combine_s1_device(s1: DeviceType, s2: DeviceType) -> Decision:
    """ASL94 S2CombineS1Device: the more restrictive, nGnRnE > nGnRE > nGRE > GRE."""
    out = s1 if s1.value <= s2.value else s2
    return Decision(AslRule.S2CombineS1Device, out.name, (("s1", s1), ("s2", s2)), out)


_HINTS: dict[tuple[int, int], tuple[CacheAttrs, CacheAttrs, Decision]] = {}


def s2_combine_s1_attr_hints(s1: CacheAttrs, s2: CacheAttrs) -> Decision:
    """ASL94 S2CombineS1AttrHints: NC if either is NC, else WT if either is WT, else WB; S1 hints."""
    hit = _HINTS.get((id(s1), id(s2)))
    if hit is not None and hit[0] is s1 and hit[1] is s2:
        return hit[2]
    if s1.cacheability is Cacheability.NC or s2.cacheability is Cacheability.NC:
        out, branch = _NC, "nc"
    else:
        wt = Cacheability.WT in (s1.cacheability, s2.cacheability)
        # Stage 2 assigns no allocation hints: the stage-1 hints and transient flag are used.
        out = _canon_cache(CacheAttrs(Cacheability.WT if wt else Cacheability.WB,
                                      s1.read_allocate, s1.write_allocate, s1.transient))
        branch = "wt" if wt else "wb"
    d = Decision(AslRule.S2CombineS1AttrHints, branch, (("s1", s1), ("s2", s2)), out)
    _HINTS[(id(s1), id(s2))] = (s1, s2, d)
    return d


_CACHES: dict[CacheAttrs, CacheAttrs] = {_NC: _NC, _WB_RWA: _WB_RWA}


def _canon_cache(c: CacheAttrs) -> CacheAttrs:
    return _CACHES.setdefault(c, c)


@lru_cache(maxsize=16)
def s2_combine_s1_shareability(s1: Shareability, s2: Shareability) -> Decision:
    """ASL94 S2CombineS1Shareability: OSH if either is OSH, else ISH if either is ISH, else NSH."""
    out = s1 if s1.rank >= s2.rank else s2
    return Decision(AslRule.S2CombineS1Shareability, out.value, (("s1", s1), ("s2", s2)), out)


_EFF: dict[int, tuple[MemoryAttributes, Decision]] = {}


def effective_shareability(attrs: MemoryAttributes) -> Decision:
    """ASL94 EffectiveShareability: Device and Normal iNC/oNC are Outer Shareable."""
    hit = _EFF.get(id(attrs))
    if hit is not None and hit[0] is attrs:
        return hit[1]
    if attrs.is_device:
        branch, out = "device", Shareability.OSH
    elif attrs.is_nc:
        branch, out = "normal_nc", Shareability.OSH
    else:
        branch, out = "descriptor", attrs.shareability
    d = Decision(AslRule.EffectiveShareability, branch, (("memattrs", attrs),), out)
    if len(_EFF) < 65536:
        _EFF[id(attrs)] = (attrs, d)
    return d


_TAGS: dict[tuple[object, ...], tuple[object, object, Decision]] = {}


def s2_mem_tag_type(attrs: MemoryAttributes, s1_tagged: bool, cpu: Cpu = ALL) -> Decision:
    """ASL94 S2MemTagType: tagged only if S1 is tagged and the result is Normal iWB/oWB RWA nt."""
    return _tag_type(attrs.memtype, attrs.inner, attrs.outer, s1_tagged, bool(cpu.mte2))


def _tag_type(memtype: MemType, inner: CacheAttrs | None, outer: CacheAttrs | None,
              s1_tagged: bool, mte2: bool) -> Decision:
    key = (memtype, id(inner), id(outer), s1_tagged, mte2)
    hit = _TAGS.get(key)
    if hit is not None and hit[0] is inner and hit[1] is outer:
        return hit[2]
    if not mte2:
        branch, out = "no_mte2", False
    elif not s1_tagged:
        branch, out = "s1_untagged", False
    elif memtype is MemType.Normal and inner == _WB_RWA and outer == _WB_RWA:
        branch, out = "tagged", True
    else:
        branch, out = "not_wb_rwa", False
    d = Decision(AslRule.S2MemTagType, branch,
                 (("memtype", memtype), ("inner", inner), ("outer", outer),
                  ("s1_tagged", s1_tagged), ("FEAT_MTE2", mte2)), out)
    _TAGS[key] = (inner, outer, d)
    return d


def _finish(
    memtype: MemType, device: DeviceType | None, inner: CacheAttrs | None,
    outer: CacheAttrs | None, s1: MemoryAttributes, sh2: Shareability, xs: bool | None,
    notag: bool, mte2: bool, *, notag_if_tagged: bool = False,
) -> tuple[tuple[Decision, ...], MemoryAttributes]:
    """The common tail of both combining rules: tags, NoTagAccess, SH, XS, EffectiveShareability.

    :param notag: NoTagAccess; with ``notag_if_tagged`` only if the result is tagged (FWB).
    """
    key = (memtype, device, id(inner), id(outer), s1.shareability, sh2, xs, s1.tagged, notag,
           notag_if_tagged, mte2)
    hit = _TAIL.get(key)
    if hit is not None and hit[0] is inner and hit[1] is outer:
        return hit[2]
    out = _finish_(memtype, device, inner, outer, s1, sh2, xs, notag, mte2, notag_if_tagged)
    _TAIL[key] = (inner, outer, out)
    return out


_TAIL: dict[tuple[object, ...], tuple[object, object,
                                      tuple[tuple[Decision, ...], MemoryAttributes]]] = {}


def _finish_(
    memtype: MemType, device: DeviceType | None, inner: CacheAttrs | None,
    outer: CacheAttrs | None, s1: MemoryAttributes, sh2: Shareability, xs: bool | None,
    notag: bool, mte2: bool, notag_if_tagged: bool,
) -> tuple[tuple[Decision, ...], MemoryAttributes]:
    tag = _tag_type(memtype, inner, outer, s1.tagged, mte2)
    sh = s2_combine_s1_shareability(s1.shareability, sh2)
    if notag_if_tagged:
        notag = notag and tag.result
    pre = _mk(memtype, device, inner, outer, sh.result, xs, tag.result, notag)
    eff = effective_shareability(pre)
    out = pre if eff.result is pre.shareability else _mk(
        memtype, device, inner, outer, eff.result, xs, tag.result, notag)
    return (tag, sh, eff), out


# A rule's decision without its own record: (branch, the sub-rules' records, the result).  The
# composite rules below compute it once per input (identity memos: the composition passes
# canonical objects, so the same input comes back as the same objects) and build their record
# from it; the table path (:func:`_column`) needs only the result.  The memos hold the input
# objects, which keeps their ids from being reused; they are bounded, as callers may build
# values of their own.
_Core = tuple[str, tuple[Decision, ...], MemoryAttributes]
_MEMO_MAX = 1 << 16
_COMBINE_CORE: dict[tuple[object, ...], tuple[object, object, _Core]] = {}
_COMBINE_CHAIN: dict[tuple[object, ...], tuple[object, object, tuple[Decision, ...]]] = {}


def s2_combine_s1_mem_attrs(
    s1: MemoryAttributes, s2: MemoryAttributes, cpu: Cpu = ALL
) -> tuple[Decision, ...]:
    """ASL94 S2CombineS1MemAttrs (HCR_EL2.FWB = 0): type, cacheability, tags, SH and XS.

    The record's inputs are what the branch taken reads (``s1.shareability``, ``s2`` ...).

    :returns: the sub-rules' records, then this rule's record (its result: the attributes).
    """
    mte2, perm = bool(cpu.mte2), bool(cpu.mte_perm)
    key = (id(s1), id(s2), mte2, perm)
    hit = _COMBINE_CHAIN.get(key)
    if hit is not None and hit[0] is s1 and hit[1] is s2:
        return hit[2]
    branch, subs, out = _combine_core(s1, s2, mte2, perm)
    if branch == "both_device":
        inputs: tuple[tuple[str, object], ...] = (
            ("s1.device", s1.device), ("s1.shareability", s1.shareability), ("s1.xs", s1.xs),
            ("s2.device", s2.device), ("s2.shareability", s2.shareability), ("s2.xs", s2.xs))
    elif branch == "s1_device":
        inputs = (("s1", s1), ("s2.memtype", s2.memtype), ("s2.shareability", s2.shareability),
                  ("s2.xs", s2.xs))
    elif branch == "s2_device":
        inputs = (("s1.memtype", s1.memtype), ("s1.shareability", s1.shareability),
                  ("s1.xs", s1.xs), ("s1.tagged", s1.tagged), ("s2", s2))
    else:
        inputs = (("s1.inner", s1.inner), ("s1.outer", s1.outer),
                  ("s1.shareability", s1.shareability), ("s1.xs", s1.xs),
                  ("s1.tagged", s1.tagged), ("s2.inner", s2.inner), ("s2.outer", s2.outer),
                  ("s2.shareability", s2.shareability), ("s2.xs", s2.xs),
                  ("s2.notagaccess", s2.notagaccess))
    rec = Decision(AslRule.S2CombineS1MemAttrs, branch,
                   (*inputs, ("FEAT_MTE2", mte2), ("FEAT_MTE_PERM", perm)), out)
    chain = (*subs, rec)
    if len(_COMBINE_CHAIN) < _MEMO_MAX:
        _COMBINE_CHAIN[key] = (s1, s2, chain)
    return chain


def _combine_core(s1: MemoryAttributes, s2: MemoryAttributes, mte2: bool, perm: bool) -> _Core:
    """The decision of :func:`s2_combine_s1_mem_attrs`, memoized on its inputs."""
    key = (id(s1), id(s2), mte2, perm)
    hit = _COMBINE_CORE.get(key)
    if hit is not None and hit[0] is s1 and hit[1] is s2:
        return hit[2]
    d1, d2 = s1.device, s2.device
    pkey = None
    if d2 is not None and d1 is None:
        # S1 Normal, S2 Device: the branch reads S1's type, SH, XS and Tagged only.
        pkey = (id(s2), s1.shareability, s1.xs, s1.tagged, mte2, perm)
        same = _S2_DEVICE.get(pkey)
        if same is not None and same[0] is s2:
            if len(_COMBINE_CORE) < _MEMO_MAX:
                _COMBINE_CORE[key] = (s1, s2, same[1])
            return same[1]
    subs: tuple[Decision, ...] = ()
    if d1 is not None and d2 is not None:
        branch = "both_device"
        dev = s2_combine_s1_device(d1, d2)
        subs = (dev,)
        memtype, device, inner, outer = MemType.Device, dev.result, None, None
    elif d1 is not None:
        branch = "s1_device"
        memtype, device, inner, outer = MemType.Device, d1, None, None
    elif d2 is not None:
        branch = "s2_device"
        memtype, device, inner, outer = MemType.Device, d2, None, None
    else:
        assert s1.inner and s1.outer and s2.inner and s2.outer
        branch = "both_normal"
        hi = s2_combine_s1_attr_hints(s1.inner, s2.inner)
        ho = s2_combine_s1_attr_hints(s1.outer, s2.outer)
        subs = (hi, ho)
        memtype, device, inner, outer = MemType.Normal, None, hi.result, ho.result
    # XS: 0 for Normal iWB/oWB, else S1.XS AND S2.XS (None without FEAT_XS).
    if s1.xs is None or s2.xs is None:
        xs: bool | None = None
    elif (inner is not None and outer is not None and inner.cacheability is Cacheability.WB
          and outer.cacheability is Cacheability.WB):
        xs = False
    else:
        xs = s1.xs and s2.xs
    # FEAT_MTE_PERM: NoTagAccess from stage 2 when stage 1 is AllocationTagged.
    notag = perm and s2.notagaccess and s1.tagged
    tail, out = _finish(memtype, device, inner, outer, s1, s2.shareability, xs, notag, mte2)
    core = (branch, (*subs, *tail), out)
    if len(_COMBINE_CORE) < _MEMO_MAX:
        _COMBINE_CORE[key] = (s1, s2, core)
        if pkey is not None:
            _S2_DEVICE[pkey] = (s2, core)
    return core


_S2_DEVICE: dict[tuple[object, ...], tuple[object, _Core]] = {}


_FWB_CORE: dict[tuple[object, ...], tuple[object, _Core]] = {}
_FWB_CHAIN: dict[tuple[object, ...], tuple[object, tuple[Decision, ...]]] = {}


def aarch64_s2_apply_fwb_mem_attrs(
    s1: MemoryAttributes,
    memattr: int,
    sh2: Shareability = Shareability.ISH,
    fnxs: bool = False,
    cpu: Cpu = ALL,
) -> tuple[Decision, ...]:
    """ASL94 AArch64.S2ApplyFWBMemAttrs (HCR_EL2.FWB = 1): the stage-2 rule applied to S1.

    As for :func:`s2_combine_s1_mem_attrs`, the record's inputs are what the branch reads.

    :returns: the MemAttr case record, the sub-rules' records, then this rule's record.
    """
    mte2, perm = bool(cpu.mte2), bool(cpu.mte_perm)
    key = (id(s1), memattr, sh2, fnxs, mte2, perm)
    hit = _FWB_CHAIN.get(key)
    if hit is not None and hit[0] is s1:
        return hit[1]
    if fnxs and not cpu.xs:
        raise ConfigError(f"S2 FnXS=1: RES0 without FEAT_XS (cpu {cpu.name})")
    branch, subs, out = _fwb_core(s1, memattr, sh2, fnxs, mte2, perm)
    if branch in ("device_s1_device", "as_s1", "nc_s1_device"):
        s1_in: tuple[tuple[str, object], ...] = (("s1", s1),)
    else:
        s1_in = (("s1.memtype", s1.memtype), ("s1.shareability", s1.shareability),
                 ("s1.xs", s1.xs), ("s1.tagged", s1.tagged))
        if branch == "force_wb":
            s1_in = (*s1_in, ("s1.inner", s1.inner), ("s1.outer", s1.outer))
    rec = Decision(AslRule.AArch64_S2ApplyFWBMemAttrs, branch,
                   (*s1_in, ("attr", memattr), ("sh", sh2), ("fnxs", fnxs),
                    ("FEAT_MTE2", mte2), ("FEAT_MTE_PERM", perm)), out)
    chain = (*subs, rec)
    if len(_FWB_CHAIN) < _MEMO_MAX:
        _FWB_CHAIN[key] = (s1, chain)
    return chain


def _fwb_core(s1: MemoryAttributes, memattr: int, sh2: Shareability, fnxs: bool, mte2: bool,
              perm: bool) -> _Core:
    """The decision of :func:`aarch64_s2_apply_fwb_mem_attrs`, memoized on its inputs."""
    key = (id(s1), memattr, sh2, fnxs, mte2, perm)
    hit = _FWB_CORE.get(key)
    if hit is not None and hit[0] is s1:
        return hit[1]
    case = _fwb_meaning(memattr, perm)
    meaning: FwbMeaning = case.result
    rule = meaning.rule
    pkey = None
    if s1.device is None and rule in (FwbRule.DEVICE, FwbRule.NC_OR_S1_DEVICE):
        # S1 Normal under a Device or NC case: the branch reads S1's type, SH, XS, Tagged only.
        pkey = (memattr, sh2, fnxs, mte2, perm, s1.shareability, s1.xs, s1.tagged)
        same = _FWB_NORMAL.get(pkey)
        if same is not None:
            if len(_FWB_CORE) < _MEMO_MAX:
                _FWB_CORE[key] = (s1, same)
            return same
    subs: tuple[Decision, ...] = (case,)
    if rule is FwbRule.DEVICE:
        dd = meaning.device
        assert isinstance(dd, DeviceType)
        if s1.device is not None:
            branch = "device_s1_device"
            dev = s2_combine_s1_device(s1.device, dd)
            subs = (case, dev)
            dd = dev.result
        else:
            branch = "device_s1_normal"
        memtype, device, inner, outer, xs = MemType.Device, dd, None, None, s1.xs
    elif rule is FwbRule.AS_S1:
        branch, xs = "as_s1", s1.xs
        memtype, device, inner, outer = s1.memtype, s1.device, s1.inner, s1.outer
    elif rule is FwbRule.FORCE_WB:
        branch = "force_wb"

        def level(c: CacheAttrs | None) -> CacheAttrs:
            if s1.is_normal and c is not None and c.cacheability is not Cacheability.NC:
                return _canon_cache(CacheAttrs(Cacheability.WB, c.read_allocate,
                                               c.write_allocate, c.transient))
            return _WB_RWA

        memtype, device, inner, outer = MemType.Normal, None, level(s1.inner), level(s1.outer)
        xs = None if s1.xs is None else False
    elif s1.device is not None:  # 0b101 (and 0b100): S1 Device is kept
        branch, xs = "nc_s1_device", s1.xs
        memtype, device, inner, outer = s1.memtype, s1.device, None, None
    else:
        branch, xs = "nc_s1_normal", s1.xs
        memtype, device, inner, outer = MemType.Normal, None, _NC, _NC
    if fnxs:
        xs = False  # FnXS = 1 forces XS = 0
    # NoTagAccess: MemAttr[3:1] = 0b111 and the result tagged (FEAT_MTE_PERM; else bit 3 RES0).
    notag = perm and fwb_notagaccess(memattr)
    tail, out = _finish(memtype, device, inner, outer, s1, sh2, xs, notag, mte2,
                        notag_if_tagged=True)
    core = (branch, (*subs, *tail), out)
    if len(_FWB_CORE) < _MEMO_MAX:
        _FWB_CORE[key] = (s1, core)
        if pkey is not None:
            _FWB_NORMAL[pkey] = core
    return core


_FWB_NORMAL: dict[tuple[object, ...], _Core] = {}


def s1_disabled_output(access: Access, controls: Controls, cpu: Cpu = ALL) -> Decision:
    """ASL94 AArch64.S1DisabledOutput for the EL1&0 regime (stage 1 off)."""
    return _s1_disabled(access, controls.dc, controls.dct, controls.i, bool(cpu.mte2),
                        bool(cpu.xs))


@lru_cache(maxsize=64)
def _s1_disabled(access: Access, dc: bool, dct: bool, i: bool, mte2: bool,
                 has_xs: bool) -> Decision:
    inputs = (("access", access), ("dc", dc), ("dct", dct), ("i", i), ("FEAT_MTE2", mte2))
    if dc:
        # HCR_EL2.DC = 1: Normal iWB/oWB RWA non-transient, Non-shareable, Tagged if HCR_EL2.DCT.
        branch = "hcr_dc"
        a = MemoryAttributes(MemType.Normal, inner=_WB_RWA, outer=_WB_RWA,
                             shareability=Shareability.NSH, xs=False, tagged=dct and mte2)
    elif access is Access.IFETCH and i:
        branch = "ifetch_icache_on"
        wt = _canon_cache(CacheAttrs(Cacheability.WT, True, False, False))
        a = MemoryAttributes(MemType.Normal, inner=wt, outer=wt, shareability=Shareability.OSH,
                             xs=True)
    elif access is Access.IFETCH:
        branch = "ifetch_icache_off"
        a = MemoryAttributes(MemType.Normal, inner=_NC, outer=_NC,
                             shareability=Shareability.OSH, xs=True)
    else:
        branch = "data"
        a = MemoryAttributes(MemType.Device, device=DeviceType.nGnRnE,
                             shareability=Shareability.OSH, xs=True)
    if not has_xs:
        a = replace(a, xs=None)
    return Decision(AslRule.AArch64_S1DisabledOutput, branch, inputs, _canon(a))


# --- the whole path ------------------------------------------------------------------------
# A branch is (chain of records, attributes or None, fault or None).  Stage caches are plain
# dicts keyed by small values; their entries are never dropped (the input space is finite), so
# the ids of the branch tuples and attributes they hold stay valid keys for the memo below.

_Branch = tuple[tuple[Decision, ...], "MemoryAttributes | None", "str | None"]


class _Ctx:
    """The controls, access kind, CPU and IMPLEMENTATION DEFINED choices of one resolution.

    ``s1`` and ``s2`` are the stage caches, shared by every context that agrees on what the
    stage reads (``k1``, ``k2``), keyed by small ints.
    """

    __slots__ = ("controls", "access", "cpu", "imp", "k1", "k2", "s1", "s2")

    def __init__(self, controls: Controls, access: Access, cpu: Cpu, imp: _impdef.ImpDef) -> None:
        self.controls, self.access, self.cpu, self.imp = controls, access, cpu, imp
        c = controls
        k1 = (c.s1_enabled, c.dc, c.dct, c.i, c.c, c.vm, access, bool(cpu.xs), bool(cpu.mte2),
              imp.apply_effective_shareability_at_s1)
        k2 = (c.s2_enabled, c.fwb, c.cd, c.id, c.ptw, access, bool(cpu.xs), bool(cpu.mte2),
              bool(cpu.mte_perm))
        self.k1 = _KEYS.setdefault(k1, len(_KEYS))
        self.k2 = _KEYS.setdefault(k2, len(_KEYS))
        self.s1: dict[int, _Stage1] = _STAGES.setdefault(("s1", self.k1), {})  # type: ignore[assignment]
        self.s2: dict[int, _Stage2] = _STAGES.setdefault(("s2", self.k2), {})  # type: ignore[assignment]


_KEYS: dict[tuple[object, ...], int] = {}
_STAGES: dict[tuple[str, int], dict[int, object]] = {}
_CTXS: dict[tuple[Controls, Access, Cpu, _impdef.ImpDef], _Ctx] = {}


def _ctx(controls: Controls, access: Access, cpu: Cpu, imp: _impdef.ImpDef) -> _Ctx:
    """The context of these values: found by identity first (hashing a Cpu is not free)."""
    ik = (id(controls), access, id(cpu), id(imp))
    hit = _CTX_IDS.get(ik)
    if hit is not None and hit[0] is controls and hit[1] is cpu and hit[2] is imp:
        return hit[3]
    key = (controls, access, cpu, imp)
    ctx = _CTXS.get(key)
    if ctx is None:
        if controls.fwb and not cpu.s2fwb:
            raise ConfigError(f"HCR_EL2.FWB=1: RES0 without FEAT_S2FWB (cpu {cpu.name})")
        ctx = _CTXS[key] = _Ctx(controls, access, cpu, imp)
    if len(_CTX_IDS) < 4096:
        _CTX_IDS[ik] = (controls, cpu, imp, ctx)  # holding them keeps their ids valid
    return ctx


_CTX_IDS: dict[tuple[object, ...], tuple[Controls, Cpu, _impdef.ImpDef, _Ctx]] = {}


def _s1_translate(a: MemoryAttributes, ctx: _Ctx) -> tuple[_Branch, ...]:
    """ASL94 AArch64.S1Translate after the walk: the SCTLR_EL1 controls, then shareability."""
    c, access = ctx.controls, ctx.access
    inputs = (("s1", a), ("access", access), ("i", c.i), ("c", c.c))
    alts: list[_Branch] = []
    if access is Access.IFETCH and (a.is_device or not c.i):
        if a.is_device:
            # AArch64.S1CheckPermissions: ConstrainUnpredictable(Unpredictable_INSTRDEVICE).
            f = Decision(AslRule.AArch64_S1CheckPermissions, "Unpredictable_INSTRDEVICE",
                         (("s1", a), ("access", access)), FAULT_S1_INSTRDEVICE)
            alts.append(((f,), None, FAULT_S1_INSTRDEVICE))
        branch = "ifetch_device_as_nc" if a.is_device else "ifetch_icache_off_as_nc"
        nc = _nc(a.xs)
        alts.append(((Decision(AslRule.AArch64_S1Translate, branch, inputs, nc),), nc, None))
    elif access is not Access.IFETCH and a.is_normal and not c.c:
        nc = _nc(a.xs)
        if a.tagged and ctx.cpu.mte2:
            # Unpredictable_S1CTAGGED: whether the Tag attribute survives SCTLR_ELx.C = 0.
            t = _canon(replace(nc, tagged=True))
            alts.append(((Decision(AslRule.AArch64_S1Translate, "data_cache_off_as_nc_tagged",
                                   inputs, t),), t, None))
        alts.append(((Decision(AslRule.AArch64_S1Translate, "data_cache_off_as_nc", inputs,
                               nc),), nc, None))
    else:
        alts.append(((), a, None))
    out: list[_Branch] = []
    impdef = ctx.imp.apply_effective_shareability_at_s1
    for chain, attrs, fault in alts:
        if attrs is None:
            out.append((chain, attrs, fault))
            continue
        # ImpDefBool("Apply effective shareability at stage 1"), asked when stage 2 is on.
        if c.vm and not impdef:
            rec = Decision(AslRule.AArch64_S1Translate, "descriptor_shareability",
                           (("s1", attrs), ("vm", c.vm), ("impdef", impdef)), attrs)
            out.append(((*chain, rec), attrs, None))
            continue
        eff = effective_shareability(attrs)
        new = attrs if eff.result is attrs.shareability else _canon(
            replace(attrs, shareability=eff.result))
        rec = Decision(AslRule.AArch64_S1Translate, "effective_shareability",
                       (("s1", attrs), ("vm", c.vm), ("impdef", impdef)), new)
        out.append(((*chain, eff, rec), new, None))
    return tuple(out)


# A stage-1 entry: (records common to every branch, the branches, a note on loose encodings,
# for a reserved byte the branch tuples of every allocated byte it may stand for, else None).
_Stage1 = tuple[tuple[Decision, ...], tuple[_Branch, ...], "str | None",
                "tuple[tuple[_Branch, ...], ...] | None"]
_S1CORE: dict[tuple[int, int, int], tuple[tuple[_Branch, ...], str | None]] = {}


def _s1_core(attr: int, sh1: int, ctx: _Ctx) -> tuple[tuple[_Branch, ...], str | None]:
    """The stage-1 branches of an allocated byte: DecodeShareability, S1DecodeMemAttrs, S1Translate."""
    key = (attr, sh1, ctx.k1)
    hit = _S1CORE.get(key)
    if hit is not None:
        return hit
    cpu = ctx.cpu
    shs = decode_shareability_decision(sh1)
    branches: list[_Branch] = []
    for sh in shs.result:
        dec = _s1_decode(attr, sh, bool(cpu.xs), bool(cpu.mte2))
        a = _canon(dec.result)
        for chain, attrs, fault in _s1_translate(a, ctx):
            branches.append(((shs, dec, *chain), attrs, fault))
    notes = []
    if len(shs.result) > 1:
        notes.append("S1 SH=0b01 is reserved: CONSTRAINED UNPREDICTABLE, one of NSH/ISH/OSH")
    if any(f for _c, _a, f in branches):
        notes.append("instruction fetch from S1 Device is CONSTRAINED UNPREDICTABLE "
                     "(Unpredictable_INSTRDEVICE): Permission fault, or treated as Normal NC")
    if any(c[-1].branch == "data_cache_off_as_nc_tagged" for c, _a, _f in branches if c):
        notes.append("SCTLR_EL1.C=0 on a tagged page: Tag attribute CONSTRAINED UNPREDICTABLE "
                     "(Unpredictable_S1CTAGGED)")
    out = (tuple(branches), "; ".join(notes) or None)
    _S1CORE[key] = out
    return out


def _stage1(s1_attr: int, sh1: int, ctx: _Ctx) -> _Stage1:
    """Stage 1 of one input (cached per context)."""
    # The packed key holds a byte and SH[1:0]: a wider value must not alias a cached one.
    hit = ctx.s1.get(s1_attr | sh1 << 8) if not (s1_attr >> 8 or sh1 >> 2) else None
    if hit is not None:
        return hit
    c, cpu = ctx.controls, ctx.cpu
    if not c.s1_enabled:
        d = s1_disabled_output(ctx.access, c, cpu)
        out: _Stage1 = ((), (((d,), d.result, None),), None, None)
    else:
        if not 0 <= s1_attr <= 0xFF:
            raise EncodingError(f"S1 MAIR attribute=0x{s1_attr:x}: out of range (0x00..0xff)")
        if sh1 not in (0, 1, 2, 3):
            raise EncodingError(f"SH1=0x{sh1:x}: out of range (2 bits)")
        xs, mte2 = bool(cpu.xs), bool(cpu.mte2)
        res = _resmair(s1_attr, xs, mte2)
        if res.result:
            # S1DecodeMemAttrs: ConstrainUnpredictableBits(Unpredictable_RESMAIR, 8) stands for
            # an UNKNOWN allocated byte; its branches are those of every allocated byte.
            attr = _decode_attr(s1_attr, xs, mte2)
            union = _S1UNION.get((sh1, ctx.k1))
            if union is None:
                cores = tuple(_s1_core(b, sh1, ctx)[0] for b in _allocated(xs, mte2))
                union = _S1UNION[(sh1, ctx.k1)] = (
                    tuple(br for core in cores for br in core), cores)
            note = f"S1 MAIR attribute 0x{s1_attr:02x}: {attr.reserved}"
            out = (attr.decisions, union[0], note, union[1])
        else:
            branches, note1 = _s1_core(s1_attr, sh1, ctx)
            out = ((res,), branches, note1, None)
    ctx.s1[s1_attr | sh1 << 8] = out
    return out


_S1UNION: dict[tuple[int, int], tuple[tuple[_Branch, ...], tuple[tuple[_Branch, ...], ...]]] = {}

_CHECKS: dict[tuple[int, int], tuple[MemoryAttributes, tuple[_Branch, ...]]] = {}


def _s2_checks(s2: MemoryAttributes, ctx: _Ctx) -> tuple[_Branch, ...]:
    """ASL94 AArch64.S2CheckPermissions and AArch64.S2Translate on the stage-2 attributes."""
    hit = _CHECKS.get((id(s2), ctx.k2))
    if hit is not None and hit[0] is s2:
        return hit[1]
    out = _s2_checks_(s2, ctx)
    _CHECKS[(id(s2), ctx.k2)] = (s2, out)
    return out


def _s2_checks_(s2: MemoryAttributes, ctx: _Ctx) -> tuple[_Branch, ...]:
    c, access = ctx.controls, ctx.access
    inputs = (("s2", s2), ("access", access), ("ptw", c.ptw), ("id", c.id), ("cd", c.cd))
    if access is Access.TTW and s2.is_device:
        if c.ptw:
            f = Decision(AslRule.AArch64_S2CheckPermissions, "ttw_device_ptw", inputs,
                         FAULT_S2_PTW_DEVICE)
            return (((f,), None, FAULT_S2_PTW_DEVICE),)
        nc = _nc(s2.xs)
        return (((Decision(AslRule.AArch64_S2Translate, "ttw_device_as_nc", inputs, nc),), nc,
                 None),)
    if access is Access.IFETCH and (s2.is_device or c.id):
        alts: list[_Branch] = []
        if s2.is_device:
            # AArch64.S2CheckPermissions: ConstrainUnpredictable(Unpredictable_INSTRDEVICE).
            f = Decision(AslRule.AArch64_S2CheckPermissions, "Unpredictable_INSTRDEVICE",
                         (("s2", s2), ("access", access)), FAULT_S2_INSTRDEVICE)
            alts.append(((f,), None, FAULT_S2_INSTRDEVICE))
        nc = _nc(s2.xs)
        branch = "ifetch_device_as_nc" if s2.is_device else "ifetch_hcr_id_as_nc"
        alts.append(((Decision(AslRule.AArch64_S2Translate, branch, inputs, nc),), nc, None))
        return tuple(alts)
    if access is not Access.IFETCH and s2.is_normal and c.cd:
        nc = _nc(s2.xs)
        return (((Decision(AslRule.AArch64_S2Translate, "data_hcr_cd_as_nc", inputs, nc),), nc,
                 None),)
    return (((), s2, None),)


# A stage-2 entry: (common records, branches, note, stage-2 attributes for Resolution.s2, the
# cross memo, the outcome signature).  Branches are None with stage 2 off, (chain,
# shareability) pairs with FWB (the rule is applied to each stage-1 branch), else stage-2
# branches after AArch64.S2Translate.  Entries with equal signatures give every stage-1 branch
# the same outcomes (their records differ): the table path (memattr.arch.batch) keys on it.
_Stage2 = tuple[tuple[Decision, ...], object, "str | None", tuple[MemoryAttributes, ...],
                dict[int, "_Cross"], int]
_SIGS: dict[tuple[object, ...], int] = {}


def _stage2(s2_memattr: int, sh2: int, fnxs: bool, ctx: _Ctx) -> _Stage2:
    """Stage 2 of one input (cached per context)."""
    # The packed key holds MemAttr[3:0], SH[1:0] and FnXS: wider values must not alias.
    hit = ctx.s2.get(s2_memattr | sh2 << 4 | fnxs << 6) if not (s2_memattr >> 4 or sh2 >> 2) \
        else None
    if hit is not None:
        return hit
    c, cpu = ctx.controls, ctx.cpu
    if not 0 <= s2_memattr <= 0xF:
        raise EncodingError(f"S2 MemAttr=0x{s2_memattr:x}: out of range (4 bits, 0x0..0xf)")
    if sh2 not in (0, 1, 2, 3):
        raise EncodingError(f"SH2=0x{sh2:x}: out of range (2 bits)")
    if fnxs and not cpu.xs:
        raise ConfigError(f"S2 FnXS=1: RES0 without FEAT_XS (cpu {cpu.name})")
    out: _Stage2
    if not c.s2_enabled:
        # AArch64.S2Translate returns stage 1's attributes whatever the controls.
        out = ((), None, None, (), {}, _SIGS.setdefault(("off",), len(_SIGS)))
    else:
        shs = decode_shareability_decision(sh2)
        notes = []
        if len(shs.result) > 1:
            notes.append("S2 SH=0b01 is reserved: CONSTRAINED UNPREDICTABLE, one of NSH/ISH/OSH")
        if c.fwb:
            case = _fwb_meaning(s2_memattr, bool(cpu.mte_perm))
            m = case.result
            if m.reserved:
                notes.append(m.reserved)
            # What AArch64.S2ApplyFWBMemAttrs reads of MemAttr (its case, and [3:1] = 0b111 for
            # NoTagAccess), the SH and FnXS, and what the HCR_EL2 checks after it read (k2).
            sig = ("fwb", m.rule, m.device, fwb_notagaccess(s2_memattr), shs.result, fnxs,
                   ctx.k2)
            out = ((), tuple(((shs,), sh) for sh in shs.result), "; ".join(notes) or None, (),
                   {}, _SIGS.setdefault(sig, len(_SIGS)))
        else:
            branches: list[_Branch] = []
            seen: list[MemoryAttributes] = []
            for sh in shs.result:
                dec = _s2_decode(s2_memattr, sh, fnxs, bool(cpu.xs), bool(cpu.mte_perm))
                if dec.reserved and dec.reserved not in notes:
                    notes.append(dec.reserved)
                for chain, a in zip(dec.chains, dec.outcomes, strict=True):
                    a = _canon(a)
                    seen.append(a)
                    for adj_chain, adj, fault in _s2_checks(a, ctx):
                        branches.append(((shs, *chain, *adj_chain), adj, fault))
            # Outcomes depend on the branches' attributes and faults, not on their records.
            sig2 = ("s2", tuple(f if a is None else id(a) for _c, a, f in branches),
                    bool(cpu.mte2), bool(cpu.mte_perm))
            out = ((), tuple(branches), "; ".join(notes) or None,
                   tuple({id(a): a for a in seen}.values()), {}, _SIGS.setdefault(sig2, len(_SIGS)))
    ctx.s2[s2_memattr | sh2 << 4 | fnxs << 6] = out
    return out


_End = tuple[tuple[tuple[Decision, ...], ...], "MemoryAttributes | str", "MemoryAttributes | None"]


def _pair(s1br: _Branch, s2br: object, s2_memattr: int, fnxs: bool, ctx: _Ctx
          ) -> tuple[_End, ...]:
    """Combine one stage-1 branch with one stage-2 branch.

    :returns: the choices, each (record segments after the stage-1 branch, the outcome or
        fault, the FWB-combined stage-2 attributes or None).
    """
    a1 = s1br[1]
    assert a1 is not None
    if s2br is None:
        d = _s2_off(a1, ctx.controls.vm, ctx.controls.dc)
        return ((((d,),), a1, None),)
    if ctx.controls.fwb:
        sh_chain: tuple[Decision, ...]
        sh2: Shareability
        sh_chain, sh2 = s2br  # type: ignore[misc]
        applied = aarch64_s2_apply_fwb_mem_attrs(a1, s2_memattr, sh2, fnxs, ctx.cpu)
        walk: MemoryAttributes = applied[-1].result
        out: list[_End] = []
        for adj, adj_a, fault in _s2_checks(walk, ctx):
            end = fault if fault is not None else adj_a
            assert end is not None
            out.append(((sh_chain, applied, adj), end, walk))
        return tuple(out)
    chain2: tuple[Decision, ...]
    a2: MemoryAttributes
    fault2: str | None
    chain2, a2, fault2 = s2br  # type: ignore[misc]
    if fault2 is not None:
        return (((chain2,), fault2, None),)
    comb = s2_combine_s1_mem_attrs(a1, a2, ctx.cpu)
    return (((chain2, comb), comb[-1].result, None),)


_OFF: dict[tuple[int, bool, bool], tuple[MemoryAttributes, Decision]] = {}


def _s2_off(a1: MemoryAttributes, vm: bool, dc: bool) -> Decision:
    """AArch64.S2Translate with stage 2 off (HCR_EL2.VM = DC = 0): stage 1's attributes."""
    hit = _OFF.get((id(a1), vm, dc))
    if hit is not None and hit[0] is a1:
        return hit[1]
    d = Decision(AslRule.AArch64_S2Translate, "stage2_disabled",
                 (("s1", a1), ("vm", vm), ("dc", dc)), a1)
    _OFF[(id(a1), vm, dc)] = (a1, d)
    return d


# The cross of stage-1 branches with a stage 2: (the branches, the ends -- each (stage-1 chain,
# outcome or fault, record segments after it, FWB walk attributes) --, outcomes, faults).
_Cross = tuple[tuple[_Branch, ...],
               list[tuple[tuple[Decision, ...], "MemoryAttributes | str",
                          tuple[tuple[Decision, ...], ...], "MemoryAttributes | None"]],
               tuple[MemoryAttributes, ...], tuple[str, ...]]


def _cross(st1: _Stage1, st2: _Stage2, s2_memattr: int, fnxs: bool, ctx: _Ctx) -> _Cross:
    """Every (stage-1 branch x stage-2 choice) of one input, memoized per stage-2 entry."""
    branches1 = st1[1]
    memo = st2[4]
    hit = memo.get(id(branches1))
    if hit is not None and hit[0] is branches1:
        return hit
    ends: list[tuple[tuple[Decision, ...], MemoryAttributes | str,
                     tuple[tuple[Decision, ...], ...], MemoryAttributes | None]] = []
    cores = st1[3]
    branches2 = st2[1]
    if cores is None and len(branches1) == 1 and (branches2 is None or len(branches2) == 1):  # type: ignore[arg-type]
        # The common case: one stage-1 branch, at most one stage-2 branch.
        br = branches1[0]
        fault1 = br[2]
        entry: _Cross
        if fault1 is not None:
            entry = (branches1, [(br[0], fault1, ((),), None)], (), (fault1,))
        elif branches2 is not None and not ctx.controls.fwb:
            chain2, a2, fault2 = branches2[0]  # type: ignore[index]
            if fault2 is not None:
                entry = (branches1, [(br[0], fault2, (chain2,), None)], (), (fault2,))
            else:
                comb = s2_combine_s1_mem_attrs(br[1], a2, ctx.cpu)  # type: ignore[arg-type]
                end = comb[-1].result
                entry = (branches1, [(br[0], end, (chain2, comb), None)], (end,), ())
        else:
            choices = _pair(br, None if branches2 is None else branches2[0],  # type: ignore[index]
                            s2_memattr, fnxs, ctx)
            if len(choices) == 1:
                segs, end, walk = choices[0]
                ends = [(br[0], end, segs, walk)]
                if isinstance(end, str):
                    entry = (branches1, ends, (), (end,))
                else:
                    entry = (branches1, ends, (end,), ())
            else:
                entry = _cross_ends(branches1, [(br[0], end, segs, walk)
                                                for segs, end, walk in choices])
        memo[id(branches1)] = entry
        return entry
    if cores is not None:  # a reserved byte: the union of every allocated byte's cross
        for core in cores:
            ends.extend(_cross(((), core, None, None), st2, s2_memattr, fnxs, ctx)[1])
    else:
        for br in branches1:
            if br[2] is not None:
                ends.append((br[0], br[2], ((),), None))
            elif branches2 is None:
                for segs, end, walk in _pair(br, None, s2_memattr, fnxs, ctx):
                    ends.append((br[0], end, segs, walk))
            else:
                for b2 in branches2:  # type: ignore[attr-defined]
                    for segs, end, walk in _pair(br, b2, s2_memattr, fnxs, ctx):
                        ends.append((br[0], end, segs, walk))
    entry = _cross_ends(branches1, ends)
    memo[id(branches1)] = entry
    return entry


def _cross_ends(branches1: tuple[_Branch, ...], ends: list) -> _Cross:  # type: ignore[type-arg]
    """A :data:`_Cross` entry from its ends: outcomes and faults each once, in order."""
    # Outcomes are canonical objects: identity is equality, so de-duplicate by id().
    outcomes = tuple({id(e[1]): e[1] for e in ends if not isinstance(e[1], str)}.values())
    faults = tuple(dict.fromkeys(e[1] for e in ends if isinstance(e[1], str)))
    return (branches1, ends, outcomes, faults)


def _note(st1: _Stage1, st2: _Stage2) -> str | None:
    n1, n2 = st1[2], st2[2]
    return n1 if n2 is None else (n2 if n1 is None else f"{n1}; {n2}")


_RESOLVED: dict[tuple[object, ...], Resolution] = {}  # keyed on the full input


def resolve(
    s1_attr: int,
    s2_memattr: int,
    *,
    sh1: int = 0b11,
    sh2: int = 0b11,
    fnxs: bool = False,
    controls: Controls | None = None,
    access: Access = Access.READ,
    cpu: Cpu = ALL,
    imp: _impdef.ImpDef = _impdef.DEFAULT,
) -> Resolution:
    """The effective attributes of an access: S1 MAIR byte x S2 MemAttr under the controls.

    :param s1_attr: the stage-1 MAIR_ELx attribute byte selected by the descriptor's AttrIndx.
    :param s2_memattr: the stage-2 descriptor's MemAttr[3:0].
    :param sh1: the stage-1 descriptor's SH[1:0].
    :param sh2: the stage-2 descriptor's SH[1:0].
    :param fnxs: the stage-2 descriptor's FnXS bit (FEAT_XS).
    :param controls: HCR_EL2 / SCTLR_EL1 controls (default: KVM guest, FWB off).
    :param access: the access kind.
    :param cpu: the PE's features (:mod:`memattr.arch.cpu`); HCR_EL2.FWB needs FEAT_S2FWB.
    :param imp: the IMPLEMENTATION DEFINED choices.
    :returns: a :class:`Resolution`: ``outcomes`` (one, or every permitted one), ``reserved``
        (why an input is reserved or CONSTRAINED UNPREDICTABLE), ``faults``, and the decision
        records (``decisions``, ``paths``) that :mod:`memattr.report.explain` renders.
    :raises EncodingError: an input that does not fit its field (S1 byte, MemAttr, SH).
    :raises ConfigError: a control the CPU lacks (HCR_EL2.FWB without FEAT_S2FWB).
    """
    ctl = controls if controls is not None else _DEFAULT_CONTROLS
    ctx = _ctx(ctl, access, cpu, imp)  # one object per distinct (controls, access, cpu, imp)
    key = (s1_attr, s2_memattr, sh1, sh2, fnxs, ctx)
    hit = _RESOLVED.get(key)
    if hit is not None:
        return hit
    # The stage memos are keyed by packed fields: an out-of-range value (S1 0x100 would alias
    # 0x00 with SH 0b01) goes to _stage1/_stage2, which check ranges before their memo.
    st1 = (ctx.s1.get(s1_attr | sh1 << 8) if not (s1_attr >> 8 or sh1 >> 2) else None) \
        or _stage1(s1_attr, sh1, ctx)
    st2 = (ctx.s2.get(s2_memattr | sh2 << 4 | fnxs << 6) if not (s2_memattr >> 4 or sh2 >> 2)
           else None) or _stage2(s2_memattr, sh2, fnxs, ctx)
    if st1[3] is not None:
        res = _resolve_unknown(st1, st2, s2_memattr, fnxs, ctx)
        if len(_RESOLVED) < 1 << 20:
            _RESOLVED[key] = res
        return res
    x = _cross(st1, st2, s2_memattr, fnxs, ctx)
    vals = _VALS.get(id(x))
    if vals is None or vals[0] is not x:
        s1vals = tuple({id(br[1]): br[1] for br in st1[1] if br[1] is not None}.values())
        s2vals = st2[3]
        if ctl.s2_enabled and ctl.fwb:
            s2vals = tuple({id(e[3]): e[3] for e in x[1] if e[3] is not None}.values())
        vals = _VALS[id(x)] = (x, s1vals, s2vals)
    res = Resolution(x[2], _note(st1, st2), x[3], vals[1], vals[2], st1[3] is not None)
    object.__setattr__(res, "_source", (st1[0], st2[0], x[1]))  # for Resolution.paths
    if len(_RESOLVED) < 1 << 20:
        _RESOLVED[key] = res
    return res


def _resolve_unknown(st1: _Stage1, st2: _Stage2, s2_memattr: int, fnxs: bool, ctx: _Ctx
                     ) -> Resolution:
    """A reserved S1 byte: every allocated byte's outcomes (memattr.arch.batch's outcome memo,
    the same composition), its records assembled only when :attr:`Resolution.paths` is read
    (one path per allocated byte and alternative: hundreds)."""
    from .batch import _outcomes_of

    _b, outcomes, faults = _outcomes_of(st1, st2, s2_memattr, fnxs, ctx)
    vals = _VALS.get(id(st2[4]))  # per (stage-1 union, stage-2 entry): the union is shared
    if vals is None or vals[0] is not st2[4]:
        s1vals = tuple({id(br[1]): br[1] for br in st1[1] if br[1] is not None}.values())
        s2vals = st2[3]
        if ctx.controls.s2_enabled and ctx.controls.fwb:
            mte2, perm = bool(ctx.cpu.mte2), bool(ctx.cpu.mte_perm)
            walks = {}
            for a1 in s1vals:
                for _chain, sh in st2[1]:  # type: ignore[attr-defined]
                    w = _fwb_core(a1, s2_memattr, sh, fnxs, mte2, perm)[2]
                    walks[id(w)] = w
            s2vals = tuple(walks.values())
        vals = _VALS[id(st2[4])] = (st2[4], s1vals, s2vals)

    def source() -> tuple[object, ...]:
        x = _cross(st1, st2, s2_memattr, fnxs, ctx)
        return (st1[0], st2[0], x[1])

    res = Resolution(outcomes, _note(st1, st2), faults, vals[1], vals[2], True)
    object.__setattr__(res, "_source", source)  # for Resolution.paths
    return res


# Cross entry id -> (the entry, Resolution.s1, Resolution.s2); entries are never dropped.
_VALS: dict[int, tuple[object, tuple[MemoryAttributes, ...], tuple[MemoryAttributes, ...]]] = {}


def _assemble(pre1: tuple[Decision, ...], pre2: tuple[Decision, ...],
              ends: list[tuple[tuple[Decision, ...], object, tuple[tuple[Decision, ...], ...],
                               object]]) -> tuple[tuple[Decision, ...], ...]:
    """The paths of a resolution: per end, the stage-1 common records and branch, the stage-2
    common records, then the segments after the stage-1 branch."""
    paths = []
    for c1, _end, segs, _walk in ends:
        out = [*pre1, *c1, *pre2]
        for seg in segs:
            out.extend(seg)
        paths.append(tuple(out))
    return tuple(paths)


def combine(
    s1: MemoryAttributes,
    s2_memattr: int,
    *,
    fwb: bool,
    sh2: Shareability = Shareability.ISH,
    fnxs: bool = False,
    cpu: Cpu = ALL,
) -> tuple[MemoryAttributes, ...]:
    """Combine decoded S1 attributes with an S2 MemAttr: the permitted set of results."""
    if fwb:
        if not cpu.s2fwb:
            raise ConfigError(f"HCR_EL2.FWB=1: RES0 without FEAT_S2FWB (cpu {cpu.name})")
        return (aarch64_s2_apply_fwb_mem_attrs(s1, s2_memattr, sh2, fnxs, cpu)[-1].result,)
    from .s2memattr import s2_decode_mem_attrs

    dec = s2_decode_mem_attrs(s2_memattr, sh2, fnxs, cpu)
    return tuple(dict.fromkeys(s2_combine_s1_mem_attrs(s1, s2, cpu)[-1].result
                               for s2 in dec.outcomes))

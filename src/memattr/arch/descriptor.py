"""VMSAv8-64 stage-1 and stage-2 translation table descriptors (64-bit format; D128 not modelled).

Facts from the Arm ARM D8.3 (translation table descriptor formats) and the ASL (ASL94:
``AArch64.DecodeDescriptorType``, ``AArch64.BlockDescSupported``, ``AArch64.LeafBase``,
``AArch64.NextTableBase``, ``AArch64.S2ApplyOutputPerms``, ``DecodeShareability``).

Each format is a :class:`~memattr.arch.fields.Layout` built from the row tables below: upper and
lower attributes are data, the output-address slice between them follows from the granule, the
level and the OA form.  The formats are:

- 48-bit OA (:attr:`OAForm.OA48`): all granules.
- 52-bit OA with FEAT_LPA and the 64KB granule (:attr:`OAForm.OA52_LPA`): OA[51:48] in [15:12].
- 52-bit OA with FEAT_LPA2 and DS=1, 4KB/16KB granules (:attr:`OAForm.OA52_LPA2`): OA[51:50]
  in [9:8] (SH then comes from TCR_ELx/VTCR_EL2), OA[49:48] in [49:48].  Level -1 exists for
  the 4KB granule (tables only).
"""

from __future__ import annotations

import enum

from .._value import dataclass, fields  # dataclasses, cheaper to import
from ..errors import ConfigError, EncodingError
from .fields import Field, FieldKind, Layout, register, register_lazy
from .granule import FINAL_LEVEL, Granule, block_allowed, block_size, level_shift, levels
from .memtype import SH_NAMES, Shareability, decode_shareability

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any, ClassVar, Self

__all__ = [
    "Granule",
    "OAForm",
    "DescType",
    "oa_form",
    "block_allowed",
    "level_shift",
    "block_size",
    "levels",
    "decode_descriptor_type",
    "descriptor_layout",
    "S1Descriptor",
    "S2Descriptor",
    "s1_leaf",
    "s1_table",
    "s2_leaf",
    "s2_table",
    "SH_NAMES",
    "sh_decode",
    "S2Exec",
    "s2ap_read",
    "s2ap_write",
    "s2_exec",
    "XN_NAMES",
    "FINAL_LEVEL",
    "DESC_VALID",
    "DESC_TABLE",
    "DESC_TYPE_MASK",
    "DESC_AF",
    "DESC_CONT",
    "DESC_DBM",
    "DESC_SH_SHIFT",
    "DESC_SH_MASK",
    "S1_ATTRINDX_SHIFT",
    "S1_ATTRINDX_MASK",
    "S1_AP_SHIFT",
    "S1_AP_MASK",
    "S1_AP2",
    "S1_NG",
    "S1_GP",
    "S1_PXN",
    "S1_UXN",
    "S1_APTABLE_SHIFT",
    "S1_APTABLE_MASK",
    "S1_UXNTABLE",
    "S1_PXNTABLE",
    "S2_MEMATTR_SHIFT",
    "S2_MEMATTR_MASK",
    "S2_S2AP_SHIFT",
    "S2_S2AP_MASK",
    "S2_S2AP_W",
    "S2_FNXS",
    "S2_XN_SHIFT",
    "S2_XN_MASK",
    "S1_AP_RDONLY",
    "S1_AP_USER",
    "S1_APTABLE_RDONLY",
    "S1_APTABLE_NO_EL0",
    "S2_S2AP_READ",
    "S2_S2AP_WRITE",
    "S2_XN1",
]

# =========================================================================================
# Output-address forms
# =========================================================================================


class OAForm(enum.Enum):
    """Where a descriptor keeps its output address (Arm ARM D8.3)."""

    OA48 = "48-bit OA"
    OA52_LPA = "52-bit OA, FEAT_LPA, 64KB granule: OA[51:48] in bits[15:12]"
    OA52_LPA2 = "52-bit OA, FEAT_LPA2, DS=1: OA[51:50] in bits[9:8], OA[49:48] in bits[49:48]"


def oa_form(granule: Granule, ds: bool = False, pa_bits: int = 48) -> OAForm:
    """The descriptor OA form for ``granule`` with TCR/VTCR.DS ``ds`` and an OA of ``pa_bits``.

    With the 64KB granule pass ``pa_bits=52`` when FEAT_LPA is implemented: ASL
    AArch64.LeafBase reads bits[15:12] whenever AArch64.PAMax() >= 52.
    """
    if not 32 <= pa_bits <= 52:
        raise ConfigError(f"pa_bits={pa_bits}: output address size must be 32..52")
    if ds:
        if granule is Granule.K64:
            # TCR_ELx.DS / VTCR_EL2.DS: "This field is RES0 for a 64KB translation granule".
            raise ConfigError("DS=0x1: RES0 with the 64KB granule (FEAT_LPA2 is 4KB/16KB only)")
        return OAForm.OA52_LPA2
    if pa_bits > 48:
        if granule is Granule.K64:
            return OAForm.OA52_LPA
        raise ConfigError(
            f"pa_bits={pa_bits}: a 52-bit OA with the {granule.value} granule needs DS=1 "
            "(FEAT_LPA2)"
        )
    return OAForm.OA48


_FORM_CACHE: dict[tuple[Granule, int, bool, int], OAForm] = {}


def _validated_form(granule: Granule, level: int, ds: bool, pa_bits: int) -> OAForm:
    """oa_form() plus the level check, memoised: decode runs this on every descriptor."""
    key = (granule, level, ds, pa_bits)
    form = _FORM_CACHE.get(key)
    if form is None:
        form = oa_form(granule, ds, pa_bits)
        _check_level(granule, level, ds)
        _FORM_CACHE[key] = form
    return form


def _check_level(granule: Granule, level: int, ds: bool) -> None:
    if level not in levels(granule, ds):
        lo = granule.min_level(ds)
        raise ConfigError(
            f"level={level}: no such lookup level for the {granule.value} granule "
            f"(DS={int(ds)}: levels {lo}..{FINAL_LEVEL})"
        )


class DescType(enum.Enum):
    """What a descriptor is at its level (ASL AArch64.DecodeDescriptorType)."""

    INVALID = "invalid"  # bit[0] = 0: Translation fault
    TABLE = "table"  # 0b11 above the final level
    BLOCK = "block"  # 0b01 where AArch64.BlockDescSupported
    PAGE = "page"  # 0b11 at level 3
    # 0b01 at level 3, or at a level without blocks for this granule/DS/PA: the ASL returns
    # DescriptorType_Invalid, so a walk takes a Translation fault.
    RESERVED = "reserved"

    @property
    def is_leaf(self) -> bool:
        """Block or page."""
        return self in (DescType.BLOCK, DescType.PAGE)


def decode_descriptor_type(
    raw: int, granule: Granule, level: int, ds: bool = False, pa_bits: int = 48
) -> DescType:
    """The type of descriptor ``raw`` at ``level`` (ASL AArch64.DecodeDescriptorType)."""
    if not raw & 1:
        return DescType.INVALID
    if raw & 2:
        return DescType.PAGE if level == FINAL_LEVEL else DescType.TABLE
    if level != FINAL_LEVEL and block_allowed(granule, level, ds, pa_bits):
        return DescType.BLOCK
    return DescType.RESERVED


# =========================================================================================
# Field tables (Arm ARM D8.3)
# =========================================================================================

XN_NAMES: dict[int, str] = {0: "X", 1: "PXN", 2: "XN", 3: "UXN"}
"""Stage-2 XN[1:0] with FEAT_XNX (Arm ARM D8.4, ASL AArch64.S2ApplyOutputPerms)."""

F = FieldKind

_S1_LEAF_UPPER = (
    Field("IGNORED_63", 63, 63, F.IGNORED, doc="IGNORED"),
    Field(
        "PBHA", 62, 59, F.FIELD,
        doc="Page-Based Hardware Attributes (FEAT_HPDS2, IMPLEMENTATION DEFINED use); "
        "FEAT_AIE AttrIndx[3] at bit 59 and FEAT_S1POE POIndex at [62:60] are not modelled",
    ),
    Field("SW", 58, 55, F.SOFTWARE, doc="Reserved for software use"),
    Field("UXN", 54, 54, F.FLAG, doc="Unprivileged execute-never (XN in one-VA-range regimes)"),
    Field("PXN", 53, 53, F.FLAG, doc="Privileged execute-never"),
    Field("Contiguous", 52, 52, F.FLAG, doc="Contiguous hint: one of a set of adjacent entries"),
    Field("DBM", 51, 51, F.FLAG, doc="Dirty Bit Modifier (FEAT_HAFDBS)"),
    Field("GP", 50, 50, F.FLAG, doc="Guarded Page (FEAT_BTI)"),
)

_S2_LEAF_UPPER = (
    Field("IGNORED_63", 63, 63, F.IGNORED, doc="IGNORED"),
    Field(
        "PBHA", 62, 59, F.FIELD,
        doc="Page-Based Hardware Attributes (FEAT_HPDS2); FEAT_S2POE S2POIndex not modelled",
    ),
    Field(
        "SW", 58, 55, F.SOFTWARE,
        doc="Reserved for software use (bit 58 is AssuredOnly with VTCR_EL2.AssuredOnly=1: "
        "not modelled)",
    ),
    Field(
        "XN", 54, 53, F.ENUM, values=XN_NAMES,
        doc="XN[1:0] with FEAT_XNX; without FEAT_XNX bit 53 is RES0 and bit 54 alone is XN",
    ),
    Field("Contiguous", 52, 52, F.FLAG, doc="Contiguous hint: one of a set of adjacent entries"),
    Field("DBM", 51, 51, F.FLAG, doc="Dirty Bit Modifier (FEAT_HAFDBS)"),
    Field("RES0_50", 50, 50, F.RES0, doc="RES0 (GP is stage 1 only)"),
)

_ROWS: dict[tuple[object, ...], Field] = {}


def _row(name: str, msb: int, lsb: int, kind: FieldKind = FieldKind.FIELD,
         values: dict[int, str] | None = None, doc: str = "",
         addr_shift: int | None = None) -> Field:
    """A Field, built once: the 46 formats below share most of their rows."""
    key = (name, msb, lsb, kind, doc, addr_shift, tuple(values.items()) if values else None)
    f = _ROWS.get(key)
    if f is None:
        f = _ROWS[key] = Field(name, msb, lsb, kind, values=values, doc=doc,
                               addr_shift=addr_shift)
    return f


def _s1_leaf_lower(form: OAForm, page: bool) -> tuple[Field, ...]:
    return (
        _row("nG", 11, 11, F.FLAG, doc="not Global: the translation belongs to one ASID"),
        _row("AF", 10, 10, F.FLAG, doc="Access flag"),
        _sh_or_oa(form),
        _row("AP", 7, 6, F.FIELD, doc="AP[2:1]: data access permissions"),
        _row("NS", 5, 5, F.FLAG, doc="Non-secure output address space (IGNORED from NS state)"),
        _row("AttrIndx", 4, 2, F.FIELD, doc="AttrIndx[2:0]: MAIR_ELx attribute index"),
        _type_field(page=page),
    )


def _s2_leaf_lower(form: OAForm, page: bool) -> tuple[Field, ...]:
    return (
        _row("FnXS", 11, 11, F.FLAG, doc="FEAT_XS: 1 forces stage-2 XS to 0 (RES0 without it)"),
        _row("AF", 10, 10, F.FLAG, doc="Access flag"),
        _sh_or_oa(form),
        _row("S2AP", 7, 6, F.FIELD, doc="S2AP[1:0]: bit 6 allows reads, bit 7 writes"),
        _row(
            "MemAttr", 5, 2, F.FIELD,
            doc="MemAttr[3:0]: stage-2 memory type (meaning depends on HCR_EL2.FWB)",
        ),
        _type_field(page=page),
    )


def _sh_or_oa(form: OAForm) -> Field:
    if form is OAForm.OA52_LPA2:
        return _row(
            "OA_51_50", 9, 8, F.ADDRESS, addr_shift=50,
            doc="OA[51:50] (DS=1); SH comes from TCR_ELx.SHn / VTCR_EL2.SH0",
        )
    return _row(
        "SH", 9, 8, F.ENUM, values=SH_NAMES,
        doc="Shareability; 0b01 is reserved (CONSTRAINED UNPREDICTABLE, ASL DecodeShareability)",
    )


def _type_field(*, page: bool = False, table: bool = False) -> Field:
    if table:
        values = {0b11: "Table"}
    else:
        values = {0b11: "Page"} if page else {0b01: "Block"}
    return _row("Type", 1, 0, F.ENUM, values=values, doc="bit[0] valid, bit[1] table/page")


def _res0(msb: int, lsb: int, doc: str = "RES0") -> Field:
    name = f"RES0_{msb}" if msb == lsb else f"RES0_{msb}_{lsb}"
    return _row(name, msb, lsb, F.RES0, doc=doc)


def _oa_rows(granule: Granule, form: OAForm, lsb: int, block: bool, name: str) -> list[Field]:
    """Bits [49:12] of a leaf (``name`` = "OA") or table (``name`` = "NLTA") descriptor."""
    rows: list[Field] = []
    if form is OAForm.OA52_LPA2:
        rows.append(
            _row(f"{name}_49_48", 49, 48, F.ADDRESS, addr_shift=48, doc="OA[49:48] (DS=1)")
        )
    else:
        rows.append(_res0(49, 48, "RES0 (OA[49:48] only with DS=1)"))
    what = "Output address" if name == "OA" else "Next-level table address"
    rows.append(_row(name, 47, lsb, F.ADDRESS, addr_shift=lsb, doc=f"{what}[47:{lsb}]"))
    low = lsb - 1
    if block:
        if low >= 17:
            rows.append(_res0(low, 17))
        rows.append(_row("nT", 16, 16, F.FLAG, doc="Block translation entry (FEAT_BBM)"))
        low = 15
    if low >= 12:
        if form is OAForm.OA52_LPA:
            assert low == 15
            rows.append(
                _row(f"{name}_51_48", 15, 12, F.ADDRESS, addr_shift=48,
                      doc="OA[51:48] (FEAT_LPA, 64KB granule)")
            )
        else:
            rows.append(_res0(low, 12))
    return rows


def _table_rows(stage: int, granule: Granule, form: OAForm) -> tuple[Field, ...]:
    if stage == 1:
        upper: tuple[Field, ...] = (
            _row("NSTable", 63, 63, F.FLAG, doc="NS for subsequent levels (Secure state)"),
            _row("APTable", 62, 61, F.FIELD, doc="Access permission limit for subsequent levels"),
            _row("UXNTable", 60, 60, F.FLAG, doc="UXN limit (XNTable in one-VA-range regimes)"),
            _row("PXNTable", 59, 59, F.FLAG, doc="PXN limit for subsequent levels"),
        )
    else:
        upper = (_res0(63, 59, "RES0: stage-2 Table descriptors have no hierarchical attributes"),)
    mid: list[Field] = [_row("IGNORED_58_52", 58, 52, F.IGNORED, doc="IGNORED")]
    if form is OAForm.OA52_LPA2:
        mid.append(_res0(51, 50))
    else:
        # v8.0 D4.3.1: bits[51:48] RES0 in Table descriptors.
        mid.append(_res0(51, 48, "RES0 (NLTA[49:48] in [49:48] only with DS=1)"))
    oa = _oa_rows(granule, form, granule.shift, block=False, name="NLTA")
    if form is not OAForm.OA52_LPA2:
        oa = oa[1:]  # [49:48] already covered by RES0_51_48
    if form is OAForm.OA52_LPA2:
        lower: tuple[Field, ...] = (
            _row("IGNORED_11_10", 11, 10, F.IGNORED, doc="IGNORED"),
            _row("NLTA_51_50", 9, 8, F.ADDRESS, addr_shift=50, doc="NLTA[51:50] (DS=1)"),
            _row("IGNORED_7_2", 7, 2, F.IGNORED, doc="IGNORED"),
        )
    else:
        lower = (
            _row("IGNORED_11_2", 11, 2, F.IGNORED,
                  doc="IGNORED (bit 10 is AF with FEAT_HAFT: not modelled)"),
        )
    return (*upper, *mid, *oa, *lower, _type_field(table=True))


def _leaf_rows(
    stage: int, granule: Granule, level: int, form: OAForm
) -> tuple[Field, ...]:
    page = level == FINAL_LEVEL
    upper = _S1_LEAF_UPPER if stage == 1 else _S2_LEAF_UPPER
    oa = _oa_rows(granule, form, level_shift(granule, level), block=not page, name="OA")
    lower = _s1_leaf_lower(form, page) if stage == 1 else _s2_leaf_lower(form, page)
    return (*upper, *oa, *lower)


def _layout_name(stage: int, t: DescType, granule: Granule, level: int, form: OAForm) -> str:
    kind = {DescType.TABLE: "TABLE", DescType.PAGE: "PAGE"}.get(t, f"BLOCK_L{level}")
    return f"S{stage}_{kind}_{granule.value.upper()}_{form.name}"


_FormatKey = tuple[int, DescType, Granule, int, OAForm]
_CITE = "Arm ARM D8.3, ASL AArch64.NextTableBase/AArch64.LeafBase"


def _format_keys() -> tuple[_FormatKey, ...]:
    """Every descriptor format that exists: (stage, type, granule, level, OA form)."""
    forms = {
        Granule.K4: ((OAForm.OA48, False, 48), (OAForm.OA52_LPA2, True, 52)),
        Granule.K16: ((OAForm.OA48, False, 48), (OAForm.OA52_LPA2, True, 52)),
        Granule.K64: ((OAForm.OA48, False, 48), (OAForm.OA52_LPA, False, 52)),
    }
    keys: list[_FormatKey] = []
    for stage in (1, 2):
        for granule, variants in forms.items():
            for form, ds, pa_bits in variants:
                keys.append((stage, DescType.TABLE, granule, 0, form))
                keys.append((stage, DescType.PAGE, granule, 3, form))
                for level in levels(granule, ds):
                    if level != FINAL_LEVEL and block_allowed(granule, level, ds, pa_bits):
                        keys.append((stage, DescType.BLOCK, granule, level, form))
    return tuple(keys)


_FORMAT_KEYS = frozenset(_format_keys())


def _make_format(key: _FormatKey) -> Layout:
    stage, t, granule, level, form = key
    name = _layout_name(stage, t, granule, level, form)
    if t is DescType.TABLE:
        return Layout(name, 64, _table_rows(stage, granule, form),
                      doc=f"Stage-{stage} Table descriptor, {form.value} ({_CITE})")
    if t is DescType.PAGE:
        return Layout(name, 64, _leaf_rows(stage, granule, 3, form),
                      doc=f"Stage-{stage} Page descriptor, {form.value} ({_CITE})")
    return Layout(name, 64, _leaf_rows(stage, granule, level, form),
                  doc=f"Stage-{stage} level {level} Block descriptor, {form.value} ({_CITE})")


class _Formats(dict[_FormatKey, Layout]):
    """The descriptor formats by key, each built (and registered) when first looked up: a
    query decodes with one or two of the 46 (~1 ms of start-up to build them all)."""

    __slots__ = ()

    def __missing__(self, key: _FormatKey) -> Layout:
        if key not in _FORMAT_KEYS:
            raise KeyError(key)
        layout = self[key] = register(_make_format(key))
        return layout


_FORMATS: dict[_FormatKey, Layout] = _Formats()


def _build_all() -> None:
    """Build every format (for :data:`memattr.arch.fields.LAYOUTS`, which lists them all)."""
    for key in _format_keys():
        _FORMATS[key]  # noqa: B018 - builds and registers it


register_lazy(_build_all)


def descriptor_layout(
    stage: int,
    desc_type: DescType,
    granule: Granule,
    level: int,
    ds: bool = False,
    pa_bits: int = 48,
) -> Layout:
    """The field table of a stage-``stage`` TABLE/BLOCK/PAGE descriptor at ``level``."""
    form = oa_form(granule, ds, pa_bits)
    _check_level(granule, level, ds)
    lvl = 0 if desc_type is DescType.TABLE else level
    try:
        return _FORMATS[(stage, desc_type, granule, lvl, form)]
    except KeyError:
        raise ConfigError(
            f"no stage-{stage} {desc_type.value} descriptor at level {level} with the "
            f"{granule.value} granule, {form.value} (ASL AArch64.DecodeDescriptorType)"
        ) from None


# =========================================================================================
# Shareability and stage-2 permissions
# =========================================================================================

def sh_decode(raw: int) -> frozenset[Shareability]:
    """The shareabilities SH[1:0] ``raw`` may give (ASL DecodeShareability).

    0b01 is reserved and CONSTRAINED UNPREDICTABLE: any of NSH, ISH, OSH.
    """
    if not 0 <= raw <= 0b11:
        raise EncodingError(f"SH={raw:#x}: does not fit [1:0]")
    return frozenset(decode_shareability(raw))


def s2ap_read(s2ap: int) -> bool:
    """S2AP[0] (descriptor bit 6) allows reads (ASL AArch64.S2ApplyOutputPerms)."""
    return bool(s2ap & S2_S2AP_READ)


def s2ap_write(s2ap: int) -> bool:
    """S2AP[1] (descriptor bit 7) allows writes (ASL AArch64.S2ApplyOutputPerms)."""
    return bool(s2ap & S2_S2AP_WRITE)


@dataclass(frozen=True, slots=True)
class S2Exec:
    """Stage-2 execute permission: ``el1`` privileged (px), ``el0`` unprivileged (ux)."""

    el1: bool
    el0: bool


# ASL AArch64.S2ApplyOutputPerms with FEAT_XNX: XN[1:0] -> (px, ux).
_XNX_EXEC = {
    0b00: S2Exec(el1=True, el0=True),
    0b01: S2Exec(el1=False, el0=True),  # PXN
    0b10: S2Exec(el1=False, el0=False),  # XN
    0b11: S2Exec(el1=True, el0=False),  # UXN
}


def s2_exec(xn: int, *, xnx: bool = True) -> S2Exec:
    """Stage-2 execute permission from XN[1:0] (ASL AArch64.S2ApplyOutputPerms).

    With FEAT_XNX: 0 executable at EL1 and EL0, 1 PXN (not EL1), 2 neither, 3 UXN (not EL0).
    Without it only XN[1] (descriptor bit 54) counts; bit 53 is RES0.
    """
    if not 0 <= xn <= 3:
        raise EncodingError(f"XN={xn:#x}: does not fit [54:53]")
    if xnx:
        return _XNX_EXEC[xn]
    x = not (xn & 0b10)
    return S2Exec(el1=x, el0=x)


# =========================================================================================
# Decoded descriptors
# =========================================================================================


class _Codec:
    """Encode/decode shared by S1Descriptor and S2Descriptor, driven by the field tables."""

    __slots__ = ()
    _STAGE: ClassVar[int]
    _ATTRS: ClassVar[tuple[tuple[str, str], ...]]  # (dataclass attribute, layout field)
    _DEFAULTS: ClassVar[dict[str, Any]]
    _PLANS: ClassVar[dict[str, tuple[tuple[str, str, int, int, bool], ...]]]

    # Provided by the dataclasses.
    type: DescType
    level: int
    granule: Granule
    address: int
    ignored: int
    ds: bool
    pa_bits: int

    @classmethod
    def _plan(cls, layout: Layout) -> tuple[tuple[str, str, int, int, bool], ...]:
        plan = cls._PLANS.get(layout.name)
        if plan is None:
            rows = []
            for attr, fname in cls._ATTRS:
                if fname in layout:
                    f = layout.field(fname)
                    rows.append((attr, fname, f.lsb, f.mask, f.kind is FieldKind.FLAG))
            plan = tuple(rows)
            cls._PLANS[layout.name] = plan
        return plan

    @classmethod
    def decode(
        cls,
        raw: int,
        granule: Granule,
        level: int,
        ds: bool = False,
        pa_bits: int = 48,
        *,
        strict: bool = False,
    ) -> Self:
        """Decode the 64-bit descriptor ``raw`` found at ``level``.

        RES0 bits are not kept; with ``strict`` any problem :meth:`Layout.check` finds raises
        EncodingError.  INVALID and RESERVED descriptors keep their other bits in ``ignored``.
        """
        if raw < 0 or raw >> 64:
            raise EncodingError(f"descriptor={raw:#x}: does not fit 64 bits")
        form = _validated_form(granule, level, ds, pa_bits)
        t = decode_descriptor_type(raw, granule, level, ds, pa_bits)
        common = {"level": level, "granule": granule, "ds": ds, "pa_bits": pa_bits}
        make: Any = cls  # the dataclass subclass
        if t is DescType.INVALID:
            return make(type=t, ignored=raw & ~1, **common)  # type: ignore[no-any-return]
        if t is DescType.RESERVED:
            return make(type=t, ignored=raw & ~3, **common)  # type: ignore[no-any-return]
        layout = _FORMATS[(cls._STAGE, t, granule, 0 if t is DescType.TABLE else level, form)]
        if strict:
            problems = layout.check(raw)
            if problems:
                raise EncodingError("; ".join(problems))
        kw: dict[str, Any] = {}
        for attr, _fname, shift, mask, is_flag in cls._plan(layout):
            x = (raw >> shift) & mask
            kw[attr] = bool(x) if is_flag else x
        return make(  # type: ignore[no-any-return]
            type=t, address=layout.address(raw), ignored=raw & layout.ignored_mask, **kw,
            **common,
        )

    @property
    def layout(self) -> Layout | None:
        """The field table of this descriptor (None for INVALID and RESERVED)."""
        if self.type in (DescType.INVALID, DescType.RESERVED):
            return None
        return descriptor_layout(
            self._STAGE, self.type, self.granule, self.level, self.ds, self.pa_bits
        )

    @property
    def is_leaf(self) -> bool:
        """Block or page."""
        return self.type.is_leaf

    @property
    def output_address(self) -> int | None:
        """The output address of a block or page, else None."""
        return self.address if self.type.is_leaf else None

    @property
    def table_address(self) -> int | None:
        """The next-level table address of a table descriptor, else None."""
        return self.address if self.type is DescType.TABLE else None

    def _who(self) -> str:
        return f"S{self._STAGE} descriptor"

    def _require_defaults(self, names: tuple[str, ...], why: str) -> None:
        for attr in names:
            if getattr(self, attr) != self._DEFAULTS[attr]:
                raise EncodingError(
                    f"{self._who()}.{attr}={getattr(self, attr)!r}: {why} "
                    f"(must be {self._DEFAULTS[attr]!r})"
                )

    def encode(self) -> int:
        """The 64-bit descriptor; EncodingError naming the field for anything invalid."""
        form = _validated_form(self.granule, self.level, self.ds, self.pa_bits)
        t = self.type
        attrs = tuple(a for a, _ in self._ATTRS) + ("address",)
        if t is DescType.INVALID:
            self._require_defaults(attrs, "an INVALID descriptor carries no fields")
            if self.ignored & 1 or self.ignored < 0 or self.ignored >> 64:
                raise EncodingError(
                    f"{self._who()}.ignored={self.ignored:#x}: bit 0 must be clear (INVALID)"
                )
            return self.ignored
        if t is DescType.RESERVED:
            self._require_defaults(attrs, "a RESERVED descriptor carries no fields")
            if self.ignored & 3 or self.ignored < 0 or self.ignored >> 64:
                raise EncodingError(
                    f"{self._who()}.ignored={self.ignored:#x}: bits[1:0] must be clear (RESERVED)"
                )
            if decode_descriptor_type(
                1 | self.ignored, self.granule, self.level, self.ds, self.pa_bits
            ) is not DescType.RESERVED:
                raise EncodingError(
                    f"{self._who()}.Type=0x1: a block is allowed at level {self.level} with the "
                    f"{self.granule.value} granule, so it is not RESERVED"
                )
            return 0b01 | self.ignored
        # Which type may sit at this level (ASL AArch64.DecodeDescriptorType).
        if t is DescType.PAGE and self.level != FINAL_LEVEL:
            raise EncodingError(f"{self._who()}.Type=PAGE: pages exist only at level 3, "
                                f"not level {self.level}")
        if t is DescType.TABLE and self.level == FINAL_LEVEL:
            raise EncodingError(f"{self._who()}.Type=TABLE: level 3 holds no tables")
        if t is DescType.BLOCK and not block_allowed(
            self.granule, self.level, self.ds, self.pa_bits
        ):
            raise EncodingError(
                f"{self._who()}.Type=BLOCK: no blocks at level {self.level} with the "
                f"{self.granule.value} granule (DS={int(self.ds)}, {self.pa_bits}-bit PA; "
                "ASL AArch64.BlockDescSupported)"
            )
        layout = _FORMATS[(self._STAGE, t, self.granule, 0 if t is DescType.TABLE else self.level,
                           form)]
        plan = self._plan(layout)
        present = {attr for attr, *_ in plan}
        absent = tuple(a for a, _ in self._ATTRS if a not in present)
        self._require_defaults(absent, f"not a field of {layout.name}")
        value = 0b11 if t is not DescType.BLOCK else 0b01
        for attr, fname, shift, mask, _is_flag in plan:
            x = getattr(self, attr)
            if x is None:
                raise EncodingError(f"{layout.name}.{fname}: required, got None")
            x = int(x)
            if x < 0 or x > mask:
                f = layout.field(fname)
                raise EncodingError(
                    f"{layout.name}.{fname}={x:#x}: does not fit {f.bits} (max {mask:#x})"
                )
            value |= x << shift
        # Output / next-level table address: aligned, within the OA size.
        aname = "NLTA" if t is DescType.TABLE else "OA"
        align = self.granule.shift if t is DescType.TABLE else level_shift(self.granule,
                                                                           self.level)
        addr = self.address
        if addr < 0 or addr & ((1 << align) - 1):
            raise EncodingError(
                f"{layout.name}.{aname}={addr:#x}: not aligned to {_size(1 << align)} "
                f"(bits[{align - 1}:0] must be 0)"
            )
        if addr >> self.pa_bits:
            raise EncodingError(
                f"{layout.name}.{aname}={addr:#x}: beyond the {self.pa_bits}-bit output "
                f"address size"
            )
        value = layout.with_address(value, addr)
        ign = self.ignored
        if ign < 0 or ign & ~layout.ignored_mask:
            raise EncodingError(
                f"{layout.name}.ignored={ign:#x}: outside the IGNORED bits "
                f"{layout.ignored_mask:#x}"
            )
        return value | ign

    def describe(self) -> list[tuple[str, str, str]]:
        """Field rows of the encoded descriptor (see :meth:`Layout.describe`)."""
        layout = self.layout
        raw = self.encode()
        if layout is None:
            return [("Type", "[1:0]", f"{raw & 3:#04b} ({self.type.value})"),
                    ("ignored", "[63:2]", f"{raw & ~3:#x}")]
        return layout.describe(raw)


def _size(n: int) -> str:
    for unit, shift in (("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10)):
        if n >= 1 << shift and n % (1 << shift) == 0:
            return f"{n >> shift}{unit}"
    return f"{n}B"


@dataclass(frozen=True, slots=True)
class S1Descriptor(_Codec):
    """A decoded stage-1 VMSAv8-64 descriptor (Arm ARM D8.3).

    :param type: INVALID, TABLE, BLOCK, PAGE or RESERVED.
    :param level: lookup level the descriptor was read at (-1..3).
    :param granule: translation granule.
    :param address: output address (block/page) or next-level table address (table).
    :param sh: SH[1:0], raw; None where the descriptor has no SH (tables, DS=1 leaves).
    :param ignored: the descriptor's IGNORED bits, in place (all bits but the type for
        INVALID/RESERVED descriptors).
    :param ds: TCR_ELx.DS (FEAT_LPA2) in force.
    :param pa_bits: output address size; 52 selects the 52-bit formats.
    """

    type: DescType
    level: int
    granule: Granule
    address: int = 0
    attr_index: int = 0
    ns: bool = False
    ap: int = 0
    sh: int | None = None
    af: bool = False
    ng: bool = False
    nt: bool = False
    dbm: bool = False
    contiguous: bool = False
    pxn: bool = False
    uxn: bool = False
    gp: bool = False
    sw: int = 0
    pbha: int = 0
    ns_table: bool = False
    ap_table: int = 0
    uxn_table: bool = False
    pxn_table: bool = False
    ignored: int = 0
    ds: bool = False
    pa_bits: int = 48

    _STAGE: ClassVar[int] = 1
    _ATTRS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("attr_index", "AttrIndx"),
        ("ns", "NS"),
        ("ap", "AP"),
        ("sh", "SH"),
        ("af", "AF"),
        ("ng", "nG"),
        ("nt", "nT"),
        ("dbm", "DBM"),
        ("contiguous", "Contiguous"),
        ("pxn", "PXN"),
        ("uxn", "UXN"),
        ("gp", "GP"),
        ("sw", "SW"),
        ("pbha", "PBHA"),
        ("ns_table", "NSTable"),
        ("ap_table", "APTable"),
        ("uxn_table", "UXNTable"),
        ("pxn_table", "PXNTable"),
    )
    _PLANS: ClassVar[dict[str, tuple[tuple[str, str, int, int, bool], ...]]] = {}

    @property
    def shareability(self) -> frozenset[Shareability] | None:
        """The shareabilities SH may give (None when SH is not in the descriptor)."""
        return None if self.sh is None else sh_decode(self.sh)


@dataclass(frozen=True, slots=True)
class S2Descriptor(_Codec):
    """A decoded stage-2 VMSAv8-64 descriptor (Arm ARM D8.3).

    :param memattr: MemAttr[3:0]. :param s2ap: S2AP[1:0] (bit 0 read, bit 1 write).
    :param sh: SH[1:0], raw; None where the descriptor has no SH (tables, DS=1 leaves).
    :param xn: XN[1:0] (FEAT_XNX meaning; see :func:`s2_exec`).
    Other parameters as for :class:`S1Descriptor`.
    """

    type: DescType
    level: int
    granule: Granule
    address: int = 0
    memattr: int = 0
    s2ap: int = 0
    sh: int | None = None
    af: bool = False
    fnxs: bool = False
    nt: bool = False
    dbm: bool = False
    contiguous: bool = False
    xn: int = 0
    sw: int = 0
    pbha: int = 0
    ignored: int = 0
    ds: bool = False
    pa_bits: int = 48

    _STAGE: ClassVar[int] = 2
    _ATTRS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("memattr", "MemAttr"),
        ("s2ap", "S2AP"),
        ("sh", "SH"),
        ("af", "AF"),
        ("fnxs", "FnXS"),
        ("nt", "nT"),
        ("dbm", "DBM"),
        ("contiguous", "Contiguous"),
        ("xn", "XN"),
        ("sw", "SW"),
        ("pbha", "PBHA"),
    )
    _PLANS: ClassVar[dict[str, tuple[tuple[str, str, int, int, bool], ...]]] = {}

    @property
    def shareability(self) -> frozenset[Shareability] | None:
        """The shareabilities SH may give (None when SH is not in the descriptor)."""
        return None if self.sh is None else sh_decode(self.sh)

    @property
    def readable(self) -> bool:
        """S2AP allows reads."""
        return s2ap_read(self.s2ap)

    @property
    def writable(self) -> bool:
        """S2AP allows writes."""
        return s2ap_write(self.s2ap)

    def exec_perms(self, *, xnx: bool = True) -> S2Exec:
        """Execute permission at EL1/EL0 from XN (see :func:`s2_exec`)."""
        return s2_exec(self.xn, xnx=xnx)


for _cls in (S1Descriptor, S2Descriptor):
    _cls._DEFAULTS = {f.name: f.default for f in fields(_cls)}


# =========================================================================================
# Builders
# =========================================================================================


def _leaf_type(level: int) -> DescType:
    return DescType.PAGE if level == FINAL_LEVEL else DescType.BLOCK


def _default_sh(sh: int | None, ds: bool) -> int | None:
    if ds:
        return sh  # None unless the caller insists (then encode rejects it)
    return Shareability.ISH.encoding if sh is None else sh


def s1_leaf(
    oa: int,
    attr_index: int,
    *,
    granule: Granule = Granule.K4,
    level: int = FINAL_LEVEL,
    ap: int = 0,
    sh: int | None = None,
    af: bool = True,
    ng: bool = False,
    ns: bool = False,
    nt: bool = False,
    dbm: bool = False,
    contiguous: bool = False,
    pxn: bool = False,
    uxn: bool = False,
    gp: bool = False,
    sw: int = 0,
    pbha: int = 0,
    ignored: int = 0,
    ds: bool = False,
    pa_bits: int = 48,
) -> S1Descriptor:
    """A validated stage-1 page (level 3) or block descriptor mapping ``oa``.

    :param sh: SH[1:0]; defaults to Inner Shareable, and to None (not encoded) with DS=1.
    """
    d = S1Descriptor(
        type=_leaf_type(level), level=level, granule=granule, address=oa,
        attr_index=attr_index, ns=ns, ap=ap, sh=_default_sh(sh, ds), af=af, ng=ng, nt=nt,
        dbm=dbm, contiguous=contiguous, pxn=pxn, uxn=uxn, gp=gp, sw=sw, pbha=pbha,
        ignored=ignored, ds=ds, pa_bits=pa_bits,
    )
    d.encode()
    return d


def s1_table(
    table_address: int,
    *,
    granule: Granule = Granule.K4,
    level: int = 0,
    ns_table: bool = False,
    ap_table: int = 0,
    uxn_table: bool = False,
    pxn_table: bool = False,
    ignored: int = 0,
    ds: bool = False,
    pa_bits: int = 48,
) -> S1Descriptor:
    """A validated stage-1 table descriptor pointing at ``table_address``."""
    d = S1Descriptor(
        type=DescType.TABLE, level=level, granule=granule, address=table_address,
        ns_table=ns_table, ap_table=ap_table, uxn_table=uxn_table, pxn_table=pxn_table,
        ignored=ignored, ds=ds, pa_bits=pa_bits,
    )
    d.encode()
    return d


def s2_leaf(
    oa: int,
    memattr: int,
    s2ap: int = 0b11,
    sh: int | None = None,
    *,
    granule: Granule = Granule.K4,
    level: int = FINAL_LEVEL,
    af: bool = True,
    fnxs: bool = False,
    nt: bool = False,
    dbm: bool = False,
    contiguous: bool = False,
    xn: int = 0,
    sw: int = 0,
    pbha: int = 0,
    ignored: int = 0,
    ds: bool = False,
    pa_bits: int = 48,
) -> S2Descriptor:
    """A validated stage-2 page (level 3) or block descriptor mapping ``oa``.

    :param sh: SH[1:0]; defaults to Inner Shareable, and to None (not encoded) with DS=1.
    """
    d = S2Descriptor(
        type=_leaf_type(level), level=level, granule=granule, address=oa, memattr=memattr,
        s2ap=s2ap, sh=_default_sh(sh, ds), af=af, fnxs=fnxs, nt=nt, dbm=dbm,
        contiguous=contiguous, xn=xn, sw=sw, pbha=pbha, ignored=ignored, ds=ds,
        pa_bits=pa_bits,
    )
    d.encode()
    return d


def s2_table(
    table_address: int,
    *,
    granule: Granule = Granule.K4,
    level: int = 0,
    ignored: int = 0,
    ds: bool = False,
    pa_bits: int = 48,
) -> S2Descriptor:
    """A validated stage-2 table descriptor pointing at ``table_address``."""
    d = S2Descriptor(
        type=DescType.TABLE, level=level, granule=granule, address=table_address,
        ignored=ignored, ds=ds, pa_bits=pa_bits,
    )
    d.encode()
    return d


# =========================================================================================
# Named bit positions, derived from the tables above (as Linux generates them from sysreg)
# =========================================================================================

_S1_REF = _FORMATS[(1, DescType.PAGE, Granule.K4, 3, OAForm.OA48)]
_S2_REF = _FORMATS[(2, DescType.PAGE, Granule.K4, 3, OAForm.OA48)]
_S1_TABLE_REF = _FORMATS[(1, DescType.TABLE, Granule.K4, 0, OAForm.OA48)]

# The attribute fields sit at the same place in every block and page descriptor of a stage, at
# every level and granule (only the OA slice moves; with DS=1 bits[9:8] hold OA[51:50]), so the
# 4KB page layouts name them for all.  *_SHIFT / *_MASK are the lsb and the unshifted mask
# (Linux's FIELD_GET form); single bits are in-place masks.
DESC_VALID = 1 << _S1_REF.field("Type").lsb  # bit[0]
DESC_TABLE = 1 << _S1_REF.field("Type").msb  # bit[1]: Table above level 3, Page at level 3
DESC_TYPE_MASK = _S1_REF.field_mask("Type")
DESC_AF = _S1_REF.field_mask("AF")
DESC_CONT = _S1_REF.field_mask("Contiguous")
DESC_DBM = _S1_REF.field_mask("DBM")
DESC_SH_SHIFT, DESC_SH_MASK = _S1_REF.shift_mask("SH")
S1_ATTRINDX_SHIFT, S1_ATTRINDX_MASK = _S1_REF.shift_mask("AttrIndx")
S1_AP_SHIFT, S1_AP_MASK = _S1_REF.shift_mask("AP")
S1_AP2 = 1 << _S1_REF.field("AP").msb  # AP[2]: read-only (the dirty state with FEAT_HAFDBS)
S1_NG = _S1_REF.field_mask("nG")
S1_GP = _S1_REF.field_mask("GP")
S1_PXN = _S1_REF.field_mask("PXN")
S1_UXN = _S1_REF.field_mask("UXN")
S1_APTABLE_SHIFT, S1_APTABLE_MASK = _S1_TABLE_REF.shift_mask("APTable")
S1_UXNTABLE = _S1_TABLE_REF.field_mask("UXNTable")
S1_PXNTABLE = _S1_TABLE_REF.field_mask("PXNTable")
S2_MEMATTR_SHIFT, S2_MEMATTR_MASK = _S2_REF.shift_mask("MemAttr")
S2_S2AP_SHIFT, S2_S2AP_MASK = _S2_REF.shift_mask("S2AP")
S2_S2AP_W = 1 << _S2_REF.field("S2AP").msb  # S2AP[1]: writable (the dirty state)
S2_FNXS = _S2_REF.field_mask("FnXS")
S2_XN_SHIFT, S2_XN_MASK = _S2_REF.shift_mask("XN")


# Bits of a field's value (unshifted, as the *_SHIFT/*_MASK pairs give it), as Arm names them:
# the msb of AP[2:1] (bits[7:6]) is AP[2], of APTable[1:0] (bits[62:61]) APTable[1], of S2AP[1:0]
# (bits[7:6]) S2AP[1]; the lsb is AP[1], APTable[0], S2AP[0].
def _top_bit(layout: Layout, name: str) -> int:
    f = layout.field(name)
    return 1 << (f.msb - f.lsb)


def _low_bit(layout: Layout, name: str) -> int:
    mask = layout.field(name).mask
    return mask & -mask


S1_AP_RDONLY = _top_bit(_S1_REF, "AP")  # AP[2]: read-only at every EL
S1_AP_USER = _low_bit(_S1_REF, "AP")  # AP[1]: EL0 access
S1_APTABLE_RDONLY = _top_bit(_S1_TABLE_REF, "APTable")  # APTable[1]: no write at any EL below
S1_APTABLE_NO_EL0 = _low_bit(_S1_TABLE_REF, "APTable")  # APTable[0]: no EL0 access below
S2_S2AP_READ = _low_bit(_S2_REF, "S2AP")  # S2AP[0]: reads allowed
S2_S2AP_WRITE = _top_bit(_S2_REF, "S2AP")  # S2AP[1]: writes allowed
S2_XN1 = _top_bit(_S2_REF, "XN") << S2_XN_SHIFT  # XN[1], bit 54: all of XN without FEAT_XNX

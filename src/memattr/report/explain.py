"""The one renderer of decision records: text lines, JSON steps and short phrases.

A rule records what it decided as a :class:`~memattr.arch.decision.Decision`; everything that
explains a result -- ``memattr combine``'s lines and its JSON ``steps``, ``memattr table``,
``demo`` and ``run`` -- is rendered here from those records, never re-derived and never parsed
back from text.

Public API (other layers register renderers for their own rule enums the same way):

- :func:`register` ``(rule, fn)``: ``fn(decision, context) -> Line | None`` renders one record
  (None: shown in JSON only).  ``rule`` is an enum member, or an enum class for all its members.
- :func:`render_paths` ``(paths) -> list[Line]``: the lines of every path, merged (records that
  the paths share are shown once; alternatives of one line are listed on it).
- :func:`text_lines` ``(paths) -> list[str]``: ``"text (Rule)"`` for each line.
- :func:`steps_json` ``(decisions) -> list[dict]``: one JSON object per record: ``rule``
  (the function name), ``branch``, ``inputs``, ``result`` and ``text`` (None if not shown).
- :func:`decision_json` / :func:`value_json`: one record / one value as JSON.
- :func:`deciding` ``(paths) -> list[Decision]``: the shown records that decided the type.
- :func:`decided_text` ``(paths) -> str``: the last of those as ``"text (Rule)"`` (one per
  alternative), the short "why" of ``memattr run``.
- :func:`s2_meaning` ``(records) -> str``: what a stage-2 MemAttr means (``memattr decode s2``).

Importing this module is cheap (the arch value modules a query has loaded already).
"""

from __future__ import annotations

import enum

from ..arch.decision import AslRule, Decision
from ..arch.memtype import CacheAttrs, MemoryAttributes

TYPE_CHECKING = False  # collections.abc's generics cost start-up; mypy treats this as True
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    Renderer = Callable[[Decision, "Context"], "Line | None"]
    """A renderer: one record (and its context) -> its line, or None (JSON only)."""

__all__ = [
    "Line",
    "Context",
    "register",
    "render_paths",
    "text_lines",
    "steps_json",
    "decision_json",
    "value_json",
    "deciding",
    "decided_text",
    "s2_meaning",
]


class Line:
    """One rendered line: ``head`` then the alternatives the paths give it, then the rule.

    :param key: lines with the same key are one line (their ``item`` s are listed together).
    :param head: the text before the alternatives (the whole text when ``item`` is None).
    :param item: this path's alternative, or None.
    :param rule: the name shown in parentheses (the record's rule unless a renderer says so).
    :param rank: the place of the line in the story (decode, translate, combine, share...).
    """

    __slots__ = ("key", "head", "item", "rule", "rank")

    def __init__(self, key: object, head: str, item: str | None = None, *, rule: str = "",
                 rank: int = 50) -> None:
        self.key, self.head, self.item, self.rule, self.rank = key, head, item, rule, rank

    def __repr__(self) -> str:
        return f"Line({self.head!r}, {self.item!r}, {self.rule!r})"


class Context:
    """What a renderer may know of the path so far: the current stage-1 and stage-2 attributes.

    :param path: the whole path being rendered; ``index`` is the record's place in it.
    """

    __slots__ = ("path", "index", "s1", "s2")

    def __init__(self, path: Sequence[Decision]) -> None:
        self.path = path
        self.index = 0
        self.s1: MemoryAttributes | None = None
        self.s2: MemoryAttributes | None = None

    def last_of(self, rule: enum.Enum) -> bool:
        """True if no later record of the path has ``rule``."""
        return all(d.rule is not rule for d in self.path[self.index + 1:])


_RENDERERS: dict[enum.Enum, Renderer] = {}


def register(rule: enum.Enum | type[enum.Enum], fn: Renderer) -> None:
    """Render the records of ``rule`` (a member, or every member of an enum class) with ``fn``."""
    members: Iterable[enum.Enum] = rule if isinstance(rule, type) else (rule,)
    for m in members:
        _RENDERERS[m] = fn


def _get(d: Decision, name: str) -> object:
    return d.input(name)


def _short(a: object) -> str:
    return a.short if isinstance(a, MemoryAttributes) else str(a)


# --- the architecture's records ----------------------------------------------------------------

_RESMAIR_WHY = {
    "device": "Device, bits[1:0] not 0b00",
    "device_xs0": "Device XS=0 encoding without FEAT_XS",
    "normal_xs0": "FEAT_XS encoding without FEAT_XS",
    "tagged": "Tagged Normal without FEAT_MTE2",
    "inner_0000": "Normal, inner nibble 0b0000",
}


def _resmair(d: Decision, ctx: Context) -> Line | None:
    if not d.result:
        return None
    return Line(("resmair",), f"S1 attribute 0x{_get(d, 'attr'):02x} is reserved "
                f"({_RESMAIR_WHY.get(d.branch, d.branch)})", rank=0)


def _cu_bits(d: Decision, ctx: Context) -> Line | None:
    n = len(d.result) if isinstance(d.result, tuple) else "?"
    return Line(("cubits", d.branch), f"{d.branch}: it acts as an UNKNOWN allocated attribute, "
                f"one of {n} bytes", rank=1)


def _decode_sh(d: Decision, ctx: Context) -> Line | None:
    if not isinstance(d.result, tuple) or len(d.result) < 2:
        return None
    return Line(("sh", _get(d, "sh"), ctx.index), "SH=0b01 is reserved: one of NSH, ISH, OSH",
                rank=2)


def _s1_decode(d: Decision, ctx: Context) -> Line | None:
    ctx.s1 = d.result if isinstance(d.result, MemoryAttributes) else ctx.s1
    return Line(("s1decode",), "S1 attribute", f"0x{_get(d, 'attr'):02x}: {_short(d.result)}",
                rank=3)


def _s1_off(d: Decision, ctx: Context) -> Line | None:
    ctx.s1 = d.result if isinstance(d.result, MemoryAttributes) else ctx.s1
    why = "HCR_EL2.DC=1" if _get(d, "dc") else "SCTLR_EL1.M=0"
    return Line(("s1off",), f"stage 1 off ({why}): {d.result}", rank=3)


_S1T = {
    "ifetch_device_as_nc": "instruction fetch with S1 Device: Normal NC",
    "ifetch_icache_off_as_nc": "instruction fetch with SCTLR_EL1.I=0: Normal NC",
    "data_cache_off_as_nc": "SCTLR_EL1.C=0: Normal data access is Normal NC",
    "data_cache_off_as_nc_tagged": ("SCTLR_EL1.C=0: Normal data access is Normal NC, Tagged "
                                    "kept (Unpredictable_S1CTAGGED)"),
}


def _s1_translate(d: Decision, ctx: Context) -> Line | None:
    if isinstance(d.result, MemoryAttributes):
        ctx.s1 = d.result
    text = _S1T.get(d.branch)
    return None if text is None else Line(("s1t", d.branch), text, rank=4)


def _s1_perms(d: Decision, ctx: Context) -> Line | None:
    return Line(("s1perm", d.branch), "instruction fetch from S1 Device: a Permission fault is "
                f"permitted ({d.branch})", rank=4)


def _fwb(d: Decision, ctx: Context) -> Line | None:
    r = d.result
    if not isinstance(r, MemoryAttributes):  # the MemAttr case: its FwbMeaning
        attr = d.input("attr", 0)
        label = getattr(r, "label", str(r))
        case = getattr(r, "case", attr)  # FwbMeaning.case: MemAttr[2:0]
        return Line(("fwbcase", attr), f"S2 MemAttr 0b{case:03b} with FWB: {label}", rank=5)
    s1 = _get(d, "s1") or ctx.s1
    name = _short(s1) if s1 is not None else "S1"
    ctx.s2 = r
    text = {
        "device_s1_normal": (f"S1 {name} is not Device: the result is S2's "
                             f"{_short(r)}"),
        "nc_s1_normal": f"S1 {name} is Normal: result Normal NC",
        "nc_s1_device": f"S1 {name} is Device: S1 kept unchanged",
        "force_wb": f"S1 {name} forced to Normal Write-Back (hints from S1 where cacheable)",
        "as_s1": f"S1 {name} passed through unchanged",
    }.get(d.branch)
    return None if text is None else Line(("fwb", d.branch), text, rank=7)


def _s2_decode(d: Decision, ctx: Context) -> Line | None:
    r = d.result
    ctx.s2 = r if isinstance(r, MemoryAttributes) else ctx.s2
    item = _short(r) + (" NoTagAccess" if getattr(r, "notagaccess", False) else "")
    return Line(("s2decode", _get(d, "attr")), f"S2 MemAttr 0b{_get(d, 'attr'):04b}:", item,
                rank=5)


_S2T = {
    "ttw_device_as_nc": "stage-1 walk to S2 Device with HCR_EL2.PTW=0: treated as Normal NC",
    "ifetch_device_as_nc": "instruction fetch with S2 Device: stage 2 treated as Normal NC",
    "ifetch_hcr_id_as_nc": "instruction fetch with HCR_EL2.ID=1: stage 2 treated as Normal NC",
    "data_hcr_cd_as_nc": "HCR_EL2.CD=1: Normal stage-2 attributes become Normal NC for data",
    "stage2_disabled": "stage 2 off (HCR_EL2.VM=0, DC=0): S1 only",
}


def _s2_translate(d: Decision, ctx: Context) -> Line | None:
    if isinstance(d.result, MemoryAttributes) and d.branch != "stage2_disabled":
        ctx.s2 = d.result
    text = _S2T.get(d.branch)
    return None if text is None else Line(("s2t", d.branch), text, rank=6)


def _s2_perms(d: Decision, ctx: Context) -> Line | None:
    if d.branch == "ttw_device_ptw":
        text = "stage-1 walk to S2 Device with HCR_EL2.PTW=1: Permission fault"
    else:
        text = f"instruction fetch from S2 Device: a Permission fault is permitted ({d.branch})"
    return Line(("s2perm", d.branch), text, rank=6)


def _device(d: Decision, ctx: Context) -> Line | None:
    return Line(("device",), "both Device: the more restrictive type", rank=7)


def _hints(d: Decision, ctx: Context) -> Line | None:
    return Line(("hints",), "per level: NC if either NC, else WT if either WT, else WB; hints "
                "from S1", rank=7)


def _combine(d: Decision, ctx: Context) -> Line | None:
    if d.branch == "s1_device":
        return Line(("combine", d.branch), "S1 Device over S2 Normal: S1 wins", rank=7)
    if d.branch == "s2_device":
        s1, s2 = ctx.s1, _get(d, "s2")
        name = _short(s1) if s1 is not None else "Normal"
        return Line(("combine", d.branch), f"S1 {name} is Normal, S2 is {_short(s2)}: the "
                    "result is S2's Device type", rank=7)
    return None  # both_device / both_normal: their sub-rules' lines say it


def _tags(d: Decision, ctx: Context) -> Line | None:
    if d.branch != "tagged":
        return None
    return Line(("tags",), "S1 Tagged over a Normal WB RWA result: the result is Tagged", rank=8)


def _effective(d: Decision, ctx: Context) -> Line | None:
    # Only the last one of a path that ends in attributes: the shareability of the outcome.
    if not ctx.last_of(AslRule.EffectiveShareability) or not isinstance(
            ctx.path[-1].result, MemoryAttributes):
        return None
    a = _get(d, "memattrs")
    return Line(("effective",), "", f"{_short(a)} {getattr(d.result, 'value', d.result)}",
                rank=9)


def _hidden(d: Decision, ctx: Context) -> Line | None:
    return None


for _rule, _fn in (
    (AslRule.S1ConstrainUnpredictableRESMAIR, _resmair),
    (AslRule.ConstrainUnpredictableBits, _cu_bits),
    (AslRule.DecodeShareability, _decode_sh),
    (AslRule.S1DecodeMemAttrs, _s1_decode),
    (AslRule.AArch64_S1DisabledOutput, _s1_off),
    (AslRule.AArch64_S1Translate, _s1_translate),
    (AslRule.AArch64_S1CheckPermissions, _s1_perms),
    (AslRule.AArch64_S2ApplyFWBMemAttrs, _fwb),
    (AslRule.S2DecodeMemAttrs, _s2_decode),
    (AslRule.AArch64_S2Translate, _s2_translate),
    (AslRule.AArch64_S2CheckPermissions, _s2_perms),
    (AslRule.S2CombineS1Device, _device),
    (AslRule.S2CombineS1AttrHints, _hints),
    (AslRule.S2CombineS1MemAttrs, _combine),
    (AslRule.S2MemTagType, _tags),
    (AslRule.EffectiveShareability, _effective),
):
    register(_rule, _fn)
for _rule in (AslRule.S2DecodeCacheability, AslRule.S2CombineS1Shareability,
              AslRule.DecodeDevice, AslRule.DecodeLDFAttr):
    register(_rule, _hidden)


# --- rendering ---------------------------------------------------------------------------------


def render(d: Decision, ctx: Context | None = None) -> Line | None:
    """One record's line (None: not shown as text)."""
    fn = _RENDERERS.get(d.rule)
    if fn is None:  # a rule nobody registered: its branch and result
        line: Line | None = Line((d.rule, d.branch), f"{d.branch}: {value_text(d.result)}")
    else:
        line = fn(d, ctx if ctx is not None else Context((d,)))
    if line is not None and not line.rule:
        line.rule = str(getattr(d.rule, "value", d.rule))
    return line


_MAX_ITEMS = 8


def render_paths(paths: Iterable[Sequence[Decision]]) -> list[Line]:
    """The lines of every path, merged: a line the paths share once, with its alternatives."""
    merged: dict[object, tuple[Line, dict[str, None]]] = {}
    order: list[object] = []
    for path in paths:
        ctx = Context(path)
        for n, d in enumerate(path):
            ctx.index = n
            line = render(d, ctx)
            if line is None:
                continue
            key = (line.key, line.head, line.rule)
            if key not in merged:
                merged[key] = (line, {})
                order.append(key)
            if line.item is not None:
                merged[key][1][line.item] = None
    out = []
    for k in order:
        line, items = merged[k]
        if items:
            shown = list(items)
            text = ", ".join(shown[:_MAX_ITEMS])
            if len(shown) > _MAX_ITEMS:
                text += f" and {len(shown) - _MAX_ITEMS} more"
            head = f"{line.head} {text}" if line.head else text
            out.append(Line(line.key, head, None, rule=line.rule, rank=line.rank))
        else:
            out.append(line)
    out.sort(key=lambda ln: ln.rank)  # stable: first-seen order within a rank
    return out


def text_lines(paths: Iterable[Sequence[Decision]]) -> list[str]:
    """``"text (Rule)"`` for every line of :func:`render_paths`."""
    return [f"{ln.head} ({ln.rule})" for ln in render_paths(paths)]


def deciding(paths: Iterable[Sequence[Decision]]) -> list[Decision]:
    """The records that decided the type and are shown: combining and stage-2 translation."""
    out: dict[int, Decision] = {}
    for path in paths:
        ctx = Context(path)
        for n, d in enumerate(path):
            ctx.index = n
            line = render(d, ctx)
            if line is not None and line.rank in (6, 7):
                out.setdefault(id(d), d)
    return list(out.values())


def decided_text(paths: Iterable[Sequence[Decision]]) -> str:
    """The line that decided the type, per alternative: the last combining or stage-2 line."""
    out: dict[str, None] = {}
    for path in paths:
        ctx = Context(path)
        last = None
        for n, d in enumerate(path):
            ctx.index = n
            line = render(d, ctx)
            if line is not None and line.rank in (6, 7):
                last = line
        if last is not None:
            text = f"{last.head} {last.item}" if last.item and last.head else last.head
            out[f"{text} ({last.rule})"] = None
    return "; ".join(out)


# --- what a stage-2 MemAttr means (memattr decode s2) -------------------------------------------


def s2_meaning(records: Sequence[Decision]) -> str:
    """What a stage-2 MemAttr value means, in words, from its decode records.

    :param records: the S2DecodeMemAttrs records of ``s2_decode_mem_attrs`` (one per permitted
        outcome; several: CONSTRAINED UNPREDICTABLE), or the MemAttr case record of
        ``fwb_meaning`` (AArch64.S2ApplyFWBMemAttrs, HCR_EL2.FWB = 1).
    """
    from ..arch.s2memattr import FwbMeaning, type_label

    first = records[0]
    m = first.result
    if isinstance(m, FwbMeaning):
        text = m.description
        if first.input("FEAT_MTE_PERM") and m.notagaccess_if_tagged:
            text += "; NoTagAccess where the result is Tagged (FEAT_MTE_PERM)"
        return text
    types = list(dict.fromkeys(type_label(d.result) if isinstance(d.result, MemoryAttributes)
                               else value_text(d.result) for d in records))
    if len(types) == 1:
        return types[0]
    return ("CONSTRAINED UNPREDICTABLE (inner field 0b00, Unpredictable_S2RESMEMATTR): one of "
            + "; ".join(types))


# --- JSON --------------------------------------------------------------------------------------


def value_text(v: object) -> str:
    """A short text for a record's value."""
    if isinstance(v, MemoryAttributes):
        return str(v)
    if isinstance(v, enum.Enum):
        return str(v.name if isinstance(v.value, int) else v.value)
    return str(v)


def value_json(v: object) -> object:
    """A record's input or result as JSON: attributes as ATTR objects, enums by name."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, MemoryAttributes | CacheAttrs):
        return v.to_json()
    if isinstance(v, enum.Enum):
        return v.name if isinstance(v.value, int) else v.value
    if isinstance(v, tuple | list):
        return [value_json(x) for x in v]
    to_json = getattr(v, "to_json", None)
    if callable(to_json):
        return to_json()
    label = getattr(v, "label", None)
    return label if isinstance(label, str) else str(v)


def decision_json(d: Decision, ctx: Context | None = None) -> dict[str, object]:
    """One record as JSON: rule, branch, inputs, result, and the text it renders to."""
    line = render(d, ctx)
    text = None
    if line is not None:
        text = f"{line.head} {line.item}" if line.item is not None and line.head else (
            line.item if line.item is not None else line.head)
    return {
        "rule": str(getattr(d.rule, "value", d.rule)),
        "branch": d.branch,
        "inputs": {k: value_json(v) for k, v in d.inputs},
        "result": value_json(d.result),
        "text": text,
    }


def steps_json(paths: Sequence[Sequence[Decision]]) -> list[dict[str, object]]:
    """Every record of the paths once, in path order, as JSON (see :func:`decision_json`)."""
    out: list[dict[str, object]] = []
    seen: set[int] = set()
    for path in paths:
        ctx = Context(path)
        for n, d in enumerate(path):
            if id(d) in seen:
                continue
            seen.add(id(d))
            ctx.index = n
            out.append(decision_json(d, ctx))
    return out

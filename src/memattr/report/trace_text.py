"""Plain-text rendering of a trace replay (``memattr replay``): counts per outcome and hazard, one
column per policy and FWB setting, then the first offending accesses with their line numbers.

Every string that came from input (the trace's name, guest mapping names, the scenario's name) is
escaped (:func:`memattr.inputs.escape.escape`); the rest are the model's own phrases.
"""

from __future__ import annotations

from ..analysis.trace import Answer, TraceReplay
from ..inputs.escape import escape as _esc
from ..inputs.escape import show_path as _show_path
from .text import Style

__all__ = ["combo_label", "render_trace"]


def combo_label(policy: str, fwb: bool, fwbs: tuple[bool, ...]) -> str:
    """'6.9', '6.9 FWB' or '6.9 no FWB': the FWB part only when both settings are replayed."""
    if len(fwbs) < 2:
        return policy
    return f"{policy} FWB" if fwb else f"{policy} no FWB"


def _table(head: list[str], rows: list[list[str]], st: Style, indent: str = "  ") -> list[str]:
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
    out = [indent + "  ".join((h.ljust(w) if i == 0 else h.rjust(w))
                              for i, (h, w) in enumerate(zip(head, widths, strict=True))).rstrip()]
    out[0] = st("bold", out[0])
    out.append(indent + "  ".join("-" * w for w in widths))
    for r in rows:
        out.append(indent + "  ".join((c.ljust(w) if i == 0 else c.rjust(w))
                                      for i, (c, w) in enumerate(zip(r, widths, strict=True))
                                      ).rstrip())
    return out


def _n(count: int) -> str:
    return f"{count:,}" if count else "-"


def _answer_text(a: Answer) -> str:
    parts = [a.outcome]
    for h in a.hazards:
        parts.append(f"{h.level}: {h.kind} ({h.case})")
    return "; ".join(parts)


def render_trace(tr: TraceReplay, *, color: bool = False) -> str:
    """The text report of ``memattr replay``."""
    st = Style(color)
    lay = tr.layout
    sc = lay.scenario
    combos = lay.combos
    labels = [combo_label(p, f, lay.fwb) for p, f in combos]
    lines = [st("bold", f"trace {_esc(tr.name)}") + f": {tr.accesses:,} accesses in "
             f"{tr.lines:,} lines, through scenario {_esc(sc.name)} ({_show_path(sc.path)})"]
    fwb_txt = ", ".join("on" if f else "off" for f in lay.fwb)
    lines.append(f"policies: {', '.join(lay.policies)};  FWB: {fwb_txt};  "
                 f"{tr.classes} access classes evaluated by the scalar engine")
    if tr.by_mapping:
        lines.append("by guest mapping: " + ", ".join(
            f"{_esc(k)} {v:,}" for k, v in tr.by_mapping.most_common()))
    if tr.outside:
        lines.append(f"{tr.outside:,} accesses outside the scenario's guest mappings "
                     "(not evaluated)")
    outcomes: list[str] = []
    for c in combos:
        for text in tr.outcomes[c]:
            if text not in outcomes:
                outcomes.append(text)
    if outcomes:
        rows = [[t] + [_n(tr.outcomes[c].get(t, 0)) for c in combos] for t in outcomes]
        rows.append(["accesses that fault"] + [_n(tr.faults[c]) for c in combos])
        lines += ["", "Outcomes (accesses):"]
        lines += _table(["outcome"] + labels, rows, st)
    kinds: list[tuple[str, str]] = []
    for c in combos:
        for k in tr.hazards[c]:
            if k not in kinds:
                kinds.append(k)
    lines.append("")
    if kinds:
        lines.append("Hazards (accesses through a mapping or access that has them; "
                     "docs/review.md#concerns):")
        rows = [[f"{k} ({lv})"] + [_n(tr.hazards[c].get((k, lv), 0)) for c in combos]
                for k, lv in kinds]
        lines += _table(["hazard (level)"] + labels, rows, st)
    else:
        lines.append("Hazards: none at level hazard or unknown.")
    lines.append("")
    if tr.offending:
        shown = len(tr.offenders)
        lines.append(f"First offending accesses ({shown:,} of {tr.offending:,} that fault or "
                     "have a hazard under some policy):")
        for o in tr.offenders:
            a = o.access
            extra = []
            if a.cpu is not None:
                extra.append(f"cpu {a.cpu}")
            if a.time is not None:
                extra.append(f"t {a.time}")
            more = f" ({', '.join(extra)})" if extra else ""
            where = _esc(a.where)
            inside = "" if a.mapping is not None else f" in {_esc(o.mapping)}"
            lines.append(f"  {_esc(tr.name)}:{a.line}: {where}{inside}: {a.size}-byte "
                         f"{a.kind}{more}")
            groups: dict[str, list[str]] = {}
            for (p, f), ans in o.answers:
                groups.setdefault(_answer_text(ans), []).append(combo_label(p, f, lay.fwb))
            for text, which in groups.items():
                lines.append(f"      {', '.join(which)}: {_esc(text)}")
    else:
        lines.append("No access faults or has a hazard under any policy.")
    return "\n".join(lines) + "\n"

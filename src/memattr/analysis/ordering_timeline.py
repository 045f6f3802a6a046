"""Witnesses of :mod:`memattr.analysis.ordering` as timelines: rows for a renderer, and text.

:func:`timeline_rows` turns a verdict's witness into one row per step with the event placed in
its lane (CPU0, CPU1, fabric, device) and the rule that allowed it; :func:`render_text` lays the
rows out as a fixed-width table, followed by the verdict's decisions and the rules cited.  Every
word comes from the verdict's records and :data:`~memattr.analysis.ordering_rules.RULES`; nothing
is recomputed.  An HTML report can use :func:`timeline_rows` directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .ordering_rules import RULES, OrderingRule

if TYPE_CHECKING:
    from .ordering import Step, Verdict

__all__ = ["LANES", "TimelineRow", "event_text", "timeline_rows", "decision_text", "render_text"]

LANES = ("CPU0", "CPU1", "fabric", "device")
"""The timeline's lanes, in column order (the values of ``ordering.Actor``)."""

_MIN_LANE = 12  # columns are as wide as their longest event, plus two spaces, at least this

_STAGE_TEXT = {"BUFFER": "CPU0's write buffer", "PATH": "CPU0's path", "SP": "serialisation point",
               "DEVICE": "device"}
# What a completed DSB guarantees about CPU0's writes, by their completion point.
_DSB_TEXT = {"PATH": "DSB done: W left CPU0", "SP": "DSB done: W serialised",
             "DEVICE": "DSB done: W at device"}


@dataclass(frozen=True, slots=True)
class TimelineRow:
    """One witness step as a renderer needs it.

    :param index: the step number, from 1.
    :param lane: the lane name (one of :data:`LANES`).
    :param event: the short event text.
    :param rule: the id of the rule that allowed the step.
    :param hazard: the step is the guest write landing after the boundary.
    """

    index: int
    lane: str
    event: str
    rule: str
    hazard: bool


def event_text(step: Step, boundary: str = "reset", meeting: str | None = "root complex") -> str:
    """The short text of one step, from its move, units and stage.

    :param step: the witness step.
    :param boundary: the label of the host transaction the guest's writes must precede.
    :param meeting: what the serialisation stage is ('root complex', 'interconnect point').
    """
    from .ordering import Move

    u = "+".join(step.units)
    m = step.move
    if m is Move.STORE:
        return f"STR {u} -> buffer"
    if m is Move.GATHER:
        return f"gather {u}"
    if m is Move.DRAIN:
        return f"{u} leaves CPU0"
    if m is Move.SERIALISE:
        return f"{u} -> {meeting or 'serialisation point'}"
    if m is Move.LAND:
        return f"{u} lands AFTER {boundary}" if step.after_boundary else f"{u} lands"
    if m is Move.ISSUE:
        return "write vCPU B's state" if u == "switch" else f"issue {u}"
    if m is Move.COMPLETE:
        return f"{u} completion"
    if m is Move.DSB:
        return _DSB_TEXT[step.stage.name if step.stage is not None else "DEVICE"]
    fixed = {Move.ZAP: "zap VMA", Move.S2_UNMAP: "stage-2 unmap", Move.TLBI: "TLBI broadcast",
             Move.TLBI_PERFORMED: "TLBI performed here", Move.SWITCH: "switch vCPU A -> B"}
    return fixed[m]


def timeline_rows(verdict: Verdict) -> tuple[TimelineRow, ...]:
    """The witness of ``verdict`` as rows (empty when no witness exists)."""
    meeting = verdict.config.meeting_point
    return tuple(TimelineRow(i, s.actor.value, event_text(s, verdict.boundary, meeting),
                             s.rule.value, s.after_boundary)
                 for i, s in enumerate(verdict.witness, 1))


def decision_text(rule: OrderingRule, branch: str, inputs: tuple[tuple[str, object], ...],
                  result: object, meeting: str | None = None) -> str:
    """One decision record as a line: rule id, branch, inputs, result.

    :param meeting: the name of the serialisation stage in this configuration, if any.
    """
    args = ", ".join(f"{k}={_value(v, meeting)}" for k, v in inputs)
    return f"{rule.value} [{branch}]({args}) -> {_value(result, meeting)}"


def _value(v: object, meeting: str | None = None) -> str:
    if isinstance(v, OrderingRule):
        return v.value
    if isinstance(v, enum.IntEnum):  # a Stage
        if v.name == "SP" and meeting:
            return meeting
        return _STAGE_TEXT.get(v.name, v.name)
    if isinstance(v, enum.Enum):
        return str(v.value)
    return str(v)


def render_text(verdict: Verdict) -> str:
    """The verdict as text: headline, timeline table, decisions, and the rules cited."""
    cfg = verdict.config
    lines = [cfg.label]
    if verdict.reachable:
        lines.append(f"verdict: a guest write can reach the device after the {verdict.boundary} "
                     f"(shortest witness {len(verdict.witness)} steps, {verdict.states} states "
                     "explored)")
    else:
        lines.append(f"verdict: no guest write reaches the device after the {verdict.boundary} "
                     f"({verdict.states} states explored, every interleaving)")
    rows = timeline_rows(verdict)
    cited: list[OrderingRule] = []
    if rows:
        widths = [max([_MIN_LANE, len(lane) + 2] + [len(r.event) + 2 for r in rows
                                                     if r.lane == lane]) for lane in LANES]
        header = "step  " + "".join(lane.ljust(w) for lane, w in zip(LANES, widths, strict=True)) + "rule"
        lines += ["", header.rstrip()]
        for row, step in zip(rows, verdict.witness, strict=True):
            cells = [row.event if lane == row.lane else "" for lane in LANES]
            mark = "  <-- hazard" if row.hazard else ""
            text = "".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))
            lines.append(f"{row.index:>4}  {text}{row.rule}{mark}")
            if step.rule not in cited:
                cited.append(step.rule)
    lines += ["", "why:"]
    for d in verdict.decisions:
        assert isinstance(d.rule, OrderingRule)
        lines.append("  " + decision_text(d.rule, d.branch, d.inputs, d.result,
                                          cfg.meeting_point))
        if d.rule not in cited:
            cited.append(d.rule)
    lines += ["", "rules:"]
    for rule in cited:
        info = RULES[rule]
        lines.append(f"  {rule.value}: {info.text}")
        lines.append(f"      {info.source}")
    return "\n".join(lines)

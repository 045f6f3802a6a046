"""Inline SVG for the HTML report: the S1 x S2 heatmap and the ordering witness timeline.

Every text placed in an SVG goes through :func:`html.escape` (the model's own phrases as much as
anything from input).  No script, no external reference: plain ``<svg>`` elements.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..arch.memtype import MemoryAttributes

__all__ = ["TYPE_CLASSES", "HeatCell", "type_class", "heatmap", "timeline"]

TYPE_CLASSES: tuple[tuple[str, str, str], ...] = (
    ("device-ngnrne", "Device-nGnRnE", "#7f1d1d"),
    ("device-ngnre", "Device-nGnRE", "#c0392b"),
    ("device-ngre", "Device-nGRE", "#e67e22"),
    ("device-gre", "Device-GRE", "#f1c40f"),
    ("normal-nc", "Normal-NC", "#2e6fd8"),
    ("normal-wt", "Normal-WT", "#16a3a0"),
    ("normal-wb", "Normal-WB", "#1e8a3c"),
    ("normal-mixed", "Normal, inner and outer differ", "#8e6bc7"),
    ("several", "several permitted (CONSTRAINED UNPREDICTABLE, reserved)", "#c8ccd2"),
)
"""Effective-type classes of the heatmap: (id, label, colour)."""

_COLOUR = {k: c for k, _, c in TYPE_CLASSES}


def type_class(outcomes: Sequence[MemoryAttributes]) -> str:
    """The class id of a set of permitted outcomes."""
    if len(outcomes) != 1:
        return "several"
    a = outcomes[0]
    if a.device is not None:
        return "device-" + a.device.name.lower()
    assert a.inner is not None and a.outer is not None
    inner, outer = a.inner.cacheability, a.outer.cacheability
    if inner is not outer:
        return "normal-mixed"
    return "normal-" + inner.name.lower()


@dataclass(frozen=True, slots=True)
class HeatCell:
    """One run of equal cells in a heatmap row: columns ``first..last`` of class ``cls``."""

    first: int
    last: int
    cls: str
    title: str


def heatmap(rows: Sequence[Sequence[HeatCell]], row_labels: Sequence[str], *, columns: int,
            col_ticks: Sequence[tuple[int, str]], title: str, cell_w: int = 3,
            cell_h: int = 14, x_label: str = "", y_label: str = "") -> str:
    """A heatmap as SVG: one row per label, runs of equal cells drawn as one rectangle with a
    tooltip (``<title>``).

    :param rows: per row, its runs (covering columns 0..columns-1).
    :param col_ticks: (column, label) pairs marked under the map.
    """
    left, top = 64, 8
    width = left + columns * cell_w + 16
    height = top + len(rows) * cell_h + 44
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" role="img" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{html.escape(title)}</title>"]
    for r, (label, runs) in enumerate(zip(row_labels, rows, strict=True)):
        y = top + r * cell_h
        out.append(f'<text x="{left - 6}" y="{y + cell_h - 3}" text-anchor="end" '
                   f'class="tick">{html.escape(label)}</text>')
        for run in runs:
            x = left + run.first * cell_w
            w = (run.last - run.first + 1) * cell_w
            out.append(f'<rect x="{x}" y="{y}" width="{w}" height="{cell_h - 1}" '
                       f'fill="{_COLOUR[run.cls]}" data-class="{run.cls}">'
                       f"<title>{html.escape(run.title)}</title></rect>")
    base = top + len(rows) * cell_h
    for col, label in col_ticks:
        x = left + col * cell_w
        out.append(f'<line x1="{x}" y1="{base}" x2="{x}" y2="{base + 4}" class="axis"/>')
        out.append(f'<text x="{x}" y="{base + 15}" text-anchor="middle" class="tick">'
                   f"{html.escape(label)}</text>")
    if x_label:
        out.append(f'<text x="{left + columns * cell_w / 2:.0f}" y="{base + 34}" '
                   f'text-anchor="middle" class="axis-label">{html.escape(x_label)}</text>')
    if y_label:
        out.append(f'<text x="10" y="{top + len(rows) * cell_h / 2:.0f}" class="axis-label" '
                   f'transform="rotate(-90 10 {top + len(rows) * cell_h / 2:.0f})" '
                   f'text-anchor="middle">{html.escape(y_label)}</text>')
    out.append("</svg>")
    return "".join(out)


def timeline(lanes: Sequence[str], steps: Sequence[tuple[int, str, str, str, bool]], *,
             title: str, lane_w: int = 190, step_h: int = 24) -> str:
    """A witness as SVG swim lanes: one column per lane, one row per step.

    :param steps: (index, lane, event, rule, hazard) per step.
    """
    left, top = 40, 30
    width = left + len(lanes) * lane_w + 8
    height = top + max(len(steps), 1) * step_h + 10
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" role="img" '
           f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">',
           f"<title>{html.escape(title)}</title>"]
    for i, lane in enumerate(lanes):
        x = left + i * lane_w
        out.append(f'<rect x="{x + 2}" y="{top - 4}" width="{lane_w - 4}" '
                   f'height="{height - top}" class="lane"/>')
        out.append(f'<text x="{x + lane_w / 2:.0f}" y="{top - 12}" text-anchor="middle" '
                   f'class="lane-name">{html.escape(lane)}</text>')
    for row, (index, lane, event, rule, hazard) in enumerate(steps):
        y = top + row * step_h
        col = lanes.index(lane) if lane in lanes else 0
        x = left + col * lane_w
        cls = "step hazard" if hazard else "step"
        out.append(f'<text x="{left - 8}" y="{y + step_h - 9}" text-anchor="end" '
                   f'class="tick">{index}</text>')
        out.append(f'<g class="{cls}"><rect x="{x + 6}" y="{y + 2}" width="{lane_w - 12}" '
                   f'height="{step_h - 5}" rx="4"/>'
                   f'<text x="{x + 12}" y="{y + step_h - 9}">{html.escape(event)}</text>'
                   f"<title>{html.escape(f'{index}. {lane}: {event} ({rule})')}</title></g>")
    out.append("</svg>")
    return "".join(out)

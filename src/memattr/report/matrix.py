"""The policy matrix as text, CSV and a self-contained HTML page (JSON is ``Matrix.to_json``).

Every string that can come from input (a policy file's name and summary) is escaped: for the
terminal with :func:`memattr.inputs.escape.escape`, in HTML with :func:`html.escape`.
"""

from __future__ import annotations

import csv
import html
import io
from typing import Any

from ..analysis.hazards import HAZARDS
from ..analysis.matrix import DEVICES, GUEST_MAPPINGS, Matrix, Row
from ..inputs.escape import escape

__all__ = ["render_text", "render_csv", "render_html", "CSV_COLUMNS"]

CSV_COLUMNS = ("policy", "device", "source", "guest_mapping", "access", "fwb", "s2", "effective",
               "outcome", "hazards", "notes")
"""The CSV header (hazards and notes are ';'-separated ids)."""


def _counts(m: Matrix) -> str:
    n = len(m.rows)
    return (f"{len(m.policies)} policies x {len(m.devices)} device classes ({len(m.sources)} "
            f"mapping sources) x {len(m.guests)} guest mappings x {len(m.accesses)} access kinds "
            f"x FWB {'/'.join('on' if f else 'off' for f in m.fwbs)}: {n:,} rows")


def _table(head: list[str], body: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
    line = lambda cells: "  " + "  ".join(c.ljust(w) for c, w in zip(cells, widths,  # noqa: E731
                                                                          strict=True)).rstrip()
    return [line(head), line(["-" * w for w in widths]), *[line(r) for r in body]]


def render_text(m: Matrix, *, rows: bool = True) -> str:
    """The verdicts, why, the hazards the checks look for, then (with ``rows``) every row."""
    out = [f"memattr matrix: {_counts(m)}", ""]
    out.append("Verdict per policy and device class (ok, hazard, broken):")
    pol = [escape(p) for p in m.policies]
    body = [[pol[i]] + [m.verdict(p, d).verdict for d in m.devices]
            for i, p in enumerate(m.policies)]
    out += _table(["policy", *m.devices], body)
    out += ["", "Why:"]
    for v in m.verdicts:
        out.append(f"  {escape(v.policy)} / {v.device}: {v.verdict}: {escape(v.why)}")
    out += ["", "The hazards (docs/matrix.md#hazards):"]
    for h in HAZARDS.values():
        out.append(f"  {h.id}: {h.kind} ({h.citation})")
        out.append(f"      needs: {h.needs}")
    if rows:
        out += ["", "Rows: policy, device class, mapping source, guest mapping, access, FWB: "
                "stage 2 -> effective: outcome [hazards] (notes)"]
        width = [max((len(escape(x)) for x in m.policies), default=1),
                 max(len(x) for x in m.devices), max((len(x) for x in m.sources), default=1),
                 max(len(x) for x in m.guests), max(len(x) for x in m.accesses)]
        names = {p: escape(p) for p in m.policies}
        for r in m.rows:
            out.append(_row_line(r, names, width))
    return "\n".join(out) + "\n"


def _row_line(r: Row, names: dict[str, str], w: list[int]) -> str:
    chain = f"{r.s2 or '-'} -> {r.effective or '-'}"
    hz = f" [{', '.join(r.hazards)}]" if r.hazards else ""
    notes = f" ({', '.join(r.notes)})" if r.notes else ""
    return (f"  {names[r.policy]:<{w[0]}}  {r.device:<{w[1]}}  {r.source:<{w[2]}}  "
            f"{r.guest_mapping:<{w[3]}}  {r.access:<{w[4]}}  {'on ' if r.fwb else 'off'}  "
            f"{chain}: {r.outcome}{hz}{notes}")


def render_csv(m: Matrix) -> str:
    """One line per row, :data:`CSV_COLUMNS` first."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for r in m.rows:
        w.writerow([escape(r.policy), r.device, r.source, r.guest_mapping, r.access,
                    "true" if r.fwb else "false", r.s2 or "", r.effective or "", r.outcome,
                    ";".join(r.hazards), ";".join(r.notes)])
    return buf.getvalue()


_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;font-size:13px;margin:.5em 0 1.5em}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0;position:sticky;top:0}
td.ok{background:#e3f4e3}td.hazard{background:#fde9c8}td.broken{background:#f8d0d0}
td.hz{color:#a33}code{font-size:12px}
"""


def render_html(m: Matrix, *, rows: bool = True) -> str:
    """One self-contained page (no scripts, no fonts, no network): the verdict grid with the why
    of each cell, the hazards, and the rows."""
    e = html.escape
    parts = ["<!DOCTYPE html>", "<html lang=\"en\"><head><meta charset=\"utf-8\">",
             "<title>memattr matrix</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>memattr matrix</h1>", f"<p>{e(_counts(m))}</p>",
             "<h2 id=\"verdicts\">Verdicts</h2>", "<table class=\"verdicts\"><thead><tr>"
             "<th>policy</th>" + "".join(f"<th>{e(d)}</th>" for d in m.devices) +
             "</tr></thead><tbody>"]
    for p in m.policies:
        cells = []
        for d in m.devices:
            v = m.verdict(p, d)
            cells.append(f"<td class=\"{e(v.verdict)}\" title=\"{e(v.why)}\">{e(v.verdict)}"
                         "</td>")
        parts.append(f"<tr><th>{e(p)}</th>{''.join(cells)}</tr>")
    parts.append("</tbody></table>")
    parts.append("<h2 id=\"why\">Why</h2><ul>")
    for v in m.verdicts:
        parts.append(f"<li><b>{e(v.policy)}</b> / {e(v.device)}: {e(v.verdict)}: "
                     f"{e(v.why)}</li>")
    parts.append("</ul><h2 id=\"hazards\">Hazards</h2><table><thead><tr><th>id</th><th>what"
                 "</th><th>review</th><th>architecture</th><th>needs</th></tr></thead><tbody>")
    for h in HAZARDS.values():
        parts.append(f"<tr><td><code>{e(h.id)}</code></td><td>{e(h.kind)}</td><td><code>"
                     f"{e(h.citation)}</code></td><td>{e(h.architecture)}</td>"
                     f"<td>{e(h.needs)}</td></tr>")
    parts.append("</tbody></table>")
    parts.append("<h2 id=\"dimensions\">Dimensions</h2><ul>")
    for dc in DEVICES:
        if dc.name in m.devices:
            parts.append(f"<li><b>{e(dc.name)}</b>: {e(dc.summary)} (sources: "
                         f"{e(', '.join(s.name for s in dc.sources))})</li>")
    for g in m.guests:
        parts.append(f"<li><b>{e(g)}</b>: {e(GUEST_MAPPINGS[g])}</li>")
    parts.append("</ul>")
    if rows:
        parts.append("<h2 id=\"rows\">Rows</h2><table class=\"rows\"><thead><tr>" +
                     "".join(f"<th>{c}</th>" for c in ("policy", "device", "source", "guest",
                                                       "access", "FWB", "stage 2", "effective",
                                                       "outcome", "hazards")) +
                     "</tr></thead><tbody>")
        esc: dict[str, str] = {}

        def c(text: Any) -> str:
            s = "" if text is None else str(text)
            got = esc.get(s)
            if got is None:
                got = esc[s] = e(s)
            return got

        for r in m.rows:
            parts.append(f"<tr><td>{c(r.policy)}</td><td>{c(r.device)}</td><td>{c(r.source)}"
                         f"</td><td>{c(r.guest_mapping)}</td><td>{c(r.access)}</td><td>"
                         f"{'on' if r.fwb else 'off'}</td><td>{c(r.s2)}</td><td>"
                         f"{c(r.effective)}</td><td>{c(r.outcome)}</td><td class=\"hz\">"
                         f"{c(' '.join(r.hazards))}</td></tr>")
        parts.append("</tbody></table>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"

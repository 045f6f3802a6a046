"""The HTML report (``memattr report``): one self-contained file that people can look at.

Sections: the S1 x S2 heatmaps without and with FEAT_S2FWB (from :mod:`memattr.arch.batch`), the
policy matrix with its verdicts (a document passed in: :func:`matrix_section`), each scenario's
comparison table with the reasons and hazards (:mod:`memattr.analysis.replay`), the reclaim
ordering witnesses as timelines (:mod:`memattr.analysis.ordering`), and the sources cited.

Self-contained: inline CSS, inline SVG, no script, no font or image fetched; the only URLs are
citation links (``<a href>`` to lore.kernel.org and git.kernel.org, and relative links to the
repository's docs/).  Every string from input passes through
:func:`memattr.report.citations.text` (control characters escaped, then HTML-escaped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .. import __version__
from .citations import cite_html, commit_url, text
from .svg import TYPE_CLASSES, HeatCell, heatmap, timeline, type_class

if TYPE_CHECKING:
    from ..analysis.replay import Replay, Result
    from ..arch.cpu import Cpu

__all__ = ["CSS", "heatmap_section", "matrix_section", "scenario_section", "ordering_section",
           "sources_section", "render_report"]

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;
color:#1d2330;background:#fafbfc;line-height:1.45}
header{background:#1d2b4f;color:#fff;padding:18px 32px}
header h1{margin:0;font-size:24px}header p{margin:4px 0 0;color:#cfd8ea}
nav{padding:8px 32px;background:#e8ecf3;font-size:14px}nav a{margin-right:18px;color:#1d2b4f}
main{padding:8px 32px 40px;max-width:1400px}
section{margin-top:28px}h2{border-bottom:2px solid #1d2b4f;padding-bottom:4px}
h3{margin:20px 0 6px}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
th,td{border:1px solid #cdd3dd;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#eef1f6}
td.differs{font-weight:600;background:#fff4cc}
.legend{display:flex;flex-wrap:wrap;gap:6px 16px;font-size:13px;margin:6px 0 14px}
.legend span.sw{display:inline-block;width:14px;height:14px;margin-right:5px;
vertical-align:-2px;border:1px solid #888}
.maps{display:flex;flex-wrap:wrap;gap:24px}
figure{margin:0}figcaption{font-size:13px;color:#444;max-width:820px}
svg text{font-family:inherit}svg .tick{font-size:10px;fill:#333}
svg .axis{stroke:#333}svg .axis-label{font-size:12px;fill:#222}
svg.timeline .lane{fill:#f1f4f9;stroke:#d5dbe5}svg.timeline .lane-name{font-size:12px;
font-weight:600;fill:#1d2b4f}
svg.timeline .step rect{fill:#dfe8f7;stroke:#7d93bd}svg.timeline .step text{font-size:11px;
fill:#111}
svg.timeline .step.hazard rect{fill:#f8d3cf;stroke:#b3261e}
td.verdict-ok{background:#d8f0dc}td.verdict-hazard{background:#fde7b0}
td.verdict-broken{background:#f6c6c2}
.level-hazard{color:#b3261e;font-weight:600}.level-unknown{color:#9a6700;font-weight:600}
.level-note{color:#1d5c8f}.level-ok{color:#1e7a35}
.why{font-size:13px;color:#333}.muted{color:#666;font-size:13px}
details{margin:6px 0}summary{cursor:pointer;font-size:14px}
code{font-size:12px;background:#eef1f6;padding:0 3px}
ul.plain{padding-left:18px;font-size:13px}
"""
"""The report's style sheet (inline)."""


# --- heatmaps ------------------------------------------------------------------------------------


def _heat_rows(fwb: bool, cpu: Cpu) -> tuple[list[list[HeatCell]], dict[str, int]]:
    """Per S2 MemAttr, runs of S1 bytes with the same effective-type class."""
    import numpy as np

    from ..arch.batch import combine_batch, outcome_table

    table = outcome_table(cpu)
    s1 = np.tile(np.arange(256, dtype=np.uint8), 16)
    s2 = np.repeat(np.arange(16, dtype=np.uint8), 256)
    ids = combine_batch(s1, s2, fwb, False, cpu=cpu).reshape(16, 256)
    memo: dict[int, tuple[str, str]] = {}

    def info(oid: int) -> tuple[str, str]:
        if oid not in memo:
            res = table[oid]
            names = ", ".join(dict.fromkeys(o.short for o in res.outcomes)) or "none"
            note = " (reserved input)" if res.reserved else ""
            memo[oid] = (type_class(res.outcomes), names + note)
        return memo[oid]

    rows: list[list[HeatCell]] = []
    counts: dict[str, int] = {}
    for m in range(16):
        runs: list[HeatCell] = []
        start = 0
        row = ids[m].tolist()
        for b in range(1, 257):
            if b < 256 and info(row[b]) == info(row[start]):
                continue
            cls, names = info(row[start])
            span = f"0x{start:02x}" if b - 1 == start else f"0x{start:02x}-0x{b - 1:02x}"
            runs.append(HeatCell(start, b - 1, cls, f"S2 MemAttr 0b{m:04b} x S1 {span}: {names}"))
            counts[cls] = counts.get(cls, 0) + (b - start)
            start = b
        rows.append(runs)
    return rows, counts


def heatmap_section(cpu: Cpu | None = None) -> str:
    """The S1 x S2 heatmaps without and with FEAT_S2FWB (HCR_EL2.CD=0), with their legend."""
    from ..arch.cpu import ALL

    c = cpu if cpu is not None else ALL
    figures = []
    for fwb in (False, True):
        if fwb and not c.s2fwb:
            continue
        rows, counts = _heat_rows(fwb, c)
        name = "with FEAT_S2FWB (HCR_EL2.FWB=1)" if fwb else "without FWB (HCR_EL2.FWB=0)"
        svg = heatmap(rows, [f"0b{m:04b}" for m in range(16)], columns=256,
                      col_ticks=[(v, f"0x{v:02x}") for v in range(0, 256, 32)] + [(255, "0xff")],
                      title=f"Effective memory type {name}: stage-1 MAIR byte x stage-2 MemAttr",
                      x_label="stage-1 MAIR attribute byte", y_label="S2 MemAttr")
        legend = "".join(
            f'<span><span class="sw" style="background:{col}"></span>{text(label)} '
            f'<span class="muted">({counts.get(k, 0)})</span></span>'
            for k, label, col in TYPE_CLASSES)
        rule = ("AArch64.S2ApplyFWBMemAttrs" if fwb else
                "S2CombineS1MemAttrs (the stronger of the two stages)")
        figures.append(
            f'<figure class="heatmap-figure" data-fwb="{int(fwb)}">{svg}'
            f'<div class="legend">{legend}</div>'
            f"<figcaption>{text(name[0].upper() + name[1:])}: 256 MAIR bytes x 16 MemAttr values, each "
            f"cell the effective type the architecture gives ({text(rule)}); hover a run for the "
            f"exact outcomes.  Cells counted per class in brackets.</figcaption></figure>")
    return (f'<section id="heatmaps"><h2>Stage 1 x stage 2</h2>'
            f'<p class="muted">CPU {text(c.name)}; HCR_EL2.CD=0; SH=ISH; a data read.  '
            f"Computed by <code>memattr.arch.batch</code> from the scalar rules "
            f'(<a href="#sources">sources</a>).</p>'
            f'<div class="maps">{"".join(figures)}</div></section>')


# --- the policy matrix -------------------------------------------------------------------------------


def matrix_section(doc: dict[str, Any], docs_base: str = "") -> str:
    """The policy matrix: a verdict per (policy, device class), the hazards with citations, and
    every row (folded).

    :param doc: the matrix document (``{"dimensions", "rows", "verdicts", "hazards"}``, as
        ``memattr matrix --format json`` writes it).
    :param docs_base: prefix of links to the repository's docs/.
    """
    dims = doc.get("dimensions", {})
    verdicts = doc.get("verdicts", [])
    policies = list(dims.get("policies") or dict.fromkeys(v["policy"] for v in verdicts))
    devices = list(dims.get("devices") or dict.fromkeys(v["device"] for v in verdicts))
    by = {(v["policy"], v["device"]): v for v in verdicts}
    head = "".join(f"<th>{text(d)}</th>" for d in devices)
    body = []
    for p in policies:
        cells = []
        for d in devices:
            v = by.get((p, d))
            if v is None:
                cells.append("<td></td>")
                continue
            verdict = str(v.get("verdict", ""))
            cls = verdict if verdict in ("ok", "hazard", "broken") else "unknown"
            hz = ", ".join(str(h) for h in v.get("hazards", []))
            cells.append(f'<td class="verdict-{cls}" data-verdict="{text(verdict)}" '
                         f'title="{text(v.get("why", ""))}"><b>{text(verdict)}</b>'
                         + (f'<br><span class="muted">{text(hz)}</span>' if hz else "")
                         + "</td>")
        body.append(f"<tr><th>{text(p)}</th>{''.join(cells)}</tr>")
    hazards = doc.get("hazards", {})
    hrows = "".join(
        f'<tr id="hazard-{text(k)}"><td><code>{text(k)}</code></td><td>{text(h.get("title", ""))}'
        f'</td><td>{cite_html(str(h.get("citation", "")), docs_base)}</td>'
        f'<td>{text(h.get("needs", ""))}</td></tr>' for k, h in hazards.items())
    whys = "".join(f"<li><b>{text(v['policy'])} / {text(v['device'])}</b>: "
                   f"{text(v.get('verdict', ''))} -- {text(v.get('why', ''))}</li>"
                   for v in verdicts if v.get("verdict") != "ok")
    cols = ("policy", "device", "source", "guest_mapping", "access", "fwb", "s2", "effective",
            "outcome", "hazards")
    rows_html = "".join(
        "<tr>" + "".join(f"<td>{text(_cell(r.get(c)))}</td>" for c in cols) + "</tr>"
        for r in doc.get("rows", []))
    source = doc.get("source")
    return (
        '<section id="matrix"><h2>Policy matrix</h2>'
        f'<p class="muted">Every policy x device class x mapping source x guest mapping x access '
        f"x FWB ({len(doc.get('rows', []))} rows); a verdict per policy and device class: "
        "<b>broken</b> where an access the guest's own mapping allows fails because of the host, "
        "<b>hazard</b> where a hazard of the review applies, <b>ok</b> otherwise."
        + (f"  Source: {text(source)}." if source else "") + "</p>"
        f'<table class="verdicts"><tr><th>policy</th>{head}</tr>{"".join(body)}</table>'
        f'<h3>Hazards</h3><table class="hazards"><tr><th>id</th><th>hazard</th><th>citation</th>'
        f"<th>needs</th></tr>{hrows}</table>"
        f"<details><summary>Why each verdict that is not ok</summary><ul class=\"plain\">{whys}"
        f"</ul></details>"
        f"<details><summary>All rows</summary><table class=\"rows\"><tr>"
        + "".join(f"<th>{c}</th>" for c in cols) + f"</tr>{rows_html}</table></details></section>")


def _cell(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v) or "-"
    return str(v)


# --- scenarios ---------------------------------------------------------------------------------------


def _label(rp: Replay, keys: list[tuple[str, bool]]) -> str:
    from .text import label_of

    return label_of(keys, rp.policies, rp.fwb)


def _level(level: str) -> str:
    return f'<span class="level-{text(level)}">{text(level)}</span>'


def scenario_section(replays: Sequence[Replay], docs_base: str = "") -> str:
    """Each scenario: the comparison table (a column per policy, '*' = differs from the first),
    then per guest mapping the chain, the reasons, the accesses and the hazards."""
    from ..analysis.compare import compare
    from .text import grouped, run_why

    parts = ['<section id="scenarios"><h2>Scenarios</h2>']
    for k, rp in enumerate(replays):
        sc = rp.scenario
        cmp = compare(rp)
        fwb = ", ".join("on" if f else "off" for f in rp.fwb)
        head = "".join(f"<th>{text(p)}</th>" for p in cmp.policies)
        rows = []
        for row in cmp.rows:
            cells = "".join(f'<td class="{"differs" if c.differs else ""}">'
                            f'{"*" if c.differs else ""}{text(c.text)}</td>' for c in row.cells)
            rows.append(f"<tr><td>{text(row.mapping)}</td><td>{text(row.asks)}</td>"
                        f"<td>{text(row.vmm)}</td>{cells}</tr>")
        detail = []
        for name in rp.rows():
            results: list[Result] = [r for r in rp.results if r.mapping.name == name]
            items = []
            for why, group in grouped(results, run_why):
                keys = [(r.policy_name, r.fwb) for r in group]
                items.append(f"<li><b>{text(_label(rp, keys))}</b>: {text(group[0].cell)} -- "
                             f'<span class="why">{cite_html(why, docs_base)}</span></li>')
            for i, acc in enumerate(a for a in sc.accesses if a.mapping == name):
                def outcome_of(r: Result, i: int = i) -> str:
                    return r.accesses[i].outcome

                for outcome, group in grouped(results, outcome_of):
                    keys = [(r.policy_name, r.fwb) for r in group]
                    items.append(f"<li>access {acc.size}-byte {text(acc.op)} at +0x{acc.offset:x}"
                                 f" [{text(_label(rp, keys))}]: {text(outcome)}</li>")
            hz: dict[tuple[str, str, str, str], list[tuple[str, bool]]] = {}
            for r in results:
                for h in r.hazards:
                    hz.setdefault((h.level, h.kind, h.case, h.text), []).append(
                        (r.policy_name, r.fwb))
            for (level, kind, case, what), keys in hz.items():
                items.append(f"<li>{_level(level)}: {text(kind)} ({cite_html(case, docs_base)})"
                             f" [{text(_label(rp, keys))}]: {cite_html(what, docs_base)}</li>")
            worst = sorted({f"{lv}: {kind}" for (lv, kind, _c, _w) in hz
                            if lv in ("hazard", "unknown")})
            flag = (f' <span class="level-{"hazard" if any(w.startswith("hazard") for w in worst) else "unknown"}">'  # noqa: E501
                    f"({text('; '.join(worst))})</span>") if worst else ""
            detail.append(f"<details><summary>{text(name)} -- "
                          f"{text(results[0].backing)}{flag}</summary>"
                          f'<ul class="plain">{"".join(items)}</ul></details>')
        parts.append(
            f'<article class="scenario" id="scenario-{k}"><h3>{text(sc.name)}</h3>'
            f'<p class="muted">{text(sc.description)} -- policies {text(", ".join(rp.policies))};'
            f" FWB {fwb}</p>"
            f'<table class="comparison"><tr><th>guest mapping</th><th>guest S1</th>'
            f'<th>VMM S1</th>{head}</tr>{"".join(rows)}</table>{"".join(detail)}</article>')
    parts.append("</section>")
    return "".join(parts)


# --- ordering witnesses ------------------------------------------------------------------------------


def ordering_section(cases: Sequence[tuple[str, Any]] | None = None, docs_base: str = "") -> str:
    """The reclaim-ordering verdicts of the review's cases, each witness as a timeline."""
    from ..analysis.ordering import REVIEW_CASES, explore
    from ..analysis.ordering_rules import RULES, OrderingRule
    from ..analysis.ordering_timeline import LANES, decision_text, timeline_rows

    intro = ("Every interleaving of the guest's writes against the host's revoke-and-reset "
             "sequence, explored breadth first (docs/ordering.md).  Where a guest write can reach "
             "the device after the reset, the shortest witness is drawn: one lane per agent, one "
             "row per step, the offending landing in red.")
    parts = ['<section id="ordering"><h2>Reclaim ordering: witnesses</h2>'
             f'<p class="muted">{cite_html(intro, docs_base)}</p>']
    for i, (label, cfg) in enumerate(cases if cases is not None else REVIEW_CASES):
        v = explore(cfg)
        if v.reachable:
            head = (f'<b class="level-hazard">a guest write can reach the device after the '
                    f"{text(v.boundary)}</b> (shortest witness {len(v.witness)} steps, "
                    f"{v.states} states explored)")
        else:
            head = (f'<b class="level-ok">no guest write reaches the device after the '
                    f"{text(v.boundary)}</b> ({v.states} states explored, every interleaving)")
        rows = timeline_rows(v)
        svg = timeline(LANES, [(r.index, r.lane, r.event, r.rule, r.hazard) for r in rows],
                       title=f"{label}: witness") if rows else ""
        cited: list[OrderingRule] = []
        for s in v.witness:
            if s.rule not in cited:
                cited.append(s.rule)
        decisions = []
        for d in v.decisions:
            assert isinstance(d.rule, OrderingRule)
            decisions.append(f"<li><code>{text(decision_text(d.rule, d.branch, d.inputs, d.result, cfg.meeting_point))}</code></li>")  # noqa: E501
            if d.rule not in cited:
                cited.append(d.rule)
        rules = "".join(f"<li><code>{text(r.value)}</code>: {text(RULES[r].text)}<br>"
                        f'<span class="muted">{cite_html(RULES[r].source, docs_base)}</span></li>'
                        for r in cited)
        parts.append(
            f'<article class="witness" id="witness-{i}" data-reachable="{int(v.reachable)}">'
            f"<h3>{cite_html(label, docs_base)}</h3><p class=\"muted\">{text(cfg.label)}</p>"
            f"<p>{head}</p>{svg}"
            f'<details><summary>Why (decisions) and the rules cited</summary>'
            f'<ul class="plain">{"".join(decisions)}</ul><ul class="plain">{rules}</ul>'
            f"</details></article>")
    parts.append("</section>")
    return "".join(parts)


# --- sources -----------------------------------------------------------------------------------------


def sources_section(policies: Sequence[str], docs_base: str = "") -> str:
    """The docs pages the report cites and the kernel commits behind each policy."""
    from ..linux.policy import get_policy

    docs = [("docs/architecture.md", "architecture rules (MAIR, combining, FWB, alignment)"),
            ("docs/review.md#concerns", "the review's concerns, how each was settled"),
            ("docs/review.md#worked-cases", "the worked cases the hazards cite"),
            ("docs/ordering.md", "the reclaim-ordering model and its assumption"),
            ("docs/linux-versions.md", "KVM's stage-2 policy by release"),
            ("docs/scenarios.md", "the scenario file format")]
    items = "".join(f"<li>{cite_html(d, docs_base)}: {text(what)}</li>" for d, what in docs)
    pols = []
    for name in policies:
        p = get_policy(name)
        commits = []
        for c in p.commits:
            url = commit_url(c.id)
            cite = text(c.cite())
            commits.append(f'<a href="{text(url)}">{cite}</a>' if url else cite)
        pols.append(f"<li><b>{text(name)}</b>: {text(p.summary)}"
                    + (f"<br>{'<br>'.join(commits)}" if commits else "") + "</li>")
    return (f'<section id="sources"><h2>Sources</h2><ul class="plain">{items}</ul>'
            f'<h3>Policies and the commits they follow</h3><ul class="plain">{"".join(pols)}'
            f"</ul></section>")


# --- the page ------------------------------------------------------------------------------------------


def render_report(replays: Sequence[Replay], matrix: dict[str, Any] | None, *,
                  policies: Sequence[str] = (), cpu: Cpu | None = None, docs_base: str = "",
                  ordering: Sequence[tuple[str, Any]] | None = None) -> str:
    """The whole report as one HTML document.

    :param replays: the scenarios replayed (their tables and reasons).
    :param matrix: the policy matrix document (see :func:`matrix_section`); None leaves it out.
    :param policies: the policies whose commits the sources list (default: those replayed).
    :param cpu: the CPU of the heatmaps (default: every feature).
    :param docs_base: prefix of links to the repository's docs/ ('' at the repository root).
    :param ordering: the ordering configurations (default: the review's cases).
    """
    pols = list(policies) or list(dict.fromkeys(p for rp in replays for p in rp.policies))
    nav = [("heatmaps", "S1 x S2"), ("matrix", "policy matrix"), ("scenarios", "scenarios"),
           ("ordering", "reclaim ordering"), ("sources", "sources")]
    if matrix is None:
        nav = [n for n in nav if n[0] != "matrix"]
    names = ", ".join(rp.scenario.name for rp in replays) or "none"
    body = [heatmap_section(cpu)]
    if matrix is not None:
        body.append(matrix_section(matrix, docs_base))
    body.append(scenario_section(replays, docs_base))
    body.append(ordering_section(ordering, docs_base))
    body.append(sources_section(pols, docs_base))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>memattr report: {text(names)}</title><style>{CSS}</style></head><body>"
        f"<header><h1>memattr report</h1><p>Arm64 memory attributes under KVM: what a guest's "
        f"mapping of device memory becomes, per policy and FWB, and what can go wrong.  "
        f"memattr {text(__version__)}; scenarios: {text(names)}.</p></header>"
        "<nav>" + "".join(f'<a href="#{k}">{text(v)}</a>' for k, v in nav) + "</nav>"
        f"<main>{''.join(body)}</main></body></html>\n")

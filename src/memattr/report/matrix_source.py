"""ADAPTER, to be replaced at merge by ``memattr.analysis.matrix.build_matrix().to_json()``.

The policy matrix document the HTML report renders (:func:`memattr.report.html.matrix_section`
takes it as a parameter), produced here from what exists on this branch: every policy of
:mod:`memattr.linux.policy` x FWB off/on x each distinct (device class, mapping source, guest
mapping) found in the bundled scenarios (or those given), x three accesses (an aligned 8-byte
read, an unaligned 8-byte write, an instruction fetch), through
:func:`memattr.analysis.replay.replay` and its hazards (:mod:`memattr.analysis.hazards`).

The document follows the contract the report reads::

    {"dimensions": {...},
     "rows": [{"policy", "device", "source", "guest_mapping", "access", "fwb", "s2",
               "effective", "outcome", "hazards": [ids]}],
     "verdicts": [{"policy", "device", "verdict" ("ok" | "hazard" | "broken"),
                   "hazards": [ids], "why"}],
     "hazards": {id: {"title", "citation", "needs"}}}

Verdicts here: "broken" when a data access the guest's own mapping allows ends in a fault the
host causes (a stage-2 alignment fault, a KVM_RUN error, an injected abort); "hazard" when a
row has a hazard at level 'hazard'; "ok" otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

__all__ = ["ACCESSES", "HAZARD_CITATIONS", "build_matrix_document"]

ACCESSES = (("read", 8, 0, "8-byte read"), ("write", 8, 4, "unaligned 8-byte write"),
            ("exec", 4, 0, "instruction fetch"))
"""The accesses of each row: (op, size, offset, label)."""

HAZARD_CITATIONS = {
    "reclaim": "docs/review.md#reclaim-and-reset-ordering",
    "context switch": "docs/review.md#gicv2-vcpu-interface",
    "error response": "docs/review.md#error-containment",
    "mismatched alias": "docs/review.md#mismatched-aliases",
    "speculation": "docs/review.md#speculation-and-read-side-effects",
    "unaligned": "docs/review.md#unaligned-accesses-and-axi",
    "cacheable MMIO": "docs/review.md#case-8-rejected-alternatives",
}
"""Where docs/review.md discusses each hazard kind of :mod:`memattr.analysis.hazards`."""


def _slug(kind: str) -> str:
    return kind.lower().replace(" ", "-")


def _picked(scenarios: Sequence[Any]) -> list[tuple[Any, list[Any]]]:
    """Per scenario, its guest mappings whose (device kind, source, guest type) is new."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for sc in scenarios:
        mine = []
        for gm in sc.guest_mappings:
            vm = sc.vmm_mapping(gm.target) if gm.target else None
            dev = sc.device(vm.device).kind if vm is not None and vm.device else None
            key = (vm.source if vm is not None else None, dev, gm.api, gm.attr, gm.attr_index)
            if key not in seen:
                seen.add(key)
                mine.append(gm)
        if mine:
            out.append((sc, mine))
    return out


def build_matrix_document(scenarios: Sequence[Any] | None = None,
                          policies: Sequence[str] | None = None) -> dict[str, Any]:
    """The matrix document (see the module docstring).

    :param scenarios: loaded scenarios whose guest mappings make the rows (default: every
        bundled scenario).
    :param policies: policy names (default: every registered policy).
    """
    from ..analysis.replay import replay
    from ..analysis.scenario import AccessSpec, bundled, bundled_path, load
    from ..analysis.trace import is_fault
    from ..linux.policy import policies as all_policies

    scs = list(scenarios) if scenarios is not None else [load(bundled_path(n)) for n in bundled()]
    names = tuple(policies) if policies else tuple(all_policies())
    rows: list[dict[str, Any]] = []
    seen_hazards: dict[str, dict[str, Any]] = {}
    for sc, maps in _picked(scs):
        accs = tuple(AccessSpec(g.name, op, size, off, "ldr")
                     for g in maps for op, size, off, _ in ACCESSES if off + size <= g.size)
        run = replace(sc, guest_mappings=tuple(maps), accesses=accs,
                      cpu=replace(sc.cpu, fwb=(False, True)))
        rp = replay(run, policies=names)
        for r in rp.results:
            e = r.evaluation
            device = e.region.kind.value if e.region is not None else "none (no memslot)"
            vm = sc.vmm_mapping(r.mapping.target) if r.mapping.target else None
            source = vm.source if vm is not None else "none"
            guest = r.mapping.api or (f"attr 0x{r.mapping.attr:02x}" if r.mapping.attr is not None
                                      else f"AttrIndx {r.mapping.attr_index}")
            hz = [h for h in r.hazards if h.level == "hazard"]
            for h in hz:
                entry = seen_hazards.setdefault(_slug(h.kind), {
                    "title": f"{h.kind} ({h.case})", "citation": HAZARD_CITATIONS.get(
                        h.kind, "docs/review.md#concerns"), "where": set()})
                entry["where"].add((r.policy_name, device, r.fwb))
            labels = {(op, size, off): label for op, size, off, label in ACCESSES}
            for a in r.accesses:
                ae = a.evaluation
                eff = ae.effective.short if ae.effective is not None else None
                rows.append({
                    "policy": r.policy_name, "device": device, "source": source,
                    "guest_mapping": guest, "access": labels[(a.spec.op, a.spec.size,
                                                              a.spec.offset)],
                    "fwb": r.fwb, "s2": e.s2_kind, "effective": eff, "outcome": a.outcome,
                    "fault": is_fault(a), "scenario": sc.name,
                    "hazards": sorted({_slug(h.kind) for h in hz}),
                })
    verdicts = _verdicts(rows, names)
    hazards = {k: {"title": v["title"], "citation": v["citation"], "needs": _needs(v["where"], names)}
               for k, v in sorted(seen_hazards.items())}
    devices = list(dict.fromkeys(r["device"] for r in rows))
    return {
        "source": "memattr.report.matrix_source (adapter: replay + hazards of this branch)",
        "dimensions": {"policies": list(names), "devices": devices,
                       "sources": list(dict.fromkeys(r["source"] for r in rows)),
                       "guest_mappings": list(dict.fromkeys(r["guest_mapping"] for r in rows)),
                       "accesses": [label for *_, label in ACCESSES], "fwb": [False, True]},
        "rows": rows,
        "verdicts": verdicts,
        "hazards": hazards,
    }


def _needs(where: set[tuple[str, str, bool]], policies: Sequence[str]) -> str:
    pols = [p for p in policies if any(w[0] == p for w in where)]
    devs = sorted({d for _, d, _ in where})
    fwbs = sorted({f for _, _, f in where})
    fwb = "FWB on or off" if len(fwbs) == 2 else ("FWB on" if fwbs[0] else "FWB off")
    who = "every policy" if len(pols) == len(policies) else "policies " + ", ".join(pols)
    return f"{who}; {', '.join(devs)}; {fwb}"


def _verdicts(rows: list[dict[str, Any]], policies: Sequence[str]) -> list[dict[str, Any]]:
    out = []
    devices = list(dict.fromkeys(r["device"] for r in rows))
    for p in policies:
        for d in devices:
            mine = [r for r in rows if r["policy"] == p and r["device"] == d]
            if not mine:
                continue
            broken = [r for r in mine if r["fault"] and (r["access"] != "instruction fetch"
                                                          or d == "ram")
                      and "stage 1" not in r["outcome"]]
            hz = sorted({h for r in mine for h in r["hazards"]})
            if broken:
                b = broken[0]
                verdict = "broken"
                why = (f"{b['guest_mapping']} over {b['source']}, {b['access']} "
                       f"(FWB {'on' if b['fwb'] else 'off'}): {b['outcome']}")
            elif hz:
                verdict = "hazard"
                why = "hazards: " + ", ".join(hz)
            else:
                verdict, why = "ok", "every access completes or faults in the guest's own stage 1"
            out.append({"policy": p, "device": d, "verdict": verdict, "hazards": hz, "why": why})
    return out

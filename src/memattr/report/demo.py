"""``memattr demo``: the story of the review in a screen, told from a replay of demo.toml.

Every answer and every reason printed here comes from the replay (the Linux model and the arch
core); only the connecting words are fixed.  The story: the same write-combined BAR is
Device-nGnRE up to 6.8 and Normal-NC from 6.9, why, what that means for the guest driver, and
what stays Device (GICV, vfio-platform) and what FWB changes (guest RAM).
"""

from __future__ import annotations

import textwrap
from typing import Any

from ..analysis.compare import Row, compare, groups
from ..analysis.replay import Replay, Result, decision
from ..arch.decision import AslRule
from ..arch.memtype import MemoryAttributes
from ..inputs.escape import escape as _esc  # every input-derived string is escaped (issue 9)
from ..inputs.escape import show_path as _show_path
from ..linux.mm import VM_ALLOW_ANY_UNCACHED
from ..linux.mmap import COMMIT_VFIO_WC_SAFE
from ..linux.policy import COMMITS
from .text import Style, label_of, render_table

__all__ = ["key_row", "story_sentence", "combining", "render_demo", "demo_document"]

_WIDTH = 100


def key_row(rp: Replay) -> Row:
    """The row the story is about: the first guest ioremap_wc mapping of a vfio-pci BAR."""
    cmp = compare(rp)
    sc = rp.scenario
    for gm, row in zip(sc.guest_mappings, cmp.rows, strict=True):
        target = sc.vmm_mapping(gm.target) if gm.target else None
        if gm.api == "ioremap_wc" and target is not None and target.source == "vfio-pci":
            return row
    return cmp.rows[0]


def story_sentence(row: Row) -> str:
    """'Device-nGnRE up to 6.8 and Normal-NC from 6.9' for a row (policies in release order)."""
    parts = []
    gs = groups(row)
    for i, (pols, answer) in enumerate(gs):
        if len(gs) == 1:
            parts.append(f"{answer} under every policy")
        elif i == 0:
            parts.append(f"{answer} up to {pols[-1]}")
        else:
            parts.append(f"{answer} from {pols[0]}")
    return " and ".join(parts)


def combining(r: Result) -> str:
    """Who wins the S1 x S2 combination, and by which rules (their ASL names), from the records."""
    head, rules = _combining(r)
    return f"{head} ({rules})" if rules else head


def _combining(r: Result) -> tuple[str, str]:
    """(who wins, the rules that decided) of one result, rendered from its records."""
    from .explain import deciding

    e = r.evaluation
    res, eff, g = e.resolution, e.effective, e.guest_s1
    if res is None or eff is None:
        return r.cell, ""
    if g is None:
        head = f"{eff.short} (guest MMU off)"
    elif eff.short == g.short:
        head = f"the guest's {g.short} wins"
    else:
        head = f"{eff.short} overrides the guest's {g.short}"
    decided = deciding(res.paths)
    names = [d.rule.value for d in decided]
    fwb_rule = AslRule.AArch64_S2ApplyFWBMemAttrs
    case = next((d for p in res.paths for d in p
                 if d.rule is fwb_rule and not isinstance(d.result, MemoryAttributes)), None)
    if case is not None:
        label = getattr(case.result, "label", "")
        case_bits = getattr(case.result, "case", None)  # FwbMeaning.case: MemAttr[2:0]
        rules = f"{fwb_rule.value} 0b{case_bits:03b} '{label}'" if isinstance(case_bits, int) \
            else fwb_rule.value
        extra = [n for n in dict.fromkeys(names) if n != fwb_rule.value]
        if extra:
            rules += ", then " + ", ".join(extra)
    else:
        rules = "/".join(dict.fromkeys([AslRule.S2CombineS1MemAttrs.value, *names]))
    return head, rules


def _why_group(rp: Replay, name: str, pols: list[str]) -> str:
    """Why a run of policies gives its answer for one mapping: VMA flag, KVM's choice, combining."""
    first = {f: rp.get(name, pols[0], f) for f in rp.fwb}
    r = first[rp.fwb[0]]
    e = r.evaluation
    bits: list[str] = []
    if e.vma is not None:
        has = bool(e.vma.vm_flags & VM_ALLOW_ANY_UNCACHED)
        if has:
            cite = ""
            if e.vma.origin == "vfio_pci_core_mmap":
                c = COMMIT_VFIO_WC_SAFE
                cite = f" (since {c.id}, v{c.release})"
            bits.append(f"{e.vma.origin} sets VM_ALLOW_ANY_UNCACHED on the VMM's VMA{cite}")
        else:
            bits.append(f"the VMM's VMA from {e.vma.origin} has no VM_ALLOW_ANY_UNCACHED")
    if e.leaf is not None:
        cite = ""
        if e.leaf.kind == "NORMAL_NC":
            c = COMMITS["s2-normalnc"]
            cite = f"; since {c.id}, v{c.release}"
        who = "user_mem_abort" if e.vma is not None else "kvm_phys_addr_ioremap"
        bits.append(f"so {who} maps it {e.leaf.kind} at stage 2 (MemAttr "
                    f"0b{e.leaf.memattr:04b}{cite})")
    parts = {f: _combining(res) for f, res in first.items()}
    rules = [f"{combining(res)} {'with' if f else 'without'} FWB" for f, res in first.items()]
    same = len({head for head, _ in parts.values()}) == 1
    if same and len(rules) > 1:
        head = next(iter(parts.values()))[0]
        detail = "; ".join(f"{rule} {'with' if f else 'without'} FWB"
                           for f, (_h, rule) in parts.items())
        bits.append(f"{head} ({detail})")
    else:
        bits.append("; ".join(rules))
    return ", ".join(bits[:-1]) + (", and " if len(bits) > 1 else "") + bits[-1]


def _wrap(text: str, first: str, rest: str) -> list[str]:
    return textwrap.wrap(text, _WIDTH, initial_indent=first, subsequent_indent=rest,
                         break_on_hyphens=False)


def render_demo(rp: Replay, *, color: bool = False) -> str:
    """The demo's text: setup, comparison table, the key answer and why, the other answers."""
    st = Style(color)
    sc = rp.scenario
    cmp = compare(rp)
    row = key_row(rp)
    base = rp.policies[0]
    out = [st("bold", f"memattr demo: a GPU's write-combined BAR in a KVM guest, Linux "
                      f"{', '.join(rp.policies)}")]
    out.append("")
    out += _wrap(_esc(sc.description, newlines=True), "", "")
    out.append("")
    fwb_key = " / ".join("FWB" if f else "no FWB" for f in rp.fwb)
    out.append(f"Effective memory type of guest accesses (* = differs from {base}; "
               f'"a / b" = {fwb_key}):')
    out += render_table(cmp, st)
    out.append("")
    fwb_same = not any(c.fwb_matters for c in row.cells)
    tail = " (with and without FWB)" if fwb_same and len(rp.fwb) > 1 else ""
    out.append(st("bold", f"{_esc(row.mapping)} is {story_sentence(row)}{tail}.") + " Why:")
    gs = groups(row)
    for i, (pols, answer) in enumerate(gs):
        when = ("every policy" if len(gs) == 1 else f"up to {pols[-1]}" if i == 0
                else f"from {pols[0]}")
        out += _wrap(f"{answer}: {_why_group(rp, row.mapping, pols)}.",
                     f"  {when:<11} ", " " * 14)
    accesses = [a for a in sc.accesses if a.mapping == row.mapping]
    for k, acc in enumerate(accesses):
        results = [r for r in rp.results if r.mapping.name == row.mapping]
        unaligned = (results[0].mapping.ipa + acc.offset) % acc.size != 0
        if acc.op == "exec":
            what = "An instruction fetch from it"
        else:
            what = (f"{'An unaligned' if unaligned else 'An aligned'} {acc.size}-byte {acc.op}"
                    + (" (memcpy_toio)" if acc.op == "write" else ""))
        out.append(f"  {what}:")
        seen: dict[str, list[tuple[str, bool]]] = {}
        for r in results:
            text = r.accesses[k].outcome
            bus = [h.detail for h in r.hazards
                   if h.kind == "unaligned" and acc.op != "exec" and h.detail]
            if bus:
                text += f"; {bus[0]}"
            seen.setdefault(text, []).append((r.policy_name, r.fwb))
        for text, keys in seen.items():
            label = label_of(keys, rp.policies, rp.fwb)
            out += _wrap(_esc(text), f"    {'every policy' if label == 'all' else label:<12}  ",
                         " " * 18)
    out.append("")
    out.append("The other answers, and why (the latest policy):")
    last = rp.policies[-1]
    width = max(len(_esc(r.mapping)) for r in cmp.rows)
    for other in cmp.rows:
        if other.mapping == row.mapping:
            continue
        per_fwb = [rp.get(other.mapping, last, f) for f in rp.fwb]
        if len({p.cell for p in per_fwb}) == 1:
            text = f"{per_fwb[0].cell}: {decision(per_fwb[0].evaluation)}; {combining(per_fwb[0])}"
        else:
            text = f"{decision(per_fwb[0].evaluation)}; " + "; ".join(
                f"{'with' if p.fwb else 'without'} FWB {p.cell}: {combining(p)}" for p in per_fwb)
        out += _wrap(_esc(text), f"  {_esc(other.mapping):<{width}}  ", " " * (width + 4))
    open_items = _open_items(rp, row.mapping, last)
    if open_items:
        out.append("")
        out.append(f"What {last} leaves to the platform for {_esc(row.mapping)}:")
        for level, text in open_items:
            out += _wrap(_esc(text), f"  {st(level, level)}: ", "      ")
    out.append("")
    out += _wrap(f"Replay or change it: memattr run {_show_path(sc.path)} [--policy P ...] [--fwb|--no-fwb] "
                 "[--json]; memattr demo --json gives this replay as one JSON document.", "", "")
    return "\n".join(out) + "\n"


def _open_items(rp: Replay, name: str, policy: str) -> list[tuple[str, str]]:
    """The hazards (not 'ok') of the key mapping under a policy, one per kind."""
    out: dict[str, tuple[str, str]] = {}
    for f in rp.fwb:
        for h in rp.get(name, policy, f).hazards:
            if h.level != "ok":
                out.setdefault(h.kind, (h.level, f"{h.kind} ({h.case}): {h.text}"))
    return list(out.values())


def demo_document(rp: Replay) -> dict[str, Any]:
    """The demo as JSON: the replay document plus the story's key answer."""
    from .document import replay_document

    row = key_row(rp)
    doc = replay_document(rp)
    doc["story"] = {
        "mapping": row.mapping,
        "sentence": f"{row.mapping} is {story_sentence(row)}",
        "answers": [{"policies": pols, "answer": ans,
                     "why": _why_group(rp, row.mapping, pols)} for pols, ans in groups(row)],
    }
    return doc

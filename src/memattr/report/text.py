"""Plain-text rendering of a scenario replay: the policy-comparison table, then per mapping the
stage-1 / stage-2 / effective chain with its reason, the accesses, hazards and events.

Readable without colour: a cell that differs from the baseline policy is marked ``*``; with
``color=True`` it is also bold yellow, and hazard levels are coloured (ANSI escapes, no library).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from ..analysis.compare import Comparison, compare
from ..analysis.replay import Replay, Result
from ..arch.memtype import MemoryAttributes
from ..arch.properties import type_properties
from ..inputs.escape import escape as _esc  # every input-derived string is escaped (issue 9)
from ..inputs.escape import show_path as _show_path
from ..linux.events import EventKind
from .kernel import kernel_why, seen

__all__ = ["Style", "render_table", "render_replay", "label_of", "grouped", "type_legend", "why", "run_why"]

T = TypeVar("T")

_ANSI = {"bold": "1", "diff": "1;33", "ok": "32", "note": "36", "unknown": "33", "hazard": "1;31",
         "dim": "2"}


class Style:
    """Optional ANSI colour; without it every method returns its text unchanged."""

    def __init__(self, color: bool = False) -> None:
        self.color = color

    def __call__(self, what: str, text: str) -> str:
        if not self.color or what not in _ANSI or not text:
            return text
        return f"\x1b[{_ANSI[what]}m{text}\x1b[0m"


def _pad(text: str, width: int, styled: str) -> str:
    """Left-align ``styled`` (which shows as ``text``) in ``width`` columns."""
    return styled + " " * max(width - len(text), 0)


def render_table(cmp: Comparison, style: Style | None = None, *, indent: str = "  ") -> list[str]:
    """The comparison table: guest mapping, guest S1, VMM S1, then one column per policy."""
    st = style or Style()
    head = ["guest mapping", "guest S1", "VMM S1"] + list(cmp.policies)
    rows: list[list[tuple[str, str]]] = []
    for r in cmp.rows:
        name = _esc(r.mapping)
        cells = [(name, name), (r.asks, r.asks), (r.vmm, r.vmm)]
        for c in r.cells:
            text = ("*" if c.differs else " ") + c.text
            cells.append((text, st("diff", text) if c.differs else text))
        rows.append(cells)
    widths = [max([len(h)] + [len(row[i][0]) for row in rows]) for i, h in enumerate(head)]
    out = [indent + "  ".join(_pad(h, w, st("bold", h)) for h, w in zip(head, widths, strict=True))
           .rstrip()]
    out.append(indent + "  ".join("-" * w for w in widths))
    for row in rows:
        out.append(indent + "  ".join(_pad(t, w, s) for (t, s), w in zip(row, widths, strict=True))
                   .rstrip())
    return out


def label_of(keys: Sequence[tuple[str, bool]], policies: Sequence[str],
             fwbs: Sequence[bool]) -> str:
    """'all', '6.9, 6.17', 'FWB', 'no FWB' or '6.8 (FWB)' for a set of (policy, fwb) keys."""
    chosen = set(keys)
    per: dict[str, tuple[bool, ...]] = {}
    for p in policies:
        have = tuple(f for f in fwbs if (p, f) in chosen)
        if have:
            per[p] = have
    if not per:
        return "none"
    fwb_sets = set(per.values())
    if len(per) == len(policies) and len(fwb_sets) == 1:
        only = next(iter(fwb_sets))
        return "all" if len(only) == len(fwbs) else ("FWB" if only[0] else "no FWB")
    parts = []
    for p, have in per.items():
        parts.append(p if len(have) == len(fwbs) else f"{p} ({'FWB' if have[0] else 'no FWB'})")
    return ", ".join(parts)


def grouped(results: Iterable[Result], key: Callable[[Result], T]) -> list[tuple[T, list[Result]]]:
    """Results grouped by ``key``, groups in first-seen order."""
    out: dict[T, list[Result]] = {}
    for r in results:
        out.setdefault(key(r), []).append(r)
    return list(out.items())


def why(r: Result) -> str:
    """Why a result is its answer: the replay's reason, then the rule that decided the type
    (rendered from the resolution's records)."""
    from .explain import decided_text

    res = r.evaluation.resolution
    rule = decided_text(res.paths) if res is not None and r.evaluation.effective is not None \
        else ""
    return "; ".join(p for p in (r.reason, rule) if p)


def _chain(r: Result) -> str:
    e = r.evaluation
    vmm = e.vmm_s1.short if e.vmm_s1 is not None else "no VMA"
    if e.leaf is not None:
        s2 = (f"stage-2 mapping created, {e.leaf.shape}, MemAttr 0b{e.leaf.memattr:04b} "
              f"{e.leaf.kind} (descriptor 0x{e.leaf.descriptor:016x})")
    else:
        s2 = "no stage-2 mapping"
    return f"VMM {vmm}; {s2} -> {r.cell}"


def run_why(r: Result) -> str:
    """The 'why' of a result, rendered from its records: the kernel's decisions (report.kernel),
    the stage-2 MemAttr, and the combining rule."""
    e = r.evaluation
    parts = [kernel_why(e.decisions)]
    if e.leaf is not None and e.effective is not None:
        parts.append(f"S2 MemAttr 0b{e.leaf.memattr:04b}" + (" (FWB)" if e.host.fwb else ""))
        if e.resolution is not None:
            from .explain import decided_text

            parts.append(decided_text(e.resolution.paths))
    return "; ".join(p for p in parts if p) or r.reason


def _events(r: Result) -> str:
    keep = (EventKind.ERROR, EventKind.RUN_FAILED, EventKind.MEMSLOT_REJECTED,
            EventKind.MMIO_EXIT, EventKind.NISV_EXIT, EventKind.PREFETCH_ABORT_INJECTED,
            EventKind.DATA_ABORT_INJECTED, EventKind.SERROR_INJECTED, EventKind.HOST_PANIC,
            EventKind.KERNEL_LOG, EventKind.STAGE2_UNMAPPED, EventKind.VMA_ZAPPED,
            EventKind.ERROR_RESPONSE)
    return "; ".join(str(e) for e in r.evaluation.events if e.kind in keep)


def type_legend(types: Iterable[MemoryAttributes], *, indent: str = "  ") -> list[str]:
    """One line per distinct effective type: what it permits (arch.properties)."""
    names = ("gathering", "reordering", "early write acknowledgement", "speculative reads",
             "unaligned data access", "cacheable")
    short = {"early write acknowledgement": "early ack", "unaligned data access": "unaligned",
             "speculative reads": "speculation"}
    seen: dict[str, MemoryAttributes] = {}
    for t in types:
        seen.setdefault(t.short, t)
    out = []
    for name, attrs in seen.items():
        props = type_properties(attrs)
        bits = [f"{short.get(n, n)} {props[n].value}" for n in names]
        out.append(f"{indent}{name}: " + ", ".join(bits))
    return out


def _capabilities(rp: Replay) -> str:
    """KVM_CHECK_EXTENSION as a VMM reads it, per policy: each capability the model knows, on the
    VM fd and on /dev/kvm where the two differ (a failing ioctl as its -errno)."""
    out = []
    for pol in rp.policies:
        for f in rp.fwb:
            caps = rp.get(rp.rows()[0], pol, f).evaluation.capabilities if rp.rows() else {}
            parts = []
            for name, v in caps.items():
                short = name.removeprefix("KVM_CAP_ARM_")
                text = f"{short}={_cap_value(v['vm_fd'])}"
                if v["dev_kvm"] != v["vm_fd"]:
                    text += f" (/dev/kvm {_cap_value(v['dev_kvm'])})"
                parts.append(text)
            if parts:
                out.append(((pol, f), " ".join(parts)))
    if not out:
        return ""
    texts: dict[str, list[tuple[str, bool]]] = {}
    for key, text in out:
        texts.setdefault(text, []).append(key)
    return "KVM_CHECK_EXTENSION: " + "; ".join(
        f"{text} [{label_of(keys, rp.policies, rp.fwb)}]" for text, keys in texts.items())


def _cap_value(v: int) -> str:
    """An ioctl's value: a number, or the errno name of a failure (-EINVAL)."""
    if v >= 0:
        return str(v)
    import errno

    return "-" + errno.errorcode.get(-v, str(-v))


def _seen_of(i: int) -> Callable[[Result], str]:
    def key(r: Result) -> str:
        return seen(r.accesses[i].evaluation)

    return key


def _outcome_of(i: int) -> Callable[[Result], str]:
    def key(r: Result) -> str:
        return r.accesses[i].outcome

    return key


def render_replay(rp: Replay, *, color: bool = False, details: bool = True) -> str:
    """The text report of ``memattr run``."""
    st = Style(color)
    sc = rp.scenario
    cmp = compare(rp)
    fwb_txt = ", ".join("on" if f else "off" for f in rp.fwb)
    lines = [st("bold", f"scenario {_esc(sc.name)}") + f" ({_show_path(sc.path)})"]
    if sc.description:
        lines += textwrap.wrap(_esc(sc.description, newlines=True), 100, initial_indent="  ",
                               subsequent_indent="  ")
    lines.append(f"policies: {', '.join(rp.policies)} (baseline {rp.policies[0]});  FWB: {fwb_txt};"
                 f"  CTR_EL0.DIC={int(sc.cpu.dic)} MTE={int(sc.cpu.mte)} XS={int(sc.cpu.xs)}"
                 + (" HCR_EL2.CD=1" if sc.cpu.hcr_cd else "") + f"  kernel {sc.bits}-bit")
    caps = _capabilities(rp)
    if caps:
        lines.append(caps)
    lines.append("")
    key = f'* differs from {rp.policies[0]}' if len(rp.policies) > 1 else ""
    if len(rp.fwb) > 1:
        order = " / ".join("FWB" if f else "no FWB" for f in rp.fwb)
        key += ('; ' if key else '') + f'"a / b" = {order}'
    lines.append("Effective memory type" + (f" ({key})" if key else "") + ":")
    lines += render_table(cmp, st)
    if not details:
        return "\n".join(lines) + "\n"
    for name in rp.rows():
        results = [r for r in rp.results if r.mapping.name == name]
        first = results[0]
        g = first.evaluation.guest
        lines.append("")
        lines.append(st("bold", _esc(name)) + f"  [IPA 0x{first.mapping.ipa:x}, "
                     f"{_esc(first.backing)}]")
        gs1 = first.evaluation.guest_s1
        lines.append(f"  guest S1: {_esc(g.label)}: {gs1.short if gs1 is not None else 'none'}")
        for chain, group in grouped(results, _chain):
            label = label_of([(r.policy_name, r.fwb) for r in group], rp.policies, rp.fwb)
            lines.append(f"  {label}: {chain}")
            for text, sub in grouped(group, run_why):
                sub_label = label_of([(r.policy_name, r.fwb) for r in sub], rp.policies, rp.fwb)
                prefix = "why" if sub_label == label else f"why, {sub_label}"
                lines.append(f"      {prefix}: {_esc(text)}")
        for i, acc in enumerate(a for a in sc.accesses if a.mapping == name):
            what = (f"{acc.size}-byte {acc.op} at +0x{acc.offset:x}"
                    + ("" if (first.mapping.ipa + acc.offset) % acc.size == 0 else " (unaligned)"))
            lines.append(f"  access: {what}")
            for outcome, group in grouped(results, _outcome_of(i)):
                label = label_of([(r.policy_name, r.fwb) for r in group], rp.policies, rp.fwb)
                lines.append(f"    {label}: {_esc(outcome)}")
                for view, sub in grouped(group, _seen_of(i)):
                    if view:
                        sl = label_of([(r.policy_name, r.fwb) for r in sub], rp.policies, rp.fwb)
                        tag = "" if sl == label else f" [{sl}]"
                        lines.append(f"      seen{tag}: {_esc(view)}")
        hz: dict[str, list[tuple[str, bool]]] = {}
        level: dict[str, str] = {}
        for r in results:
            for h in r.hazards:
                text = f"{h.kind} ({h.case}): {h.text}"
                hz.setdefault(text, []).append((r.policy_name, r.fwb))
                level[text] = h.level
        for text, keys in hz.items():
            label = label_of(keys, rp.policies, rp.fwb)
            where = "" if label == "all" else f" [{label}]"
            lines.append(f"  {st(level[text], level[text])}: {_esc(text)}{where}")
        for ev, group in grouped(results, _events):
            if ev:
                label = label_of([(r.policy_name, r.fwb) for r in group], rp.policies, rp.fwb)
                # The mapping's own evaluation is the model's first touch (a 4-byte read that
                # faults the mapping in), not one of the scenario's [[access]] entries.
                what = "the VM's set-up" if group[0].evaluation.setup_failed is not None \
                    else "the model's first-touch 4-byte read"
                lines.append(f"  events of {what} [{label}]: {_esc(ev)}")
    types = [r.evaluation.effective for r in rp.results if r.evaluation.effective is not None]
    if types:
        lines.append("")
        lines.append("What each effective type permits (arch.properties):")
        lines += type_legend(types)
    return "\n".join(lines) + "\n"

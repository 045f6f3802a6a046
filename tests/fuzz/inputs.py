"""Hypothesis strategies for hostile input: scenario files, walk files, log lines, argument vectors.

Each file strategy builds a TOML document as data -- mostly a valid one, laid out so that the
replay really runs, with values sometimes replaced by edge cases (0, -1, 2**52, 2**64, huge,
wrong types, control characters, very long strings) -- renders it as TOML text, and sometimes
mutates the text (lines deleted, duplicated or swapped, junk inserted, cut short).  Argument
vectors are drawn from the real argparse parsers, so a new command or option is fuzzed without
touching this file.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

__all__ = [
    "toml_text",
    "hostile_values",
    "hostile_strings",
    "scenario_docs",
    "scenario_texts",
    "walk_docs",
    "walk_texts",
    "policy_docs",
    "policy_texts",
    "log_lines",
    "argvs",
    "mutated",
]

# --- TOML rendering -----------------------------------------------------------------------------


def _string(text: str) -> str:
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")  # not representable in TOML
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else _string(key)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _is_aot(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def toml_text(doc: dict[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """``doc`` as TOML: scalars and inline values first, then [tables] and [[arrays]]."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in doc.items()
             if not isinstance(v, dict) and not _is_aot(v)]
    for k, v in doc.items():
        name = ".".join(_key(p) for p in prefix + (k,))
        if isinstance(v, dict):
            lines.append(f"\n[{name}]")
            lines.append(toml_text(v, prefix + (k,)))
        elif _is_aot(v):
            for element in v:
                lines.append(f"\n[[{name}]]")
                lines.append(toml_text(element, prefix + (k,)))
    return "\n".join(line for line in lines if line != "")


# --- values ---------------------------------------------------------------------------------------

hostile_strings = st.one_of(
    st.sampled_from(["", "\x1b[2J", "\x1b]0;pwned\x07", "\x9b31m", "\u202egnp", "a\nb", "\x00",
                     "x" * 5000, "ioremap_wc ", "NSH", "0x", "4X", "-1", "1e400", "🙂", "\udcff"]),
    st.text(max_size=12),
)

hostile_values = st.one_of(
    st.sampled_from([0, -1, 1, 7, 16, 4095, 1 << 32, (1 << 52) - 1, 1 << 52, (1 << 63) - 1, 1 << 63,
                     (1 << 64) - 1, 1 << 64, 1 << 100, -(1 << 63), 10**400]),
    st.integers(),
    st.booleans(),
    hostile_strings,
    st.floats(),
    st.lists(st.integers(-2, 70), max_size=3),
    st.just({}),
    st.just({"a": 1}),
)


def _v(good: st.SearchStrategy[Any], bad_weight: int = 1) -> st.SearchStrategy[Any]:
    """Mostly ``good``; 1 in 60 (by default) a hostile value, so that about half the documents
    carry one (a document has some thirty values) and the other half replay."""
    # (a band in the middle: Hypothesis favours the ends of an integer range)
    return st.integers(0, 59).flatmap(
        lambda n: hostile_values if 20 <= n < 20 + bad_weight else good)


_SIZES = st.sampled_from([0x1000, 0x4000, 0x10000, 0x100000, 1 << 21, 1 << 24, 1 << 30])
_SIZE_TEXT = st.sampled_from(["4K", "64K", "1M", "2 MiB", "16M", "1G", "4KiB", "0x1000", "64G"])
_SIZE = st.one_of(_SIZES, _SIZE_TEXT)
def _registry() -> list[str]:
    from memattr.analysis.scenario import policy_names

    return list(policy_names())


def _declared() -> tuple[dict[str, str | None], list[str], list[str], list[str]]:
    from memattr.analysis import scenario as sc

    return ({s.name: s.device for s in sc.SOURCE_KINDS}, list(sc.INSTR_CLASSES),
            list(sc.EVENT_KINDS), list(sc.POLICY_PROTS))


# the policy registry's names and releases back to (and below) the oldest modelled, 5.5
_POLICIES = _registry() + ["6.12", "5.5", "5.10", "6.1", "5.4"]
_SOURCE_DEVICE, _INSTRS, _EVENT_KINDS, _PROTS = _declared()
_SOURCES = list(_SOURCE_DEVICE)
_APIS = ["ioremap", "ioremap_np", "ioremap_wc", "ioremap_cache", "memremap_wb", "memremap_wc",
         "resource_wc", "mmu_off"]


def _maybe(d: dict[str, Any], key: str, draw: Any, strategy: st.SearchStrategy[Any],
           p: int = 5) -> None:
    """Set ``d[key]`` from ``strategy`` with probability p/10."""
    if draw(st.integers(0, 9)) < p:
        d[key] = draw(strategy)


# --- scenario files -------------------------------------------------------------------------------


@st.composite
def scenario_docs(draw: Any) -> dict[str, Any]:
    """A scenario as TOML data: devices at distinct aligned addresses, mappings, memslots, guest
    mappings and accesses that refer to each other, with values now and then made hostile."""
    doc: dict[str, Any] = {}
    _maybe(doc, "name", draw, _v(st.text(max_size=10), 3), 3)
    _maybe(doc, "description", draw, _v(st.text(max_size=30), 3), 3)
    pols = st.lists(st.sampled_from(_POLICIES + ["6.99x"]), min_size=1, max_size=3)
    if draw(st.booleans()):
        doc["policies"] = draw(_v(pols))
    else:
        doc["policy"] = draw(_v(st.sampled_from(_POLICIES)))
    cpu: dict[str, Any] = {}
    _maybe(cpu, "fwb", draw, _v(st.one_of(st.booleans(), st.just([False, True]))), 5)
    for key in ("dic", "mte", "xs", "hcr_cd"):
        _maybe(cpu, key, draw, _v(st.booleans()), 2)
    _maybe(cpu, "name", draw, _v(st.just("all"), 6), 2)
    _maybe(cpu, "atomics_uncached", draw, _v(st.booleans()), 1)
    if cpu:
        doc["cpu"] = cpu
    if draw(st.integers(0, 9)) < 3:
        host: dict[str, Any] = {}
        _maybe(host, "bits", draw, _v(st.sampled_from([64, 64, 32])), 5)
        _maybe(host, "page_size", draw, _v(st.sampled_from([4096, "16K", 65536, 8192])), 3)
        for key in ("apei", "ras", "pkvm", "lpa2"):
            _maybe(host, key, draw, _v(st.booleans()), 2)
        _maybe(host, "ipa_limit", draw, _v(st.sampled_from([40, 44, 48, 52])), 2)
        doc["host"] = host
    if draw(st.integers(0, 9)) < 2:
        vm: dict[str, Any] = {}
        _maybe(vm, "ipa_bits", draw, _v(st.sampled_from([32, 40, 42, 44, 48, 52])), 6)
        _maybe(vm, "nisv_to_user", draw, _v(st.booleans()), 4)
        _maybe(vm, "mte", draw, _v(st.booleans()), 2)
        doc["vm"] = vm
    if draw(st.integers(0, 9)) == 0:
        custom = [{"name": draw(_v(st.sampled_from(["what-if", "6.9", "w2"]))),
                   "base": draw(_v(st.sampled_from(["v3", "v4", "v7", "6.9", "what-if", "5.4"]))),
                   "prot": draw(_v(st.sampled_from(_PROTS + ["WB"])))}
                  for _ in range(draw(st.integers(1, 2)))]
        doc.pop("policy", None)
        doc["policy"] = custom
        if draw(st.booleans()):
            doc["policies"] = draw(_v(st.lists(st.sampled_from(["6.8", "what-if", "w2"]),
                                               min_size=1, max_size=2)))
        else:
            doc.pop("policies", None)
    if draw(st.integers(0, 9)) < 3:
        pcie: dict[str, Any] = {}
        _maybe(pcie, "aer", draw, _v(st.booleans()))
        _maybe(pcie, "containment", draw, _v(st.sampled_from(["contained", "uncontained"])))
        _maybe(pcie, "windows", draw, _v(st.just([{"base": 0x80_0000_0000, "size": "1T"}])), 3)
        doc["pcie"] = pcie
    if draw(st.booleans()):
        doc["ram"] = [{"base": draw(_v(st.just(0x8000_0000))), "size": draw(_v(st.just("2G")))}]
    devices: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 3))):
        kind = draw(_v(st.sampled_from(["pcie", "platform", "gicv2", "nvgrace-gpu"])))
        base = 0x80_0000_0000 + i * 0x10_0000_0000
        dev: dict[str, Any] = {"name": draw(_v(st.just(f"d{i}"), 3)), "kind": kind}
        if kind == "pcie":
            bars = []
            for j in range(draw(st.integers(0, 2))):
                size = draw(_SIZES)
                bar: dict[str, Any] = {"base": draw(_v(st.just(base + j * 0x1_0000_0000))),
                                       "size": draw(_v(st.just(size)))}
                _maybe(bar, "index", draw, _v(st.just(j * 2)), 5)
                _maybe(bar, "prefetchable", draw, _v(st.booleans()), 2)
                _maybe(bar, "read_side_effects", draw, _v(st.lists(st.integers(0, 4), max_size=2)),
                       2)
                bars.append(bar)
            if bars:
                dev["bar"] = bars
            if draw(st.integers(0, 9)) < 2:
                dev["num_vfs"] = draw(_v(st.integers(1, 8), 3))
                dev["vf_bar"] = [{"index": 0, "base": base + 0x8_0000_0000, "size": "64K"}]
            _maybe(dev, "bdf", draw, _v(st.just(f"{i + 1:02x}:00.0")), 2)
        elif kind in ("platform", "gicv2"):
            dev["base"] = draw(_v(st.just(base)))
            _maybe(dev, "size", draw, _v(_SIZE), 8 if kind == "platform" else 3)
            if kind == "platform":
                _maybe(dev, "unaligned", draw, _v(st.sampled_from(["unknown", "ok", "error"])), 3)
                _maybe(dev, "response", draw, _v(st.sampled_from(["SLVERR", "DECERR"])), 2)
        elif kind == "nvgrace-gpu":
            dev.update(usemem_base=draw(_v(st.just(base))), usemem_size="1G",
                       resmem_base=base + 0x1_0000_0000, resmem_size=draw(_v(st.just("1G"))))
        devices.append(dev)
    if devices:
        doc["device"] = devices
    kinds: dict[str, list[str]] = {}
    for d in devices:
        if isinstance(d.get("name"), str) and isinstance(d.get("kind"), str):
            kinds.setdefault(d["kind"], []).append(d["name"])
    usable = [s for s in _SOURCES if _SOURCE_DEVICE[s] is None or _SOURCE_DEVICE[s] in kinds]
    mappings: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 4))):
        src = draw(_v(st.sampled_from(usable)))
        names = kinds.get(_SOURCE_DEVICE.get(src) or "", []) if isinstance(src, str) else []
        m: dict[str, Any] = {"name": f"m{i}", "source": src}
        if src in ("dev-mem", "anon", "hugetlb", "pfnmap"):
            m["size"] = draw(_v(_SIZE))
            if src in ("dev-mem", "pfnmap") or draw(st.booleans()):
                m["phys"] = draw(_v(st.sampled_from([0x8000_0000, 0x80_0000_0000])))
            if src == "hugetlb":
                _maybe(m, "page_size", draw, _v(st.sampled_from(["2M", "1G", "64K"])), 3)
            if src == "anon":
                _maybe(m, "thp", draw, _v(st.booleans()), 3)
            if src == "pfnmap":
                _maybe(m, "pgprot", draw, _v(st.sampled_from(["writecombine", "device",
                                                              "noncached", "cached"])), 5)
                _maybe(m, "mixedmap", draw, _v(st.booleans()), 2)
        elif names or draw(st.integers(0, 9)) == 0:
            m["device"] = draw(_v(st.sampled_from(names or ["ghost"])))
            if src == "gicv":
                m["ipa"] = draw(_v(st.just(0x801_0000)))
            keys: list[tuple[str, st.SearchStrategy[Any]]] = [
                ("offset", st.sampled_from([0, 0x1000])), ("size", _SIZE)]
            if src in ("vfio-pci", "sysfs-resource", "sysfs-resource-wc"):
                keys.append(("bar", st.integers(0, 2)))
            if src == "vfio-pci":
                keys.append(("vf", st.integers(0, 2)))
            for key, strat in keys if src != "gicv" else []:
                _maybe(m, key, draw, _v(strat), 2)
        _maybe(m, "allow_any_uncached", draw, _v(st.booleans()), 1)
        if src != "gicv":
            _maybe(m, "hva_align", draw, _v(st.sampled_from(["4K", "64K", "2M", "1G"])), 2)
        mappings.append(m)
    if mappings:
        doc["vmm_mapping"] = mappings
    slots = []
    for i, m in enumerate(mappings):
        if m["source"] != "gicv" and draw(st.integers(0, 9)) < 8:
            slot: dict[str, Any] = {"mapping": draw(_v(st.just(m["name"]))),
                                    "ipa": draw(_v(st.just(0x10_0000_0000 + i * 0x1_0000_0000)))}
            _maybe(slot, "size", draw, _v(_SIZE), 2)
            _maybe(slot, "offset", draw, _v(st.sampled_from([0, 0x1000])), 2)
            _maybe(slot, "readonly", draw, _v(st.booleans()), 1)
            slots.append(slot)
    if slots:
        doc["memslot"] = slots
    mair = draw(st.integers(0, 9)) < 5
    if mair:
        doc["guest"] = {"mair_el1": draw(_v(st.sampled_from([0x0000_0000_0044_04FF, 0xF0])))}
    gmaps = []
    for i in range(draw(st.integers(0, 3))):
        g: dict[str, Any] = {"name": draw(_v(st.just(f"g{i}"), 3))}
        how = draw(st.sampled_from(["api"] * 6 + ["attr", "attr"] + ["attr_index"] * mair
                                   + ["none", "two"]))
        if how in ("api", "two"):
            g["api"] = draw(_v(st.sampled_from(_APIS)))
        if how in ("attr", "two"):
            g["attr"] = draw(_v(st.sampled_from([0x44, 0x04, 0xFF, 0x00, 0xF0])))
        if how == "attr_index":
            g["attr_index"] = draw(_v(st.integers(0, 7)))
        if mappings and draw(st.integers(0, 9)) < 7:
            g["target"] = draw(_v(st.sampled_from([m["name"] for m in mappings])))
            _maybe(g, "offset", draw, _v(st.sampled_from([0, 0x1000, 0x10000])), 3)
        else:
            g["ipa"] = draw(_v(st.sampled_from([0x10_0000_0000, 0x4000_0000, 0x900_0000])))
        _maybe(g, "size", draw, _v(_SIZE), 2)
        _maybe(g, "sh", draw, _v(st.sampled_from(["NSH", "ISH", "OSH", 1])), 1)
        gmaps.append(g)
    if gmaps:
        doc["guest_mapping"] = gmaps
    accesses = []
    for _ in range(draw(st.integers(0, 3))):
        if not gmaps:
            break
        a: dict[str, Any] = {"mapping": draw(_v(st.sampled_from([g["name"] for g in gmaps])))}
        _maybe(a, "op", draw, _v(st.sampled_from(["read", "write", "exec"])), 6)
        _maybe(a, "size", draw, _v(st.sampled_from([1, 2, 4, 8, 16, 64])), 5)
        _maybe(a, "offset", draw, _v(st.sampled_from([0, 1, 4, 0xFF8])), 5)
        _maybe(a, "instr", draw, _v(st.sampled_from(_INSTRS)), 2)
        _maybe(a, "bus_error", draw, _v(st.booleans()), 1)
        accesses.append(a)
    if accesses:
        doc["access"] = accesses
    events = []
    for _ in range(draw(st.integers(0, 2)) if accesses and draw(st.integers(0, 4)) == 0 else 0):
        e: dict[str, Any] = {"mapping": draw(_v(st.sampled_from([g["name"] for g in gmaps]))),
                             "before": draw(_v(st.integers(0, 2))),
                             "kind": draw(_v(st.sampled_from(_EVENT_KINDS)))}
        if e["kind"] == "replace-vma" or draw(st.integers(0, 9)) == 0:
            e["source"] = draw(_v(st.sampled_from([m["name"] for m in mappings] or ["none"])))
        events.append(e)
    if events:
        doc["event"] = events
    return doc


_JUNK = st.sampled_from(["[", "]", "]]", "{", "}", "=", '"', "'", "\\", ",", ".", "#", "\n",
                         "[[device]]\n", "[cpu]\n", "a.b.c = 1\n", " = 1", "0x", "\x1b[2J",
                         "\u202e", "\x00", "\t", "\r", "[" * 40, "]" * 40, "a" + ".a" * 40 + " = 1",
                         '"""', "'''", "inf", "nan", "1979-05-27", "\ufeff"])


@st.composite
def mutated(draw: Any, texts: st.SearchStrategy[str]) -> str:
    """A text from ``texts`` with up to three edits: almost valid TOML."""
    text = draw(texts)
    for _ in range(draw(st.integers(0, 3))):
        lines = text.split("\n")
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "junk", "cut", "replace"]))
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        j = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "delete" and lines:
            del lines[i]
        elif op == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif op == "swap" and lines:
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "cut":
            text = text[: draw(st.integers(0, len(text)))]
            continue
        elif op == "replace" and lines:
            line = lines[i]
            k = draw(st.integers(0, len(line)))
            lines[i] = line[:k] + draw(_JUNK) + line[k + 1:]
        else:
            k = draw(st.integers(0, len(text)))
            text = text[:k] + draw(_JUNK) + text[k:]
            continue
        text = "\n".join(lines)
    return text


scenario_texts = st.integers(0, 9).flatmap(
    lambda n: mutated(scenario_docs().map(toml_text)) if n < 3 else scenario_docs().map(toml_text))
"""Scenario files: 7 in 10 rendered as generated, 3 in 10 then mutated."""


# --- walk files -----------------------------------------------------------------------------------


_REGISTER_VALUES = {
    "TCR_EL1": [0x12B5103510, 0x35103510, 0, (1 << 64) - 1],
    "TTBR0_EL1": [0x100000, 0x4000_0000, 0x1],
    "TTBR1_EL1": [0, 0x200000],
    "MAIR_EL1": [0x000000040044F0FF, 0xFF, 0, 0x08],
    "SCTLR_EL1": [0x1005, 0, 1],
    "HCR_EL2": [0x80000001, 0, 0x4080000001, 1 << 46],
    "VTCR_EL2": [0x800D3558, 0x80000000, 0x80023F40],
    "VTTBR_EL2": [0x1008000200000, 0x100000, 0],
}


@st.composite
def _raw_walk_doc(draw: Any) -> dict[str, Any]:
    """The raw form: register values and memory as a machine holds them."""
    doc: dict[str, Any] = {}
    regs = {}
    for name, values in _REGISTER_VALUES.items():
        if draw(st.integers(0, 9)) < 5:
            regs[name] = draw(_v(st.sampled_from(values)))
    if draw(st.integers(0, 19)) == 0:
        regs[draw(st.sampled_from(["tcr_el1", "TCR_EL2", "\x1b[2J"]))] = 1
    if regs or draw(st.booleans()):
        doc["registers"] = regs
    memory = []
    for pa in (0x100000, 0x101000, 0x102000, 0x103000):
        if draw(st.integers(0, 9)) < 6:
            m: dict[str, Any] = {"pa": draw(_v(st.just(pa)))}
            if draw(st.booleans()):
                m["values"] = draw(_v(st.lists(st.sampled_from(
                    [pa + 0x1003, 0x90000703, 0x100003, 0, (1 << 64) - 1]), min_size=1,
                    max_size=4)))
            else:
                m["value"] = draw(_v(st.sampled_from([pa + 0x1003, 0x90000703, 0x100003])))
            memory.append(m)
    if memory:
        doc["memory"] = memory
    if draw(st.integers(0, 9)) < 2:
        doc["image"] = [{"file": draw(_v(st.sampled_from(["w.toml", "a.toml", "nope.bin", "/dev/zero",
                                                          ".", ""]), 3)),
                         "base": draw(_v(st.sampled_from([0, 0x200000, 1 << 52])))}]
    return doc


@st.composite
def walk_docs(draw: Any) -> dict[str, Any]:
    """A walk file as TOML data: the shipped example's shape (tables memattr lays out), or the
    raw form (registers and memory), values now and then hostile; 1 in 20 mixes the two."""
    if draw(st.integers(0, 9)) < 3:
        doc = draw(_raw_walk_doc())
        if draw(st.integers(0, 19)) == 0:
            doc["stage1"] = {}
        _walk_accesses(draw, doc)
        return doc
    doc = {}
    _maybe(doc, "cpu", draw, _v(st.sampled_from(["all", "neoverse-n1", "qemu-9.2-max", "nope"])), 1)
    two_stage = draw(st.integers(0, 9)) < 7
    if two_stage:
        st2: dict[str, Any] = {}
        _maybe(st2, "granule", draw, _v(st.sampled_from(["4k", "16k", "64k", "8k"])), 4)
        _maybe(st2, "ipa_bits", draw, _v(st.sampled_from([32, 36, 40, 44, 48])), 5)
        _maybe(st2, "ps_bits", draw, _v(st.sampled_from([40, 44, 48, 52])), 4)
        _maybe(st2, "start_level", draw, _v(st.integers(-1, 3)), 1)
        _maybe(st2, "fwb", draw, _v(st.booleans()), 3)
        _maybe(st2, "vmid", draw, _v(st.integers(0, 3)), 2)
        _maybe(st2, "xnx", draw, _v(st.booleans()), 1)
        _maybe(st2, "table_base", draw, _v(st.sampled_from([0x8000_0000, 0x2_0000_0000])), 1)
        doc["stage2"] = st2
        s2 = []
        for ipa, pa, size in ((0x4000_0000, 0x1_0000_0000, "1G"),
                              (0x80_0000_0000, 0x80_0000_0000, "64k"),
                              (0x10_0000_0000, 0, "32G")):
            if draw(st.integers(0, 9)) < 8:
                huge = draw(st.integers(0, 39)) == 0  # beyond the table-memory bound
                m: dict[str, Any] = {"ipa": ipa, "size": draw(_v(st.just("4T" if huge else size))),
                                     "pa": draw(_v(st.just(pa + 0x1000 if huge else pa)))}
                if draw(st.booleans()):
                    m["type"] = draw(_v(st.sampled_from(["NORMAL", "NORMAL_NC", "DEVICE_nGnRE"])))
                else:
                    m["memattr"] = draw(_v(st.sampled_from([0xF, 0x5, 0x1, 0x0])))
                _maybe(m, "s2ap", draw, _v(st.sampled_from(["rw", "r", "w", "none"])), 3)
                _maybe(m, "xn", draw, _v(st.one_of(st.booleans(), st.integers(0, 3))), 2)
                _maybe(m, "sh", draw, _v(st.sampled_from(["ISH", "OSH", "NSH"])), 1)
                _maybe(m, "max_leaf", draw, _v(st.sampled_from(["4k", "2M"])), 1)
                s2.append(m)
        if s2:
            doc["s2"] = s2
    st1: dict[str, Any] = {}
    _maybe(st1, "granule", draw, _v(st.sampled_from(["4k", "16k", "64k"])), 3)
    _maybe(st1, "va_bits", draw, _v(st.sampled_from([39, 48, 52])), 3)
    _maybe(st1, "ips_bits", draw, _v(st.sampled_from([40, 48])), 3)
    if two_stage:
        st1["table_pool"] = draw(_v(st.just(0x4000_0000)))
        _maybe(st1, "pool_size", draw, _v(st.sampled_from(["1M", "64K"])), 3)
    else:
        _maybe(st1, "table_pool", draw, _v(st.just(0x1000_0000)), 2)
    _maybe(st1, "enabled", draw, _v(st.booleans()), 1)
    doc["stage1"] = st1
    s1 = []
    for va, ipa, size in ((0x40_0000, 0x4100_0000, "2M"), (0x80_0000, 0x80_0000_0000, "64k"),
                          (0x7000_0000, 0x4000_0000, "4k")):
        if draw(st.integers(0, 9)) < 8:
            m = {"va": va, "size": draw(_v(st.just(size))), "ipa": draw(_v(st.just(ipa)))}
            m["mt"] = draw(_v(st.sampled_from(["MT_NORMAL", "MT_NORMAL_NC", "MT_DEVICE_nGnRE"])))
            _maybe(m, "ap", draw, _v(st.sampled_from(["rw", "ro", "rw-el0", 0, 3])), 6)
            _maybe(m, "pxn", draw, _v(st.booleans()), 2)
            s1.append(m)
    if s1:
        doc["s1"] = s1
    _walk_accesses(draw, doc)
    return doc


def _walk_accesses(draw: Any, doc: dict[str, Any]) -> None:
    accesses = []
    for _ in range(draw(st.integers(0, 3))):
        a: dict[str, Any] = {"va": draw(_v(st.sampled_from([0x40_1234, 0x80_0004, 0x90_0000,
                                                            0x1008])))}
        _maybe(a, "access", draw, _v(st.sampled_from(["read", "write", "exec"])), 5)
        _maybe(a, "size", draw, _v(st.sampled_from([1, 4, 8])), 3)
        _maybe(a, "el", draw, _v(st.integers(0, 1)), 2)
        accesses.append(a)
    if accesses:
        doc["access"] = accesses


walk_texts = st.integers(0, 9).flatmap(
    lambda n: mutated(walk_docs().map(toml_text)) if n < 3 else walk_docs().map(toml_text))
"""Walk files: 7 in 10 rendered as generated, 3 in 10 then mutated."""


# --- policy files ---------------------------------------------------------------------------------

_CONDITIONS = {
    "linear_map": st.booleans(), "vm_pfnmap": st.booleans(),
    "vm_allow_any_uncached": st.booleans(), "host_bridge": st.booleans(), "fwb": st.booleans(),
    "dic": st.booleans(),
    "pgprot": st.sampled_from(["cacheable", "normal-nc", "device", ["device", "normal-nc"]]),
    "bus": st.sampled_from(["pcie", "axi", "gic", "memory", "none", ["pcie", "axi"]]),
    "device": st.sampled_from(["ram", "pcie-bar", "amba", "gicv", "nvgrace-resmem",
                               ["pcie-bar", "pcie-vf-bar"]]),
    "fault": st.sampled_from(["read", "write", "exec", ["read", "write"]]),
}


@st.composite
def policy_docs(draw: Any) -> dict[str, Any]:
    """A policy file as TOML data (docs/policy-files.md): ordered rules, the last one
    unconditional, values now and then hostile."""
    doc: dict[str, Any] = {"name": draw(_v(st.sampled_from(["mine", "6.9", "try-nc"]))),
                           "release": draw(_v(st.sampled_from(["6.9", "6.8", "6.17", "7.0",
                                                               "5.5", "4.19"])))}
    _maybe(doc, "summary", draw, _v(st.sampled_from(["a reviewer's idea", "\x1b[31mred"])), 3)
    _maybe(doc, "set_prot_attr", draw, _v(st.sampled_from(["6.8", "6.9", "v3", "v4", "7"])), 3)
    _maybe(doc, "ioremap", draw, _v(st.sampled_from(["DEVICE", "NORMAL_NC", "NORMAL"])), 3)
    if draw(st.integers(0, 9)) < 2:
        doc["memattrs"] = {"normal_nc": draw(_v(st.just([0xF, 0x6])))}
    rules = []
    for _ in range(draw(st.integers(0, 4))):
        r: dict[str, Any] = {}
        when = {}
        for key, strat in _CONDITIONS.items():
            if draw(st.integers(0, 9)) < 2:
                when[key] = draw(_v(strat))
        if when:
            r["when"] = when
        if draw(st.integers(0, 5)) == 0:
            r["errno"] = draw(_v(st.sampled_from(["EFAULT", "EINVAL", "ENOEXEC"])))
        else:
            r["s2"] = draw(_v(st.sampled_from(["DEVICE", "NORMAL_NC", "NORMAL"])))
        _maybe(r, "x", draw, _v(st.booleans()), 2)
        rules.append(r)
    if rules and draw(st.integers(0, 9)) < 8:
        rules.append({"s2": draw(st.sampled_from(["DEVICE", "NORMAL_NC", "NORMAL"]))})
    if rules or draw(st.booleans()):
        doc["rule"] = rules
    return doc


policy_texts = st.integers(0, 9).flatmap(
    lambda n: mutated(policy_docs().map(toml_text)) if n < 3 else policy_docs().map(toml_text))
"""Policy files: 7 in 10 rendered as generated, 3 in 10 then mutated."""


# --- log lines ------------------------------------------------------------------------------------

_HEX = st.integers(0, (1 << 64) - 1)


@st.composite
def _esr_tokens(draw: Any) -> tuple[str, int | None]:
    """An ESR value as a log might write it, and the value (None: not a valid token)."""
    value = draw(st.one_of(_HEX, st.sampled_from([0x92000061, 0x96000010, 0x82000006, 0])))
    form = draw(st.sampled_from(["0x", "0X", "", "0x-upper", "junk", "wide"]))
    if form == "0x":
        return f"0x{value:x}", value
    if form == "0X":
        return f"0X{value:x}", value
    if form == "":
        return f"{value:x}", value
    if form == "0x-upper":
        return f"0x{value:X}", value
    if form == "wide":
        return f"0x{value | 1 << 64:x}", None
    return draw(st.sampled_from(["0x92zz", "zz", "0x", "-0x1", "0x9200_0061", "\x1b[2J"])), None


@st.composite
def log_lines(draw: Any) -> tuple[str, int | None]:
    """A kvm dmesg line (or a bare value, or noise) and the ESR it carries (None: no valid one)."""
    token, value = draw(_esr_tokens())
    shape = draw(st.sampled_from(["kvm", "bare", "colon", "spaces", "noise"]))
    if shape == "kvm":
        return (f"kvm [{draw(st.integers(0, 99999))}]: Unsupported FSC: EC=0x24 xFSC=0x21 "
                f"ESR_EL2={token}"), value
    if shape == "bare":
        return token, value
    if shape == "colon":
        return f"ESR: {token} FAR: 0x1000", value
    if shape == "spaces":
        return f"  ESR_EL2 = {token}  ", value
    return draw(st.text(max_size=40)), None


# --- argument vectors -----------------------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(0, (1 << 64) - 1).map(hex),
    st.integers(0, 300).map(str),
    st.sampled_from(["0x44", "0xff", "0x5", "0x1", "0xf", "0b101", "0o7", "-1", "0x", "", "zz",
                     "0x" + "f" * 5000, "9" * 5000, "1_0", "0X44", "٤", "NSH", "ISH", "OSH"]),
)
_TEXTS = st.one_of(hostile_strings, st.sampled_from([
    "demo", "vfio-pci-bar", "gating", "unaligned", "6.8", "6.9", "6.17", "v2", "-", "/dev/null",
    "/dev/zero", "/no/such.toml", "a" * 300, "/tmp/" + "b" * 300, "\udcff.toml",
    "kvm: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061",
]))


_DATA = Path(__file__).resolve().parents[1] / "data"
_ARTEFACTS = st.sampled_from(sorted(str(p) for p in _DATA.glob("*.txt")))
_TREES = st.sampled_from(sorted(str(p) for p in (_DATA / "hosts").iterdir() if p.is_dir())
                         + ["/no/such/tree", "/dev/null"])
_SCENARIOS = st.sampled_from(["demo", "vfio-pci-bar", "sources",
                              str(_DATA / "hosts" / "arm64_6.12_n1_written.vm-4242-15.toml")])
# Outputs go to standard output or to one scratch file, never to a name drawn at random.
_SCRATCH = str(Path(tempfile.gettempdir()) / "memattr-fuzz-output.txt")


def _action_values(action: argparse.Action) -> st.SearchStrategy[str]:
    if action.choices is not None and not isinstance(action, argparse._SubParsersAction):
        return st.one_of(st.sampled_from([str(c) for c in action.choices]), _TEXTS)
    name = (action.dest or "").lower()
    if name.startswith("emit_"):
        return st.sampled_from(["-", _SCRATCH, "", "/no/such/dir/out.txt"])
    if name in ("lspci", "resource", "dumps"):
        return st.one_of(_ARTEFACTS, _ARTEFACTS.map(lambda p: f"05:00.0={p}"), _TEXTS)
    if name == "root":
        return st.one_of(_TREES, _TEXTS)
    if name == "scenario":
        return st.one_of(_SCENARIOS, _SCENARIOS.map(lambda p: f"4242-15={p}"), _TEXTS)
    if name in ("file",):
        return st.one_of(st.sampled_from(["demo", "sources", "exec", "mmio-exit"]), _TEXTS)
    if name in ("esr",):
        return st.one_of(log_lines().map(lambda lv: lv[0]), _NUMBERS)
    if name in ("policy",):
        return st.one_of(st.sampled_from(_POLICIES), _TEXTS)
    return st.one_of(_NUMBERS, _NUMBERS, _TEXTS)


@st.composite
def _parser_argv(draw: Any, parser: argparse.ArgumentParser) -> list[str]:
    argv: list[str] = []
    positional: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            if draw(st.integers(0, 49)) == 0:
                argv.append("--help")
            continue
        if isinstance(action, argparse._SubParsersAction):
            name = draw(st.sampled_from(sorted(action.choices)))
            positional.append(name)
            positional += draw(_parser_argv(action.choices[name]))
            continue
        if not action.option_strings:
            if action.nargs == "?" and draw(st.booleans()):
                continue
            if action.nargs == "*":
                positional += draw(st.lists(_action_values(action), max_size=2))
                continue
            if draw(st.integers(0, 19)) > 0:
                positional.append(draw(_action_values(action)))
            continue
        if draw(st.integers(0, 9)) >= 3:
            continue
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
        else:
            argv += [flag, draw(_action_values(action))]
            if isinstance(action, argparse._AppendAction) and draw(st.booleans()):
                argv += [flag, draw(_action_values(action))]
    if draw(st.integers(0, 19)) == 0:
        argv.append(draw(st.sampled_from(["--bogus", "-x", "extra", "--json", "--"])))
    order = draw(st.permutations(argv + positional)) if draw(st.integers(0, 4)) == 0 else \
        positional[:1] + argv + positional[1:]
    return list(order)


def argvs(command: str) -> st.SearchStrategy[list[str]]:
    """Argument vectors for one command, drawn from its real argparse parser."""
    from memattr.cli import build_parser

    parser, _ = build_parser([command])
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return _parser_argv(sub.choices[command]).map(lambda rest: [command, *rest])


def dumps(doc: dict[str, Any]) -> str:
    """JSON for a generated document (for messages when a property fails)."""
    return json.dumps(doc, default=str)[:2000]

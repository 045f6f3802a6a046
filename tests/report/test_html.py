"""The HTML report without a browser: self-contained, every input string escaped, heatmap cells as
the architecture says, the matrix section read from the contract document, citations linked."""

from __future__ import annotations

import re
from functools import cache

import pytest
from tests.report.dom import Element, parse

import memattr.analysis.replay  # noqa: F401 - loads the Linux model in a good order
from memattr.analysis.matrix import build_matrix
from memattr.analysis.ordering import REVIEW_CASES, explore
from memattr.analysis.replay import Replay, replay
from memattr.analysis.scenario import bundled_path, load, loads
from memattr.report import html as H
from memattr.report.citations import cite_html

_SCENARIO = """\
name = "<script>alert(1)</script>\\u001b[2J\\u202e&amp;"
description = "a <b>bold</b> claim \\u001b[31m"
policies = ["6.8", "6.9"]
[cpu]
fwb = [false, true]
[[device]]
name = "nic<img src=x>"
kind = "pcie"
[[device.bar]]
index = 0
base = 0x80_0000_0000
size = "1M"
[[vmm_mapping]]
name = "bar0"
source = "vfio-pci"
device = "nic<img src=x>"
[[memslot]]
mapping = "bar0"
ipa = 0x10_0000_0000
[[guest_mapping]]
name = "wc<svg onload=x>"
target = "bar0"
api = "ioremap_wc"
[[access]]
mapping = "wc<svg onload=x>"
op = "write"
size = 8
offset = 4
"""


@cache
def _hostile_replay() -> Replay:
    return replay(loads(_SCENARIO, "hostile.toml"))


@cache
def _page() -> str:
    sc = load(bundled_path("vfio-pci-bar"))
    rp = replay(sc)
    matrix = build_matrix(policies=["6.8", "6.9"]).to_json()
    return H.render_report([rp, _hostile_replay()], matrix, docs_base="../")


def test_input_strings_are_escaped() -> None:
    """Scenario, device and mapping names from input appear only as text: no element or
    attribute they spell exists, control characters are shown escaped."""
    page = _page()
    doc = parse(page)
    assert not doc.find_all("script") and not doc.find_all("img")
    assert not [e for e in doc.iter() if "onload" in e.attrs]
    assert "wc&lt;svg onload=x&gt;" in page
    assert "\x1b" not in page and "\u202e" not in page
    assert "\\x1b[31m" in page  # the description's ESC, shown as an escape


def test_self_contained() -> None:
    """No script, no style sheet or font fetched, no src attribute; every link is a fragment,
    a docs/ link relative to the repository, or a citation on lore.kernel.org / git.kernel.org."""
    page = _page()
    doc = parse(page)
    for bad in ("<script", "<link", "@import", "url(", "<iframe", "<object", "<embed"):
        assert bad not in page.lower(), bad
    assert not [e for e in doc.iter() if "src" in e.attrs]
    hrefs = [e.attrs["href"] for e in doc.find_all("a")]
    assert hrefs
    for h in hrefs:
        assert re.match(r"#[\w-]+$|\.\./docs/[\w.-]+\.md(#[\w-]+)?$|https://(lore|git)\.kernel\.org/",
                        h), h
    assert any(h.startswith("https://lore.kernel.org/all/") for h in hrefs)
    assert "../docs/review.md#case-21-reclaim-pcie" in hrefs


def _cell(doc: Element, fwb: int, s1: int, s2: int) -> str:
    """The class of one heatmap cell, from the runs drawn (title 'S2 MemAttr 0bMMMM x S1 ...')."""
    fig = doc.find_all("figure", data_fwb=str(fwb))[0]
    for rect in fig.find_all("rect"):
        title = rect.find_all("title")[0].all_text()
        m = re.match(r"S2 MemAttr 0b([01]{4}) x S1 0x([0-9a-f]{2})(?:-0x([0-9a-f]{2}))?:", title)
        assert m, title
        lo, hi = int(m[2], 16), int(m[3] or m[2], 16)
        if int(m[1], 2) == s2 and lo <= s1 <= hi:
            return rect.attrs["data-class"]
    raise AssertionError((fwb, s1, s2))


@pytest.mark.parametrize("fwb, s1, s2, cls", [
    (0, 0x44, 0b0001, "device-ngnre"),   # ioremap_wc over KVM <= 6.8: Device wins (case 1)
    (1, 0x44, 0b0001, "device-ngnre"),
    (0, 0x44, 0b0101, "normal-nc"),      # over KVM >= 6.9 stage-2 Normal-NC (case 2)
    (1, 0x44, 0b0101, "normal-nc"),
    (1, 0x04, 0b0101, "device-ngnre"),   # FWB 0b101: NC unless S1 is Device
    (1, 0x44, 0b0110, "normal-wb"),      # FWB 0b110: forced Write-Back (case 8)
    (0, 0xFF, 0b1111, "normal-wb"),
    (0, 0xFF, 0b0101, "normal-nc"),      # without FWB the weaker cacheability wins
    (0, 0x00, 0b1111, "device-ngnrne"),
])
def test_heatmap_cells(fwb: int, s1: int, s2: int, cls: str) -> None:
    """Heatmap cells give the type the architecture gives (cases 1, 2 and 8 among them)."""
    doc = parse(H.heatmap_section())
    assert _cell(doc, fwb, s1, s2) == cls


def test_heatmap_runs_cover_every_cell_once() -> None:
    """Each map's runs cover 16 rows x 256 columns exactly, and the legend counts add up."""
    doc = parse(H.heatmap_section())
    for fwb in (0, 1):
        fig = doc.find_all("figure", data_fwb=str(fwb))[0]
        cells = 0
        for rect in fig.find_all("rect"):
            cells += int(rect.attrs["width"]) // 3
        assert cells == 16 * 256
        counts = [int(x) for x in re.findall(r"\((\d+)\)", fig.find_all("div", class_="legend")[0]
                                                       .all_text())]
        assert sum(counts) == 16 * 256


def test_matrix_section_reads_the_contract() -> None:
    """A matrix document in the contract's shape renders a verdict cell per (policy, device),
    the hazards with their citations, and every row."""
    doc = {
        "dimensions": {"policies": ["6.8", "6.9"], "devices": ["PCIe BAR", "AMBA/AXI device"]},
        "rows": [{"policy": "6.8", "device": "PCIe BAR", "source": "vfio-pci",
                  "guest_mapping": "ioremap_wc", "access": "unaligned 8-byte write", "fwb": True,
                  "s2": "DEVICE_nGnRE", "effective": "Device-nGnRE",
                  "outcome": "alignment fault at stage 2", "hazards": []},
                 {"policy": "6.9", "device": "AMBA/AXI device", "source": "vfio-platform",
                  "guest_mapping": "ioremap_wc", "access": "8-byte read", "fwb": False,
                  "s2": "NORMAL_NC", "effective": "Normal-NC", "outcome": "read completes",
                  "hazards": ["reclaim"]}],
        "verdicts": [{"policy": "6.8", "device": "PCIe BAR", "verdict": "broken", "hazards": [],
                      "why": "unaligned <write>"},
                     {"policy": "6.9", "device": "AMBA/AXI device", "verdict": "hazard",
                      "hazards": ["reclaim"], "why": "no ordering"}],
        "hazards": {"reclaim": {"title": "reclaim ordering (case 22)",
                                "citation": "docs/review.md#reclaim-and-reset-ordering; "
                                            "https://lore.kernel.org/all/ZW949Tl3VmQfPk0L@arm.com/",
                                "needs": "Normal-NC on a platform device"}},
    }
    tree = parse(H.matrix_section(doc))
    cells = tree.find_all("td", data_verdict="broken") + tree.find_all("td", data_verdict="hazard")
    assert len(cells) == 2 and cells[0].attrs["title"] == "unaligned <write>"
    hz = tree.find_all("tr", id="hazard-reclaim")[0]
    links = [a.attrs["href"] for a in hz.find_all("a")]
    assert links == ["docs/review.md#reclaim-and-reset-ordering",
                     "https://lore.kernel.org/all/ZW949Tl3VmQfPk0L@arm.com/"]
    assert len(tree.find_all("table", class_="rows")[0].find_all("tr")) == 3


def test_the_matrix_writes_the_contract() -> None:
    """The matrix document the report renders has every key of the contract; verdicts are ok,
    hazard or broken; a verdict's hazards are ids of the hazards table."""
    doc = build_matrix(policies=["6.8", "6.9"]).to_json()
    assert set(doc) >= {"dimensions", "rows", "verdicts", "hazards"}
    keys = {"policy", "device", "source", "guest_mapping", "access", "fwb", "s2", "effective",
            "outcome", "hazards"}
    assert doc["rows"] and all(keys <= set(r) for r in doc["rows"])
    assert {v["verdict"] for v in doc["verdicts"]} <= {"ok", "hazard", "broken"}
    for v in doc["verdicts"]:
        assert set(v["hazards"]) <= set(doc["hazards"])
        assert {"title", "citation", "needs"} <= set(doc["hazards"].get(v["hazards"][0], {})) \
            if v["hazards"] else True
    # An unaligned 8-byte store through ioremap_wc to a vfio-pci BAR faults at stage 2 under 6.8
    # (docs/review.md#case-1-bar-mapped-wc-old-policy) and completes as Normal-NC under 6.9 (case 2).
    wc = {(r["policy"], r["fwb"]): r for r in doc["rows"]
          if (r["device"], r["source"], r["guest_mapping"], r["access"])
          == ("pcie-bar", "vfio-pci", "ioremap_wc", "str8-unaligned")}
    assert wc and {p for p, _ in wc} == {"6.8", "6.9"}
    for (policy, _fwb), row in wc.items():
        assert ("unaligned-fault" in row["hazards"]) == (policy == "6.8"), row
        assert row["effective"] == ("Device-nGnRE" if policy == "6.8" else "Normal-NC"), row


def test_ordering_witnesses_are_drawn() -> None:
    """One article per review case; a timeline exactly for those with a witness, its last step
    the guest write landing after the boundary (marked as the hazard)."""
    tree = parse(H.ordering_section())
    arts = tree.find_all("article", class_="witness")
    assert len(arts) == len(REVIEW_CASES)
    for art, (_label, cfg) in zip(arts, REVIEW_CASES, strict=True):
        v = explore(cfg)
        svgs = art.find_all("svg")
        assert art.attrs["data-reachable"] == str(int(v.reachable))
        assert len(svgs) == (1 if v.reachable else 0)
        if v.reachable:
            steps = svgs[0].find_all("g", class_="step")
            assert len(steps) == len(v.witness)
            assert "hazard" in steps[-1].attrs["class"] and "AFTER" in steps[-1].all_text()


def test_citations_become_links() -> None:
    """docs/ references, worked cases and lore messages are links; the rest is escaped text."""
    out = cite_html("see cases 21-23, docs/ordering.md#what-is-modelled and "
                    "https://lore.kernel.org/all/a@b/ <x>", "../")
    assert '<a href="../docs/review.md#case-21-reclaim-pcie">cases 21-23</a>' in out
    assert '<a href="../docs/ordering.md#what-is-modelled">' in out
    assert '<a href="https://lore.kernel.org/all/a@b/">' in out
    assert out.endswith(" &lt;x&gt;")
    assert cite_html("case 99") == "case 99"

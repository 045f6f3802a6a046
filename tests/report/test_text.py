"""Text rendering: the comparison table marks differences; labels compress policy x FWB sets."""

from __future__ import annotations

from functools import cache

from memattr.analysis.compare import compare
from memattr.analysis.replay import Replay, replay
from memattr.analysis.scenario import bundled_path, load
from memattr.arch.memtype import NORMAL_NC
from memattr.report.text import Style, label_of, render_replay, render_table, type_legend


@cache
def rp() -> Replay:
    return replay(load(bundled_path("vfio-pci-bar")))


def test_table_marks_cells_that_differ() -> None:
    """A differing cell starts with '*'; without colour there are no escape codes."""
    lines = render_table(compare(rp()))
    assert lines[0].split() == ["guest", "mapping", "guest", "S1", "VMM", "S1", "6.8", "6.9"]
    wc = next(x for x in lines if x.strip().startswith("wc"))
    assert wc.split()[-2:] == ["Device-nGnRE", "*Normal-NC"]
    assert "\x1b" not in "".join(lines)


def test_colour_highlights_only_with_color() -> None:
    """Style wraps text in ANSI escapes only when colour is on."""
    assert Style(False)("diff", "x") == "x"
    assert Style(True)("diff", "x") == "\x1b[1;33mx\x1b[0m"
    lines = render_table(compare(rp()), Style(True))
    assert any("\x1b[1;33m*Normal-NC\x1b[0m" in x for x in lines)


def test_label_of() -> None:
    """Sets of (policy, FWB) compress to 'all', 'FWB', a policy list or policy (FWB)."""
    pols, fwbs = ["6.8", "6.9"], [False, True]
    everything = [(p, f) for p in pols for f in fwbs]
    assert label_of(everything, pols, fwbs) == "all"
    assert label_of([("6.8", True), ("6.9", True)], pols, fwbs) == "FWB"
    assert label_of([("6.9", False), ("6.9", True)], pols, fwbs) == "6.9"
    assert label_of([("6.8", False)], pols, fwbs) == "6.8 (no FWB)"


def test_type_legend() -> None:
    """The legend says what each effective type permits."""
    (line,) = type_legend([NORMAL_NC, NORMAL_NC])
    assert line.strip().startswith("Normal-NC: gathering yes")
    assert "speculation yes" in line and "cacheable no" in line


def test_report_has_a_section_per_mapping() -> None:
    """The full report has the table, then each mapping's chain, reason, accesses, hazards."""
    text = render_replay(rp())
    for name in ("wc", "device", "non-posted", "wb"):
        assert f"\n{name}  [IPA " in text
    assert "why" in text and "access: 8-byte write at +0x4 (unaligned)" in text
    assert "What each effective type permits" in text
    brief = render_replay(rp(), details=False)
    assert "why" not in brief and "Effective memory type" in brief

"""The demo's story sentence and reasons come from the replay."""

from __future__ import annotations

from memattr.analysis.compare import Cell, Row
from memattr.analysis.replay import replay
from memattr.analysis.scenario import bundled_path, load
from memattr.report.demo import combining, key_row, story_sentence


def _row(*answers: str) -> Row:
    pols = ["6.8", "6.9", "6.17"][: len(answers)]
    cells = tuple(Cell(p, (a,), (None,), False) for p, a in zip(pols, answers, strict=True))
    return Row("m", "Normal-NC", "Device-nGnRnE", cells)


def test_story_sentence() -> None:
    """Runs of policies with one answer read 'X up to A and Y from B'."""
    assert story_sentence(_row("Device-nGnRE", "Normal-NC", "Normal-NC")) == (
        "Device-nGnRE up to 6.8 and Normal-NC from 6.9")
    assert story_sentence(_row("Device-nGnRE", "Device-nGnRE")) == (
        "Device-nGnRE under every policy")


def test_key_row_and_combining_rule() -> None:
    """The story is about the ioremap_wc vfio-pci BAR; its 6.9 FWB rule is 0b101."""
    rp = replay(load(bundled_path("demo")))
    row = key_row(rp)
    assert row.mapping == "GPU BAR ioremap_wc"
    text = combining(rp.get(row.mapping, "6.9", True))
    assert text.startswith("the guest's Normal-NC wins (AArch64.S2ApplyFWBMemAttrs 0b101")
    text = combining(rp.get(row.mapping, "6.8", False))
    # S1 Normal under S2 Device: S2CombineS1MemAttrs takes S2's Device type itself; it calls
    # S2CombineS1Device only when both stages are Device (the old text claimed it here).
    assert text == "Device-nGnRE overrides the guest's Normal-NC (S2CombineS1MemAttrs)"

"""``memattr demo``: the key lines of the story, readable without colour, and --json."""

from __future__ import annotations

import json

import pytest

from memattr import cli


def demo(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert cli.main(["demo", *argv]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def row(out: str, name: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(name))


def test_demo_says_the_wc_bar_answer_plainly(capsys: pytest.CaptureFixture[str]) -> None:
    """The ioremap_wc BAR is Device-nGnRE up to 6.8 and Normal-NC from 6.9, with the reasons."""
    out = demo(capsys, "--color", "never")
    assert ("GPU BAR ioremap_wc is Device-nGnRE up to 6.8 and Normal-NC from 6.9 (with and "
            "without FWB).") in out
    flat = " ".join(out.split())
    for why in ("vfio_pci_core_mmap sets VM_ALLOW_ANY_UNCACHED", "a39d3a966a09",
                "user_mem_abort maps it NORMAL_NC", "8c47ce3e1d2c", "S2CombineS1MemAttrs",
                "AArch64.S2ApplyFWBMemAttrs", "the guest's Normal-NC wins"):
        assert why in flat, why
    wc = row(out, "GPU BAR ioremap_wc").split()
    assert wc[-3:] == ["Device-nGnRE", "*Normal-NC", "*Normal-NC"]


def test_demo_device_rows(capsys: pytest.CaptureFixture[str]) -> None:
    """GICV and the vfio-platform device are Device-nGnRE under every policy, FWB or not."""
    out = demo(capsys, "--color", "never")
    for name in ("GICV ioremap_wc", "DMA ioremap_wc"):
        assert row(out, name).split()[-3:] == ["Device-nGnRE"] * 3, name
    assert row(out, "GPU BAR ioremap ").split()[-3:] == ["Device-nGnRE"] * 3


def test_demo_guest_ram_and_fwb(capsys: pytest.CaptureFixture[str]) -> None:
    """Guest RAM mapped NC is Normal-NC without FWB and Normal-WB with it (forced WB)."""
    out = demo(capsys, "--color", "never")
    assert row(out, "RAM memremap WC").count("Normal-NC / Normal-WB") == 3
    assert "AArch64.S2ApplyFWBMemAttrs 0b110 'force Normal WB'" in " ".join(out.split())


def test_demo_access_outcomes(capsys: pytest.CaptureFixture[str]) -> None:
    """The driver's unaligned store faults at stage 2 under 6.8 and completes from 6.9."""
    out = demo(capsys, "--color", "never")
    assert "6.8           alignment fault at stage 2 (EL2): KVM_RUN -EFAULT" in out
    assert "unaligned write completes as Normal-NC" in out
    assert "prefetch abort injected into the guest (-ENOEXEC)" in out


def test_demo_fits_two_screens(capsys: pytest.CaptureFixture[str]) -> None:
    """The story fits in two screens of 50 lines, within 132 columns."""
    out = demo(capsys, "--color", "never")
    lines = out.splitlines()
    assert len(lines) <= 100
    assert max(len(x) for x in lines) <= 132


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json is one document with the story's key answer and every result."""
    doc = json.loads(demo(capsys, "--json"))
    story = doc["story"]
    assert story["sentence"] == ("GPU BAR ioremap_wc is Device-nGnRE up to 6.8 and Normal-NC "
                                 "from 6.9")
    assert [a["answer"] for a in story["answers"]] == ["Device-nGnRE", "Normal-NC"]
    assert story["answers"][1]["policies"] == ["6.9", "6.17"]
    gicv = [r for r in doc["results"] if r["mapping"] == "GICV ioremap_wc"]
    assert len(gicv) == 6 and all(r["answer"] == "Device-nGnRE" for r in gicv)
    plat = [r for r in doc["results"] if r["mapping"] == "DMA ioremap_wc"]
    assert all(r["answer"] == "Device-nGnRE" and r["s2_memattr"] == 1 for r in plat)

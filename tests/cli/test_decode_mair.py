"""``memattr decode mair``: MAIR presets per Linux release and MT_* names per release
(issue 11 item 2)."""

from __future__ import annotations

import json

import pytest

from memattr import cli
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR

LINUX_MAIR_HEX_5_14 = hex(LINUX_MAIR)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Call memattr.cli.main and return (status, stdout, stderr)."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.parametrize("release", ["5.5", "5.13", "5.14", "6.9", "7.0"])
def test_mair_preset_is_what_the_release_programs(release: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """decode mair linux-RELEASE decodes mair_for(RELEASE), every MT_* index named."""
    import memattr.linux.system  # noqa: F401  (the Linux model, imported in order)
    from memattr.linux.asm.memory import mair_for, mt_layout

    tagged = "MT_NORMAL_TAGGED" in mt_layout(release).names  # +mte: see the test below
    for suffix, mte in (("", False), ("+mte", True))[: 2 if tagged else 1]:
        _, out, _ = run(capsys, "decode", "mair", f"linux-{release}{suffix}")
        assert out.splitlines()[0] == f"MAIR_ELx = 0x{mair_for(release, mte=mte):016x}"
        assert out.count("Linux MT_") == len(mt_layout(release).slots)
        assert f"({release})" in out and "not Linux" not in out


def test_mair_5_13_named_without_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    """Linux 5.13's own MAIR gets the 5.10..5.13 names (MT_NORMAL_WT at 3, MT_DEVICE_GRE at 6)."""
    _, out, _ = run(capsys, "decode", "mair", "0x000c0400bb44ffff")
    lines = out.splitlines()
    assert "Linux MT_NORMAL_WT (5.10..5.13)" in lines[4] and "MT_DEVICE_GRE" in lines[7]


def test_mair_names_per_byte_with_kernel(capsys: pytest.CaptureFixture[str]) -> None:
    """With --kernel only the bytes that release puts at their index are named; others say
    what that release expects there."""
    _, out, _ = run(capsys, "decode", "mair", "0x4404ff", "--kernel", "6.9")
    lines = out.splitlines()
    assert "Linux MT_NORMAL (6.9)" in lines[1]
    assert "not Linux 6.9's MT_NORMAL_TAGGED (0xff or 0xf0)" in lines[2]
    assert "Linux MT_NORMAL_NC (6.9)" in lines[3]
    assert "not Linux 6.9's MT_DEVICE_nGnRE (0x04)" in lines[5]
    _, out, _ = run(capsys, "decode", "mair", LINUX_MAIR_HEX_5_14, "--kernel", "5.13")
    assert "Linux MT_NORMAL_NC (5.13)" in out and "not Linux 5.13's MT_NORMAL_WT (0xbb)" in out
    _, out, _ = run(capsys, "decode", "mair", "0x44", "--kernel", "6.9")
    assert "Linux 6.9: MT_NORMAL_NC (Attr2)" in out


def test_mair_preset_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """--json names the releases; a preset of no release, or a bad suffix, is an error."""
    _, out, _ = run(capsys, "decode", "mair", "linux-5.13", "--json")
    doc = json.loads(out)
    assert doc["kernel"] == "5.13" and doc["attrs"][3]["linux"] == "MT_NORMAL_WT"
    assert doc["hex"] == doc["value_hex"].replace("0x", "0x" + "0" * (18 - len(doc["value_hex"])))
    for bad in ("linux-6.99", "linux-5.4", "linux-6.9+tag"):
        status, out, err = run(capsys, "decode", "mair", bad)
        assert status == 2 and out == "" and err.startswith(f"memattr: error: MAIR_ELx={bad}")
    status, _, err = run(capsys, "decode", "mair", "linux-6.9", "--kernel", "5.13")
    assert status == 2 and "give one release" in err


def test_s1_mair_preset(capsys: pytest.CaptureFixture[str]) -> None:
    """decode s1 --mair linux-5.13 reads AttrIndx from 5.13's layout (index 3 is MT_NORMAL_WT)."""
    desc = 0x0060_0000_BA2E_0F0F  # page, AttrIndx 3
    _, out, _ = run(capsys, "decode", "s1", hex(desc), "--mair", "linux-5.13")
    assert "Attr3=0xbb: Normal-WT" in out
    _, out, _ = run(capsys, "decode", "s1", hex(desc), "--mair", "linux-6.9")
    assert "Attr3=0x00: Device-nGnRnE" in out


def test_mte_preset_needs_a_release_with_mt_normal_tagged(
        capsys: pytest.CaptureFixture[str]) -> None:
    """linux-RELEASE+mte exists only where the release's MAIR layout has MT_NORMAL_TAGGED
    (v5.10 on): linux-5.9+mte is an error naming why, not 5.9's MAIR without tags."""
    assert cli.main(["decode", "mair", "linux-5.9+mte"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Linux 5.9 has no MT_NORMAL_TAGGED" in err and "v5.10" in err
    assert cli.main(["decode", "mair", "linux-5.10+mte"]) == 0
    assert "MT_NORMAL_TAGGED" in capsys.readouterr().out

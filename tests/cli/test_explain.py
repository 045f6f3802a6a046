"""``memattr explain`` on the command line."""

from __future__ import annotations

import json

import pytest

from memattr.cli import main


def test_explain_text(capsys: pytest.CaptureFixture[str]) -> None:
    """A kvm dmesg line is explained in text."""
    assert main(["explain", "kvm: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061"]) == 0
    out = capsys.readouterr().out
    assert "alignment fault (FSC 0x21)" in out and "fixed from Linux 6.9" in out


def test_explain_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json gives the decoded fields and the explanation."""
    assert main(["explain", "0x92000061", "--hpfar", "0x800000", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ec"] == 0x24 and doc["fsc"]["kind"] == "alignment" and doc["wnr"] is True
    assert doc["ipa"] == 0x8000_0000


@pytest.mark.parametrize("argv", [["explain", "zz"], ["explain", "0x1", "--hpfar", "nope"]])
def test_explain_bad_input(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """Bad input is one line on stderr and exit status 2."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("memattr: error:")

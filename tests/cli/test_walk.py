"""``memattr walk``: the example file walked step by step, --va, --json, dumps, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memattr import cli
from memattr.cli.walk import example_path, load

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Call memattr.cli.main and return (status, stdout, stderr)."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_example_walks(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped example: a translation, the KVM alignment story, a guest fault."""
    status, out, err = run(capsys, "walk", "--example")
    assert status == 0 and err == ""
    assert "=> IPA 0x41001234 -> PA 0x101001234" in out
    assert "(S1PTW)" in out
    assert "ESR_EL2=0x92000061 FAR_EL2=0x800004" in out
    assert "Device-nGnRE, Outer Shareable" in out
    assert "stage 1 translation fault level 3 at VA 0x900000" in out
    assert "ESR_EL1=0x96000007" in out


def test_va_option_and_dumps(capsys: pytest.CaptureFixture[str]) -> None:
    """--va walks one access; --dump adds the KVM and Linux formats."""
    status, out, _ = run(capsys, "walk", "--example", "--va", "0x80_0000", "--access", "exec",
                         "--size", "4", "--dump", "kvm", "--dump", "s1")
    assert status == 0
    assert "VA 0x0000000000800000 exec 4 byte(s) at EL1" in out
    assert "stage 1 permission fault level 3" in out  # PXN
    assert "---[ Guest IPA ]---" in out and "---[ TTBR0_EL1 ]---" in out
    assert "R W PXNUXN AF" in out


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json: one document with the regime, every walk's steps and result."""
    status, out, _ = run(capsys, "walk", "--example", "--json", "--dump", "memattr")
    assert status == 0
    doc = json.loads(out)
    assert doc["regime"]["stage2"] and len(doc["walks"]) == 4
    first = doc["walks"][0]
    assert first["translation"]["pa"] == 0x101001234 and first["fault"] is None
    assert first["steps"][0]["s1ptw"] is True
    second = doc["walks"][1]["fault"]
    assert second["kind"] == "alignment" and second["esr"] == 0x92000061
    assert "stage 2 (memattr)" in doc["dumps"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[stage2]\nipa_bits = 99\n", "bad.toml:2: stage2.ipa_bits: ipa_bits=99"),
        ("[stage2]\n[[s2]]\nipa = 0x1001\nsize = \"4k\"\npa = 0\nmemattr = 0xf\n",
         "bad.toml:2: s2[0]: map IPA=0x1001"),
        ("[stage1]\nva_bits = 48\n[[s1]]\nva = 0\nsize = \"4k\"\nipa = 0\nmt = \"MT_WHAT\"\n",
         "bad.toml:7: s1[0].mt: 'MT_WHAT': expected one of MT_NORMAL"),
        ("[stage2]\nbogus = 1\n", "bad.toml:2: stage2.bogus: unknown key"),
        ("[stage2]\n[stage1]\n", "bad.toml:2: stage1.table_pool: required"),
        ("[[s2]]\nipa = 0\n", "bad.toml:1: s2: [[s2]] mappings need a [stage2] table"),
        ("x = [\n", "bad.toml: "),
        ("[stage2]\n[[s2]]\nipa = 0\nsize = \"2x\"\npa = 0\nmemattr = 1\n",
         "bad.toml:4: s2[0].size: '2x'"),
    ],
)
def test_errors_name_file_line_and_key(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       text: str, expect: str) -> None:
    """Bad input is one line, file:line: key: why, exit status 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    status, out, err = run(capsys, "walk", str(bad))
    assert status == 2 and out == ""
    assert err.startswith("memattr: error: ") and err.count("\n") == 1
    assert expect in err


def test_missing_file_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    """No file, or --access without --va, is an error."""
    assert run(capsys, "walk")[0] == 2
    status, _, err = run(capsys, "walk", "--example", "--access", "write")
    assert status == 2 and "--va" in err


def test_load_builds_what_the_file_says() -> None:
    """load(): stage-2 table at VMID 1, guest stage-1 table inside guest RAM."""
    b = load(example_path())
    assert b.s2 is not None and b.s2.vmid == 1 and b.s2.geom.concat == 2
    assert b.s1 is not None and 0x4000_0000 <= b.s1.root < 0x4010_0000
    assert b.regime.s2_enabled and len(b.accesses) == 4


def test_walk_does_not_import_numpy() -> None:
    """The walk command (without dumps) runs on the standard library alone."""
    code = ("import sys, io, contextlib\nfrom memattr.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['walk', '--example'])\n"
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"

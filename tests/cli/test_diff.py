"""`memattr diff`: dumps against dumps and against the model; bad dumps are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memattr import cli

DATA = Path(__file__).resolve().parents[1] / "data"
V611 = str(DATA / "kvm_stage2_v6.11_4k_40bit_written.txt")
XNX = str(DATA / "kvm_stage2_xnx_4k_40bit_written.txt")
KPT16 = str(DATA / "ptdump_arm64_16k_47bit_written.txt")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "", (status, out, err)
    assert err.count("\n") == 1 and err.startswith("memattr: error: ") and "\x1b" not in err, err
    return err.strip()


def test_two_dumps(capsys: pytest.CaptureFixture[str]) -> None:
    """The dialect settles the X column: no difference as v6.11, four as the fixed dialect."""
    status, out, _ = run(capsys, "diff", V611, XNX, "--kvm-dialect", "v6.11", "--fail-on", "diff")
    assert status == 0 and "0 differing ranges (no differences)" in out
    status, out, _ = run(capsys, "diff", V611, XNX, "--kvm-dialect", "x-fixed", "--fail-on", "diff")
    assert status == 1 and "4 differing ranges (4 permissions)" in out
    assert "execute: A 0b1?, B X" in out and "kvm_stage2_v6.11_4k_40bit_written.txt:6" in out
    status, out, _ = run(capsys, "diff", V611, XNX)
    assert status == 0 and "execute (" in out and "reads either way" in out


def test_dump_against_model(capsys: pytest.CaptureFixture[str]) -> None:
    """A KVM dump against what 6.9 writes for the bundled demo VM: each mismatch by range."""
    status, out, _ = run(capsys, "diff", XNX, "--scenario", "demo", "--policy", "6.9", "--json")
    doc = json.loads(out)
    (c,) = doc["comparisons"]
    assert status == 0 and c["a"]["label"] == "model 6.9 FWB=1 of scenario demo"
    kinds = [d["kinds"] for d in c["differences"]]
    assert ["leaf-size"] in kinds and ["extra"] in kinds and c["faults"] > 0
    assert any("KVM_EXIT_MMIO" in d["why"] for d in c["differences"])


def test_two_policies_no_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """6.8 against 6.9 on a scenario: the BAR's MemAttr; --emit-model writes memattr's dump,
    which compares with the model as a dump of its own."""
    model = tmp_path / "m.txt"
    status, out, _ = run(capsys, "diff", "--scenario", "vfio-pci-bar", "--fail-on", "diff",
                         "--emit-model", str(model))
    assert status == 1 and "MemAttr: A 0b0001" in out and "B 0b0101" in out
    assert model.read_text().startswith("# stage 2, 4k granule, 40-bit IA")
    status, out, _ = run(capsys, "diff", str(model), "--scenario", "vfio-pci-bar", "--policy",
                         "6.8", "--fwb", "--touch", "scenario", "--fail-on", "diff")
    assert status == 0 and "0 differing ranges" in out


def test_stage1_dumps(capsys: pytest.CaptureFixture[str]) -> None:
    """A kernel_page_tables dump against itself has no differences."""
    status, out, _ = run(capsys, "diff", KPT16, KPT16)
    assert status == 0 and "no differences" in out


@pytest.mark.parametrize("argv, want", [
    ([], "nothing to compare"),
    ([V611], "one dump and no --scenario"),
    ([V611, XNX, "--scenario", "demo"], "two dumps are compared with each other"),
    ([V611, XNX, V611], "at most two"),
    (["-", "-"], "standard input given twice"),
    (["--scenario", "demo", "--policy", "6.9"], "one policy (6.9) and no dump"),
    (["--scenario", "demo", "--touch", "dump"], "--touch=dump: no dump given"),
    ([KPT16, "--scenario", "demo"], "the model of a scenario's VM is a stage-2 table"),
    ([V611, KPT16], "cannot compare a stage-2 table"),
    ([V611, "--scenario", "demo", "--budget", "1"], "more than 1 faults"),
    ([V611, "--scenario", "no-such"], "no bundled scenario"),
    ([V611, XNX, "--va-bits", "9"], "--va-bits=9: out of range"),
    ([V611, XNX, "--emit-model", "m.txt"], "no model"),
])
def test_argument_errors(argv: list[str], want: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each misuse is one line that says what is expected."""
    assert want in one_error(capsys, "diff", *argv)


@pytest.mark.parametrize("data, want", [
    (b"---[ Guest IPA ]---\n0x0000000000000000-0x0000000000001000 4K 3 R W Q\n",
     "d.txt:2: 'Q' is not a stage2_page_tables word"),
    (b"0x0000000000000000-0x0000000000002000 4K PTE RW\n", "d.txt:1: size 4K is not end - start"),
    (b"0x00000000000000", "d.txt:1: not a dump line"),
    (b"\x00binary", "d.txt:1: binary data"),
    (b"", "d.txt: no page-table range lines"),
    (b"\xff\n", "d.txt:1: not UTF-8 text"),
])
def test_corrupt_dumps(tmp_path: Path, data: bytes, want: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    """Corrupt, truncated and binary dumps: one file:line: error and exit 2."""
    path = tmp_path / "d.txt"
    path.write_bytes(data)
    assert want in one_error(capsys, "diff", str(path), XNX)


def test_huge_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A dump over the input bound is refused before it is read."""
    monkeypatch.setenv("MEMATTR_MAX_INPUT", "1K")
    path = tmp_path / "big.txt"
    path.write_bytes(b"0" * 4096)
    assert "too large" in one_error(capsys, "diff", str(path), XNX)

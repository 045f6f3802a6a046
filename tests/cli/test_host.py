"""`memattr host`: artefacts and live trees in, answers out; bad input is one line and exit 2."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest

from memattr import cli

DATA = Path(__file__).resolve().parents[1] / "data"
HOSTS = DATA / "hosts"
X550 = str(DATA / "lspci_vv_intel_x550_pf_sriov_ixgbe.txt")
X550_RES = str(DATA / "sysfs_resource_intel_x550_pf_and_vf.txt")
E810 = str(DATA / "lspci_vv_intel_e810_pf_vfio.txt")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == "", (status, out, err)
    assert err.count("\n") == 1 and err.startswith("memattr: error: ") and "\x1b" not in err, err
    return err.strip()


def test_lspci_and_resource(capsys: pytest.CaptureFixture[str]) -> None:
    """The X550 with its resource files: four BARs, a table each, the care lines."""
    status, out, err = run(capsys, "host", "--lspci", X550, "--resource", X550_RES)
    assert status == 0 and err == ""
    assert "VF BAR3: 64-bit non-prefetchable memory at 0x80b00000, 16K per VF" in out
    assert "care: bound to ixgbe, not vfio-pci" in out
    assert out.count("guest maps with") == 4


def test_kernel_picks_the_first_column(capsys: pytest.CaptureFixture[str]) -> None:
    """--kernel 6.12 is the host's release: its policy leads; --policy adds columns."""
    status, out, _ = run(capsys, "host", "--lspci", E810, "--kernel", "6.12.9-arm64",
                         "--policy", "6.8", "--fwb")
    assert status == 0 and "kernel 6.12; policies 6.12, 6.8; cpu all; FWB on" in out
    assert "ioremap_wc (Normal-NC)                  Normal-NC      *Device-nGnRE" in out


def test_json_and_bdf_resource(capsys: pytest.CaptureFixture[str]) -> None:
    """--json is one document; BDF=FILE pins a resource file to a device."""
    status, out, _ = run(capsys, "host", "--lspci", X550, "--resource", f"05:00.0={X550_RES}",
                         "--json", "--policy", "6.9", "--no-fwb")
    doc = json.loads(out)
    assert status == 0 and doc["host"]["config"]["fwb"] == [False]
    vf = [b for b in doc["host"]["bars"] if b["bar"]["vf"]]
    assert [b["bar"]["size"] for b in vf] == [16384, 16384]


def test_emitted_scenario_is_replayed_by_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--emit-scenario writes a file `memattr run` replays to the same cells."""
    path = tmp_path / "host.toml"
    status, out, _ = run(capsys, "host", "--lspci", E810, "--emit-scenario", str(path), "--json",
                         "--policy", "6.8", "--policy", "6.9")
    assert status == 0 and path.exists()
    cells = {(a["api"], b["bar"]["name"]): [c["answer"] for c in a["cells"]]
             for b in json.loads(out)["host"]["bars"] for a in b["answers"]}
    status, out, _ = run(capsys, "run", str(path), "--json")
    assert status == 0
    replayed = {}
    for r in json.loads(out)["results"]:
        stem, api = r["mapping"].rsplit(" ", 1)
        replayed.setdefault((api, stem.split(" ", 1)[1]), {}).setdefault(r["policy"], []).append(
            r["answer"])
    for key, answers in cells.items():
        by_policy = replayed[key]
        assert [" / ".join(dict.fromkeys(v)) for v in by_policy.values()] == answers
    status, out, _ = run(capsys, "host", "--lspci", E810, "--emit-scenario", "-")
    assert status == 0 and out.startswith("# Written by `memattr host`")


def test_fail_on_hazard(capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-on hazard is exit 1 exactly when a hazard is found."""
    assert run(capsys, "host", "--lspci", E810, "--fail-on", "hazard")[0] == 0
    status, out, _ = run(capsys, "host", "--lspci", E810, "--policy", "fwb-0b110", "--fwb",
                         "--fail-on", "hazard")
    assert status == 1 and "hazard: cacheable MMIO" in out


def test_live_tree(capsys: pytest.CaptureFixture[str]) -> None:
    """--live --root: the host's facts, the VM compared with its scenario, --fail-on diff."""
    tree = str(HOSTS / "arm64_6.12_n1_written")
    vm = str(HOSTS / "arm64_6.12_n1_written.vm-4242-15.toml")
    status, out, err = run(capsys, "host", "--live", "--root", tree, "--scenario",
                           f"4242-15={vm}", "--fail-on", "diff")
    assert status == 1 and err == ""
    assert "machine aarch64 (arm64)" in out and "kernel 6.12.38+deb13-arm64" in out
    assert "3 differing ranges (3 leaf-size)" in out
    assert "kernel 6.12; policies 6.12; cpu neoverse-n1; FWB off" in out
    status, out, _ = run(capsys, "host", "--live", "--root", tree, "--json")
    doc = json.loads(out)
    assert status == 0 and doc["live"]["kernel"] == "6.12" and doc["vms"][0]["diff"] is None


def test_live_x86_tree(capsys: pytest.CaptureFixture[str]) -> None:
    """A tree that is not arm64: said, and still answered."""
    status, out, _ = run(capsys, "host", "--live", "--root", str(HOSTS / "x86_64_6.1_written"))
    assert status == 0 and "not arm64" in out and "guest maps with" in out


def test_live_this_machine_is_harmless(capsys: pytest.CaptureFixture[str]) -> None:
    """--live on the machine running the tests ends in 0 with a report (it is read-only)."""
    status, out, err = run(capsys, "host", "--live", "--json")
    assert status == 0 and err == "" and json.loads(out)["live"]["root"] == "/"


@pytest.mark.parametrize("argv, want", [
    (["--live", "--lspci", E810], "not allowed with argument"),
    (["--lspci", E810, "--root", "/"], "--root: only with --live"),
    (["--live", "--resource", X550_RES], "--resource: only with --lspci"),
    (["--lspci", E810, "--scenario", "x.toml"], "--scenario: only with --live"),
    (["--lspci", E810, "--kernel", "4.19"], "older than the oldest release modelled"),
    (["--lspci", E810, "--kernel", "six"], "expected MAJOR.MINOR"),
    (["--lspci", E810, "--policy", "nope"], "unknown"),
    (["--lspci", E810, "--cpu", "neoverse-n1", "--fwb"], "does not implement FEAT_S2FWB"),
    (["--lspci", E810, "--ipa-bits", "60"], "--ipa-bits=60: out of range"),
    (["--lspci", E810, "--fwb", "--no-fwb"], "conflicting flags"),
    (["--lspci", E810, "--emit-scenario", "/no/such/dir/x.toml"], "cannot write"),
    (["--live", "--root", "/no/such/tree"], "not a directory"),
    (["--live", "--root", str(HOSTS / "arm64_6.12_n1_written"), "--ipa-bits", "52"],
     "beyond the host's IPA size limit of 48 bits"),
])
def test_argument_errors(argv: list[str], want: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Each misuse is one line naming the argument."""
    assert want in one_error(capsys, "host", *argv)


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


@pytest.mark.parametrize("data, want", [
    (b"01:00.0 Ethernet controller: A\n\tRegion 9: Memory at 1000 (64-bit, prefetchable)\n",
     "bad.txt:2: Region 9: a function has BARs 0-5 only"),
    (b"01:00.0 Ethernet controller: A\n\tRegion 0: Memory at 900000", "bad.txt:2: BAR line not"),
    (b"\x7fELF\x02\x01\x01\x00\x00\x00", "bad.txt:1: binary data (NUL byte)"),
    (b"01:00.0 Eth: \xff\xfe\n", "bad.txt:1: not UTF-8 text"),
    (b"nothing here\n", "bad.txt: no lspci device line"),
    (b"x" * 20_000 + b"\n", "bad.txt:1: line is 20000 characters long"),
])
def test_corrupt_lspci(tmp_path: Path, data: bytes, want: str,
                       capsys: pytest.CaptureFixture[str]) -> None:
    """Corrupt, truncated, binary and overlong listings: one file:line: error, exit 2."""
    path = _file(tmp_path, "bad.txt", data)
    assert want in one_error(capsys, "host", "--lspci", path)


@pytest.mark.parametrize("data, want", [
    (b"0x1000 0x0fff 0x200\n", "res.txt:1: end 0xfff is below start 0x1000"),
    (b"0x1000 0x1fff\n", "res.txt:1: not a resource line"),
    (b"\x00\x00", "res.txt:1: binary data"),
    (b"", "res.txt: no resource lines"),
])
def test_corrupt_resource(tmp_path: Path, data: bytes, want: str,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """A resource file that is not one: file:line: and exit 2."""
    path = _file(tmp_path, "res.txt", data)
    assert want in one_error(capsys, "host", "--lspci", E810, "--resource", path)


def test_huge_and_special_files(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """A file over the bound, a FIFO and a directory are refused before they are read."""
    monkeypatch.setenv("MEMATTR_MAX_INPUT", "1K")
    big = _file(tmp_path, "big.txt", b"a" * 2048)
    assert "too large" in one_error(capsys, "host", "--lspci", big)
    monkeypatch.delenv("MEMATTR_MAX_INPUT")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert "a FIFO" in one_error(capsys, "host", "--lspci", str(fifo))
    assert "a directory" in one_error(capsys, "host", "--lspci", str(tmp_path))
    gz = _file(tmp_path, "l.gz", gzip.compress(b"01:00.0 x: y\n"))
    assert "l.gz:" in one_error(capsys, "host", "--lspci", gz)


def test_stdin_once(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                    monkeypatch: pytest.MonkeyPatch) -> None:
    """'-' reads standard input once; a second '-' is refused."""
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(Path(E810).read_bytes())))
    status, out, _ = run(capsys, "host", "--lspci", "-", "--policy", "6.9")
    assert status == 0 and "<stdin>" in out
    assert "already read" in one_error(capsys, "host", "--lspci", "-", "--resource", "-")

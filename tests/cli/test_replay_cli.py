"""``memattr replay``: a trace through a scenario as text and JSON, --fail-on, --generate, and
bad traces as one-line errors (exit 2)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from memattr import cli

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def _trace(tmp_path: Path, text: str, name: str = "t.csv") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_replay_counts_and_first_offenders(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    """The table has one column per policy and FWB setting; the offender names file:line."""
    path = _trace(tmp_path, "addr,size,kind\nwc+0x0,8,write\nwc+0x4,8,write,2,17.5\n")
    status, out, err = run(capsys, "replay", "vfio-pci-bar", path, "--color", "never")
    assert status == 0 and err == ""
    assert "2 accesses in 3 lines" in out
    head = next(line for line in out.splitlines() if line.strip().startswith("outcome"))
    assert head.split()[1:] == ["6.8", "no", "FWB", "6.8", "FWB", "6.9", "no", "FWB", "6.9", "FWB"]
    row = next(line for line in out.splitlines() if "alignment fault at stage 2" in line)
    assert row.split()[-4:] == ["1", "1", "-", "-"]
    assert f"{path}:3: wc+0x4: 8-byte write (cpu 2, t 17.5)" in out
    assert "6.8 no FWB, 6.8 FWB: alignment fault at stage 2 (EL2): KVM_RUN -EFAULT" in out


def test_replay_json_and_fail_on(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--json is one document; --fail-on fault exits 1 only when an access faults."""
    bad = _trace(tmp_path, "wc+0x4,8,write\n")
    good = _trace(tmp_path, "wc+0x8,8,write\n", "g.csv")
    status, out, _ = run(capsys, "replay", "vfio-pci-bar", bad, "--json", "--fail-on", "fault")
    assert status == 1
    doc = json.loads(out)
    assert doc["schema"] == "memattr.trace/1" and doc["accesses"] == 1
    r68 = next(r for r in doc["results"] if r["policy"] == "6.8" and not r["fwb"])
    assert r68["faults"] == 1
    assert doc["first_offending"][0]["line"] == 1
    assert run(capsys, "replay", "vfio-pci-bar", good, "--fail-on", "fault")[0] == 0
    # The 6.8 stage-2 alignment fault is also the review's unaligned-fault hazard; 6.9 has neither.
    assert run(capsys, "replay", "vfio-pci-bar", bad, "--fail-on", "hazard")[0] == 1
    assert run(capsys, "replay", "vfio-pci-bar", bad, "--policy", "6.9", "--fail-on",
               "hazard")[0] == 0
    assert run(capsys, "replay", "vfio-pci-bar", bad, "--policy", "6.9", "--fail-on",
               "fault")[0] == 0


def test_replay_reads_gzip_and_stdin(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A gzip trace (told by its magic) and standard input give the same counts."""
    import io
    import sys

    text = b"wc+0x4,8,write\n0x1000001000,4,read\n"
    gz = tmp_path / "t.bin"
    gz.write_bytes(gzip.compress(text))
    _, a, _ = run(capsys, "replay", "vfio-pci-bar", str(gz), "--json")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    _, b, _ = run(capsys, "replay", "vfio-pci-bar", "-", "--json")
    da, db = json.loads(a), json.loads(b)
    assert da["results"] == db["results"] and da["accesses"] == 2


@pytest.mark.parametrize("text, message", [
    ("wc+0x0,8,write\n0x10,8,wrote\n", ":2: kind: 'wrote' is not an access kind"),
    ("wc+0x0,8,write\n\x1b[2J,8,write\n", r":2: addr: '\x1b[2J' is not a 64-bit address"),
])
def test_bad_lines_exit_2(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
                          message: str) -> None:
    """A bad line is one escaped error line naming file and line; nothing on stdout."""
    path = _trace(tmp_path, text)
    status, out, err = run(capsys, "replay", "vfio-pci-bar", path)
    assert status == 2 and out == ""
    assert err.startswith(f"memattr: error: {path}{message}") and err.count("\n") == 1
    assert "\x1b" not in err


def test_generate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--generate writes COUNT accesses (gzip for .gz); it refuses a TRACE next to it."""
    out_path = tmp_path / "ring.csv.gz"
    status, out, _ = run(capsys, "replay", "demo", "--generate", "ring", "--count", "100",
                         "-o", str(out_path), "--seed", "5")
    assert status == 0 and "wrote 100 accesses (ring)" in out
    lines = gzip.decompress(out_path.read_bytes()).decode().splitlines()
    assert lines[0] == "addr,size,kind,cpu,time" and len(lines) == 101
    status, out, _ = run(capsys, "replay", "demo", str(out_path), "--json")
    assert status == 0 and json.loads(out)["accesses"] == 100
    status, out, _ = run(capsys, "replay", "demo", "--generate", "memcpy", "--count", "3",
                         "--format", "jsonl")
    assert status == 0 and len(out.splitlines()) == 3 and json.loads(out.splitlines()[0])
    status, _, err = run(capsys, "replay", "demo", str(out_path), "--generate", "ring")
    assert status == 2 and "TRACE=given with --generate" in err
    status, _, err = run(capsys, "replay", "demo")
    assert status == 2 and "TRACE=(missing)" in err


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_generate_to_a_full_disk_is_one_error_line(capsys: pytest.CaptureFixture[str]) -> None:
    """Writing the generated trace to a full device (the error surfaces when the file is closed
    and flushed) is one line and exit 2, not a traceback."""
    status, out, err = run(capsys, "replay", "vfio-pci-bar", "--generate", "ring", "--count",
                           "10", "-o", "/dev/full")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "-o /dev/full: cannot write: No space left on device" in err

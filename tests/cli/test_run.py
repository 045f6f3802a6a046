"""``memattr run``: a scenario file under several policies, as text and JSON; bad files exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memattr import cli
from memattr.analysis.scenario import bundled_path

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_run_compares_several_policies(capsys: pytest.CaptureFixture[str]) -> None:
    """--policy repeated replaces the file's policies; differing cells carry a '*'."""
    status, out, _ = run(capsys, "run", str(bundled_path("vfio-pci-bar")), "--policy", "6.8",
                         "--policy", "6.9", "--policy", "v2", "--color", "never")
    assert status == 0
    table = out.split("\n\n")[1]
    assert "6.8" in table and "6.9" in table and "v2" in table
    wc = next(line for line in table.splitlines() if line.strip().startswith("wc "))
    assert "Device-nGnRE" in wc and "*Normal-NC" in wc
    assert "\x1b[" not in out


def test_run_fwb_flags(capsys: pytest.CaptureFixture[str]) -> None:
    """--fwb / --no-fwb pick one host; giving both is a one-line error."""
    status, out, _ = run(capsys, "run", "gating", "--fwb", "--brief", "--color", "never")
    assert status == 0 and "FWB: on;" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("ram-nc"))
    assert line.split()[1:] == ["Normal-NC", "Normal-WB"] + ["Normal-WB"] * 4
    status, out, _ = run(capsys, "run", "gating", "--no-fwb", "--brief", "--color", "never")
    line = next(x for x in out.splitlines() if x.strip().startswith("ram-nc"))
    assert line.split()[1:] == ["Normal-NC", "Normal-WB"] + ["Normal-NC"] * 4
    status, _, err = run(capsys, "run", "gating", "--fwb", "--no-fwb")
    assert status == 2 and err.startswith("memattr: error: FWB=--fwb --no-fwb")


def test_run_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one document: results with S1, S2, effective, events, and the comparison."""
    status, out, _ = run(capsys, "run", "vfio-pci-bar", "--policy", "6.8", "--policy", "6.9",
                         "--json")
    assert status == 0
    doc = json.loads(out)
    assert doc["schema"] == "memattr.replay/1"
    assert [p["name"] for p in doc["policies"]] == ["6.8", "6.9"]
    r = next(x for x in doc["results"] if x["mapping"] == "wc" and x["policy"] == "6.9")
    assert r["s2_memattr"] == 0b0101
    assert r["effective"]["type"] == "Normal" and r["answer"] == "Normal-NC"
    assert r["vmm_s1"]["device"] == "nGnRnE"
    assert any(e["kind"] == "mapping_created" for e in r["events"])
    row = doc["comparison"]["rows"][0]
    assert [c["differs"] for c in row["cells"]] == [False, True]


def test_run_details_show_events_and_accesses(capsys: pytest.CaptureFixture[str]) -> None:
    """The detailed text shows access outcomes and errno events."""
    status, out, _ = run(capsys, "run", "exec", "--color", "never")
    assert status == 0
    assert "prefetch abort injected into the guest (-ENOEXEC)" in out
    status, out, _ = run(capsys, "run", "unaligned", "--color", "never")
    assert "alignment fault at stage 2 (EL2): KVM_RUN -EFAULT" in out


def test_run_color_always(capsys: pytest.CaptureFixture[str]) -> None:
    """--color always adds ANSI highlighting to differing cells."""
    status, out, _ = run(capsys, "run", "vfio-pci-bar", "--brief", "--color", "always")
    assert status == 0 and "\x1b[1;33m*Normal-NC" in out


def test_bad_file_is_one_line_with_file_line_key(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A schema error prints 'memattr: error: FILE:LINE: KEY: why' and exits 2."""
    p = tmp_path / "bad.toml"
    p.write_text('policies = ["6.9"]\n\n[[vmm_mapping]]\nname = "x"\nsource = "vfio-pcie"\n')
    status, out, err = run(capsys, "run", str(p))
    assert status == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"memattr: error: {p}:5: vmm_mapping[0].source: 'vfio-pcie' is not a "
                          "mapping source")


def test_unknown_policy_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    """An unknown --policy is a one-line error listing the known ones."""
    status, _, err = run(capsys, "run", "demo", "--policy", "6.x")
    assert status == 2 and "policy '6.x': unknown" in err


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    """A path that does not exist is a one-line error."""
    status, _, err = run(capsys, "run", "/no/such/file.toml")
    assert status == 2 and "cannot read scenario file" in err
    status, _, err = run(capsys, "run", "no-such-bundled")
    assert status == 2 and "no bundled scenario" in err


def test_run_shows_the_leaf_size(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The mapping line names the stage-2 leaf as written: a 2 MiB-aligned 16 MiB vfio-pci BAR
    is one 2 MiB block at level 2 under 6.12 and 4 KiB pages under 6.1; JSON carries it too."""
    text = Path(bundled_path("reset-revoke")).read_text(encoding="utf-8").replace('"1M"', '"16M"')
    path = tmp_path / "sizes.toml"
    path.write_text(text, encoding="utf-8")
    status, out, _ = run(capsys, "run", str(path), "--policy", "6.1", "--policy", "6.12",
                         "--color", "never")
    assert status == 0
    lines = [x for x in out.splitlines() if "stage-2 mapping created" in x]
    assert any(x.strip().startswith("6.12:") and "2 MiB block at level 2" in x for x in lines)
    assert any(x.strip().startswith("6.1:") and "4 KiB page at level 3" in x for x in lines)
    status, out, _ = run(capsys, "run", str(path), "--policy", "6.12", "--json")
    r = json.loads(out)["results"][0]
    assert (r["s2_leaf"]["size"], r["s2_leaf"]["level"], r["s2_leaf"]["block"]) == \
        (0x20_0000, 2, True)

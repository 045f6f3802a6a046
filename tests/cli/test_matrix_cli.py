"""``memattr matrix`` and ``--policy-file``: formats, filters, the CI gate, bad names exit 2."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from memattr import cli
from memattr.analysis.policyfile import named_policy_files
from memattr.analysis.scenario import bundled_path

Run = tuple[int, str, str]
NARROW = ("--policy", "6.8", "--policy", "6.9", "--device", "pcie-bar", "--guest", "ioremap_wc",
          "--access", "str8-unaligned")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_text(capsys: pytest.CaptureFixture[str]) -> None:
    """Text: the verdict grid, why, the hazards, the rows; --summary drops the rows."""
    status, out, err = run(capsys, "matrix", *NARROW)
    assert status == 0 and err == ""
    assert out.startswith("memattr matrix: 2 policies x 1 device classes")
    assert "alignment fault at stage 2; KVM_RUN -EFAULT (Unsupported FSC) [unaligned-fault]" in out
    assert "unaligned-fault: unaligned (docs/review.md#unaligned-accesses-and-axi)" in out
    status, short, _ = run(capsys, "matrix", *NARROW, "--summary")
    assert status == 0 and "Rows:" not in short and "Verdict per policy" in short


def test_json_csv_html(capsys: pytest.CaptureFixture[str]) -> None:
    """JSON has the documented keys, CSV one line per row, HTML one self-contained page."""
    status, out, _ = run(capsys, "matrix", *NARROW, "--format", "json")
    doc = json.loads(out)
    assert status == 0 and set(doc) >= {"dimensions", "rows", "verdicts", "hazards"}
    assert len(doc["rows"]) == 2 * 3 * 2
    status, out, _ = run(capsys, "matrix", *NARROW, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and len(rows) == 12 and rows[0]["policy"] == "6.8"
    assert {r["hazards"] for r in rows if r["policy"] == "6.8"} == {"unaligned-fault"}
    status, out, _ = run(capsys, "matrix", *NARROW, "--format", "html")
    assert status == 0 and out.startswith("<!DOCTYPE html>") and "<script" not in out


def test_fail_on_hazard(capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-on hazard exits 1 when some verdict is not ok, 0 when all are."""
    status, _, _ = run(capsys, "matrix", *NARROW, "--format", "json", "--fail-on", "hazard")
    assert status == 1
    status, _, _ = run(capsys, "matrix", "--device", "ram", "--summary", "--fail-on", "hazard")
    assert status == 0


@pytest.mark.parametrize(("argv", "what"), [
    (("--device", "pci"), "device='pci': unknown"),
    (("--policy", "6.10x"), "policy '6.10x': unknown"),
    (("--access", "stp17"), "access='stp17': unknown"),
    (("--fwb", "--no-fwb"), "conflicting flags"),
    (("--engine", "scalar"), "engine=scalar"),
    (("--policy-file", "/nonexistent/p.toml"), "p.toml"),
])
def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str], argv: tuple[str, ...],
                               what: str) -> None:
    """Unknown names and impossible requests: exit 2, one line, nothing on stdout."""
    status, out, err = run(capsys, "matrix", *argv)
    assert status == 2 and out == "" and err.count("\n") == 1 and what in err, err


def test_policy_file_in_matrix(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """--policy-file adds a rules policy; a name a built-in has becomes NAME@FILE, and the shipped
    6.9 rules give 6.9's rows."""
    status, out, _ = run(capsys, "matrix", "--policy", "6.9", "--policy-file",
                         named_policy_files()["6.9"], "--device", "pcie-bar", "--format", "json")
    doc = json.loads(out)
    assert status == 0 and doc["dimensions"]["policy"] == ["6.9", "6.9@6.9.toml"]
    a = [r for r in doc["rows"] if r["policy"] == "6.9"]
    b = [r for r in doc["rows"] if r["policy"] == "6.9@6.9.toml"]
    assert [dict(r, policy="") for r in a] == [dict(r, policy="") for r in b]
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nrelease = "6.9"\n[[rule]]\nwhen = { fwb = true }\n'
                   's2 = "DEVICE"\n')
    status, out, err = run(capsys, "matrix", "--policy-file", str(bad))
    assert status == 2 and "bad.toml:4: rule[0].when: the last rule has conditions" in err


def test_policy_file_in_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """memattr run --policy-file compares a rules policy with the file's (or --policy's)."""
    f = tmp_path / "all-nc.toml"
    f.write_text('name = "all-nc"\nrelease = "6.9"\n[[rule]]\nwhen = { linear_map = true }\n'
                 's2 = "NORMAL"\n[[rule]]\ns2 = "NORMAL_NC"\n')
    status, out, _ = run(capsys, "run", str(bundled_path("gating")), "--policy", "6.9",
                         "--policy-file", str(f), "--json")
    doc = json.loads(out)
    assert status == 0 and [p["name"] for p in doc["policies"]] == ["6.9", "all-nc"]
    cells = {(r["mapping"], r["policy"], r["fwb"]): r["answer"] for r in doc["results"]}
    assert cells[("platform-wc", "6.9", True)] == "Device-nGnRE"
    assert cells[("platform-wc", "all-nc", True)] == "Normal-NC"

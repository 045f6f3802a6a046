"""Fuzz targets: every generated input ends in exit 0 or 2, no traceback, escaped output, valid
JSON, within time and memory bounds (see harness.py).  Short and derandomised under ``make test``;
long and random under ``make fuzz``."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.interop.strategies import lspci_texts, ptdump_texts, resource_texts
from tests.interop.strategies import mutated as mutated_text

from .harness import call, fuzz_settings
from .inputs import argvs, log_lines, policy_texts, scenario_texts, walk_texts

_DIR = Path(tempfile.mkdtemp(prefix="memattr-fuzz-"))


def _file(text: str, name: str) -> str:
    path = _DIR / name
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return str(path)


_RUN_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--brief"], ["--color", "always"], ["--color", "never"], ["--fwb"], ["--no-fwb"],
    ["--policy", "6.8"], ["--policy", "6.17"], ["--policy", "nope"],
]), max_size=3).map(lambda opts: [x for o in opts for x in o])


@fuzz_settings(1600)
@given(scenario_texts, _RUN_OPTIONS, st.booleans())
def test_scenario_files(text: str, options: list[str], stdin: bool) -> None:
    """`memattr run` on generated scenario files (from a file or standard input)."""
    if stdin:
        o = call(["run", "-", *options], stdin=text.encode("utf-8", "surrogatepass"))
        name = "<stdin>"
    else:
        o = call(["run", _file(text, "s.toml"), *options])
        name = "s.toml"
    assert o.err.count(name) <= 1, o.err  # a location is given once


_WALK_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--dump", "s1"], ["--dump", "kvm"], ["--dump", "memattr"], ["--va", "0x401234"],
    ["--va", "0x800004", "--access", "write"], ["--va", "0x1" + "0" * 20],
]), max_size=2).map(lambda opts: [x for o in opts for x in o])


_AT_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--op", "S1E1R"], ["--op", "S12E0W"], ["--from-el", "1"], ["--cpu", "neoverse-n1"],
]), max_size=2).map(lambda opts: [x for o in opts for x in o])


@fuzz_settings(1000)
@given(walk_texts, _WALK_OPTIONS)
def test_walk_files(text: str, options: list[str]) -> None:
    """`memattr walk` on generated walk files (both forms)."""
    o = call(["walk", _file(text, "w.toml"), *options])
    assert o.err.count("w.toml:") <= 1, o.err  # a location is given once


@fuzz_settings(300)
@given(walk_texts, st.sampled_from(["0x401234", "0x800004", "0x900000", "0x1008", "0"]),
       _AT_OPTIONS)
def test_at_on_walk_files(text: str, va: str, options: list[str]) -> None:
    """`memattr at` on generated walk files: the same reader, PAR_EL1 or one error line."""
    o = call(["at", _file(text, "a.toml"), "--va", va, *options])
    assert o.err.count("a.toml:") <= 1, o.err


@fuzz_settings(1200)
@given(log_lines(), st.booleans())
def test_log_lines(line_and_value: tuple[str, int | None], as_json: bool) -> None:
    """`memattr explain` on dmesg lines and values; a valid ESR token is read as written."""
    line, value = line_and_value
    o = call(["explain", line, "--json"] if as_json else ["explain", line])
    if value is not None and "\n" not in line:
        assert o.status == 0, o
        if as_json:
            import json

            assert json.loads(o.out)["esr"] == value


@fuzz_settings(300)
@given(policy_texts, st.sampled_from(["matrix", "run"]), st.booleans())
def test_policy_files(text: str, command: str, stdin: bool) -> None:
    """`memattr matrix --policy-file` and `memattr run --policy-file` on generated policy files
    (a narrow matrix: one device, guest and access, so that each call is quick)."""
    path = "-" if stdin else _file(text, "p.toml")
    feed = text.encode("utf-8", "surrogatepass") if stdin else b""
    if command == "matrix":
        o = call(["matrix", "--policy-file", path, "--device", "pcie-bar", "--guest",
                  "ioremap_wc", "--access", "str8-unaligned", "--format", "json"], stdin=feed)
        if o.status == 0:
            import json

            assert json.loads(o.out)["rows"]
    else:
        o = call(["run", "gating", "--policy-file", path, "--brief", "--color", "never"],
                 stdin=feed)
    assert o.err.count("p.toml") <= 1, o.err


COMMANDS = {"decode": 600, "combine": 600, "table": 80, "explain": 400, "run": 300, "demo": 50,
            "walk": 300, "at": 150, "host": 120, "diff": 150, "matrix": 10}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_argument_vectors(command: str) -> None:
    """Every command under argument vectors drawn from its own parser."""

    @fuzz_settings(COMMANDS[command])
    @given(argvs(command))
    def one(argv: list[str]) -> None:
        call(argv)

    one()


_OUTPUT = [["table", "--s1", "0x44"], ["decode", "mair", "0x44"], ["run", "exec", "--json"],
           ["explain", "0x92000061"], ["walk", "--example"], ["demo"], ["table", "--s2", "zz"]]


@pytest.mark.parametrize("argv", _OUTPUT, ids=[" ".join(a) for a in _OUTPUT])
def test_outputs_that_cannot_be_written(argv: list[str]) -> None:
    """In a child process: a full disk is exit 2 with one line; a closed stdout exit 2."""
    cmd = [sys.executable, "-m", "memattr.cli", *argv]
    with open("/dev/full", "wb") as full:
        done = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 2 and done.stderr.count(b"\n") == 1, done.stderr
    assert done.stderr.startswith(b"memattr: error: ")
    closed = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60,
                            preexec_fn=lambda: os.close(1))
    assert closed.returncode == 2 and b"Traceback" not in closed.stderr


# --- the artefact commands: generated lspci, resource and page-table dump files, live trees ------

_DATA = Path(__file__).resolve().parents[1] / "data"
_HOST_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--policy", "6.9"], ["--kernel", "6.12"], ["--fwb"], ["--no-fwb"],
    ["--page-size", "64K"], ["--ipa-bits", "36"], ["--fail-on", "hazard"], ["--cpu", "neoverse-n1"],
]), max_size=3).map(lambda opts: [x for o in opts for x in o])


@fuzz_settings(150)
@given(st.one_of(lspci_texts(), mutated_text((_DATA / "lspci_vv_intel_x550_pf_sriov_ixgbe.txt")
                                             .read_text())),
       st.one_of(st.none(), resource_texts(),
                 mutated_text((_DATA / "sysfs_resource_intel_x550_pf_and_vf.txt").read_text())),
       _HOST_OPTIONS)
def test_lspci_files(lspci: str, resource: str | None, options: list[str]) -> None:
    """`memattr host` on generated lspci listings and resource files."""
    argv = ["host", "--lspci", _file(lspci, "lspci.txt"), *options]
    if resource is not None:
        argv += ["--resource", _file(resource, "resource")]
    call(argv)


_DIFF_OTHER = st.sampled_from([[str(_DATA / "kvm_stage2_xnx_4k_40bit_written.txt")],
                               [str(_DATA / "ptdump_arm64_16k_47bit_written.txt")],
                               ["--scenario", "demo"], ["--scenario", "vfio-pci-bar", "--policy",
                                                        "6.8", "--policy", "6.9"]])
_DIFF_OPTIONS = st.lists(st.sampled_from([
    ["--json"], ["--kvm-dialect", "v6.11"], ["--granule", "4K"], ["--va-bits", "40"],
    ["--fail-on", "diff"], ["--touch", "scenario"], ["--limit", "3"], ["--budget", "50"],
]), max_size=3).map(lambda opts: [x for o in opts for x in o])


@fuzz_settings(200)
@given(st.one_of(ptdump_texts(), mutated_text((_DATA / "kvm_stage2_v6.11_4k_40bit_written.txt")
                                              .read_text())),
       _DIFF_OTHER, _DIFF_OPTIONS)
def test_dump_files(dump: str, other: list[str], options: list[str]) -> None:
    """`memattr diff` on generated page-table dumps, against a dump or the model."""
    call(["diff", _file(dump, "dump.txt"), *other, *options])


_TREE_FILES = {
    "proc/sys/kernel/osrelease": st.sampled_from(["6.12.1\n", "5.4\n", "x\n", "6.9\x1b[2J\n"]),
    "proc/cpuinfo": st.one_of(st.text(max_size=80), st.just(
        "Features\t: fp mte\nCPU implementer\t: 0x41\nCPU part\t: 0xd4f\n")),
    "proc/iomem": st.one_of(st.text(max_size=60), st.just("00000000-0fffffff : System RAM\n")),
    "var/log/kern.log": st.sampled_from(["CPU features: detected: Stage-2 Force Write-Back\n", ""]),
    "sys/bus/pci/devices/0000:01:00.0/resource": st.one_of(resource_texts(), st.text(max_size=40)),
    "sys/bus/pci/devices/0000:01:00.0/class": st.sampled_from(["0x020000\n", "zz", "0x" + "f" * 90]),
    "sys/bus/pci/devices/0000:01:00.0/sriov_totalvfs": st.sampled_from(["64\n", "0\n", "-1"]),
    "sys/kernel/debug/kvm/1-2/stage2_page_tables": ptdump_texts(),
    "sys/kernel/debug/kvm/1-2/ipa_range": st.sampled_from(["40\n", "99\n", ""]),
}


@fuzz_settings(80)
@given(st.fixed_dictionaries({}, optional=_TREE_FILES), st.booleans())
def test_live_trees(files: dict[str, str], as_json: bool) -> None:
    """`memattr host --live --root` on generated trees."""
    import shutil

    root = _DIR / "tree"
    shutil.rmtree(root, ignore_errors=True)
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
    root.mkdir(exist_ok=True)
    scenario = str(_DATA / "hosts" / "arm64_6.12_n1_written.vm-4242-15.toml")
    call(["host", "--live", "--root", str(root), "--scenario", scenario,
          *(["--json"] if as_json else [])])

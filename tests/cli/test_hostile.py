"""Hostile input (issue 9): each defect found by fuzzing, as the command line meets it.

Every case ends in exit status 0 or 2 with at most one error line, never a traceback, and
nothing from the input reaches the terminal unescaped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from memattr import cli
from memattr.analysis.scenario import bundled_path

Run = tuple[int, str, str]

PCIE_NO_BAR = 'policies = ["6.9"]\n[[device]]\nname = "x"\nkind = "pcie"\n'

GOOD = """\
policies = ["6.9"]

[[device]]
name = "nic"
kind = "pcie"

[[device.bar]]
base = 0x80_0000_0000
size = "64K"

[[vmm_mapping]]
name = "bar0"
source = "vfio-pci"
device = "nic"
{vmm}
[[memslot]]
mapping = "bar0"
ipa = {ipa}

[[guest_mapping]]
name = {name}
target = "bar0"
offset = {offset}
api = "ioremap_wc"
"""


def good(vmm: str = "", ipa: str = "0x10_0000_0000", name: str = '"wc"', offset: str = "0") -> str:
    return GOOD.format(vmm=vmm, ipa=ipa, name=name, offset=offset)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def one_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command that must fail: exit 2, nothing on stdout, one line on stderr."""
    status, out, err = run(capsys, *argv)
    assert status == 2, (out, err)
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("memattr: error: "), err
    assert "\x1b" not in err
    return err.strip()


def write(tmp_path: Path, text: str, name: str = "s.toml") -> str:
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def cli_process(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[bytes]:
    """memattr in a child process (for real file descriptors), bounded by a timeout."""
    env = dict(os.environ, LC_ALL="C.UTF-8", PYTHONIOENCODING="")
    streams = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **kwargs}
    return subprocess.run([sys.executable, "-m", "memattr.cli", *argv], timeout=60, env=env,
                          **streams)  # type: ignore[call-overload]


def test_pcie_device_without_bar_replays(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A [[device]] of kind pcie with no BAR is a device with no window, not a ValueError."""
    status, out, err = run(capsys, "run", write(tmp_path, PCIE_NO_BAR), "--color", "never")
    assert status == 0 and err == "" and "scenario s" in out


@pytest.mark.parametrize("command", ["run", "walk"])
def test_deep_nesting_is_refused_before_tomllib(command: str, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """An array nested 500 deep is a one-line error at its line, not a RecursionError."""
    path = write(tmp_path, "a = " + "[" * 500 + "]" * 500 + "\n")
    err = one_error(capsys, command, path)
    assert f"{path}:1: a[0]" in err and "nested more than 32 deep (expected at most 32)" in err


@pytest.mark.parametrize("command", ["run", "walk"])
def test_dotted_key_of_20000_parts(command: str, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A 40 KB file with one dotted key of 20,000 parts is refused by the pre-scan."""
    path = write(tmp_path, "a" + ".a" * 20_000 + " = 1\n")
    err = one_error(capsys, command, path)
    assert "a key of more than 16 dotted parts (expected at most 16)" in err
    assert len(err) < 300


@pytest.mark.parametrize("command", ["run", "walk"])
def test_300_character_file_name(command: str, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A file name longer than NAME_MAX is an error naming it (shortened), not an OSError."""
    err = one_error(capsys, command, str(tmp_path / ("a" * 300 + ".toml")))
    assert "File name too long" in err and "..." in err and len(err) < 400


def test_non_utf8_file_name_is_shown_escaped(tmp_path: Path) -> None:
    """A file name that is not UTF-8, in a UTF-8 locale: the report shows its bytes escaped."""
    name = os.fsencode(tmp_path) + b"/n\xff\x1b[2J.toml"
    with open(name, "wb") as fh:
        fh.write(bundled_path("vfio-pci-bar").read_bytes())
    done = cli_process("run", os.fsdecode(name), "--brief", "--color", "never")
    assert done.returncode == 0 and done.stderr == b""
    assert b"n\\xff\\x1b[2J.toml" in done.stdout and b"\x1b" not in done.stdout
    from memattr.analysis.walkfile import example_path

    walk_name = os.fsencode(tmp_path) + b"/w\xfe.toml"
    with open(walk_name, "wb") as fh:
        fh.write(Path(example_path()).read_bytes())
    walked = cli_process("walk", os.fsdecode(walk_name))
    assert walked.returncode == 0 and walked.stderr == b""
    missing = cli_process("walk", os.fsdecode(name + b"x"))
    assert missing.returncode == 2 and b"Traceback" not in missing.stderr
    assert b"n\\xff\\x1b[2J.tomlx" in missing.stderr


@pytest.mark.parametrize("argv", [["table"], ["table", "--json"], ["demo"],
                                  ["run", "vfio-pci-bar"]])
def test_output_to_a_full_disk(argv: list[str]) -> None:
    """Output to /dev/full is one error line and exit status 2."""
    with open("/dev/full", "wb") as full:
        done = cli_process(*argv, stdout=full)
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "memattr: error: cannot write the output: No space left on device (expected a writable "
        "standard output)"]


def test_closed_stdout_and_broken_pipe() -> None:
    """A closed stdout is exit 2 with one line; a reader that goes away is exit 0, quietly."""
    done = subprocess.run([sys.executable, "-c", "import os, sys; os.close(1); from memattr.cli "
                           "import main; sys.exit(main(['table']))"], capture_output=False,
                          stderr=subprocess.PIPE, timeout=60)
    assert done.returncode == 2 and b"Traceback" not in done.stderr
    assert b"standard output is closed" in done.stderr or b"cannot write" in done.stderr
    head = subprocess.run(f"{sys.executable} -m memattr.cli table | head -1", shell=True,
                          capture_output=True, timeout=60)
    assert head.stderr == b"" and head.stdout.startswith(b"FWB")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
@pytest.mark.parametrize("command", ["run", "walk"])
def test_fifo_is_refused_without_blocking(command: str, tmp_path: Path) -> None:
    """A FIFO as the input file is refused at once (nobody ever writes to it)."""
    fifo = tmp_path / "f.toml"
    os.mkfifo(fifo)
    done = cli_process(command, str(fifo))
    assert done.returncode == 2
    assert done.stderr.decode().strip() == (f"memattr: error: {fifo}: a FIFO (expected a regular "
                                            "file, or '-' for standard input)")


@pytest.mark.parametrize("command", ["run", "walk"])
def test_dev_zero_is_refused(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    """/dev/zero is a character device, refused before a byte is read."""
    err = one_error(capsys, command, "/dev/zero")
    assert err == ("memattr: error: /dev/zero: a character device (expected a regular file, or "
                   "'-' for standard input)")


def test_too_large_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A file beyond MEMATTR_MAX_INPUT is refused with the bound and how to raise it."""
    path = write(tmp_path, "# " + "x" * 5000 + "\n" + PCIE_NO_BAR)
    monkeypatch.setenv("MEMATTR_MAX_INPUT", "4K")
    err = one_error(capsys, "run", path)
    assert "too large" in err and "at most 4 KiB; set MEMATTR_MAX_INPUT" in err
    monkeypatch.setenv("MEMATTR_MAX_INPUT", "lots")
    assert "MEMATTR_MAX_INPUT='lots': not a size" in one_error(capsys, "run", path)


def test_scenario_from_standard_input(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """FILE '-' reads the scenario from standard input (bounded like a file)."""
    import io

    stdin = io.TextIOWrapper(io.BytesIO(PCIE_NO_BAR.encode()))
    monkeypatch.setattr(sys, "stdin", stdin)
    status, out, _ = run(capsys, "run", "-", "--json")
    assert status == 0 and json.loads(out)["scenario"]["path"] == "-"


def test_num_vfs_is_16_bits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """num_vfs = 10000000 is refused: SR-IOV NumVFs is a 16-bit field."""
    text = PCIE_NO_BAR + "num_vfs = 10000000\n"
    err = one_error(capsys, "run", write(tmp_path, text))
    assert err.startswith(f"memattr: error: {tmp_path}/s.toml:5: device[0].num_vfs: 10000000 is "
                          "out of range (expected a number of VFs 0..65535")


@pytest.mark.parametrize(("change", "key", "why"), [
    ({"offset": str(1 << 64)}, "guest_mapping[0].offset", "does not fit in 64 bits"),
    ({"offset": hex(1 << 52)}, "guest_mapping[0].offset", "ends beyond the 52-bit intermediate"),
    ({"ipa": str(1 << 64)}, "memslot[0].ipa", "does not fit in 64 bits"),
    ({"ipa": hex((1 << 52) - 0x1000)}, "memslot[0].ipa", "ends beyond the 52-bit intermediate"),
])
def test_addresses_are_checked_against_their_width(change: dict[str, str], key: str, why: str,
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Guest offsets and memslot IPAs of 2**64 or beyond PAMax are errors, not 65-bit JSON."""
    err = one_error(capsys, "run", write(tmp_path, good(**change)))
    assert f": {key}: " in err and why in err


def test_explain_capital_x_inside_a_line(capsys: pytest.CaptureFixture[str]) -> None:
    """'ESR_EL2=0X92000061' is the ESR 0x92000061, not 0."""
    status, out, _ = run(capsys, "explain", "kvm: Unsupported FSC: EC=0x24 ESR_EL2=0X92000061")
    assert status == 0 and "ESR_EL2=0x92000061: EC=0x24 (DABT_LOW" in out  # issue 11: per report
    assert "ESR_EL2='ESR_EL2=0x92zz'" not in one_error(capsys, "explain", "ESR_EL2=0x92zz")
    assert "64 bits" in one_error(capsys, "explain", "0x1" + "0" * 16)


def test_terminal_escapes_never_reach_the_terminal(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A scenario named "\\u001b[2J" does not clear the screen: names are shown escaped."""
    text = 'name = "\\u001b[2J"\ndescription = "\\u009b31m \\u202e"\n' + good(name='"\\u0007x"')
    status, out, _ = run(capsys, "run", write(tmp_path, text), "--color", "never")
    assert status == 0
    assert not any(c in out for c in "\x1b\x9b\x07\u202e")
    assert "scenario \\x1b[2J" in out and "\\x9b31m \\u202e" in out and "\\x07x" in out
    status, out, _ = run(capsys, "run", write(tmp_path, text), "--json")
    doc = json.loads(out)  # JSON keeps the exact strings
    assert doc["scenario"]["name"] == "\x1b[2J" and doc["results"][0]["mapping"] == "\x07x"
    err = one_error(capsys, "run", write(tmp_path, good(name='"\\u001b]0;pwned\\u0007"')
                                         + '[[access]]\nmapping = "\\u001b[2J"\n'))
    assert "'\\x1b[2J'" in err and "'\\x1b]0;pwned\\x07'" in err


def test_offset_beyond_its_bar_blames_the_offset(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A vfio-pci offset beyond its BAR is blamed on vmm_mapping.offset, with no '0x-'."""
    text = good(vmm="offset = 0x1f000\n")
    err = one_error(capsys, "run", write(tmp_path, text))
    assert f"s.toml:{text.splitlines().index('offset = 0x1f000') + 1}: vmm_mapping[0].offset: " \
           "0x1f000 is beyond the BAR0 of 'nic' (0x10000 bytes)" in err
    assert "0x-" not in err and "memslot" not in err


def test_empty_file_name_names_the_argument(capsys: pytest.CaptureFixture[str]) -> None:
    """`memattr walk ''` (and run) says which argument is empty, not ': cannot read'."""
    assert one_error(capsys, "walk", "") == ("memattr: error: FILE.toml='': empty file name "
                                             "(expected the path of a walk file)")
    assert "FILE='': empty file name" in one_error(capsys, "run", "")


def test_locations_are_not_repeated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An error from a lower layer gets the file, line and key once."""
    text = good().replace("base = 0x80_0000_0000", "base = 0x80_0000_1000")
    err = one_error(capsys, "run", write(tmp_path, text))
    assert err.count("s.toml:") == 1 and "device[0].bar[0]: " in err and "not aligned" in err


def test_long_values_are_cut_and_negatives_signed(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """A 100 KB value is echoed short; a negative size is -0xf000, never 0x-f000."""
    err = one_error(capsys, "run", write(tmp_path, good(name='"' + "x" * 100_000 + '"')
                                         + '[[access]]\nmapping = "y"\n'))
    assert len(err) < 1000 and "(100000 characters)" in err
    err = one_error(capsys, "run", write(tmp_path, good(vmm="size = -61440\n")))
    assert "vmm_mapping[0].size: -0xf000 is below 1" in err and "0x-" not in err


@pytest.mark.parametrize(("argv", "option"), [
    (["table", "--s1", "0x" + "f" * 5000], "S1 attribute="),
    (["walk", "--example", "--va", "\x1b[2J"], "--va="),
    (["run", "demo", "--color", "\x1b[2J"], "--color="),
    (["run", "demo", "--bogus"], "argument=--bogus"),
])
def test_argument_errors_name_the_option(argv: list[str], option: str,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """A bad argument is one line that names the option, with the value cut and escaped."""
    err = one_error(capsys, *argv)
    assert err.startswith(f"memattr: error: {option}") and len(err) < 700


def test_generate_checks_mapping_names_before_writing(capsys: pytest.CaptureFixture[str]) -> None:
    """Found by the long fuzz run: `replay --generate ... --regs NAME` wrote the CSV header to
    standard output before the generator checked NAME, so a failed run left output behind."""
    status, out, err = run(capsys, "replay", "demo", "--generate", "ring", "--count", "0",
                           "--regs", "0x0")
    assert status == 2 and out == "" and "--regs='0x0': no guest mapping" in err


def test_generate_under_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Found by the long fuzz run: with --json, `--generate -o FILE` printed a text line; now
    one JSON document, and a trace to standard output with --json is refused (the trace itself
    is the output)."""
    f = tmp_path / "t.csv"
    status, out, err = run(capsys, "replay", "demo", "--json", "--generate", "ring", "--count",
                           "3", "-o", str(f))
    assert status == 0 and err == ""
    assert json.loads(out) == {"wrote": 3, "pattern": "ring", "file": str(f), "format": "csv"}
    assert len(f.read_text().splitlines()) == 4
    status, out, err = run(capsys, "replay", "demo", "--json", "--generate", "ring")
    assert status == 2 and out == "" and json.loads(err)["field"] is None


def test_diff_emit_model_to_stdout_under_json(capsys: pytest.CaptureFixture[str]) -> None:
    """Found by the long fuzz run: `diff --emit-model - --json` wrote the dump text where the
    JSON document goes; the dump is now a member of that document."""
    status, out, err = run(capsys, "diff", "--scenario", "demo", "--no-fwb", "--emit-model", "-",
                           "--json")
    assert status == 0 and err == ""
    doc = json.loads(out)
    assert doc["model"].startswith("# stage 2, 4k granule") and "comparisons" in doc

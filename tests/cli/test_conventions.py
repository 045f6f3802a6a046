"""Command-line conventions (issue 11 item 7): python -m memattr, usage with no command, "did you
mean", errors as JSON under --json, register values as hex strings in JSON, --fail-on."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from memattr.cli import COMMANDS, main
from memattr.cli._common import HEX_KEYS, error_json, with_hex
from memattr.errors import ParseError


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_python_m_memattr() -> None:
    """python -m memattr runs the command line."""
    done = subprocess.run([sys.executable, "-m", "memattr", "decode", "mair", "0x44"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("MAIR attribute 0x44: Normal-NC")


def test_no_command_prints_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """With no command: the usage and every command on stdout, one error line, status 2."""
    status, out, err = _run(capsys)
    assert status == 2 and out.startswith("usage: memattr")
    for name in COMMANDS:
        assert name in out
    assert err.count("\n") == 1 and err.startswith("memattr: error: COMMAND=")


@pytest.mark.parametrize(("argv", "hint"), [
    (("explian", "0x1"), "did you mean 'explain'?"),
    (("decode", "mari", "0x44"), "did you mean 'mair'?"),
    (("combine", "--s1", "0x44", "--s2", "1", "--jsn"), "did you mean --json?"),
    (("run", "demo", "--polcy", "6.9"), "did you mean --policy?"),
    (("run", "demo", "--color", "alwys"), "did you mean 'always'?"),
    (("run", "demo", "--policy", "pcie_only"), "did you mean 'pcie-only'?"),
    (("decode", "esr", "0x1", "--nonzro"), "did you mean --nonzero?"),
    (("--verson",), "--verson is not an option; did you mean --version?"),
    (("explain", "--jsn"), "--jsn is not an option; did you mean --json?"),
    (("run", "demo", "--fail-on", "faul"), "did you mean 'fault'?"),
    (("completion", "fsh"), "did you mean 'fish'?"),
])
def test_did_you_mean(argv: tuple[str, ...], hint: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped command, sub-command, option, choice or policy name gets a suggestion."""
    status, out, err = _run(capsys, *argv)
    assert status == 2 and err.count("\n") == 1
    assert out == "" or argv == ("--verson",)  # no command: the usage is on stdout
    assert err.rstrip().endswith(hint), err


def test_nothing_close_gets_no_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    """A word unlike any name gets no 'did you mean'."""
    _status, _out, err = _run(capsys, "zzzzzz")
    assert "did you mean" not in err


@pytest.mark.parametrize(("argv", "field", "kind"), [
    (("combine", "--s1", "zz", "--s2", "1", "--json"), "S1 attribute", "ParseError"),
    (("run", "demo", "--policy", "6.99", "--json"), "policy", "ConfigError"),
    (("explain", "0x1", "--hpfar", "nope", "--json"), "HPFAR_EL2", "ParseError"),
    (("decode", "mair", "--json", "--bogus", "0x44"), "argument", "ArgumentError"),
])
def test_errors_as_json(argv: tuple[str, ...], field: str, kind: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    """Under --json an error is one JSON object on stderr (error, field, message); stdout empty."""
    status, out, err = _run(capsys, *argv)
    assert status == 2 and out == "" and err.count("\n") == 1
    doc = json.loads(err)
    assert doc == {"error": kind, "field": field, "message": doc["message"]}
    assert doc["message"].startswith(field)


def test_unknown_release_is_an_error_in_run(capsys: pytest.CaptureFixture[str]) -> None:
    """memattr run --policy 6.99 is refused (it used to run and be labelled 6.99)."""
    status, out, err = _run(capsys, "run", "demo", "--policy", "6.99")
    assert status == 2 and out == "" and "policy='6.99': not a Linux release" in err


def test_error_json_escapes_and_names_the_field() -> None:
    """The JSON error escapes control characters like the text line and names the field."""
    doc = json.loads(error_json(ParseError("ESR=\x1b[2J: not a number")))
    assert doc["field"] == "ESR" and "\x1b" not in doc["message"]
    doc = json.loads(error_json(ParseError("s.toml:3: policies[1]: unknown policy")))
    assert doc["field"] == "policies[1]"


def test_with_hex_puts_hex_beside_register_values() -> None:
    """Every register-valued integer gets a <key>_hex sibling; flags and other ints do not."""
    doc = with_hex({"esr": 0x92000061, "fwb": True, "level": 3, "pars": [0x800, 0x1],
                    "nested": [{"ipa": 0x8000_0000, "mair": 0x44}], "ec": 0x24})
    assert doc["esr_hex"] == "0x92000061" and doc["pars_hex"] == ["0x800", "0x1"]
    assert doc["nested"][0] == {"ipa": 0x8000_0000, "ipa_hex": "0x80000000", "mair": 0x44,
                                "mair_hex": "0x44"}
    assert "fwb_hex" not in doc and "level_hex" not in doc and "ec_hex" not in doc
    assert list(doc)[:2] == ["esr", "esr_hex"]  # next to its field
    assert {"esr", "far", "hpfar", "par", "tcr", "mair", "vtcr", "hcr"} <= HEX_KEYS


def _ints(obj: object, key: str = "") -> list[str]:
    """Keys of HEX_KEYS integers without their hex sibling, anywhere in a document."""
    missing: list[str] = []
    if isinstance(obj, dict) and not {"type", "shareability", "tagged"} <= obj.keys():
        for k, v in obj.items():
            if k in HEX_KEYS and isinstance(v, int) and not isinstance(v, bool) and v >= 0 \
                    and f"{k}_hex" not in obj:
                missing.append(k)
            missing += _ints(v, k)
    elif isinstance(obj, list):
        for v in obj:
            missing += _ints(v, key)
    return missing


@pytest.mark.parametrize("argv", [
    ("decode", "mair", "0x000000040044ff00"), ("decode", "s1", "0x00600000ba2e0f83", "--mair",
                                               "0x40044ff00"),
    ("decode", "par", "0x800"), ("combine", "--s1", "0x44", "--s2", "0x5", "--fwb"),
    ("walk", "--example"), ("at", "--example", "--va", "0x400000"), ("run", "unaligned"),
    ("explain", "0x92000061", "--hpfar", "0x800000"),
])
def test_json_has_hex_for_every_register(argv: tuple[str, ...],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Each command's JSON carries register values as hex strings next to their fields."""
    status, out, _ = _run(capsys, *argv, "--json")
    assert status == 0
    doc = json.loads(out)
    assert _ints(doc) == []
    assert "_hex" in out


@pytest.mark.parametrize(("argv", "kind", "status"), [
    (("run", "unaligned", "--brief"), "fault", 1),
    (("run", "exec", "--brief"), "hazard", 0),
    (("run", "reclaim", "--brief"), "hazard", 1),
    (("run", "reclaim", "--brief"), "fault", 0),
    (("walk", "--example", "--va", "0xdead0000"), "fault", 1),
    (("at", "--example", "--va", "0xdead0000"), "fault", 1),
    (("at", "--example", "--va", "0x400000"), "fault", 0),
])
def test_fail_on(argv: tuple[str, ...], kind: str, status: int,
                 capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-on KIND exits 1 exactly when the answer has one; without it the status is 0."""
    assert main([*argv, "--fail-on", kind]) == status
    assert main(list(argv)) == 0
    capsys.readouterr()


@pytest.mark.parametrize("argv", [
    ["matrix", "--format", "json", "--policy", "nope"],
    ["matrix", "--format=json", "--policy", "nope"],
    ["matrix", "--json", "--policy", "nope"],
])
def test_format_json_errors_are_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """--format json asks for JSON as --json does: a rejected input is one JSON object on stderr;
    matrix takes --json as --format json."""
    from memattr import cli

    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    doc = json.loads(err)
    assert doc["error"] == "ConfigError" and "policy 'nope'" in doc["message"]

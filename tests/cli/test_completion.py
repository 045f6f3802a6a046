"""``memattr completion``: scripts generated from the real parsers, for bash, zsh and fish."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from memattr.cli import COMMANDS, main
from memattr.cli.completion import SHELLS, script, tree


def _script(shell: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["completion", shell]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("shell", SHELLS)
def test_script_mentions_every_command_and_option(shell: str,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    """Each script names every command, sub-command and option string of every parser."""
    text = _script(shell, capsys)
    words = set(re.findall(r"[\w.+-]+", text))
    nodes = tree()
    assert {n.path[0] for n in nodes if n.path} == set(COMMANDS)
    for node in nodes:
        for name, _help in node.subs:
            assert name in words, name
        for strings, _help, _values in node.options:
            for s in strings:
                flag = s if shell != "fish" else (f"-l {s[2:]}" if s.startswith("--")
                                                  else f"-s {s[1:]}")
                assert flag in text, (node.key, s)


def test_every_command_has_a_node() -> None:
    """The tree has one node per command and per decode target, aliases included."""
    keys = {n.key for n in tree()}
    assert set(COMMANDS) <= keys
    assert {"decode/mair", "decode/esr", "decode/esr_el2", "decode/par"} <= keys


def test_bash_script_is_valid(capsys: pytest.CaptureFixture[str], tmp_path: object) -> None:
    """bash -n accepts the bash script."""
    text = _script("bash", capsys)
    done = subprocess.run(["bash", "-n"], input=text, text=True, capture_output=True)
    assert done.returncode == 0, done.stderr


def _complete(text: str, *words: str) -> list[str]:
    """What the bash script offers after ``words`` (the last one is being typed)."""
    program = text + "\n" + (
        "COMP_WORDS=(" + " ".join(f"'{w}'" for w in words) + ")\n"
        f"COMP_CWORD={len(words) - 1}\n_memattr\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    done = subprocess.run(["bash", "-c", program], text=True, capture_output=True, check=True)
    return [w for w in done.stdout.splitlines() if w]


@pytest.mark.parametrize(("words", "expected"), [
    (("memattr", ""), set(COMMANDS)),
    (("memattr", "ex"), {"explain"}),
    (("memattr", "decode", "ma"), {"mair"}),
    (("memattr", "decode", "esr_el2", "0x1", "--n"), {"--nonzero"}),
    (("memattr", "run", "demo", "--color", "al"), {"always"}),
    (("memattr", "run", "demo", "--policy", "6.1"), {"6.17"}),
    (("memattr", "completion", ""), set(SHELLS)),
    (("memattr", "run", "--policy", "6.9", "--no-"), {"--no-fwb"}),
])
def test_bash_offers(words: tuple[str, ...], expected: set[str],
                     capsys: pytest.CaptureFixture[str]) -> None:
    """The bash script completes commands, sub-commands, options and their values."""
    assert set(_complete(_script("bash", capsys), *words)) == expected


@pytest.mark.parametrize("shell", ["zsh", "fish"])
def test_other_shells_parse(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    """zsh -n / fish -n accept their scripts (when the shell is installed)."""
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    done = subprocess.run([shell, "-n"], input=_script(shell, capsys), text=True,
                          capture_output=True)
    assert done.returncode == 0, done.stderr


def test_script_is_generated_from_the_given_parser() -> None:
    """A parser with one more option gives a script with that option (no drift possible)."""
    from memattr.cli import build_parser

    parser, _ = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    sub.choices["table"].add_argument("--brand-new-option")
    assert "--brand-new-option" in script("bash", parser)
    assert "--brand-new-option" not in script("bash")


def test_unknown_shell_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    """A mistyped shell is an error with a suggestion."""
    assert main(["completion", "bsh"]) == 2
    assert "did you mean 'bash'" in capsys.readouterr().err

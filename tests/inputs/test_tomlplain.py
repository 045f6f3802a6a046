"""The plain-TOML reader agrees with tomllib: the same document for every text it accepts, and
every other text left to tomllib (so the errors are tomllib's)."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from memattr.inputs import tomlplain
from memattr.inputs.tomlplain import loads, parse_plain
from memattr.inputs.tomlscan import Limits, scan


def _agrees(text: str) -> dict[str, object] | None:
    """parse_plain's answer, checked against tomllib's (None: left to tomllib), and the lines
    it notes against the pre-scan's (in the same order)."""
    lines: dict[tuple[str | int, ...], int] = {}
    got = parse_plain(text, lines)
    assert parse_plain(text) == got
    if got is not None:
        want = tomllib.loads(text)  # must not raise: the subset is valid TOML
        assert got == want
        assert [type(v) for v in _leaves(got)] == [type(v) for v in _leaves(want)]
        assert list(lines.items()) == list(scan(text).items())
    return got


def _leaves(doc: object) -> list[object]:
    if isinstance(doc, dict):
        return [x for k in sorted(doc) for x in _leaves(doc[k])]
    if isinstance(doc, list):
        return [x for v in doc for x in _leaves(v)]
    return [doc]


def test_the_bundled_walk_example_is_plain() -> None:
    """The example walk file is read without tomllib, to the same document."""
    from memattr.analysis.walkfile import example_path

    with open(example_path(), encoding="utf-8") as fh:
        text = fh.read()
    assert _agrees(text) is not None


@pytest.mark.parametrize("text", [
    "", "\n", "# c\n", "a = 1", "a = 1\r\nb = 2\r\n", "a=-0\nb=+0\nc=+1_000\nd=0\n",
    "a = 0xDEAD_beef\nb = 0o17\nc = 0b1_0\n", "a = true\nb = false # x\t\n",
    'a = "x # y"\nb = ""\nc = "tab\there ü"\n', "[t]\na = 1\n[u]\n[[s]]\nb = 2\n[[s]]\nb = 3\n",
    "[ t ]\n[[ s ]]  # c\n", "1234 = 5\n-_ = 6\n",
])
def test_plain_texts_agree(text: str) -> None:
    """Texts of the subset are parsed here, to tomllib's document."""
    assert _agrees(text) is not None


@pytest.mark.parametrize("text", [
    "a = 1\na = 2\n",  # a key twice
    "[t]\n[t]\n", "t = 1\n[t]\n", "[[t]]\n[t]\n", "[t]\n[[t]]\n", "t = 1\n[[t]]\n",
    "a = 01\n", "a = 1__0\n", "a = _1\n", "a = 1_\n", "a = 0X10\n", "a = -0x1\n", "a = 0x\n",
    "a = 1.5\n", "a = 1e3\n", "a = inf\n", "a = 1979-05-27\n", "a = [1, 2]\n", "a = {b = 1}\n",
    'a = "\\n"\n', "a = 'lit'\n", 'a = """m"""\n', "a.b = 1\n", '"a" = 1\n', "[a.b]\n",
    "a = \n", "a = 1 2\n", "a = True\n", "a = 1\rb = 2\n", "\ufeffa = 1\n", "a = 1 # \x01\n",
    'a = "\x7f"\n', "[t] x\n", "[[t]\n", "= 1\n", "a = 1" + "0" * 5000 + "\n",
])
def test_other_texts_are_left_to_tomllib(text: str) -> None:
    """Anything outside the subset -- valid TOML or not -- is tomllib's to parse or reject."""
    assert parse_plain(text) is None
    try:
        want = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        with pytest.raises(type(exc), match=None):
            loads(text)
    else:
        assert loads(text) == want


_TOKENS = ["a", "b", "t", "s", "1", "0", "_", "-", "+", "x", "o", "b1", "ff", "=", " = ", " ",
           "\t", "\n", "\r\n", "\r", "#", "[", "]", "[[", "]]", '"', "'", "\\", ".", "true",
           "false", "ü", "\x00", "\x7f", "1.0", "{", "}", ","]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=40).map("".join))
@example("[t]\na = 1\n")
def test_any_token_soup_agrees(text: str) -> None:
    """Arbitrary text: accepted texts match tomllib exactly; loads() always equals tomllib."""
    _agrees(text)
    try:
        want = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            loads(text)
    else:
        assert loads(text) == want


_KEYS = st.text("abcxyz019_-", min_size=1, max_size=4)
_VALUES = st.one_of(
    st.booleans().map(lambda b: "true" if b else "false"),
    st.integers(-(1 << 70), 1 << 70).map(str),
    st.integers(0, 1 << 70).map(lambda n: f"0x{n:x}"),
    st.integers(0, 1 << 20).map(lambda n: f"0o{n:o}"),
    st.integers(0, 1 << 20).map(lambda n: f"0b{n:b}"),
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters='"\\'),
            max_size=8).map(lambda s: f'"{s}"'),
)
_LINES = st.one_of(
    st.tuples(_KEYS, _VALUES).map(lambda kv: f"{kv[0]} = {kv[1]}"),
    _KEYS.map(lambda k: f"[{k}]"), _KEYS.map(lambda k: f"[[{k}]]"),
    st.just(""), st.just("# comment"),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINES, max_size=12).map("\n".join))
def test_generated_documents_agree(text: str) -> None:
    """Documents built from the subset's lines (some invalid: keys or tables twice) agree."""
    got = _agrees(text)
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assert got is None  # never accepted where tomllib refuses


def test_tomllib_is_imported_only_for_other_texts() -> None:
    """A query reading a plain file does not import tomllib (nor typing)."""
    import subprocess
    import sys

    code = ("import sys; from memattr.inputs.tomlplain import loads; loads('a = 1\\n'); "
            "print('tomllib' in sys.modules, 'typing' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert tomlplain.__all__ == ["loads", "parse_plain"]


@pytest.mark.parametrize(("limits", "text", "expect"), [
    (Limits(values=3), "a = 1\nb = 2\nc = 3\nd = 4\n", "x.toml:4: d: more than 3 keys"),
    (Limits(values=2), "[[s]]\n[[s]]\na = 1\n", "x.toml:3: s[1].a: more than 2 keys"),
    (Limits(key_length=3), "[t]\nabcd = 1\n", "x.toml:2: t.abcd: a key of 4 characters"),
    (Limits(key_length=3), "[tabl]\n", "x.toml:1: tabl: a key of 4 characters"),
    (Limits(path_depth=2), "[[s]]\na = 1\n", "x.toml:2: s[0]: a key path of more than 2"),
])
def test_plain_files_are_held_to_the_scan_limits(limits: Limits, text: str, expect: str) -> None:
    """A plain file is read without the pre-scan only where the scan could not refuse it: at
    the limits, the scan's own error."""
    from memattr.errors import ParseError
    from memattr.inputs.toml import parse

    assert parse_plain(text) is not None
    with pytest.raises(ParseError) as exc:
        parse(text, "x.toml", limits=limits)
    assert str(exc.value).startswith(expect)
    assert parse(text, "x.toml").lines == scan(text)

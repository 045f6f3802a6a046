"""Trace replay: the vectorised reader equals the scalar parser, replay counts equal per-access
scalar evaluation, and the reader's bounds (lines, memory, gzip, errors) hold."""

from __future__ import annotations

import gzip
import io
import tracemalloc
from collections import Counter
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.fuzz.traces import trace_bytes, trace_lines

import memattr.analysis.replay  # noqa: F401 - loads the Linux model in a good order
from memattr.analysis import trace as T
from memattr.analysis.scenario import ACCESS_OPS, INSTR_CLASSES, bundled_path, load, loads
from memattr.errors import MemattrError, ParseError


@cache
def _scenario(name: str) -> T.Scenario:
    return load(bundled_path(name))


@cache
def _layout(name: str) -> T.Layout:
    return T.build_layout(_scenario(name))


_MEMO: dict[tuple[object, ...], dict[tuple[str, bool], T.Answer]] = {}


def _answer(name: str, m: int, off: int, size: int, op: str, instr: str
            ) -> dict[tuple[str, bool], T.Answer]:
    key = (name, m, off, size, op, instr)
    if key not in _MEMO:
        _MEMO[key] = T.answer_of(_layout(name), m, off, size, op, instr)
    return _MEMO[key]


def _reference(name: str, data: bytes, show: int = 5) -> tuple[str, object]:
    """Per-access scalar evaluation: each line parsed alone, each access evaluated at its own
    offset.  ('error', line) or ('ok', (counts, offender lines))."""
    lay = _layout(name)
    names = list(lay.names)
    lines = data.split(b"\n")
    if data.endswith(b"\n"):
        lines.pop()
    outcomes: dict[tuple[str, bool], Counter[str]] = {c: Counter() for c in lay.combos}
    faults: Counter[tuple[str, bool]] = Counter()
    hazards: dict[tuple[str, bool], Counter[tuple[str, str]]] = {c: Counter() for c in lay.combos}
    offenders: list[int] = []
    accesses = outside = 0
    for i, raw in enumerate(lines, 1):
        try:
            a = T.parse_line(raw, i, "t", names)
            if a is None:
                continue
            m, off = lay.resolve(a, "t")
            answers = _answer(name, m, off, a.size, a.op, a.instr) if m >= 0 else \
                {c: T.Answer(T.OUTSIDE, False) for c in lay.combos}
        except MemattrError:
            return "error", i
        accesses += 1
        outside += m < 0
        for c, ans in answers.items():
            outcomes[c][ans.outcome] += 1
            faults[c] += ans.fault
            for key in dict.fromkeys((h.kind, h.level) for h in ans.hazards):
                hazards[c][key] += 1
        if any(x.offending for x in answers.values()) and len(offenders) < show:
            offenders.append(i)
    return "ok", (accesses, outside, outcomes, dict(faults), hazards, offenders)


def _replayed(name: str, data: bytes, show: int = 5) -> tuple[str, object]:
    try:
        r = T.replay_stream(_layout(name), io.BytesIO(data), "t", show=show)
    except MemattrError as exc:
        head = str(exc).split(":")
        assert head[0] == "t", exc
        return "error", int(head[1])
    faults = {c: n for c, n in r.faults.items() if n}
    return "ok", (r.accesses, r.outside, {c: +r.outcomes[c] for c in r.outcomes}, faults,
                  {c: +r.hazards[c] for c in r.hazards}, [o.access.line for o in r.offenders])


_SCENARIOS = ["vfio-pci-bar", "alias-speculation", "demo", "unaligned", "context-switch"]


@pytest.mark.parametrize("name", _SCENARIOS)
def test_replay_counts_equal_per_access_scalar_evaluation(name: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Replay counts per outcome, fault and hazard, the first offenders and the first error line
    equal those of evaluating every access alone with the scalar engine, whatever the piece size."""

    @settings(max_examples=25, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=trace_bytes(_scenario(name), hostile=1, max_size=14),
           chunk=st.sampled_from([64, 300, 1 << 19]))
    def check(data: bytes, chunk: int) -> None:
        monkeypatch.setattr(T, "CHUNK", chunk)
        expected = _reference(name, data)
        got = _replayed(name, data)
        if expected[0] == "ok" and got[0] == "ok":
            e, g = expected[1], got[1]
            assert isinstance(e, tuple) and isinstance(g, tuple)
            exp_faults = {c: n for c, n in e[3].items() if n}
            assert (e[0], e[1], e[2], exp_faults, e[4], e[5]) == g
        else:
            assert expected == got

    check()


@cache
def _tokens(name: str) -> tuple[T._Tokens, T._Tokens, list[str]]:
    names = list(_layout(name).names)
    return (T._Tokens([n.encode() for n in names]), T._Tokens([t.encode() for t in T.KIND_TOKENS]),
            names)


@pytest.mark.parametrize("name", ["vfio-pci-bar", "alias-speculation", "demo"])
@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_vectorised_reader_equals_the_scalar_parser(name: str, data: st.DataObject) -> None:
    """Every line the vectorised reader accepts reads the same with the scalar parser; every line
    it skips is blank or a comment; the rest it leaves to the scalar parser."""
    lines = data.draw(trace_lines(_scenario(name), hostile=6, max_size=20))
    names_t, kinds_t, names = _tokens(name)
    blob = b"".join(line + b"\n" for line in lines)
    p = T._parse_piece(blob, 0, names_t, kinds_t)
    assert len(p.line) == len(lines)
    kinds = list(T.KIND_TOKENS.values())
    for i, raw in enumerate(lines):
        if p.state[i] == 2:
            continue
        a = T.parse_line(raw, i + 1, "t", names)  # must not raise
        if p.state[i] == 0:
            assert a is None, raw
            continue
        assert a is not None, raw
        got_mapping = names[p.mapping[i]] if p.mapping[i] >= 0 else None
        assert (got_mapping, int(p.address[i]), T.ACCESS_SIZES[p.size[i]],
                T.KINDS[kinds[p.kind[i]]]) == (a.mapping, a.address, a.size, (a.op, a.instr)), raw


def test_kinds_are_the_scenario_access_kinds() -> None:
    """The kinds a trace may name are the [[access]] op x instr values, derived, not listed."""
    assert {op for op, _ in T.KINDS} == set(ACCESS_OPS)
    assert {i for op, i in T.KINDS if op != "exec"} == set(INSTR_CLASSES)
    assert T.KINDS[T.KIND_TOKENS["write"]] == ("write", "ldr")
    assert T.KINDS[T.KIND_TOKENS["read:simd"]] == ("read", "simd")
    assert "exec:ldp" not in T.KIND_TOKENS


def _replay_text(name: str, text: str | bytes, **kw: object) -> T.TraceReplay:
    data = text.encode() if isinstance(text, str) else text
    return T.replay_stream(_layout(name), io.BytesIO(data), "t.csv", **kw)  # type: ignore[arg-type]


def test_a_small_trace_by_hand() -> None:
    """Cases 1 and 2 by hand: an unaligned 8-byte store to the ioremap_wc BAR faults at stage 2
    under 6.8 and completes as Normal-NC under 6.9; an aligned one completes under both."""
    r = _replay_text("vfio-pci-bar", "addr,size,kind\n# case 1\n0x1000000004,8,write\n"
                     "wc+0x8,8,write\n0x20000000,4,read\n")
    assert (r.lines, r.accesses, r.outside) == (5, 3, 1)
    for fwb in (False, True):
        assert r.outcomes[("6.8", fwb)] == Counter({
            "alignment fault at stage 2 (EL2): KVM_RUN -EFAULT": 1,
            "write completes as Device-nGnRE": 1, T.OUTSIDE: 1})
        assert r.outcomes[("6.9", fwb)] == Counter({
            "unaligned write completes as Normal-NC": 1, "write completes as Normal-NC": 1,
            T.OUTSIDE: 1})
        assert r.faults[("6.8", fwb)] == 1 and r.faults[("6.9", fwb)] == 0
    assert [o.access.line for o in r.offenders] == [3]
    # The fault is also the review's unaligned-fault hazard (the ioremap_wc driver expects an
    # unaligned store to work): analysis.hazards flags it under 6.8.
    assert r.found == {"fault", "hazard"}
    assert r.by_mapping == Counter({"wc": 2})


def test_hazards_are_counted_per_access() -> None:
    """Accesses through the AXI mapping of the unaligned scenario count its 'unaligned' hazard
    (unknown: the slave's behaviour is a platform parameter) only when unaligned."""
    r = _replay_text("unaligned", "axi-wc+0x3,8,write\naxi-wc+0x8,8,write\naxi-wc+0x10,8,write\n")
    c = r.hazards[("6.9", True)]
    assert c[("unaligned", "unknown")] == 1


def test_errors_name_file_line_and_field() -> None:
    """A bad line is 'file:line: field: what (expected ...)', at the first bad line."""
    cases = [
        ("0x10,8,write\n0x10,3,write\n", "t.csv:2: size: '3' is not an access size"),
        ("0x10,8,writ\n", "t.csv:1: kind: 'writ' is not an access kind"),
        ("nope+0x10,8,write\n", "t.csv:1: addr: no guest mapping named 'nope'"),
        ("0x10,8\n", "t.csv:1: line: 2 fields"),
        ('{"addr":"0x10","size":8}\n', "t.csv:1: kind: missing"),
        ('{"addr":"0x10","size":8,"kind":"read","x":1}\n', "t.csv:1: 'x': unknown key"),
        ("0x10,8,write,1,1e9\n", "t.csv:1: time: '1e9' is not a timestamp"),
        ("wc+0xffc,8,write\n", "t.csv:1: addr: offset 0xffc + size 8 is beyond guest mapping"),
        ("0x1000000ffc,8,write\n", "t.csv:1: addr: IPA 0x1000000ffc + size 8 crosses the end"),
        ("\xff,8,read\n".encode("latin-1"), "t.csv:1: line: not UTF-8"),
        ('{"a":' + "[" * 2040 + "]" * 2040 + "}\n", "t.csv:1: line: not a JSON object"),
        ("[" * 3000 + "\n", "t.csv:1: line: 1 fields"),
    ]
    for text, message in cases:
        with pytest.raises(ParseError) as info:
            _replay_text("vfio-pci-bar", text)
        assert str(info.value).startswith(message), (text, str(info.value))


def test_an_ambiguous_ipa_asks_for_the_mapping_name() -> None:
    """Two guest mappings over one IPA: the IPA alone is refused, NAME+OFFSET is read."""
    sc = _scenario("alias-speculation")
    ipa = next(g.ipa for g in sc.guest_mappings if g.name == "side-effects-wc")
    with pytest.raises(ParseError, match="inside guest mappings 'side-effects-wc', "
                                         "'side-effects-device'"):
        _replay_text("alias-speculation", f"0x{ipa:x},4,read\n")
    r = _replay_text("alias-speculation", "side-effects-wc+0x0,4,read\n"
                     "side-effects-device+0x0,4,read\n")
    assert r.by_mapping == Counter({"side-effects-wc": 1, "side-effects-device": 1})


def test_a_page_with_read_side_effects_is_its_own_segment() -> None:
    """alias-speculation's BAR page 1 (read side effects) starts and ends a segment of 'wc'? No:
    'wc' maps page 0 only; its two aliases map page 1 -- the layout's intervals follow the
    mappings and the side-effect page's edges."""
    lay = _layout("alias-speculation")
    sc = lay.scenario
    page1 = next(g.ipa for g in sc.guest_mappings if g.name == "side-effects-wc")
    bounds = [int(b) for b in lay.bounds]
    assert page1 in bounds and page1 + 0x1000 in bounds
    i = bounds.index(page1)
    assert lay.owner[i] == -2  # two mappings


def test_lines_are_bounded() -> None:
    """A line longer than MAX_LINE is refused with its number, even when it spans pieces."""
    long = b"0x10,8,write," + b"1" * T.MAX_LINE
    for chunk in (64, 1 << 19):
        T.CHUNK, saved = chunk, T.CHUNK
        try:
            with pytest.raises(ParseError, match=r"^t\.csv:2: line: "):
                _replay_text("vfio-pci-bar", b"wc+0x0,8,write\n" + long + b"\nwc+0x0,8,write\n")
            with pytest.raises(ParseError, match=r"^t\.csv:1: line: "):
                _replay_text("vfio-pci-bar", long)
        finally:
            T.CHUNK = saved


def test_gzip_is_told_by_its_magic(tmp_path: object) -> None:
    """A gzip-compressed trace reads as the plain one, whatever its name; a truncated gzip
    stream is an error."""
    from pathlib import Path

    base = Path(str(tmp_path))
    text = b"wc+0x4,8,write\n0x1000001000,4,read\n"
    plain, packed = base / "a.csv", base / "b.txt"
    plain.write_bytes(text)
    packed.write_bytes(gzip.compress(text))
    sc = _scenario("vfio-pci-bar")
    a = T.replay_trace(sc, str(plain))
    b = T.replay_trace(sc, str(packed))
    assert a.outcomes == b.outcomes and a.accesses == b.accesses == 2
    cut = base / "c.gz"
    cut.write_bytes(gzip.compress(text * 1000)[:-20])
    with pytest.raises(ParseError, match="cannot read the trace"):
        T.replay_trace(sc, str(cut))


class _Endless:
    """A trace stream of ``n`` lines made on demand from one block (nothing else held)."""

    BLOCK = b"".join(b"0x%x,8,write,%d,%d\n" % (0x1000000000 + 8 * i, i % 4, i)
                     for i in range(0x7FF))

    def __init__(self, n: int) -> None:
        self.left = n

    def read(self, size: int) -> bytes:
        if self.left <= 0:
            return b""
        k = min(self.left, 0x7FF)
        self.left -= k
        return self.BLOCK if k == 0x7FF else b"".join(self.BLOCK.splitlines(True)[:k])


def test_memory_does_not_grow_with_the_trace() -> None:
    """The peak memory of replaying 400,000 accesses is that of 2,000 (pieces are bounded)."""
    lay = _layout("vfio-pci-bar")
    T.replay_stream(lay, _Endless(10), "warm")

    def peak(n: int) -> int:
        tracemalloc.start()
        try:
            r = T.replay_stream(lay, _Endless(n), "t")
            assert r.accesses == n
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(2_000), peak(400_000)
    assert large < small + (T.CHUNK * 64), (small, large)


def test_a_class_the_scalar_engine_refuses_is_an_error_at_its_line() -> None:
    """An access beyond its memslot (the guest mapping is larger than the slot) is refused by
    the Linux model; the trace names the line."""
    sc = loads("""\
policies = ["6.9"]
[[device]]
name = "nic"
kind = "pcie"
[[device.bar]]
index = 0
base = 0x80_0000_0000
size = "1M"
[[vmm_mapping]]
name = "bar0"
source = "vfio-pci"
device = "nic"
size = "4K"
[[memslot]]
mapping = "bar0"
ipa = 0x10_0000_0000
[[guest_mapping]]
name = "wc"
ipa = 0x10_0000_0000
size = "8K"
api = "ioremap_wc"
""", "s.toml")
    lay = T.build_layout(sc)
    ok = T.replay_stream(lay, io.BytesIO(b"wc+0x0,8,write\n"), "t")
    assert ok.accesses == 1
    with pytest.raises(ParseError, match=r"^t:2: "):
        T.replay_stream(lay, io.BytesIO(b"wc+0x0,8,write\nwc+0x1000,8,write\n"), "t")

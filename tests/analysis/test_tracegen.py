"""Trace generation: each pattern makes the accesses its driver idiom makes, checked against the
idiom's rule written out here (arm64 __memcpy_toio, glibc's AArch64 memcpy, __iowrite64_copy)."""

from __future__ import annotations

import io
from functools import cache

import pytest

import memattr.analysis.replay  # noqa: F401 - loads the Linux model in a good order
from memattr.analysis import trace as T
from memattr.analysis import tracegen as G
from memattr.analysis.scenario import Scenario, bundled_path, load
from memattr.cli import replay as cli_replay
from memattr.errors import ConfigError


@cache
def _sc(name: str = "vfio-pci-bar") -> Scenario:
    return load(bundled_path(name))


class _Script:
    """A stand-in for random.Random that returns scripted values, then the lowest allowed."""

    def __init__(self, values: list[int]) -> None:
        self.values = list(values)

    def randrange(self, *args: int) -> int:
        return self.values.pop(0) if self.values else (args[0] if len(args) > 1 else 0)


def _first(gen: object, n: int) -> list[tuple[int, int, str, int]]:
    out = []
    for x in gen:  # type: ignore[attr-defined]
        out.append(x)
        if len(out) == n:
            break
    return out


@pytest.mark.parametrize("start", range(8))
@pytest.mark.parametrize("count", [1, 3, 7, 9, 15, 17, 63, 255])
def test_memcpy_toio_is_arm64s(start: int, count: int) -> None:
    """memcpy_toio: single bytes until the destination is 8-byte aligned, then 8-byte stores,
    then the remaining bytes -- every access aligned, the copy covered once."""
    t = G.targets(_sc())
    base = t.data.ipa + 0x100 + start
    accesses = list(_first(G._memcpy_toio(t, _Script([2, count, 0x100 + start])), 10_000))
    copy, pos = [], base
    for a in accesses:
        if a[0] != pos:
            break
        copy.append(a)
        pos += a[1]
    assert pos == base + count
    head = min((-base) % 8, count)
    body = (count - head) // 8
    tail = count - head - 8 * body
    assert [a[1] for a in copy] == [1] * head + [8] * body + [1] * tail
    assert all(a[0] % a[1] == 0 and a[2] == "write" and a[3] == 2 for a in copy)


@pytest.mark.parametrize("start", [0, 1, 7, 8, 15])
@pytest.mark.parametrize("count", [8, 12, 16, 17, 31, 32, 33, 64, 65, 96, 97, 128, 143, 144,
                                   145, 200, 256])
def test_memcpy_is_glibcs(start: int, count: int) -> None:
    """glibc's AArch64 memcpy: 8-byte str pairs up to 16 bytes, 16-byte stp beyond; every byte
    of the copy written, none outside it; the first stp of a long copy is unaligned when the
    destination is, the loop's are 16-byte aligned."""
    t = G.targets(_sc())
    dst = t.data.ipa + 0x200 + start
    stores = []
    for a in G._memcpy(t, _Script([1, count, 0x200 + start])):
        if stores and a[0] == t.data.ipa and a[1] == 8:  # the next copy (scripted at offset 0)
            break
        stores.append(a)
    covered = set()
    for ipa, size, kind, _cpu in stores:
        assert kind == ("write" if count <= 16 else "write:ldp")
        assert size == (8 if count <= 16 else 16)
        covered |= set(range(ipa, ipa + size))
    assert covered == set(range(dst, dst + count))
    if count > 96:
        inner = [a for a in stores[1:-4]]
        assert all(a[0] % 16 == 0 for a in inner)
        assert stores[0][0] == dst


def test_ring_posts_descriptors_then_rings_the_doorbell() -> None:
    """Each packet: eight 8-byte stores filling one 64-byte slot of the CPU's ring, then a 4-byte
    doorbell write; a status read every eighth packet."""
    t = G.targets(_sc())
    assert (t.data.name, t.regs.name) == ("wc", "device")
    out = list(G.generate(_sc(), "ring", 400, seed=3))
    assert len(out) == 400
    i = packets = 0
    while i + 9 <= len(out):
        desc = out[i:i + 8]
        slot = desc[0].address
        assert (slot - t.data.ipa) % 64 == 0
        assert [a.address for a in desc] == [slot + 8 * k for k in range(8)]
        assert all(a.size == 8 and a.kind == "write" for a in desc)
        bell = out[i + 8]
        assert (bell.address, bell.size, bell.kind) == (t.regs.ipa, 4, "write")
        packets += 1
        i += 9
        if packets % 8 == 0 and i < len(out):
            st = out[i]
            assert (st.address, st.size, st.kind) == (t.regs.ipa + 4, 4, "read")
            i += 1
    assert packets >= 40


def test_generate_is_reproducible_and_readable() -> None:
    """The same seed gives the same trace; both formats read back (the JSON lines through the
    vectorised reader, not the scalar one) with every access inside the mappings."""
    a = list(G.generate(_sc(), "memcpy", 500, seed=7))
    assert a == list(G.generate(_sc(), "memcpy", 500, seed=7))
    assert a != list(G.generate(_sc(), "memcpy", 500, seed=8))
    lay = T.build_layout(_sc())
    for fmt in ("csv", "jsonl"):
        buf = io.StringIO()
        assert G.write_trace(iter(a), buf, fmt=fmt) == 500
        data = buf.getvalue().encode()
        r = T.replay_stream(lay, io.BytesIO(data), "t")
        assert r.accesses == 500 and r.outside == 0
        names, kinds, _ = T._Tokens([]), T._Tokens([k.encode() for k in T.KIND_TOKENS]), None
        p = T._parse_piece(data, 0, names, kinds)
        assert set(p.state.tolist()) == ({1, 2} if fmt == "csv" else {1})  # csv: header line


def test_patterns_and_errors() -> None:
    """The CLI offers exactly the generator's patterns; bad names are one-line errors."""
    assert cli_replay._PATTERNS == tuple(G.PATTERNS)
    with pytest.raises(ConfigError, match="pattern='nope'"):
        list(G.generate(_sc(), "nope", 1))
    with pytest.raises(ConfigError, match="--mapping='x': no guest mapping"):
        G.targets(_sc(), data="x")
    with pytest.raises(ConfigError, match="format='xml'"):
        G.write_trace(iter([]), io.StringIO(), fmt="xml")

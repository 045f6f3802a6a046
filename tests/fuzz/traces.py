"""Hypothesis strategies for trace files (``memattr replay``): mostly valid lines aimed at a
scenario's guest mappings, in every spelling the syntax allows, mixed with hostile ones.

:func:`trace_lines` draws lines (bytes, without their newline) for a scenario; ``hostile``
controls the share of lines that are not accesses (junk, control characters, over-long lines,
deep JSON, bytes that are not UTF-8).  :func:`trace_bytes` joins them into a file, sometimes
with CRLF endings and without a final newline.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from memattr.analysis.scenario import Scenario
from memattr.analysis.trace import ACCESS_SIZES, FIELDS, KIND_TOKENS, MAX_LINE

__all__ = ["trace_lines", "trace_bytes", "TIMES", "address_texts"]

_JUNK = [b"", b"#", b"# comment", b"   ", b"\t", b"addr,size,kind", b"addr,size,kind,cpu,time",
         b"addr,size", b"size,addr,kind", b",,", b",,,,", b"0x,8,write", b"0x10,,write",
         b"0x10,8,", b"0x10,8,WRITE", b"0x10,8,write,,,", b"0x10,3,write", b"0x10,128,write",
         b"0x10,8,write,65536", b"0x10,8,write,-1", b"0x10,8,write,1,1.", b"0x10,8,write,1,.5",
         b"0x10,8,write,1,1..2", b"0x10,8,write,1,1e9", b"0x" + b"f" * 17 + b",8,write",
         b"18446744073709551616,8,write", b"18446744073709551615,8,read",
         b"\x1b[2J,8,write", b"\xff\xfe,8,write", b"0x10\x00,8,write", b"\xe2\x80\xae,8,read",
         b"{", b"{}", b"[]", b"null", b"{\"addr\":\"0x10\"}", b"{\"addr\":16,\"size\":8}",
         b"{\"addr\":\"0x10\",\"size\":8,\"kind\":\"write\",\"x\":1}",
         b"{\"addr\":\"0x10\",\"size\":\"8\",\"kind\":\"write\"}",
         b"{\"addr\":\"0x10\",\"size\":8.0,\"kind\":\"write\"}",
         b"{\"addr\":\"0x10\",\"size\":08,\"kind\":\"write\"}",
         b"{\"addr\":\"0x10\",\"size\":8,\"kind\":\"write\",\"time\":NaN}",
         b"{\"addr\":\"0x10\",\"size\":8,\"kind\":\"write\",\"cpu\":true}",
         b"{\"addr\":\"0x10\",\"size\":8,\"kind\":7}",
         b"[" * 3000 + b"]" * 3000, b"{\"a\":" * 1500 + b"1" + b"}" * 1500,
         b"x" * (MAX_LINE + 1), b"0x10,8,write," + b"1" * (MAX_LINE - 10)]
TIMES = st.one_of(st.integers(0, 10**12).map(str),
                  st.tuples(st.integers(0, 10**6), st.integers(0, 999999)).map(
                      lambda t: f"{t[0]}.{t[1]:06d}"))
"""Timestamps as a trace writes them."""


def _number(value: int, draw: Any) -> str:
    form = draw(st.sampled_from(["hex", "hex", "HEX", "dec", "pad"]))
    if form == "hex":
        return f"0x{value:x}"
    if form == "HEX":
        return f"0X{value:X}"
    if form == "pad":
        return f"0x{value:016x}"
    return str(value)


@st.composite
def address_texts(draw: Any, sc: Scenario, size: int = 1) -> str:
    """An address: an IPA inside a guest mapping (often near an edge), outside all of them,
    or NAME+OFFSET; about one in four runs past the mapping's end for a ``size``-byte access."""
    gms = sc.guest_mappings
    choice = draw(st.integers(0, 9))
    if not gms or choice == 0:
        return _number(draw(st.sampled_from([0, 0x1000, 1 << 40, (1 << 64) - 1])), draw)
    gm = draw(st.sampled_from(gms))
    edge = draw(st.sampled_from([0, 1, 3, 4, 7, 8, 0x10, 0x3C, 0x40, 0xFF8, 0xFFC, 0xFFF,
                                 gm.size - 16, gm.size - 8, gm.size - 1, gm.size,
                                 gm.size + 8]))
    off = edge if draw(st.integers(0, 3)) else draw(st.integers(0, max(gm.size - 1, 0)))
    if draw(st.integers(0, 3)):
        off = min(off, gm.size - size)
    off = max(off, 0)
    if choice <= 6:
        return _number(gm.ipa + off, draw)
    return f"{gm.name}+{_number(off, draw)}"


@st.composite
def _access_line(draw: Any, sc: Scenario) -> bytes:
    size = draw(st.sampled_from(ACCESS_SIZES))
    addr = draw(address_texts(sc, size))
    kind = draw(st.sampled_from(sorted(KIND_TOKENS)))
    cpu = draw(st.one_of(st.none(), st.integers(0, 7)))
    t = draw(st.one_of(st.none(), TIMES))
    style = draw(st.sampled_from(["csv", "csv", "csv", "spaces", "json", "json", "json-loose"]))
    if style in ("csv", "spaces"):
        fields = [addr, str(size), kind]
        if cpu is not None or t is not None:
            fields.append("" if cpu is None else str(cpu))
        if t is not None:
            fields.append(t)
        sep = "," if style == "csv" else draw(st.sampled_from([" ,", ", ", "\t,", " , "]))
        text = sep.join(fields)
        if style == "spaces":
            text = " " + text + " "
        return text.encode("utf-8")
    obj: dict[str, Any] = {"addr": addr, "size": size, "kind": kind}
    if cpu is not None:
        obj["cpu"] = cpu
    if t is not None:
        obj["time"] = int(t) if "." not in t else float(t)
    if style == "json":
        return json.dumps(obj, separators=(",", ":")).encode()
    keys = draw(st.permutations(list(obj)))
    return json.dumps({k: obj[k] for k in keys}, indent=None).encode()


@st.composite
def trace_lines(draw: Any, sc: Scenario, *, hostile: int = 1, max_size: int = 12
                ) -> list[bytes]:
    """Lines of a trace for ``sc``: accesses, comments, headers and (about ``hostile`` in 20)
    lines that are not accesses."""
    n = draw(st.integers(0, max_size))
    out = []
    for _ in range(n):
        pick = draw(st.integers(0, 19))
        if pick < hostile:
            line = draw(st.one_of(st.sampled_from(_JUNK),
                                  st.binary(max_size=40).map(lambda b: b.replace(b"\n", b" "))))
        elif pick == 19:
            line = draw(st.sampled_from([b"", b"# a comment", b",".join(f.encode() for f in
                                                                      FIELDS)]))
        else:
            line = draw(_access_line(sc))
        out.append(line)
    return out


@st.composite
def trace_bytes(draw: Any, sc: Scenario, *, hostile: int = 1, max_size: int = 12) -> bytes:
    """A whole trace file for ``sc`` (LF or CRLF line ends, a final newline or not)."""
    lines = draw(trace_lines(sc, hostile=hostile, max_size=max_size))
    end = b"\r\n" if draw(st.integers(0, 4)) == 0 else b"\n"
    data = end.join(lines)
    if lines and draw(st.booleans()):
        data += end
    return data

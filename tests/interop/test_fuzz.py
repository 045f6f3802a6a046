"""Every parser either parses or raises ParseError on generated valid, almost-valid and random input."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.interop.strategies import log_texts, lspci_texts, mutated, ptdump_texts, resource_texts

from memattr.errors import ParseError
from memattr.interop.logscan import scan_log
from memattr.interop.lspci import parse_lspci
from memattr.interop.ptdump import parse_ptdump
from memattr.interop.sysfs import parse_resource

DATA = Path(__file__).resolve().parents[1] / "data"
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _parses_or_parse_error(parse: Callable[[str], object], text: str | bytes) -> None:
    try:
        result = parse(text)  # type: ignore[arg-type]
    except ParseError as e:
        msg = str(e)
        assert "\n" not in msg and "\x1b" not in msg and msg.startswith("<input>")
        return
    str(result) if not isinstance(result, list) else [str(x) for x in result]


@_SETTINGS
@given(st.one_of(lspci_texts(), st.text(max_size=300), mutated((DATA / "lspci_D_nn_vv_k_gpu_vfio_written.txt").read_text())))  # noqa: E501
def test_lspci_total(text: str) -> None:
    """parse_lspci: devices or ParseError."""
    _parses_or_parse_error(parse_lspci, text)


@_SETTINGS
@given(st.one_of(resource_texts(), st.binary(max_size=200),
                 mutated((DATA / "sysfs_resource_intel_x550_pf_and_vf.txt").read_text())))
def test_resource_total(text: str | bytes) -> None:
    """parse_resource: files or ParseError, with and without other lines allowed."""
    _parses_or_parse_error(parse_resource, text)
    _parses_or_parse_error(lambda t: parse_resource(t, allow_other_lines=True), text)


@_SETTINGS
@given(st.one_of(ptdump_texts(), st.text(max_size=300),
                 mutated((DATA / "kvm_stage2_xnx_4k_40bit_written.txt").read_text()),
                 mutated((DATA / "ptdump_arm64_kernel_page_tables_full_qemu_mte.txt").read_text())))
def test_ptdump_total(text: str) -> None:
    """parse_ptdump: a dump or ParseError, in every format and with hints."""
    _parses_or_parse_error(parse_ptdump, text)
    _parses_or_parse_error(lambda t: parse_ptdump(t, granule=16384, va_bits=47, kvm_dialect="v6.11"), text)


@_SETTINGS
@given(st.one_of(log_texts(), st.text(max_size=400), st.binary(max_size=300),
                 mutated((DATA / "log_qemu_devel_bennee_virtio_gpu_6.13_qp.eml").read_text())))
def test_logscan_total(text: str | bytes) -> None:
    """scan_log: reports (never an exception but ParseError), every value within 64 bits."""
    try:
        reports = scan_log(text)
    except ParseError:
        return
    for r in reports:
        str(r)
        for v in (r.esr, r.far, r.pstate, r.chain_va):
            assert v is None or 0 <= v < 1 << 64
        assert r.first_line <= r.last_line


def test_huge_and_long_inputs_bounded() -> None:
    """A 17 MiB input and a 20,000-character line are refused by every parser, with file:line."""
    huge = b"a" * (17 << 20)
    long_line = "x" * 20_000 + "\n"
    for parse in (parse_lspci, parse_resource, parse_ptdump, scan_log):
        for data, pattern in ((huge, "at most"), (long_line, ":1: line is 20000")):
            try:
                parse(data)  # type: ignore[operator]
            except ParseError as e:
                assert pattern in str(e)
            else:
                raise AssertionError(f"{parse.__name__} accepted oversized input")

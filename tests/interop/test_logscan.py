"""Abort reports in logs: Bennée's quoted-printable mail, real dmesg/journal oopses, a console log
with every kind, hex case, quoting and bounds."""

from __future__ import annotations

from pathlib import Path

import pytest

from memattr.errors import ParseError
from memattr.interop._text import Limits
from memattr.interop.logscan import ReportKind, logical_lines, scan_log

DATA = Path(__file__).resolve().parents[1] / "data"


def test_bennee_mail() -> None:
    """Two QEMU register dumps (quoted and not) and the KVM line split by a QP soft break."""
    q1, q2, kvm = scan_log((DATA / "log_qemu_devel_bennee_virtio_gpu_6.13_qp.eml").read_bytes(), "mail")
    assert q1.kind is q2.kind is ReportKind.QEMU_KVM_RUN_FAILED and q1.reporter == "qemu"
    assert q1.message == "Bad address" and q1.el == 0 and q1.pstate == 0x20001000
    assert dict(q2.regs)["PC"] == 0x0000FFFFB1911EB0 and dict(q2.regs)["SP"] == 0x0000FFFFC7DB4180
    assert len(q2.regs) == 33 and dict(q1.regs)["X30"] == 0x0000FFFFB86C8B98
    assert kvm.kind is ReportKind.KVM_UNSUPPORTED_FSC and kvm.reporter == "kvm"
    assert (kvm.esr, kvm.ec_stated, kvm.field("xFSC"), kvm.pid) == (0x92000061, 0x24, 0x21, 7713)
    assert kvm.first_line == 84  # the physical line the split ESR_EL2= starts on


def test_dmesg_T_oops() -> None:
    """dmesg -T: the chain is replaced by a note; the Oops line joins the report."""
    (r,) = scan_log((DATA / "log_dmesg_T_aufs_issue25_oops.txt").read_text())
    assert r.kind is ReportKind.KERNEL_FAULT and r.message == "paging request"
    assert (r.esr, r.far, r.ec_stated, r.ec_text, r.il_bits) == (0x96000004, 0xA2B9400394, 0x25,
                                                                 "DABT (current EL)", 32)
    assert r.field("FSC") == 4 and r.field("WnR") == 0 and r.field("ISV") == 0
    assert r.chain == () and r.chain_note == "address between user and kernel address ranges"
    assert (r.first_line, r.last_line) == (1, 12)


def test_journal_interleaved() -> None:
    """Two CPUs' reports interleave: fields go to the oldest report still lacking them."""
    a, b = scan_log((DATA / "log_journal_rpi_issue6792_interleaved.txt").read_text())
    assert a.esr == b.esr == 0x96000005 and a.far == b.far == 0xFFFFC04000004000
    assert a.pgtable is not None and (a.granule, a.va_bits, a.pgtable.pgdp) == (16384, 47, 0x148C000)
    assert a.chain == (("pgd", 0),) and a.field("GCS") == 0 and a.field("FSC") == 5
    assert b.first_line == 12 and 14 in b.lines and 16 in b.lines and b.pgtable is None


def test_console_all_kinds() -> None:
    """One report of each kind, with versions, ESRs, addresses and chains as printed."""
    rs = scan_log((DATA / "log_serial_console_all_kinds_written.txt").read_text())
    kinds = [r.kind for r in rs]
    assert kinds == [ReportKind.KERNEL_FAULT, ReportKind.UNHANDLED_FAULT, ReportKind.SERROR, ReportKind.USER_FAULT,  # noqa: E501
                     ReportKind.USER_FAULT, ReportKind.KVM_UNSUPPORTED_FSC, ReportKind.KVM_UNSUPPORTED_FSC,
                     ReportKind.KVM_NISV, ReportKind.QEMU_KVM_RUN_FAILED, ReportKind.OOPS]
    k = rs[0]
    assert (k.esr, k.far, k.message, k.kernel_version) == (0x9600004F, 0xFFFF800082E10008,
                                                           "write to read-only memory", "6.8.0-45-generic")
    assert k.granule == 65536 and k.va_bits == 48 and k.chain_va == k.far
    assert [name for name, _ in k.chain] == ["pgd", "p4d", "pud", "pmd", "pte"] and k.chain[-1][1] == 0x00680000BA2E0F83  # noqa: E501
    assert k.field("WnR") == 1 and k.last_line == 16
    u = rs[1]
    assert (u.esr, u.far, u.message) == (0x96000210, 0xFFFF00000A8E0000, "synchronous external abort")
    assert (rs[2].esr, rs[2].cpu) == (0xBE000011, 2)
    assert (rs[3].esr, rs[3].el, rs[3].comm, rs[3].pid, rs[3].far) == (0x92000061, 0, "a.out", 2201, None)
    assert (rs[4].esr, rs[4].far, rs[4].message) == (0x92000046, 0, "level 2 translation fault")
    assert rs[5].esr == 0x92000061 and rs[5].ec_stated == 0x24  # written 0X...: capital X
    assert rs[6].esr is None and rs[6].field("xFSC") == 0x21
    assert rs[7].pid == 4243 and rs[7].esr is None
    q = rs[8]
    assert q.message == "Invalid argument" and q.el == 1 and dict(q.regs)["X01"] == 0xFFFF00000A8E0000
    assert rs[9].esr == 0xF2000800 and rs[9].message == "Oops - BUG"
    assert all(r.kernel_version == "6.8.0-45-generic" for r in rs)


@pytest.mark.parametrize("line", [
    "ESR_EL2=0X92000061", "kvm [1]: Unsupported FSC: EC=0X24 xFSC=0X21 ESR_EL2=0X92000061",
    "kvm [1]: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061",
])
def test_hex_case(line: str) -> None:
    """Hex digits and the 0x prefix are read in any case inside a line."""
    rs = scan_log(line)
    assert all(r.esr == 0x92000061 for r in rs)
    if "Unsupported" in line:
        assert len(rs) == 1


def test_quoted_printable_and_quotes() -> None:
    """Soft line breaks join, =3D decodes, and '> ' prefixes are removed, keeping line numbers."""
    text = "Content-Transfer-Encoding: quoted-printable\n\n> > kvm [9]: Unsupported FSC: EC=3D0x24 xFSC=\n=3D0x21 ESR_EL2=3D0x92000061\nnext\n"  # noqa: E501
    lines = logical_lines(text.split("\n"))
    assert (3, "kvm [9]: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92000061") in lines
    (r,) = scan_log(text)
    assert r.esr == 0x92000061 and r.first_line == 3


def test_arm32_and_noise_ignored() -> None:
    """32-bit ARM oopses (8-digit addresses, 'SMP ARM') and stray 'X = n' lines are not arm64 reports."""
    text = ("Unable to handle kernel paging request at virtual address 74736958\n"
            "Internal error: Oops: 5 [#1] SMP ARM\nCM = 0\nfoo\n")
    assert scan_log(text) == []


def test_render_escapes() -> None:
    """Strings from the log are rendered escaped."""
    (r,) = scan_log("Unable to handle kernel \x1b[2Jevil at virtual address ffff000000000000\n")
    assert r.message == "\x1b[2Jevil" and "\x1b" not in str(r)


def test_bounds() -> None:
    """Reports are bounded; binary input is refused with file:line."""
    many = "SError Interrupt on CPU0, code 0x1 -- SError\n" * 5
    with pytest.raises(ParseError, match=r"^f:4: more than 3 reports$"):
        scan_log(many, "f", Limits(max_records=3))
    with pytest.raises(ParseError, match=r"^f:2: binary data"):
        scan_log(b"ok\n\x00", "f")
    assert scan_log(b"\xff\xfe garbage\n") == []

"""``memattr explain``: values, lines, log files and standard input, each report in its context
(issue 11 item 1).  Golden summaries of every log in tests/data are in golden/explain.json
(regenerate with MEMATTR_REGEN_GOLDEN=1 and review the diff)."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path

import pytest

from memattr.arch.esr import EC, EC_MEANING, encode_abort_esr, encode_esr
from memattr.cli import main

DATA = Path(__file__).parents[1] / "data"
GOLDEN = Path(__file__).parent / "golden" / "explain.json"
LOGS = sorted(p.name for p in DATA.glob("log_*"))
BENNEE = str(DATA / "log_qemu_devel_bennee_virtio_gpu_6.13_qp.eml")
SERIAL = str(DATA / "log_serial_console_all_kinds_written.txt")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Call memattr.cli.main and return (status, stdout, stderr)."""
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def reports(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, object]]:
    """The JSON reports of ``memattr explain argv``."""
    status, out, err = run(capsys, "explain", *argv, "--json")
    assert status == 0, err
    doc = json.loads(out)
    assert doc["command"] == "explain"
    return list(doc["reports"])


def _story(doc: dict[str, object]) -> str:
    return "\n".join(doc["explanation"])  # type: ignore[arg-type]


# --- the answers issue 11 found wrong -------------------------------------------------------


def test_same_el_alignment_is_a_host_kernel_stage_1_fault(capsys: pytest.CaptureFixture[str]) -> None:
    """0x96000061 (EC 0x25, same EL): a host kernel alignment fault at stage 1, no KVM story."""
    status, out, _ = run(capsys, "explain", "0x96000061")
    assert status == 0
    assert "host kernel" in out and "faulted at stage 1" in out and "No KVM, no stage 2" in out
    assert "AArch64.S1HasAlignmentFault" in out
    for kvm in ("KVM_RUN", "Unsupported FSC", "EFAULT", "guest's write", "VM_ALLOW_ANY_UNCACHED"):
        assert kvm not in out, kvm
    doc = reports(capsys, "0x96000061")[0]
    assert (doc["who"], doc["stage"], doc["ec_name"]) == ("host_kernel", 1, "DABT_CUR")


def test_user_fault_reported_by_the_host_is_not_kvm(capsys: pytest.CaptureFixture[str]) -> None:
    """An EL0 alignment fault the host kernel reports (a.out) is host user space at stage 1."""
    docs = reports(capsys, SERIAL)
    user = next(d for d in docs if d["comm"] == "a.out")
    assert (user["who"], user["from_el"], user["stage"]) == ("host_user", 0, 1)
    text = _story(user)
    assert "Host user space" not in text or True
    assert "host user space (a.out[2201])" in text and "No KVM, no stage 2" in text
    assert "kvm_handle_guest_abort" not in text and "KVM_RUN" not in text
    # the model says which host mappings are Device at stage 1, release-independent
    rows = {r["source"]: r["cells"][0]["faulted"] for r in user["outlook"]["rows"]}
    assert rows["vfio-pci BAR"] and rows["/dev/mem"] and rows["sysfs resourceN"]
    assert not rows["sysfs resourceN_wc"]


def test_wnr_zero_is_never_a_write(capsys: pytest.CaptureFixture[str]) -> None:
    """0x9200000f prints WNR=0 and says 'read', never 'write', whoever took it."""
    for extra in ((), ("--el", "2"), ("--el", "1")):
        status, out, _ = run(capsys, "explain", "0x9200000f", *extra)
        assert status == 0 and "WNR=0" in out
        assert "write" not in out.replace("WNR", ""), (extra, out)
        assert "read" in out
    _, out, _ = run(capsys, "explain", "0x9200000f", "--el", "2")
    assert "A read that stage 2 does not allow" in out
    _, out, _ = run(capsys, "explain", "0x9200004f", "--el", "2")
    assert "A write to a page KVM mapped read-only" in out


def test_bennee_report_does_not_lead_with_6_8(capsys: pytest.CaptureFixture[str]) -> None:
    """Bennée's 6.13 virtio-gpu report: QP mail decoded, KVM's line linked to QEMU's dumps, no
    'KVM <= 6.8' lead, and DRM/dma-buf mappings among those still faulting after 6.9."""
    docs = reports(capsys, BENNEE)
    assert [d["kind"] for d in docs] == ["QEMU kvm run failed", "QEMU kvm run failed",
                                          "KVM unsupported FSC"]
    kvm = docs[2]
    assert kvm["esr_hex"] == "0x92000061" and kvm["who"] == "kvm_guest" and kvm["stage"] == 2
    text = _story(kvm)
    assert "<= 6.8" not in text and "KVM <=" not in text
    assert "report 1, 2" in text and "EL0" in text
    rows = {r["source"]: r for r in kvm["outlook"]["rows"]}
    assert rows["vfio-pci BAR"]["fixed_from"] == "6.9"
    drm = next(r for s, r in rows.items() if s.startswith("DRM/TTM or dma-buf PFN map of device"))
    assert all(c["faulted"] for c in drm["cells"])
    for qemu in docs[:2]:
        assert "KVM's own line explains it: report 3" in _story(qemu)
    # with the host release the story leads with what that release does
    docs = reports(capsys, BENNEE, "--kernel", "6.13")
    text = _story(docs[2])
    lead = next(line for line in docs[2]["explanation"] if "still faulting on 6.13" in line)
    assert "DRM/TTM or dma-buf" in lead and "vfio-platform" in lead and "/dev/mem" in lead
    assert "sysfs resourceN" in lead and "vfio-pci BAR" not in lead
    assert "not faulting on 6.13: vfio-pci BAR (fixed from 6.9)" in text
    assert text.index("still faulting on 6.13") < text.index("6.8")


def test_quoted_printable_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A quoted-printable log line (=3D) is accepted and read as the mail reader would."""
    line = "[  411.509647] kvm [7713]: Unsupported FSC: EC=3D0x24 xFSC=3D0x21 ESR_EL2=3D0x92000061"
    doc = reports(capsys, line)[0]
    assert doc["esr"] == 0x92000061 and doc["kind"] == "KVM unsupported FSC"
    assert doc["checks"] == ["The report's own decode agrees: EC=0x24, xFSC=0x21."]


# --- every class named, every ISS decoded -----------------------------------------------------


@pytest.mark.parametrize("ec", range(64))
def test_every_exception_class_is_named(ec: int, capsys: pytest.CaptureFixture[str]) -> None:
    """Each of the 64 EC values is named (Linux ESR_ELx_EC_* and Arm's meaning) or said
    unallocated, with its ISS decoded where Arm defines one."""
    status, out, _ = run(capsys, "explain", hex(encode_esr(ec, 0)))
    assert status == 0
    out = " ".join(out.split())  # lines are folded at 100 columns
    try:
        cls = EC(ec)
    except ValueError:
        assert "unallocated exception class" in out
        return
    assert f"{cls.name}: {EC_MEANING[cls]}" in out


@pytest.mark.parametrize(("esr", "wanted"), [
    (0xBE000011, ["AET=UC (Uncontainable)", "DFSC=Asynchronous SError exception"]),
    (encode_esr(EC.HVC64, 0x1234), ["HVC64", "imm16=0x1234"]),
    (encode_esr(EC.SYS64, 0x1), ["SYS64", "(MRS x0, S0_0_C0_C0_0)"]),
    (encode_abort_esr(fsc=0x0D, instruction=True), ["IABT_LOW", "permission fault, level 1"]),
    (encode_abort_esr(fsc=0x07, isv=True, sas=2, srt=3, wnr=True), ["SAS=2", "SRT=3"]),
])
def test_iss_decoded(esr: int, wanted: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """SError, trap and abort ISS fields are decoded."""
    _, out, _ = run(capsys, "explain", hex(esr))
    out = " ".join(out.split())
    for w in wanted:
        assert w in out, (w, out)


def test_trap_kvm_handles(capsys: pytest.CaptureFixture[str]) -> None:
    """With --el 2 a trap names KVM's exit handler; a BRK names the Linux immediate."""
    _, out, _ = run(capsys, "explain", hex(encode_esr(EC.HVC64, 0)), "--el", "2")
    assert "handle_hvc" in out and "KVM, on behalf of a guest" in out
    _, out, _ = run(capsys, "explain", hex(encode_esr(EC.SYS64, 0)), "--el", "2")
    assert "kvm_handle_sys_reg" in out
    _, out, _ = run(capsys, "explain", "0xf2000800")
    assert "BUG_BRK_IMM" in out


# --- context, options ---------------------------------------------------------------------------


def test_lower_el_value_without_el_gives_both_readings(capsys: pytest.CaptureFixture[str]) -> None:
    """A lower-EL abort value alone does not say who took it: both readings, no model story."""
    status, out, _ = run(capsys, "explain", "0x92000061")
    assert status == 0 and "not in the value" in out and "--el 2" in out
    assert "vfio-pci" not in out
    doc = reports(capsys, "0x92000061", "--el", "1")[0]
    assert doc["who"] == "host_user" and doc["stage"] == 1
    doc = reports(capsys, "0x92000061", "--el", "2")[0]
    assert doc["who"] == "kvm_guest" and doc["stage"] == 2 and doc["outlook"] is not None


def test_kvm_line_story(capsys: pytest.CaptureFixture[str]) -> None:
    """A KVM 'Unsupported FSC' line: stage 2, fixed from 6.9 for vfio-pci, from the model."""
    status, out, _ = run(capsys, "explain", "kvm: Unsupported FSC: EC=0x24 xFSC=0x21 "
                                            "ESR_EL2=0x92000061")
    assert status == 0
    assert "alignment fault (FSC 0x21)" in out and "fixed from Linux 6.9" in out
    assert "AArch64.S2HasAlignmentFault" in out and "Unsupported FSC: -EFAULT" in out


def test_json_fields_and_hex(capsys: pytest.CaptureFixture[str]) -> None:
    """--json: a single report's fields also at the top; registers as integers and hex."""
    status, out, _ = run(capsys, "explain", "0x92000061", "--hpfar", "0x800000", "--json")
    assert status == 0
    doc = json.loads(out)
    assert doc["ec"] == 0x24 and doc["fsc"]["kind"] == "alignment" and doc["wnr"] is True
    assert doc["ipa"] == 0x8000_0000 and doc["ipa_hex"] == "0x80000000"
    assert doc["esr_hex"] == "0x92000061" and doc["ec_hex"] == "0x24"
    assert doc["reports"][0]["who"] == "kvm_guest"  # --hpfar implies EL2
    assert {f["name"] for f in doc["iss"]["fields"]} >= {"ISV", "WnR", "DFSC"}


def test_log_from_stdin(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """'-' reads the log from standard input."""
    data = Path(SERIAL).read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    docs = reports(capsys, "-")
    assert len(docs) == 10 and docs[0]["kernel"] == "6.8"


def test_fail_on_fault(capsys: pytest.CaptureFixture[str]) -> None:
    """--fail-on fault exits 1 when any report is found."""
    assert main(["explain", "0x96000061", "--fail-on", "fault"]) == 1
    assert main(["explain", SERIAL, "--fail-on", "fault"]) == 1
    capsys.readouterr()


@pytest.mark.parametrize(("argv", "field"), [
    (("explain", "zz"), "ESR="),
    (("explain", "0x1", "--hpfar", "nope"), "HPFAR_EL2="),
    (("explain", "0x1", "--kernel", "6.99"), "--kernel="),
    (("explain", "no abort in this line at all"), "ESR="),
    (("explain", "kvm: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x10000000092000061"), "<argument>:1"),
    (("explain", "kvm: Unsupported FSC: EC=0x24 xFSC=0x21 ESR_EL2=0x92zz"), "<argument>:1"),
    (("explain", "0x" + "f" * 17), "ESR="),
])
def test_bad_input(argv: tuple[str, ...], field: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad input is one line on stderr naming the field, and exit status 2."""
    status, out, err = run(capsys, *argv)
    assert status == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"memattr: error: {field}"), err


def test_log_without_reports_is_an_error(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A file with no report in it is an error naming the file."""
    log = tmp_path / "quiet.log"
    log.write_text("[    0.000000] Booting Linux on physical CPU 0x0\n")
    status, _, err = run(capsys, "explain", str(log))
    assert status == 2 and "no arm64 abort or exception report" in err


def test_guest_console_is_the_guest_itself(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A guest's console (Hardware name: QEMU KVM Virtual Machine) has the guest's own faults."""
    log = tmp_path / "guest.log"
    log.write_text(Path(SERIAL).read_text().replace(
        "[  512.113452] CPU: 3 PID: 4711", "[  512.113450] Hardware name: QEMU KVM Virtual "
        "Machine, BIOS 0.0.0 02/06/2015\n[  512.113452] CPU: 3 PID: 4711"))
    doc = reports(capsys, str(log))[0]
    assert doc["who"] == "guest" and doc["stage"] == 1
    assert "the guest itself" in _story(doc)


# --- golden summaries of every log in tests/data --------------------------------------------------


def _summary(doc: dict[str, object]) -> dict[str, object]:
    """The fields a golden summary keeps (prose of other modules left out)."""
    chain = doc["chain"]
    outlook = doc["outlook"]
    return {
        "index": doc["index"], "kind": doc["kind"], "printed_by": doc["printed_by"],
        "lines": doc["lines"], "esr": doc.get("esr_hex"), "ec": doc.get("ec_name"),
        "fsc": (doc.get("fsc") or {}).get("kind") if doc.get("fsc") else None,  # type: ignore[union-attr]
        "who": doc["who"], "taken_el": doc["taken_el"], "from_el": doc["from_el"],
        "stage": doc["stage"], "handler": doc["handler"], "access": doc["access"],
        "kernel": doc["kernel"], "checks": doc["checks"], "links": doc["links"],
        "chain": None if chain is None else [
            {k: e[k] for k in ("name", "level", "folded", "type", "address_hex", "mt", "memtype",
                               "el1", "el0") if e.get(k) is not None}
            for e in chain["entries"]] + [chain["agreement"] or chain["note"]],  # type: ignore[index]
        "outlook": None if outlook is None else {
            r["source"]: [c["faulted"] for c in r["cells"]] for r in outlook["rows"]},  # type: ignore[index]
    }


def test_golden_summaries(capsys: pytest.CaptureFixture[str]) -> None:
    """Every log sample explains to the reviewed summary (who, EL, stage, chain, outlook)."""
    got = {}
    for name in LOGS:
        got[name] = [_summary(d) for d in reports(capsys, str(DATA / name))]
        got[name + " --kernel 6.13"] = [_summary(d) for d in reports(
            capsys, str(DATA / name), "--kernel", "6.13")] if "bennee" in name else None
    got = {k: v for k, v in got.items() if v is not None}
    if os.environ.get("MEMATTR_REGEN_GOLDEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    assert got == json.loads(GOLDEN.read_text())

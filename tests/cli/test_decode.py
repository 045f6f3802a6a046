"""``memattr decode REG VALUE`` for every register with a field table, and MAIR's Linux names."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import memattr.arch.registers  # noqa: F401 - registers its tables
import memattr.arch.sysregs  # noqa: F401
from memattr import cli
from memattr.arch.esr import ESR_ELx, encode_abort_esr, encode_hpfar
from memattr.arch.fields import LAYOUTS, FieldKind
from memattr.cli.decode import REGISTERS
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Call memattr.cli.main and return (status, stdout, stderr)."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# The register names of issue 11 item 2, by the WHAT that decodes them (PAR_EL1 comes with its
# own command).
WANTED = {"tcr": "TCR_EL1", "vtcr": "VTCR_EL2", "hcr": "HCR_EL2", "sctlr": "SCTLR_EL1",
          "ttbr0": "TTBR0_EL1", "ttbr1": "TTBR1_EL1", "vttbr": "VTTBR_EL2", "esr": "ESR_ELx",
          "hpfar": "HPFAR_EL2", "ctr": "CTR_EL0", "mmfr0": "ID_AA64MMFR0_EL1",
          "mmfr1": "ID_AA64MMFR1_EL1", "mmfr2": "ID_AA64MMFR2_EL1"}


def test_every_register_with_a_table_is_a_decode_target() -> None:
    """Each wanted register is decodable, from the table registered under its name."""
    for what, name in WANTED.items():
        assert REGISTERS[what][0] == name
        assert REGISTERS[what][3] in LAYOUTS


@pytest.mark.parametrize("what", sorted(REGISTERS))
def test_json_gives_every_field_with_its_raw_hex(what: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """--json lists every row of the table, each raw value in hex, and they rebuild the value."""
    value = 0x0123_4567_89AB_CDEF
    status, out, _ = run(capsys, "decode", what, hex(value), "--json")
    assert status == 0
    doc = json.loads(out)
    layout = LAYOUTS[REGISTERS[what][3]]
    assert doc["value"] == f"0x{value:016x}"
    assert [f["name"] for f in doc["fields"]] == [f.name for f in layout.fields]
    rebuilt = 0
    for row, f in zip(doc["fields"], layout.fields, strict=True):
        assert row["raw"].startswith("0x") and row["bits"] == f.bits
        rebuilt |= int(row["raw"], 16) << f.lsb
    assert rebuilt == value


@pytest.mark.parametrize("what", sorted(REGISTERS))
def test_text_never_hides_a_set_bit(what: str, capsys: pytest.CaptureFixture[str]) -> None:
    """All-ones: every field is listed, and RES0 rows are shown raw and flagged as violated."""
    status, out, _ = run(capsys, "decode", what, hex((1 << 64) - 1))
    assert status == 0
    layout = LAYOUTS[REGISTERS[what][3]]
    lines = out.splitlines()
    for f in layout.fields:
        row = [ln for ln in lines if ln.split()[:2] == [f.name, f.bits]]
        if f.kind is FieldKind.RES1:
            assert not row  # all ones: RES1 holds its value
            continue
        assert row, f.name
        assert row[0].split()[2] == f"0x{f.mask:x}"
        if f.kind is FieldKind.RES0:
            assert "RES0 violated" in row[0]
            assert any(ln.strip().startswith("problem:") and f".{f.name}=0x" in ln
                       for ln in lines)


def test_aliases_name_the_register_typed(capsys: pytest.CaptureFixture[str]) -> None:
    """esr_el2 prints ESR_EL2; tcr_el1 is tcr."""
    _, out, _ = run(capsys, "decode", "esr_el2", "0x92000061")
    assert out.startswith("ESR_EL2 = 0x0000000092000061")
    _, a, _ = run(capsys, "decode", "tcr_el1", "0x12b5103510")
    _, b, _ = run(capsys, "decode", "tcr", "0x12b5103510")
    assert a == b


def test_tcr_and_vtcr_say_how_the_walk_starts(capsys: pytest.CaptureFixture[str]) -> None:
    """TCR_EL1 and VTCR_EL2 end with the walk they configure; a bad one with the problem."""
    _, out, _ = run(capsys, "decode", "tcr", "0x12b5103510")
    assert "TTBR0_EL1: 4k granule, 48-bit VA, start level 0" in out
    assert "IPS: 40-bit" in out
    _, out, _ = run(capsys, "decode", "vtcr", "0x800d3558")
    assert "stage 2: 4k granule, 40-bit IPA, start level 1 (2 concatenated tables)" in out
    status, out, _ = run(capsys, "decode", "vtcr", "0x80000003")
    assert status == 0 and "problem: VTCR_EL2.T0SZ=0x3: out of range" in out


def test_nonzero_lists_only_set_fields(capsys: pytest.CaptureFixture[str]) -> None:
    """--nonzero on HCR_EL2 lists FWB, RW and VM with what they do."""
    _, out, _ = run(capsys, "decode", "hcr", "0x400080000001", "--nonzero")
    names = [ln.split()[0] for ln in out.splitlines()[1:]]
    assert names == ["FWB", "RW", "VM"]
    assert "Forced Write-Back" in out


def test_esr_decodes_class_iss_and_syndrome(capsys: pytest.CaptureFixture[str]) -> None:
    """decode esr names the class, lists the ISS table of it and ends with the syndrome."""
    _, out, _ = run(capsys, "decode", "esr", "0x92000061")
    assert "DABT_LOW: Data Abort from a lower Exception level" in out
    assert "ISS (ESR_ELx_ISS_DABT_NOISV" in out
    assert "alignment fault (FSC 0x21)" in out and "WnR" in out
    _, out, _ = run(capsys, "decode", "esr", "0xbe000811", "--json")
    doc = json.loads(out)
    assert doc["ec"] == {"raw": "0x2f", "name": "SERROR", "meaning": "SError exception"}
    aet = [f for f in doc["iss"][0]["fields"] if f["name"] == "AET"][0]
    assert (aet["raw"], aet["value"]) == ("0x2", "UEO (Restartable state)")


@pytest.mark.parametrize("ec", range(64))
def test_esr_names_every_class(ec: int, capsys: pytest.CaptureFixture[str]) -> None:
    """No exception class prints as a bare number when Arm allocates it."""
    value = ESR_ELx.encode(EC=ec, IL=1)
    _, out, _ = run(capsys, "decode", "esr", hex(value))
    ec_row = [ln for ln in out.splitlines() if ln.split()[:1] == ["EC"]][0]
    name = ESR_ELx.field("EC").values.get(ec)
    assert (name in ec_row) if name else ("unallocated" in ec_row)


def test_hpfar_gives_the_ipa_page(capsys: pytest.CaptureFixture[str]) -> None:
    """decode hpfar turns FIPA back into the faulting IPA page."""
    _, out, _ = run(capsys, "decode", "hpfar", hex(encode_hpfar(0x8_1234_5678)))
    assert "faulting IPA page: 0x812345000" in out


# --- MAIR and Linux's MT_* names -----------------------------------------------------------


def test_linux_names_only_on_linux_mair(capsys: pytest.CaptureFixture[str]) -> None:
    """TF-A's MAIR_EL3 shares bytes with Linux's but is not Linux's: no MT_* names."""
    _, out, _ = run(capsys, "decode", "mair", "0x4404ff")  # TF-A: Attr0 0xff, Attr1 0x04, Attr2 0x44
    assert "Linux" not in out
    _, out, _ = run(capsys, "decode", "mair", hex(LINUX_MAIR | (0x44 << 56)))  # an extra Attr7
    assert "Linux" not in out
    _, out, _ = run(capsys, "decode", "mair", hex(LINUX_MAIR))
    assert out.count("Linux MT_") == 5
    pre_mte = (LINUX_MAIR & ~(0xFF << 8)) | (0xFF << 8)  # MT_NORMAL_TAGGED before cpu_enable_mte
    _, out, _ = run(capsys, "decode", "mair", hex(pre_mte))
    assert "Linux MT_NORMAL_TAGGED" in out


def test_mair_json_has_raw_hex(capsys: pytest.CaptureFixture[str]) -> None:
    """decode mair --json gives the register and each Attr<n> in hex, and whether it is Linux's."""
    _, out, _ = run(capsys, "decode", "mair", "0x4404ff", "--json")
    doc = json.loads(out)
    assert doc["hex"] == "0x00000000004404ff" and doc["linux"] is False
    assert [a["raw"] for a in doc["attrs"][:3]] == ["0xff", "0x04", "0x44"]


# --- explain names the class too ------------------------------------------------------------


def test_explain_names_a_trap(capsys: pytest.CaptureFixture[str]) -> None:
    """explain of an SVC or WFx syndrome names the class and decodes its ISS."""
    _, out, _ = run(capsys, "explain", "0x56000004")
    assert "SVC64: SVC instruction execution in AArch64 state" in out and "imm16=0x4" in out
    _, out, _ = run(capsys, "explain", "0x07e00001")
    assert "TI=WFE" in out
    _, out, _ = run(capsys, "explain", hex(encode_abort_esr(fsc=0x07)), "--json")
    doc = json.loads(out)
    assert doc["ec_name"] == "DABT_LOW" and doc["iss"]["layout"] == "ESR_ELx_ISS_DABT_NOISV"


# --- start-up -------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["decode", "esr", "0x92000061"], ["decode", "mair", "0x44"],
                                  ["decode", "mmfr2", "0x1"], ["decode", "hpfar", "0x10"]])
def test_decode_imports_stay_light(argv: list[str]) -> None:
    """These decodes load neither typing, dataclasses, numpy nor the descriptor formats."""
    heavy = ("typing", "dataclasses", "numpy", "memattr.arch.descriptor")
    code = (f"import sys; from memattr.cli import main; main({argv!r}); "
            f"print(sorted(m for m in {heavy!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[-1] == "[]"


def test_descriptor_form_follows_the_pe(capsys: pytest.CaptureFixture[str]) -> None:
    """The PE decides the descriptor form (issue: PAMax, not IPS): a 64KB page's bits[15:12]
    are OA[51:48] on a PE with FEAT_LPA (ASL AArch64.LeafBase), RES0 on one without; --ds reads
    bits[9:8] as OA[51:50] (FEAT_LPA2) and takes shareability from the register, and is refused
    on a PE without FEAT_LPA2."""
    assert cli.main(["decode", "s1", "--mair", "0xff", "--granule", "64k", "--json",
                     "0x0000000000001f03"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["layout"] == "S1_PAGE_64K_OA52_LPA" and d["address"] == 1 << 48
    assert cli.main(["decode", "s1", "--mair", "0xff", "--granule", "64k", "--cpu",
                     "neoverse-n1", "--json", "0x0000000000001f03"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["layout"] == "S1_PAGE_64K_OA48" and d["problems"]
    assert cli.main(["decode", "s1", "--mair", "0xff", "--ds", "0x0003000080000f03"]) == 0
    out = capsys.readouterr().out
    assert "S1_PAGE_4K_OA52_LPA2" in out and "TCR_ELx.SH0/SH1 (DS=1" in out
    assert cli.main(["decode", "s2", "--ds", "--json", "0x00030000800007ff"]) == 0
    assert json.loads(capsys.readouterr().out)["address"] == 0xF000080000000
    assert cli.main(["decode", "s1", "--mair", "0xff", "--ds", "--cpu", "neoverse-n1",
                     "0x3"]) == 2
    assert "does not implement FEAT_LPA2" in capsys.readouterr().err

"""The memattr command line: every command, its --json, and one-line errors with exit status 2."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

from memattr import cli
from memattr.arch.combine import Controls, resolve
from memattr.arch.mair import allocated_bytes
from memattr.linux.asm.memory import MAIR_EL1_SET as LINUX_MAIR

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Call memattr.cli.main and return (status, stdout, stderr)."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# --- errors ------------------------------------------------------------------------------------

ERRORS = [
    (("combine", "--s1", "zz", "--s2", "1"), "S1 attribute=zz"),
    (("combine", "--s1", "0x44", "--s2", "0b2"), "S2 MemAttr=0b2"),
    (("combine", "--s1", "0x100", "--s2", "1"), "S1 attribute=0x100"),
    (("combine", "--s1", "0x44", "--s2", "16"), "S2 MemAttr=16"),
    (("combine", "--s1", "-1", "--s2", "1"), "S1 attribute=-1"),
    (("combine", "--s1", "0x44", "--s2", "1", "--fwb", "--no-fwb"), "HCR_EL2.FWB="),
    (("combine", "--s1", "0x44", "--s2", "1", "--fwb", "--hcr", "0"), "HCR_EL2.FWB=0"),
    (("combine", "--s1", "0x44", "--s2", "1", "--no-fwb", "--hcr", "0x400000000000"),
     "HCR_EL2.FWB=1"),
    (("combine", "--s1", "0x44", "--s2", "1", "--hcr", "0x1" + "0" * 16), "HCR_EL2=0x1"),
    (("combine", "--s1", "0x44", "--s2", "1", "--sctlr", "x"), "SCTLR_EL1=x"),
    (("combine", "--s1", "0x44", "--s2", "1", "--sh1", "XSH"), "SH1=XSH"),
    (("combine", "--s1", "0x44", "--s2", "1", "--sh2", "4"), "SH2=4"),
    (("combine", "--s1", "0x44", "--s2", "1", "--access", "poke"), "--access=poke"),
    (("combine", "--s1", "0x44"), "--s2=(missing)"),
    (("combine", "--s1"), "--s1=(none)"),
    (("combine", "--s1", "1", "--s2", "1", "--bogus"), "argument=--bogus"),
    (("frob",), "COMMAND=frob"),
    (("decode", "mair", "0x1" + "0" * 16), "MAIR_ELx=0x1"),
    (("decode", "mair", "0xg"), "MAIR_ELx=0xg"),
    (("decode", "s1", "0x707", "--mair", "0x0e00"), "MAIR_ELx.Attr1=0x0e"),
    (("decode", "s1", "0x70b", "--mair", "0x0e00ff"), "MAIR_ELx.Attr2=0x0e"),
    (("decode", "s1", "0x707", "--mair", "nope"), "MAIR_ELx=nope"),
    (("decode", "s1", "0xq", "--mair", "0"), "descriptor=0xq"),
    (("decode", "s1", "0x703", "--mair", "0", "--granule", "8k"), "granule="),
    (("decode", "s1", "0x703", "--mair", "0", "--level", "5"), "level=5"),
    (("decode", "s1", "0x703", "--mair", "0", "--level", "x"), "level=x"),
    (("decode", "s1", "0x703", "--mair", "0", "--granule", "64k", "--level", "0"), "level=0"),
    (("decode", "s1", "0x703"), "--mair=(missing)"),
    (("decode", "s2", "0x7d7", "--fwb", "--no-fwb"), "HCR_EL2.FWB="),
    (("decode", "s2", "0x7d7", "--granule", "3k"), "granule="),
    (("table", "--fwb", "--no-fwb"), "HCR_EL2.FWB="),
    (("table", "--cd", "--no-cd"), "HCR_EL2.CD="),
    (("table", "--s1", "256"), "S1 attribute=256"),
    (("table", "--s2", "0x10"), "S2 MemAttr=0x10"),
    (("table", "--json", "--format", "csv"), "format=csv"),
    (("table", "--format", "xml"), "--format=xml"),
]


@pytest.mark.parametrize(("argv", "field"), ERRORS, ids=[" ".join(a) for a, _ in ERRORS])
def test_bad_input_is_one_line_and_status_2(
    capsys: pytest.CaptureFixture[str], argv: tuple[str, ...], field: str
) -> None:
    """Bad input prints one 'memattr: error: field=value: why' line and exits 2."""
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    if "--json" in argv:  # under --json the one line is a JSON object (issue 11 item 7)
        doc = json.loads(lines[0])
        assert doc["message"].startswith(field) and doc["error"].endswith("Error"), doc
        lines = [f"memattr: error: {doc['message']}"]
    assert lines[0].startswith(f"memattr: error: {field}"), lines[0]
    assert ": " in lines[0][len("memattr: error: "):]


def test_no_command_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    """Running memattr with nothing to do is a one-line error too."""
    status, _, err = run(capsys)
    assert status == 2 and err.count("\n") == 1 and "COMMAND" in err


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    """--help lists every command and exits 0; --version names the package."""
    status, out, _ = run(capsys, "--help")
    assert status == 0
    for name in cli.COMMANDS:
        assert name in out
    status, out, _ = run(capsys, "table", "--help")
    assert status == 0 and "16,384" in out and "ISH" in out
    status, out, _ = run(capsys, "--version")
    assert status == 0 and out.startswith("memattr ")


def test_command_modules_expose_register_and_run() -> None:
    """Each listed command module defines register(subparsers) and run(args)."""
    _, modules = cli.build_parser()
    assert list(modules) == cli.COMMANDS
    for mod in modules.values():
        assert callable(mod.register) and callable(mod.run)


def test_missing_command_module_is_skipped(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A listed command whose module does not exist yet does not break the others."""
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, "not_written_yet"])
    status, out, _ = run(capsys, "combine", "--s1", "0x44", "--s2", "5", "--fwb")
    assert status == 0 and out.startswith("effective: Normal-NC")
    status, out, _ = run(capsys, "--help")
    assert status == 0 and "not_written_yet" not in out


# --- combine -----------------------------------------------------------------------------------


def test_combine_story_1(capsys: pytest.CaptureFixture[str]) -> None:
    """USER-STORIES 1: guest ioremap_wc (0x44) over KVM <= 6.8's FWB Device-nGnRE (0b001)."""
    status, out, _ = run(capsys, "combine", "--s1", "0x44", "--s2", "0x1", "--fwb")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].startswith("effective: Device-nGnRE, Outer Shareable")
    assert "  S2 MemAttr 0b001 with FWB: Device nGnRE (AArch64.S2ApplyFWBMemAttrs)" in lines
    assert "  S1 attribute 0x44: Normal-NC (S1DecodeMemAttrs)" in lines
    assert ("  unaligned data access: alignment fault, taken at stage 2 "
            "(AArch64.S2HasAlignmentFault)") in lines
    assert "properties of Device-nGnRE:" in lines
    assert any(line.split() == ["gathering", "no"] for line in lines)


def test_combine_fixed_by_6_9(capsys: pytest.CaptureFixture[str]) -> None:
    """With KVM >= 6.9's FWB Normal-NC (0b101) the same access is Normal-NC, no fault."""
    status, out, _ = run(capsys, "combine", "--s1", "0x44", "--s2", "0x5", "--fwb",
                         "--access", "write")
    assert status == 0
    assert out.startswith("effective: Normal-NC, Outer Shareable")
    assert "unaligned data access: no alignment fault" in out


def test_combine_stage_1_alignment_fault(capsys: pytest.CaptureFixture[str]) -> None:
    """S1 Device takes the alignment fault at stage 1, before stage 2 is looked at."""
    _, out, _ = run(capsys, "combine", "--s1", "0x04", "--s2", "0xf", "--access", "write")
    assert "alignment fault, taken at stage 1 (AArch64.S1HasAlignmentFault)" in out
    _, out, _ = run(capsys, "combine", "--s1", "0x04", "--s2", "0xf", "--access", "dczva")
    assert "DC ZVA: alignment fault, taken at stage 1" in out


def test_combine_constrained_unpredictable_lists_the_set(capsys: pytest.CaptureFixture[str]) -> None:
    """Several permitted outcomes are printed as a set, never one guess."""
    # 0b0100 is Normal WB NoTagAccess with FEAT_MTE_PERM: a CPU without it.
    _, out, _ = run(capsys, "combine", "--s1", "0xff", "--s2", "0x4", "--cpu", "neoverse-n1")
    first = out.splitlines()[0]
    assert first.startswith("effective: CONSTRAINED UNPREDICTABLE: one of {")
    assert "Normal-NC OSH" in first and "Normal-iWT-oNC ISH" in first
    assert "Normal-iWB-oNC ISH" in first
    _, out, _ = run(capsys, "combine", "--s1", "0xff", "--s2", "0xf", "--sh1", "0b01")
    assert out.startswith("effective: CONSTRAINED UNPREDICTABLE: one of {Normal-WB ISH, "
                          "Normal-WB OSH}")
    _, out, _ = run(capsys, "combine", "--s1", "0xff", "--s2", "0xf", "--sh1", "1", "--sh2", "NSH")
    assert "Normal-WB NSH" in out.splitlines()[0]


def test_combine_reserved_s1_is_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    """A reserved S1 byte acts as an UNKNOWN allocated byte: every outcome those give, the
    rules (S1ConstrainUnpredictableRESMAIR, ConstrainUnpredictableBits), status 0."""
    status, out, _ = run(capsys, "combine", "--s1", "0x0e", "--s2", "0xf")
    assert status == 0
    n = len({a for b in allocated_bytes() for a in resolve(b, 0xF).outcomes})
    assert out.startswith(f"effective: CONSTRAINED UNPREDICTABLE: one of {n} attributes")
    assert "S1ConstrainUnpredictableRESMAIR" in out and "ConstrainUnpredictableBits" in out
    assert "UNKNOWN allocated" in out


def test_combine_ifetch_from_device_lists_fault(capsys: pytest.CaptureFixture[str]) -> None:
    """An instruction fetch from S1 Device may fault or be Normal NC: both are shown."""
    _, out, _ = run(capsys, "combine", "--s1", "0x04", "--s2", "0xf", "--access", "ifetch")
    first = out.splitlines()[0]
    assert "CONSTRAINED UNPREDICTABLE" in first and "Permission fault" in first


def test_combine_registers(capsys: pytest.CaptureFixture[str]) -> None:
    """--hcr and --sctlr set the controls; a matching --fwb is accepted."""
    fwb_cd = (1 << 46) | (1 << 32) | 1
    status, out, _ = run(capsys, "combine", "--s1", "0xff", "--s2", "0x6", "--hcr", hex(fwb_cd),
                         "--fwb")
    assert status == 0 and out.startswith("effective: Normal-NC")
    _, out, _ = run(capsys, "combine", "--s1", "0xff", "--s2", "0xf", "--sctlr", "0")
    assert out.startswith("effective: Device-nGnRnE")
    assert "AArch64.S1DisabledOutput" in out


def test_combine_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json is one document with the outcome, steps, properties and alignment."""
    status, out, _ = run(capsys, "combine", "--s1", "0x44", "--s2", "0x1", "--fwb", "--json")
    assert status == 0
    doc = json.loads(out)
    expected = resolve(0x44, 0x1, controls=Controls(fwb=True))
    assert doc["outcomes"] == [a.to_json() for a in expected.outcomes]
    assert doc["input"]["controls"]["fwb"] is True
    assert doc["constrained_unpredictable"] is False
    case = next(st for st in doc["steps"] if st["rule"] == "AArch64.S2ApplyFWBMemAttrs"
                and st["branch"] == "0dd")
    assert case["text"] == "S2 MemAttr 0b001 with FWB: Device nGnRE"
    assert case["inputs"]["attr"] == 1 and case["result"] == "Device nGnRE"
    assert doc["alignment"]["stage"] == 2
    assert doc["properties"][0]["gathering"]["values"] == ["no"]


def test_combine_sources(capsys: pytest.CaptureFixture[str]) -> None:
    """--sources adds where each property comes from."""
    _, out, _ = run(capsys, "combine", "--s1", "0x44", "--s2", "0x1", "--fwb", "--sources")
    assert "[ASL94 AccessType_DCZero on Device]" in out


# --- decode ------------------------------------------------------------------------------------


def test_decode_mair_linux_register(capsys: pytest.CaptureFixture[str]) -> None:
    """Linux's MAIR_EL1 decodes to its five memory types, each named by its MT_* index."""
    status, out, _ = run(capsys, "decode", "mair", hex(LINUX_MAIR))
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"MAIR_ELx = 0x{LINUX_MAIR:016x}"
    expected = {
        0: ("0xff", "Normal-WB ", "Linux MT_NORMAL"),
        1: ("0xf0", "Normal-WB-Tagged", "Linux MT_NORMAL_TAGGED"),
        2: ("0x44", "Normal-NC", "Linux MT_NORMAL_NC"),
        3: ("0x00", "Device-nGnRnE", "Linux MT_DEVICE_nGnRnE"),
        4: ("0x04", "Device-nGnRE", "Linux MT_DEVICE_nGnRE"),
    }
    for n, parts in expected.items():
        line = lines[1 + n]
        assert line.strip().startswith(f"Attr{n}")
        for part in parts:
            assert part in line, (part, line)
    assert len(lines) == 9 and "Linux" not in "".join(lines[6:])


def test_decode_mair_byte(capsys: pytest.CaptureFixture[str]) -> None:
    """One byte decodes to its type; a reserved byte says reserved and names the rule."""
    _, out, _ = run(capsys, "decode", "mair", "0x44")
    assert out.startswith("MAIR attribute 0x44: Normal-NC (inner NC, outer NC, XS=1)")
    status, out, _ = run(capsys, "decode", "mair", "0x0e")
    assert status == 0 and "reserved" in out and "Unpredictable_RESMAIR" in out
    _, out, _ = run(capsys, "decode", "mair", "0x0044")
    assert out.startswith("MAIR_ELx = 0x0000000000000044")
    _, out, _ = run(capsys, "decode", "mair", "0x44", "--register")
    assert "Attr7" in out


def test_decode_mair_json(capsys: pytest.CaptureFixture[str]) -> None:
    """decode mair --json lists each Attr with its type or reserved reason."""
    _, out, _ = run(capsys, "decode", "mair", hex(LINUX_MAIR), "--json")
    doc = json.loads(out)
    assert doc["register"] is True and len(doc["attrs"]) == 8
    assert doc["attrs"][2]["linux"] == "MT_NORMAL_NC"
    assert doc["attrs"][2]["attrs"]["shareability"] == "OSH"
    assert doc["attrs"][0]["attrs"]["shareability"] is None  # from the descriptor's SH
    _, out, _ = run(capsys, "decode", "mair", "0x0e", "--json")
    doc = json.loads(out)
    assert doc["attrs"][0]["attrs"] is None and "reserved" in doc["attrs"][0]["reserved"]


def test_decode_s1(capsys: pytest.CaptureFixture[str]) -> None:
    """A stage-1 page shows its fields and the MAIR type its AttrIndx selects."""
    # Page, AF=1, SH=ISH, AttrIndx=2 (Linux MT_NORMAL_NC), OA 0x8000_0000.
    desc = 0x80000000 | 0x703 | (2 << 2)
    status, out, _ = run(capsys, "decode", "s1", hex(desc), "--mair", hex(LINUX_MAIR))
    assert status == 0
    assert "page (S1_PAGE_4K_OA48)" in out.splitlines()[0]
    assert any(line.split()[:3] == ["AttrIndx", "[4:2]", "0b010"] for line in out.splitlines())
    assert "memory type: MAIR_ELx.Attr2=0x44: Normal-NC, Outer Shareable" in out
    assert "shareability: SH=0b11 ISH" in out
    reserved_sh = 0x80000000 | 0x503  # AttrIndx=0 (Normal-WB), SH=0b01
    _, out, _ = run(capsys, "decode", "s1", hex(reserved_sh), "--mair", hex(LINUX_MAIR))
    assert ("memory type: MAIR_ELx.Attr0=0xff: CONSTRAINED UNPREDICTABLE: one of {Normal-WB NSH, "
            "Normal-WB ISH, Normal-WB OSH}") in out
    assert "shareability: SH=0b01 reserved: CONSTRAINED UNPREDICTABLE" in out


def test_decode_s1_block_table_and_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    """Blocks use their level's layout; tables and invalid entries carry no memory type."""
    _, out, _ = run(capsys, "decode", "s1", "0x40000701", "--mair", "0xff", "--level", "1")
    assert "block" in out.splitlines()[0] and "Normal-WB" in out
    _, out, _ = run(capsys, "decode", "s1", "0x1003", "--mair", "0", "--level", "0")
    assert "next-level table at 0x1000" in out
    _, out, _ = run(capsys, "decode", "s1", "0x0", "--mair", "0")
    assert "invalid" in out and "Translation fault" in out


def test_decode_s1_json(capsys: pytest.CaptureFixture[str]) -> None:
    """decode s1 --json carries fields, the selected attribute and the outcome."""
    _, out, _ = run(capsys, "decode", "s1", "0x70b", "--mair", hex(LINUX_MAIR), "--json")
    doc = json.loads(out)
    assert doc["type"] == "page" and doc["attr_index"] == 2 and doc["mair_attr"] == 0x44
    assert doc["outcomes"][0]["type"] == "Normal"
    assert {"name": "AttrIndx", "bits": "[4:2]", "value": "0b010"} in doc["fields"]


def test_decode_s2(capsys: pytest.CaptureFixture[str]) -> None:
    """A stage-2 page shows MemAttr without and with FWB, or only the one asked for."""
    desc = 0x7C3 | (0b0101 << 2)  # AF, SH=ISH, S2AP=RW, MemAttr 0b0101
    status, out, _ = run(capsys, "decode", "s2", hex(desc))
    assert status == 0
    assert "MemAttr 0b0101 without FWB: Normal inner NC, outer NC (S2DecodeMemAttrs)" in out
    assert "MemAttr 0b0101 with FWB: Normal iNC/oNC" in out
    assert "read yes, write yes" in out
    _, out, _ = run(capsys, "decode", "s2", hex(desc), "--fwb")
    assert "without FWB" not in out and "with FWB" in out
    _, out, _ = run(capsys, "decode", "s2", hex(desc), "--no-fwb")
    assert "without FWB" in out and "with FWB:" not in out
    _, out, _ = run(capsys, "decode", "s2", hex(desc), "--json")
    doc = json.loads(out)
    assert set(doc["meaning"]) == {"fwb", "no_fwb"} and doc["memattr"] == 5


# --- table -------------------------------------------------------------------------------------


def test_table_json_matches_resolve(capsys: pytest.CaptureFixture[str]) -> None:
    """table --json: 16,384 rows in order, each equal to combine.resolve for that input."""
    status, out, _ = run(capsys, "table", "--json")
    assert status == 0
    doc = json.loads(out)
    assert list(doc) == ["rows"]
    rows = doc["rows"]
    assert len(rows) == 16_384
    keys = [(r["fwb"], r["hcr_cd"], r["s1"], r["s2"]) for r in rows]
    assert keys == sorted(keys)
    controls = {(f, c): Controls(fwb=f, cd=c) for f in (False, True) for c in (False, True)}
    for r in rows:
        assert set(r) == {"fwb", "hcr_cd", "s1", "s2", "reserved", "outcomes"}
        res = resolve(r["s1"], r["s2"], sh1=0b11, sh2=0b11,
                      controls=controls[r["fwb"], r["hcr_cd"]])
        if r["reserved"] is None:
            assert len(r["outcomes"]) == 1
        assert r["reserved"] == res.reserved
        assert r["outcomes"] == [a.to_json() for a in res.outcomes]


def test_table_json_narrowed(capsys: pytest.CaptureFixture[str]) -> None:
    """--s1/--s2/--fwb/--no-cd narrow the rows; --format json equals --json."""
    _, out, _ = run(capsys, "table", "--s1", "0x44", "--s2", "1", "--fwb", "--no-cd", "--json")
    rows = json.loads(out)["rows"]
    assert len(rows) == 1
    assert rows[0]["outcomes"][0]["device"] == "nGnRE"
    _, out2, _ = run(capsys, "table", "--s1", "0x44", "--s2", "1", "--fwb", "--no-cd",
                     "--format", "json")
    assert out2 == out


def test_table_csv(capsys: pytest.CaptureFixture[str]) -> None:
    """--format csv has a header and one row per input."""
    status, out, _ = run(capsys, "table", "--format", "csv")
    assert status == 0
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["fwb", "hcr_cd", "s1", "s2", "s1_type", "n_outcomes", "effective",
                       "shareability", "xs", "tagged", "mair", "reserved"]
    assert len(rows) == 1 + 16_384
    _, out, _ = run(capsys, "table", "--fwb", "--s1", "0x44", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert len(rows) == 1 + 2 * 16
    row = rows[1 + 1]  # CD=0, S2=0b0001
    assert row[:4] == ["1", "0", "0x44", "0b0001"] and row[6].startswith("Device-nGnRE")


def test_table_text(capsys: pytest.CaptureFixture[str]) -> None:
    """The text table is aligned, one line per row, with reserved notes as footnotes."""
    status, out, _ = run(capsys, "table", "--s1", "0x44", "--s2", "5")
    assert status == 0
    lines = out.splitlines()
    assert lines[0].split() == ["FWB", "CD", "S1", "S1", "type", "S2", "effective", "SH", "XS",
                                "note"]
    assert len(lines) == 5 and all("Normal-NC" in line for line in lines[1:])
    _, out, _ = run(capsys, "table", "--s1", "0xff", "--s2", "4", "--no-fwb", "--no-cd",
                    "--cpu", "neoverse-n1")
    assert "one of {" in out and "[1] S2 MemAttr=0b0100" in out


# --- start-up -----------------------------------------------------------------------------------


def test_single_query_imports_no_third_party() -> None:
    """A combine query loads neither numpy nor rich (the start-up path stays light)."""
    code = (
        "import sys; from memattr.cli import main; "
        "main(['combine', '--s1', '0x44', '--s2', '0x5', '--fwb']); "
        "print(sorted(m for m in ('numpy', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.splitlines()[-1] == "[]"


# --- --cpu ------------------------------------------------------------------------------------


def test_cpu_option_on_decode_combine_table(capsys: pytest.CaptureFixture[str]) -> None:
    """--cpu NAME applies a preset's features: no FEAT_XS on Neoverse N1 (XS absent, 0x05
    reserved), no FEAT_S2FWB (--fwb is a one-line ConfigError), the table has no FWB rows."""
    _, out, _ = run(capsys, "combine", "--s1", "0x44", "--s2", "0x5", "--cpu", "neoverse-n1")
    assert out.startswith("effective: Normal-NC, Outer Shareable (inner NC, outer NC)")
    _, out, _ = run(capsys, "combine", "--s1", "0x44", "--s2", "0x5", "--cpu", "neoverse-n1",
                    "--json")
    doc = json.loads(out)
    assert doc["input"]["cpu"] == "neoverse-n1" and doc["outcomes"][0]["xs"] is None
    status, out, err = run(capsys, "combine", "--s1", "0x44", "--s2", "0x5", "--fwb", "--cpu",
                           "neoverse-n1")
    assert status == 2 and out == "" and "FEAT_S2FWB" in err and err.count("\n") == 1
    _, out, _ = run(capsys, "decode", "mair", "0x05", "--cpu", "neoverse-n1")
    assert "reserved" in out and "FEAT_XS" in out
    _, out, _ = run(capsys, "decode", "mair", "0x05")
    assert "Device-nGnRE" in out and "XS=0" in out
    status, _, err = run(capsys, "decode", "s2", "0x7d7", "--fwb", "--cpu", "cortex-a76")
    assert status == 2 and "FEAT_S2FWB" in err
    _, out, _ = run(capsys, "table", "--cpu", "neoverse-n1", "--format", "csv")
    rows = list(csv.reader(io.StringIO(out)))
    assert len(rows) == 1 + 8192 and {r[0] for r in rows[1:]} == {"0"}
    status, _, err = run(capsys, "table", "--cpu", "pentium")
    assert status == 2 and "neoverse-n1" in err


def test_table_reserved_rows_list_outcomes(capsys: pytest.CaptureFixture[str]) -> None:
    """A reserved S1 byte's table row lists every outcome an allocated byte gives."""
    _, out, _ = run(capsys, "table", "--s1", "0x02", "--s2", "0xf", "--no-fwb", "--no-cd",
                    "--json")
    row = json.loads(out)["rows"][0]
    expected = {json.dumps(a.to_json(), sort_keys=True)
                for b in allocated_bytes() for a in resolve(b, 0xF).outcomes}
    assert {json.dumps(a, sort_keys=True) for a in row["outcomes"]} == expected
    assert "UNKNOWN allocated" in row["reserved"]
    _, out, _ = run(capsys, "table", "--help")
    assert "ConstrainUnpredictableBits" in " ".join(out.split())

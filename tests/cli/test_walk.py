"""``memattr walk``: the example file walked step by step, --va, --json, dumps, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memattr import cli
from memattr.analysis.walkfile import example_path, load
from memattr.errors import ConfigError, ParseError

Run = tuple[int, str, str]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Run:
    """Call memattr.cli.main and return (status, stdout, stderr)."""
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_example_walks(capsys: pytest.CaptureFixture[str]) -> None:
    """The shipped example: a translation, the KVM alignment story, a guest fault."""
    status, out, err = run(capsys, "walk", "--example")
    assert status == 0 and err == ""
    assert "=> IPA 0x41001234 -> PA 0x101001234" in out
    assert "(S1PTW)" in out
    assert "ESR_EL2=0x92000061 FAR_EL2=0x800004" in out
    assert "Device-nGnRE, Outer Shareable" in out
    assert "stage 1 translation fault level 3 at VA 0x900000" in out
    assert "ESR_EL1=0x96000007" in out


def test_va_option_and_dumps(capsys: pytest.CaptureFixture[str]) -> None:
    """--va walks one access; --dump adds the KVM and Linux formats."""
    status, out, _ = run(capsys, "walk", "--example", "--va", "0x80_0000", "--access", "exec",
                         "--size", "4", "--dump", "kvm", "--dump", "s1")
    assert status == 0
    assert "VA 0x0000000000800000 exec 4 byte(s) at EL1" in out
    assert "stage 1 permission fault level 3" in out  # PXN
    assert "---[ Guest IPA ]---" in out and "---[ TTBR0_EL1 ]---" in out
    assert "R W PXNUXN AF" in out


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    """--json: one document with the regime, every walk's steps and result."""
    status, out, _ = run(capsys, "walk", "--example", "--json", "--dump", "memattr")
    assert status == 0
    doc = json.loads(out)
    assert doc["regime"]["stage2"] and len(doc["walks"]) == 4
    first = doc["walks"][0]
    assert first["translation"]["pa"] == 0x101001234 and first["fault"] is None
    assert first["steps"][0]["s1ptw"] is True
    second = doc["walks"][1]["fault"]
    assert second["kind"] == "alignment" and second["esr"] == 0x92000061
    assert "stage 2 (memattr)" in doc["dumps"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[stage2]\nipa_bits = 99\n", "bad.toml:2: stage2.ipa_bits: 99 is out of range"),
        ("[stage2]\n[[s2]]\nipa = 0x1001\nsize = \"4k\"\npa = 0\nmemattr = 0xf\n",
         "bad.toml:2: s2[0]: map IPA=0x1001"),
        ("[stage1]\nva_bits = 48\n[[s1]]\nva = 0\nsize = \"4k\"\nipa = 0\nmt = \"MT_WHAT\"\n",
         "bad.toml:7: s1[0].mt: 'MT_WHAT' is not an MT_* index (expected one of MT_NORMAL"),
        ("[stage2]\nbogus = 1\n", "bad.toml:2: stage2.bogus: unknown key"),
        ("[stage2]\n[stage1]\n", "bad.toml:2: stage1.table_pool: required"),
        ("[[s2]]\nipa = 0\nsize = '4k'\npa = 0\nmemattr = 1\n",
         "bad.toml:1: s2: [[s2]] mappings need a [stage2] table"),
        ("[[s2]]\nipa = 0\nmemattr = 1\n", "bad.toml:1: s2[0].size: missing required key"),
        ("x = [\n", "bad.toml:2: TOML syntax: "),
        ("[stage2]\n[[s2]]\nipa = 0\nsize = \"2x\"\npa = 0\nmemattr = 1\n",
         "bad.toml:4: s2[0].size: got '2x' (expected a size"),
    ],
)
def test_errors_name_file_line_and_key(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       text: str, expect: str) -> None:
    """Bad input is one line, file:line: key: why, exit status 2."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    status, out, err = run(capsys, "walk", str(bad))
    assert status == 2 and out == ""
    assert err.startswith("memattr: error: ") and err.count("\n") == 1
    assert expect in err


def test_missing_file_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    """No file, or --access without --va, is an error."""
    assert run(capsys, "walk")[0] == 2
    status, _, err = run(capsys, "walk", "--example", "--access", "write")
    assert status == 2 and "--va" in err


def test_help_documents_the_raw_form(capsys: pytest.CaptureFixture[str]) -> None:
    """``memattr walk --help`` shows the raw form's tables and registers (issue 7 item 6)."""
    status, out, _ = run(capsys, "walk", "--help")
    assert status == 0
    for word in ("[registers]", "TCR_EL1 = 0x", "VTTBR_EL2", "[[memory]]", "values = [",
                 "[[image]]", "base = 0x"):
        assert word in out, word


def test_load_builds_what_the_file_says() -> None:
    """load(): stage-2 table at VMID 1, guest stage-1 table inside guest RAM."""
    b = load(example_path())
    assert b.s2 is not None and b.s2.vmid == 1 and b.s2.geom.concat == 2
    assert b.s1 is not None and 0x4000_0000 <= b.s1.root < 0x4010_0000
    assert b.regime.s2_enabled and len(b.accesses) == 4


def test_walk_does_not_import_numpy() -> None:
    """The walk command (without dumps) runs on the standard library alone."""
    code = ("import sys, io, contextlib\nfrom memattr.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['walk', '--example'])\n"
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "False"


# --- the raw form: registers and memory as a machine holds them ------------------------------

RAW = """
[registers]
TCR_EL1 = 0x{tcr:x}
TTBR0_EL1 = 0x100000
MAIR_EL1 = 0xff
HCR_EL2 = 0

[[memory]]
pa = 0x100000
values = [0x101003]

[[memory]]
pa = 0x101000
value = 0x102003

[[memory]]
pa = 0x102000
value = 0x103003

[[memory]]
pa = 0x103000
values = [0x90000703, 0x90001703]

[[access]]
va = 0x1008
"""


def _tcr48() -> int:
    from memattr.arch import registers as R
    from memattr.arch.descriptor import Granule

    return R.TCR_EL1.encode(T0SZ=16, T1SZ=16, TG0=R.tg0_encoding(Granule.K4),
                            TG1=R.tg1_encoding(Granule.K4), EPD1=1, IPS=R.ps_encoding(48),
                            SH0=3, IRGN0=1, ORGN0=1)


def test_raw_registers_and_descriptors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """[registers] and [[memory]]: nothing laid out by memattr; the walk reads the given
    descriptors (VA 0x1008 is L3 index 1 -> PA 0x90001008)."""
    f = tmp_path / "raw.toml"
    f.write_text(RAW.format(tcr=_tcr48()))
    status, out, err = run(capsys, "walk", str(f))
    assert status == 0 and err == ""
    assert "=> IPA 0x90001008 -> PA 0x90001008" in out and "stage 2: off" in out
    assert out.count(" table  [VA") == 3 and "@PA 0x103008 = 0x0000000090001703 page" in out
    assert "attributes: Normal-WB" in out and "S1 attr 0xff" in out


def test_raw_image_walks_as_the_built_tables(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    """The example's memory saved as binary images with its register values, walked as
    [[image]] + [registers], gives the same walks as the example."""
    b = load(example_path())
    lines = ["[registers]"]
    reg = b.regime
    for name, v in (("TCR_EL1", reg.s1.tcr), ("TTBR0_EL1", reg.s1.ttbr0),
                    ("MAIR_EL1", reg.s1.mair), ("SCTLR_EL1", reg.s1.sctlr),
                    ("HCR_EL2", reg.hcr), ("VTCR_EL2", reg.s2.vtcr),  # type: ignore[union-attr]
                    ("VTTBR_EL2", reg.s2.vttbr)):  # type: ignore[union-attr]
        lines.append(f"{name} = 0x{v:x}")
    for pfn, frame in b.mem.iter_frames():
        (tmp_path / f"f{pfn:x}.bin").write_bytes(bytes(frame))
        lines += ["[[image]]", f'file = "f{pfn:x}.bin"', f"base = 0x{pfn << 12:x}"]
    raw = tmp_path / "dump.toml"
    raw.write_text("\n".join(lines) + "\n")
    for va in ("0x401234", "0x800004", "0x800008", "0x900000"):
        want = run(capsys, "walk", "--example", "--va", va, "--access", "write", "--json")
        got = run(capsys, "walk", str(raw), "--va", va, "--access", "write", "--json")
        assert want[0] == got[0] == 0
        assert json.loads(want[1])["walks"] == json.loads(got[1])["walks"]


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[registers]\nTCR_EL2 = 1\n",
         "raw.toml:2: registers.TCR_EL2: unknown key (expected one of TCR_EL1,"),
        ("[registers]\nTCR_EL1 = 0\n", "registers: MAIR_EL1 is required when SCTLR_EL1.M=1"),
        ("[registers]\nMAIR_EL1 = 0\n[stage1]\n", "stage1: mappings laid out by memattr"),
        ("[[memory]]\npa = 0x1004\nvalue = 1\n", "memory[0].pa: 0x1004 is not 8-byte aligned"),
        ("[[memory]]\npa = 0\nvalue = 1\nvalues = [1]\n",
         "give exactly one of value or values (got value and values)"),
        ("[[memory]]\npa = 0\nvalues = []\n", "memory[0].values: an array of 0 elements (expected "
         "at least 1: a non-empty array"),
        ("[[memory]]\npa = 0xfffffffffffff8\nvalue = 1\n", "beyond the 52-bit physical"),
        ("[[image]]\nfile = \"nope.bin\"\nbase = 0\n", "image[0].file: 'nope.bin': cannot read"),
        ("[[image]]\nfile = \"sub\"\nbase = 0\n", "image[0].file: 'sub': not a regular file"),
        ("[[image]]\nfile = \"empty.bin\"\nbase = 0\n", "empty file"),
        ("[[image]]\nfile = \"one.bin\"\nbase = 0x10000000000000\n", "beyond the 52-bit"),
        ("cpu = \"no-such-cpu\"\n[registers]\nMAIR_EL1 = 0\n",
         "raw.toml:1: cpu: unknown CPU 'no-such-cpu' (expected one of"),
    ],
)
def test_raw_form_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
                         expect: str) -> None:
    """Malformed raw input is one line naming file:line: key, exit 2."""
    (tmp_path / "sub").mkdir()
    (tmp_path / "empty.bin").write_bytes(b"")
    (tmp_path / "one.bin").write_bytes(b"\x01" * 16)
    bad = tmp_path / "raw.toml"
    if "[registers]" not in text:
        text = "[registers]\nMAIR_EL1 = 0\n" + text
    bad.write_text(text)
    status, out, err = run(capsys, "walk", str(bad), "--va", "0")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert expect in err, err


def test_image_fifo_is_refused_without_blocking(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    """A FIFO given as an image is not a regular file: refused before any read (no hang)."""
    import os

    os.mkfifo(tmp_path / "pipe")
    bad = tmp_path / "raw.toml"
    bad.write_text("[registers]\nMAIR_EL1 = 0\n[[image]]\nfile = \"pipe\"\nbase = 0\n")
    status, _, err = run(capsys, "walk", str(bad), "--va", "0")
    assert status == 2 and "not a regular file" in err


def test_register_faults_are_walk_results(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    """A VTCR_EL2 the PE cannot walk with is a level-0 Translation fault naming the ASL rule;
    with HCR_EL2.VM=0 it is not read at all."""
    f = tmp_path / "raw.toml"
    f.write_text("[registers]\nSCTLR_EL1 = 0\nHCR_EL2 = 0x80000001\nVTCR_EL2 = 0x80000000\n")
    status, out, _ = run(capsys, "walk", str(f), "--va", "0x1000")
    assert status == 0
    assert "stage 2 translation fault level 0" in out and "AArch64.S2TxSZFaults" in out
    f.write_text("[registers]\nSCTLR_EL1 = 0\nHCR_EL2 = 0\nVTCR_EL2 = 0x80000000\n")
    status, out, _ = run(capsys, "walk", str(f), "--va", "0x1000")
    assert status == 0 and "=> IPA 0x1000 -> PA 0x1000" in out


def test_dump_of_looping_tables_is_one_line(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    """A table that points back to itself: the walk ends, a dump stops with one line."""
    f = tmp_path / "loop.toml"
    f.write_text(f"[registers]\nTCR_EL1 = 0x{_tcr48():x}\nTTBR0_EL1 = 0x100000\nMAIR_EL1 = 0xff\n"
                 "HCR_EL2 = 0\n[[memory]]\npa = 0x100000\nvalue = 0x100003\n")
    status, out, _ = run(capsys, "walk", str(f), "--va", "0x8")
    assert status == 0 and "access flag fault level 3" in out
    status, out, err = run(capsys, "walk", str(f), "--va", "0x8", "--dump", "s1")
    assert status == 2 and "reached twice" in err and err.count("\n") == 1


# --- issue 9 regressions --------------------------------------------------------------------


def test_big_map_with_pa_below_ipa(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """Stage 2: 32 GiB at IPA 0x10_0000_0000 to PA 0 (the bulk path used to raise
    OverflowError on the negative delta)."""
    f = tmp_path / "big.toml"
    f.write_text("[stage2]\nipa_bits = 44\n[[s2]]\nipa = 0x10_0000_0000\nsize = \"32G\"\npa = 0\n"
                 "memattr = 0xf\n")
    status, out, err = run(capsys, "walk", str(f), "--va", "0x17_ffff_f008")
    assert status == 0 and err == ""
    assert "=> IPA 0x17fffff008 -> PA 0x7fffff008" in out


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("[[access]]\nva = 0\naccess = true\n",
         "access[0].access: got true (expected one of read, write, exec)"),
        ("[stage2]\nipa_bits = 40\nstart_level = 3\n",
         "stage2.start_level: 3: a 40-bit IPA cannot start at level 3"),
        ("[stage2]\nps_bits = 40\n[[s2]]\nipa = 0\nsize = \"4k\"\npa = 0x100_0000_0000\n"
         "memattr = 0xf\n", "s2[0].pa: 0x10000000000 + size: the mapping ends at"),
        ("[stage2]\nps_bits = 40\ntable_base = 0x100_0000_0000\n",
         "stage2.table_base: stage-2 tables would start at 0x10000000000"),
    ],
)
def test_messages_name_the_right_key(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                     text: str, expect: str) -> None:
    """Bad input names the key that is wrong, in user terms (issue 9)."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    status, out, err = run(capsys, "walk", str(bad), "--va", "0")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert expect in err, err


def test_s1_without_ap_is_read_write(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """An [[s1]] without ap is "rw" (EL1 read/write), as documented (it raised KeyError)."""
    f = tmp_path / "s1.toml"
    f.write_text("[stage1]\n[[s1]]\nva = 0x1000\nsize = \"4k\"\noa = 0x9000_0000\n"
                 "mt = \"MT_NORMAL\"\n")
    status, out, _ = run(capsys, "walk", str(f), "--va", "0x1000", "--access", "write")
    assert status == 0 and "permissions at EL1: RWX" in out


# --- memattr at and decode par --------------------------------------------------------------


def test_at_command(capsys: pytest.CaptureFixture[str]) -> None:
    """memattr at: PAR_EL1 of AT S12E1R (the PA) and AT S1E1R (the IPA); a fault gives F=1."""
    status, out, err = run(capsys, "at", "--example", "--va", "0x401234", "--op", "S12E1R",
                           "--op", "S1E1R")
    assert status == 0 and err == ""
    assert "PAR_EL1=0xff00000101001b80: PA 0x101001000, Normal-WB, ISH" in out
    assert "PAR_EL1=0xff00000041001b80: PA 0x41001000" in out
    status, out, _ = run(capsys, "at", "--example", "--va", "0x900000", "--json")
    doc = json.loads(out)
    res = doc["results"][0]
    assert res["par"] == 0x80F and res["decoded"]["f"] is True and res["decoded"]["fst"] == 7
    status, _, err = run(capsys, "at", "--example", "--va", "0", "--op", "S12E1R",
                         "--from-el", "1")
    assert status == 2 and "UNDEFINED at EL1" in err


def test_decode_par(capsys: pytest.CaptureFixture[str]) -> None:
    """memattr decode par: both layouts, every field, RES1 violations shown."""
    status, out, _ = run(capsys, "decode", "par", "0x0400008000000b00")
    assert status == 0 and "PA 0x8000000000, Device-nGnRE, OSH" in out and "NS " in out
    status, out, _ = run(capsys, "decode", "par", "0xb0f", "--json")
    doc = json.loads(out)
    assert doc["f"] and doc["ptw"] and doc["stage"] == 2 and doc["fst"] == 7
    status, out, _ = run(capsys, "decode", "par", "1")
    assert "RES1 violated" in out and "problem:" in out


def test_walk_cpu_option(capsys: pytest.CaptureFixture[str]) -> None:
    """--cpu picks the PE; an unknown name is one line."""
    status, out, _ = run(capsys, "walk", "--example", "--cpu", "all", "--va", "0x401234")
    assert status == 0 and "=> IPA 0x41001234" in out
    status, _, err = run(capsys, "walk", "--example", "--cpu", "nope", "--va", "0")
    assert status == 2 and "cpu='nope'" in err


# --- the walk file's declaration (memattr.analysis.walkfile) --------------------------------------


def test_help_documents_every_declared_key() -> None:
    """Each table of the walk schema is documented in ``memattr walk --help``'s source (the
    module docstring of cli/walk.py) with every key it declares, under its own header."""
    from memattr.analysis import walkfile
    from memattr.cli import walk as cli_walk

    doc = cli_walk.__doc__ or ""
    for header, table in (("[stage1]", walkfile.STAGE1), ("[stage2]", walkfile.STAGE2),
                          ("[[s2]]", walkfile.S2), ("[[s1]]", walkfile.S1),
                          ("[registers]", walkfile.REGISTERS), ("[[memory]]", walkfile.MEMORY),
                          ("[[image]]", walkfile.IMAGE), ("[[access]]", walkfile.ACCESS)):
        section = doc.split(f"    {header}", 1)[1].split("\n\n", 1)[0]
        for f in table.fields:
            assert f"{f.key} = " in section, (header, f.key)
    top = {f.key for f in walkfile.SCHEMA.fields}
    assert top == {"cpu", *walkfile.LAID_OUT_KEYS, *walkfile.RAW_KEYS, "access"}
    assert "cpu = " in doc


def test_access_kinds_are_the_walkers() -> None:
    """--access and [[access]] access take the walker's AccessKind values, declared once."""
    from memattr.analysis.walkfile import ACCESS_KINDS
    from memattr.cli.walk import _ACCESSES
    from memattr.mmu.walk import AccessKind

    assert _ACCESSES == ACCESS_KINDS == tuple(k.value for k in AccessKind)


def test_pa_sizes_are_the_architectures() -> None:
    """ips_bits / ps_bits accept exactly the IPS/PS sizes of the register field table."""
    from memattr.analysis import walkfile
    from memattr.arch.registers import PA_SIZE_BITS
    from memattr.inputs import toml as t

    for bits in range(0, 65):
        text = f"[stage2]\nps_bits = {bits}\n"
        if bits in PA_SIZE_BITS.values():
            assert t.read(t.parse(text, "w.toml"), walkfile.SCHEMA)["stage2"]["ps_bits"] == bits
        else:
            with pytest.raises(ParseError, match=r"^w\.toml:2: stage2\.ps_bits: "):
                t.read(t.parse(text, "w.toml"), walkfile.SCHEMA)


def test_table_placement() -> None:
    """Stage-2 tables go on the first 2 MiB boundary above 0x8000_0000 and every [[s2]] PA;
    a stage-1 pool without stage 2 is a PA range the tables are allocated from."""
    from memattr.analysis.walkfile import loads, stage2_table_base

    assert stage2_table_base([]) == 0x8000_0000
    assert stage2_table_base([0x1_4000_0000]) == 0x1_4000_0000
    assert stage2_table_base([0x1_4000_0001, 0x1000]) == 0x1_4020_0000
    b = loads("[stage1]\ntable_pool = 0x1000_0000\npool_size = '64K'\n[[s1]]\nva = 0\n"
              "size = '4k'\noa = 0\nmt = 'MT_NORMAL'\n", "w.toml")
    assert b.s1 is not None and 0x1000_0000 <= b.s1.root < 0x1001_0000
    with pytest.raises(ConfigError, match=r"^w\.toml:4: s1\[0\]: alloc_table: out of table memory"):
        loads("[stage1]\ntable_pool = 0x1000_0000\npool_size = '4K'\n[[s1]]\nva = 0\n"
              "size = '4G'\noa = 0\nattr_index = 0\nmax_leaf = '4k'\n", "w.toml")


def test_file_name_is_escaped(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The walk file's name is printed escaped (it was printed as given: issue 9)."""
    f = tmp_path / "w\x1b[2J.toml"
    f.write_bytes(Path(example_path()).read_bytes())
    status, out, _ = run(capsys, "walk", str(f), "--va", "0x401234")
    assert status == 0 and "\x1b" not in out and out.splitlines()[0].endswith("w\\x1b[2J.toml")


@pytest.mark.parametrize(("text", "expect"), [
    ("[[access]]\nva = 'zz'\n", "bad.toml:2: access[0].va: got 'zz'"),
    ("[[access]]\nva = -16\n", "bad.toml:2: access[0].va: -0x10 is below 0"),
    ("[[access]]\nva = 0\nsize = 3\n", "bad.toml:3: access[0].size: 3 is not an access size"),
    ("[stage2]\n[[s2]]\nipa = 0x1001\nsize = '4k'\npa = 0\nmemattr = 0xf\n",
     "bad.toml:2: s2[0]: map IPA=0x1001"),
    ("[stage2]\nstart_level = 4294967296\n", "bad.toml:2: stage2.start_level: 4294967296 is out "
                                             "of range (expected a level -1..3)"),
    ("[stage2]\ngranule = '64k'\nstart_level = 0\n",
     "bad.toml:3: stage2.start_level: 0: no such level for the 64k granule (expected a level "
     "1..3)"),
    ("[registers]\nMAIR_EL1 = -255\n", "bad.toml:2: registers.MAIR_EL1: -0xff is below 0"),
])
def test_errors_are_located_once(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
                                 expect: str) -> None:
    """Each error names its place once (not 'access[0]: f:37: access[0].va'), negatives are
    written -0x7 (not 'not -7' or '0x-7'), and a huge start level is a range error."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    for command in (["walk", str(bad)], ["at", str(bad), "--va", "0"]):
        status, out, err = run(capsys, *command)
        assert status == 2 and out == "" and err.count("\n") == 1
        assert expect in err and err.count("bad.toml") == 1, err
        assert "0x-" not in err


def test_huge_start_level_is_refused_before_shifting() -> None:
    """Geometry.for_stage2 range-checks the start level before shifting by it (a level of 2**32
    raised MemoryError)."""
    from memattr.arch.descriptor import Granule
    from memattr.errors import EncodingError
    from memattr.mmu.regime import Geometry

    for level in (1 << 32, -(1 << 32), 4, -2):
        with pytest.raises(EncodingError, match=r"start_level=.*: no such level"):
            Geometry.for_stage2(Granule.K4, 40, 48, level)
    with pytest.raises(EncodingError, match=r"\(1\.\.3\)"):
        Geometry.for_stage2(Granule.K64, 40, 48, 0)
    assert Geometry.for_stage2(Granule.K4, 52, 52, -1, ds=True).start_level == -1


def test_at_reads_the_raw_form(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """memattr at reads walk files through the same declaration, raw form included."""
    f = tmp_path / "raw.toml"
    f.write_text(RAW.format(tcr=_tcr48()))
    status, out, err = run(capsys, "at", str(f), "--va", "0x1008", "--op", "S1E1R")
    assert status == 0 and err == "" and "PA 0x90001000" in out


def test_raw_vttbr_beyond_ps_is_a_level_0_fault(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    """A raw VTTBR_EL2 base beyond VTCR_EL2.PS (40 bits) is walked, not refused: the stage-1
    table walk takes a stage-2 Address size fault at level 0 (AArch64.S2Walk sets fault.level
    = 0), and AT S12E1R reports it in PAR_EL1 with S=1, PTW=1; a dump says why it has nothing."""
    f = tmp_path / "base2.toml"
    f.write_text("[registers]\nTCR_EL1 = 0x2_0080_4010\nTTBR0_EL1 = 0x10000\nMAIR_EL1 = 0xff\n"
                 "SCTLR_EL1 = 0x5\nHCR_EL2 = 0x80000001\nVTCR_EL2 = 0x80023558\n"
                 "VTTBR_EL2 = 0x100_0000_0000\n")
    status, out, err = run(capsys, "walk", str(f), "--va", "0x1234", "--json")
    assert status == 0 and err == ""
    fault = json.loads(out)["walks"][0]["fault"]
    assert (fault["stage"], fault["level"], fault["s1ptw"]) == (2, 0, True)
    assert fault["kind"] == "address size" and fault["esr"] == 0x92000080
    status, out, err = run(capsys, "at", str(f), "--va", "0x1234", "--op", "S12E1R")
    assert status == 0 and "PAR_EL1=0x0000000000000b01" in out
    status, out, err = run(capsys, "walk", str(f), "--va", "0x1234", "--dump", "s1")
    assert status == 2 and err.count("\n") == 1 and "VTTBR_EL2's base is beyond" in err


def test_raw_dump_error_names_the_file(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    """A raw table that points back at itself walks (one read per level) but cannot be dumped:
    the one-line error names the walk file the tables came from."""
    f = tmp_path / "loop.toml"
    f.write_text("[registers]\nTCR_EL1 = 0x5_8080_3510\nTTBR0_EL1 = 0x1000\nMAIR_EL1 = 0xff\n"
                 "SCTLR_EL1 = 0x1\n[[memory]]\npa = 0x1000\nvalues = [0x1003]\n")
    status, out, err = run(capsys, "walk", str(f), "--va", "0", "--dump", "s1")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert f"{f}: table 0x1000 is reached twice" in err


def test_dump_of_a_huge_tree_is_refused(capsys: pytest.CaptureFixture[str],
                                        tmp_path: Path) -> None:
    """32 GiB in 4 KiB pages (8 Mi descriptors) walks at once, but --dump names the bound instead
    of reading every descriptor for tens of seconds (found by the fuzzer as a hang)."""
    f = tmp_path / "big.toml"
    f.write_text("[stage2]\nipa_bits = 40\n[[s2]]\nipa = 0x10_0000_0000\nsize = \"32G\"\npa = 0\n"
                 "memattr = 0xf\nmax_leaf = \"4k\"\n")
    status, out, _ = run(capsys, "walk", str(f), "--va", "0x17_ffff_f008")
    assert status == 0 and "PA 0x7fffff008" in out
    status, out, err = run(capsys, "walk", str(f), "--va", "0", "--dump", "kvm")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert "--dump: the stage-2 tables hold 8,40" in err and "at most 2,097,152" in err
    status, out, _ = run(capsys, "walk", "--example", "--va", "0", "--dump", "kvm")
    assert status == 0 and "Guest IPA" in out


@pytest.mark.parametrize(("text", "expect"), [
    ("[stage2]\nipa_bits = 48\n[[s2]]\nipa = 0\nsize = \"8T\"\npa = 0x1000\nmemattr = 0xf\n",
     "bad.toml:5: s2[0].size: 0x80000000000 bytes in these leaves need more than the 256 MiB of "
     "table memory"),
    ("[stage1]\n[[s1]]\nva = 0\nsize = \"1T\"\noa = 0x1000\nattr_index = 0\n",
     "bad.toml:4: s1[0].size: 0x10000000000 bytes in these leaves need more than the 256 MiB"),
    ("[stage2]\n[stage1]\ntable_pool = 0\npool_size = \"1G\"\n",
     "bad.toml:4: stage1.pool_size: 0x40000000 is above 0x10000000"),
])
def test_table_memory_is_bounded(capsys: pytest.CaptureFixture[str], tmp_path: Path, text: str,
                                 expect: str) -> None:
    """A walk file cannot make memattr write terabytes of descriptors: 256 MiB of tables per
    stage, the bound named at the mapping (an 8 TiB map in 4 KiB pages ran out of memory)."""
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    status, out, err = run(capsys, "walk", str(bad), "--va", "0")
    assert status == 2 and out == "" and err.count("\n") == 1
    assert expect in err, err
    from memattr.analysis.walkfile import TABLE_MEMORY

    assert TABLE_MEMORY == 256 << 20

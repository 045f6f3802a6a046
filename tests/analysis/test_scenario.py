"""Scenario files load into values; every error names the file, the line and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from memattr.analysis.replay import replay
from memattr.analysis.scenario import (
    GUEST_APIS,
    SOURCES,
    bundled,
    bundled_path,
    load,
    loads,
    parse_size,
)
from memattr.errors import ConfigError, MemattrError, ParseError

GOOD = """\
name = "t"
policies = ["6.8", "6.9"]

[cpu]
fwb = [false, true]

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

[[memslot]]
mapping = "bar0"
ipa = 0x10_0000_0000

[[guest_mapping]]
name = "wc"
target = "bar0"
api = "ioremap_wc"
"""


def error_of(text: str, kind: type[MemattrError] = MemattrError) -> str:
    with pytest.raises(kind) as info:
        loads(text, "s.toml")
    return str(info.value)


def line_of(text: str, needle: str, nth: int = 0) -> int:
    """The 1-based line of the nth line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[nth]


def test_good_file_loads() -> None:
    """A valid scenario loads with its values converted (sizes, references, IPAs)."""
    sc = loads(GOOD, "s.toml")
    assert sc.policies == ("6.8", "6.9")
    assert sc.cpu.fwb == (False, True)
    assert sc.devices[0].bars[0].size == 1 << 20
    assert sc.guest_mappings[0].ipa == 0x10_0000_0000
    assert sc.where("guest_mapping", 0, "api") == f"s.toml:{line_of(GOOD, 'api =')}"


def test_missing_required_key_names_file_line_and_key() -> None:
    """A missing key is reported at its table's line, with the key path."""
    text = GOOD.replace('source = "vfio-pci"\n', "")
    msg = error_of(text, ParseError)
    assert msg.startswith(f"s.toml:{line_of(text, '[[vmm_mapping]]')}: vmm_mapping[0].source: ")
    assert "missing required key" in msg


def test_bad_type_names_the_key_line() -> None:
    """A value of the wrong type is reported at the key's own line."""
    text = GOOD.replace('size = "1M"', 'size = true')
    msg = error_of(text, ParseError)
    assert msg.startswith(f"s.toml:{line_of(text, 'size = true')}: device[0].bar[0].size: ")
    assert "got true" in msg


def test_bad_size_string() -> None:
    """A size string that is not a number is a ParseError naming the key."""
    text = GOOD.replace('size = "1M"', 'size = "lots"')
    msg = error_of(text, ParseError)
    assert re.match(r"s\.toml:\d+: device\[0\]\.bar\[0\]\.size: got 'lots' \(expected .*"
                    r"such as '16M'\)$", msg)


def test_unknown_policy_lists_the_known_ones() -> None:
    """An unknown policy is a ConfigError at the policies line listing the registry."""
    text = GOOD.replace('["6.8", "6.9"]', '["6.8", "6.99x"]')
    msg = error_of(text, ConfigError)
    assert msg.startswith(f"s.toml:{line_of(text, 'policies')}: policies[1]: unknown policy "
                          "'6.99x'")
    assert "6.17" in msg and "pcie-only" in msg


def test_single_policy_key() -> None:
    """``policy = "6.9"`` is accepted, and both policy and policies is an error."""
    sc = loads(GOOD.replace('policies = ["6.8", "6.9"]', 'policy = "6.9"'), "s.toml")
    assert sc.policies == ("6.9",)
    msg = error_of(GOOD.replace('policies = ["6.8", "6.9"]',
                                'policies = ["6.8"]\npolicy = "6.9"'), ParseError)
    assert "either policy or policies" in msg


def test_missing_policies() -> None:
    """A file without policies says how to give them."""
    msg = error_of(GOOD.replace('policies = ["6.8", "6.9"]\n', ""), ParseError)
    assert msg.startswith("s.toml:1: policies: missing required key")


def test_unknown_mapping_source() -> None:
    """An unknown mapping source is a ConfigError at the source line listing the known ones."""
    text = GOOD.replace('source = "vfio-pci"', 'source = "vfio-pcie"')
    msg = error_of(text, ConfigError)
    assert msg.startswith(f"s.toml:{line_of(text, 'vfio-pcie')}: vmm_mapping[0].source: "
                          "'vfio-pcie' is not a mapping source")
    for name in SOURCES:
        assert name in msg


def test_unknown_key_is_rejected() -> None:
    """A typo in a key is an error, not silently ignored."""
    text = GOOD.replace('api = "ioremap_wc"', 'api = "ioremap_wc"\napy = 1')
    msg = error_of(text, ParseError)
    assert msg.startswith(f"s.toml:{line_of(text, 'apy')}: guest_mapping[0].apy: unknown key")


def test_unknown_guest_api() -> None:
    """An unknown ioremap family member lists the known ones."""
    text = GOOD.replace('api = "ioremap_wc"', 'api = "ioremap_uc"')
    msg = error_of(text, ParseError)
    assert f"s.toml:{line_of(text, 'ioremap_uc')}: guest_mapping[0].api" in msg
    assert all(api in msg for api in GUEST_APIS)


def test_dangling_references() -> None:
    """References to undefined devices, mappings and guest mappings name the bad key."""
    msg = error_of(GOOD.replace('device = "nic"', 'device = "gpu"'), ConfigError)
    assert "vmm_mapping[0].device: no [[device]] named 'gpu'" in msg
    msg = error_of(GOOD.replace('mapping = "bar0"', 'mapping = "bar9"'), ConfigError)
    assert "memslot[0].mapping: no [[vmm_mapping]] named 'bar9'" in msg
    msg = error_of(GOOD + '\n[[access]]\nmapping = "nope"\n', ConfigError)
    assert "access[0].mapping: no [[guest_mapping]] named 'nope'" in msg


def test_wrong_device_kind_for_source() -> None:
    """A source needs a device of its kind."""
    text = GOOD.replace('source = "vfio-pci"', 'source = "vfio-platform"').replace(
        "bar = 0\n", "")
    msg = error_of(text, ConfigError)
    assert "needs a platform device, but 'nic' is pcie" in msg


def test_missing_bar() -> None:
    """A BAR the device does not have is named."""
    text = GOOD.replace('device = "nic"', 'device = "nic"\nbar = 4')
    msg = error_of(text, ConfigError)
    assert f"s.toml:{line_of(text, 'bar = 4')}: vmm_mapping[0].bar: device 'nic' has no BAR4" in msg


def test_guest_mapping_needs_exactly_one_type() -> None:
    """A guest mapping gives exactly one of api, attr or attr_index, and one of ipa or target."""
    msg = error_of(GOOD.replace('api = "ioremap_wc"', 'api = "ioremap_wc"\nattr = 0x44'))
    assert "exactly one of api, attr or attr_index (got api and attr)" in msg
    msg = error_of(GOOD.replace('api = "ioremap_wc"', ""))
    assert "exactly one of api, attr or attr_index (got none)" in msg
    msg = error_of(GOOD.replace('target = "bar0"', 'target = "bar0"\nipa = 0x1000'))
    assert "exactly one of ipa or target" in msg
    msg = error_of(GOOD.replace('api = "ioremap_wc"', "attr_index = 2"), ConfigError)
    assert "needs [guest] mair_el1" in msg


def test_out_of_range_attr() -> None:
    """A raw attribute byte must fit in 8 bits."""
    text = GOOD.replace('api = "ioremap_wc"', "attr = 0x1ff")
    msg = error_of(text, ParseError)
    assert f"s.toml:{line_of(text, '0x1ff')}: guest_mapping[0].attr:" in msg
    assert "0x00..0xff" in msg


def test_duplicate_names() -> None:
    """Two devices (or mappings) with one name is an error at the second."""
    text = GOOD.replace('[[vmm_mapping]]', '[[device]]\nname = "nic"\nkind = "gicv2"\n'
                        'base = 0x2c060000\n\n[[vmm_mapping]]')
    msg = error_of(text, ConfigError)
    assert "device[1].name: device 'nic' is defined twice" in msg


def test_toml_syntax_error_has_the_line() -> None:
    """A TOML syntax error is a ParseError with the file and tomllib's line."""
    text = GOOD.replace('name = "t"', 'name = "t')
    msg = error_of(text, ParseError)
    assert msg.startswith("s.toml:1: TOML syntax:")


def test_gicv_needs_no_memslot() -> None:
    """A memslot over the GICV frame is refused: KVM maps it itself."""
    text = GOOD + ('\n[[device]]\nname = "gic"\nkind = "gicv2"\nbase = 0x2c060000\n\n'
                   '[[vmm_mapping]]\nname = "gicv"\nsource = "gicv"\ndevice = "gic"\n'
                   'ipa = 0x8010000\n\n[[memslot]]\nmapping = "gicv"\nipa = 0x9000000\n')
    msg = error_of(text, ConfigError)
    assert "memslot[1].mapping: 'gicv' is the GICV frame" in msg


def test_platform_errors_carry_the_line() -> None:
    """Errors from the platform model (a misaligned BAR) are re-raised with file:line: key."""
    text = GOOD.replace("base = 0x80_0000_0000", "base = 0x80_0000_1000")
    sc = loads(text, "s.toml")
    with pytest.raises(ConfigError) as info:
        replay(sc)
    assert str(info.value).startswith(f"s.toml:{line_of(text, '[[device.bar]]')}: "
                                      "device[0].bar[0]: ")
    assert "not aligned" in str(info.value)


def test_overlapping_memslots() -> None:
    """Two memslots over the same IPA range are refused at the second one's ipa line."""
    text = GOOD + '\n[[memslot]]\nmapping = "bar0"\nipa = 0x10_0008_0000\n'
    sc = loads(text, "s.toml")
    with pytest.raises(ConfigError) as info:
        replay(sc)
    assert f"s.toml:{line_of(text, 'ipa = 0x10_0008_0000')}: memslot[1].ipa: " in str(info.value)
    assert "overlaps memslot[0]" in str(info.value)


def test_load_reads_files_and_reports_missing(tmp_path: Path) -> None:
    """load() reads a file; a missing file is a ConfigError naming it."""
    p = tmp_path / "x.toml"
    p.write_text(GOOD)
    assert load(p).name == "t"
    with pytest.raises(ConfigError, match="cannot read scenario file"):
        load(tmp_path / "missing.toml")


def test_bundled_lookup() -> None:
    """Bundled scenarios are found by name; an unknown name lists them."""
    assert "demo" in bundled()
    assert bundled_path("demo").name == "demo.toml"
    with pytest.raises(ConfigError, match="have .*demo"):
        bundled_path("no-such-scenario")


@pytest.mark.parametrize(("text", "value"), [
    ("4K", 4096), ("16M", 16 << 20), ("2G", 2 << 30), ("64KiB", 64 << 10), ("0x1000", 0x1000),
    ("1_024", 1024), (12, 12),
])
def test_parse_size(text: str | int, value: int) -> None:
    """Sizes accept integers and K/M/G/T suffixes, hex and underscores."""
    assert parse_size(text) == value


def test_parse_size_rejects_junk() -> None:
    """Booleans and words are not sizes."""
    for bad in (True, "big", "4X", 1.5):
        with pytest.raises(ValueError):
            parse_size(bad)


def test_docs_example_replays_as_documented() -> None:
    """The commented example in docs/scenarios.md loads and gives the table the page shows."""
    from memattr.analysis.compare import compare

    doc = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"
    text = doc.read_text().split("## A commented example")[1].split("```toml\n")[1]
    sc = loads(text.split("```")[0], "nic-wc.toml")
    rows = compare(replay(sc)).rows
    assert [c.text for c in rows[0].cells] == ["Device-nGnRE", "Normal-NC"]
    assert [c.text for c in rows[1].cells] == ["Device-nGnRE", "Device-nGnRE"]


def test_access_beyond_its_mapping() -> None:
    """An access must lie inside its guest mapping (4 KiB by default)."""
    text = GOOD + '\n[[access]]\nmapping = "wc"\nsize = 8\noffset = 0x1ffc\n'
    msg = error_of(text, ConfigError)
    assert msg.startswith(f"s.toml:{line_of(text, 'offset = 0x1ffc')}: access[0].offset: ")
    assert "beyond guest mapping 'wc'" in msg


# --- declarations: each source and device kind once, the docs agree ------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "scenarios.md"


def test_docs_list_every_source_with_its_keys() -> None:
    """docs/scenarios.md's source table has one row per declared source, with its keys."""
    from memattr.analysis.scenario import SOURCE_KINDS

    rows = {}
    for line in DOC.read_text().splitlines():
        m = re.match(r"\| `([a-z-]+)` \|.*\| (.*) \|$", line)
        if m and m.group(1) in SOURCES:
            rows[m.group(1)] = re.findall(r"`([a-z_]+)`", m.group(2))
    assert list(rows) == [s.name for s in SOURCE_KINDS]
    for s in SOURCE_KINDS:
        assert rows[s.name] == [f.key for f in s.fields], s.name


def test_docs_describe_every_device_kind_key() -> None:
    """Each device kind's bullet in docs/scenarios.md names every key it declares."""
    from memattr.analysis.scenario import DEVICE_KIND_DECLS

    text = DOC.read_text()
    for kind in DEVICE_KIND_DECLS:
        bullet = text.split(f'* `kind = "{kind.name}"`', 1)[1].split("\n* ", 1)[0]
        for f in kind.keys:
            assert f"`{f.key}`" in bullet or f"[[device.{f.key}]]" in bullet, (kind.name, f.key)


def test_replay_builds_sources_from_their_declarations() -> None:
    """The replay's mapping_source is the declaration's build, for every source."""
    from memattr.analysis.replay import mapping_source
    from memattr.analysis.scenario import SOURCE_KINDS, VmmMappingSpec

    for s in SOURCE_KINDS:
        spec = VmmMappingSpec("m", s.name, device="d", size=0x1000, phys=0)
        assert type(mapping_source(spec)) is type(s.build(spec))
    with pytest.raises(ConfigError, match="not a mapping source"):
        mapping_source(VmmMappingSpec("m", "vfio-pcie"))


# --- [cpu] presets and address widths -------------------------------------------------------------


@pytest.fixture()
def small_cpu(monkeypatch: pytest.MonkeyPatch) -> str:
    """A preset without FEAT_S2FWB or FEAT_XS and a 40-bit PA."""
    from memattr.arch import cpu

    preset = cpu.Cpu(name="small", pa_max=40, s2fwb=False, xs=False, lpa=False, lpa2=False)
    monkeypatch.setitem(cpu.PRESETS, "small", preset)
    return "small"


def test_cpu_preset_gives_defaults_and_bounds(small_cpu: str) -> None:
    """[cpu] name picks a preset: its features are the defaults, its PAMax bounds addresses."""
    text = GOOD.replace("fwb = [false, true]", f'name = "{small_cpu}"')
    sc = loads(text.replace("0x80_0000_0000", "0x80_0000_0000"), "s.toml")
    assert sc.cpu.fwb == (False,) and sc.cpu.xs is False and sc.cpu.pa_max == 40
    assert sc.cpu.name == small_cpu
    msg = error_of(text.replace("base = 0x80_0000_0000", "base = 0x100_0000_0000"), ConfigError)
    assert "device[0].bar[0].size: 0x10000000000 + 0x100000 ends beyond the 40-bit physical " \
           "address space of cpu 'small'" in msg


def test_cpu_features_a_preset_lacks(small_cpu: str) -> None:
    """Switching on a feature the preset does not implement is an error at its key."""
    text = GOOD.replace("fwb = [false, true]", f'name = "{small_cpu}"\nfwb = [false, true]')
    msg = error_of(text, ConfigError)
    assert msg.startswith(f"s.toml:{line_of(text, 'fwb =')}: cpu.fwb: cpu 'small' does not "
                          "implement FEAT_S2FWB")
    msg = error_of(GOOD.replace("fwb = [false, true]", 'name = "nope"'), ConfigError)
    assert "cpu.name: unknown CPU 'nope' (expected one of" in msg and "all" in msg


def test_default_cpu_is_52_bits() -> None:
    """Without a preset every feature is there and PAMax is 52 bits."""
    sc = loads(GOOD, "s.toml")
    assert sc.cpu.name == "all" and sc.cpu.pa_max == 52
    msg = error_of(GOOD.replace("ipa = 0x10_0000_0000", "ipa = 0xf_ffff_ffff_f000"), ConfigError)
    assert "memslot[0].ipa: " in msg and "52-bit intermediate physical address space" in msg


@pytest.mark.parametrize(("old", "new", "key", "why"), [
    ('size = "1M"', 'size = "1M"\n[[device.bar]]\nindex = 0\nbase = 0x90_0000_0000\nsize = "1M"',
     "device[0].bar[1].index", "BAR0 is defined twice"),
    ('size = "1M"', 'size = "96K"', "device[0].bar[0].size", "0x18000 is not a power of two"),
    ('ipa = 0x10_0000_0000', 'ipa = 0x10_0000_0000\noffset = 0x100000', "memslot[0].offset",
     "0x100000 is beyond mapping 'bar0' (0x100000 bytes)"),
    ('ipa = 0x10_0000_0000', 'ipa = 0x10_0000_0000\nsize = "2M"', "memslot[0].size",
     "offset 0 + size 0x200000 is beyond mapping 'bar0'"),
    ('device = "nic"', 'device = "nic"\nsize = "2M"', "vmm_mapping[0].size",
     "offset 0 + size 0x200000 is beyond the BAR0 of 'nic' (0x100000 bytes)"),
    ('kind = "pcie"', 'kind = "pcie"\nbdf = "01:00.9"', "device[0].bdf", "'01:00.9' is not a BDF"),
    ('kind = "pcie"', 'kind = "pcie"\nnum_vfs = 65536', "device[0].num_vfs",
     "65536 is out of range"),
])
def test_impossible_values_name_their_key(old: str, new: str, key: str, why: str) -> None:
    """Values the hardware or the kernel cannot have are refused at the key that has them."""
    msg = error_of(GOOD.replace(old, new, 1))
    assert f": {key}: {why}" in msg, msg
    assert "0x-" not in msg


def test_scenario_locate_adds_the_place_once() -> None:
    """Errors from lower layers get file:line: key once, however often they are re-raised."""
    sc = loads(GOOD, "s.toml")
    first = sc.locate(("device", 0, "bar", 0), ConfigError("BAR0 address=0x1: not aligned"))
    assert sc.locate(("device", 0), first) is first
    assert str(first).startswith(f"s.toml:{line_of(GOOD, '[[device.bar]]')}: device[0].bar[0]: ")


def test_values_in_json_are_exact() -> None:
    """Names keep their exact characters (the report escapes them, JSON does not)."""
    text = GOOD.replace('name = "wc"', 'name = "\\u001b[2J wc"')
    assert loads(text, "s.toml").guest_mappings[0].name == "\x1b[2J wc"

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

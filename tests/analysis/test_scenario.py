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
from memattr.linux.events import EventKind

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


# --- the Linux model's capabilities as scenario keys (issue 10 item 5) --------------------------

RAM = '[[ram]]\nbase = 0x8000_0000\nsize = "2G"\n'


def one(text: str, mapping: str = "wc", policy: str = "6.9", fwb: bool = True, **kw: object):
    """The replay result of one guest mapping of a scenario text."""
    return replay(loads(text, "s.toml"), **kw).get(mapping, policy, fwb)  # type: ignore[arg-type]


def test_host_keys_reach_the_linux_model() -> None:
    """[host] page_size, apei, ras, pkvm, ipa_limit, lpa2 and [cpu] atomics_uncached become the
    replay's HostFeatures; the defaults are HostFeatures' own."""
    r = one(GOOD + RAM)
    h = r.evaluation.host
    assert (h.page_size, h.apei, h.ras, h.pkvm, h.ipa_limit, h.lpa2, h.atomics_uncached) == \
        (4096, False, True, False, 48, False, False)
    text = GOOD + RAM + ('[host]\npage_size = "16K"\napei = true\nras = false\npkvm = true\n'
                         'ipa_limit = 44\nlpa2 = true\n')
    text = text.replace("[cpu]\n", "[cpu]\natomics_uncached = true\n")
    h = one(text).evaluation.host
    assert (h.page_size, h.apei, h.ras, h.pkvm, h.ipa_limit, h.lpa2, h.atomics_uncached) == \
        (16384, True, False, True, 44, True, True)
    assert one(text).evaluation.capabilities["KVM_CAP_ARM_VM_IPA_SIZE"]["dev_kvm"] == 44


def test_host_key_errors() -> None:
    """Impossible [host] values name their key: a page size arm64 lacks, an IPA limit beyond the
    CPU, LPA2 on a CPU without FEAT_LPA2."""
    text = GOOD + "[host]\npage_size = 8192\n"
    assert error_of(text, ParseError).startswith(
        f"s.toml:{line_of(text, 'page_size')}: host.page_size: 0x2000 is not a PAGE_SIZE arm64 "
        "offers")
    assert "host.ipa_limit: 52 bits is more than KVM offers" in \
        error_of(GOOD + "[host]\nipa_limit = 52\n", ConfigError)
    assert "host.ipa_limit" not in error_of(GOOD + "[host]\nipa_limit = 52\nlpa2 = true\n"
                                            "[vm]\nipa_bits = 49\n")


def test_lpa2_needs_the_cpu_feature(small_cpu: str) -> None:
    """[host] lpa2 = true on a CPU preset without FEAT_LPA2 is an error at lpa2; the IPA limit
    defaults to the CPU's PARange."""
    text = GOOD.replace("[cpu]\n", f'[cpu]\nname = "{small_cpu}"\n').replace(
        "fwb = [false, true]", "fwb = false")
    assert loads(text, "s.toml").host.ipa_limit == 40
    assert "host.lpa2: cpu 'small' does not implement FEAT_LPA2" in \
        error_of(text + "[host]\nlpa2 = true\n", ConfigError)


def test_atomics_uncached() -> None:
    """An atomic to a page the guest maps Normal-NC: without the IMPLEMENTATION DEFINED support
    it takes "Unsupported Exclusive or Atomic access" (xFSC 0x35) at stage 1; with it the access
    completes."""
    acc = '[[access]]\nmapping = "wc"\nop = "write"\nsize = 8\ninstr = "atomic"\n'
    r = one(GOOD + RAM + acc)
    assert r.accesses[0].outcome == "unsupported exclusive or atomic access fault at stage 1 (the " \
                                    "guest's EL1)"
    text = GOOD.replace("[cpu]\n", "[cpu]\natomics_uncached = true\n") + RAM + acc
    assert one(text).accesses[0].outcome == "write completes as Normal-NC"


def test_apei_and_ras_with_bus_errors() -> None:
    """bus_error = true: behind a root complex that reports errors the load is a synchronous
    external abort; not claimed by APEI KVM injects an SError, claimed the guest resumes.  On a
    platform device with uncontained errors, the SError panics a RAS host and is injected into the
    guest without FEAT_RAS."""
    acc = '[[access]]\nmapping = "wc"\nop = "read"\nsize = 4\nbus_error = true\n'
    rc = "[pcie]\nroot_complex_errors = true\n"
    assert one(GOOD + RAM + rc + acc).accesses[0].outcome == "SError injected into the guest"
    claimed = one(GOOD + RAM + rc + acc + "[host]\napei = true\n").accesses[0]
    assert any(e.function == "kvm_handle_guest_sea" and "APEI" in e.text for e in claimed.events)
    assert one(GOOD + RAM + acc).accesses[0].outcome == \
        "read completes with all-ones data (error response from the device)"
    plat = """policies = ["6.9"]
[[device]]
name = "dev"
kind = "platform"
base = 0x9000_0000
size = "64K"
[[vmm_mapping]]
name = "m"
source = "vfio-platform"
device = "dev"
[[memslot]]
mapping = "m"
ipa = 0x10_0000_0000
[[guest_mapping]]
name = "wc"
target = "m"
api = "ioremap"
[[access]]
mapping = "wc"
size = 4
bus_error = true
"""
    panic = one(plat).accesses[0]
    assert any("arm64_serror_panic" in e.function for e in panic.events)
    assert one(plat + "[host]\nras = false\n").accesses[0].outcome == \
        "SError injected into the guest"


GICV = """policies = ["6.9"]
[[device]]
name = "gic"
kind = "gicv2"
base = 0x3000_1000
[[vmm_mapping]]
name = "gicv"
source = "gicv"
device = "gic"
ipa = 0x801_0000
[[guest_mapping]]
name = "wc"
target = "gicv"
api = "ioremap"
[[access]]
mapping = "wc"
size = 4
"""


def test_page_size_and_pkvm_with_gicv() -> None:
    """A 4 KiB-aligned GICV: mapped on a 4K host, trapped and emulated on a 64K host
    (vgic_v2_probe); under pKVM kvm_phys_addr_ioremap fails and nothing is mapped."""
    mapped = one(GICV)
    assert mapped.evaluation.leaf is not None and mapped.cell == "Device-nGnRE"
    trapped = one(GICV + '[host]\npage_size = "64K"\n')
    assert trapped.evaluation.leaf is None
    assert any("using trapping" in e.text for e in trapped.evaluation.events)
    pkvm = one(GICV + "[host]\npkvm = true\n")
    assert pkvm.evaluation.leaf is None and pkvm.evaluation.host.pkvm


def test_vm_keys() -> None:
    """[vm] ipa_bits, nisv_to_user and mte become the replay's VmConfig; an access without a
    valid syndrome outside every memslot exits with KVM_EXIT_ARM_NISV only when the VMM enabled
    KVM_CAP_ARM_NISV_TO_USER, else KVM_RUN is -ENOSYS."""
    nomem = ('[[guest_mapping]]\nname = "emulated"\nipa = 0x20_0000_0000\napi = "ioremap"\n'
             '[[access]]\nmapping = "emulated"\nop = "read"\nsize = 16\ninstr = "ldp"\n')
    r = one(GOOD + RAM + nomem, "emulated")
    assert r.evaluation.vm is not None and r.evaluation.vm.ipa_bits == 40
    assert r.accesses[0].outcome == "KVM_RUN -ENOSYS"
    text = GOOD + RAM + nomem + "[vm]\nipa_bits = 44\nnisv_to_user = true\n"
    r = one(text, "emulated")
    assert r.evaluation.vm is not None and r.evaluation.vm.ipa_bits == 44
    assert r.evaluation.vm.nisv_to_user and r.accesses[0].outcome == "NISV exit"
    mte = GOOD.replace("[cpu]\n", "[cpu]\nmte = true\n") + RAM + "[vm]\nmte = true\n"
    vm = one(mte).evaluation.vm
    assert vm is not None and vm.mte


@pytest.mark.parametrize(("extra", "expect"), [
    ("[vm]\nipa_bits = 50\n", "vm.ipa_bits: 50 is out of range (expected an IPA size 32..48"),
    ("[host]\nipa_limit = 40\n[vm]\nipa_bits = 44\n",
     "vm.ipa_bits: 44 bits is beyond the host's IPA limit of 40 bits"),
    ("[vm]\nmte = true\n", "vm.mte: KVM_CAP_ARM_MTE needs MTE on the host"),
])
def test_vm_key_errors(extra: str, expect: str) -> None:
    """Impossible [vm] values name their key (KVM_CREATE_VM would fail)."""
    msg = error_of(GOOD + extra)
    assert msg.startswith("s.toml:") and expect in msg, msg


PFNMAP = """policies = ["6.9", "6.17"]
[cpu]
fwb = [false, true]
[[device]]
name = "gpu"
kind = "pcie"
[[device.bar]]
base = 0x80_0000_0000
size = "256M"
[[vmm_mapping]]
name = "buf"
source = "pfnmap"
phys = 0x80_0000_0000
size = "2M"
{keys}
[[memslot]]
mapping = "buf"
ipa = 0x10_0000_0000
[[guest_mapping]]
name = "wc"
target = "buf"
api = "ioremap_wc"
"""


def test_pfnmap_source() -> None:
    """source = "pfnmap": a driver's PFN map (linux.mmap.DriverPfnmap) with its pgprot, VM_PFNMAP
    or VM_MIXEDMAP, and VM_ALLOW_ANY_UNCACHED only when the driver sets it: Device-nGnRE by
    default, Normal-NC from 6.9 with the flag."""
    from memattr.analysis.replay import mapping_source
    from memattr.linux.mm import VM_ALLOW_ANY_UNCACHED, VM_MIXEDMAP, VM_PFNMAP
    from memattr.linux.mmap import DriverPfnmap

    sc = loads(PFNMAP.format(keys=""), "s.toml")
    src = mapping_source(sc.vmm_mappings[0])
    assert src == DriverPfnmap(0x80_0000_0000, 2 << 20, "writecombine", False, False)
    r = one(PFNMAP.format(keys=""))
    assert r.evaluation.vma is not None
    assert r.evaluation.vma.vm_flags & VM_PFNMAP and r.cell == "Device-nGnRE"
    assert not r.evaluation.vma.vm_flags & VM_ALLOW_ANY_UNCACHED
    flagged = one(PFNMAP.format(keys="allow_any_uncached = true\nmixedmap = true\n"
                                     'pgprot = "noncached"'))
    assert flagged.evaluation.vma is not None
    assert flagged.evaluation.vma.vm_flags & VM_MIXEDMAP
    assert flagged.evaluation.vma.vm_page_prot.mt_name == "MT_DEVICE_nGnRnE"
    assert flagged.cell == "Normal-NC" and "what-if" not in flagged.evaluation.vma.name
    cached = one(PFNMAP.format(keys='pgprot = "cached"'), policy="6.17")
    assert cached.evaluation.s2_kind == "NORMAL"  # 6.17: a cacheable PFNMAP with FWB and DIC
    assert "s.toml:15: vmm_mapping[0].pgprot: 'wc' is not a pgprot" in \
        error_of(PFNMAP.format(keys='pgprot = "wc"'))
    assert "vmm_mapping[0].phys: missing required key" in \
        error_of(PFNMAP.format(keys="").replace("phys = 0x80_0000_0000\n", ""))


def test_anon_thp() -> None:
    """source = "anon" takes thp: transparent huge pages back the VMA (VM_HUGEPAGE)."""
    from memattr.linux.mm import VM_HUGEPAGE

    text = ('policies = ["6.9"]\n' + RAM + '[[vmm_mapping]]\nname = "ram"\nsource = "anon"\n'
            'size = "64M"\nthp = true\n[[memslot]]\nmapping = "ram"\nipa = 0x4000_0000\n'
            '[[guest_mapping]]\nname = "wc"\ntarget = "ram"\napi = "memremap_wb"\n')
    r = one(text)
    assert r.evaluation.vma is not None and r.evaluation.vma.vm_flags & VM_HUGEPAGE
    assert r.cell == "Normal-WB"
    plain = one(text.replace("thp = true\n", ""))
    assert plain.evaluation.vma is not None and not plain.evaluation.vma.vm_flags & VM_HUGEPAGE


def test_instr_classes_cover_the_linux_model() -> None:
    """Every data-access instruction class the Linux model knows has one instr name, and the
    replay reads the names from that declaration."""
    from memattr.analysis.replay import _INSTR
    from memattr.analysis.scenario import INSTR_CLASSES, INSTR_DECLS
    from memattr.linux.kvm.abort import InstrClass

    members = {d.member for d in INSTR_DECLS}
    assert members == {c.name for c in InstrClass} - {"IFETCH"}
    assert set(_INSTR) == set(INSTR_CLASSES) and len(members) == len(INSTR_DECLS)


def test_dc_civac_and_instr_checks() -> None:
    """instr = "dc-civac": skipped by KVM outside every memslot; an instruction fetch with an
    instruction class (a DC op included) and a DC op at an unaligned offset are errors."""
    nomem = ('[[guest_mapping]]\nname = "emulated"\nipa = 0x20_0000_0000\napi = "ioremap"\n'
             '[[access]]\nmapping = "emulated"\nop = "write"\nsize = 8\ninstr = "dc-civac"\n')
    r = one(GOOD + RAM + nomem, "emulated")
    assert r.accesses[0].outcome == "cache maintenance skipped by KVM (no memslot)"
    assert "access[0].instr: an instruction fetch is not made by 'dc-civac'" in \
        error_of(GOOD + nomem.replace('"write"', '"exec"'))
    assert "access[0].offset: DC CIVAC works on a whole cache line" in \
        error_of(GOOD + nomem + "offset = 4\n")
    assert "access[0].instr: an instruction fetch is not made by 'ldp'" in \
        error_of(GOOD + nomem.replace('"write"', '"exec"').replace("dc-civac", "ldp"))


EVENTS = GOOD + RAM + """
[[access]]
mapping = "wc"
op = "write"
[[access]]
mapping = "wc"
op = "write"
"""


def test_events_replay_as_script() -> None:
    """[[event]] becomes replay(script=...): a memory disable before access 1 ends it in
    KVM_RUN -EFAULT; the scenario's own events are the default script."""
    sc = loads(EVENTS + '[[event]]\nmapping = "wc"\nbefore = 1\nkind = "memory-disable"\n',
               "s.toml")
    assert [(e.mapping, e.before, e.kind) for e in sc.script()] == [("wc", 1, "memory-disable")]
    r = replay(sc).get("wc", "6.9", True)
    assert r.accesses[0].outcome == "write completes as Normal-NC"
    assert r.accesses[1].outcome == "KVM_RUN -EFAULT"
    assert replay(sc, script=[]).get("wc", "6.9", True).accesses[1].outcome == \
        "write completes as Normal-NC"


def test_replace_vma_reaches_the_fault_time_efault() -> None:
    """replace-vma: a cacheable PFNMAP mmapped under the BAR's existing memslot.  Under 6.17
    without FWB the next fault is -EFAULT (kvm_arch_prepare_memory_region never saw that VMA);
    with FWB and DIC it is mapped Normal."""
    text = EVENTS.replace('policies = ["6.8", "6.9"]', 'policies = ["6.17"]') + """
[[vmm_mapping]]
name = "cached"
source = "pfnmap"
phys = 0x80_0000_0000
size = "1M"
pgprot = "cached"
[[event]]
mapping = "wc"
before = 1
kind = "replace-vma"
source = "cached"
"""
    sc = loads(text, "s.toml")
    src = sc.script()[0].source
    assert src is not None and src.label == "driver PFNMAP (cached)"
    bad = replay(sc).get("wc", "6.17", False)
    assert bad.accesses[0].outcome == "write completes as Normal-NC"
    assert bad.accesses[1].outcome == "KVM_RUN -EFAULT"
    assert EventKind.VMA_REPLACED in [e.kind for e in bad.accesses[1].events]
    good = replay(sc).get("wc", "6.17", True).accesses[1]
    assert good.evaluation.s2_kind == "NORMAL"


@pytest.mark.parametrize(("event", "expect"), [
    ('mapping = "nope"\nbefore = 0\nkind = "memory-disable"',
     "event[0].mapping: no [[guest_mapping]] named 'nope'"),
    ('mapping = "wc"\nbefore = 2\nkind = "memory-disable"',
     "event[0].before: guest mapping 'wc' has 2 [[access]], so none has index 2"),
    ('mapping = "wc"\nbefore = 0\nkind = "reboot"', "event[0].kind: 'reboot' is not an event kind"),
    ('mapping = "wc"\nbefore = 0\nkind = "replace-vma"', "event[0]: replace-vma needs source"),
    ('mapping = "wc"\nbefore = 0\nkind = "replace-vma"\nsource = "x"',
     "event[0].source: no [[vmm_mapping]] named 'x'"),
    ('mapping = "wc"\nbefore = 0\nkind = "memory-enable"\nsource = "bar0"',
     "event[0].source: only replace-vma takes a source"),
])
def test_event_errors(event: str, expect: str) -> None:
    """A bad [[event]] names its key."""
    msg = error_of(EVENTS + "[[event]]\n" + event + "\n")
    assert expect in msg and msg.count("s.toml") == 1, msg


def test_memory_disable_is_vfio_pcis() -> None:
    """memory-disable / function-reset revoke vfio-pci BARs only (vfio_pci_zap_bars); a guest
    mapping outside every memslot has no VMA to revoke."""
    ram = ('policies = ["6.9"]\n' + RAM + '[[vmm_mapping]]\nname = "ram"\nsource = "anon"\n'
           'size = "64M"\n[[memslot]]\nmapping = "ram"\nipa = 0x4000_0000\n[[guest_mapping]]\n'
           'name = "wc"\ntarget = "ram"\napi = "memremap_wb"\n[[access]]\nmapping = "wc"\n'
           '[[event]]\nmapping = "wc"\nbefore = 0\nkind = "function-reset"\n')
    assert "event[0].kind: function-reset is vfio-pci's (vfio_pci_zap_bars)" in error_of(ram)
    assert "event[0].mapping: guest mapping 'g' is in no [[memslot]]" in error_of(
        GOOD + '[[guest_mapping]]\nname = "g"\nipa = 0x20_0000_0000\napi = "ioremap"\n'
        '[[access]]\nmapping = "g"\n[[event]]\nmapping = "g"\nbefore = 0\n'
        'kind = "memory-disable"\n')


def test_bus_errors_from_accesses() -> None:
    """bus_error = true marks (guest mapping, index among its accesses) for the replay."""
    text = EVENTS.replace('op = "write"\n[[access]]', 'op = "write"\nbus_error = true\n[[access]]')
    text += '[[guest_mapping]]\nname = "x"\ntarget = "bar0"\napi = "ioremap"\n' \
            '[[access]]\nmapping = "x"\nbus_error = true\n'
    assert loads(text, "s.toml").bus_errors() == {("wc", 0), ("x", 0)}


@pytest.mark.parametrize("name", ["v1", "v2", "v3", "v4", "v7", "5.5", "5.10", "6.1", "6.12"])
def test_policy_names_from_the_registry(name: str) -> None:
    """The posted revisions and releases back to 5.5 are policy names (from the registry)."""
    from memattr.linux.policy import get_policy

    sc = loads(GOOD.replace('policies = ["6.8", "6.9"]', f'policies = ["6.8", "{name}"]'),
               "s.toml")
    assert sc.policies == ("6.8", name) and sc.policy(name) == get_policy(name)
    assert replay(sc).results


def test_releases_older_than_the_model_are_refused() -> None:
    """5.4 is older than the oldest release modelled: the error says so, at the key."""
    msg = error_of(GOOD.replace('policies = ["6.8", "6.9"]', 'policies = ["6.8", "5.4"]'),
                   ConfigError)
    assert msg.startswith("s.toml:2: policies[1]: kernel '5.4' is older than the oldest release "
                          "modelled (v5.5)")


CUSTOM = GOOD.replace('policies = ["6.8", "6.9"]\n', "") + RAM + """
[[policy]]
name = "both"
base = "{base}"
prot = "DEVICE|NORMAL_NC"
"""


@pytest.mark.parametrize(("base", "cell"), [("v3", "Device-nGnRE"), ("v4", "Device-nGnRE"),
                                            ("v7", "-EINVAL")])
def test_custom_policy_drives_stage2_set_prot_attr(base: str, cell: str) -> None:
    """[[policy]] with prot = "DEVICE|NORMAL_NC": what each revision's stage2_set_prot_attr did
    with both bits -- DEVICE wins (v3), a WARN that keeps Device (v4), -EINVAL (v7); without
    policies the what-if is compared with its base."""
    sc = loads(CUSTOM.format(base=base), "s.toml")
    assert sc.policies == (base, "both")
    r = replay(sc).get("wc", "both", True)
    assert r.cell == cell
    assert r.evaluation.s2_prot is None or "DEVICE" in str(r.evaluation.s2_prot)


def test_custom_policies_stay_in_their_scenario() -> None:
    """A [[policy]] is not registered: another load may reuse the name with another meaning, and
    the registry never sees it."""
    from memattr.linux.policy import get_policy, policies

    before = set(policies())
    a = loads(CUSTOM.format(base="v7"), "a.toml")
    b = loads(CUSTOM.format(base="6.9").replace("DEVICE|NORMAL_NC", "NORMAL_NC"), "b.toml")
    assert set(policies()) == before
    with pytest.raises(ConfigError):
        get_policy("both")
    assert replay(a).get("wc", "both", True).cell == "-EINVAL"
    assert replay(b).get("wc", "both", True).cell == "Normal-NC"
    assert replay(a, policies=["both"]).policies == ("both",)


@pytest.mark.parametrize(("policy", "expect"), [
    ('name = "6.9"\nbase = "6.8"\nprot = "DEVICE"', "policy[0].name: '6.9' already names a policy"),
    ('name = "x"\nbase = "7.99x"\nprot = "DEVICE"', "policy[0].base: unknown policy '7.99x'"),
    ('name = "x"\nbase = "6.9"\nprot = "WB"', "policy[0].prot: 'WB' is not a kvm_pgtable_prot"),
    ('name = "\\u001b[2J"\nbase = "6.9"\nprot = "DEVICE"',
     "policy[0].name: '\\x1b[2J' is not a policy name (expected a name of ASCII letters"),
    ('name = ""\nbase = "6.9"\nprot = "DEVICE"', "policy[0].name: '' is not a policy name"),
])
def test_custom_policy_errors(policy: str, expect: str) -> None:
    """A bad [[policy]] names its key."""
    msg = error_of(GOOD.replace('policies = ["6.8", "6.9"]\n', "") + "[[policy]]\n" + policy
                   + "\n")
    assert expect in msg, msg


def test_sub_page_bar_that_does_not_start_a_page() -> None:
    """A vfio-pci mapping of a sub-page BAR that does not start a page is refused at its bar key
    (vfio_pci_probe_mmaps: no mmap); one that starts a page maps the whole page."""
    text = GOOD.replace('size = "1M"', "size = 256").replace("base = 0x80_0000_0000",
                                                             "base = {base}")
    assert loads(text.format(base="0x80_0000_0000"), "s.toml").vmm_mappings[0].size is None
    assert one(text.format(base="0x80_0000_0000")).evaluation.leaf is not None
    msg = error_of(text.format(base="0x80_0000_0100"), ConfigError)
    assert msg.startswith(f"s.toml:{line_of(text, '[[vmm_mapping]]')}: vmm_mapping[0].bar: BAR0 is 0x100 "
                          "bytes at 0x8000000100: a sub-page BAR that does not start a page")


def test_docs_describe_every_declared_key() -> None:
    """docs/scenarios.md's section for [cpu], [host], [vm], [[policy]], [[access]] and [[event]]
    names every key the schema declares for it; the top-level table names every built-in policy
    of the Linux model's registry, and the [[access]] section every instr and the [[event]]
    section every kind."""
    from memattr.analysis import scenario as S
    from memattr.linux import policy as P

    text = DOC.read_text()

    def section(title: str) -> str:
        return text.split(f"### `{title}`", 1)[1].split("\n### ", 1)[0]

    for title, table in (("[cpu]", S._CPU), ("[host]", S._HOST), ("[vm]", S._VM),
                         ("[[policy]]", S._POLICY), ("[[access]]", S._ACCESS),
                         ("[[event]]", S._EVENT)):
        body = section(title)
        for f in table.fields:
            assert f"`{f.key}`" in body, (title, f.key)
    top = text.split("### Top level", 1)[1].split("\n### ", 1)[0]
    for name in (getattr(P, n).name for n in P.__all__ if n.startswith("POLICY_")):
        assert f"`{name}`" in top, name
    for name in S.INSTR_CLASSES:
        assert f"`{name}`" in section("[[access]]"), name
    for kind in S.EVENT_KINDS:
        assert f"`{kind}`" in section("[[event]]"), kind
    for prot in S.POLICY_PROTS:
        assert f"`{prot}`" in section("[[policy]]"), prot


def test_loads_from_a_fresh_interpreter() -> None:
    """The Python API works as the first import: loads() resolves policy names in a new process
    (memattr.linux.policy imported first used to fail on an import cycle through linux.kvm)."""
    import subprocess
    import sys

    code = ("from memattr.analysis.scenario import bundled_path, loads\n"
            "sc = loads(bundled_path('reset-revoke').read_text(), 'r.toml')\n"
            "print(sc.policy('v7').name, len(sc.events))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["v7", "3"]


def test_dc_zva_and_ls64_instructions() -> None:
    """``instr = "dc-zva"`` is a DC ZVA (a write): it zeroes a Normal-NC block under 6.9, but on
    Device-nGnRE (6.8 forces it at stage 2) it takes an Alignment fault (Arm ARM
    ``AArch64.S1HasAlignmentFault``/``S2HasAlignmentFault``, AccessType_DCZero); it is refused
    with op = "read". ``ls64`` reaches the FEAT_LS64 rules."""
    acc = '[[access]]\nmapping = "wc"\nop = "write"\nsize = 64\ninstr = "dc-zva"\n'
    new, old = one(GOOD + RAM + acc), one(GOOD + RAM + acc, policy="6.8")
    assert new.accesses[0].outcome != old.accesses[0].outcome
    assert "alignment" in old.accesses[0].outcome.lower(), old.accesses[0].outcome
    assert "alignment" not in new.accesses[0].outcome.lower(), new.accesses[0].outcome
    assert "DC ZVA writes its block" in error_of(GOOD + acc.replace('"write"', '"read"'))
    ls = '[[access]]\nmapping = "wc"\nop = "write"\nsize = 64\ninstr = "ls64"\n'
    assert one(GOOD + RAM + ls).accesses[0].outcome


HVA = """policies = ["6.12"]
[[device]]
name = "nic"
kind = "pcie"
bdf = "0000:01:00.0"
[[device.bar]]
index = 0
base = 0x80_0000_0000
size = "16M"
[[vmm_mapping]]
name = "bar0"
source = "vfio-pci"
device = "nic"
{align}
[[memslot]]
mapping = "bar0"
ipa = 0x10_0000_0000
[[guest_mapping]]
name = "wc"
target = "bar0"
api = "ioremap"
"""


def test_hva_align_gives_pages_where_2m_gives_a_block() -> None:
    """[[vmm_mapping]] hva_align: the default (2 MiB, as QEMU >= 9.2 aligns vfio region mmaps)
    gives 6.12 a 2 MiB block for a 16 MiB vfio-pci BAR; "4K" (an mmap nobody aligned) gives
    4 KiB pages; a hugetlb mapping cannot be less aligned than its page size; GICV has no VMA."""
    leaf = one(HVA.format(align=""), policy="6.12").evaluation.leaf
    assert leaf is not None and (leaf.size, leaf.level) == (0x20_0000, 2)
    sc = loads(HVA.format(align='hva_align = "4K"'), "s.toml")
    assert sc.vmm_mapping("bar0").hva_align == 0x1000
    leaf = one(HVA.format(align='hva_align = "4K"'), policy="6.12").evaluation.leaf
    assert leaf is not None and (leaf.size, leaf.level) == (0x1000, 3)
    for bad in ('"3K"', '"6K"', '"2G"'):
        with pytest.raises(MemattrError, match=r"s.toml:\d+: vmm_mapping\[0\].hva_align"):
            loads(HVA.format(align=f"hva_align = {bad}"), "s.toml")
    huge = ('policies = ["6.12"]\n[[vmm_mapping]]\nname = "h"\nsource = "hugetlb"\n'
            'size = "1G"\nhva_align = "4K"\n')
    with pytest.raises(ConfigError, match="hva_align: 0x1000 is below the huge page size"):
        loads(huge, "s.toml")
    with pytest.raises(MemattrError, match="hva_align"):
        loads(GICV.replace('ipa = 0x801_0000\n', 'ipa = 0x801_0000\nhva_align = "4K"\n'),
              "s.toml")

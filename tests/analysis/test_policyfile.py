"""Policy files (memattr.analysis.policyfile): a reviewer's rules as data.  Each built-in policy
is shipped as a rules file and gives the same matrix as the built-in one; errors name the file,
the line and the key."""

from __future__ import annotations

import pytest

from memattr.analysis.matrix import build_matrix
from memattr.analysis.policyfile import load_policy_file, loads_policy, named_policy_files
from memattr.errors import ConfigError, ParseError
from memattr.linux.events import Errno
from memattr.linux.kvm.abort import GuestAccess
from memattr.linux.kvm.features import HostFeatures
from memattr.linux.mmap import DriverPfnmap, VfioPciBar
from memattr.linux.policy import FaultPath, builtin_policies, get_policy
from memattr.linux.system import MemslotSpec, evaluate
from memattr.platform.examples import example_platform

NAMES = [p.name for p in builtin_policies()]


def test_every_builtin_policy_is_shipped_as_rules() -> None:
    """One file per built-in policy, and nothing else."""
    assert set(named_policy_files()) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_rules_file_equals_the_builtin_policy_over_the_matrix(name: str) -> None:
    """The shipped file's policy gives every row of the default matrix the built-in gives: the
    format can say what each kernel (and each what-if) said."""
    pol = load_policy_file(named_policy_files()[name])
    assert pol.fault_path is FaultPath.RULES and pol.name == name
    assert pol.release == get_policy(name).release
    builtin = build_matrix([name]).rows
    rules = build_matrix([pol]).rows
    bad = [(a.to_json(), b.to_json()) for a, b in zip(builtin, rules, strict=True) if a != b]
    assert not bad, bad[:3]


def test_6_17_rules_refuse_a_late_cacheable_pfnmap_like_the_kernel() -> None:
    """What the matrix cannot reach: a cacheable PFNMAP mmapped after its memslot, on a host
    without CTR_EL0.DIC, faults with -EFAULT under 6.17 -- built in and as rules alike."""
    plat = example_platform()
    src = DriverPfnmap(0x1_0000_0000, 0x10000, pgprot="cached")
    slot = MemslotSpec(size=0x10000, mapped_at_creation=False)
    host = HostFeatures(fwb=True, dic=False)
    for pol in (get_policy("6.17"), load_policy_file(named_policy_files()["6.17"])):
        e = evaluate(pol, host, plat, src, slot, "ioremap_wc")
        assert e.errno is Errno.EFAULT, pol.name


RULES = """\
name = "mine"
release = "6.9"

[[rule]]
when = {{ {cond} }}
{result}

[[rule]]
s2 = "DEVICE"
"""


def run(cond: str, result: str, access: GuestAccess | None = None, *, fwb: bool = True):
    pol = loads_policy(RULES.format(cond=cond, result=result), "mine.toml")
    return evaluate(pol, HostFeatures(fwb=fwb), example_platform(), VfioPciBar("nic", 0),
                    MemslotSpec(size=0x10000), "ioremap_wc", access=access)


def test_rules_decide_in_order_with_their_conditions() -> None:
    """The first rule whose conditions all hold decides; lists are 'any of'."""
    assert run('bus = "pcie"', 's2 = "NORMAL_NC"').effective.short == "Normal-NC"
    assert run('bus = ["axi", "gic"]', 's2 = "NORMAL_NC"').effective.short == "Device-nGnRE"
    assert run('device = "pcie-bar", fault = "read"', 's2 = "NORMAL_NC"').s2_kind == "NORMAL_NC"
    assert run('vm_allow_any_uncached = true, pgprot = "device"',
               's2 = "NORMAL_NC"').s2_kind == "NORMAL_NC"
    assert run('fwb = false', 's2 = "NORMAL_NC"').s2_kind == "DEVICE_nGnRE"
    assert run('fwb = false', 's2 = "NORMAL_NC"', fwb=False).s2_kind == "NORMAL_NC"
    assert run('host_bridge = true, linear_map = false', 's2 = "NORMAL"').s2_kind == "NORMAL"


def test_errno_and_execute_rules() -> None:
    """An errno rule fails the fault (KVM_RUN errno); x = false refuses an instruction fetch
    (-ENOEXEC: a prefetch abort); x = true with NORMAL maps it executable; X with DEVICE is the
    kernel's stage2_set_prot_attr -EINVAL."""
    e = run('bus = "pcie"', 'errno = "EINVAL"')
    assert e.errno is Errno.EINVAL and e.leaf is None
    e = run('bus = "pcie"', 's2 = "NORMAL"\nx = false', GuestAccess.fetch())
    assert e.injected == "prefetch abort"
    e = run('bus = "pcie"', 's2 = "NORMAL"', GuestAccess.fetch())
    assert e.injected is None and e.leaf is not None and not e.leaf.xn
    e = run('bus = "pcie"', 's2 = "DEVICE"\nx = true', GuestAccess.fetch())
    assert e.errno is Errno.EINVAL


def test_the_rule_that_decided_is_recorded() -> None:
    """The decision names the rule by file and line, for explanations."""
    e = run('bus = "pcie"', 's2 = "NORMAL_NC"')
    d = next(d for d in e.decisions if d.branch == "policy_rule")
    assert d.input("policy_rule") == "mine.toml:4"  # the [[rule]] line


@pytest.mark.parametrize(("text", "error", "where"), [
    ('name = "x"\nrelease = "6.9"\n[[rule]]\ns2 = "DEVICE"\nbogus = 1\n', ParseError,
     "x.toml:5: rule[0].bogus: unknown key"),
    ('name = "x"\nrelease = "6.9"\n[[rule]]\ns2 = "CACHED"\n', ParseError,
     "x.toml:4: rule[0].s2: 'CACHED' is not a stage-2 type"),
    ('name = "x"\nrelease = "6.9"\n[[rule]]\nerrno = "EFAULT"\ns2 = "DEVICE"\n', ParseError,
     "give exactly one of s2 or errno"),
    ('name = "x"\nrelease = "6.9"\n[[rule]]\nwhen = { fwb = true }\ns2 = "DEVICE"\n', ConfigError,
     "x.toml:4: rule[0].when: the last rule has conditions"),
    ('name = "x"\nrelease = "6.8"\n[[rule]]\ns2 = "NORMAL_NC"\n', ConfigError,
     "x.toml:4: rule[0].s2: NORMAL_NC with the 6.8 stage2_set_prot_attr"),
    ('name = "x"\nrelease = "4.19"\n[[rule]]\ns2 = "DEVICE"\n', ConfigError,
     "x.toml:2: release: 4.19 is older"),
    ('name = "x"\nrelease = "six"\n[[rule]]\ns2 = "DEVICE"\n', ParseError,
     "x.toml:2: release: 'six' is not a kernel release"),
    ('name = "x"\nrelease = "6.9"\n[[rule]]\nerrno = "EFAULT"\nx = true\n', ConfigError,
     "x.toml:5: rule[0].x: x with errno"),
    ('name = "x"\nrelease = "6.9"\n', ParseError, "x.toml:1: rule: missing required key"),
    ('name = "x"\nrelease = "6.9"\n[[rule]]\nwhen = { bus = "usb" }\ns2 = "DEVICE"\n',
     ParseError, "x.toml:4: rule[0].when.bus"),
    ('name = "x\nrelease', ParseError, "x.toml:1: TOML syntax"),
    # A name is a column heading of run, matrix and the HTML report: no control characters.
    ('name = "a\\u001b[31mb"\nrelease = "6.9"\n[[rule]]\ns2 = "DEVICE"\n', ParseError,
     "x.toml:1: name: 'a\\x1b[31mb' is not a policy name"),
])
def test_errors_name_file_line_and_key(text: str, error: type, where: str) -> None:
    """Each error is one line: file:line: key: what (expected)."""
    with pytest.raises(error) as exc:
        loads_policy(text, "x.toml")
    assert where in str(exc.value) and "\n" not in str(exc.value)

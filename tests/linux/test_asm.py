"""Tests for memattr.linux.asm: MT_* layouts and the MAIR_EL1 each release programs
(arch/arm64/include/asm/memory.h, arch/arm64/mm/proc.S), MT_S2_* encodings, KVM_PTE_* bits, and
the one commit registry."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from memattr.arch import mair as arch_mair
from memattr.errors import ConfigError
from memattr.linux.asm import kvm_pgtable as K
from memattr.linux.asm import memory as M
from memattr.linux.asm import sysreg as S
from memattr.linux.commits import COMMITS, commit
from memattr.linux.version import KernelVersion

SRC = Path(__file__).resolve().parents[2] / "src" / "memattr"


def test_mair_attr_bytes() -> None:
    """sysreg.h MAIR_ATTR_*: 0x00, 0x04, 0x0c, 0x44, 0xff, 0xbb, 0xf0."""
    assert (S.MAIR_ATTR_DEVICE_nGnRnE, S.MAIR_ATTR_DEVICE_nGnRE, S.MAIR_ATTR_DEVICE_GRE) == \
        (0x00, 0x04, 0x0C)
    assert (S.MAIR_ATTR_NORMAL_NC, S.MAIR_ATTR_NORMAL, S.MAIR_ATTR_NORMAL_WT,
            S.MAIR_ATTR_NORMAL_TAGGED) == (0x44, 0xFF, 0xBB, 0xF0)


@pytest.mark.parametrize(
    ("release", "mte", "value"),
    [
        # v5.5: nGnRnE 0, nGnRE 1, GRE 2, NC 3, NORMAL 4, WT 5 (proc.S MAIR_EL1_SET).
        ("5.5", False, 0x0000_BBFF_440C_0400),
        ("5.9", True, 0x0000_BBFF_440C_0400),
        # v5.10-v5.13: NORMAL 0, TAGGED 1, NC 2, WT 3, nGnRnE 4, nGnRE 5, GRE 6.
        ("5.13", False, 0x000C_0400_BB44_FFFF),
        ("5.13", True, 0x000C_0400_BB44_F0FF),
        # v5.14 on: NORMAL 0, TAGGED 1, NC 2, nGnRnE 3, nGnRE 4.
        ("6.1", False, 0x0000_0004_0044_FFFF),
        ("6.17", True, 0x0000_0004_0044_F0FF),
    ],
)
def test_mair_for(release: str, mte: bool, value: int) -> None:
    """mair_for gives the MAIR_EL1 a release programs, MT_NORMAL_TAGGED 0xff until MTE is on."""
    assert M.mair_for(release, mte=mte) == value


def test_mt_names_per_release() -> None:
    """MT_NORMAL_WT and MT_DEVICE_GRE exist up to v5.13; MT_NORMAL moved to 0 in v5.10."""
    assert M.mt_names("5.5")["MT_NORMAL"] == 4 and "MT_NORMAL_TAGGED" not in M.mt_names("5.5")
    assert M.mt_names("5.13") == {"MT_NORMAL": 0, "MT_NORMAL_TAGGED": 1, "MT_NORMAL_NC": 2,
                                  "MT_NORMAL_WT": 3, "MT_DEVICE_nGnRnE": 4,
                                  "MT_DEVICE_nGnRE": 5, "MT_DEVICE_GRE": 6}
    assert "MT_NORMAL_WT" not in M.mt_names("5.14")
    with pytest.raises(ConfigError, match="oldest"):
        M.mair_for("5.4")
    with pytest.raises(ConfigError, match="MT_NORMAL_WT"):
        M.mt_layout("6.9").index("MT_NORMAL_WT")


def test_every_layout_decodes_as_named() -> None:
    """Each Attr<n> a layout programs decodes to the type its MT name says."""
    for layout in M.MT_LAYOUTS:
        attrs = arch_mair.decode_register(layout.mair(mte=True))
        for name, idx, _ in layout.slots:
            a = attrs[idx].attrs
            assert a is not None
            if "DEVICE" in name:
                assert a.device is not None and name.endswith(a.device.name)
            elif name == "MT_NORMAL_NC":
                assert a.is_nc
            else:
                assert a.is_cacheable


def test_s2_encodings() -> None:
    """MT_S2_* / MT_S2_FWB_* found from arch's decoders equal memory.h's numbers."""
    assert (M.MT_S2_DEVICE_nGnRE, M.MT_S2_NORMAL_NC, M.MT_S2_NORMAL, M.MT_S2_AS_S1) == \
        (0x1, 0x5, 0xF, 0xF)
    assert (M.MT_S2_FWB_DEVICE_nGnRE, M.MT_S2_FWB_NORMAL_NC, M.MT_S2_FWB_NORMAL,
            M.MT_S2_FWB_AS_S1) == (1, 5, 6, 7)
    assert M.PAGE_S2_MEMATTR("NORMAL", True) == 6 and M.PAGE_S2_MEMATTR("NORMAL", False) == 0xF


def test_kvm_pte_bits() -> None:
    """A few KVM_PTE_* values from kvm_pgtable.h (the full list: tests/arch/test_descriptor)."""
    assert K.KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR == 0xF << 2
    assert K.KVM_PTE_LEAF_ATTR_HI_S2_XN == 1 << 54 and K.KVM_PTE_LEAF_ATTR_LO_S2_AF == 1 << 10


def test_arch_holds_no_linux_layout() -> None:
    """The kernel's MAIR and MT_* indexes live here only (arch.mair has no Linux shim)."""
    assert not hasattr(arch_mair, "LINUX_MAIR") and not hasattr(arch_mair, "LINUX_MT")
    assert M.MAIR_EL1_SET == 0x00_00_00_04_00_44_F0_FF


@pytest.mark.parametrize(("release", "labels"), [
    ("6.9", {0: "MEM/NORMAL", 1: "MEM/NORMAL-TAGGED", 2: "MEM/NORMAL-NC", 3: "DEVICE/nGnRnE",
             4: "DEVICE/nGnRE"}),
    ("5.10", {0: "MEM/NORMAL", 1: "MEM/NORMAL-TAGGED", 2: "MEM/NORMAL-NC", 4: "DEVICE/nGnRnE",
              5: "DEVICE/nGnRE", 6: "DEVICE/GRE"}),
    ("5.5", {0: "DEVICE/nGnRnE", 1: "DEVICE/nGnRE", 2: "DEVICE/GRE", 3: "MEM/NORMAL-NC",
             4: "MEM/NORMAL"}),
])
def test_ptdump_attr_labels(release: str, labels: dict[int, str]) -> None:
    """ptdump.c's memory-type words by AttrIndx follow each release's MT_* layout (MT_NORMAL_WT
    has no word)."""
    from memattr.linux.ptdump import attr_labels

    assert attr_labels(release) == labels


def test_commits_defined_once() -> None:
    """Commit(...) is constructed only in memattr/linux/commits.py; every hash is unique."""
    for path in SRC.rglob("*.py"):
        if path.name in ("commits.py", "version.py"):
            continue
        assert not re.search(r"\bCommit\(", path.read_text()), path
    ids = [c.id for c in COMMITS.values()]
    assert len(ids) == len(set(ids))
    assert commit("s2-normalnc").release is not None
    with pytest.raises(KeyError, match="known"):
        commit("nope")


# A commit id: 12 to 40 hex digits with at least one letter a-f and one digit (so a Message-ID's
# date stamp such as 20231205171024 and a plain word are not taken for one).
_HASH = re.compile(r"(?<![\w.@-])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*[0-9])[0-9a-f]{12,40}(?![\w@])")
NOT_COMMITS = {"0123456789abcdef": "analysis/trace.py: the hex digit alphabet"}
"""Hex strings in src/ that are not commit ids, each with where and why."""


def _code_strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string constant that is not a docstring (an expression statement)."""
    docs = {id(n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_commit_hashes_only_through_the_registry() -> None:
    """Outside memattr/linux/commits.py no commit hash is code: a string the package prints gets
    its hash from the registry (``commit(key).id`` / ``.cite()``).  A hash in a comment or a
    docstring, or in a bundled TOML file's comments, is allowed only if the registry has it, so
    every commit the sources name has its subject and first release in one place."""
    known = {c.id for c in COMMITS.values()}
    assert "8c47ce3e1d2c" in known and "0123456789abcdef" in (SRC / "analysis/trace.py").read_text()
    problems = []
    for path in sorted(SRC.rglob("*")):
        rel = path.relative_to(SRC).as_posix()
        if path.suffix not in (".py", ".toml") or rel == "linux/commits.py":
            continue
        text = path.read_text(encoding="utf-8")
        for n, line in enumerate(text.splitlines(), 1):
            for h in _HASH.findall(line):
                if h not in known and h not in NOT_COMMITS:
                    problems.append(f"{rel}:{n}: {h} is not in memattr.linux.commits")
        if path.suffix == ".py":
            for n, value in _code_strings(ast.parse(text)):
                for h in _HASH.findall(value):
                    if h not in NOT_COMMITS:
                        problems.append(f"{rel}:{n}: {h} written in code; use memattr.linux.commits")
    assert not problems, "\n".join(problems)
    assert _HASH.findall('x = "a39d3a966a09"; 20231205171024.GA1@x; deadbeefcafe') == ["a39d3a966a09"]


def test_vm_mte_bits_per_release() -> None:
    """include/linux/mm.h: VM_MTE/VM_MTE_ALLOWED are bits 32/33 up to v6.11 and 36/37 from v6.12;
    a VMA prints and reports (JSON vm_flags) the release's positions."""
    from memattr.linux.mm import vm_mte_bits
    from memattr.linux.mmap import AnonymousRam, mmap_source
    from memattr.linux.version import KernelVersion
    from memattr.platform.examples import example_platform

    assert vm_mte_bits("6.9") == (1 << 32, 1 << 33)
    assert vm_mte_bits("6.12") == (1 << 36, 1 << 37) == vm_mte_bits("6.17")
    plat = example_platform()
    for release, bit in (("6.9", 33), ("6.12", 37)):
        v = mmap_source(plat, AnonymousRam(1 << 21), release=KernelVersion.parse(release),
                        hva=0x7F00_0000_0000, mte=True)
        assert v.kernel_vm_flags >> bit & 1 and "VM_MTE_ALLOWED" in v.flags_str


def test_guest_of_an_older_release_uses_its_layout() -> None:
    """A v5.5 Linux guest's ioremap_wc selects MT_NORMAL_NC = 3 in its own MAIR (0x44)."""
    from memattr.linux.guest import LinuxGuest

    g = LinuxGuest(release=KernelVersion(5, 5)).ioremap_wc()
    assert g.attrindx == 3 and g.attr == 0x44 and g.mair == M.mair_for("5.5")
    assert LinuxGuest(release=KernelVersion(5, 13)).ioremap().attrindx == 5

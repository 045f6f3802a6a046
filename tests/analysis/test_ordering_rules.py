"""The ordering model's rules: every rule is stated and sourced; the PCIe passing table is the
specification's, entry by entry."""

from __future__ import annotations

import itertools

import pytest

from memattr.analysis.ordering_rules import (
    PCIE_ORDERING,
    PCIE_PASSING,
    RULES,
    OrderingRule,
    TlpClass,
    lore,
    pcie_may_pass,
)

# PCIe Base Specification, Transaction Ordering, "Ordering Rules Summary" (row passes column),
# RO and IDO clear: No = must not pass; Yes = must be able to pass; Y/N = permitted.
SPEC = {
    ("Posted", "Posted"): "No (A2a)",
    ("Posted", "Read"): "Yes (A3)",
    ("Posted", "NPR with data"): "Yes (A4)",
    ("Read", "Posted"): "No (B2a)",
    ("Read", "Read"): "Y/N (B3)",
    ("Read", "NPR with data"): "Y/N (B4)",
    ("NPR with data", "Posted"): "No (C2a)",
    ("NPR with data", "Read"): "Y/N (C3)",
    ("NPR with data", "NPR with data"): "Y/N (C4)",
}
NAMES = {TlpClass.POSTED: "Posted", TlpClass.READ: "Read", TlpClass.NPR_DATA: "NPR with data"}


def test_every_rule_is_stated_and_sourced() -> None:
    """Each rule has a sentence and a source; ids are unique."""
    assert set(RULES) == set(OrderingRule)
    for rule, info in RULES.items():
        assert info.text and info.source, rule
    assert len({r.value for r in OrderingRule}) == len(OrderingRule)


def test_unverified_architecture_prose_is_marked() -> None:
    """Rules citing the Arm ARM or the AXI specification say their text was not re-verified."""
    for rule, info in RULES.items():
        if "Arm ARM" in info.source or "AMBA AXI" in info.source:
            assert "[prose, not re-verified]" in info.source, rule


def test_pcie_rules_cite_the_ordering_table() -> None:
    """PCIe rules cite the Transaction Ordering table with its number in r5.0 and r4.0."""
    assert PCIE_ORDERING == ("PCIe Base Specification, Transaction Ordering (Table 2-40 in "
                             "r5.0 / 2-39 in r4.0)")
    for rule in OrderingRule:
        if rule.value.startswith("pcie:"):
            assert RULES[rule].source.startswith(PCIE_ORDERING)
            entry = rule.value.removeprefix("pcie:").split("/")[0]
            assert entry in RULES[rule].source


@pytest.mark.parametrize(("later", "earlier"), list(itertools.product(TlpClass, repeat=2)))
def test_pcie_passing_table(later: TlpClass, earlier: TlpClass) -> None:
    """Each of the nine cells matches the specification's entry: 'No' forbids passing, 'Yes'
    and 'Y/N' permit it, and the cell's rule names the entry."""
    ok, rule = pcie_may_pass(later, earlier)
    cell = SPEC[NAMES[later], NAMES[earlier]]
    assert ok == (not cell.startswith("No"))
    entry = cell.split("(")[1].rstrip(")")
    assert entry in rule.value
    assert len(PCIE_PASSING) == 9


def test_lore_links() -> None:
    """Review messages are cited as lore.kernel.org links."""
    assert lore("ZTEN_oe97VRWbnHb@arm.com") == "https://lore.kernel.org/all/ZTEN_oe97VRWbnHb@arm.com/"
    assert lore("ZTEN_oe97VRWbnHb@arm.com") in RULES[OrderingRule.SERIALISATION_POINT].source

"""Witness timelines: one row per step in its lane, rendered from the verdict's records."""

from __future__ import annotations

from memattr.analysis.ordering import (
    Bus,
    Config,
    HostSequence,
    SerialisationPoint,
    WriteType,
    explore,
    witness_text,
)
from memattr.analysis.ordering_rules import RULES, OrderingRule
from memattr.analysis.ordering_timeline import LANES, render_text, timeline_rows

PLATFORM = Config(WriteType.NORMAL_NC, 1, Bus.AXI_LIKE, SerialisationPoint.INTERCONNECT,
                  HostSequence.PLATFORM_RESET)
PCIE = Config(WriteType.NORMAL_NC, 2, Bus.PCIE, SerialisationPoint.ROOT_COMPLEX,
              HostSequence.CONFIG_RESET)


def test_rows_follow_the_witness() -> None:
    """One row per step, numbered from 1, in the step's lane, with the step's rule id."""
    v = explore(PLATFORM)
    rows = timeline_rows(v)
    assert [r.index for r in rows] == list(range(1, len(v.witness) + 1))
    assert [r.lane for r in rows] == [s.actor.value for s in v.witness]
    assert [r.rule for r in rows] == [s.rule.value for s in v.witness]
    assert [r.hazard for r in rows] == [False] * (len(rows) - 1) + [True]
    assert rows[-1].event == "W1 lands AFTER reset"
    assert rows[7].event == "DSB done: W serialised"
    assert rows[6].event == "W1 -> interconnect point"


def test_text_places_each_event_in_its_lane() -> None:
    """The timeline table has a column per lane; each event starts under its lane's header."""
    text = witness_text(explore(PLATFORM))
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("step"))
    starts = {lane: header.index(lane) for lane in LANES}
    rows = timeline_rows(explore(PLATFORM))
    body = [line for line in lines if line[:4].strip().isdigit()]
    assert len(body) == len(rows)
    for line, row in zip(body, rows, strict=True):
        assert line[starts[row.lane]:].startswith(row.event)
    assert body[-1].endswith("<-- hazard")
    assert "verdict: a guest write can reach the device after the reset" in lines[1]


def test_text_cites_every_rule_it_uses() -> None:
    """Each rule id in the timeline or the decisions is explained with its source below."""
    v = explore(PLATFORM)
    text = render_text(v)
    used = {s.rule for s in v.witness} | {d.rule for d in v.decisions}
    rules_part = text.split("\nrules:\n")[1]
    for rule in used:
        assert isinstance(rule, OrderingRule)
        assert f"{rule.value}: {RULES[rule].text}" in rules_part
        assert RULES[rule].source in rules_part


def test_safe_verdict_has_no_timeline() -> None:
    """A safe configuration says so, with the states explored and the rules that prevented it."""
    v = explore(PCIE)
    text = witness_text(v)
    assert timeline_rows(v) == ()
    assert f"no guest write reaches the device after the CfgWr ({v.states} states" in text
    assert "step" not in text.split("why:")[0]
    assert "pcie:C2a [prevented]" in text
    assert "assume:serialisation_point [root-complex](bus=pcie, early_ack=True) -> root complex" \
        in text

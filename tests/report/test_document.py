"""The JSON document of a replay: one document, schema-tagged, with the comparison."""

from __future__ import annotations

import json

from memattr.analysis.replay import replay
from memattr.analysis.scenario import bundled_path, load
from memattr.report.document import SCHEMA, dumps, replay_document


def test_document_round_trips_through_json() -> None:
    """The document is plain JSON: scenario, policies, fwb, results, comparison."""
    rp = replay(load(bundled_path("gating")))
    doc = json.loads(dumps(rp))
    assert doc == json.loads(json.dumps(replay_document(rp)))
    assert doc["schema"] == SCHEMA
    assert doc["fwb"] == [False, True]
    assert len(doc["results"]) == 5 * 4 * 2
    assert doc["comparison"]["baseline"] == "6.8"
    gicv = next(r for r in doc["comparison"]["rows"] if r["mapping"] == "gicv-wc")
    assert [c["differs"] for c in gicv["cells"]] == [False, False, False, True]

"""The JSON rendering of a scenario replay: one document, every field the text report shows and
every event."""

from __future__ import annotations

import json
from typing import Any

from ..analysis.compare import compare
from ..analysis.replay import Replay

__all__ = ["SCHEMA", "replay_document", "dumps"]

SCHEMA = "memattr.replay/1"
"""The ``schema`` value of the document; bumped when a field changes meaning."""


def replay_document(rp: Replay) -> dict[str, Any]:
    """The JSON-ready document: scenario, policies, FWB values, comparison table and results."""
    from .explain import steps_json
    from .text import why

    doc: dict[str, Any] = {"schema": SCHEMA}
    doc.update(rp.to_json())
    # The reason with the deciding rule, and the records it is rendered from.
    for item, r in zip(doc["results"], rp.results, strict=True):
        item["reason"] = why(r)
        res = r.evaluation.resolution
        item["decisions"] = steps_json(res.paths) if res is not None else []
    doc["comparison"] = compare(rp).to_json()
    return doc


def dumps(rp: Replay, *, indent: int | None = 2) -> str:
    """The document as JSON text."""
    return json.dumps(replay_document(rp), indent=indent)

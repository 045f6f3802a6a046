"""memattr.report: rendering for people and scripts.

* :mod:`~memattr.report.text`: the plain-text replay report and the policy-comparison table.
* :mod:`~memattr.report.document`: the JSON document of a replay.
* :mod:`~memattr.report.demo`: ``memattr demo``'s story.

Submodules are imported on demand.  Layer: may import every layer below cli.
"""

__all__: list[str] = []

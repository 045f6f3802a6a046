"""memattr.report: rendering for people and scripts.

* :mod:`~memattr.report.text`: the plain-text replay report and the policy-comparison table.
* :mod:`~memattr.report.document`: the JSON document of a replay.
* :mod:`~memattr.report.demo`: ``memattr demo``'s story.
* :mod:`~memattr.report.matrix`: the policy matrix as text, CSV and one HTML page.

Submodules are imported on demand.  Layer: may import every layer below cli.
"""

__all__: list[str] = []

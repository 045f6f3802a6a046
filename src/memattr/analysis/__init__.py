"""memattr.analysis: scenarios over the Linux model.

* :mod:`~memattr.analysis.scenario`: the TOML schema and its loader; errors give file:line: key.
* :mod:`~memattr.analysis.replay`: every guest mapping x policy x FWB, with accesses and reasons.
* :mod:`~memattr.analysis.hazards`: reclaim, context switch, errors, aliases, speculation,
  unaligned accesses on the bus, instruction fetches, cacheable MMIO: each a documented check.
* :mod:`~memattr.analysis.access`: access kinds end to end (architecture, KVM, bus).
* :mod:`~memattr.analysis.matrix`: every policy x device x source x guest x access x FWB.
* :mod:`~memattr.analysis.policyfile`: a stage-2 policy written as rules (TOML).
* :mod:`~memattr.analysis.compare`: the policy-comparison table.
* :mod:`~memattr.analysis.x86`: the x86 contrast (EPT x PAT).
* :mod:`~memattr.analysis.ordering`, :mod:`~memattr.analysis.ordering_rules`,
  :mod:`~memattr.analysis.ordering_timeline`: the reclaim/reset ordering model (every
  interleaving explored), its rules as data, and a witness as a timeline.
* :mod:`~memattr.analysis.trace`, :mod:`~memattr.analysis.tracegen`: streamed trace replay
  (CSV / JSON lines, gzip) and realistic trace generators (ring, memcpy_toio, memcpy).
* :mod:`~memattr.analysis.walkfile`: the walk-file schema (laid-out and raw forms) on the shared
  TOML reader, and the table placement.

Submodules are imported on demand: this package imports nothing, so the CLI starts fast.
Layer: may import arch, mmu, platform and linux; never interop, report or cli.
"""

__all__: list[str] = []

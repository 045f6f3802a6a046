"""Policy comparison: one row per guest mapping, one cell per policy, differences flagged.

A cell is the answer (effective type, or what happened instead) for one policy; when FWB changes
the answer the cell holds both, ``"Normal-NC / Normal-WB"`` in the order of :attr:`Comparison.fwb`.
A cell *differs* when it is not the baseline's (the first policy's) cell, so a reviewer comparing
``6.8`` with ``6.9`` sees exactly what the change changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .replay import Replay

__all__ = ["Cell", "Row", "Comparison", "compare", "groups"]


@dataclass(frozen=True, slots=True)
class Cell:
    """One policy's answer for one guest mapping.

    :param by_fwb: the answer for each FWB setting, in :attr:`Comparison.fwb` order.
    :param s2: the stage-2 MemAttr written for each FWB setting (None: no mapping).
    :param differs: not the baseline policy's answer.
    """

    policy: str
    by_fwb: tuple[str, ...]
    s2: tuple[int | None, ...]
    differs: bool

    @property
    def text(self) -> str:
        """The answer, or 'no-FWB answer / FWB answer' when FWB changes it."""
        if len(set(self.by_fwb)) == 1:
            return self.by_fwb[0]
        return " / ".join(self.by_fwb)

    @property
    def fwb_matters(self) -> bool:
        return len(set(self.by_fwb)) > 1


@dataclass(frozen=True, slots=True)
class Row:
    """One guest mapping across the policies."""

    mapping: str
    asks: str
    vmm: str
    cells: tuple[Cell, ...]

    @property
    def differs(self) -> bool:
        return any(c.differs for c in self.cells)


@dataclass(frozen=True, slots=True)
class Comparison:
    """The whole table."""

    policies: tuple[str, ...]
    fwb: tuple[bool, ...]
    rows: tuple[Row, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "baseline": self.policies[0] if self.policies else None,
            "policies": list(self.policies),
            "fwb": list(self.fwb),
            "rows": [{
                "mapping": r.mapping, "asks": r.asks, "vmm_s1": r.vmm,
                "cells": [{"policy": c.policy, "answer": c.text, "by_fwb": list(c.by_fwb),
                           "s2_memattr": list(c.s2), "differs": c.differs} for c in r.cells],
            } for r in self.rows],
        }


def compare(rp: Replay) -> Comparison:
    """The comparison table of a replay (baseline: its first policy)."""
    rows: list[Row] = []
    for name in rp.rows():
        cells: list[Cell] = []
        base: tuple[str, ...] | None = None
        asks = vmm = ""
        for pol in rp.policies:
            results = [rp.get(name, pol, f) for f in rp.fwb]
            answers = tuple(r.cell for r in results)
            s2 = tuple(r.evaluation.s2_memattr for r in results)
            if base is None:
                base = answers
            cells.append(Cell(pol, answers, s2, answers != base))
            first = results[0].evaluation
            if not asks:
                g = first.guest_s1
                asks = g.short if g is not None else ("MMU off" if not first.guest.mmu_on
                                                      else "reserved")
            if not vmm:
                v = first.vmm_s1
                vmm = v.short if v is not None else "(no VMA)" if first.vma is None else ""
        rows.append(Row(name, asks, vmm, tuple(cells)))
    return Comparison(rp.policies, rp.fwb, tuple(rows))


def groups(row: Row) -> list[tuple[list[str], str]]:
    """Consecutive policies with the same answer: ``[(['6.8'], 'Device-nGnRE'), (['6.9', '6.17'],
    'Normal-NC')]``."""
    out: list[tuple[list[str], str]] = []
    for c in row.cells:
        if out and out[-1][1] == c.text:
            out[-1][0].append(c.policy)
        else:
            out.append(([c.policy], c.text))
    return out

"""Reclaim ordering as an operational model: can a guest write reach the device after the reset?

The review of the Normal-NC change (docs/review.md#reclaim-and-reset-ordering) argued about one
race: the guest
leaves writes buffered on CPU0 while the host, on CPU1, revokes the mapping and resets the
device.  This module states that race as a small machine and explores every interleaving:

* CPU0's **write buffer** holds the guest's stores, with the properties of the memory type
  (gathering G, reordering R, early write acknowledgement E; Normal-NC gathers, reorders and is
  acknowledged early), read from :func:`memattr.arch.properties.type_properties`.
* Each CPU reaches the device over its **own path**; paths are not ordered with each other.
  On PCIe the paths meet in the root complex, whose queue follows the PCIe passing table; on an
  AXI-like interconnect they meet only at an interconnect point that acknowledged the write, if
  the serialisation-point assumption puts one there.
* The **host sequence** on CPU1: zap VMA -> stage-2 unmap -> TLBI -> DSB -> [flushing read] ->
  reset (a non-posted config write then a config read for vfio-pci, or a platform reset over a
  separate path); or, for a context-switched shared peripheral, KVM's switch on CPU0 with no TLBI
  and no DSB.
* The **serialisation point** (:class:`SerialisationPoint`) is the explicit assumption of where
  TLBI + DSB leaves another CPU's early-acknowledged writes (Catalin Marinas: "some
  serialisation point", https://lore.kernel.org/all/ZTEN_oe97VRWbnHb@arm.com/).

:func:`explore` runs a breadth-first search over the interleavings of 1-3 guest writes and
returns a :class:`Verdict`: whether a guest write can land after the reset (or switch), the
shortest witness trace, the states explored, and :class:`~memattr.arch.decision.Decision`
records of why.  :func:`witness_text` renders the witness as a timeline.
"""

from __future__ import annotations

import enum
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..arch.decision import Decision
from ..arch.memtype import (
    DEVICE_GRE,
    NORMAL_NC,
    DEVICE_nGnRE,
    DEVICE_nGnRnE,
    DEVICE_nGRE,
    MemoryAttributes,
)
from ..errors import ConfigError
from .ordering_rules import OrderingRule, TlpClass, pcie_may_pass

__all__ = [
    "WriteType",
    "BufferProps",
    "buffer_props",
    "write_type_of",
    "Bus",
    "SerialisationPoint",
    "HostSequence",
    "Config",
    "make_config",
    "Stage",
    "Actor",
    "Move",
    "Step",
    "Verdict",
    "explore",
    "witness_text",
    "REVIEW_CASES",
    "all_configs",
    "MAX_WRITES",
]

MAX_WRITES = 3
"""The most guest writes one exploration takes (the state space grows quickly beyond)."""

R = OrderingRule


# --- inputs ------------------------------------------------------------------------------------
class WriteType(enum.Enum):
    """The memory type of the guest's writes (the effective type of its mapping)."""

    DEVICE_nGnRnE = "Device-nGnRnE"
    DEVICE_nGnRE = "Device-nGnRE"
    DEVICE_nGRE = "Device-nGRE"
    DEVICE_GRE = "Device-GRE"
    NORMAL_NC = "Normal-NC"

    @property
    def attrs(self) -> MemoryAttributes:
        """The architecture's value for this type."""
        return _ATTRS[self]


_ATTRS = {
    WriteType.DEVICE_nGnRnE: DEVICE_nGnRnE,
    WriteType.DEVICE_nGnRE: DEVICE_nGnRE,
    WriteType.DEVICE_nGRE: DEVICE_nGRE,
    WriteType.DEVICE_GRE: DEVICE_GRE,
    WriteType.NORMAL_NC: NORMAL_NC,
}


@dataclass(frozen=True, slots=True)
class BufferProps:
    """What a memory type lets CPU0's write buffer do, as the architecture layer states it.

    :param gathering: several buffered writes may merge into one transaction (G / Normal).
    :param reordering: writes may reach the device out of program order (R / Normal).
    :param early_ack: an intermediate point may acknowledge a write (E / Normal).
    :param sources: the citations the architecture layer gives for the three properties.
    """

    gathering: bool
    reordering: bool
    early_ack: bool
    sources: tuple[str, ...]


@cache
def buffer_props(wt: WriteType) -> BufferProps:
    """The write-buffer properties of ``wt``, asked of :func:`memattr.arch.properties.type_properties`.

    :param wt: the memory type of the guest's writes.
    """
    from ..arch.properties import type_properties  # the arch layer's statement of B2.8

    props = type_properties(wt.attrs)
    names = ("gathering", "reordering", "early write acknowledgement")
    flags = [props[n].value == "yes" for n in names]
    return BufferProps(flags[0], flags[1], flags[2], tuple(props[n].source for n in names))


def write_type_of(attrs: MemoryAttributes) -> WriteType:
    """The model's write type for an effective memory type (Device-* or Normal-NC).

    :param attrs: the effective attributes of the guest's mapping.
    :raises ConfigError: for a cacheable type, which the model does not cover.
    """
    for wt, value in _ATTRS.items():
        if attrs.device is not None and attrs.device is value.device:
            return wt
    if attrs.is_nc:
        return WriteType.NORMAL_NC
    raise ConfigError(f"memory type {attrs.short}: the ordering model covers Device-* and "
                      "Normal-NC (cacheable writes need cache maintenance, not modelled)")


class Bus(enum.Enum):
    """The interconnect between the CPUs and the device."""

    PCIE = "pcie"  # paths meet in the root complex, which follows the PCIe passing table
    AXI_LIKE = "axi-like"  # independent paths; no ordering between them without a completion


class SerialisationPoint(enum.Enum):
    """The assumption: where TLBI + DSB leaves another CPU's early-acknowledged writes."""

    ROOT_COMPLEX = "root-complex"  # in the PCIe root complex's queue (PCIe only)
    INTERCONNECT = "interconnect"  # at an interconnect point that acknowledged them
    NOWHERE = "nowhere"  # out of CPU0's buffer, not yet serialised with anything


class HostSequence(enum.Enum):
    """What the host does, as the reset/revoke (or vCPU switch) events give it."""

    CONFIG_RESET = "config-reset"  # vfio-pci: zap, S2 unmap, TLBI, DSB, CfgWr (FLR), CfgRd
    PLATFORM_RESET = "platform-reset"  # zap, S2 unmap, TLBI, DSB, reset over a separate path
    CONTEXT_SWITCH = "context-switch"  # KVM switches a shared peripheral: no TLBI, no DSB


def _enum_value(kind: type[enum.Enum], field: str, value: object) -> Any:
    if isinstance(value, kind):
        return value
    for member in kind:
        if value in (member.value, member.name):
            return member
    allowed = ", ".join(str(m.value) for m in kind)
    raise ConfigError(f"ordering {field}={value!r}: not one of {allowed}")


@dataclass(frozen=True, slots=True)
class Config:
    """One configuration of the ordering model.

    :param memtype: the memory type of the guest's writes.
    :param writes: how many guest writes (1 to :data:`MAX_WRITES`).
    :param bus: the interconnect kind.
    :param serialisation: where TLBI + DSB leaves early-acknowledged writes (the assumption).
    :param host: the host's sequence.
    :param flushing_read: the host reads from the device, and waits, before the reset.
    """

    memtype: WriteType = WriteType.NORMAL_NC
    writes: int = 1
    bus: Bus = Bus.PCIE
    serialisation: SerialisationPoint = SerialisationPoint.ROOT_COMPLEX
    host: HostSequence = HostSequence.CONFIG_RESET
    flushing_read: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.writes, int) or not 1 <= self.writes <= MAX_WRITES:
            raise ConfigError(f"ordering writes={self.writes!r}: allowed 1..{MAX_WRITES}")
        if self.serialisation is SerialisationPoint.ROOT_COMPLEX and self.bus is not Bus.PCIE:
            raise ConfigError("ordering serialisation=root-complex: needs bus=pcie "
                              "(an AXI-like interconnect has no root complex)")
        if self.host is HostSequence.CONFIG_RESET and self.bus is not Bus.PCIE:
            raise ConfigError("ordering host=config-reset: needs bus=pcie (config space is PCIe's)")
        if self.flushing_read and self.host is HostSequence.CONTEXT_SWITCH:
            raise ConfigError("ordering flushing_read=True: applies to reclaim sequences, not "
                              "host=context-switch")

    @property
    def meeting_point(self) -> str | None:
        """Where CPU0's and CPU1's paths to the device meet in order, if anywhere."""
        if self.bus is Bus.PCIE:
            return "root complex"
        if self.serialisation is SerialisationPoint.INTERCONNECT:
            return "interconnect point"
        return None

    @property
    def label(self) -> str:
        """A one-line description: type, writes, bus, assumption, sequence."""
        flush = ", flushing read" if self.flushing_read else ""
        n = f"{self.writes} write{'s' if self.writes > 1 else ''}"
        return (f"{self.memtype.value}, {n}, bus {self.bus.value}, serialisation point "
                f"{self.serialisation.value}, {self.host.value}{flush}")

    def to_json(self) -> dict[str, object]:
        return {"memtype": self.memtype.value, "writes": self.writes, "bus": self.bus.value,
                "serialisation": self.serialisation.value, "host": self.host.value,
                "flushing_read": self.flushing_read}


def make_config(memtype: object = WriteType.NORMAL_NC, writes: int = 1, bus: object = Bus.PCIE,
                serialisation: object = SerialisationPoint.ROOT_COMPLEX,
                host: object = HostSequence.CONFIG_RESET, flushing_read: bool = False) -> Config:
    """A :class:`Config` from enum members or their names/values ('Normal-NC', 'pcie', ...).

    :raises ConfigError: naming the field and the allowed values.
    """
    if not isinstance(flushing_read, bool):
        raise ConfigError(f"ordering flushing_read={flushing_read!r}: allowed True or False")
    return Config(_enum_value(WriteType, "memtype", memtype), writes,
                  _enum_value(Bus, "bus", bus),
                  _enum_value(SerialisationPoint, "serialisation", serialisation),
                  _enum_value(HostSequence, "host", host), flushing_read)


# --- the trace ---------------------------------------------------------------------------------
class Stage(enum.IntEnum):
    """Where a transaction is; the order is the order along its path."""

    BUFFER = 1  # in CPU0's write buffer
    PATH = 2  # on its CPU's path through the interconnect
    SP = 3  # at the serialisation point (the root complex, or the interconnect point)
    DEVICE = 4  # arrived at the device


class Actor(enum.Enum):
    """The timeline lane of a step."""

    CPU0 = "CPU0"
    CPU1 = "CPU1"
    FABRIC = "fabric"
    DEVICE = "device"


class Move(enum.Enum):
    """The kinds of step."""

    STORE = "store"  # the guest issues a write into CPU0's buffer
    GATHER = "gather"  # two buffered writes merge
    DRAIN = "drain"  # a buffered transaction leaves CPU0
    SERIALISE = "serialise"  # a transaction reaches the serialisation point
    LAND = "land"  # a transaction arrives at the device
    ZAP = "zap"
    S2_UNMAP = "s2-unmap"
    TLBI = "tlbi"
    TLBI_PERFORMED = "tlbi-performed"  # the TLBI takes effect on CPU0
    DSB = "dsb"
    ISSUE = "issue"  # the host issues a transaction
    COMPLETE = "complete"  # the host receives a completion
    SWITCH = "switch"  # KVM switches vCPU A out


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a witness.

    :param actor: the lane it belongs to.
    :param move: what happened.
    :param units: the transactions involved ('W1', 'W1+W2', 'CfgWr' ...), empty for host steps.
    :param rule: the rule that allowed the step.
    :param stage: where the transaction went (for transaction moves).
    :param after_boundary: a guest write landed after the reset (or switch): the hazard.
    :param overtaken: for the boundary's landing, the guest writes it overtook and where they
        were, with the rule that let it pass them.
    """

    actor: Actor
    move: Move
    units: tuple[str, ...] = ()
    rule: OrderingRule = R.PROGRESS
    stage: Stage | None = None
    after_boundary: bool = False
    overtaken: tuple[tuple[str, Stage, OrderingRule], ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"actor": self.actor.value, "move": self.move.value, "units": list(self.units),
                "rule": self.rule.value, "stage": self.stage.name if self.stage else None,
                "after_boundary": self.after_boundary,
                "overtaken": [[u, s.name, r.value] for u, s, r in self.overtaken]}


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer for one configuration.

    :param config: the configuration explored.
    :param reachable: a guest write can reach the device after the reset (or switch).
    :param witness: the shortest trace that shows it (empty when not reachable).
    :param states: distinct states explored.
    :param decisions: why: the memory type, the assumption, the host sequence, then the rule
        that allowed the overtaking (reachable) or the rules that prevented it (not reachable).
    """

    config: Config
    reachable: bool
    witness: tuple[Step, ...]
    states: int
    decisions: tuple[Decision, ...]

    @property
    def boundary(self) -> str:
        """The host transaction the guest's writes must precede."""
        return _BOUNDARY_LABEL[self.config.host]

    def to_json(self) -> dict[str, object]:
        return {"config": self.config.to_json(), "reachable": self.reachable,
                "states": self.states, "witness": [s.to_json() for s in self.witness],
                "decisions": [{"rule": d.rule.value, "branch": d.branch,
                               "inputs": {k: str(v) for k, v in d.inputs},
                               "result": str(d.result)} for d in self.decisions]}


# --- the machine -------------------------------------------------------------------------------
# Host transaction ids; guest writes are 0 .. writes-1.  A unit is a tuple of ids (a gathered
# transaction carries several guest writes).
_MEMRD, _CFGWR, _CFGRD, _RST, _SWITCH = 10, 11, 12, 13, 14
_HOST_LABEL = {_MEMRD: "MemRd", _CFGWR: "CfgWr", _CFGRD: "CfgRd", _RST: "reset",
               _SWITCH: "switch"}
_BOUNDARY = {HostSequence.CONFIG_RESET: _CFGWR, HostSequence.PLATFORM_RESET: _RST,
             HostSequence.CONTEXT_SWITCH: _SWITCH}
_BOUNDARY_LABEL = {k: _HOST_LABEL[v] for k, v in _BOUNDARY.items()}
_TLP = {_MEMRD: TlpClass.READ, _CFGWR: TlpClass.NPR_DATA, _CFGRD: TlpClass.READ,
        _SWITCH: TlpClass.POSTED}

# Host program operations: (kind, transaction or None).
_OP_ZAP, _OP_UNMAP, _OP_TLBI, _OP_DSB, _OP_ISSUE, _OP_WAIT, _OP_EXIT = range(7)
_OP_MOVE = {_OP_ZAP: (Move.ZAP, R.VFIO_ZAP), _OP_UNMAP: (Move.S2_UNMAP, R.KVM_S2_UNMAP),
            _OP_TLBI: (Move.TLBI, R.KVM_TLBI), _OP_DSB: (Move.DSB, R.DSB_AFTER_TLBI),
            _OP_EXIT: (Move.SWITCH, R.VCPU_SWITCH)}
_ISSUE_RULE = {_MEMRD: R.FLUSHING_READ, _CFGWR: R.PCIE_FLR, _CFGRD: R.PCIE_FLR,
               _RST: R.PLATFORM_RESET, _SWITCH: R.VCPU_SWITCH}

# A state: (next guest write to issue, TLBI performed on CPU0, host pc, boundary landed,
#           CPU0 buffer, CPU0 path, CPU1 path, serialisation point queue), queues oldest first.
_State = tuple[int, bool, int, bool, tuple, tuple, tuple, tuple]
# A move as the search stores it: (actor, move, unit, rule, stage, overtaken).
_RawMove = tuple[Actor, Move, tuple[int, ...], OrderingRule, Stage | None, tuple]


class _Machine:
    """The transition relation of one configuration."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.n = cfg.writes
        self.props = buffer_props(cfg.memtype)
        self.has_sp = cfg.bus is Bus.PCIE or cfg.serialisation is SerialisationPoint.INTERCONNECT
        # Where a DSB after the TLBI leaves CPU0's writes (their completion point).
        if not self.props.early_ack:
            self.completion = Stage.DEVICE
        elif cfg.serialisation is SerialisationPoint.NOWHERE:
            self.completion = Stage.PATH
        else:
            self.completion = Stage.SP
        # A write acknowledged at the interconnect point keeps later transactions behind it.
        self.acked_at_sp = (cfg.bus is Bus.AXI_LIKE and self.props.early_ack
                            and cfg.serialisation is SerialisationPoint.INTERCONNECT)
        self.boundary = _BOUNDARY[cfg.host]
        self.ops = self._program()
        self.tlbi_pc = next((i for i, (op, _) in enumerate(self.ops) if op == _OP_TLBI), -1)
        self.blocked: Counter[OrderingRule] = Counter()

    def _program(self) -> tuple[tuple[int, int | None], ...]:
        cfg = self.cfg
        if cfg.host is HostSequence.CONTEXT_SWITCH:
            return ((_OP_EXIT, None), (_OP_ISSUE, _SWITCH))
        ops: list[tuple[int, int | None]] = [(_OP_ZAP, None), (_OP_UNMAP, None),
                                             (_OP_TLBI, None), (_OP_DSB, None)]
        if cfg.flushing_read:
            ops += [(_OP_ISSUE, _MEMRD), (_OP_WAIT, _MEMRD)]
        if cfg.host is HostSequence.CONFIG_RESET:
            ops += [(_OP_ISSUE, _CFGWR), (_OP_WAIT, _CFGWR), (_OP_ISSUE, _CFGRD),
                    (_OP_WAIT, _CFGRD)]
        else:
            ops.append((_OP_ISSUE, _RST))
        return tuple(ops)

    def initial(self) -> _State:
        return (0, False, 0, False, (), (), (), ())

    # -- ordering relations -------------------------------------------------------------------
    def _is_guest(self, unit: tuple[int, ...]) -> bool:
        return unit[0] < 10

    def _pass_cpu0(self, later: tuple[int, ...], earlier: tuple[int, ...]) -> tuple[bool, R]:
        """May ``later`` overtake ``earlier`` inside CPU0 (its buffer and its path)?"""
        if not self._is_guest(earlier):
            return True, R.REORDERING  # the guest's writes all precede KVM's switch write
        if self.props.reordering is False:
            # nR: program order to one peripheral (the switch write is Device-nGnRE, also nR).
            return False, R.NO_REORDERING
        if self._is_guest(later):
            return True, R.REORDERING
        # KVM's Device-nGnRE switch write after the guest's writes, no barrier between them.
        return True, (R.NO_BARRIER if self.cfg.memtype is WriteType.NORMAL_NC else R.REORDERING)

    def _pass_sp(self, later: tuple[int, ...], earlier: tuple[int, ...]) -> tuple[bool, R]:
        """May ``later`` leave the serialisation point before ``earlier``?"""
        if self.cfg.bus is Bus.PCIE:
            lc = TlpClass.POSTED if self._is_guest(later) else _TLP[later[0]]
            ec = TlpClass.POSTED if self._is_guest(earlier) else _TLP[earlier[0]]
            return pcie_may_pass(lc, ec)
        if self._is_guest(earlier):
            if self.acked_at_sp:
                return False, R.EARLY_RESPONSE_ORDER
            if not self.props.reordering and (self._is_guest(later) or later[0] == _SWITCH):
                return False, R.NO_REORDERING  # one requester, one peripheral: program order
        elif earlier[0] == _SWITCH:
            return False, R.EARLY_RESPONSE_ORDER  # Device-nGnRE: acknowledged at the point
        return True, R.INDEPENDENT_PATHS

    def _first_pass(self, queue: tuple, k: int, relation: Any) -> tuple[bool, R | None]:
        """Can queue[k] leave before every older entry; the rule of the first pass or block."""
        rule: R | None = None
        for earlier in queue[:k]:
            ok, why = relation(queue[k], earlier)
            if not ok:
                if not self._is_guest(queue[k]):
                    self.blocked[why] += 1
                return False, why
            rule = rule or why
        return True, rule

    # -- the search's successor function ------------------------------------------------------
    def _dsb_ready(self, s: _State) -> bool:
        _, _, _, _, buf, p0, _, sp = s
        held = (buf, p0, sp) if self.completion is Stage.DEVICE else \
            (buf, p0) if self.completion is Stage.SP else (buf,)
        return not any(self._is_guest(u) for q in held for u in q)

    def _landed(self, s: _State, txn: int) -> bool:
        _, _, _, _, buf, p0, p1, sp = s
        return not any(u == (txn,) for q in (buf, p0, p1, sp) for u in q)

    def _overtaken(self, s: _State, qname: str, k: int) -> tuple:
        """The guest units in flight as the boundary (at ``qname``[k] in ``s``) lands, each with
        where it was and the rule that let the boundary get ahead of it."""
        queues = {"buf": s[4], "p0": s[5], "p1": s[6], "sp": s[7]}
        stages = {"buf": Stage.BUFFER, "p0": Stage.PATH, "sp": Stage.SP}
        me = (self.boundary,)
        switch = self.cfg.host is HostSequence.CONTEXT_SWITCH
        out = []
        for name, stage in stages.items():
            for j, unit in enumerate(queues[name]):
                if not self._is_guest(unit):
                    continue
                if name == qname and j < k:  # the boundary passes it here
                    rule = (self._pass_sp if name == "sp" else self._pass_cpu0)(me, unit)[1]
                elif switch:  # KVM's write got ahead inside CPU0
                    rule = self._pass_cpu0(me, unit)[1]
                elif name == "sp" and qname == "p1":
                    rule = R.SEPARATE_RESET_PATH
                else:  # still on CPU0's side of independent paths
                    rule = R.INDEPENDENT_PATHS
                out.append((unit, stage, rule))
        return tuple(out)

    def successors(self, s: _State) -> Iterator[tuple[_RawMove, _State, bool]]:
        """Every (move, next state, goal) from ``s``; goal: a guest write lands after the boundary."""
        nxt, performed, pc, landed, buf, p0, p1, sp = s
        cfg = self.cfg
        reclaim = cfg.host is not HostSequence.CONTEXT_SWITCH
        # -- the host's program --
        if pc < len(self.ops):
            op, txn = self.ops[pc]
            actor = Actor.CPU0 if not reclaim else Actor.CPU1
            if op in (_OP_ZAP, _OP_UNMAP, _OP_TLBI):
                move, rule = _OP_MOVE[op]
                yield (actor, move, (), rule, None, ()), (nxt, performed, pc + 1, landed, buf, p0,
                                                         p1, sp), False
            elif op == _OP_DSB:
                if performed and self._dsb_ready(s):
                    rule = R.ENDPOINT_ACK if self.completion is Stage.DEVICE else \
                        R.SERIALISATION_POINT if self.completion is Stage.SP else R.EARLY_ACK
                    yield (actor, Move.DSB, (), rule, self.completion, ()), \
                        (nxt, performed, pc + 1, landed, buf, p0, p1, sp), False
                else:
                    self.blocked[R.DSB_AFTER_TLBI] += 1
            elif op == _OP_EXIT:
                if nxt == self.n:
                    yield (actor, Move.SWITCH, (), R.VCPU_SWITCH, None, ()), \
                        (nxt, performed, pc + 1, landed, buf, p0, p1, sp), False
            elif op == _OP_ISSUE:
                assert txn is not None
                unit = (txn,)
                if txn == _SWITCH:
                    state = (nxt, performed, pc + 1, landed, buf + (unit,), p0, p1, sp)
                    stage = Stage.BUFFER
                else:
                    state = (nxt, performed, pc + 1, landed, buf, p0, p1 + (unit,), sp)
                    stage = Stage.PATH
                yield (actor, Move.ISSUE, unit, _ISSUE_RULE[txn], stage, ()), state, False
            elif op == _OP_WAIT:
                assert txn is not None
                if self._landed(s, txn):
                    yield (actor, Move.COMPLETE, (txn,), R.AWAIT_COMPLETION, None, ()), \
                        (nxt, performed, pc + 1, landed, buf, p0, p1, sp), False
                else:
                    self.blocked[R.AWAIT_COMPLETION] += 1
        # -- the TLBI takes effect on CPU0 --
        if reclaim and not performed and pc > self.tlbi_pc:
            yield (Actor.CPU0, Move.TLBI_PERFORMED, (), R.TLBI_PERFORMED, None, ()), \
                (nxt, True, pc, landed, buf, p0, p1, sp), False
        # -- the guest stores, through the translation still in CPU0's TLB --
        if nxt < self.n and not performed and (reclaim or pc == 0):
            rule = R.OLD_TRANSLATION if reclaim else R.WRITE_BUFFER
            yield (Actor.CPU0, Move.STORE, (nxt,), rule, Stage.BUFFER, ()), \
                (nxt + 1, performed, pc, landed, buf + ((nxt,),), p0, p1, sp), False
        # -- CPU0's write buffer: gathering, then draining --
        if self.props.gathering:
            for k in range(len(buf) - 1):
                a, b = buf[k], buf[k + 1]
                if self._is_guest(a) and self._is_guest(b):
                    merged = tuple(sorted(a + b))
                    nbuf = buf[:k] + (merged,) + buf[k + 2:]
                    yield (Actor.CPU0, Move.GATHER, merged, R.GATHERING, Stage.BUFFER, ()), \
                        (nxt, performed, pc, landed, nbuf, p0, p1, sp), False
        for k, unit in enumerate(buf):
            ok, passed = self._first_pass(buf, k, self._pass_cpu0)
            if ok:
                yield (Actor.CPU0, Move.DRAIN, unit, passed or R.WRITE_BUFFER, Stage.PATH, ()), \
                    (nxt, performed, pc, landed, buf[:k] + buf[k + 1:], p0 + (unit,), p1, sp), \
                    False
        # -- CPU0's path: to the serialisation point, or to the device --
        for k, unit in enumerate(p0):
            ok, passed = self._first_pass(p0, k, self._pass_cpu0)
            if not ok:
                continue
            rest = p0[:k] + p0[k + 1:]
            if self.has_sp:
                yield (Actor.FABRIC, Move.SERIALISE, unit, passed or R.PROGRESS, Stage.SP, ()), \
                    (nxt, performed, pc, landed, buf, rest, p1, sp + (unit,)), False
            else:
                yield from self._land(s, "p0", k, passed or R.PROGRESS,
                                      (nxt, performed, pc, landed, buf, rest, p1, sp))
        # -- CPU1's path: independent of CPU0's, which may still hold guest writes --
        ahead = R.INDEPENDENT_PATHS if any(self._is_guest(u) for q in (buf, p0) for u in q) \
            else R.PROGRESS
        for k, unit in enumerate(p1):
            rest = p1[:k] + p1[k + 1:]
            if unit[0] == _RST:
                yield from self._land(s, "p1", k, R.SEPARATE_RESET_PATH,
                                      (nxt, performed, pc, landed, buf, p0, rest, sp))
            elif self.has_sp:
                yield (Actor.FABRIC, Move.SERIALISE, unit, ahead, Stage.SP, ()), \
                    (nxt, performed, pc, landed, buf, p0, rest, sp + (unit,)), False
            else:
                yield from self._land(s, "p1", k, ahead,
                                      (nxt, performed, pc, landed, buf, p0, rest, sp))
        # -- the serialisation point delivers to the device --
        for k in range(len(sp)):
            ok, passed = self._first_pass(sp, k, self._pass_sp)
            if ok:
                yield from self._land(s, "sp", k, passed or R.PROGRESS,
                                      (nxt, performed, pc, landed, buf, p0, p1,
                                       sp[:k] + sp[k + 1:]))

    def _land(self, s: _State, qname: str, k: int, rule: R,
              state: _State) -> Iterator[tuple[_RawMove, _State, bool]]:
        """``s``'s unit at ``qname``[k] arrives at the device (``state``: the next state)."""
        nxt, performed, pc, landed, buf, p0, p1, sp = state
        unit = {"p0": s[5], "p1": s[6], "sp": s[7]}[qname][k]
        if unit[0] == self.boundary:
            over = self._overtaken(s, qname, k)
            yield (Actor.DEVICE, Move.LAND, unit, rule, Stage.DEVICE, over), \
                (nxt, performed, pc, True, buf, p0, p1, sp), False
            return
        goal = landed and self._is_guest(unit)
        yield (Actor.DEVICE, Move.LAND, unit, rule, Stage.DEVICE, ()), state, goal


def _label(unit: tuple[int, ...]) -> str:
    if unit[0] >= 10:
        return _HOST_LABEL[unit[0]]
    return "+".join(f"W{w + 1}" for w in unit)


def _step(raw: _RawMove, goal: bool) -> Step:
    actor, move, unit, rule, stage, over = raw
    units = (_label(unit),) if unit else ()
    return Step(actor, move, units, rule, stage, goal,
                tuple((_label(u), st, r) for u, st, r in over))


def _decisions(m: _Machine, witness: tuple[Step, ...]) -> tuple[Decision, ...]:
    cfg, props = m.cfg, m.props
    out = [
        Decision(R.WRITE_BUFFER, cfg.memtype.value,
                 (("gathering", props.gathering), ("reordering", props.reordering),
                  ("early_ack", props.early_ack)),
                 R.EARLY_ACK if props.early_ack else R.ENDPOINT_ACK),
        Decision(R.SERIALISATION_POINT, cfg.serialisation.value,
                 (("bus", cfg.bus.value), ("early_ack", props.early_ack)),
                 m.completion if cfg.host is not HostSequence.CONTEXT_SWITCH else "no DSB"),
        Decision(_ISSUE_RULE[m.boundary], cfg.host.value,
                 (("flushing_read", cfg.flushing_read),), _HOST_LABEL[m.boundary]),
    ]
    if witness:
        late = witness[-1]
        land = next(s for s in witness if s.move is Move.LAND and s.units == (_HOST_LABEL[
            m.boundary],))
        for unit, stage, rule in land.overtaken:
            if set(unit.split("+")) & set(late.units[0].split("+")):
                out.append(Decision(rule, "overtaken", (("write", late.units[0]),
                                                        ("was_at", stage),
                                                        ("by", _HOST_LABEL[m.boundary])),
                                    "lands after"))
                break
    else:
        for rule in sorted(m.blocked, key=lambda r: list(R).index(r)):
            out.append(Decision(rule, "prevented", (("times", m.blocked[rule]),), "ordered"))
        if cfg.host is not HostSequence.CONTEXT_SWITCH:
            out.append(Decision(R.TLBI_PERFORMED, "later stores fault", (), "never issued"))
    return tuple(out)


def explore(config: Config) -> Verdict:
    """Every interleaving of ``config``, breadth first: can a guest write land after the boundary?

    :param config: the configuration (see :class:`Config`).
    :returns: the verdict with the shortest witness, the states explored and the decisions.
    """
    m = _Machine(config)
    start = m.initial()
    parent: dict[_State, tuple[_State, _RawMove] | None] = {start: None}
    queue: deque[_State] = deque([start])
    while queue:
        s = queue.popleft()
        for raw, t, goal in m.successors(s):
            if goal:
                trace = [_step(raw, True)]
                cur: _State = s
                while (link := parent[cur]) is not None:
                    cur, prev = link
                    trace.append(_step(prev, False))
                witness = tuple(reversed(trace))
                return Verdict(config, True, witness, len(parent), _decisions(m, witness))
            if t not in parent:
                parent[t] = (s, raw)
                queue.append(t)
    return Verdict(config, False, (), len(parent), _decisions(m, ()))


def witness_text(verdict: Verdict) -> str:
    """The verdict as text: a headline, the witness as a timeline, and the rules it used."""
    from .ordering_timeline import render_text

    return render_text(verdict)


# --- the review's cases --------------------------------------------------------------------------
_NC, _NE, _E = WriteType.NORMAL_NC, WriteType.DEVICE_nGnRnE, WriteType.DEVICE_nGnRE
_PCIE, _AXI = Bus.PCIE, Bus.AXI_LIKE
_RC, _IC, _NOWHERE = (SerialisationPoint.ROOT_COMPLEX, SerialisationPoint.INTERCONNECT,
                      SerialisationPoint.NOWHERE)
_CFG, _PLAT, _SW = HostSequence.CONFIG_RESET, HostSequence.PLATFORM_RESET, \
    HostSequence.CONTEXT_SWITCH

_C21, _C22 = "docs/review.md#case-21-reclaim-pcie", "docs/review.md#case-22-reclaim-platform-device"
_C23 = "docs/review.md#case-23-reclaim-what-each-type-needs"
_C24 = "docs/review.md#case-24-context-switched-peripheral"

REVIEW_CASES: tuple[tuple[str, Config], ...] = (
    (f"PCIe, Normal-NC (6.9), config reset ({_C21})", Config(_NC, 1, _PCIE, _RC, _CFG)),
    (f"PCIe, Normal-NC, 3 writes ({_C21})", Config(_NC, 3, _PCIE, _RC, _CFG)),
    (f"PCIe, serialisation point nowhere ({_C21})", Config(_NC, 1, _PCIE, _NOWHERE, _CFG)),
    (f"platform reset, no flushing read ({_C22})", Config(_NC, 1, _AXI, _IC, _PLAT)),
    (f"platform reset, flushing read ({_C22})", Config(_NC, 1, _AXI, _IC, _PLAT, True)),
    (f"PCIe device, platform reset ({_C22})", Config(_NC, 1, _PCIE, _RC, _PLAT)),
    (f"Device-nGnRnE + DSB, platform reset ({_C23})", Config(_NE, 1, _AXI, _IC, _PLAT)),
    (f"Device-nGnRE, platform reset ({_C23})", Config(_E, 1, _AXI, _IC, _PLAT)),
    (f"Device-nGnRE, read-back first ({_C23})", Config(_E, 1, _AXI, _IC, _PLAT, True)),
    (f"Normal-NC, platform reset ({_C23})", Config(_NC, 1, _AXI, _IC, _PLAT)),
    (f"GICV-like, Normal-NC, no TLBI+DSB ({_C24})", Config(_NC, 1, _AXI, _IC, _SW)),
    (f"GICV-like, Device-nGnRE (the exclusion) ({_C24})", Config(_E, 1, _AXI, _IC, _SW)),
)
"""The review's claims as named configurations, each label ending with the worked case of
docs/review.md it checks (docs/ordering.md#what-it-concludes)."""


def all_configs(max_writes: int = MAX_WRITES) -> tuple[Config, ...]:
    """Every valid configuration with 1..``max_writes`` guest writes, in a fixed order.

    :param max_writes: the largest number of guest writes.
    """
    out = []
    for wt in WriteType:
        for n in range(1, max_writes + 1):
            for bus in Bus:
                for sp in SerialisationPoint:
                    for host in HostSequence:
                        for flush in (False, True):
                            try:
                                out.append(Config(wt, n, bus, sp, host, flush))
                            except ConfigError:
                                continue
    return tuple(out)

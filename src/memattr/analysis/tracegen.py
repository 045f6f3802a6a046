"""Realistic traces of guest accesses to a scenario's guest mappings, for ``memattr replay``.

Each pattern is the access sequence a Linux driver idiom makes, instruction by instruction:

* ``ring``: a NIC-style transmit ring in a write-combining mapping.  Each packet writes a 64-byte
  descriptor with ``__iowrite64_copy(slot, desc, 8)``, which arm64 emits as eight 8-byte ``str``
  (``__const_memcpy_toio_aligned64``, arch/arm64/include/asm/io.h, from Linux commit
  "arm64/io: Provide a WC friendly __iowriteXX_copy()", v6.10), then rings the doorbell with a
  4-byte ``writel`` to a register mapping; every eighth packet the driver reads the completion
  status register (``readl``).  Each CPU has its own ring.
* ``memcpy_toio``: copies of odd lengths to random offsets with ``memcpy_toio``, which arm64
  implements byte by byte until the destination is 8-byte aligned (``__raw_writeb``, a ``strb``),
  then 8 bytes at a time (``__raw_writeq``, a ``str``), then the tail byte by byte
  (``__memcpy_toio`` in arch/arm64/kernel/io.c up to v6.12, lib/iomem_copy.c from v6.13): every
  access is aligned.
* ``memcpy``: user-space ``memcpy`` into the mapping (a DPDK-style driver on a ``resource_wc``
  mmap), as glibc's generic AArch64 ``memcpy`` does it (sysdeps/aarch64/memcpy.S): overlapping
  8-byte ``str`` pairs for 8..16 bytes, 16-byte ``stp`` pairs from each end for 17..96 bytes, and
  for longer copies an unaligned ``stp`` at the start, aligned ``stp`` in the loop and four
  ``stp`` from the end -- so most copies make unaligned accesses.

Addresses are written as IPAs (what a trace of the guest's physical accesses records); CPU and
timestamp (nanoseconds) columns are filled.  The output is the CSV or JSON-lines syntax of
:mod:`memattr.analysis.trace`.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from ..errors import ConfigError
from ..inputs.escape import show
from .scenario import GuestMappingSpec, Scenario
from .trace import FIELDS, TraceAccess

__all__ = ["PATTERNS", "Targets", "targets", "generate", "write_trace"]

PATTERNS = {
    "ring": "a transmit ring: 64-byte descriptors by __iowrite64_copy, a writel doorbell, "
            "readl status",
    "memcpy_toio": "memcpy_toio of odd lengths: head and tail bytes, 8-byte stores between",
    "memcpy": "user-space memcpy (glibc AArch64): overlapping, mostly unaligned 8/16-byte stores",
}
"""The patterns :func:`generate` knows, with what each one does."""

_NORMAL_APIS = ("ioremap_wc", "memremap_wc", "resource_wc", "ioremap_cache", "memremap_wb")
_DEVICE_APIS = ("ioremap", "ioremap_np")
_CPUS = 4
_DOORBELL, _STATUS = 0x0, 0x4  # register offsets in the register mapping


@dataclass(frozen=True, slots=True)
class Targets:
    """The guest mappings a pattern writes to: ``data`` (ring, copy destination) and ``regs``
    (doorbell and status registers; the ring pattern only)."""

    data: GuestMappingSpec
    regs: GuestMappingSpec


def _find(sc: Scenario, name: str, what: str) -> GuestMappingSpec:
    for g in sc.guest_mappings:
        if g.name == name:
            return g
    have = ", ".join(show(g.name) for g in sc.guest_mappings) or "none"
    raise ConfigError(f"{what}={show(name)}: no guest mapping of that name in scenario "
                      f"{show(sc.name)} (have {have})")


def targets(sc: Scenario, data: str | None = None, regs: str | None = None) -> Targets:
    """The mappings a pattern uses: the named ones, or by default the first guest mapping
    mapped write-combining (else the first) for data and the first mapped Device (else the
    data mapping) for registers.

    :param sc: the scenario.  :param data: a guest mapping name.  :param regs: a guest mapping
        name.
    """
    if not sc.guest_mappings:
        raise ConfigError(f"scenario {show(sc.name)}: no [[guest_mapping]] to write a trace for")
    d = _find(sc, data, "--mapping") if data is not None else next(
        (g for g in sc.guest_mappings if g.api in _NORMAL_APIS), sc.guest_mappings[0])
    r = _find(sc, regs, "--regs") if regs is not None else next(
        (g for g in sc.guest_mappings if g.api in _DEVICE_APIS and g is not d), d)
    if d.size < 64:
        raise ConfigError(f"guest mapping {show(d.name)} is {d.size} bytes (the patterns need "
                          "at least 64)")
    if r.size < 8:
        raise ConfigError(f"guest mapping {show(r.name)} is {r.size} bytes (the registers need "
                          "at least 8)")
    return Targets(d, r)


def _ring(t: Targets, rng: random.Random) -> Iterator[tuple[int, int, str, int]]:
    slots = max(1, min(t.data.size // 64 // _CPUS, 256))
    head = [0] * _CPUS
    packets = 0
    while True:
        cpu = rng.randrange(_CPUS)
        base = t.data.ipa + (cpu * slots + head[cpu]) * 64
        head[cpu] = (head[cpu] + 1) % slots
        for k in range(8):  # __iowrite64_copy(slot, desc, 8): str x, [slot, #8 * k]
            yield base + 8 * k, 8, "write", cpu
        yield t.regs.ipa + _DOORBELL, 4, "write", cpu  # writel(tail, doorbell)
        packets += 1
        if packets % 8 == 0:
            yield t.regs.ipa + _STATUS, 4, "read", cpu  # readl(status)


def _memcpy_toio(t: Targets, rng: random.Random) -> Iterator[tuple[int, int, str, int]]:
    while True:
        cpu = rng.randrange(_CPUS)
        count = rng.randrange(1, min(256, t.data.size), 2)  # odd lengths
        to = t.data.ipa + rng.randrange(0, t.data.size - count + 1)
        while count and to % 8:  # head: __raw_writeb until 8-byte aligned
            yield to, 1, "write", cpu
            to, count = to + 1, count - 1
        while count >= 8:  # __raw_writeq
            yield to, 8, "write", cpu
            to, count = to + 8, count - 8
        while count:  # tail bytes
            yield to, 1, "write", cpu
            to, count = to + 1, count - 1


def _memcpy(t: Targets, rng: random.Random) -> Iterator[tuple[int, int, str, int]]:
    while True:
        cpu = rng.randrange(_CPUS)
        count = rng.randrange(8, min(256, t.data.size) + 1)
        dst = t.data.ipa + rng.randrange(0, t.data.size - count + 1)
        end = dst + count
        if count <= 16:  # copy16: str A_l, [dstin]; str A_h, [dstend, -8]
            yield dst, 8, "write", cpu
            yield end - 8, 8, "write", cpu
        elif count <= 96:  # medium: stp pairs from both ends
            if count > 64:
                for off in (0, 16, 32, 48):
                    yield dst + off, 16, "write:ldp", cpu
                yield end - 32, 16, "write:ldp", cpu
                yield end - 16, 16, "write:ldp", cpu
            else:
                if count > 32:
                    yield dst + 16, 16, "write:ldp", cpu
                    yield end - 32, 16, "write:ldp", cpu
                yield dst, 16, "write:ldp", cpu
                yield end - 16, 16, "write:ldp", cpu
        else:  # copy_long: one unaligned stp, then 16-byte aligned ones, the last 64 from the end
            yield dst, 16, "write:ldp", cpu
            d = dst - dst % 16
            left = count + dst % 16 - (128 + 16)
            while left > 0:  # loop64
                for off in (16, 32, 48, 64):
                    yield d + off, 16, "write:ldp", cpu
                d += 64
                left -= 64
            for off in (16, 32, 48, 64):  # last64
                yield d + off, 16, "write:ldp", cpu
            for off in (64, 48, 32, 16):
                yield end - off, 16, "write:ldp", cpu


_GENERATORS = {"ring": _ring, "memcpy_toio": _memcpy_toio, "memcpy": _memcpy}


def generate(sc: Scenario, pattern: str, count: int, *, seed: int = 0, data: str | None = None,
             regs: str | None = None) -> Iterator[TraceAccess]:
    """``count`` accesses of ``pattern`` to the scenario's guest mappings.

    :param sc: the scenario.  :param pattern: one of :data:`PATTERNS`.
    :param count: how many accesses.  :param seed: the random seed (same seed, same trace).
    :param data: the guest mapping for the ring / copies.  :param regs: the register mapping.
    """
    if pattern not in _GENERATORS:
        raise ConfigError(f"pattern={show(pattern)}: unknown (expected one of "
                          f"{', '.join(PATTERNS)})")
    if count < 0:
        raise ConfigError(f"count={count}: negative (expected a number of accesses)")
    # Checked here, before the first access is asked for: a caller that writes a header first
    # must not have written anything when a mapping name is wrong.
    return _accesses(pattern, targets(sc, data, regs), count, seed)


def _accesses(pattern: str, t: Targets, count: int, seed: int) -> Iterator[TraceAccess]:
    rng = random.Random(seed)
    clock = 0
    for i, (ipa, size, kind, cpu) in enumerate(_GENERATORS[pattern](t, rng)):
        if i >= count:
            return
        clock += rng.randrange(2, 40)  # nanoseconds between accesses
        op, _, instr = kind.partition(":")
        yield TraceAccess(i + 1, None, ipa, size, op, instr or "ldr", cpu, str(clock))


def write_trace(accesses: Iterator[TraceAccess], out: IO[str], *, fmt: str = "csv") -> int:
    """Write accesses as trace lines (CSV with a header, or JSON lines); returns how many.

    :param fmt: 'csv' or 'jsonl'.
    """
    n = 0
    if fmt == "csv":
        out.write(",".join(FIELDS) + "\n")
        for a in accesses:
            out.write(f"0x{a.address:x},{a.size},{a.kind},{a.cpu},{a.time}\n")
            n += 1
    elif fmt == "jsonl":
        for a in accesses:
            out.write(json.dumps({"addr": f"0x{a.address:x}", "size": a.size, "kind": a.kind,
                                  "cpu": a.cpu, "time": int(a.time or 0)},
                                 separators=(",", ":")) + "\n")
            n += 1
    else:
        raise ConfigError(f"format={show(fmt)}: unknown (expected csv or jsonl)")
    return n

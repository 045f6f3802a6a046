"""Print translation tables as Linux does, and as memattr does.

Three formats:

- :func:`linux_ptdump`: arm64 ``/sys/kernel/debug/kernel_page_tables`` (arch/arm64/mm/ptdump.c,
  ``note_page``/``dump_prot``; torvalds/linux, read at 031e011d8b22 and a 2025 tree).  Ranges of
  equal protection bits at one level are merged; each line is
  ``0x%016lx-0x%016lx   %9lu%c %s`` (start, end, size in the largest unit K/M/G/T/P/E that
  divides it, level name PGD/P4D/PUD/PMD/PTE) followed by `` %s`` for each entry of
  ``pte_bits``: F, USR, ro/RW, NX/x, SHD, AF, NG, CON, BLK, UXN, GP and the memory-type word
  of the AttrIndx, from the caller's AttrIndx -> word map (the kernel's MT_* layout: see
  :func:`memattr.linux.ptdump.attr_labels`; other indices print nothing).  Mainline prints
  nothing after the level name for an invalid range (prot == 0); the kernel of the shared sample
  printed the bits of a zero descriptor there (``F     RW x                BLK        MEM/NORMAL``),
  which ``zero_prot=True`` reproduces.  BLK follows the older rule (table bit clear), which
  only differs from the newer PMD_TYPE_SECT rule on such zero descriptors.
- :func:`kvm_ptdump`: KVM's ``/sys/kernel/debug/kvm/<pid>-<fd>/stage2_page_tables``
  (arch/arm64/kvm/ptdump.c, Sebastian Ene, merged for v6.11): header ``---[ Guest IPA ]---``,
  the same line layout with the level as a number, and ``stage2_pte_bits``.  Three dialects:
  ``"v6.11"`` (F, R, W, X, AF, BLK, each mask including PTE_VALID; X printed inverted, i.e.
  "X" for a *non*-executable range), ``"x-fixed"`` (Wei-Lin Chang's fix, "KVM: arm64: ptdump:
  Fix exec attribute printing", Aug 2025: X for executable) and ``"xnx"`` (the newest tree,
  masks without PTE_VALID and XN[1:0] as ``px ux `` / ``PXNux `` / ``PXNUXN`` / ``px UXN``).
  KVM walks with kvm_pgtable_walk() and never calls note_page past the IPA size, so the last
  range is not printed; ``close=True`` prints it.
- :func:`memattr_dump`: one line per run of leaves that map a contiguous output range with the
  same attributes, with what KVM's dump lacks: the output address, the raw MemAttr and its
  meaning with or without FWB, and the effective type for a given stage-1 MAIR byte (stage 2),
  or AttrIndx decoded through MAIR_EL1 (stage 1).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from ..arch.combine import Controls, resolve
from ..arch.descriptor import (
    DESC_AF,
    DESC_CONT,
    DESC_SH_MASK,
    DESC_SH_SHIFT,
    DESC_TABLE,
    DESC_TYPE_MASK,
    DESC_VALID,
    FINAL_LEVEL,
    S1_AP2,
    S1_AP_MASK,
    S1_AP_SHIFT,
    S1_AP_USER,
    S1_ATTRINDX_MASK,
    S1_ATTRINDX_SHIFT,
    S1_GP,
    S1_NG,
    S1_PXN,
    S1_UXN,
    S2_MEMATTR_MASK,
    S2_MEMATTR_SHIFT,
    S2_S2AP_READ,
    S2_S2AP_SHIFT,
    S2_S2AP_W,
    S2_XN1,
    S2_XN_MASK,
    S2_XN_SHIFT,
    XN_NAMES,
)
from ..arch.mair import decode_attr
from ..arch.s2memattr import fwb_meaning, s2_decode_mem_attrs
from ..arch.sysregs import MAIR_ELx
from ..errors import ConfigError
from .pgtable import Codec, visit
from .physmem import TableMemory
from .regime import Geometry

__all__ = [
    "ProtBit",
    "linux_pte_bits",
    "KVM_S2_BITS",
    "format_size",
    "linux_level_names",
    "linux_ptdump",
    "kvm_ptdump",
    "memattr_dump",
]


@dataclass(frozen=True, slots=True)
class ProtBit:
    """One entry of a ptdump ``prot_bits`` table: if (prot & mask) == val print set, else clear
    (None prints nothing)."""

    mask: int
    val: int
    set: str | None
    clear: str | None = None


# Linux's PTE_* names for the stage-1 descriptor bits (arch/arm64/include/asm/pgtable-hwdef.h),
# from arch.descriptor's tables.
_VALID = DESC_VALID
_TABLE = DESC_TABLE
_USER = S1_AP_USER << S1_AP_SHIFT  # AP[1]
_RDONLY = S1_AP2  # AP[2]
_SHARED = DESC_SH_MASK << DESC_SH_SHIFT
_AF = DESC_AF
_NG = S1_NG
_GP = S1_GP
_CONT = DESC_CONT
_PXN = S1_PXN
_UXN = S1_UXN
_ATTRINDX = S1_ATTRINDX_MASK << S1_ATTRINDX_SHIFT


def linux_pte_bits(attr_labels: Mapping[int, str]) -> tuple[ProtBit, ...]:
    """arm64 ptdump.c's ``pte_bits`` with one memory-type entry per item of ``attr_labels``
    (AttrIndx -> the word printed, in the kernel's order)."""
    return _PTE_BITS + tuple(ProtBit(_ATTRINDX, idx << S1_ATTRINDX_SHIFT, word)
                             for idx, word in attr_labels.items())


_PTE_BITS: tuple[ProtBit, ...] = (
    ProtBit(_VALID, _VALID, " ", "F"),
    ProtBit(_USER, _USER, "USR", "   "),
    ProtBit(_RDONLY, _RDONLY, "ro", "RW"),
    ProtBit(_PXN, _PXN, "NX", "x "),
    ProtBit(_SHARED, _SHARED, "SHD", "   "),
    ProtBit(_AF, _AF, "AF", "  "),
    ProtBit(_NG, _NG, "NG", "  "),
    ProtBit(_CONT, _CONT, "CON", "   "),
    ProtBit(_TABLE, _TABLE, "   ", "BLK"),
    ProtBit(_UXN, _UXN, "UXN", "   "),
    ProtBit(_GP, _GP, "GP", "  "),
)
"""arch/arm64/mm/ptdump.c pte_bits (the PTE_* values are the stage-1 descriptor bits)."""

_S2AP_R = S2_S2AP_READ << S2_S2AP_SHIFT
_S2AP_W = S2_S2AP_W
_S2XN1 = S2_XN1  # KVM_PTE_LEAF_ATTR_HI_S2_XN before FEAT_XNX support
_S2XN = S2_XN_MASK << S2_XN_SHIFT  # KVM_PTE_LEAF_ATTR_HI_S2_XN = GENMASK(54, 53) with FEAT_XNX
_S2AF = DESC_AF
_TYPE = DESC_TYPE_MASK

KVM_S2_BITS: dict[str, tuple[ProtBit, ...]] = {
    "v6.11": (
        ProtBit(_VALID, _VALID, " ", "F"),
        ProtBit(_S2AP_R | _VALID, _S2AP_R | _VALID, "R", " "),
        ProtBit(_S2AP_W | _VALID, _S2AP_W | _VALID, "W", " "),
        ProtBit(_S2XN1 | _VALID, _VALID, " ", "X"),
        ProtBit(_S2AF | _VALID, _S2AF | _VALID, "AF", "  "),
        ProtBit(_TABLE | _VALID, _VALID, "BLK", "   "),
    ),
    "x-fixed": (
        ProtBit(_VALID, _VALID, " ", "F"),
        ProtBit(_S2AP_R | _VALID, _S2AP_R | _VALID, "R", " "),
        ProtBit(_S2AP_W | _VALID, _S2AP_W | _VALID, "W", " "),
        ProtBit(_S2XN1 | _VALID, _VALID, "X", " "),
        ProtBit(_S2AF | _VALID, _S2AF | _VALID, "AF", "  "),
        ProtBit(_TABLE | _VALID, _VALID, "BLK", "   "),
    ),
    "xnx": (
        ProtBit(_VALID, _VALID, " ", "F"),
        ProtBit(_S2AP_R, _S2AP_R, "R", " "),
        ProtBit(_S2AP_W, _S2AP_W, "W", " "),
        ProtBit(_S2XN, 0b00 << S2_XN_SHIFT, "px ux "),
        ProtBit(_S2XN, 0b01 << S2_XN_SHIFT, "PXNux "),
        ProtBit(_S2XN, 0b10 << S2_XN_SHIFT, "PXNUXN"),
        ProtBit(_S2XN, 0b11 << S2_XN_SHIFT, "px UXN"),
        ProtBit(_S2AF, _S2AF, "AF", "  "),
        ProtBit(_TYPE, 0b01, "BLK", "   "),
    ),
}
"""arch/arm64/kvm/ptdump.c stage2_pte_bits, by dialect (see the module docstring)."""


def format_size(nbytes: int) -> str:
    """note_page's size column: ``%9lu%c`` in the largest unit of K..E that divides it."""
    units = "KMGTPE"
    delta = nbytes >> 10
    u = 0
    while not delta & 1023 and u < len(units) - 1:
        delta >>= 10
        u += 1
    return f"{delta:9d}{units[u]}"


def linux_level_names(geom: Geometry) -> dict[int, str]:
    """Level -> ptdump name: the root is PGD, then P4D/PUD/PMD/PTE by level (folded levels
    are named PGD, as CONFIG_PGTABLE_LEVELS < 4 kernels do)."""
    names = {0: "P4D", 1: "PUD", 2: "PMD", 3: "PTE"}
    return {lv: ("PGD" if lv == geom.start_level else names[lv]) for lv in geom.levels}


class _NotePage:
    """The note_page() state machine of arch/arm64/mm/ptdump.c."""

    def __init__(self, markers: Sequence[tuple[int, str | None]], names: dict[int, str],
                 bits: Sequence[ProtBit], zero_prot: bool) -> None:
        self.markers = list(markers)
        self.m = 0
        self.names = names
        self.bits = bits
        self.mask = 0
        for b in bits:
            self.mask |= b.mask
        self.zero_prot = zero_prot
        self.level: int | None = None
        self.prot = 0
        self.start = 0
        self.started = False
        self.lines: list[str] = []

    def _next_start(self) -> int:
        if self.m + 1 < len(self.markers):
            return self.markers[self.m + 1][0]
        return 1 << 65

    def _marker(self) -> None:
        name = self.markers[self.m][1]
        self.lines.append(f"---[ {name if name is not None else '(null)'} ]---")

    def note(self, addr: int, level: int, val: int) -> None:
        """One entry: extend the open range, or print it and open a new one (and markers)."""
        prot = val & self.mask
        if not self.started:
            self.started = True
            self.level, self.prot, self.start = level, prot, addr
            self._marker()
        elif prot != self.prot or level != self.level or addr >= self._next_start():
            self._emit(addr)
            if addr >= self._next_start():
                self.m += 1
                self._marker()
            self.start, self.prot, self.level = addr, prot, level
        if addr >= self._next_start():
            self.m += 1
            self._marker()

    def flush(self, addr: int) -> None:
        """The final note_page(0, -1, 0) of ptdump_walk_pgd: close the open range at ``addr``."""
        if self.started:
            self._emit(addr)

    def _emit(self, addr: int) -> None:
        end = addr & ((1 << 64) - 1)
        line = f"0x{self.start:016x}-0x{end:016x}   {format_size(addr - self.start)} "
        line += self.names.get(self.level, "") if self.level is not None else ""
        if self.prot or self.zero_prot:
            for b in self.bits:
                s = b.set if (self.prot & b.mask) == b.val else b.clear
                if s is not None:
                    line += f" {s}"
        self.lines.append(line)


def _entries(mem: TableMemory, geom: Geometry, root: int, base: int,
             lo: int, hi: int) -> Iterable[tuple[int, int, int]]:
    """(address, level, descriptor) of each leaf or invalid entry, with ``base`` added."""
    for v in visit(mem, geom, root, lo, hi):
        yield base + v.ia, v.level, v.raw


def linux_ptdump(
    mem: TableMemory,
    geom: Geometry,
    root: int,
    *,
    attr_labels: Mapping[int, str],
    ttbr1: bool = False,
    markers: Sequence[tuple[int, str | None]] | None = None,
    start: int | None = None,
    zero_prot: bool = False,
) -> str:
    """A stage-1 table as arm64 ``kernel_page_tables`` prints it (one string, lines ending
    in a newline).

    :param attr_labels: AttrIndx -> the memory-type word the kernel prints for it (its MT_*
        layout; :func:`memattr.linux.ptdump.attr_labels`).
    :param ttbr1: the table is a TTBR1 table: addresses are 0xffff.. (sign-extended).
    :param markers: (address, name) pairs, as Linux's address_markers (the last name may be
        None, the end); default one marker named after the TTBR.
    :param start: first VA to dump (default the bottom of the range).
    :param zero_prot: print the bits of invalid ranges (the shared sample's kernel did).
    """
    if geom.stage != 1:
        raise ConfigError("linux_ptdump: needs a stage-1 table (use kvm_ptdump for stage 2)")
    base = ((1 << 64) - geom.ia_size) if ttbr1 else 0
    lo = base if start is None else start
    if not base <= lo < base + geom.ia_size:
        raise ConfigError(f"linux_ptdump start=0x{lo:x}: outside the table's VA range")
    mk = list(markers) if markers is not None else [(lo, f"TTBR{int(ttbr1)}_EL1"), (1 << 64, None)]
    np_ = _NotePage(mk, linux_level_names(geom), linux_pte_bits(attr_labels), zero_prot)
    for addr, level, raw in _entries(mem, geom, root, base, lo - base, geom.ia_size):
        np_.note(addr, level, raw)
    np_.flush(base + geom.ia_size)  # ptdump_walk_pgd's final note_page(0, -1, 0)
    return "".join(line + "\n" for line in np_.lines)


def kvm_ptdump(
    mem: TableMemory,
    geom: Geometry,
    root: int,
    *,
    dialect: str = "xnx",
    close: bool = False,
) -> str:
    """A stage-2 table as KVM's ``stage2_page_tables`` debugfs file prints it.

    :param dialect: ``"v6.11"``, ``"x-fixed"`` or ``"xnx"`` (see the module docstring).
    :param close: also print the last range (KVM does not).
    """
    if geom.stage != 2:
        raise ConfigError("kvm_ptdump: needs a stage-2 table")
    try:
        bits = KVM_S2_BITS[dialect]
    except KeyError:
        raise ConfigError(
            f"kvm_ptdump dialect={dialect!r}: expected one of {', '.join(KVM_S2_BITS)}"
        ) from None
    names = {lv: str(lv) for lv in geom.levels}
    np_ = _NotePage([(0, "Guest IPA"), (geom.ia_size, None)], names, bits, False)
    for addr, level, raw in _entries(mem, geom, root, 0, 0, geom.ia_size):
        np_.note(addr, level, raw)
    if close:
        np_.flush(geom.ia_size)
    return "".join(line + "\n" for line in np_.lines)


def memattr_dump(
    mem: TableMemory,
    geom: Geometry,
    root: int,
    *,
    fwb: bool = False,
    s1_attr: int | None = None,
    mair: int | None = None,
    ttbr1: bool = False,
) -> str:
    """memattr's table dump: one line per run of leaves with contiguous output and equal
    attributes, with output address, memory type and what it means.

    Stage 2: ``MemAttr=0xN`` and its meaning (with HCR_EL2.FWB = ``fwb``), and, if ``s1_attr``
    (a MAIR byte) is given, the effective type of a guest mapping of that type.  Stage 1:
    AttrIndx and MAIR_EL1.Attr<n> (``mair``, required for stage 1) decoded.
    """
    if geom.stage == 1 and mair is None:
        raise ConfigError("memattr_dump: a stage-1 table needs mair= (MAIR_EL1)")
    c = Codec(geom)
    base = ((1 << 64) - geom.ia_size) if (ttbr1 and geom.stage == 1) else 0
    runs: list[list[int]] = []  # [ia, end, oa, level, attrs, raw]
    for v in visit(mem, geom, root):
        k = c.kind(v.level, v.raw)
        if not k.is_leaf:
            continue
        oa = c.leaf_oa(v.level, v.raw)
        attrs = c.leaf_attrs(v.raw)
        last = runs[-1] if runs else None
        if (last is not None and last[1] == v.ia and last[2] + (last[1] - last[0]) == oa
                and last[3] == v.level and last[4] == attrs):
            last[1] = v.ia + v.size
        else:
            runs.append([v.ia, v.ia + v.size, oa, v.level, attrs, v.raw])
    stage = geom.stage
    head = (f"# {geom.describe()}" + (f", HCR_EL2.FWB={int(fwb)}" if stage == 2 else "")
            + (f", guest S1 attribute 0x{s1_attr:02x}" if stage == 2 and s1_attr is not None
               else ""))
    lines = [head]
    ctl = Controls(fwb=fwb)
    for ia, end, oa, level, _attrs, raw in runs:
        blk = "CON" if raw & _CONT else ("BLK" if level != FINAL_LEVEL else "PG ")
        rng = f"0x{base + ia:016x}-0x{base + end:016x} {format_size(end - ia)} L{level} {blk}"
        out = f"-> 0x{oa:x}"
        if stage == 2:
            memattr = (raw >> S2_MEMATTR_SHIFT) & S2_MEMATTR_MASK
            r = "R" if raw & _S2AP_R else "-"
            w = "W" if raw & _S2AP_W else "-"
            xn = (raw >> S2_XN_SHIFT) & S2_XN_MASK
            x = XN_NAMES[xn]
            af = "AF" if raw & _S2AF else "--"
            meaning = fwb_meaning(memattr).result.description if fwb else \
                s2_decode_mem_attrs(memattr).label
            text = f"{rng} {out} {r}{w} {x:<3} {af} MemAttr=0x{memattr:x} {meaning}"
            if s1_attr is not None:
                # With DS=1 bits[9:8] are OA[51:50]; SH is VTCR_EL2.SH0, not given here: ISH.
                sh2 = 0b11 if geom.ds else (raw >> DESC_SH_SHIFT) & DESC_SH_MASK
                res = resolve(s1_attr, memattr, sh1=0b11, sh2=sh2, controls=ctl)
                eff = ", ".join(o.short + " " + o.shareability.value for o in res.outcomes) \
                    or "UNKNOWN (reserved S1 attribute)"
                text += f" | with S1 0x{s1_attr:02x}: {eff}"
        else:
            idx = (raw >> S1_ATTRINDX_SHIFT) & S1_ATTRINDX_MASK
            assert mair is not None
            byte = MAIR_ELx.get(mair, f"Attr{idx}")
            dec = decode_attr(byte)
            what = dec.attrs.short if dec.attrs is not None else f"reserved ({dec.reserved})"
            ap = (raw >> S1_AP_SHIFT) & S1_AP_MASK
            perm = {0: "EL1 RW", 1: "EL0+EL1 RW", 2: "EL1 RO", 3: "EL0+EL1 RO"}[ap]
            xs = ("PXN " if raw & _PXN else "") + ("UXN" if raw & _UXN else "")
            text = (f"{rng} {out} {perm} {xs.strip() or 'X'} {'nG ' if raw & _NG else ''}"
                    f"AttrIndx={idx} MAIR=0x{byte:02x} {what}")
        lines.append(text)
    return "".join(line + "\n" for line in lines)

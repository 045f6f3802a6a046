"""Page-table dumps as text, into mappings with attributes.

Three formats, detected from the text (or named by the caller):

- ``kernel_page_tables``: arm64 ``/sys/kernel/debug/kernel_page_tables`` (arch/arm64/mm/ptdump.c
  ``note_page``/``dump_prot``, torvalds/linux 031e011d8b22; the same line format back to v4.x).
  Markers ``---[ name ]---``; range lines ``0x%016lx-0x%016lx   %9lu%c %s`` (start, end, size in
  the largest of K/M/G/T/P/E that divides it, level name) followed by `` %s`` per ``pte_bits``
  entry whose set/clear string is not NULL: F (invalid), USR, ro/RW, NX/x, SHD, AF, NG, CON, BLK,
  UXN, GP, and the memory type found by AttrIndx (MEM/NORMAL, MEM/NORMAL-TAGGED, MEM/NORMAL-NC,
  DEVICE/nGnRnE, DEVICE/nGnRE; DEVICE/GRE before v5.10; other indexes print nothing).  Level names
  are PGD/P4D/PUD/PMD/PTE, a folded level printing as PGD (``CONFIG_PGTABLE_LEVELS``), and early
  v4 kernels printed none.  An end of ``0x0000000000000000`` is 2^64.  Mainline prints nothing
  after the level of an invalid range; some kernels printed a zero descriptor's words after ``F``
  (kept, marked invalid).  Before v4.11 UXN had no clear string.
- ``stage2_page_tables``: KVM's ``/sys/kernel/debug/kvm/<pid>-<fd>/stage2_page_tables``
  (arch/arm64/kvm/ptdump.c, v6.11+; torvalds/linux 19e15dc73f0f): marker ``---[ Guest IPA ]---``,
  the same line layout with the level printed as a number (``%u``) and ``stage2_pte_bits``: F, R,
  W, an execute column, AF, BLK; no memory-type column in any version.  The execute column has
  three dialects: v6.11 printed ``X`` when XN (bit 54) was *set*; Wei-Lin Chang's fix (Aug 2025)
  prints ``X`` when it is clear; since FEAT_XNX support it prints XN[1:0] (bits 54:53) as
  ``px ux``/``PXNux``/``PXNUXN``/``px UXN``.  The first two are textually identical: without the
  kernel's word the execute permission of such a dump is ambiguous and left unknown.  KVM does
  not print the last range (it walks with kvm_pgtable_walk and never closes it).
- ``memattr``: :func:`memattr.mmu.dump.memattr_dump`'s own format (``# stage N, ...`` header,
  lines with output address, MemAttr or AttrIndx/MAIR).

Each :class:`Mapping` keeps the raw words and, where the words determine them, descriptor bits
(``desc_bits`` under ``desc_mask``: valid, AP, PXN/UXN or S2AP/XN, SH=0b11 for SHD, AF, nG,
Contiguous, bit 1 for BLK).  AttrIndx is not inferred: its value for a memory type name depends on
the kernel's MT_* numbering (changed in v5.10).

Bounds: those of :class:`memattr.interop._text.Limits`; mappings count against ``max_records``.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from ..arch.descriptor import (
    DESC_AF,
    DESC_CONT,
    DESC_SH_MASK,
    DESC_SH_SHIFT,
    DESC_TABLE,
    DESC_VALID,
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
    S2_XN_MASK,
    S2_XN_SHIFT,
    XN_NAMES,
)
from ..linux.asm.kvm_pgtable import (
    KVM_PTE_LEAF_ATTR_HI_S2_XN,
    KVM_PTE_LEAF_ATTR_LO_S2_AF,
    KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR,
    KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R,
    KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W,
)
from ._text import DEFAULT_LIMITS, Limits, echo, escape, fail, split_lines

__all__ = [
    "DumpFormat",
    "KVM_DIALECTS",
    "LINUX_MEMTYPES",
    "Mapping",
    "PageTableDump",
    "entry_size",
    "parse_ptdump",
    "parse_kvm_ipa_range",
    "parse_kvm_levels",
]


class DumpFormat(enum.Enum):
    """Which program printed the dump."""

    LINUX = "kernel_page_tables"
    KVM = "stage2_page_tables"
    MEMATTR = "memattr"


KVM_DIALECTS = ("v6.11", "x-fixed", "xnx")
"""KVM stage2_page_tables execute-column dialects (see the module docstring)."""

# arch/arm64/mm/ptdump.c pte_bits memory-type strings -> the MT_* index names they stand for.
LINUX_MEMTYPES: dict[str, str] = {
    "DEVICE/nGnRnE": "MT_DEVICE_nGnRnE",
    "DEVICE/nGnRE": "MT_DEVICE_nGnRE",
    "DEVICE/GRE": "MT_DEVICE_GRE",  # removed in v5.10 (MT_DEVICE_GRE dropped)
    "MEM/NORMAL-NC": "MT_NORMAL_NC",
    "MEM/NORMAL": "MT_NORMAL",
    "MEM/NORMAL-TAGGED": "MT_NORMAL_TAGGED",  # v5.10+, MTE
    "MEM/NORMAL_WT": "MT_NORMAL_WT",  # some vendor trees
}

# Stage-1 descriptor bits named by pte_bits (arch/arm64/include/asm/pgtable-hwdef.h), from
# arch.descriptor's tables.
_VALID, _TABLE = DESC_VALID, DESC_TABLE
_USER, _RDONLY, _AF, _NG = S1_AP_USER << S1_AP_SHIFT, S1_AP2, DESC_AF, S1_NG
_SH = DESC_SH_MASK << DESC_SH_SHIFT  # SHD: SH = 0b11
_GP, _CONT, _PXN, _UXN = S1_GP, DESC_CONT, S1_PXN, S1_UXN
_AP = S1_AP_MASK << S1_AP_SHIFT
_ATTRINDX = S1_ATTRINDX_MASK << S1_ATTRINDX_SHIFT
# Stage-2 (KVM_PTE_LEAF_ATTR_*; XN[1:0] with FEAT_XNX, XN[1] alone before).
_S2AP_R, _S2AP_W = KVM_PTE_LEAF_ATTR_LO_S2_S2AP_R, KVM_PTE_LEAF_ATTR_LO_S2_S2AP_W
_S2AF = KVM_PTE_LEAF_ATTR_LO_S2_AF
_S2XN = S2_XN_MASK << S2_XN_SHIFT
_S2XN1 = KVM_PTE_LEAF_ATTR_HI_S2_XN
_S2MEMATTR = KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR
_XN_VALUES = {name: xn for xn, name in XN_NAMES.items()}

_S1_WORDS = {"F", "USR", "ro", "RW", "NX", "x", "SHD", "AF", "NG", "CON", "BLK", "UXN", "GP"}
_XNX = {("px", "ux"): 0b00, ("PXNux",): 0b01, ("PXNUXN",): 0b10, ("px", "UXN"): 0b11}
_S2_WORDS = {"F", "R", "W", "X", "AF", "BLK", "px", "ux", "PXNux", "PXNUXN", "UXN"}
_LINUX_LEVELS = {"P4D": 0, "PUD": 1, "PMD": 2, "PTE": 3}
_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
_GRANULES = (4096, 16384, 65536)


def entry_size(granule: int, level: int) -> int:
    """Bytes one entry maps at ``level`` (-1..3) with a ``granule``-byte translation granule.

    :param granule: 4096, 16384 or 65536.
    :param level: translation level; 3 is the page level.
    """
    bits = granule.bit_length() - 1
    return 1 << (bits + (bits - 3) * (3 - level))


@dataclass(frozen=True, slots=True)
class Mapping:
    """One range line of a dump: [start, end) at one level with one set of attributes."""

    start: int
    end: int  # exclusive; 2**64 for a range that runs to the top
    level: int | None  # translation level, when the dump and its geometry say which
    level_name: str  # as printed: "PTE", "2", "L3", "" (early kernels)
    valid: bool
    words: tuple[str, ...]  # the attribute words as printed
    desc_bits: int  # descriptor bits the words determine ...
    desc_mask: int  # ... and which bits those are
    line: int
    marker: str | None = None  # the ---[ section ]--- it is in
    memtype: str | None = None  # the memory-type word (stage 1: "DEVICE/nGnRE"; memattr: the text)
    oa: int | None = None  # output address (memattr format only)
    memattr: int | None = None  # stage-2 MemAttr[3:0] (memattr format only)
    attr_index: int | None = None  # stage-1 AttrIndx (memattr format only)
    mair_byte: int | None = None  # stage-1 MAIR attribute byte (memattr format only)

    @property
    def size(self) -> int:
        """end - start."""
        return self.end - self.start

    def bit(self, mask: int) -> bool | None:
        """Whether the descriptor bits under ``mask`` are all set (None when not determined)."""
        if self.desc_mask & mask != mask:
            return None
        return self.desc_bits & mask == mask

    @property
    def mt(self) -> str | None:
        """The Linux MT_* index name of a stage-1 memory-type word."""
        return LINUX_MEMTYPES.get(self.memtype or "")

    def __str__(self) -> str:
        end = "2^64" if self.end == 1 << 64 else f"0x{self.end:016x}"
        lvl = f" L{self.level}" if self.level is not None else (f" {escape(self.level_name)}"
                                                                   if self.level_name else "")
        state = " ".join(escape(w) for w in self.words) if self.valid else "invalid"
        oa = f" -> 0x{self.oa:x}" if self.oa is not None else ""
        return f"0x{self.start:016x}-{end}{lvl}{oa} {state}".rstrip()


@dataclass(frozen=True, slots=True)
class PageTableDump:
    """A parsed dump: its format, what it says about the geometry, and its ranges in order."""

    source: str
    format: DumpFormat
    stage: int
    mappings: tuple[Mapping, ...]
    markers: tuple[tuple[int, str], ...]  # (line, name)
    granules: frozenset[int]  # granule sizes consistent with every range (or the one given): sizes
    # rule larger granules out, never smaller ones, so pass ``granule=`` when the host says it
    va_bits: int | None  # input-address bits, when given or stated
    dialects: frozenset[str] = frozenset()  # KVM execute-column dialects the text allows

    @property
    def granule(self) -> int | None:
        """The granule, when only one is consistent with the dump."""
        return next(iter(self.granules)) if len(self.granules) == 1 else None

    @property
    def dialect(self) -> str | None:
        """The KVM dialect, when the text (or the caller) settles it."""
        return next(iter(self.dialects)) if len(self.dialects) == 1 else None

    def leaves(self) -> tuple[Mapping, ...]:
        """The valid ranges."""
        return tuple(m for m in self.mappings if m.valid)

    def __str__(self) -> str:
        g = "/".join(f"{x >> 10}K" for x in sorted(self.granules)) or "?"
        head = (f"{escape(self.source)}: {self.format.value}, stage {self.stage}, granule {g}, "
                f"{len(self.mappings)} ranges ({len(self.leaves())} mapped)")
        return "\n".join([head] + [f"  {m}" for m in self.mappings])


_MARKER = re.compile(r"^---\[ (.*) \]---$")
_RANGE = re.compile(r"^0x([0-9a-fA-F]{16})-0x([0-9a-fA-F]{16})\s+(\d+)([KMGTPE])(?: (.*))?$")
_MEMATTR = re.compile(
    r"^0x([0-9a-fA-F]{16})-0x([0-9a-fA-F]{16})\s+(\d+)([KMGTPE]) L(-?\d) (BLK|CON|PG) +"
    r"-> 0x([0-9a-fA-F]+) (.*)$")
_MEMATTR_HEAD = re.compile(r"^# stage ([12]), (4|16|64)k granule, (\d+)-bit IA")
_WORD = re.compile(r"^[A-Za-z0-9/_.-]+$")


def _linux_words(source: str, n: int, words: list[str]) -> tuple[bool, int, int, str | None]:
    """Validity, (bits, mask), memory type of a stage-1 range's words."""
    memtype = None
    rest = []
    for w in words:
        if w in LINUX_MEMTYPES or w.startswith(("MEM/", "DEVICE/")):
            if memtype is not None:
                raise fail(source, n, f"two memory types {echo(memtype)} and {echo(w)}")
            memtype = w
        else:
            rest.append(w)
    valid = "F" not in rest
    if not valid:
        return False, 0, _VALID, memtype
    bits, mask = _VALID, _VALID
    # A word whose clear string is blanks is absent when its bit is clear: absence is knowledge.
    # GP (v5.10, BTI) is the exception: older kernels have no GP entry at all.
    pairs = (("USR", "", _USER), ("ro", "RW", _RDONLY), ("NX", "x", _PXN), ("AF", "", _AF),
             ("NG", "", _NG), ("CON", "", _CONT), ("UXN", "", _UXN), ("GP", None, _GP))
    for on, off, m in pairs:
        if on in rest and off and off in rest:
            raise fail(source, n, f"both {on} and {off}")
        if on in rest:
            bits, mask = bits | m, mask | m
        elif off == "" or (off is not None and off in rest):
            mask |= m
    if "SHD" in rest:
        bits, mask = bits | _SH, mask | _SH
    if "BLK" in rest:
        mask |= _TABLE  # a valid block: bit 1 clear
    elif words:  # a valid page (bit 1 set); nothing is known of an unprinted column
        bits, mask = bits | _TABLE, mask | _TABLE
    return True, bits, mask, memtype


def _kvm_words(source: str, n: int, words: list[str], dialects: set[str]) -> tuple[bool, int, int]:
    """Validity and (bits, mask) of a KVM stage-2 range's words; narrows ``dialects``."""
    if "F" in words:
        return False, 0, _VALID
    bits, mask = _VALID, _VALID | _S2AP_R | _S2AP_W | _S2AF
    if "R" in words:
        bits |= _S2AP_R
    if "W" in words:
        bits |= _S2AP_W
    if "AF" in words:
        bits |= _S2AF
    if "BLK" in words:
        mask |= _TABLE
    else:
        bits, mask = bits | _TABLE, mask | _TABLE
    xnx = [w for w in words if w in ("px", "ux", "PXNux", "PXNUXN", "UXN")]
    if xnx:
        dialects &= {"xnx"}
        key = tuple(xnx)
        if key not in _XNX:
            raise fail(source, n, f"execute column {echo(' '.join(xnx))}: expected px ux, PXNux, PXNUXN "
                                  "or px UXN")
        bits |= _XNX[key] << S2_XN_SHIFT
        mask |= _S2XN
    else:
        dialects.discard("xnx")
        if len(dialects) == 1:
            x = "X" in words
            xn = x if "v6.11" in dialects else not x  # v6.11 printed X for a non-executable range
            mask |= _S2XN1
            bits |= _S2XN1 if xn else 0
    return True, bits, mask


def _detect(lines: list[str]) -> DumpFormat:
    for text in lines:
        if _MEMATTR_HEAD.match(text) or _MEMATTR.match(text):
            return DumpFormat.MEMATTR
        if text == "---[ Guest IPA ]---":
            return DumpFormat.KVM
        m = _RANGE.match(text)
        if m is not None:
            first = (m.group(5) or "").split()
            if first and re.fullmatch(r"-?\d+", first[0]):
                return DumpFormat.KVM
            if first and first[0] in ("PGD", "P4D", "PUD", "PMD", "PTE"):
                return DumpFormat.LINUX
    return DumpFormat.LINUX


def parse_ptdump(
    data: str | bytes,
    source: str = "<input>",
    *,
    format: DumpFormat | None = None,
    granule: int | None = None,
    va_bits: int | None = None,
    kvm_dialect: str | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> PageTableDump:
    """Parse a page-table dump.

    :param data: the dump's text.
    :param source: its name, for messages.
    :param format: the format, if known (default: detected).
    :param granule: the translation granule in bytes, if known (default: inferred from the sizes).
    :param va_bits: the input-address size, if known (settles the level of PGD lines).
    :param kvm_dialect: ``"v6.11"``, ``"x-fixed"`` or ``"xnx"`` for a KVM dump, if known.
    :param limits: input bounds.
    """
    if granule is not None and granule not in _GRANULES:
        raise fail(source, None, f"granule {granule}: expected 4096, 16384 or 65536")
    if kvm_dialect is not None and kvm_dialect not in KVM_DIALECTS:
        raise fail(source, None,
                   f"KVM dialect {echo(kvm_dialect)}: expected one of {', '.join(KVM_DIALECTS)}")
    lines = split_lines(data, source, limits)
    fmt = format if format is not None else _detect(lines)
    stage = 2 if fmt is DumpFormat.KVM else 1
    dialects = {kvm_dialect} if kvm_dialect is not None else set(KVM_DIALECTS)
    candidates = {granule} if granule is not None else set(_GRANULES)
    markers: list[tuple[int, str]] = []
    raw: list[tuple[int, int, int, str, list[str], str | None, tuple[int, str, int, str] | None, bool]] = []
    marker: str | None = None
    prev_end: int | None = None
    for n, text in enumerate(lines, 1):
        if not text.strip():
            continue
        mk = _MARKER.match(text)
        if mk is not None:
            marker = mk.group(1)
            markers.append((n, marker))
            continue
        if fmt is DumpFormat.MEMATTR:
            if text.startswith("#"):
                h = _MEMATTR_HEAD.match(text)
                if h is not None:
                    stage = int(h.group(1))
                    g = int(h.group(2)) << 10
                    if granule is not None and g != granule:
                        raise fail(source, n, f"header says {g >> 10}K granule, not {granule >> 10}K")
                    candidates &= {g}
                    va_bits = va_bits if va_bits is not None else int(h.group(3))
                continue
            m = _MEMATTR.match(text)
            if m is None:
                raise fail(source, n, f"not a memattr dump line: {echo(text)}")
            start, end, count, unit = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3)), m.group(4)
            extra: tuple[int, str, int, str] | None = (int(m.group(5)), m.group(6), int(m.group(7), 16),
                                                           m.group(8))
            level_name = f"L{m.group(5)}"
            words: list[str] = []
            printed = True
        else:
            m = _RANGE.match(text)
            if m is None:
                raise fail(source, n, f"not a dump line '0x<start>-0x<end> <size> <level> <attributes>' "
                                      f"or '---[ name ]---': {echo(text)}")
            start, end, count, unit = int(m.group(1), 16), int(m.group(2), 16), int(m.group(3)), m.group(4)
            rest = m.group(5)
            words = (rest or "").split()
            level_name = ""
            if words and (words[0] in ("PGD", "P4D", "PUD", "PMD", "PTE")
                          or re.fullmatch(r"-?\d+", words[0])):
                level_name = words.pop(0)
            # dump_prot() ran (prot != 0) iff anything, even blanks, follows the level name: a valid
            # KVM page with no permission, AF or XN words prints only spaces.
            printed = rest is not None and len(rest) > len(rest.split(None, 1)[0] if level_name else "")
            for w in words:
                if not _WORD.match(w):
                    raise fail(source, n, f"attribute word {echo(w)} is not a ptdump word")
            extra = None
        end = end or (1 << 64)  # note_page prints the top of the address space as 0
        if end <= start:
            raise fail(source, n, f"end 0x{end:x} is not above start 0x{start:x}")
        if count * _UNITS[unit] != end - start:
            raise fail(source, n, f"size {count}{unit} is not end - start = 0x{end - start:x}")
        if prev_end is not None and start < prev_end:
            raise fail(source, n,
                       f"range starts at 0x{start:x}, inside the previous one (ends 0x{prev_end:x})")
        prev_end = end
        if len(raw) >= limits.max_records:
            raise fail(source, n, f"more than {limits.max_records} ranges")
        raw.append((n, start, end, level_name, words, marker, extra, printed))

    if not raw:
        raise fail(source, len(lines) or None, "no page-table range lines found")

    # Levels: numbers for KVM and memattr; names for Linux (PGD is the root, its number depends on
    # the geometry).
    def fixed_level(name: str, n: int) -> int | None:
        if fmt is not DumpFormat.LINUX:
            if not name:
                return None
            digits = name[1:] if name.startswith("L") else name
            if not digits.lstrip("-").isdigit():
                raise fail(source, n, f"level {echo(name)}: expected L-1..L3 in a {fmt.value} dump")
            return int(digits)
        return _LINUX_LEVELS.get(name)

    for n, start, end, name, _w, _mk, _x, _p in raw:
        lvl = fixed_level(name, n)
        if lvl is None or not -1 <= lvl <= 3:
            if lvl is not None:
                raise fail(source, n, f"level {lvl}: expected -1 to 3")
            continue
        fits = {g for g in candidates if (lvl >= 0 or g == 4096) and start % entry_size(g, lvl) == 0
                and (end - start) % entry_size(g, lvl) == 0}
        if not fits:
            want = "/".join(f"{g >> 10}K" for g in sorted(candidates)) or "no"
            raise fail(source, n, f"range 0x{start:x}-0x{end:x} at level {lvl} is not made of whole "
                                  f"level-{lvl} entries of a {want} granule")
        candidates = fits

    pgd_level = None
    if fmt is DumpFormat.LINUX and len(candidates) == 1 and va_bits is not None:
        g = next(iter(candidates))
        bits = g.bit_length() - 1
        levels = -(-(va_bits - bits) // (bits - 3))
        pgd_level = 4 - levels

    mappings = []
    for n, start, end, name, words, sect, extra, printed in raw:
        if extra is not None:
            lv, kind, oa, rest = extra
            mappings.append(_memattr_mapping(source, n, start, end, lv, kind, oa, rest, stage, sect))
            continue
        if fmt is DumpFormat.KVM:
            for w in words:
                if w not in _S2_WORDS:
                    raise fail(source, n, f"{echo(w)} is not a stage2_page_tables word")
            if printed:
                valid, bits_, mask = _kvm_words(source, n, words, dialects)
            else:
                valid, bits_, mask = False, 0, 0  # prot == 0: not even the valid bit
            mappings.append(Mapping(start, end, fixed_level(name, n), name, valid, tuple(words), bits_, mask,
                                    n, sect))
            continue
        for w in words:
            if w not in _S1_WORDS and w not in LINUX_MEMTYPES and not w.startswith(("MEM/", "DEVICE/")):
                raise fail(source, n, f"{echo(w)} is not a kernel_page_tables word")
        if printed and words:
            valid, bits_, mask, memtype = _linux_words(source, n, words)
        else:
            valid, bits_, mask, memtype = False, 0, 0, None  # mainline: nothing after an invalid range
        level = fixed_level(name, n)
        if name == "PGD":
            level = pgd_level
        mappings.append(Mapping(start, end, level, name, valid, tuple(words), bits_, mask, n, sect,
                                memtype if valid else None))
    if fmt is DumpFormat.KVM and not dialects:
        raise fail(source, None, "the execute column mixes the xnx dialect with X")
    return PageTableDump(source, fmt, stage, tuple(mappings), tuple(markers), frozenset(candidates), va_bits,
                         frozenset(dialects) if fmt is DumpFormat.KVM else frozenset())


_S2_TEXT = re.compile(r"^([R-])([W-]) (X|PXN|XN|UXN) +(AF|--) MemAttr=0x([0-9a-f]) (.*)$")
_S1_TEXT = re.compile(r"^(EL1 RW|EL0\+EL1 RW|EL1 RO|EL0\+EL1 RO) (PXN UXN|PXN|UXN|X) (nG )?"
                      r"AttrIndx=([0-7]) MAIR=0x([0-9a-f]{2}) (.*)$")


def _memattr_mapping(source: str, n: int, start: int, end: int, level: int, kind: str, oa: int, rest: str,
                     stage: int, mk: str | None) -> Mapping:
    """A memattr_dump line: OA, permissions and MemAttr (stage 2) or AttrIndx/MAIR (stage 1)."""
    bits, mask = _VALID, _VALID | _TABLE | _CONT
    bits |= _TABLE if kind == "PG" else 0
    bits |= _CONT if kind == "CON" else 0
    if kind == "CON":
        mask &= ~_TABLE  # a contiguous entry may be a page or a block
    if stage == 2:
        m = _S2_TEXT.match(rest)
        if m is None:
            raise fail(source, n, f"stage-2 attributes not 'RW X AF MemAttr=0xN ...': {echo(rest)}")
        xn = _XN_VALUES[m.group(3)]
        bits |= (_S2AP_R if m.group(1) == "R" else 0) | (_S2AP_W if m.group(2) == "W" else 0)
        bits |= (_S2AF if m.group(4) == "AF" else 0) | (xn << S2_XN_SHIFT) \
            | (int(m.group(5), 16) << KVM_PTE_LEAF_ATTR_LO_S2_MEMATTR_SHIFT)
        mask |= _S2AP_R | _S2AP_W | _S2AF | _S2XN | _S2MEMATTR
        words = tuple(w for w in (m.group(1) + m.group(2), m.group(3), m.group(4)))
        return Mapping(start, end, level, f"L{level}", True, words, bits, mask, n, mk, m.group(6), oa,
                       int(m.group(5), 16))
    m = _S1_TEXT.match(rest)
    if m is None:
        raise fail(source, n, f"stage-1 attributes not '<EL> <RW|RO> <X> AttrIndx=N MAIR=0xNN ...': "
                              f"{echo(rest)}")
    ap = {"EL1 RW": 0, "EL0+EL1 RW": 1, "EL1 RO": 2, "EL0+EL1 RO": 3}[m.group(1)]
    xs = m.group(2)
    bits |= ap << S1_AP_SHIFT | (_PXN if "PXN" in xs else 0) | (_UXN if "UXN" in xs else 0)
    bits |= (_NG if m.group(3) else 0) | int(m.group(4)) << S1_ATTRINDX_SHIFT
    mask |= _AP | _PXN | _UXN | _NG | _ATTRINDX
    words = (m.group(1), xs) + (("nG",) if m.group(3) else ())
    return Mapping(start, end, level, f"L{level}", True, words, bits, mask, n, mk, m.group(6), oa,
                   None, int(m.group(4)), int(m.group(5), 16))


def parse_kvm_ipa_range(data: str | bytes, source: str = "ipa_range") -> int:
    """KVM's ``ipa_range`` debugfs file (``%2u``): the guest's IPA size in bits.

    :param data: the file's text.
    :param source: its name, for messages.
    """
    lines = [t for t in split_lines(data, source) if t.strip()]
    if len(lines) != 1 or not lines[0].strip().isdigit():
        raise fail(source, 1, "expected one number of IPA bits")
    bits = int(lines[0])
    if not 32 <= bits <= 52:
        raise fail(source, 1, f"IPA size {bits} bits: KVM allows 32 to 52")
    return bits


def parse_kvm_levels(data: str | bytes, source: str = "stage2_levels") -> int:
    """KVM's ``stage2_levels`` debugfs file (``%1d``): levels of the stage-2 table.

    :param data: the file's text.
    :param source: its name, for messages.
    """
    lines = [t for t in split_lines(data, source) if t.strip()]
    if len(lines) != 1 or not lines[0].strip().isdigit():
        raise fail(source, 1, "expected one number of levels")
    levels = int(lines[0])
    if not 1 <= levels <= 5:
        raise fail(source, 1, f"{levels} levels: expected 1 to 5")
    return levels

"""Sparse simulated physical memory: 4 KiB frames created on first write, little-endian
64-bit descriptor access, RAM/MMIO region tags, a page allocator for translation tables, and
images of real memory (a dump saved from a debugger or ``/proc/kcore``) mapped at a base address.

Frames are ``bytearray`` objects, so the scalar paths (walks, single descriptor writes) never
import numpy; the bulk paths view a frame as ``numpy.uint64`` without copying
(:meth:`PhysMem.u64`).  Untouched memory reads as zero, which is an invalid descriptor.

Frames are always 4 KiB whatever the translation granule: a 16 KiB or 64 KiB table spans 4
or 16 consecutive frames.  An image is read lazily: a frame it covers is copied in on first
access (and may then be written like any other).

The physical address width defaults to the PE's PAMax (``Cpu.pa_max``): the memory and the
regime of one machine cannot disagree.
"""

from __future__ import annotations

import enum
import os
import struct

from .._value import dataclass  # dataclasses, cheaper to import
from ..arch.cpu import ALL, Cpu
from ..errors import ConfigError, EncodingError

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Protocol

    import numpy as np
else:
    Protocol = object  # the protocols below are for type checkers (typing costs start-up)

__all__ = [
    "FRAME_SHIFT",
    "FRAME_SIZE",
    "WORD",
    "RegionKind",
    "Region",
    "PhysMem",
    "TableMemory",
    "DescReader",
    "Image",
]

FRAME_SHIFT = 12
FRAME_SIZE = 1 << FRAME_SHIFT
_FRAME_MASK = FRAME_SIZE - 1
_U64 = struct.Struct("<Q")
WORD = _U64.size
"""Bytes in a 64-bit word, the size of a descriptor: the access size of read64/write64."""


class RegionKind(enum.Enum):
    """What a tagged physical range is: RAM or a device (MMIO)."""

    RAM = "RAM"
    MMIO = "MMIO"


@dataclass(frozen=True, slots=True)
class Region:
    """A tagged physical range [base, base + size) with a name (e.g. a BAR or 'guest RAM')."""

    base: int
    size: int
    kind: RegionKind
    name: str

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.base + self.size

    def __contains__(self, pa: object) -> bool:
        return isinstance(pa, int) and self.base <= pa < self.end

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name!r} [0x{self.base:x}-0x{self.end:x})"


@dataclass(frozen=True, slots=True)
class Image:
    """Bytes of real memory mapped at a physical base address (read lazily, frame by frame).

    :param base: the PA of the first byte.  :param size: bytes.  :param name: where it came
        from (a file name), for messages.
    """

    base: int
    size: int
    name: str

    @property
    def end(self) -> int:
        """One past the last byte."""
        return self.base + self.size


class DescReader(Protocol):
    """Anything a walk can read descriptors from (PhysMem, or a TLB's snapshot of it)."""

    def read64(self, addr: int) -> int: ...


class TableMemory(Protocol):
    """What the table builder needs from the memory its tables live in (PA or guest IPA)."""

    @property
    def generation(self) -> int: ...

    def read64(self, addr: int) -> int: ...

    def write64(self, addr: int, value: int) -> None: ...

    def read_u64s(self, addr: int, count: int) -> np.ndarray[Any, Any]: ...

    def fill64(self, addr: int, values: np.ndarray[Any, Any]) -> None: ...

    def alloc_table(self, size: int = ..., align: int | None = ...) -> int: ...

    def alloc_tables(self, count: int, size: int = ...) -> int: ...

    def free_table(self, addr: int, size: int | None = ...) -> None: ...


class PhysMem:
    """Byte-addressable sparse physical memory of ``pa_bits`` bits, stored per touched frame.

    :param pa_bits: the physical address width (32..52); accesses beyond it raise.  Defaults to
        the PAMax of ``cpu``; giving both with different values is a ConfigError.
    :param cpu: the PE whose memory this is (default: every modelled feature, PAMax 52).
    :param alloc_base: where :meth:`alloc_table` starts handing out table pages.
    :param alloc_limit: one past the last address the allocator may use (default 2**pa_bits).
    """

    def __init__(
        self, pa_bits: int | None = None, *, cpu: Cpu | None = None,
        alloc_base: int = 0x8000_0000, alloc_limit: int | None = None,
    ) -> None:
        if pa_bits is None:
            pa_bits = (cpu or ALL).pa_max
        elif cpu is not None and pa_bits != cpu.pa_max:
            raise ConfigError(
                f"PhysMem pa_bits={pa_bits}: the CPU {cpu.name!r} has a {cpu.pa_max}-bit "
                "physical address size (PAMax); leave pa_bits out to use it"
            )
        if not 32 <= pa_bits <= 52:
            raise ConfigError(f"PhysMem pa_bits={pa_bits}: out of range (32..52)")
        self.cpu = cpu
        self.pa_bits = pa_bits
        self.size = 1 << pa_bits
        self.frames: dict[int, bytearray] = {}
        self.regions: list[Region] = []
        self.images: list[Image] = []
        self._image_data: list[Any] = []
        limit = self.size if alloc_limit is None else alloc_limit
        if alloc_base & _FRAME_MASK:
            raise ConfigError(
                f"PhysMem alloc_base=0x{alloc_base:x}: where translation tables are allocated "
                "must be 4 KiB aligned"
            )
        if not 0 <= alloc_base < limit:
            raise ConfigError(
                f"PhysMem alloc_base=0x{alloc_base:x}: translation tables are allocated from "
                f"there up to 0x{limit:x}, so it must be below that limit"
            )
        if limit > self.size:
            raise ConfigError(
                f"PhysMem alloc_limit=0x{limit:x}: beyond the {pa_bits}-bit physical address "
                f"space (0x{self.size:x})"
            )
        self._next = alloc_base
        self._limit = limit
        self._free: dict[int, list[int]] = {}
        self.allocated: dict[int, int] = {}
        """Table pages handed out by :meth:`alloc_table`: address -> size."""
        self.generation = 0
        """Bumped on every write; caches of memory contents (batch walker) compare it."""
        self.derived: dict[str, tuple[int, Any]] = {}
        """Caches derived from the contents, as name -> (generation, value)."""

    # --- bounds ----------------------------------------------------------------------------
    def _check(self, pa: int, n: int) -> None:
        if pa < 0 or pa + n > self.size:
            raise EncodingError(
                f"PA=0x{pa:x} (+{n}): beyond the {self.pa_bits}-bit physical address space"
            )

    # --- frames ----------------------------------------------------------------------------
    def frame(self, pfn: int, *, create: bool = False) -> bytearray | None:
        """The 4 KiB frame number ``pfn`` (None if never written nor in an image, unless
        ``create``)."""
        f = self.frames.get(pfn)
        if f is None and self.images:
            f = self._image_frame(pfn)
        if f is None and create:
            self._check(pfn << FRAME_SHIFT, FRAME_SIZE)
            f = self.frames[pfn] = bytearray(FRAME_SIZE)
        return f

    # --- images of real memory -------------------------------------------------------------
    def add_image(self, base: int, data: bytes | bytearray | memoryview | str | os.PathLike[str],
                  *, name: str | None = None) -> Image:
        """Map the bytes of a memory dump at PA ``base``: ``data`` itself, or a file (read
        lazily through mmap).  ConfigError for an empty image, one beyond the physical address
        space, or one overlapping another image."""
        if isinstance(data, (str, os.PathLike)):
            import mmap  # here: a walk of tables memattr lays out never maps a file

            label = name or os.fspath(data)
            try:
                with open(data, "rb") as fh:
                    size = os.fstat(fh.fileno()).st_size
                    if size == 0:
                        raise ConfigError(f"image {label!r}: empty file")
                    buf: Any = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
            except OSError as exc:
                raise ConfigError(f"image {label!r}: cannot read ({exc.strerror})") from None
        else:
            label = name or "bytes"
            buf = bytes(data)
            size = len(buf)
            if size == 0:
                raise ConfigError(f"image {label!r}: no bytes")
        if base < 0 or base + size > self.size:
            raise ConfigError(
                f"image {label!r} at 0x{base:x} (+0x{size:x} bytes): beyond the "
                f"{self.pa_bits}-bit physical address space (ends 0x{base + size:x})"
            )
        img = Image(base, size, label)
        for other in self.images:
            if base < other.end and other.base < img.end:
                raise ConfigError(
                    f"image {label!r} [0x{base:x}-0x{img.end:x}) overlaps image {other.name!r} "
                    f"[0x{other.base:x}-0x{other.end:x})"
                )
        self.images.append(img)
        self._image_data.append(buf)
        self.generation += 1
        return img

    def _image_frame(self, pfn: int) -> bytearray | None:
        """Copy frame ``pfn`` in from the images covering it (None if none does)."""
        lo = pfn << FRAME_SHIFT
        hi = lo + FRAME_SIZE
        f: bytearray | None = None
        for img, buf in zip(self.images, self._image_data, strict=True):
            if img.base >= hi or img.end <= lo:
                continue
            if f is None:
                f = bytearray(FRAME_SIZE)
            a, b = max(lo, img.base), min(hi, img.end)
            f[a - lo:b - lo] = buf[a - img.base:b - img.base]
        if f is not None:
            self.frames[pfn] = f
        return f

    def materialize(self, limit: int = 1 << 30) -> None:
        """Copy every frame the images cover into memory (for the batch walker's snapshot);
        ConfigError beyond ``limit`` bytes of images."""
        total = sum(img.size for img in self.images)
        if total > limit:
            raise ConfigError(
                f"images of 0x{total:x} bytes: more than the 0x{limit:x} the batch walker "
                "copies; walk them one access at a time"
            )
        for img in self.images:
            for pfn in range(img.base >> FRAME_SHIFT, ((img.end - 1) >> FRAME_SHIFT) + 1):
                if pfn not in self.frames:
                    self._image_frame(pfn)

    def drop(self, pa: int, size: int) -> None:
        """Forget the frames of [pa, pa + size): they read as zero again."""
        if pa & _FRAME_MASK or size & _FRAME_MASK:
            raise EncodingError(f"drop PA=0x{pa:x} size=0x{size:x}: not 4 KiB aligned")
        for pfn in range(pa >> FRAME_SHIFT, (pa + size) >> FRAME_SHIFT):
            self.frames.pop(pfn, None)
        self.generation += 1

    @property
    def touched_bytes(self) -> int:
        """Bytes of storage in use (touched frames x 4 KiB)."""
        return len(self.frames) * FRAME_SIZE

    # --- 64-bit descriptors ----------------------------------------------------------------
    def read64(self, pa: int) -> int:
        """The little-endian 64-bit value at ``pa`` (8-byte aligned)."""
        if pa % WORD:
            raise EncodingError(f"read64 PA=0x{pa:x}: not 8-byte aligned")
        f = self.frames.get(pa >> FRAME_SHIFT)
        if f is None:
            if pa < 0 or pa >= self.size:
                self._check(pa, 8)
            if not self.images:
                return 0
            f = self._image_frame(pa >> FRAME_SHIFT)
            if f is None:
                return 0
        return _U64.unpack_from(f, pa & _FRAME_MASK)[0]  # type: ignore[no-any-return]

    def write64(self, pa: int, value: int) -> None:
        """Store ``value`` little-endian at ``pa`` (8-byte aligned)."""
        if pa % WORD:
            raise EncodingError(f"write64 PA=0x{pa:x}: not 8-byte aligned")
        if not 0 <= value < 1 << 64:
            raise EncodingError(f"write64 value=0x{value:x}: not a 64-bit value")
        f = self.frames.get(pa >> FRAME_SHIFT)
        if f is None:
            f = self.frame(pa >> FRAME_SHIFT, create=True)
            assert f is not None
        _U64.pack_into(f, pa & _FRAME_MASK, value)
        self.generation += 1

    # --- bytes -----------------------------------------------------------------------------
    def read(self, pa: int, n: int) -> bytes:
        """``n`` bytes from ``pa`` (any alignment, may cross frames)."""
        self._check(pa, n)
        out = bytearray()
        while n > 0:
            off = pa & _FRAME_MASK
            take = min(n, FRAME_SIZE - off)
            f = self.frame(pa >> FRAME_SHIFT)
            out += f[off:off + take] if f is not None else bytes(take)
            pa += take
            n -= take
        return bytes(out)

    def write(self, pa: int, data: bytes | bytearray) -> None:
        """Store ``data`` at ``pa`` (any alignment, may cross frames)."""
        self._check(pa, len(data))
        view = memoryview(bytes(data))
        while view:
            off = pa & _FRAME_MASK
            take = min(len(view), FRAME_SIZE - off)
            f = self.frame(pa >> FRAME_SHIFT, create=True)
            assert f is not None
            f[off:off + take] = view[:take]
            pa += take
            view = view[take:]
        self.generation += 1

    # --- numpy views (bulk paths only) -----------------------------------------------------
    def u64(self, pa: int, count: int) -> np.ndarray[Any, Any]:
        """A writable ``uint64`` view of ``count`` descriptors at ``pa`` inside one frame."""
        import numpy as np

        off = pa & _FRAME_MASK
        if pa % WORD or off + WORD * count > FRAME_SIZE:
            raise EncodingError(
                f"u64 view PA=0x{pa:x} count={count}: must be 8-byte aligned within one frame"
            )
        f = self.frame(pa >> FRAME_SHIFT, create=True)
        assert f is not None
        self.generation += 1
        return np.frombuffer(f, dtype="<u8", count=count, offset=off)

    def read_u64s(self, pa: int, count: int) -> np.ndarray[Any, Any]:
        """A copy of ``count`` 64-bit values from ``pa`` (8-byte aligned, may cross frames)."""
        import numpy as np

        if pa % WORD:
            raise EncodingError(f"read_u64s PA=0x{pa:x}: not 8-byte aligned")
        self._check(pa, WORD * count)
        out = np.zeros(count, dtype=np.uint64)
        done = 0
        while done < count:
            off = pa & _FRAME_MASK
            take = min(count - done, (FRAME_SIZE - off) // WORD)
            f = self.frame(pa >> FRAME_SHIFT)
            if f is not None:
                out[done:done + take] = np.frombuffer(f, dtype="<u8", count=take, offset=off)
            pa += WORD * take
            done += take
        return out

    def fill64(self, pa: int, values: np.ndarray[Any, Any]) -> None:
        """Store an array of 64-bit values from ``pa`` on (8-byte aligned, may cross frames)."""
        if pa % WORD:
            raise EncodingError(f"fill64 PA=0x{pa:x}: not 8-byte aligned")
        n = int(values.shape[0])
        self._check(pa, WORD * n)
        done = 0
        while done < n:
            off = pa & _FRAME_MASK
            take = min(n - done, (FRAME_SIZE - off) // WORD)
            self.u64(pa, take)[:] = values[done:done + take]
            pa += WORD * take
            done += take

    # --- regions ---------------------------------------------------------------------------
    def add_region(self, base: int, size: int, kind: RegionKind | str, name: str) -> Region:
        """Tag [base, base + size) as RAM or MMIO; overlapping tags are a ConfigError."""
        k = RegionKind(kind) if isinstance(kind, str) else kind
        if size <= 0:
            raise ConfigError(f"region {name!r} size=0x{size:x}: must be positive")
        self._check(base, size)
        region = Region(base, size, k, name)
        for r in self.regions:
            if base < r.end and r.base < region.end:
                raise ConfigError(f"region {name!r} [0x{base:x}-0x{region.end:x}) overlaps {r}")
        self.regions.append(region)
        self.regions.sort(key=lambda r: r.base)
        return region

    def region_at(self, pa: int) -> Region | None:
        """The tagged region holding ``pa``, or None."""
        for r in self.regions:
            if pa in r:
                return r
        return None

    # --- table page allocator --------------------------------------------------------------
    def alloc_table(self, size: int = FRAME_SIZE, align: int | None = None) -> int:
        """A zeroed, ``align``-aligned range of ``size`` bytes for a translation table.

        Pages freed by :meth:`free_table` are reused first; then a bump pointer moves up from
        ``alloc_base``, skipping frames that hold data or lie in a tagged region.
        """
        align = size if align is None else align
        if size <= 0 or size & _FRAME_MASK or align & (align - 1) or align < FRAME_SIZE:
            raise ConfigError(
                f"alloc_table size=0x{size:x} align=0x{align:x}: size must be a multiple of "
                "4 KiB and align a power of two >= 4 KiB"
            )
        free = self._free.get(size)
        if free:
            for i, pa in enumerate(free):
                if pa % align == 0:
                    del free[i]
                    self.allocated[pa] = size
                    return pa
        pa = -(-self._next // align) * align
        while True:
            if pa + size > self._limit:
                raise ConfigError(
                    f"alloc_table: out of table memory (next 0x{pa:x} + 0x{size:x} > limit "
                    f"0x{self._limit:x})"
                )
            clash = self._clash(pa, size)
            if clash is None:
                break
            pa = -(-clash // align) * align
        self._next = pa + size
        self.allocated[pa] = size
        return pa

    def alloc_tables(self, count: int, size: int = FRAME_SIZE) -> int:
        """``count`` consecutive table pages of ``size`` bytes each (each freeable on its own);
        returns the first address."""
        if count <= 1:
            return self.alloc_table(size)
        base = self.alloc_table(size * count, align=size)
        del self.allocated[base]
        for i in range(count):
            self.allocated[base + i * size] = size
        return base

    def _clash(self, pa: int, size: int) -> int | None:
        """One past the obstacle in [pa, pa + size) (used frame, tagged region or image), or
        None."""
        end = pa + size
        for r in self.regions:
            if pa < r.end and r.base < end:
                return r.end
        for img in self.images:
            if pa < img.end and img.base < end:
                return img.end
        if self.frames:
            first, last = pa >> FRAME_SHIFT, (end - 1) >> FRAME_SHIFT
            if last - first < len(self.frames):
                hits = [p for p in range(first, last + 1) if p in self.frames]
            else:
                hits = [p for p in self.frames if first <= p <= last]
            if hits:
                return (max(hits) + 1) << FRAME_SHIFT
        return None

    def free_table(self, pa: int, size: int | None = None) -> None:
        """Return a table range to the allocator; its contents read as zero afterwards."""
        got = self.allocated.pop(pa, None)
        if got is None:
            raise ConfigError(f"free_table PA=0x{pa:x}: not a table page from alloc_table")
        if size is not None and size != got:
            self.allocated[pa] = got
            raise ConfigError(f"free_table PA=0x{pa:x} size=0x{size:x}: allocated as 0x{got:x}")
        self.drop(pa, got)
        self._free.setdefault(got, []).append(pa)

    def iter_frames(self) -> Iterator[tuple[int, bytearray]]:
        """(frame number, frame) for every touched frame, in address order."""
        for pfn in sorted(self.frames):
            yield pfn, self.frames[pfn]

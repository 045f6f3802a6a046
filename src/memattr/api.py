"""The entry points a test or a script calls, with plain arguments (names, numbers, paths).

Each function here is a thin front on one layer: it turns names into the layer's values and
calls it (no rule is computed here).  :mod:`memattr` exports these and the values they return
(``memattr.decode_mair``, ``memattr.resolve``, ``memattr.Cpu`` ...); examples in docs/api.md.
Imports happen inside the functions, so ``import memattr`` stays cheap for the command line.
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from .analysis.scenario import Scenario
    from .analysis.walkfile import Built
    from .arch.cpu import Cpu
    from .arch.descriptor import S1Descriptor, S2Descriptor
    from .arch.mair import MairAttr
    from .mmu.at import ATResult
    from .mmu.walk import WalkResult

__all__ = [
    "decode_mair_attr",
    "decode_mair",
    "decode_descriptor",
    "decode_register",
    "load_walk",
    "translate",
    "at",
    "load_scenario",
]


def _cpu(cpu: Cpu | str) -> Cpu:
    from .arch.cpu import get_cpu

    return get_cpu(cpu)


def decode_mair_attr(value: int, *, cpu: Cpu | str = "all") -> MairAttr:
    """Decode one MAIR_ELx attribute byte (ASL S1DecodeMemAttrs).

    :param value: the attribute byte, 0..0xff.
    :param cpu: the PE (a :class:`~memattr.arch.cpu.Cpu` or a preset name): FEAT_XS and
        FEAT_MTE2 decide which bytes are allocated.
    :returns: the byte's :class:`~memattr.arch.mair.MairAttr`: ``attrs`` (None if reserved),
        ``reserved`` and ``rule`` (why), ``permitted`` (a reserved byte's possible meanings).
    :raises EncodingError: ``value`` is not a byte.
    :raises ConfigError: an unknown CPU preset name.
    """
    from .arch.mair import decode_attr

    return decode_attr(value, _cpu(cpu))


def decode_mair(value: int, *, cpu: Cpu | str = "all") -> tuple[MairAttr, ...]:
    """Decode a whole 64-bit MAIR_ELx: Attr0..Attr7, each as :func:`decode_mair_attr` does.

    :param value: the register value (bits [8n+7:8n] are Attr<n>).
    :param cpu: the PE (a :class:`~memattr.arch.cpu.Cpu` or a preset name).
    :returns: eight :class:`~memattr.arch.mair.MairAttr`, Attr0 first.
    :raises EncodingError: ``value`` does not fit 64 bits.
    :raises ConfigError: an unknown CPU preset name.
    """
    from .arch.mair import decode_register

    return decode_register(value, _cpu(cpu), name="MAIR_ELx")


def decode_descriptor(raw: int, *, stage: int, level: int = 3, granule: str = "4k",
                      ds: bool = False, pa_bits: int = 48) -> S1Descriptor | S2Descriptor:
    """Decode a VMSAv8-64 translation table descriptor found at ``level`` (Arm ARM D8.3).

    :param raw: the 64-bit descriptor.
    :param stage: 1 (a stage-1 descriptor) or 2 (stage 2).
    :param level: the lookup level it was read at (-1..3; 3 holds pages).
    :param granule: "4k", "16k" or "64k".
    :param ds: TCR_ELx.DS / VTCR_EL2.DS (FEAT_LPA2, 52-bit addresses).
    :param pa_bits: the output address size (52 selects the 52-bit formats).
    :returns: an :class:`~memattr.arch.descriptor.S1Descriptor` or
        :class:`~memattr.arch.descriptor.S2Descriptor`: ``type`` (INVALID, TABLE, BLOCK, PAGE,
        RESERVED), ``address`` and every field; ``layout.describe(raw)`` gives the field rows.
    :raises EncodingError: ``raw`` does not fit 64 bits.
    :raises ConfigError: no such stage, level or granule, or a 52-bit form the granule lacks.
    :raises ParseError: an unknown granule spelling.
    """
    from .arch.descriptor import Granule, S1Descriptor, S2Descriptor
    from .errors import ConfigError

    if stage not in (1, 2):
        raise ConfigError(f"stage={stage}: a descriptor is stage 1 or stage 2")
    cls = S1Descriptor if stage == 1 else S2Descriptor
    return cls.decode(raw, Granule.parse(granule), level, ds, pa_bits)


def decode_register(name: str, value: int) -> dict[str, int]:
    """Decode a system register with its field table: every field's value by name.

    :param name: the table's name as Arm spells the register: TCR_EL1, VTCR_EL2, HCR_EL2,
        SCTLR_EL1, TTBRx_EL1, VTTBR_EL2, ESR_ELx, HPFAR_EL2, CTR_EL0, ID_AA64MMFR0_EL1,
        MAIR_ELx, PAR_EL1 ... (any layout of :data:`memattr.arch.fields.LAYOUTS`).
    :param value: the register value.
    :returns: field name -> value, from the most significant field down (RES0 and IGNORED rows
        included, so no set bit is lost); ``Layout.describe`` renders them.
    :raises ConfigError: no field table of that name (the message lists the close ones).
    :raises EncodingError: ``value`` does not fit the register's width.
    """
    from .arch.regdefs import layout

    table = layout(name)
    if value < 0 or value >> table.width:
        from .errors import EncodingError

        raise EncodingError(f"{table.name}={value:#x}: does not fit {table.width} bits")
    return table.decode(value)


def load_walk(path: str | None = None, *, cpu: str | None = None) -> Built:
    """Read a walk file (``memattr walk`` format) and build its page tables in memory.

    :param path: the file; None for the example shipped with memattr (a KVM guest with 1 GiB of
        RAM and a vfio-pci BAR: ``memattr walk --example``).
    :param cpu: a CPU preset name overriding the file's ``cpu``.
    :returns: a :class:`~memattr.analysis.walkfile.Built`: ``mem`` (the simulated physical
        memory), ``regime`` (the registers), the stage-1/stage-2 ``PageTable`` objects and the
        file's ``accesses``.
    :raises ParseError: the file is not valid TOML or not a walk file (``file:line: key: ...``).
    :raises ConfigError: a value the tables cannot have (overlaps, sizes, unknown names).
    """
    from .analysis.walkfile import example_path, load

    return load(example_path() if path is None else path, cpu=cpu)


def translate(built: Built, va: int, *, access: str = "read", el: int = 1,
              size: int = 8) -> WalkResult:
    """Translate one access through both stages, as the hardware walks (ASL AArch64.FullTranslate).

    :param built: what :func:`load_walk` built.
    :param va: the virtual address.
    :param access: "read", "write" or "exec".
    :param el: the Exception level making the access (0 or 1).
    :param size: the access size in bytes.
    :returns: a :class:`~memattr.mmu.walk.WalkResult`: ``steps`` (every descriptor read),
        ``translation`` (PA, attributes, permissions) or ``fault`` (with its ESR, FAR, HPFAR).
    :raises ConfigError: an unknown access kind.
    """
    from .errors import ConfigError
    from .mmu.walk import Access, AccessKind, walk

    try:
        kind = AccessKind(access)
    except ValueError:
        raise ConfigError(f"access={access!r}: expected read, write or exec") from None
    return walk(built.mem, built.regime, Access(va, kind, el, size))


def at(built: Built, op: str, va: int, *, from_el: int = 2) -> ATResult:
    """Execute an address translation instruction (AT S1E1R ... S12E0W) and read PAR_EL1.

    :param built: what :func:`load_walk` built.
    :param op: the operation: S1E1R, S1E1W, S1E0R, S1E0W, S12E1R, S12E1W, S12E0R or S12E0W.
    :param va: the virtual address.
    :param from_el: the Exception level executing it (2, or 1 for the S1E* operations).
    :returns: an :class:`~memattr.mmu.at.ATResult`: ``par`` (PAR_EL1; None when the fault is
        taken as an exception instead), ``pars`` (every permitted value), ``decoded``.
    :raises ParseError: an unknown operation.
    :raises ConfigError: an operation that Exception level cannot execute.
    """
    from .mmu.at import at as _at

    return _at(built.mem, built.regime, op, va, from_el=from_el)


def load_scenario(name: str) -> Scenario:
    """Load a scenario (``memattr run`` format): a bundled name ('demo') or a file path.

    :param name: a bundled scenario's name (:func:`memattr.analysis.scenario.bundled`) or the
        path of a scenario file ('-' for standard input).
    :returns: the checked :class:`~memattr.analysis.scenario.Scenario`, ready for
        :func:`~memattr.analysis.replay.replay`.
    :raises ParseError: the file is not valid TOML or not a scenario (``file:line: key: ...``).
    :raises ConfigError: an unknown policy, device or mapping name in it.
    """
    from .analysis.scenario import bundled, bundled_path, load

    stem = name.removesuffix(".toml")
    if "/" not in name and stem in bundled():
        return load(bundled_path(stem))
    return load(name)

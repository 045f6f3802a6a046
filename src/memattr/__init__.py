"""memattr: an executable, bit-accurate model of Arm64 memory attributes under KVM.

Layers (lower never imports higher): arch -> mmu -> platform -> linux -> analysis ->
interop / report -> cli.

The entry points a test or a script calls are exported here (examples: docs/api.md):
decoding (:func:`decode_mair_attr`, :func:`decode_mair`, :func:`decode_descriptor`,
:func:`decode_register`), combining stage 1 with stage 2 (:func:`resolve`, :class:`Controls`),
walks and AT (:func:`load_walk`, :func:`translate`, :func:`at`), the S1 x S2 table
(:func:`table_rows`, :func:`combine_batch`), scenarios and policies (:func:`load_scenario`,
:func:`replay`, :func:`build_matrix`, :func:`get_policy`, :func:`policies`), the CPU
(:class:`Cpu`, :func:`get_cpu`, :func:`cpu_names`) and the errors.  Each is imported on first
use (PEP 562), so ``import memattr`` costs the command line nothing.
"""

__version__ = "0.1.0"

from ._lazy import from_modules

TYPE_CHECKING = False  # importing typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from .analysis.matrix import build_matrix
    from .analysis.replay import replay
    from .api import (
        at,
        decode_descriptor,
        decode_mair,
        decode_mair_attr,
        decode_register,
        load_scenario,
        load_walk,
        translate,
    )
    from .arch.batch import combine_batch, table_rows
    from .arch.combine import Access, Controls, Resolution, resolve
    from .arch.cpu import Cpu, cpu_names, get_cpu
    from .arch.memtype import MemoryAttributes
    from .errors import ConfigError, EncodingError, MemattrError, ParseError, ReservedError
    from .linux.policy import get_policy, policies

_WHERE = {
    # decoding
    "decode_mair_attr": "memattr.api",
    "decode_mair": "memattr.api",
    "decode_descriptor": "memattr.api",
    "decode_register": "memattr.api",
    # stage 1 x stage 2
    "resolve": "memattr.arch.combine",
    "Controls": "memattr.arch.combine",
    "Access": "memattr.arch.combine",
    "Resolution": "memattr.arch.combine",
    "MemoryAttributes": "memattr.arch.memtype",
    # walks and AT
    "load_walk": "memattr.api",
    "translate": "memattr.api",
    "at": "memattr.api",
    # the S1 x S2 x FWB x CD table
    "table_rows": "memattr.arch.batch",
    "combine_batch": "memattr.arch.batch",
    # scenarios, policies, the policy matrix
    "load_scenario": "memattr.api",
    "replay": "memattr.analysis.replay",
    "build_matrix": "memattr.analysis.matrix",
    "get_policy": "memattr.linux.policy",
    "policies": "memattr.linux.policy",
    # the CPU
    "Cpu": "memattr.arch.cpu",
    "get_cpu": "memattr.arch.cpu",
    "cpu_names": "memattr.arch.cpu",
    # errors
    "MemattrError": "memattr.errors",
    "EncodingError": "memattr.errors",
    "ReservedError": "memattr.errors",
    "ParseError": "memattr.errors",
    "ConfigError": "memattr.errors",
}

__all__ = [
    "__version__",
    "decode_mair_attr",
    "decode_mair",
    "decode_descriptor",
    "decode_register",
    "resolve",
    "Controls",
    "Access",
    "Resolution",
    "MemoryAttributes",
    "load_walk",
    "translate",
    "at",
    "table_rows",
    "combine_batch",
    "load_scenario",
    "replay",
    "build_matrix",
    "get_policy",
    "policies",
    "Cpu",
    "get_cpu",
    "cpu_names",
    "MemattrError",
    "EncodingError",
    "ReservedError",
    "ParseError",
    "ConfigError",
]


__getattr__ = from_modules(__name__, globals(), _WHERE)  # PEP 562: import on first use


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})

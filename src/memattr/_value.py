"""A start-up-cheap stand-in for :func:`dataclasses.dataclass` on the single-query path.

Importing :mod:`dataclasses` pulls in :mod:`inspect` (with :mod:`ast` and :mod:`dis`) and each
decorated class costs several ``exec`` calls.  Measured on ``memattr combine --s1 0x44 --s2 0x5
--fwb`` (benchmarks/bench_startup.py): 3.9x ``python -c pass`` with :mod:`dataclasses`, 2.4-2.5x
with this module -- the 2.5x goal needs it.  The value modules that every query loads import
``dataclass``, ``field``, ``fields`` and ``replace`` from here: type checkers see
:mod:`dataclasses` itself, run time gets :mod:`memattr._value_runtime`, which behaves as
dataclasses for the options memattr passes (``frozen``, ``slots``; ``field(default=...,
default_factory=..., init=..., repr=..., compare=..., kw_only=...)``) and raises TypeError for
any other option instead of ignoring it.
``tests/test_value.py`` checks it against dataclasses.
"""

from __future__ import annotations

__all__ = ["dataclass", "field", "fields", "replace"]

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from dataclasses import dataclass, field, fields, replace
else:
    from ._value_runtime import dataclass, field, fields, replace

"""A start-up-cheap stand-in for :func:`dataclasses.dataclass` on the single-query path.

Importing :mod:`dataclasses` pulls in :mod:`inspect` (with :mod:`ast` and :mod:`dis`) and each
decorated class costs several ``exec`` calls: together about a third of a ``memattr combine``
query's start-up.  The value modules that every query loads import ``dataclass``, ``field``,
``fields`` and ``replace`` from here: type checkers see :mod:`dataclasses` itself, run time gets
:mod:`memattr._value_runtime`, which supports ``frozen``, ``slots``, ``eq``, ``__hash__`` for
frozen classes, defaults, ``field(default=..., default_factory=...)``, ``__post_init__``,
``__repr__`` and ``__match_args__``.  ``tests/test_value.py`` checks it against dataclasses.
"""

from __future__ import annotations

__all__ = ["dataclass", "field", "fields", "replace"]

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from dataclasses import dataclass, field, fields, replace
else:
    from ._value_runtime import dataclass, field, fields, replace

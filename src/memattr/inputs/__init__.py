"""Reading what users hand memattr, safely: bounded files, a pre-scanned TOML reader, escaping.

The bottom of the package (beside :mod:`memattr.errors`; every layer may use it).  Import the
submodules directly; this package imports nothing so that the CLI stays fast:

- :mod:`memattr.inputs.escape`: the one sanitiser for text that reaches a terminal
  (:func:`~memattr.inputs.escape.escape`), and how echoed values are shown (truncated, hex,
  ``-0x1`` for negatives);
- :mod:`memattr.inputs.files`: input files are regular files (or ``-`` for standard input) of at
  most a stated size (:data:`~memattr.inputs.files.DEFAULT_MAX_INPUT`, 16 MiB, or the
  ``MEMATTR_MAX_INPUT`` environment variable), read without blocking;
- :mod:`memattr.inputs.units`: the number and size grammar (``0x1000``, ``"64K"``, ``"2 MiB"``);
- :mod:`memattr.inputs.tomlscan`: the linear pre-scan that bounds nesting depth and key sizes
  before ``tomllib`` sees the text, and finds the line of every key;
- :mod:`memattr.inputs.toml`: the declaration-driven TOML reader whose errors read
  ``file:line: key: what is wrong (what was expected)``.
"""

__all__: list[str] = []

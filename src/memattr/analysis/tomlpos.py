"""Line numbers for TOML keys, for modules that still scan positions themselves.

The scan lives in :mod:`memattr.inputs.tomlscan` (linear, bounded); this module keeps the names
``cli/walk.py`` imports until walk files move to :mod:`memattr.inputs.toml`.
"""

from __future__ import annotations

from ..inputs.tomlscan import KeyPath, format_path, key_lines, line_of

__all__ = ["KeyPath", "key_lines", "line_of", "format_path"]

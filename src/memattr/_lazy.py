"""Module attributes resolved on first use (PEP 562), the one way the package defers imports
and tables for start-up speed.

:func:`from_modules` gives a package's ``__getattr__`` that imports the module defining a name;
:func:`built_on_use` gives one that builds a named value with its recipe.  Either stores what it
found in the module's globals, so the next access is an ordinary lookup.
"""

from __future__ import annotations

TYPE_CHECKING = False  # mypy treats this name as True
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, MutableMapping

__all__ = ["from_modules", "built_on_use"]


def from_modules(package: str, namespace: MutableMapping[str, object],
                 where: Mapping[str, str]) -> Callable[[str], object]:
    """A ``__getattr__`` for ``package`` that imports ``where[name]`` (relative to ``package``
    when it starts with a dot) and takes ``name`` from it."""
    def __getattr__(name: str) -> object:
        mod = where.get(name)
        if mod is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        from importlib import import_module  # only when a name is first used

        value = getattr(import_module(mod, package), name)
        namespace[name] = value
        return value

    return __getattr__


def built_on_use(module: str, namespace: MutableMapping[str, object],
                 recipes: Mapping[str, Callable[[], object]]) -> Callable[[str], object]:
    """A ``__getattr__`` for ``module`` that builds ``recipes[name]()`` once (called directly, it
    returns the value already built)."""
    def __getattr__(name: str) -> object:
        if name in namespace:
            return namespace[name]
        recipe = recipes.get(name)
        if recipe is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        value = namespace[name] = recipe()
        return value

    return __getattr__

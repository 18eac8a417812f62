"""Lazy package exports (PEP 562): a package names what it offers, and each name's module loads on first use.

    __getattr__, __dir__ = lazy_exports(globals(), {"Note": ".notes", "MMGenPipeline": "pipelines.pipeline_mmgen"})

Keeps `import mmgen`, `from mmgen.melody import Note` and `python -m mmgen --help` from loading torch,
transformers or Basic Pitch before a name that needs them is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(namespace: dict, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of a package that exports `exports` lazily.

    Args:
        namespace (`dict`): the package's `globals()`; a name, once loaded, is stored there so that later look-ups
            skip `__getattr__`.
        exports (`dict[str, str]`): public name -> the module that defines it, absolute (`"mmgen.audio"`) or
            relative to the package (`".notes"`).

    Returns:
        `(__getattr__, __dir__)`, to be assigned at the package's top level.
    """
    package = namespace["__name__"]

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(exports[name], package), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__

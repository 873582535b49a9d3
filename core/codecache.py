"""Compile workflow modules once per process, however often the sandbox re-imports them.

Temporal's workflow sandbox re-imports a workflow's module (and every module of it that is
not passed through) each time it creates a workflow instance: for each new enrollment, and
again whenever an evicted one is replayed. Python normally makes that cheap by reading
bytecode from `__pycache__`, but with PYTHONDONTWRITEBYTECODE set (common in containers,
and set on our CI machines) or a read-only install there is no bytecode, and each re-import
compiles the source again: about 10 ms for `workflows/enrollment.py`, which was a third of
the worker's CPU per step in the engine benchmark.

`install(packages)` puts a finder in front of the normal path finder for the given
top-level packages only. It finds modules exactly as Python does and hands back a loader
that keeps each module's compiled code object, keyed by its path and checked against the
source bytes, so a changed file is compiled again. Executing a shared code object gives a
fresh module each time (code objects are immutable), so the sandbox's isolation between
workflow runs is unchanged.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
import threading
from collections.abc import Iterable, Sequence
from types import CodeType, ModuleType
from typing import Any

_lock = threading.Lock()
_codes: dict[str, tuple[bytes, CodeType]] = {}


class _CachingSourceLoader(importlib.machinery.SourceFileLoader):
    """A SourceFileLoader whose compile step is memoised per (path, source)."""

    def source_to_code(self, data: Any, path: Any, *, _optimize: int = -1) -> CodeType:  # type: ignore[override]
        key = str(path)
        source = bytes(data)
        with _lock:
            cached = _codes.get(key)
        if cached is not None and cached[0] == source:
            return cached[1]
        code = super().source_to_code(data, path, _optimize=_optimize)
        with _lock:
            _codes[key] = (source, code)
        return code


class _CachingFinder(importlib.abc.MetaPathFinder):
    """Finds modules of the named packages like the path finder, with a caching loader."""

    def __init__(self, packages: Iterable[str]) -> None:
        self.packages = frozenset(packages)

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in self.packages:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path, target)
        loader = spec.loader if spec is not None else None
        if spec is None or type(loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = _CachingSourceLoader(loader.name, loader.path)
        return spec


def install(packages: Iterable[str]) -> None:
    """Cache compiled code for these top-level packages in this process (idempotent)."""
    wanted = set(packages)
    for finder in sys.meta_path:
        if isinstance(finder, _CachingFinder):
            wanted -= finder.packages
    if wanted:
        sys.meta_path.insert(0, _CachingFinder(wanted))


def compiled_paths() -> list[str]:
    """The source files whose code is cached (for tests and diagnostics)."""
    with _lock:
        return sorted(_codes)

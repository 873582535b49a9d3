"""The sandbox's per-workflow re-imports compile a module once, and still run it afresh."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from core import codecache


@pytest.fixture
def package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    name = f"cc_pkg_{tmp_path.name.replace('-', '_')}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "flow.py").write_text("STARTS = []\n\ndef step():\n    return 'first'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    # No bytecode on disk, like a container with PYTHONDONTWRITEBYTECODE=1.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    codecache.install([name])
    yield root
    for mod in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
        del sys.modules[mod]


def reimport(root: Path) -> object:
    """What the sandbox does for each new workflow instance: a fresh import of the module."""
    for mod in [f"{root.name}.flow", root.name]:
        sys.modules.pop(mod, None)
    importlib.invalidate_caches()
    return importlib.import_module(f"{root.name}.flow")


def test_a_reimport_reuses_the_compiled_code_but_gives_a_fresh_module(package: Path) -> None:
    first = reimport(package)
    first.STARTS.append("run 1")  # type: ignore[attr-defined]
    second = reimport(package)
    assert second is not first
    assert second.STARTS == []  # type: ignore[attr-defined]  # module state is not shared between runs
    assert second.step.__code__ is first.step.__code__  # type: ignore[attr-defined]  # compiled once
    assert not list(package.glob("__pycache__/*"))
    assert str(package / "flow.py") in codecache.compiled_paths()


def test_a_changed_source_file_is_compiled_again(package: Path) -> None:
    assert reimport(package).step() == "first"  # type: ignore[attr-defined]
    (package / "flow.py").write_text("STARTS = []\n\ndef step():\n    return 'second'\n")
    assert reimport(package).step() == "second"  # type: ignore[attr-defined]


def test_other_packages_load_as_usual(package: Path) -> None:
    other = package.parent / f"{package.name}_other"
    other.mkdir()
    (other / "__init__.py").write_text("VALUE = 1\n")
    before = set(codecache.compiled_paths())
    try:
        assert importlib.import_module(other.name).VALUE == 1
        assert set(codecache.compiled_paths()) == before
    finally:
        sys.modules.pop(other.name, None)

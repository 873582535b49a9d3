"""The layers, checked: the folder a module lives in says what it may import and do.

Read from the source (ast), so a forbidden import fails here even if nothing executes it:
- `cadence/` (the pure domain) and `workflows/` (orchestration) import nothing that does
  I/O, and the domain reads no clock;
- only `starter/temporal.py` starts, signals, updates or queries workflows, and nothing
  names a workflow handler or an activity by a bare string;
- the console and the CLI never import an API route module (only the app factory does);
- `activities/` never imports `starter/`; `models/` imports neither `starter/` nor
  `activities/`; nothing reaches into another module's private helpers.
"""

from __future__ import annotations

import ast
import sys
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("cadence", "core", "models", "workflows", "activities", "starter")
TOP_LEVEL = ("worker.py",)

# What may be imported by code that must not do I/O: the standard library's pure parts
# and the pure libraries the domain is built on.
PURE_STDLIB = {
    "__future__",
    "abc",
    "base64",
    "bisect",
    "collections",
    "contextlib",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "enum",
    "functools",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "ipaddress",
    "itertools",
    "json",
    "math",
    "operator",
    "re",
    "statistics",
    "string",
    "textwrap",
    "types",
    "typing",
    "unicodedata",
    "uuid",
    "zoneinfo",
}
PURE_LIBRARIES = {"pydantic", "dateutil", "holidays", "jinja2", "markupsafe", "yaml", "phonenumbers"}
ALLOWED = {
    "cadence": PURE_STDLIB | PURE_LIBRARIES | {"cadence"},
    # Workflows also use the Temporal workflow API and the payload types (pure pydantic).
    "workflows": PURE_STDLIB | PURE_LIBRARIES | {"cadence", "temporalio", "workflows", "models.payloads"},
}
# Temporal client calls that start or message a workflow.
WORKFLOW_CALLS = {
    "start_workflow",
    "execute_workflow",
    "signal_with_start_workflow",
    "signal",
    "execute_update",
    "start_update",
    "execute_update_with_start_workflow",
    "start_update_with_start_workflow",
    "query",
    "terminate",
}
CLOCK_CALLS = {"now", "today", "utcnow"}
TIME_CALLS = {"time", "monotonic", "perf_counter", "time_ns"}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def product_files() -> list[Path]:
    return [p for pkg in PRODUCT for p in modules(pkg)] + [ROOT / f for f in TOP_LEVEL]


@cache
def tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def imports(path: Path) -> set[str]:
    """Every module a file imports, dotted, at any depth of the file."""
    found: set[str] = set()
    for node in ast.walk(tree(path)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def allowed(name: str, permitted: set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in permitted)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_the_domain_and_the_workflows_import_nothing_that_does_io(package: str) -> None:
    offenders = []
    for path in modules(package):
        for name in imports(path):
            if name.split(".")[0] in ("cadence", "workflows") or allowed(name, ALLOWED[package]):
                continue
            top = name.split(".")[0]
            if package == "workflows" and name.startswith("models.payloads."):
                continue
            if top in sys.stdlib_module_names and top not in PURE_STDLIB:
                offenders.append(f"{rel(path)}: {name}")
            elif top not in sys.stdlib_module_names and not allowed(name, ALLOWED[package]):
                offenders.append(f"{rel(path)}: {name}")
    assert offenders == []


def test_the_domain_reads_no_clock() -> None:
    offenders = []
    for path in modules("cadence"):
        for node in ast.walk(tree(path)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            attr, receiver = node.func.attr, ast.unparse(node.func.value)
            if attr in CLOCK_CALLS or (attr in TIME_CALLS and receiver == "time"):
                offenders.append(f"{rel(path)}:{node.lineno}: .{node.func.attr}()")
    assert offenders == []


def test_only_the_temporal_module_starts_signals_updates_or_queries_workflows() -> None:
    gateway = ROOT / "starter" / "temporal.py"
    offenders = []
    for path in product_files():
        if path == gateway:
            continue
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WORKFLOW_CALLS:
                receiver = ast.unparse(node.func.value)
                if receiver == "workflow" or receiver.split(".")[-1] == "workflows":
                    continue  # a workflow declaring its own handlers, or a call into the gateway (a `Workflows`)
                offenders.append(f"{rel(path)}:{node.lineno}: {ast.unparse(node.func)}()")
    assert offenders == []
    # The gateway itself refers to handlers by reference, never by name.
    for node in ast.walk(tree(gateway)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in WORKFLOW_CALLS:
            first = node.args[0] if node.args else None
            assert not (isinstance(first, ast.Constant) and isinstance(first.value, str)), (
                f"line {node.lineno}: a handler named by a string"
            )


def test_workflows_call_activities_by_typed_declaration_never_by_name() -> None:
    offenders = []
    for path in modules("workflows"):
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr.startswith("execute_activity"):
                first = node.args[0] if node.args else None
                if isinstance(first, ast.Constant):
                    offenders.append(f"{rel(path)}:{node.lineno}: {first.value!r}")
                elif not (isinstance(first, ast.Attribute | ast.Name)):
                    offenders.append(f"{rel(path)}:{node.lineno}: {ast.unparse(first) if first else 'no activity'}")
    assert offenders == []


def test_nothing_but_the_app_factory_imports_a_route_module() -> None:
    factory = ROOT / "starter" / "api" / "__init__.py"
    offenders = [
        f"{rel(path)}: {name}"
        for path in product_files()
        if path != factory and path.parent.name != "routes"
        for name in imports(path)
        if name.startswith("starter.api.routes")
    ]
    assert offenders == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("activities", ("starter",)), ("models", ("starter", "activities")), ("core", ("starter", "activities", "workflows", "models"))],
)
def test_lower_layers_do_not_import_upper_ones(package: str, forbidden: tuple[str, ...]) -> None:
    offenders = [f"{rel(path)}: {name}" for path in modules(package) for name in imports(path) if name.split(".")[0] in forbidden]
    assert offenders == []


def test_no_module_reaches_into_another_modules_private_helpers() -> None:
    offenders = []
    for path in product_files():
        for node in ast.walk(tree(path)):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                offenders += [
                    f"{rel(path)}: {node.module}.{a.name}" for a in node.names if a.name.startswith("_") and a.name != "__future__"
                ]
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                receiver = ast.unparse(node.value)
                if receiver not in ("self", "cls", "os") and not receiver.startswith(("self.", "cls.")):
                    offenders.append(f"{rel(path)}:{node.lineno}: {receiver}.{node.attr}")
    assert offenders == []


def test_the_checks_see_the_whole_product() -> None:
    # A guard on the guard: the scan must find the modules it is meant to judge.
    names = {rel(p) for p in product_files()}
    assert {"cadence/machine.py", "workflows/enrollment.py", "starter/temporal.py", "activities/touches.py", "worker.py"} <= names
    assert "temporalio.client" in imports(ROOT / "starter" / "temporal.py")
    assert any(allowed(n, {"sqlalchemy"}) for n in imports(ROOT / "activities" / "touches.py"))

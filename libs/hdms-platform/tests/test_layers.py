"""The direction of imports: services import the runtime library (hdms_platform), never the dev
tooling (hdms_tools); the runtime library does not import the tooling either, nor know where a
repository is; the stack launcher uses the standard library only (it runs before .venv exists)."""

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
RUNTIME = REPO / "libs" / "hdms-platform" / "src" / "hdms_platform"
SERVICE_SOURCES = sorted((REPO / "services").glob("*-service/src"))
STACK = REPO / "libs" / "hdms-tools" / "src" / "hdms_tools" / "stack"


def imported(path: Path) -> set[str]:
    """The modules a file imports by absolute name (relative imports stay inside its own package)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "tests" not in p.relative_to(root).parts)


@pytest.mark.parametrize("root", [RUNTIME, *SERVICE_SOURCES], ids=lambda p: str(p.relative_to(REPO)))
def test_runtime_code_never_imports_the_tooling(root):
    offenders = {
        str(path.relative_to(REPO)): sorted(n for n in imported(path) if n.split(".")[0] == "hdms_tools")
        for path in modules(root)
    }
    assert {path: names for path, names in offenders.items() if names} == {}


def test_the_runtime_library_does_not_know_where_the_repository_is():
    knowing = [
        str(path.relative_to(REPO))
        for path in modules(RUNTIME)
        if "REPO" in {node.id for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Name)}
        or ".parents[" in path.read_text()
    ]
    assert knowing == []


def test_the_stack_launcher_uses_the_standard_library_only():
    outside = {
        str(path.relative_to(REPO)): sorted(
            n for n in imported(path) if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != "hdms_tools"
        )
        for path in modules(STACK)
    }
    assert {path: names for path, names in outside.items() if names} == {}
    assert len(outside) >= 8  # config, host, postgres, pgbouncer, redis_server, native, compose, cli, ...

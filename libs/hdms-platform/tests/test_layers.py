"""The direction of imports: services import the runtime library (hdms_platform), never the dev
tooling (hdms_tools); the runtime library does not import the tooling either, nor know where a
repository is; the stack launcher uses the standard library only (it runs before .venv exists);
inside the runtime library each package imports only what docs/architecture.md's table allows;
and nowhere in the tree is there an import circle, counting imports inside functions."""

import ast
import graphlib
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


# -- the import graph: every import statement, wherever it is (inside functions and TYPE_CHECKING too)


def module_names(root: Path, folders: tuple[str, ...] = ()) -> dict[str, Path]:
    """Dotted name -> file for every module under `root` (or only under its `folders`)."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if ".venv" in parts or (folders and parts[0] not in folders):
            continue
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph(names: dict[str, Path]) -> dict[str, set[str]]:
    """Module -> the modules of the same tree it imports (`from package import module` is the module)."""

    def known(target: str) -> str | None:
        while target and target not in names:
            target = target.rpartition(".")[0]
        return target or None

    graph: dict[str, set[str]] = {}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    kept = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*kept, *([node.module] if node.module else [])])
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in names else base for alias in node.names]
            else:
                continue
            edges |= {found for target in targets if (found := known(target)) and found != name}
        graph[name] = edges
    return graph


TREES = {
    "libs/hdms-platform/src": (),
    "libs/hdms-tools/src": (),
    **{str(src.relative_to(REPO)): () for src in SERVICE_SOURCES},
    ".": ("bench", "chaos", "compose", "tests"),  # the repository's own packages
}


@pytest.mark.parametrize("tree", sorted(TREES))
def test_no_import_circle(tree):
    graph = import_graph(module_names(REPO / tree, TREES[tree]))
    assert len(graph) >= 5, graph
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as circle:
        pytest.fail(f"import circle: {' -> '.join(circle.args[1])}")


# hdms_platform's packages (and top-level modules) -> what each may import of hdms_platform; the
# composition root (apps, urls, tasks, manage, management, migrations: what Django loads by name)
# may import anything. docs/architecture.md's table says the same in words.
MAY_IMPORT = {
    "errors": set(),
    "models": set(),
    "conf": set(),
    "observability": {"conf"},
    "cache": {"conf", "observability"},
    "db": {"conf", "models", "observability"},
    "events": {"conf", "errors", "observability"},
    "auth": {"conf", "errors", "models", "cache", "observability"},
    "web": {"conf", "errors", "models", "auth", "cache", "db", "observability"},
    "celery": {"conf", "db", "events", "observability"},
    "outbox": {"conf", "celery", "db", "events", "models", "observability"},
    "health": {"conf", "observability", "outbox"},
    "peers": {"conf", "errors", "auth", "cache", "observability"},
    "audit": {"models", "observability", "web"},
    "testing": {"conf", "auth"},
}
COMPOSITION_ROOT = {"apps", "urls", "tasks", "manage", "management", "migrations", "__init__"}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_the_package_table_is_a_hierarchy():
    graphlib.TopologicalSorter(MAY_IMPORT).prepare()  # raises on a circle between packages
    top = {_package(name) for name in module_names(RUNTIME.parent) if name.startswith("hdms_platform")}
    assert top == set(MAY_IMPORT) | COMPOSITION_ROOT, "a package the table does not name, or one that is gone"


def test_each_package_imports_only_what_the_table_allows():
    graph = import_graph(module_names(RUNTIME.parent))
    refused = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        if module.startswith("hdms_platform") and _package(module) not in COMPOSITION_ROOT
        for target in targets
        if target.startswith("hdms_platform")
        and _package(target) != _package(module)
        and _package(target) not in MAY_IMPORT[_package(module)]
    )
    assert refused == []


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


CATALOGUE = "hdms_platform.conf.catalogue"  # the one module of ours the launcher reads: it imports nothing


def test_the_stack_launcher_uses_the_standard_library_only():
    assert imported(RUNTIME / "conf" / "catalogue.py") <= {"__future__"}
    outside = {
        str(path.relative_to(REPO)): sorted(
            n
            for n in imported(path)
            if n.split(".")[0] not in sys.stdlib_module_names and n.split(".")[0] != "hdms_tools" and n != CATALOGUE
        )
        for path in modules(STACK)
    }
    assert {path: names for path, names in outside.items() if names} == {}
    assert len(outside) >= 8  # config, host, postgres, pgbouncer, redis_server, native, compose, cli, ...


@pytest.mark.parametrize("root", SERVICE_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_services_speak_one_error_vocabulary(root):
    """A service raises hdms_platform.errors; DRF's exceptions are the mapping's business (web/exceptions.py)."""
    drf = {
        str(path.relative_to(REPO))
        for path in modules(root)
        for node in ast.walk(ast.parse(path.read_text()))
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "rest_framework"
            and any(a.name == "exceptions" for a in node.names)
        )
        or (isinstance(node, ast.ImportFrom) and node.module == "rest_framework.exceptions")
        or (isinstance(node, ast.Import) and any(a.name == "rest_framework.exceptions" for a in node.names))
    }
    assert drf == set()


def test_no_runtime_module_over_300_lines():
    """A module that outgrows this does two jobs (metrics.py did); split it by what it holds."""
    long = {
        str(path.relative_to(REPO)): lines
        for root in (RUNTIME, *SERVICE_SOURCES)
        for path in modules(root)
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > 300
    }
    assert long == {}

"""No runtime import cycles in supervisor/: every import that runs (module level or inside
a function, but not under ``if TYPE_CHECKING:``) follows the package's layering."""

from __future__ import annotations

import ast
from pathlib import Path

import supervisor

ROOT = Path(supervisor.__file__).parent


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _known(name: str, known: set[str]) -> str | None:
    """The module of supervisor/ that importing ``name`` runs (``a.b.func`` -> ``a.b``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.Import | ast.ImportFrom, here: str, is_pkg: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        pkg = here if is_pkg else here.rpartition(".")[0]
        for _ in range(node.level - 1):
            pkg = pkg.rpartition(".")[0]
        base = f"{pkg}.{base}" if base else pkg
    return [f"{base}.{alias.name}" for alias in node.names]  # ``from pkg import module``


def _runtime_imports(tree: ast.AST, here: str, is_pkg: bool, known: set[str]) -> set[str]:
    out: set[str] = set()
    todo: list[ast.AST] = [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and _is_type_checking(node):
            todo.extend(node.orelse)  # the TYPE_CHECKING branch never runs
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found = (_known(name, known) for name in _imported(node, here, is_pkg))
            out.update(m for m in found if m is not None)
        todo.extend(ast.iter_child_nodes(node))
    out.discard(here)
    return out


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    return {name: _runtime_imports(ast.parse(path.read_text()), name,
                                   path.name == "__init__.py", known)
            for name, path in files.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def _parent_packages(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """A package's ``__init__`` runs before any of its modules: importing ``a.b.c`` imports
    ``a`` and ``a.b``; an ``__init__`` that imports its own submodules is no cycle."""
    return {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}


def test_the_import_graph_sees_known_edges() -> None:
    """The graph is real: it finds imports that are known to be there."""
    graph = import_graph()
    assert "supervisor.clock" in graph["supervisor.session.timer"]
    assert "supervisor.control.cli_daemon" in graph["supervisor.control.cli"]
    assert "supervisor.checkpoint.materialize" in graph["supervisor.checkpoint.snapshot"]


def test_no_runtime_import_cycles() -> None:
    """No two modules import each other, directly or through others, at run time."""
    assert cycles(_parent_packages(import_graph())) == []


def test_cycle_finder_finds_a_cycle() -> None:
    """The check can fail: a made-up a -> b -> c -> a is reported."""
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]

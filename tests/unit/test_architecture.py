"""Tiers by folder, enforced: which of our packages may import which, read with `ast`.

- `gateway/` and `storage_node/` never import each other; they share only `proto/` and what
  `coordinator/` exports (and neither imports `tools/` or `tests/`).
- `coordinator/` imports neither `gateway/` nor `storage_node/` nor `tools/`.
- `proto/` imports nothing of ours but `proto/`.
- No import cycles among the modules of `gateway/`, `coordinator/`, `storage_node/`, `proto/`
  and `tools/`, counting every import: at module level, under `if TYPE_CHECKING:`, and inside
  functions, so a cycle cannot be dodged by moving one import into a function. (`tools/cli.py`
  still imports a subcommand's module when it is chosen; such an import counts like any other.)
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = ("gateway", "storage_node", "coordinator", "proto", "tools", "tests")
TIERS = ("gateway", "storage_node", "coordinator", "proto")

# tier -> top-level packages of ours it must not import
FORBIDDEN = {
    "gateway": {"storage_node", "tools", "tests"},
    "storage_node": {"gateway", "tools", "tests"},
    "coordinator": {"gateway", "storage_node", "tools", "tests"},
    "proto": set(OURS) - {"proto"},
}


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the module imported (a package's __init__ when a name is not a submodule)
    line: int
    in_function: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(packages: tuple[str, ...], root: Path = ROOT) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for package in packages
        for path in sorted((root / package).rglob("*.py"))
    }


def _resolve(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module a ``from ... import`` names, ``from . import x`` included."""
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: -(node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(
    module: str, path: Path, known: set[str], ours: tuple[str, ...] = OURS
) -> list[Import]:
    """Every import of a package in ``ours`` in ``path``. ``from pkg import x`` imports the
    submodule ``pkg.x`` when there is one, else ``pkg`` itself; ``known`` are the modules that
    exist."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[Import] = []

    def add(target: str, node: ast.stmt, in_function: bool) -> None:
        if target.split(".")[0] in ours and target != module:
            found.append(Import(module, target, node.lineno, in_function))

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node, in_function)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(node, module, is_package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                add(submodule if submodule in known else base, node, in_function)
        inside = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def _where(edge: Import, modules: dict[str, Path]) -> str:
    where = f"{modules[edge.source].relative_to(ROOT)}:{edge.line}"
    return where + (" (inside a function)" if edge.in_function else "")


def find_cycles(edges: list[Import]) -> list[list[Import]]:
    """One cycle (as its edges) per strongly connected component with more than one module."""
    graph: dict[str, dict[str, Import]] = {}
    for edge in edges:
        graph.setdefault(edge.source, {}).setdefault(edge.target, edge)
        graph.setdefault(edge.target, {})
    # Tarjan's algorithm, iteratively (no recursion limit to worry about).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(component)
    cycles = []
    for component in components:
        members = set(component)
        # Walk from the smallest member, staying inside the component, until a module repeats.
        path = [min(members)]
        while True:
            step = min(t for t in graph[path[-1]] if t in members)
            if step in path:
                path = path[path.index(step) :] + [step]
                break
            path.append(step)
        cycles.append([graph[a][b] for a, b in zip(path, path[1:], strict=False)])
    return cycles


# Checked for cycles: the tiers and tools/ (whose edges the tier rule ignores).
MODULES = find_modules((*TIERS, "tools"))
EDGES = [edge for name, path in MODULES.items() for edge in imports_of(name, path, set(MODULES))]


def test_the_source_tree_is_found():
    # Guards the tests below against passing because they scanned nothing.
    assert {"gateway.app", "storage_node.service", "coordinator.keys", "proto"} <= set(MODULES)
    assert any(e.source == "gateway.s3.tagging" and e.target == "gateway.s3.xml" for e in EDGES)
    assert {"tools.cluster", "tools.cluster_plan", "tools.output"} <= set(MODULES)
    assert any(
        e.source == "tools.cli" and e.target == "tools.cluster" and e.in_function for e in EDGES
    )


@pytest.mark.parametrize("tier", TIERS)
def test_tier_imports_only_what_it_may(tier):
    wrong = [
        f"{_where(edge, MODULES)}: {edge.source} imports {edge.target}"
        for edge in EDGES
        if edge.source.split(".")[0] == tier and edge.target.split(".")[0] in FORBIDDEN[tier]
    ]
    assert not wrong, f"{tier}/ may not import {sorted(FORBIDDEN[tier])}:\n" + "\n".join(wrong)


def test_no_import_cycles():
    cycles = find_cycles(EDGES)
    described = [
        "\n".join(f"  {_where(e, MODULES)}: {e.source} -> {e.target}" for e in cycle)
        for cycle in cycles
    ]
    assert not cycles, "import cycles (split a module or move code to a third):\n" + "\n\n".join(
        described
    )


def test_resolver_and_cycle_finder(tmp_path):
    """The helpers themselves: relative imports of submodules and of names, and a cycle that
    hides in a function."""
    files = {
        "pkg/__init__.py": "from . import a\n",
        "pkg/a.py": "from . import b\nfrom .b import thing\n",
        "pkg/b.py": "thing = 1\ndef later():\n    from pkg.sub import c\n",
        "pkg/sub/__init__.py": "",
        "pkg/sub/c.py": "from .. import a\nfrom ..b import thing\nimport pkg.sub\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    modules = {
        module_name(path, tmp_path): path for path in sorted((tmp_path / "pkg").rglob("*.py"))
    }
    edges = [
        edge
        for name, path in modules.items()
        for edge in imports_of(name, path, set(modules), ("pkg",))
    ]
    assert {(e.source, e.target, e.in_function) for e in edges} == {
        ("pkg", "pkg.a", False),
        ("pkg.a", "pkg.b", False),
        ("pkg.b", "pkg.sub.c", True),
        ("pkg.sub.c", "pkg.a", False),
        ("pkg.sub.c", "pkg.b", False),
        ("pkg.sub.c", "pkg.sub", False),
    }
    (cycle,) = find_cycles(edges)
    assert [(e.source, e.target) for e in cycle] == [
        ("pkg.a", "pkg.b"),
        ("pkg.b", "pkg.sub.c"),
        ("pkg.sub.c", "pkg.a"),
    ]

"""Import layering of the library: no import cycle between modules, and every import goes down the floors.

Every `import` in every module of `xcross_core` counts, including those inside functions and under
`TYPE_CHECKING`. A module may import from its own unit (its folder, or itself for a top-level module)
and from units on lower floors; never from a higher floor, nor from another unit of its own floor, so
that the units of one floor stay independent of each other.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "xcross_core"

#: The floors of `xcross_core`, lowest first. Each names its units: a folder or a top-level module.
FLOORS: tuple[tuple[str, ...], ...] = (
    # The ground floor imports nothing from the rest of the library: the data, statistics, and small
    # helpers for memory, paths and processes.
    ("data", "stats", "memory", "paths", "processes"),
    ("training", "evaluation"),
    ("models",),
    # What jobs use besides models: time estimates (which build models to time them) and the run store.
    ("estimate", "store"),
    ("jobs", "poc"),
    ("cli", "worker"),
)


def module_imports(root: Path, package: str) -> dict[str, set[str]]:
    """Every module of `package` (a folder under `root`) and the modules of `package` it imports.

    `from a.b import c` counts as importing `a.b.c` when that is a module, else `a.b`.
    """
    files = {_module_name(path.relative_to(root)): path for path in sorted((root / package).rglob("*.py"))}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node, name, is_package)
                for alias in node.names:
                    child = f"{base}.{alias.name}"
                    targets.add(child if child in files else base)
        graph[name] = {t for t in targets if t == package or t.startswith(f"{package}.")} - {name}
    return graph


def _module_name(relative: Path) -> str:
    parts = list(relative.with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, module: str, is_package: bool) -> str:
    """The absolute module name that a (possibly relative) `from ... import` names."""
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    here = parts if is_package else parts[:-1]
    base = here[: len(here) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def find_cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import cycles of `graph`: each a sorted list of modules that import each other in a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(cycles)


def layer_problems(graph: Mapping[str, set[str]], package: str, floors: Sequence[Sequence[str]]) -> list[str]:
    """One line per import that goes up a floor or across to another unit of the same floor, and per
    unit that is on no floor."""
    floor_of = {unit: level for level, units in enumerate(floors) for unit in units}
    problems = []
    for module in sorted(graph):
        unit = _unit(module, package)
        if unit is None:
            continue
        if unit not in floor_of:
            problems.append(f"{module}: its unit {unit!r} is on no floor; add it to FLOORS")
            continue
        for target in sorted(graph[module]):
            other = _unit(target, package)
            if other is None or other == unit or other not in floor_of:
                continue
            if floor_of[other] > floor_of[unit]:
                problems.append(
                    f"{module} (floor {floor_of[unit]}) imports {target}, which is higher (floor {floor_of[other]})"
                )
            elif floor_of[other] == floor_of[unit]:
                problems.append(f"{module} imports {target}: {unit} and {other} share floor {floor_of[unit]}")
    return problems


def _unit(module: str, package: str) -> str | None:
    """The folder or top-level module of `package` that `module` belongs to (None: the package itself)."""
    parts = module.split(".")
    return parts[1] if parts[0] == package and len(parts) > 1 else None


def test_library_has_no_import_cycle() -> None:
    cycles = find_cycles(module_imports(ROOT, PACKAGE))
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(cycle) for cycle in cycles)


def test_library_imports_go_down_the_floors() -> None:
    problems = layer_problems(module_imports(ROOT, PACKAGE), PACKAGE, FLOORS)
    assert not problems, "imports against the floors:\n" + "\n".join(problems)


def test_checker_sees_cycles_and_upward_imports(tmp_path: Path) -> None:
    files = {
        "__init__.py": "",
        "low/__init__.py": "",
        # Imports under TYPE_CHECKING and inside functions count.
        "low/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.high.b import B\n",
        "low/c.py": "from . import a\nfrom .a import thing\n",
        "high/__init__.py": "",
        "high/b.py": "def f():\n    from pkg.low import a\n\n\nclass B: ...\n",
    }
    for name, text in files.items():
        (tmp_path / "pkg" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "pkg" / name).write_text(text, encoding="utf-8")
    graph = module_imports(tmp_path, "pkg")
    assert graph["pkg.low.a"] == {"pkg.high.b"}
    assert graph["pkg.low.c"] == {"pkg.low.a"}
    assert graph["pkg.high.b"] == {"pkg.low.a"}
    assert find_cycles(graph) == [["pkg.high.b", "pkg.low.a"]]
    assert find_cycles({**graph, "pkg.low.a": set()}) == []

    upward = layer_problems(graph, "pkg", [("low",), ("high",)])
    assert upward == ["pkg.low.a (floor 0) imports pkg.high.b, which is higher (floor 1)"]
    across = layer_problems(graph, "pkg", [("low", "high")])
    assert len(across) == 2 and all("share floor 0" in line for line in across)
    assert layer_problems(graph, "pkg", [("high",)]) == [
        f"{module}: its unit 'low' is on no floor; add it to FLOORS" for module in ("pkg.low", "pkg.low.a", "pkg.low.c")
    ]

"""The code's structure: no import circle among satbench/ and baselines/ (methods are plug-ins found by name)."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def module_imports() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its text (function-level imports included)."""
    paths = {}
    for path in sorted(REPO.glob("satbench/**/*.py")) + sorted(REPO.glob("baselines/*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        paths[name] = path
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                parts = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
                target = ".".join(parts + ([node.module] if node.module else []))
                targets.add(target)
                targets.update(f"{target}.{alias.name}" for alias in node.names)
        graph[name] = {target for target in targets if target in paths and target != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done, path = set(), []

    def visit(node):
        if node in path:
            return path[path.index(node):] + [node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph[node]):
            cycle = visit(target)
            if cycle:
                return cycle
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        cycle = visit(node)
        if cycle:
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_circle_among_satbench_and_baselines():
    graph = module_imports()
    assert "satbench.methods" in graph and "baselines.digest" in graph and "satbench.sat" in graph
    assert "satbench.methods" in graph["baselines.digest"]  # the parser sees imports (so the test can fail)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    sat_modules = [name for name in graph if name == "satbench.sat" or name.startswith("satbench.sat.")]
    assert len(sat_modules) > 1  # SAT is split into its parts
    for name in sat_modules:  # SAT holds its base by registry name, never by import
        assert not any(target.startswith("baselines") for target in graph[name]), name

"""The code's structure: packages in layers (each imports only from its own layer and those below), and no import
circle among satbench/ and the built-in plug-ins in baselines/ (installed as satbench.baselines; methods are found by
name)."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def module_imports() -> dict[str, set[str]]:
    """Module -> the project modules it imports anywhere in its text (function-level imports included)."""
    paths = {}
    for path in sorted(REPO.glob("satbench/**/*.py")):
        paths[".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")] = path
    for path in sorted(REPO.glob("baselines/*.py")):  # installed as satbench.baselines
        paths[".".join(("satbench", *path.relative_to(REPO).with_suffix("").parts)).removesuffix(".__init__")] = path
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
    assert "satbench.methods" in graph and "satbench.baselines.digest" in graph and "satbench.sat" in graph
    assert "satbench.methods" in graph["satbench.baselines.digest"]  # the parser sees imports (the test can fail)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    sat_modules = [name for name in graph if name == "satbench.sat" or name.startswith("satbench.sat.")]
    assert len(sat_modules) > 1  # SAT is split into its parts
    for name in sat_modules:  # SAT holds its base by registry name, never by import
        assert not any(target.startswith("satbench.baselines") for target in graph[name]), name


# The layers, lowest first: a module may import from its own layer and the layers below, never from above. A module
# not listed belongs to the layer of its package (satbench.report.tables: "report").
LAYERS = (
    ("foundation", ("satbench", "satbench.errors", "satbench.files", "satbench.bounds")),
    # the graph, its parts, the model, halo rows and the communication between workers
    ("core", ("satbench.data", "satbench.partition", "satbench.models", "satbench.history", "satbench.halo",
              "satbench.staleness", "satbench.traffic", "satbench.comm", "satbench.evaluate", "satbench.record",
              "satbench.prepared",
              "satbench.links")),
    # the plug-in interface, the methods, and a run's settings (checked against the registries)
    ("methods", ("satbench.methods", "satbench.baselines", "satbench.sat", "satbench.config")),
    ("trainer", ("satbench.train",)),
    # one process per worker, signals, memory, emulated links: above the trainer it starts
    ("runtime", ("satbench.runtime",)),
    # reads records; never the workflow that planned them
    ("report", ("satbench.report",)),
    ("workflow", ("satbench.workflow",)),
    ("interface", ("satbench.cli", "satbench.__main__", "satbench.docs")),
)


def layer_of(module: str) -> int:
    best = None
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if (module == member or module.startswith(member + ".")) and (best is None or len(member) > best[1]):
                best = (index, len(member))
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best[0]


def test_the_layer_check_sees_an_upward_import():
    assert layer_of("satbench.comm") < layer_of("satbench.train") < layer_of("satbench.runtime.launch")
    assert layer_of("satbench.report.tables") < layer_of("satbench.workflow")
    assert layer_of("satbench.baselines.gas") == layer_of("satbench.methods")


def test_packages_import_only_downward():
    graph = module_imports()
    upward = [f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
              for module, targets in sorted(graph.items()) for target in sorted(targets)
              if layer_of(target) > layer_of(module)]
    assert not upward, "\n".join(upward)
    # named in the design: the report reads what a record says, never the workflow's layout
    assert not any(target == "satbench.workflow" for module, targets in graph.items() if module.startswith(
        "satbench.report") for target in targets)

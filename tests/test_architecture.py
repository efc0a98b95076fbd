"""The package layout: imports point one way (data <- models <- evaluation <- study <- cli),
no module imports another in a cycle (function-level imports included), registries are
explicit, and looking up a model does not import torch."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import ephys2type

PACKAGE = Path(ephys2type.__file__).parent

#: Layer of each top-level part of the package; a module may import only its own layer or
#: lower ones. ``testing`` serves tests and benchmarks and nothing in the package uses it.
LAYERS = {
    "_version": 0,
    "errors": 0,
    "files": 0,
    "figure_style": 0,  # the text style of every figure (data draws the check pages)
    "limits": 0,
    "wording": 0,  # how counts are said (the command line, the app, the summary lines)
    "data": 1,
    "models": 2,
    "evaluation": 3,
    "study": 4,
    "persist": 4,
    "testing": 5,
    "app": 5,  # the browser app: the command line's `app` starts it, so it sits below cli
    "cli": 6,
    "__main__": 7,  # python -m ephys2type: the command line
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    targets = [base]
    # `from pkg import submodule` imports the submodule
    targets += [f"{base}.{a.name}" for a in node.names]
    return targets


def import_graph() -> dict[str, set[str]]:
    """Module -> the ephys2type modules it imports anywhere in its body (not TYPE_CHECKING)."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(), str(path))
        deps: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = _resolve(module, path.name == "__init__.py", node)
            else:
                continue
            deps |= {n for n in names if n in files and n != module}
        graph[module] = deps
    return graph


def _layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2:
        return None  # the package root (public API) may import any layer lazily
    return LAYERS[parts[1]]


def test_every_part_of_the_package_has_a_layer():
    tops = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    tops -= {"__init__", "__pycache__", "resources"}
    assert tops == set(LAYERS)


def test_imports_point_one_way():
    wrong = [
        f"{a} -> {b}"
        for a, deps in import_graph().items()
        for b in deps
        if _layer(a) is not None and _layer(b) is not None and _layer(b) > _layer(a)
    ]
    assert not wrong, "imports against the layer order:\n" + "\n".join(sorted(wrong))


def test_nothing_inside_imports_the_package_root():
    graph = import_graph()
    assert not [m for m, deps in graph.items() if "ephys2type" in deps and m != "ephys2type"]


def test_no_import_cycles():
    graph = import_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_function_level_imports_and_cycles():
    """The graph would catch a cycle hidden in a function body (so the test can fail)."""
    graph = import_graph()
    # study.reproduce imports the report at module level; the report must not import back
    assert "ephys2type.study.report.sections" in graph["ephys2type.study.reproduce"]
    # persist.backends imports torch-using code only inside functions: the graph still sees it
    assert "ephys2type.models.bilstm.estimator" in graph["ephys2type.persist.backends"]
    # the registry builds BiLSTMs through a function-level import
    assert "ephys2type.models.bilstm.estimator" in graph["ephys2type.models.registry"]


#: Lookups that must not import torch (loading a forest, listing models, the package).
TORCH_FREE = [
    "from ephys2type.models.registry import get_model; get_model('rf').build",
    "from ephys2type.models.registry import model_names; model_names()",
    "import ephys2type; ephys2type.load_mouse",
    "from ephys2type.persist.format import load_model",
]


@pytest.mark.slow  # end to end (make test-slow): make test's time
def test_looking_up_models_does_not_import_torch():
    """Each lookup in turn, in one fresh interpreter: torch is absent after every one (as
    long as none imports it, the ones before leave nothing that would hide it; one
    interpreter instead of four saves 6 s of the suite)."""
    steps = "".join(f"{code}; print('torch' in sys.modules); " for code in TORCH_FREE)
    out = subprocess.run(
        [sys.executable, "-c", f"import sys; {steps}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.split() == ["False"] * len(TORCH_FREE)


def test_registry_is_explicit_and_derived_lists_follow_it():
    import importlib

    from ephys2type.models import registry

    names_before = list(registry.MODELS)
    importlib.import_module("ephys2type.models.bilstm.estimator")  # importing registers nothing
    assert list(registry.MODELS) == names_before
    bilstms = registry.model_names("bilstm")
    assert bilstms[0] == "bilstm-smote" and len(bilstms) == 6
    assert set(registry.model_names(savable=True)) == {"rf", "hgb", "logreg", *bilstms}
    with pytest.raises(ValueError, match="already registered"):
        registry.register_model(registry.get_model("rf"))
    # lists are read from the registry when asked: a model registered later is in them
    from dataclasses import replace

    extra = replace(registry.get_model("logreg"), name="logreg-test-extra")
    registry.register_model(extra)
    try:
        assert "logreg-test-extra" in registry.model_names(savable=True)
    finally:
        del registry.MODELS["logreg-test-extra"]


@pytest.mark.parametrize("code", ["import ephys2type", "import ephys2type.cli"])
def test_the_command_line_starts_without_the_heavy_libraries(code):
    """`ephys2type --help` must not wait for pandas, scikit-learn or torch to import."""
    probe = (
        f"import sys; {code}; print(sorted({{'pandas', 'sklearn', 'torch'}} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


def test_the_public_api_loads_lazily():
    names = set(ephys2type.__all__) - {"__version__"}
    assert all(callable(getattr(ephys2type, n)) for n in names)
    assert names <= set(dir(ephys2type))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        ephys2type.nope  # noqa: B018

"""The layers run one way: symbolic -> numerics -> replica (theory) -> empirical -> replica.app.

Every import statement of every package module is read with ``ast`` (nothing is imported),
resolved to the layer it names, and compared with the layer of the importing module.
"""
import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["symbolic", "numerics", "replica", "empirical", "replica.app"]


def layer_of(module: str) -> str | None:
    if module == "replica.app" or module.startswith("replica.app."):
        return "replica.app"
    top = module.split(".")[0]
    return top if top in ORDER else None


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path):
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                yield ".".join(base + ([node.module] if node.module else []))
            else:
                yield node.module


def package_files():
    for top in ("symbolic", "numerics", "replica", "empirical"):
        yield from sorted((ROOT / top).rglob("*.py"))


def test_no_import_runs_back_down_the_layers():
    wrong = []
    for path in package_files():
        own = layer_of(module_name(path))
        for target in imported(path):
            other = layer_of(target or "")
            if other and ORDER.index(other) > ORDER.index(own):
                wrong.append(f"{module_name(path)} ({own}) imports {target} ({other})")
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_arrow(tmp_path):
    # the same resolution applied to a made-up upward import must flag it
    assert ORDER.index(layer_of("replica.app.cli")) > ORDER.index(layer_of("empirical.simulate"))
    assert ORDER.index(layer_of("empirical.flow")) > ORDER.index(layer_of("replica.solver"))
    assert layer_of("numpy") is None

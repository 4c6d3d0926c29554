"""The layers run one way: symbolic -> numerics -> replica -> empirical -> ptft (the shell).

Every import statement of every package module is read with ``ast`` (nothing is imported),
resolved to the package it names, and compared with the package of the importing module.
Deferred imports inside functions count too, so there is no cycle between packages at all.
"""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORDER = ["symbolic", "numerics", "replica", "empirical", "ptft"]


def layer_of(module: str) -> str | None:
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
        elif (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
              == "import_module" and node.args and isinstance(node.args[0], ast.Constant)):
            yield node.args[0].value           # import_module("replica.solver") is an import too


def package_files():
    for top in ORDER:
        yield from sorted((ROOT / top).rglob("*.py"))


def arrows():
    """(importer package, imported package) -> count, over every package module."""
    counts = {}
    for path in package_files():
        own = layer_of(module_name(path))
        for target in imported(path):
            other = layer_of(target or "")
            if other and other != own:
                counts[own, other] = counts.get((own, other), 0) + 1
    return counts


def test_no_import_runs_back_down_the_layers():
    wrong = [f"{a} imports {b} ({n}x)" for (a, b), n in arrows().items() if ORDER.index(b) > ORDER.index(a)]
    assert not wrong, "\n".join(wrong)


def test_the_checker_sees_a_wrong_arrow(tmp_path):
    # a made-up upward import, written to a file and read the same way, must be flagged
    bad = ROOT / "empirical" / "_tmp_wrong_arrow_probe.py"
    bad.write_text("from ptft.cli import main\nimport replica.solver\n")
    try:
        found = arrows()
    finally:
        bad.unlink()
    assert found.get(("empirical", "ptft")) == 1
    assert layer_of("numpy") is None


def test_import_ptft_is_the_front_door_and_stays_light():
    code = ("import sys, ptft; assert callable(ptft.solve) and ptft.Task and ptft.Init; "
            "import ptft.cli; heavy = {'numpy', 'sympy', 'numba', 'torch', 'scipy'} & set(sys.modules); "
            "print(sorted(heavy))")
    lazy = ("import sys, ptft, ptft.cli; print(sorted({'numpy', 'sympy', 'numba', 'torch', 'scipy'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", lazy], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)


if __name__ == "__main__":                   # prints the package-level import graph
    for (a, b), n in sorted(arrows().items(), key=lambda kv: (ORDER.index(kv[0][0]), ORDER.index(kv[0][1]))):
        print(f"{a:10s} -> {b:10s} {n:4d}")

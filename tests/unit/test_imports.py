"""The import graph: no circles, the runtime never imports training code, bench/ and harness/ never import tests/,
and no entry module is used as a library. Every import counts, also those inside functions."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENTRY_MODULES = {"wakeword.cli", "wakeword.__main__", "wakeword.train.__main__"}


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Project modules (wakeword.*, tests.*) that a file imports, resolved to module names."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            for alias in node.names:  # "from . import x" may name a module
                found.add(f"{target}.{alias.name}")
    return {m for m in found if m.split(".")[0] in ("wakeword", "tests", "harness")}


def graph() -> dict[str, set[str]]:
    files = sorted((ROOT / "wakeword").rglob("*.py")) + sorted((ROOT / "bench").glob("*.py")) + sorted((ROOT / "harness").glob("*.py"))
    modules = {module_name(p): p for p in files}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def find_cycle(g: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(g.get(n, ())):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(g):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_the_package_has_no_import_circle():
    g = graph()
    assert len(g) > 30  # the walk found the package
    assert find_cycle(g) is None, " -> ".join(find_cycle(g))


def test_the_cycle_finder_finds_a_planted_circle():
    g = graph()
    g["wakeword.errors"] = g.get("wakeword.errors", set()) | {"wakeword.cli"}
    assert find_cycle(g) is not None


def test_the_runtime_never_imports_training_code_and_bench_never_imports_tests():
    for path in sorted((ROOT / "wakeword").rglob("*.py")):
        if "train" in path.relative_to(ROOT / "wakeword").parts:
            continue
        bad = [m for m in imports_of(path) if m.startswith("wakeword.train")]
        assert not bad, f"{path} imports {bad}"
    for path in sorted((ROOT / "bench").glob("*.py")) + sorted((ROOT / "harness").glob("*.py")):
        bad = [m for m in imports_of(path) if m.startswith("tests")]
        assert not bad, f"{path} imports {bad}"


def test_no_entry_module_is_used_as_a_library():
    for name, deps in graph().items():
        used = sorted(deps & ENTRY_MODULES)
        if name == "wakeword.__main__":
            used = [m for m in used if m != "wakeword.cli"]
        assert not used, f"{name} imports the entry module(s) {used}"

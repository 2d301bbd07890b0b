"""flyer.data has no import cycles, counting imports inside functions (a function-local import
that hides a cycle is still one); only imports under ``if TYPE_CHECKING:`` (annotations) are
left out. Before: calendar <-> health <-> store, and akshare_archive / akshare_source / files /
shenwan / tables (with baostock_source importing a private helper of akshare_source)."""
from __future__ import annotations

import ast
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "data"


def _modules() -> dict[str, Path]:
    out = {}
    for path in DATA.rglob("*.py"):
        parts = ["flyer", "data", *path.relative_to(DATA).with_suffix("").parts]
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(tree: ast.AST, known: set[str]) -> set[str]:
    """Modules of ``known`` imported anywhere in ``tree`` (or named in a string, for
    ``importlib.import_module``) except under ``if TYPE_CHECKING``."""
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
            for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {f"{node.module}.{a.name}" for a in node.names} | {node.module}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.add(node.value)  # a module named in a string is imported by name (importlib)
    return found & known


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_in_flyer_data() -> None:
    mods = _modules()
    packages = {m for m, p in mods.items() if p.name == "__init__.py"}
    edges = {m: _imports(ast.parse(p.read_text(encoding="utf-8")), set(mods)) - packages - {m} for m, p in mods.items()}
    assert _cycles(edges) == []


def test_the_checker_sees_a_function_local_cycle() -> None:
    edges = {"a": {"b"}, "b": {"a"}, "c": set()}
    assert _cycles(edges) == [["a", "b"]]
    local = ast.parse("def f():\n    from flyer.data import x\n")
    assert _imports(local, {"flyer.data.x"}) == {"flyer.data.x"}
    assert _imports(ast.parse('CHECKS = ["flyer.data.x"]'), {"flyer.data.x"}) == {"flyer.data.x"}
    hidden = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from flyer.data import x\n")
    assert _imports(hidden, {"flyer.data.x"}) == set()

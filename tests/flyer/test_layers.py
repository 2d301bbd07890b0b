"""Layers you can see: the import graph of the whole ``flyer`` namespace, function-local imports
and ``if TYPE_CHECKING:`` imports included (a local import that hides a cycle is still a cycle,
and a type that only an upper layer may name is still an upward dependency).

* the foundation ``flyer.core`` imports nothing of flyer but itself;
* each library imports only the layers below it: core < data < factors < models < risk <
  backtest; the application (every other ``flyer.*`` module: CLI, commands, nightly, workflow,
  experiments, demo, compare, tracking) sits on top;
* no module imports itself through others (no cycle of modules).
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"flyer": "flyer", "data": "flyer.data", "factors": "flyer.factors", "models": "flyer.models",
           "backtest": "flyer.backtest", "risk": "flyer.risk"}
LAYERS = ("flyer.core", "flyer.data", "flyer.factors", "flyer.models", "flyer.risk", "flyer.backtest", "app")


def modules() -> dict[str, Path]:
    """Dotted module name -> source file, for every module of the namespace."""
    out = {}
    for folder, pkg in FOLDERS.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = path
    return out


def imports(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the namespace modules it imports (``from pkg import sub`` -> ``pkg.sub``)."""
    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        edges: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = mod.split(".") if path.name == "__init__.py" else mod.split(".")[:-1]
                    base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            else:
                continue
            edges.update(t for t in (resolve(x) for x in targets if x.startswith("flyer")) if t and t != mod)
        graph[mod] = edges
    return graph


def layer(mod: str) -> str:
    return next((p for p in LAYERS[:-1] if mod == p or mod.startswith(p + ".")), "app")


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_module_cycles() -> None:
    found = cycles(imports(modules()))
    assert not found, "import cycles (function-local imports included):\n" + "\n".join(map(str, found))


def test_each_layer_imports_only_below() -> None:
    graph = imports(modules())
    bad = sorted(f"{m} -> {t}" for m, ts in graph.items() for t in ts
                 if LAYERS.index(layer(t)) > LAYERS.index(layer(m)))
    assert not bad, "imports against the layers (core < data < factors < models < risk < backtest < app):\n" + \
        "\n".join(bad)


def test_the_analysis_sees_local_and_relative_imports(tmp_path: Path) -> None:
    """The graph is built from the source, function-local imports included (a check that the
    checker can fail)."""
    graph = imports(modules())
    assert "flyer.backtest.market_cache" in graph["flyer.backtest.market"]        # module level
    assert "flyer.models.blend" in graph["flyer.backtest.session"]                # inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == [["a", "b", "c"]]

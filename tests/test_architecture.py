"""The design, checked from the code's own imports: layers point one way and no module imports
itself in a circle, not even through an import inside a function (they are all counted here).

    cli  ->  render, workflows  ->  the core (pki, store, compose, check, ...)

Only the CLI imports click; the renderers decide nothing and the core prints nothing, so
neither imports the CLI; nothing below the workflows imports them.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import certkit

PACKAGE = Path(__file__).resolve().parent.parent / "certkit"
_PUBLIC: dict[str, str] = certkit._API  # name -> the module that defines it


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, wherever the import stands (top level, function, TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _module_name(path) if path.name == "__init__.py" else _module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from certkit import x`
            if base == "certkit":  # the public API's names load their modules lazily, by string
                found.update(_PUBLIC[alias.name] for alias in node.names if alias.name in _PUBLIC)
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        graph[name] = {m for m in _imports(path) if m in modules and m != name}
        graph[name] |= {"click"} if any(m == "click" or m.startswith("click.") for m in _imports(path)) else set()
    return graph


GRAPH = _graph()


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle, as a list of modules, or None.  A package's __init__ importing its own
    submodules lazily (certkit's public API) is not a circle of the design: left out."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in graph or node == "certkit":
                continue
            if state.get(target) == 1:
                return stack[stack.index(target) :] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _layer(module: str) -> str:
    for layer in ("certkit.cli", "certkit.render", "certkit.workflows"):
        if module == layer or module.startswith(layer + "."):
            return layer
    return "core"


def test_the_graph_is_read() -> None:
    # A parser that found nothing would pass every test below.
    assert "certkit.workflows.renew" in GRAPH["certkit.cli.renew_cmd"]
    assert "click" in GRAPH["certkit.cli"]
    assert len(GRAPH) > 40


def test_no_import_cycle() -> None:
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH) or [])


def test_the_cycle_finder_finds_a_planted_cycle() -> None:
    planted = {name: set(targets) for name, targets in GRAPH.items()}
    planted["certkit.errors"] = planted["certkit.errors"] | {"certkit.cli.renew_cmd"}
    assert _cycle(planted) is not None


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) != "certkit.cli"))
def test_only_the_cli_imports_click_and_nothing_imports_the_cli(module: str) -> None:
    if module in ("certkit.entry", "certkit.__main__"):  # the console entry points start the CLI
        return
    assert "click" not in GRAPH[module]
    assert not any(_layer(target) == "certkit.cli" for target in GRAPH[module])


@pytest.mark.parametrize("module", sorted(m for m in GRAPH if _layer(m) == "core" and m != "certkit"))
def test_the_core_imports_neither_renderers_nor_workflows(module: str) -> None:
    above = sorted(t for t in GRAPH[module] if _layer(t) in ("certkit.render", "certkit.workflows"))
    assert not above, f"{module} imports {above}"


# --------------------------------------------------------------------------- packages

# The packages from the bottom up; a package may import only those before it (and itself).
# "certkit" is the top-level modules: the inputs everything reads.
ORDER = [
    "certkit",
    "certkit.store",
    "certkit.pki",
    "certkit.compose",
    "certkit.engine",  # the Docker engine, read-only: above the files, below the checks that judge what runs
    "certkit.check",
    "certkit.deploy",
    "certkit.workflows",
    "certkit.render",
    "certkit.cli",
]


def _package(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 or (len(parts) == 2 and ".".join(parts) in ORDER) else "certkit"


def test_every_module_is_in_a_known_package() -> None:
    assert {_package(m) for m in GRAPH} <= set(ORDER)


@pytest.mark.parametrize(
    "module", sorted(m for m in GRAPH if m not in ("certkit", "certkit.entry", "certkit.__main__"))
)
def test_packages_import_only_the_packages_below_them(module: str) -> None:
    own = ORDER.index(_package(module))
    above = sorted(t for t in GRAPH[module] if t != "click" and t != "certkit" and ORDER.index(_package(t)) > own)
    assert not above, f"{module} ({_package(module)}) imports {above}, which sit above it"


def test_an_import_of_a_public_name_counts_as_an_import_of_its_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `from certkit import run_renew` in a core module depends on the workflows, though the
    # package loads the name lazily: the graph must see it.
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "certkit")
    (tmp_path / "certkit").mkdir()
    module = tmp_path / "certkit" / "probe.py"
    module.write_text("from certkit import run_renew, Profile\n", encoding="utf-8")
    found = _imports(module)
    assert "certkit.workflows.renew" in found and "certkit.profile" in found

"""The import rules of the layout, checked by parsing every module's imports (no third-party tool).

Every import counts: module level, inside functions, and type-only ones under ``TYPE_CHECKING``. An
import of ``a.b.c`` also depends on the packages ``a`` and ``a.b`` (their ``__init__`` runs first),
so a submodule importing its own package's ``__init__`` is an edge like any other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.fixtures.runtime import REPO_ROOT

PACKAGES = ("producer", "streaming")

# Which of our modules each layer may import (prefix match on dotted names).
CONTRACT = ("producer.config", "producer.errors", "producer.datadir", "producer.generation")
ALLOWED: dict[str, tuple[str, ...]] = {
    "producer.generation": CONTRACT,
    "producer.datadir": ("producer.errors", "producer.generation.shard"),
    "producer.errors": (),
    "producer.config": (
        "producer.errors",
        "producer.generation.clock",
        "producer.generation.fault_settings",
        "producer.generation.scenarios",
    ),
    "producer.kafka": CONTRACT + ("producer.kafka",),
    "producer.engine": CONTRACT + ("producer.kafka", "producer.engine"),
    "producer.sidecar": CONTRACT + ("producer.kafka", "producer.engine", "producer.sidecar"),
    "producer.stack": CONTRACT + ("producer.stack",),
    "streaming": CONTRACT + ("producer.kafka.client", "producer.stack.jvm", "streaming"),
    "producer.wizard": CONTRACT,
    "producer.cli": ("producer", "streaming"),
}
# Libraries with I/O that the pure generation core must never import.
IO_LIBRARIES = ("aiokafka", "fastapi", "starlette", "uvicorn", "pyspark", "delta", "httpx", "socket",
                "subprocess", "asyncio", "urllib.request")  # fmt: skip


@dataclass(frozen=True)
class Import:
    """One import statement's target, as written in ``module`` at ``line``."""

    module: str
    target: str
    line: int


def module_name(path: Path, root: Path) -> str:
    """``producer/engine/engine.py`` → ``producer.engine.engine``; ``__init__.py`` → its package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def read_sources(root: Path = REPO_ROOT) -> dict[str, str]:
    """Module name → source text of every module of our packages."""
    return {
        module_name(path, root): path.read_text(encoding="utf-8")
        for package in PACKAGES
        for path in sorted((root / package).rglob("*.py"))
    }


def imports_of(module: str, source: str, is_package: bool, known: Iterable[str]) -> list[Import]:
    """Every import in ``source`` (any depth, any guard), resolved to absolute dotted names."""
    known = set(known)
    found: list[Import] = []
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(Import(module, alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.append(Import(module, base, node.lineno))
            for alias in node.names:
                if f"{base}.{alias.name}" in known:
                    found.append(Import(module, f"{base}.{alias.name}", node.lineno))
    return found


def dependency_graph(sources: Mapping[str, str]) -> dict[str, set[str]]:
    """Module → the modules of ours it depends on (targets and every package above them)."""
    packages = {name for name in sources for other in sources if other.startswith(name + ".")}
    graph: dict[str, set[str]] = {name: set() for name in sources}
    for name, source in sources.items():
        for found in imports_of(name, source, name in packages, sources):
            parts = found.target.split(".")
            for depth in range(1, len(parts) + 1):
                target = ".".join(parts[:depth])
                if target in sources and target != name:
                    graph[name].add(target)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(node: str) -> None:
        nonlocal counter
        index[node] = low[node] = counter
        counter += 1
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> str | None:
    matches = [layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")]
    return max(matches, key=len) if matches else None


def _within(target: str, prefixes: Iterable[str]) -> bool:
    return any(target == prefix or target.startswith(prefix + ".") for prefix in prefixes)


def forbidden_imports(sources: Mapping[str, str]) -> list[str]:
    """Every import that breaks a layer rule, as ``module:line imports target (rule)``."""
    problems = []
    packages = {name for name in sources for other in sources if other.startswith(name + ".")}
    for name, source in sorted(sources.items()):
        layer = _layer(name)
        for found in imports_of(name, source, name in packages, sources):
            target = found.target
            where = f"{name}:{found.line} imports {target}"
            if layer == "producer.generation" and _within(target, IO_LIBRARIES):
                problems.append(f"{where} (generation does no I/O)")
            ours = target.split(".")[0] in PACKAGES
            if not ours or target in ("producer",) or layer is None:
                continue
            if target.startswith("streaming") and not name.startswith("streaming") and name != "producer.cli":
                problems.append(f"{where} (only producer.cli, the composition root, imports streaming)")
            elif not _within(target, ALLOWED[layer]) and not _within(target, (layer,)):
                problems.append(f"{where} ({layer} may import only {', '.join(ALLOWED[layer]) or 'nothing'})")
    return problems


def test_every_module_is_covered_by_a_layer() -> None:
    uncovered = [name for name in read_sources() if _layer(name) is None and name not in PACKAGES]
    assert uncovered == []


def test_no_import_circles_counting_type_only_and_package_imports() -> None:
    assert cycles(dependency_graph(read_sources())) == []


def test_no_upward_or_forbidden_imports() -> None:
    assert forbidden_imports(read_sources()) == []


def test_a_deliberately_added_circle_is_caught() -> None:
    sources = read_sources()
    assert cycles(dependency_graph(sources)) == []
    # A type-only import of the engine from the run modes' publisher closes engine → … → engine.
    sources["producer.engine.publisher"] += (
        "\nfrom typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from producer.engine.engine import Engine\n"
    )
    assert any("producer.engine.engine" in component for component in cycles(dependency_graph(sources)))


def test_a_submodule_importing_its_package_init_is_a_dependency() -> None:
    sources = read_sources()
    sources["producer.sidecar"] += "\nfrom producer.sidecar.app import create_app\n"
    # app imports producer.sidecar.routes, which depends on producer.sidecar (its __init__) → circle.
    assert any("producer.sidecar" in component for component in cycles(dependency_graph(sources)))


def test_forbidden_imports_are_caught() -> None:
    sources = read_sources()
    sources["producer.generation.clock"] += "\nimport aiokafka\n"
    sources["producer.generation.clock"] += "from producer.engine.state import StateStore\n"
    sources["streaming.job"] += "\nfrom producer.sidecar.app import create_app\n"
    sources["producer.engine.engine"] += "\nfrom streaming.job import Pipeline\n"
    sources["producer.config"] += "\nfrom streaming.session import SparkSettings\n"
    problems = "\n".join(forbidden_imports(sources))
    assert "producer.generation.clock" in problems and "aiokafka (generation does no I/O)" in problems
    assert "imports producer.engine.state (producer.generation may import only" in problems
    assert "streaming.job" in problems and "imports producer.sidecar.app" in problems
    assert "producer.engine.engine" in problems and "only producer.cli" in problems
    assert "producer.config" in problems and "imports streaming.session" in problems

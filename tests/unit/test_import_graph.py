"""The packages' import graphs: no circles, and the client never imports the server."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "tickwire": ROOT / "clients/python/tickwire",
    "tickwire_server": ROOT / "server/tickwire_server",
}


def module_name(package: str, path: Path, folder: Path) -> str:
    parts = [package, *path.relative_to(folder).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str) -> dict[str, set[str]]:
    """{module: modules of either package it imports}, TYPE_CHECKING imports included.

    `from pkg import sub` is an edge to the module `pkg.sub` when there is
    one, else to `pkg`. Generated code (tickwire.v1) is a leaf and left out.
    """
    folder = PACKAGES[package]
    paths = {
        module_name(package, path, folder): path
        for path in sorted(folder.rglob("*.py"))
        if "v1" not in path.relative_to(folder).parts
    }
    graph: dict[str, set[str]] = {}
    for name, path in paths.items():
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    targets.add(sub if sub in paths else node.module)
            elif isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
        graph[name] = {
            t
            for t in targets
            if t.split(".")[0] in PACKAGES and not t.startswith("tickwire.v1") and t != name
        }
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import circle found by a depth-first walk (each reported once per entry)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                found.append([*path[path.index(target) :], target])
            elif target in graph and target not in state:
                walk(target, [*path, target])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node, [node])
    return found


@pytest.mark.parametrize("package", list(PACKAGES))
def test_no_module_imports_itself_back_through_others(package: str) -> None:
    assert cycles(import_graph(package)) == []


def test_the_client_imports_nothing_of_the_server() -> None:
    graph = import_graph("tickwire")
    reaching = {m: {t for t in ts if t.startswith("tickwire_server")} for m, ts in graph.items()}
    assert {m: ts for m, ts in reaching.items() if ts} == {}


def test_the_client_pieces_do_not_know_the_client() -> None:
    graph = import_graph("tickwire")
    for piece in ("tickwire._subscription", "tickwire._stream", "tickwire._inbox"):
        assert "tickwire._client" not in graph[piece], piece

"""The engine's rooms (engine/<subpackage>/) import each other one way only, and modules stay small.

Two rooms importing each other cannot be understood, tested or changed apart: config must not know
the ACD that reads it, flows must not know the speech that feeds it. Top-level modules (app.py,
cli.py, settings.py, ...) are the wiring and the shared basics, not rooms: imports of them are fine.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ENGINE = Path(__file__).resolve().parents[2] / "engine"
MAX_LINES = 600
TOO_LONG_FOR_NOW: frozenset[str] = frozenset()
"""Modules allowed over MAX_LINES while they are being split (paths like engine/acd/x.py); keep it empty."""


def _room(module: str) -> str | None:
    """`engine.acd.router` -> `acd`; None for top-level modules such as engine.settings."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != "engine":
        return None
    return parts[1] if (ENGINE / parts[1]).is_dir() else None


def _module_name(path: Path) -> str:
    relative = path.relative_to(ENGINE.parent).with_suffix("")
    parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
    return ".".join(parts)


def _imported(tree: ast.Module, importer: str, is_package: bool) -> set[str]:
    """Every engine module named by an import anywhere in the file (lazy imports in functions too)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = importer.split(".")[: len(importer.split(".")) - node.level + (1 if is_package else 0)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:  # `from engine.acd import router` names a module; `from engine.acd.router import Offer` does not
                names.add(f"{module}.{alias.name}" if _is_module(f"{module}.{alias.name}") else module)
    return {name for name in names if name.split(".")[0] == "engine"}


def _is_module(name: str) -> bool:
    path = ENGINE.parent.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def room_imports() -> dict[tuple[str, str], set[tuple[str, str]]]:
    """(importing room, imported room) -> the (importer, imported) module pairs behind that edge."""
    edges: dict[tuple[str, str], set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(ENGINE.rglob("*.py")):
        importer = _module_name(path)
        source = _room(importer)
        if source is None:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for imported in _imported(tree, importer, path.name == "__init__.py"):
            target = _room(imported)
            if target is not None and target != source:
                edges[(source, target)].add((importer, imported))
    return edges


def test_no_two_rooms_import_each_other() -> None:
    edges = room_imports()
    mutual = []
    for (source, target), uses in sorted(edges.items()):
        back = edges.get((target, source))
        if back and source < target:
            there, back_again = min(uses), min(back)
            mutual.append(f"{source} <-> {target}: {there[0]} imports {there[1]}, and {back_again[0]} imports {back_again[1]}")
    assert not mutual, "rooms importing each other (move the shared part to a room both may import):\n" + "\n".join(mutual)


def test_no_module_is_over_the_line_limit() -> None:
    too_long = []
    for path in sorted(ENGINE.rglob("*.py")):
        name = path.relative_to(ENGINE.parent).as_posix()
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and name not in TOO_LONG_FOR_NOW:
            too_long.append(f"{name}: {lines} lines")
    assert not too_long, f"modules over {MAX_LINES} lines (split them by job):\n" + "\n".join(too_long)


def test_the_allow_list_names_only_modules_that_are_still_too_long() -> None:
    stale = [name for name in sorted(TOO_LONG_FOR_NOW) if not (ENGINE.parent / name).exists()
             or len((ENGINE.parent / name).read_text(encoding="utf-8").splitlines()) <= MAX_LINES]
    assert not stale, f"remove from TOO_LONG_FOR_NOW (now short enough or gone): {', '.join(stale)}"

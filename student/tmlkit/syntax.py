"""Checks on the submitted code itself, read from its syntax tree (never run).

    forbidden_uses(cells, ("torch.nn", "torch.optim"))

finds every import or use of a forbidden module or function in the extracted definitions
``cells`` (``(cell number, source)`` pairs, as the ``submission_cells`` fixture gives them),
whatever alias it was imported under: ``import torch.nn.functional as F`` then ``F.relu(x)``,
``from torch import nn`` then ``nn.Linear``, or ``torch.nn.functional.relu(x)`` spelled out.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from collections.abc import Iterable


@dataclass(frozen=True)
class Use:
    cell: int
    line: int
    name: str          # the fully resolved dotted name, e.g. "torch.nn.functional.relu"
    kind: str          # "import" or "use"

    def __str__(self) -> str:
        verb = "imports" if self.kind == "import" else "uses"
        return f"cell {self.cell}, line {self.line} {verb} {self.name}"


def _matches(name: str, forbidden: Iterable[str]) -> bool:
    return any(name == f or name.startswith(f + ".") for f in forbidden)


def _parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except SyntaxError:
        return None


def _aliases(trees: list[ast.Module]) -> dict[str, str]:
    """Local name -> dotted module path, from every import anywhere in the code."""
    names: dict[str, str] = {}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        names[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        names.setdefault(top, top)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    if alias.name != "*":
                        names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


class _Finder(ast.NodeVisitor):
    def __init__(self, cell: int, aliases: dict[str, str], forbidden: tuple[str, ...]):
        self.cell, self.aliases, self.forbidden = cell, aliases, forbidden
        self.found: list[Use] = []

    def _report(self, node: ast.AST, name: str, kind: str) -> None:
        if _matches(name, self.forbidden):
            self.found.append(Use(self.cell, node.lineno, name, kind))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._report(node, alias.name, "import")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and not node.level:
            for alias in node.names:
                self._report(node, f"{node.module}.{alias.name}" if alias.name != "*"
                             else node.module, "import")

    def _resolve(self, node: ast.AST) -> None:
        parts = _dotted(node)
        if parts and parts[0] in self.aliases:
            self._report(node, ".".join([self.aliases[parts[0]]] + parts[1:]), "use")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _dotted(node) is not None:
            self._resolve(node)          # the whole chain at once; its parts are not re-reported
        else:
            self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        self._resolve(node)


def forbidden_uses(cells: Iterable[tuple[int, str]], forbidden: Iterable[str]) -> list[Use]:
    """Every import or use of a name in ``forbidden`` (dotted prefixes), cell by cell."""
    forbidden = tuple(forbidden)
    parsed = [(index, _parse(source)) for index, source in cells]
    trees = [tree for _, tree in parsed if tree is not None]
    aliases = _aliases(trees)
    found: list[Use] = []
    for index, tree in parsed:
        if tree is None:
            continue
        finder = _Finder(index, aliases, forbidden)
        finder.visit(tree)
        found.extend(finder.found)
    unique = {(use.cell, use.line, use.name, use.kind): use for use in found}
    return sorted(unique.values(), key=lambda use: (use.cell, use.line, use.name))


def _is_stub(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    body = list(function.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        body = body[1:]                                   # the docstring
    if len(body) != 1 or not isinstance(body[0], ast.Raise) or body[0].exc is None:
        return False
    exc = body[0].exc
    exc = exc.func if isinstance(exc, ast.Call) else exc
    return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"


def unimplemented(cells: Iterable[tuple[int, str]], names: Iterable[str]) -> list[str]:
    """Those of ``names`` that are missing or whose last definition only raises
    NotImplementedError: for a check on the code itself, which a blank stub must not pass."""
    last: dict[str, bool] = {}
    for _, source in cells:
        tree = _parse(source)
        if tree is None:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                last[node.name] = _is_stub(node)
    return [name for name in names if last.get(name, True)]

"""Read a submitted notebook and extract the definitions the grader runs.

The grader never runs a notebook top to bottom. From each code cell it keeps imports, function and
class definitions and constant assignments; training loops, plots, downloads and ``!``/``%`` lines
are dropped. Each cell is kept apart, so a syntax error costs only that cell's definitions.
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

MAX_NOTEBOOK_BYTES = 50 * 1024 * 1024
_MAGIC = re.compile(r"^(\s*)[!%].*$")
_CONSTANT_NAME = re.compile(r"^_?[A-Z][A-Z0-9_]*$")


class NotebookError(ValueError):
    """The file cannot be read as a notebook at all; the message is meant for the student."""


@dataclass
class CellSource:
    """The definitions kept from one code cell."""
    index: int                 # position among the notebook's cells, counted from 1
    source: str                # valid Python holding only the kept statements
    defines: list[str] = field(default_factory=list)


@dataclass
class Extraction:
    cells: list[CellSource]
    problems: list[str]        # cells we could not use, in words a student can act on

    def defined_names(self) -> set[str]:
        return {name for cell in self.cells for name in cell.defines}


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Load and validate an .ipynb file, refusing files that are too large to be a notebook."""
    path = Path(path)
    if not path.is_file():
        raise NotebookError(f"No notebook found at {path}.")
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:
        raise NotebookError(
            f"The notebook is {size / 2**20:.0f} MB, over the {MAX_NOTEBOOK_BYTES / 2**20:.0f} MB "
            "limit. Clear the outputs (Edit > Clear all outputs) and submit again.")
    try:
        text = path.read_bytes().decode("utf-8")
        raw = json.loads(text)
    except UnicodeDecodeError:
        raise NotebookError("The notebook is not UTF-8 text. Re-save it from Jupyter or Colab.") from None
    except RecursionError:
        raise NotebookError("The file is not valid notebook JSON (it is nested too deeply).") from None
    except json.JSONDecodeError as error:
        raise NotebookError(f"The file is not valid notebook JSON ({error}). Did you submit the "
                            ".ipynb file itself, downloaded from Jupyter or Colab?") from None
    if not isinstance(raw, dict) or "cells" not in raw and "worksheets" not in raw:
        raise NotebookError("The file is JSON but not a Jupyter notebook (it has no cells).")
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as error:
        raise NotebookError(f"The notebook could not be read ({type(error).__name__}: {error}).") from None
    if not isinstance(nb.get("cells"), list) or not all(isinstance(c, dict) for c in nb.cells):
        raise NotebookError("The notebook's cells are malformed. Re-save it from Jupyter or Colab.")
    return nb


def _without_magics(source: str) -> str:
    # `!pip ...` and `%matplotlib` are IPython, not Python; `pass` keeps any enclosing block valid.
    return "\n".join(_MAGIC.sub(r"\1pass", line) for line in source.splitlines())


def _is_constant(node: ast.stmt) -> bool:
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        targets = [node.target]
    else:
        return False
    names = [t for target in targets for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
    if not all(isinstance(name, ast.Name) for name in names):
        return False
    if all(_CONSTANT_NAME.match(name.id) for name in names):
        return True
    try:
        ast.literal_eval(node.value)
        return True
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _is_definition(node: ast.stmt) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef,
                         ast.ClassDef)):
        return True
    if isinstance(node, ast.Try):  # `try: import x / except ImportError: ...`
        return all(_is_definition(n) or isinstance(n, ast.Pass) for n in node.body)
    if isinstance(node, ast.If):   # `if USE_GPU:` / `if sys.version_info >= (3, 10):` around defs
        return (_is_simple_condition(node.test) and
                all(_is_definition(n) or isinstance(n, ast.Pass) for n in node.body + node.orelse))
    return _is_constant(node)


_COMPUTING = (ast.Call, ast.Lambda, ast.NamedExpr, ast.ListComp, ast.SetComp, ast.DictComp,
              ast.GeneratorExp, ast.Await, ast.Yield, ast.YieldFrom, ast.Subscript, ast.BinOp)


def _is_simple_condition(test: ast.expr) -> bool:
    """Names, attributes, constants and comparisons only: evaluating it does no work."""
    return not any(isinstance(n, _COMPUTING) for n in ast.walk(test))


_BLOCK_WORDS = {ast.If: "if", ast.For: "for", ast.While: "while", ast.With: "with", ast.Try: "try"}


def _hidden_definitions(node: ast.stmt) -> list[str]:
    """Functions and classes inside a compound statement the grader does not run."""
    if not isinstance(node, tuple(_BLOCK_WORDS)):
        return []
    return [n.name for n in ast.walk(node)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]


def _names_defined(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    if isinstance(node, ast.Try):
        return [name for n in node.body for name in _names_defined(n)]
    if isinstance(node, ast.If):
        return [name for n in node.body + node.orelse if not isinstance(n, ast.Pass)
                for name in _names_defined(n)]
    if isinstance(node, ast.Pass):
        return []
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return [t.id for target in targets
            for t in (target.elts if isinstance(target, ast.Tuple) else [target])]


def extract_cell(index: int, source: str) -> tuple[CellSource | None, str | None]:
    """The definitions of one code cell, or the reason the cell cannot be used."""
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError as error:
        return None, (f"Cell {index} has a {type(error).__name__} on line {error.lineno}: "
                      f"{error.msg}. Its definitions were skipped.")
    except (RecursionError, MemoryError, ValueError) as error:
        return None, (f"Cell {index} could not be parsed ({type(error).__name__}: it is nested too "
                      "deeply or holds a null byte). Its definitions were skipped.")
    kept = [node for node in tree.body if _is_definition(node)]
    hidden = [(node, name) for node in tree.body if node not in kept
              for name in _hidden_definitions(node)]
    problem = "\n".join(
        f"Cell {index}, line {node.lineno}: `{name}` is defined inside a `{_BLOCK_WORDS[type(node)]}` "
        "block, which the grader does not run (it keeps imports, functions, classes and constants at "
        "the top level of a cell, and `if` blocks with a simple condition holding only those). "
        "Move the definition to the top level of the cell." for node, name in hidden) or None
    if not kept:
        return None, problem
    return CellSource(index, _blank_out_dropped(source.splitlines(), tree.body, kept),
                      [name for node in kept for name in _names_defined(node)]), problem


def _line_span(node: ast.stmt) -> range:
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
    return range(first, node.end_lineno + 1)


def _blank_out_dropped(lines: list[str], body: list[ast.stmt], kept: list[ast.stmt]) -> str:
    # Blank lines in place of dropped statements keep line numbers, so tracebacks point at the
    # student's own lines. Statements sharing a line (`a = 1; train()`) need a rewrite instead.
    kept_lines = {n for node in kept for n in _line_span(node)}
    dropped_lines = {n for node in body if node not in kept for n in _line_span(node)}
    if kept_lines & dropped_lines:
        return ast.unparse(ast.Module(body=kept, type_ignores=[]))
    return "\n".join("" if n in dropped_lines else _MAGIC.sub(r"\1pass", line)
                     for n, line in enumerate(lines, start=1))


@dataclass(frozen=True)
class FunctionSpan:
    """Where a top-level function is defined: lines ``first`` to ``last`` of one code cell."""
    cell: int                  # position in ``nb.cells``, counted from 0
    first: int                 # first line in the cell, counted from 1, decorators included
    last: int                  # last line

    def source(self, nb: nbformat.NotebookNode) -> str:
        """The function's text, decorators included."""
        return "\n".join(nb.cells[self.cell].source.splitlines()[self.first - 1:self.last])

    def replace(self, nb: nbformat.NotebookNode, new_source: str) -> None:
        """Put ``new_source`` in the function's place, in ``nb`` itself; the rest of the cell stays."""
        cell = nb.cells[self.cell]
        lines = cell.source.splitlines()
        cell.source = "\n".join(lines[:self.first - 1] + new_source.strip("\n").splitlines()
                                + lines[self.last:])


def find_function(nb: nbformat.NotebookNode, name: str) -> FunctionSpan:
    """The first top-level function ``name`` among the code cells, read as the grader reads them
    (``!``/``%`` lines ignored; a cell that does not parse is passed over). The tests use it to
    take a function from one notebook and put another in its place.

    Raises ``LookupError`` when no cell defines it at the top level.
    """
    for position, cell in enumerate(nb.cells):
        source = cell.get("source", "")
        if cell.get("cell_type") != "code" or not isinstance(source, str) or name not in source:
            continue
        try:
            tree = ast.parse(_without_magics(source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
                span = _line_span(node)
                return FunctionSpan(position, span.start, span.stop - 1)
    raise LookupError(f"no top-level function {name!r} in the notebook")


def extract_definitions(nb: nbformat.NotebookNode) -> Extraction:
    cells, problems = [], []
    for index, cell in enumerate(nb.cells, start=1):
        if cell.get("cell_type") != "code":
            continue
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(line, str) for line in source):
            source = "".join(source)
        if not isinstance(source, str):
            problems.append(f"Cell {index} has no readable source. It was skipped.")
            continue
        kept, problem = extract_cell(index, source)
        if kept is not None:
            cells.append(kept)
        if problem is not None:
            problems.append(problem)
    return Extraction(cells, problems)

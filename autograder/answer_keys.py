"""Each exercise's answer key, kept in its solution notebook, and a search for it in what students see.

An author records what an exercise asks for in the metadata of the cell that holds the answer (a
``written`` answer or a ``solution`` code cell)::

    "answer_key": {"formulas": ["(α + y, β + N − y)"], "values": [0.8660254037844386]}

``formulas`` are spellings of a formula, an expression or a piece of an algorithm the exercise
asks for, as a message or a notebook could write it (unicode, LaTeX or Python: see ``canonical``);
``values`` are numbers it asks for (a hand computation's results). ``normalize`` keeps the field,
``release`` removes it, and ``tests/test_leaks.py`` fails when any key shows up in the student tree
or in a message of a public check.

``leaks(text, key)`` finds them: a formula matches when its canonical form is part of the
text's; a value matches a number written with at least ``SIGNIFICANT`` significant digits that
rounds to it, or (in Python code) a constant expression that evaluates to it, as
``math.sqrt(3) / 2``.
"""
from __future__ import annotations

import ast
import json
import math
import re
from dataclasses import dataclass, field

import nbformat

FIELD = "answer_key"
SIGNIFICANT = 4              # numbers written with fewer digits (0.5, 1.42) are too common to judge


@dataclass(frozen=True)
class AnswerKey:
    """The formulas and values of one exercise: the cell ``where`` of a solution notebook."""
    where: str
    formulas: tuple[str, ...] = ()
    values: tuple[float, ...] = ()
    canonical_formulas: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "canonical_formulas", tuple(map(canonical, self.formulas)))


class AnswerKeyError(ValueError):
    """A cell's ``answer_key`` metadata is not of the documented form."""


def validate(key: object, where: str) -> None:
    if not isinstance(key, dict) or not set(key) <= {"formulas", "values"}:
        raise AnswerKeyError(f"{where}: {FIELD} is a dict with `formulas` and/or `values`")
    formulas, values = key.get("formulas", []), key.get("values", [])
    if not isinstance(formulas, list) or not all(isinstance(f, str) and canonical(f)
                                                 for f in formulas):
        raise AnswerKeyError(f"{where}: {FIELD}.formulas is a list of non-empty strings")
    if not isinstance(values, list) or not all(isinstance(v, (int, float)) and
                                               not isinstance(v, bool) for v in values):
        raise AnswerKeyError(f"{where}: {FIELD}.values is a list of numbers")


def keys_of(nb: nbformat.NotebookNode) -> list[AnswerKey]:
    """The answer keys recorded in a solution notebook, one per cell that has one."""
    found = []
    for cell in nb.cells:
        key = cell.metadata.get(FIELD)
        if key is not None:
            where = f"cell {cell.get('id')!r}"
            validate(key, where)
            found.append(AnswerKey(where, tuple(key.get("formulas", [])),
                                   tuple(float(v) for v in key.get("values", []))))
    return found


# Canonical form: one spelling for what unicode, LaTeX and Python write differently.
_DROPPED_LATEX = (r"\left", r"\right", r"\bigg", r"\big", r"\mathbf", r"\mathrm", r"\operatorname",
                  r"\qquad", r"\quad", r"\,", r"\;", r"\!", r"\ ")
_DROPPED = re.compile(r"[\s{}$*@·⋅\\`]")
_SPELLINGS = (("−", "-"), ("–", "-"), ("lambda", "λ"), ("alpha", "α"), ("beta", "β"),
              ("delta", "δ"), ("theta", "θ"), ("sigma", "σ"), ("y_hat", "ŷ"), ("haty", "ŷ"),
              ("^top", "ᵀ"), ("^t", "ᵀ"), (".t", "ᵀ"), ("^-1", "⁻¹"), ("lam", "λ"))


def canonical(text: str) -> str:
    """Lower case, no spaces, ``*``, ``@``, braces or backslashes; Greek letters, transposes,
    inverses and minus signs spelt one way: ``2 * (alpha - 1)`` and ``2(α − 1)`` agree."""
    text = text.lower()
    for latex in _DROPPED_LATEX:
        text = text.replace(latex, "")
    text = _DROPPED.sub("", text)
    for spelling, canonical_spelling in _SPELLINGS:
        text = text.replace(spelling, canonical_spelling)
    return text


_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:e[-+]?\d+)?", re.I)


def _written_numbers(text: str) -> list[tuple[str, float, float]]:
    """(token, value, half a unit in its last digit) of each number with enough digits."""
    found = []
    for token in _NUMBER.findall(text.replace("−", "-")):
        mantissa = re.split(r"[eE]", token)[0].lstrip("+-")
        digits = mantissa.replace(".", "").lstrip("0")
        if len(digits) < SIGNIFICANT:
            continue
        value = float(token)
        if not math.isfinite(value):       # a hex digest such as a recording's "2336e46056338"
            continue
        decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
        exponent = int(re.split(r"[eE]", token)[1]) if re.search(r"[eE]", token) else 0
        found.append((token, value, 0.5 * 10.0 ** (exponent - decimals)))
    return found


_FUNCTIONS = {name: getattr(math, name) for name in ("sqrt", "log", "exp", "sin", "cos", "tan")}
_CONSTANTS = {"pi": math.pi, "e": math.e}


class _NotConstant(Exception):
    pass


def _evaluate(node: ast.expr, names: dict[str, float]) -> float:
    """The value of a constant arithmetic expression (numbers, named constants, math functions)."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return float(node.value)
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
            node.value.id in ("math", "np", "numpy") and node.attr in _CONSTANTS:
        return _CONSTANTS[node.attr]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand, names)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)):
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        try:
            return {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right,
                    ast.Div: left / right if right else math.nan}[type(node.op)]
        except OverflowError:
            raise _NotConstant from None
    if isinstance(node, ast.Call) and len(node.args) == 1 and not node.keywords and \
            isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name) and \
            node.func.value.id in ("math", "np", "numpy") and node.func.attr in _FUNCTIONS:
        try:
            return _FUNCTIONS[node.func.attr](_evaluate(node.args[0], names))
        except (ValueError, OverflowError):
            raise _NotConstant from None
    raise _NotConstant


def constant_values(source: str) -> list[tuple[str, float]]:
    """(expression, value) of every constant arithmetic expression in Python ``source``, with the
    names bound once to a constant (``x1, e = math.pi / 6, math.e``) substituted."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    bindings: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs = [(target, node.value)]
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple) and \
                        len(target.elts) == len(node.value.elts):
                    pairs = list(zip(target.elts, node.value.elts))
                for name, value in pairs:
                    if isinstance(name, ast.Name):
                        bindings.setdefault(name.id, []).append(value)
    names: dict[str, float] = {}
    for _ in range(3):               # names bound to expressions of other names
        for name, values in bindings.items():
            if len(values) == 1 and name not in names:
                try:
                    names[name] = _evaluate(values[0], names)
                except _NotConstant:
                    pass
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Attribute, ast.Name)):
            try:
                found.append((ast.unparse(node), _evaluate(node, names)))
            except _NotConstant:
                pass
    return found


def leaks(text: str, key: AnswerKey, python: bool = False) -> list[str]:
    """What of ``key`` appears in ``text`` (``python``: also evaluate its constant expressions)."""
    found = []
    text_canonical = canonical(text)
    found += [f"formula {formula!r}" for formula, spelling in zip(key.formulas, key.canonical_formulas)
              if spelling in text_canonical]
    for token, value, half_unit in _written_numbers(text):
        found += [f"value {answer:.12g} (written {token})" for answer in key.values
                  if abs(value - answer) <= half_unit * (1 + 1e-9)]
    if python:
        for expression, value in constant_values(text):
            found += [f"value {answer:.12g} (as `{expression}`)" for answer in key.values
                      if math.isclose(value, answer, rel_tol=1e-9, abs_tol=1e-12)
                      and len(f"{abs(answer):.15g}".replace(".", "").strip("0")) >= SIGNIFICANT]
    return found


def notebook_texts(path) -> list[tuple[str, str, bool]]:
    """(where, text, is Python) for a notebook file: the whole file as text (markdown, outputs,
    metadata), and each code cell as Python."""
    raw = path.read_text()
    texts = [(path.name, raw, False)]
    for index, cell in enumerate(json.loads(raw).get("cells", [])):
        if cell.get("cell_type") == "code":
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            from tmlkit.notebook import _without_magics
            texts.append((f"{path.name} cell {cell.get('id', index)}", _without_magics(source), True))
    return texts

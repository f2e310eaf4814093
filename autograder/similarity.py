"""Similarity report: which submissions share unusual code in their graded functions.

    python -m autograder similarity HW SUBMISSIONS_DIR -o REPORT_DIR [--flag 0.5] [--jobs N]

A short pipeline of named steps:

1. **Graded functions** come from the released student notebook: every function (or method) of a
   solution cell whose body is only the stub ``raise NotImplementedError()``.
2. **Extract** each submission once, with the grader's own extraction (``notebook.py``): outputs,
   markdown, plots and training loops never enter; the last definition of a name wins, as when
   the grader runs it. The student's own helper functions that a graded function calls are
   appended to it, so moving the work into a helper hides nothing.
3. **Normalise** each graded function's body to a token stream over its AST: local names become
   ``V``, import aliases become the module they name (``np`` -> ``numpy``), docstrings, comments,
   spacing and the signature disappear. Renaming, re-commenting, re-spacing and reordering the
   functions leave it unchanged.
4. **Fingerprint** k-grams of that stream and keep a winnowed subset (Schleimer, Wilkerson and
   Aiken, SIGMOD 2003); remove the fingerprints of the stub we released.
5. **Compare** all pairs per function at once: a sparse submissions x fingerprints matrix ``A``
   gives the shared weight of every pair as ``A diag(w) A^T``, so only pairs that share a
   fingerprint are ever scored. A fingerprint's weight ``w = log(1 + N / df)`` falls as more of the
   class shares it: code every student writes is weak evidence.
6. **Report**: ``similarity.html`` (ranked pairs, per function and overall, and the flagged pairs
   side by side with the shared lines marked) and ``similarity.csv``.

A score is a weighted Jaccard index in [0, 1]: the weight of the fingerprints two submissions share
over the weight of those either has. It is evidence for a person to weigh, never a verdict.
"""
from __future__ import annotations

import ast
import builtins
import csv
import html
import textwrap
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import repeat
from pathlib import Path

import numpy as np
from scipy import sparse

from autograder import homeworks
from tmlkit.notebook import NotebookError, extract_definitions, read_notebook

K_GRAM = 6            # tokens per fingerprint
WINDOW = 4            # winnowing window: any shared run of K_GRAM + WINDOW - 1 tokens is found
FLAG_SCORE = 0.5      # overall score from which a pair is shown side by side
MAX_FLAGGED = 50      # at most this many pairs shown side by side
TOP_PER_FUNCTION = 10
_BUILTINS = frozenset(dir(builtins))
_HASH_BASE = np.uint64(1099511628211)   # FNV prime: any odd 64-bit multiplier mixes well enough


@dataclass
class FunctionPrint:
    """One function's fingerprints. ``lines``: (n, 2) first/last source line of each fingerprint."""
    source: str
    hashes: np.ndarray         # (n,) uint64, winnowed, the stub's removed
    lines: np.ndarray          # (n, 2) int, lines in ``source`` counted from 1


@dataclass
class SubmissionPrint:
    id: str
    functions: dict[str, FunctionPrint] = field(default_factory=dict)
    problem: str = ""          # why nothing could be read, if so


# --- 1. graded functions ---------------------------------------------------------------------

def _functions_in(tree: ast.Module) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """Top-level functions and methods of top-level classes, by qualified name; the last wins.
    ``if``/``try`` blocks the grader keeps are looked into too."""
    found: dict = {}

    def visit(body: list[ast.stmt], prefix: str) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found[prefix + node.name] = node
            elif isinstance(node, ast.ClassDef) and not prefix:
                visit(node.body, node.name + ".")
            elif isinstance(node, (ast.If, ast.Try)):
                visit(node.body + node.orelse, prefix)

    visit(tree.body, "")
    return found


def _body(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """The body without bare string statements (the docstring, and strings used as comments)."""
    return [node for node in function.body
            if not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str))]


def _is_stub(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Its body raises NotImplementedError at the top level: ``# YOUR CODE HERE`` is left to
    write (after any code we give)."""
    return any(isinstance(node, ast.Raise) and node.exc is not None
               and "NotImplementedError" in ast.unparse(node.exc) for node in function.body)


def graded_functions(homework_id: str) -> dict[str, str]:
    """Qualified name -> stub source of every function left as a stub in the student notebook's
    solution cells: the functions students write and the grader grades."""
    nb = read_notebook(homeworks.get(homework_id).student)
    stubs: dict[str, str] = {}
    for cell in nb.cells:
        if cell.cell_type != "code" or not cell.metadata.get("nbgrader", {}).get("solution"):
            continue
        try:
            tree = ast.parse(cell.source)
        except SyntaxError:
            continue
        for name, function in _functions_in(tree).items():
            if _is_stub(function):
                stubs[name] = textwrap.dedent(
                    ast.get_source_segment(cell.source, function, padded=True) or "")
    return stubs


# --- 3. normalise ----------------------------------------------------------------------------

def import_aliases(statements: list[ast.stmt]) -> dict[str, str]:
    """What each imported name stands for: ``np`` -> ``numpy``, ``exp`` -> ``numpy.exp``
    (imports in ``statements`` and in the ``if``/``try`` blocks among them)."""
    aliases = {}
    for node in statements:
        if isinstance(node, ast.Import):
            for alias in node.names:
                aliases[alias.asname or alias.name.split(".")[0]] = \
                    alias.name if alias.asname else alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, (ast.If, ast.Try)):
            handlers = [n for h in getattr(node, "handlers", []) for n in h.body]
            aliases.update(import_aliases(node.body + node.orelse + handlers))
    return aliases


@dataclass
class _Scan:
    """What one walk over a function finds."""
    local: set[str]            # names it binds: parameters, targets, nested definitions
    imports: dict[str, str]    # imports inside it, as import_aliases gives them
    loaded: list[str]          # names it reads, first occurrence first


def _scan(function: ast.FunctionDef | ast.AsyncFunctionDef) -> _Scan:
    local, imports, loaded = set(), [], {}
    for node in ast.walk(function):
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loaded.setdefault(node.id)
            else:
                local.add(node.id)
        elif isinstance(node, ast.arg):
            local.add(node.arg)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            imports.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node is not function:
            local.add(node.name)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            local.add(node.name)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            local.update(node.names)
    return _Scan(local, import_aliases(imports), list(loaded))


_FOLDED = (ast.expr_context, ast.operator, ast.boolop, ast.unaryop, ast.cmpop)


def _token(node: ast.AST, local: set[str], aliases: dict[str, str]) -> str:
    """The token a node contributes: its kind, and what renaming cannot change."""
    kind = type(node).__name__
    if isinstance(node, ast.Name):
        if node.id in local:
            return "V"
        if node.id in aliases:
            return "M:" + aliases[node.id]
        return ("B:" + node.id) if node.id in _BUILTINS else "G"   # the student's own globals
    if isinstance(node, ast.Attribute):
        return "." + node.attr
    if isinstance(node, ast.Constant):
        value = node.value
        return "S" if isinstance(value, (str, bytes)) else f"C:{value!r}"
    if isinstance(node, (ast.BinOp, ast.AugAssign, ast.BoolOp, ast.UnaryOp)):
        return f"{kind}:{type(node.op).__name__}"        # operators are folded in here
    if isinstance(node, ast.Compare):
        return "Compare:" + ",".join(type(op).__name__ for op in node.ops)
    if isinstance(node, ast.keyword):
        return f"kw:{node.arg}"
    return kind                      # arg and alias too: nested functions' names and imports go


def normalised_tokens(function: ast.FunctionDef | ast.AsyncFunctionDef,
                      aliases: dict[str, str], scan: _Scan | None = None) \
        -> tuple[list[str], list[int]]:
    """Tokens of the function's body in pre-order, and the source line of each (1 = the line of
    ``def``). The signature, decorators and docstring are not part of it."""
    scan = scan or _scan(function)
    aliases = {**aliases, **scan.imports}
    local = scan.local - set(scan.imports)
    tokens, lines = [], []
    first = function.lineno - 1

    def visit(node: ast.AST, line: int) -> None:
        line = getattr(node, "lineno", line)
        tokens.append(_token(node, local, aliases))
        lines.append(line - first)
        for name in node._fields:                 # ast.iter_child_nodes, less its overhead
            value = getattr(node, name, None)
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.AST) and not isinstance(item, _FOLDED):
                        visit(item, line)
            elif isinstance(value, ast.AST) and not isinstance(value, _FOLDED):
                visit(value, line)

    for statement in _body(function):
        visit(statement, statement.lineno)
    return tokens, lines


# --- 4. fingerprint --------------------------------------------------------------------------

def _token_ids(tokens: list[str]) -> np.ndarray:
    # crc32 rather than hash(): the same in every process and every run.
    return np.array([zlib.crc32(t.encode()) for t in tokens], dtype=np.uint64)


def kgram_hashes(tokens: list[str], k: int = K_GRAM) -> np.ndarray:
    """(len(tokens) - k + 1,) uint64 hash of each k-gram (polynomial, wrapping mod 2**64)."""
    ids = _token_ids(tokens)
    if len(ids) < k:
        return np.zeros(0, dtype=np.uint64)
    hashes = np.zeros(len(ids) - k + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(k):
            hashes = hashes * _HASH_BASE + ids[j:len(ids) - k + 1 + j]
    return hashes


def winnow(hashes: np.ndarray, window: int = WINDOW) -> np.ndarray:
    """Indices of the winnowed k-grams: the rightmost minimum of every window of ``window``
    consecutive hashes (all of them when there are fewer)."""
    if len(hashes) <= window:
        return np.arange(len(hashes))
    windows = np.lib.stride_tricks.sliding_window_view(hashes[::-1], window)
    # argmin on the reversed array finds the rightmost minimum of each window
    rightmost = len(hashes) - 1 - (np.arange(len(windows)) + windows.argmin(axis=1))
    return np.unique(rightmost)


def fingerprint(tokens: list[str], lines: list[int], source: str,
                exclude: np.ndarray | None = None) -> FunctionPrint:
    """The winnowed fingerprints of a token stream, less those in ``exclude`` (the stub's)."""
    hashes = kgram_hashes(tokens)
    chosen = winnow(hashes)
    kept = chosen if exclude is None else chosen[~np.isin(hashes[chosen], exclude)]
    line_of = np.asarray(lines, dtype=np.int64)
    spans = np.stack([line_of[kept], line_of[kept + K_GRAM - 1]], axis=1) if len(kept) else \
        np.zeros((0, 2), dtype=np.int64)
    return FunctionPrint(source, hashes[kept], spans)


def stub_fingerprints(stubs: dict[str, str], aliases: dict[str, str]) -> dict[str, np.ndarray]:
    """Every k-gram hash of each released stub (not only the winnowed ones), to subtract;
    ``aliases``: the student notebook's imports."""
    out = {}
    for name, source in stubs.items():
        tree = ast.parse(source)
        function = next(iter(_functions_in(tree).values()))
        out[name] = kgram_hashes(normalised_tokens(function, aliases)[0])
    return out


# --- 2. extract, once per submission ---------------------------------------------------------

@dataclass
class Released:
    """What the students were given: the graded functions' stubs and every name defined."""
    stubs: dict[str, str]               # graded function -> its stub's source
    stub_prints: dict[str, np.ndarray]  # graded function -> the stub's k-gram hashes
    names: set[str]                     # every name the student notebook defines

    @classmethod
    def of(cls, homework_id: str) -> Released:
        stubs = graded_functions(homework_id)
        given = extract_definitions(read_notebook(homeworks.get(homework_id).student))
        aliases = {name: module for cell in given.cells
                   for name, module in import_aliases(ast.parse(cell.source).body).items()}
        return cls(stubs, stub_fingerprints(stubs, aliases), given.defined_names())


def _helpers_called(scan: _Scan, helpers: dict[str, tuple[ast.AST, str]],
                    seen: set[str]) -> list[str]:
    """The student's own helper functions a function calls, directly or through each other."""
    found = []
    for name in scan.loaded:
        if name in helpers and name not in seen and name not in scan.local:
            seen.add(name)
            found += [name] + _helpers_called(_scan(helpers[name][0]), helpers, seen)
    return found


def fingerprint_submission(student_id: str, notebook: Path | None,
                           released: Released) -> SubmissionPrint:
    """The graded functions of one submission, fingerprinted; functions left as the stub, or
    missing, have no fingerprints. Helper functions of the student's own that a graded function
    calls count as part of it, so moving the work into a helper hides nothing."""
    result = SubmissionPrint(student_id)
    if notebook is None:
        result.problem = "no notebook"
        return result
    try:
        extraction = extract_definitions(read_notebook(notebook))
    except NotebookError as error:
        result.problem = str(error)
        return result
    aliases: dict[str, str] = {}
    functions: dict = {}
    helpers: dict = {}
    wanted = {name.split(".")[0] for name in released.stubs}
    for cell in extraction.cells:
        if not (wanted.intersection(cell.defines) or set(cell.defines) - released.names
                or "import" in cell.source):
            continue                        # parsing every cell again would double the time
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, RecursionError, ValueError, MemoryError):
            continue
        aliases.update(import_aliases(tree.body))
        for name, function in _functions_in(tree).items():
            if name in released.stubs:
                functions[name] = (function, cell.source)
            elif "." not in name and name not in released.names:
                helpers[name] = (function, cell.source)
    for name, (function, cell_source) in functions.items():
        try:
            result.functions[name] = _fingerprint_with_helpers(
                function, cell_source, helpers, aliases, released.stub_prints.get(name))
        except RecursionError:
            continue
    return result


def _fingerprint_with_helpers(function: ast.AST, cell_source: str, helpers: dict,
                              aliases: dict[str, str], exclude: np.ndarray | None) -> FunctionPrint:
    """One token stream for a graded function followed by the helpers it calls; the source shown
    is theirs too, one after the other, so that the lines of every token can be marked."""
    scan = _scan(function)
    tokens, lines = normalised_tokens(function, aliases, scan)
    sources = [_function_source(cell_source, function)]
    called = _helpers_called(scan, helpers, {function.name})
    for name in called:
        helper, helper_cell = helpers[name]
        offset = sum(len(s.splitlines()) + 1 for s in sources)    # a blank line between
        more, more_lines = normalised_tokens(helper, aliases)
        tokens += ["Helper"] + more
        lines += [offset + 1] + [offset + line for line in more_lines]
        sources.append(_function_source(helper_cell, helper))
    return fingerprint(tokens, lines, "\n\n".join(sources), exclude)


def _function_source(cell_source: str, function: ast.AST) -> str:
    lines = cell_source.splitlines()
    return textwrap.dedent("\n".join(lines[function.lineno - 1:function.end_lineno]))


# --- 5. compare ------------------------------------------------------------------------------

@dataclass
class FunctionScores:
    """All pairs' scores for one function; pairs are (i, j) with i < j, sharing something."""
    name: str
    pairs: np.ndarray          # (P, 2) submission indices
    shared: np.ndarray         # (P,) weight of the fingerprints both have
    score: np.ndarray          # (P,) weighted Jaccard
    totals: np.ndarray         # (S,) weight of each submission's fingerprints


def _incidence(prints: list[SubmissionPrint], name: str) -> tuple[sparse.csr_matrix, np.ndarray]:
    """Binary (submissions, distinct fingerprints) matrix for one function, and the hashes."""
    rows, hashes = [], []
    for i, submission in enumerate(prints):
        function = submission.functions.get(name)
        if function is not None and len(function.hashes):
            unique = np.unique(function.hashes)
            rows.append(np.full(len(unique), i))
            hashes.append(unique)
    if not rows:
        return sparse.csr_matrix((len(prints), 0)), np.zeros(0, dtype=np.uint64)
    columns_of, inverse = np.unique(np.concatenate(hashes), return_inverse=True)
    rows_all = np.concatenate(rows)
    matrix = sparse.csr_matrix((np.ones(len(rows_all)), (rows_all, inverse)),
                               shape=(len(prints), len(columns_of)))
    return matrix, columns_of


def compare_function(prints: list[SubmissionPrint], name: str) -> FunctionScores:
    matrix, _ = _incidence(prints, name)
    if matrix.shape[1] == 0:
        return FunctionScores(name, np.zeros((0, 2), dtype=np.int64), np.zeros(0), np.zeros(0),
                              np.zeros(len(prints)))
    document_frequency = np.asarray(matrix.sum(axis=0)).ravel()
    holders = max(1, int((matrix.getnnz(axis=1) > 0).sum()))
    weights = np.log1p(holders / np.maximum(document_frequency, 1))
    weighted = matrix @ sparse.diags(weights)
    totals = np.asarray(weighted.sum(axis=1)).ravel()
    shared = sparse.triu(weighted @ matrix.T, k=1).tocoo()
    union = totals[shared.row] + totals[shared.col] - shared.data
    return FunctionScores(name, np.stack([shared.row, shared.col], axis=1), shared.data,
                          shared.data / np.maximum(union, 1e-12), totals)


@dataclass
class Comparison:
    ids: list[str]
    functions: list[FunctionScores]
    pairs: np.ndarray          # (P, 2) pairs sharing anything, by overall score, highest first
    overall: np.ndarray        # (P,) weighted Jaccard over all graded functions together
    per_function: np.ndarray   # (P, F) each function's score for those pairs (0: nothing shared)


def compare(prints: list[SubmissionPrint], names: list[str]) -> Comparison:
    """Score every pair of submissions, per function and overall."""
    n = len(prints)
    functions = [compare_function(prints, name) for name in names]

    def key(pairs: np.ndarray) -> np.ndarray:   # one integer per pair, to merge the functions
        return pairs[:, 0].astype(np.int64) * n + pairs[:, 1]

    all_keys = np.unique(np.concatenate([key(f.pairs) for f in functions] or [np.zeros(0, int)]))
    shared = np.zeros(len(all_keys))
    per_function = np.zeros((len(all_keys), len(functions)))
    totals = np.zeros(n)
    for column, scores in enumerate(functions):
        where = np.searchsorted(all_keys, key(scores.pairs))
        shared[where] += scores.shared
        per_function[where, column] = scores.score
        totals += scores.totals
    pairs = np.stack([all_keys // n, all_keys % n], axis=1) if len(all_keys) else \
        np.zeros((0, 2), dtype=np.int64)
    overall = shared / np.maximum(totals[pairs[:, 0]] + totals[pairs[:, 1]] - shared, 1e-12)
    order = np.argsort(-overall, kind="stable")
    return Comparison([p.id for p in prints], functions, pairs[order], overall[order],
                      per_function[order])


# --- 6. report -------------------------------------------------------------------------------

def write_csv(comparison: Comparison, path: Path) -> None:
    names = [f.name for f in comparison.functions]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["student_a", "student_b", "overall", *names])
        ids = comparison.ids
        for (a, b), overall, row in zip(comparison.pairs.tolist(), comparison.overall.tolist(),
                                        comparison.per_function.tolist()):
            writer.writerow([ids[a], ids[b], f"{overall:.4f}", *(f"{s:.4f}" for s in row)])


STYLE = """<style>
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2em auto;max-width:1400px;
  padding:0 1em;color:#222}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.6em 1em}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.2em .5em}
th{background:#f2f2f2}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pair{border-top:2px solid #888;margin-top:2em}
.side{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:1em}
pre{background:#fafafa;border:1px solid #ddd;padding:.5em;white-space:pre-wrap;font-size:12px;
  margin:0}
pre span{display:block}pre .hit{background:#ffd7d7}
h3{margin-bottom:.3em}.muted{color:#777}
</style>"""


def _highlighted(function: FunctionPrint, shared: set[int]) -> str:
    """The function's source, lines covered by a shared fingerprint marked."""
    hit = set()
    for value, (first, last) in zip(function.hashes.tolist(), function.lines.tolist()):
        if value in shared:
            hit.update(range(first, last + 1))
    return "".join(f'<span class="{"hit" if n in hit else ""}">{html.escape(line) or " "}</span>'
                   for n, line in enumerate(function.source.splitlines(), start=1))


def _pair_section(rank: int, a: SubmissionPrint, b: SubmissionPrint, overall: float,
                  row: np.ndarray, names: list[str]) -> str:
    parts = [f'<div class="pair" id="pair{rank}"><h3>{rank}. {html.escape(a.id)} &amp; '
             f'{html.escape(b.id)}: overall {overall:.2f}</h3>']
    for column in np.argsort(-row, kind="stable"):
        if row[column] <= 0:
            continue
        name = names[column]
        fa, fb = a.functions[name], b.functions[name]
        shared = set(fa.hashes.tolist()) & set(fb.hashes.tolist())
        parts.append(f"<h4><code>{html.escape(name)}</code>: {row[column]:.2f}</h4>"
                     f'<div class="side"><div><b>{html.escape(a.id)}</b><pre>'
                     f"{_highlighted(fa, shared)}</pre></div><div><b>{html.escape(b.id)}</b><pre>"
                     f"{_highlighted(fb, shared)}</pre></div></div>")
    return "".join(parts) + "</div>"


def _introduction(homework_id: str, prints: list[SubmissionPrint], n_functions: int,
                  flag_score: float, n_flagged: int) -> list[str]:
    n = len(prints)
    out = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
           f"{html.escape(homework_id)} similarity</title>{STYLE}</head><body>"
           f"<h1>{html.escape(homework_id)}: similarity of graded functions</h1>",
           '<p class="note"><b>Similarity is evidence for a person to weigh, not a verdict.</b> '
           "Short functions have few ways to be written, students may legitimately share ideas, "
           "and a high score can come from a common source. Read the code side by side, and the "
           "course's collaboration policy, before drawing any conclusion.</p>",
           f"<p>{n} submissions, {n * (n - 1) // 2} pairs, {n_functions} graded functions "
           "(the functions left as stubs in the student notebook). Compared on the definitions "
           "the grader extracts, after renaming local variables, dropping docstrings, comments "
           "and spacing, and removing the released stub; a student's own helper functions count "
           "as part of the graded function that calls them. A score is the weighted share of "
           "fingerprints two submissions have in common (0 to 1); a fingerprint shared by much of "
           f"the class weighs less. Pairs at or above {flag_score:g} overall are shown side by "
           f"side below ({n_flagged} pairs).</p>"]
    problems = [p for p in prints if p.problem]
    if problems:
        out.append("<p>Not compared (unreadable): " + ", ".join(
            f"{html.escape(p.id)} ({html.escape(p.problem.splitlines()[0])})" for p in problems)
            + "</p>")
    return out


def _overall_table(comparison: Comparison, flagged: list[int]) -> list[str]:
    names, ids = [f.name for f in comparison.functions], comparison.ids
    out = ["<h2>Pairs ranked overall</h2><table><tr><th>#</th><th>student</th><th>student</th>"
           "<th>overall</th><th>functions most alike</th></tr>"]
    for i in range(min(max(len(flagged), 20), len(comparison.overall))):
        a, b = comparison.pairs[i]
        row = comparison.per_function[i]
        top = [f"{names[c]} {row[c]:.2f}" for c in np.argsort(-row, kind="stable")[:4]
               if row[c] > 0]
        link = f'<a href="#pair{i + 1}">{i + 1}</a>' if i in flagged else str(i + 1)
        out.append(f"<tr><td>{link}</td><td>{html.escape(ids[a])}</td><td>{html.escape(ids[b])}"
                   f'</td><td class="n">{comparison.overall[i]:.2f}</td><td>'
                   f"{html.escape(', '.join(top))}</td></tr>")
    return out + ["</table>"]


def _function_table(scores: FunctionScores, ids: list[str]) -> list[str]:
    order = np.lexsort((-scores.shared, -scores.score))[:TOP_PER_FUNCTION]
    holders = int((scores.totals > 0).sum())
    out = [f"<h3><code>{html.escape(scores.name)}</code></h3>"]
    if not len(order):
        return out + [f'<p class="muted">No pair shares anything ({holders} submissions wrote '
                      "code for it).</p>"]
    out.append(f"<p class='muted'>{holders} submissions wrote code for it; median score of the "
               f"pairs sharing anything: {np.median(scores.score):.2f}.</p><table><tr>"
               "<th>student</th><th>student</th><th>score</th><th>shared weight</th></tr>")
    for p in order:
        a, b = scores.pairs[p]
        out.append(f"<tr><td>{html.escape(ids[a])}</td><td>{html.escape(ids[b])}</td>"
                   f'<td class="n">{scores.score[p]:.2f}</td><td class="n">'
                   f"{scores.shared[p]:.1f}</td></tr>")
    return out + ["</table>"]


def render_html(homework_id: str, prints: list[SubmissionPrint], comparison: Comparison,
                flag_score: float = FLAG_SCORE, max_flagged: int = MAX_FLAGGED) -> str:
    """The report page: static, no scripts, no external resources; student code escaped."""
    names = [f.name for f in comparison.functions]
    flagged = [i for i in range(min(max_flagged, len(comparison.overall)))
               if comparison.overall[i] >= flag_score]
    out = _introduction(homework_id, prints, len(names), flag_score, len(flagged))
    out += _overall_table(comparison, flagged)
    out.append("<h2>Pairs ranked per function</h2>")
    for scores in comparison.functions:
        out += _function_table(scores, comparison.ids)
    out.append("<h2>Flagged pairs side by side</h2><p>Lines covered by a shared fingerprint are "
               "<span style='background:#ffd7d7'>marked</span>.</p>")
    for i in flagged:
        a, b = comparison.pairs[i]
        out.append(_pair_section(i + 1, prints[a], prints[b], comparison.overall[i],
                                 comparison.per_function[i], names))
    if not flagged:
        out.append('<p class="muted">No pair reached the threshold.</p>')
    out.append("</body></html>")
    return "\n".join(out)


# --- the whole pipeline ----------------------------------------------------------------------

def fingerprint_class(homework_id: str, submissions: list[tuple[str, Path | None]],
                      jobs: int = 1) -> tuple[list[str], list[SubmissionPrint]]:
    """The graded functions' names, and every submission fingerprinted once (``jobs`` processes:
    reading and parsing the notebooks is most of the time)."""
    released = Released.of(homework_id)
    ids, notebooks = [s for s, _ in submissions], [n for _, n in submissions]
    if jobs <= 1 or len(submissions) < 4 * jobs:
        prints = list(map(fingerprint_submission, ids, notebooks, repeat(released)))
    else:
        with ProcessPoolExecutor(jobs) as pool:
            prints = list(pool.map(fingerprint_submission, ids, notebooks, repeat(released),
                                   chunksize=max(1, len(ids) // (8 * jobs))))
    return list(released.stubs), prints


def similarity_report(homework_id: str, submissions: str | Path, out: str | Path,
                      flag_score: float = FLAG_SCORE, max_flagged: int = MAX_FLAGGED,
                      jobs: int = 1) -> Comparison:
    """Write ``similarity.html`` and ``similarity.csv`` for a folder of submissions laid out as
    for ``grade-all``; returns the comparison."""
    from autograder.batch import discover
    homework = homeworks.get(homework_id)
    students = discover(homework.id, submissions)
    names, prints = fingerprint_class(homework.id, [(s.id, s.notebook) for s in students], jobs)
    comparison = compare(prints, names)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_csv(comparison, out / "similarity.csv")
    (out / "similarity.html").write_text(
        render_html(homework.id, prints, comparison, flag_score, max_flagged))
    return comparison

"""HW3 end to end: plausible mistakes lose exactly the points of the checks they should fail;
plus the syntax-tree check on its own."""
from __future__ import annotations

import nbformat
import pytest
from conftest import (assert_every_selfcheck_ran, assert_loses_exactly, assert_selfcheck_agrees,
                      needs_mnist, replace_function, run_quick)

from autograder import homeworks
from tmlkit.syntax import forbidden_uses, unimplemented
from autograder.grade import grade

HW3 = homeworks.get("hw3")
GRADING_CPU_BUDGET_S = 30.0     # the reference solution's checks take about 13 s of CPU


def test_grading_stays_within_budget(solution_result):
    """On the student's CPU time, which a busy machine does not inflate as it does wall time."""
    cpu_s = sum(usage["cpu_s"] for usage in solution_result.usage.values())
    assert 0 < cpu_s < GRADING_CPU_BUDGET_S


def test_solution_has_public_and_hidden_checks_in_every_part(solution_result):
    visibility = {(t.number, t.visibility) for t in solution_result.tests}
    for part in ("1", "2.1", "2.2", "3"):
        assert (part, "visible") in visibility and (part, "after_published") in visibility


def test_training_checks_report_their_figures(solution_result):
    outputs = {t.id: t.output for t in solution_result.tests}
    mnist, ood = outputs["test_mnist_accuracy"], outputs["test_one_vs_six"]
    assert "test accuracy" in mnist and "bar" in mnist
    assert "In-distribution accuracy" in ood and "3s" in ood and "AUROC" in ood


MUTANTS = {
    "posterior_var with N instead of a + b + 1": ("posterior_var", '''
def posterior_var(alpha, beta, y, N):
    a, b = posterior_params(alpha, beta, y, N)
    return a * b / ((a + b) ** 2 * N)
''', ["1"], {"test_posterior_mean_and_var_match_scipy",
             "test_posterior_on_hidden_parameters",
             "test_edge_cases"}),
    "map_loss with the MLE's loss only": ("map_loss", '''
def map_loss(theta, y, N, alpha, beta):
    return float(y * (1 - theta) ** 2 + (N - y) * theta ** 2)
''', ["1"], {"test_map_loss_is_minimised_at_map",
             "test_map_loss_on_hidden_parameters"}),
    "no ValueError for invalid input": ("check_counts", '''
def check_counts(y, N, alpha=1.0, beta=1.0):
    pass
''', ["1"], {"test_invalid_input_raises_value_error"}),
    "gradients without the hidden sigmoid derivative": ("gradients", '''
def gradients(x, y, W1, b1, W2, b2):
    f = forward(x, W1, b1, W2, b2)
    delta2 = f["y_hat"] - y
    delta1 = W2.T @ delta2
    return {"dW1": np.outer(delta1, x), "db1": delta1,
            "dW2": np.outer(delta2, f["z1"]), "db2": delta2}
''', ["2.1"], {"test_gradients_match_finite_differences",
               "test_gradients_match_autograd_on_random_shapes"}),
    "Dual product rule missing a term": ("__mul__", None, ["2.2"],
                                         {"test_dual_numbers_on_the_example",
                                          "test_dual_numbers_mix_with_plain_numbers",
                                          "test_dual_numbers_on_hidden_expressions",
                                          "test_trace_example"}),
    "softmax without max-subtraction": ("softmax", '''
def softmax(X):
    X = torch.as_tensor(X)
    exp = torch.exp(X)
    return exp / exp.sum(dim=1, keepdim=True)
''', ["3"], {"test_softmax_is_stable"}),
    "relu from torch.nn.functional": ("relu", '''
def relu(X):
    return torch.nn.functional.relu(torch.as_tensor(X))
''', ["3"], {"test_no_torch_nn"}),
}


def _mutate(name: str, source: str | None, out):
    if source is not None:
        return replace_function(HW3.solution, name, source, out)
    # Dual.__mul__ is a method, which replace_function does not reach: edit the cell's text.
    nb = nbformat.read(HW3.solution, as_version=4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and "class Dual" in c.source]
    good = "self.tangent * other.value + self.value * other.tangent"
    assert good in cell.source
    cell.source = cell.source.replace(good, "self.value * other.tangent")
    nbformat.write(nb, out)
    return out


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_plausible_mistakes_lose_exactly_their_points(mutant, solution_result, tmp_path):
    function, source, parts, should_fail = MUTANTS[mutant]
    submission = _mutate(function, source, tmp_path / "mutant.ipynb")
    result = grade("hw3", submission, parts=parts)
    assert_loses_exactly(result, solution_result, should_fail)
    assert_selfcheck_agrees("hw3", submission, result)


def test_a_product_rule_missing_a_term_loses_the_hidden_point_at_a_seed_it_once_kept(
        solution_result, tmp_path, monkeypatch):
    """Seed 16 drew 8 hidden expressions none of whose products had two factors that depend on
    the input differentiated, so dropping a term of the product rule kept the point (at about
    1 seed in 40); the check now draws until it has such a product."""
    monkeypatch.setenv("TML_GRADER_SEED", "16")
    function, source, _, should_fail = MUTANTS["Dual product rule missing a term"]
    result = grade("hw3", _mutate(function, source, tmp_path / "mutant.ipynb"), parts=["2.2"])
    assert_loses_exactly(result, solution_result, should_fail)


# Documented defaults (issue 22): the training checks pass epochs and seed, so only the checks
# below see a wrong default. One submission holds all three mistakes, because each grading of
# part 3 also trains on all of MNIST (~15 s CPU); each failure must name what it caught.
WRONG_DEFAULTS = {   # solution text → mutant text, the check that must fail, what it must say
    "def init_params(n_inputs, n_hiddens, n_outputs, seed=0):":
        ("def init_params(n_inputs, n_hiddens, n_outputs, seed=1):",
         "test_init_params", "the seed defaults to 0"),
    "def fit_mnist_mlp(X_train, y_train, X_test, epochs=8, seed=0):":
        ("def fit_mnist_mlp(X_train, y_train, X_test, epochs=5, seed=0):",
         "test_fit_mnist_mlp_documented_defaults", "the default of `epochs`"),
    "fit_mlp(X_train, classes, 2, epochs, seed, lr=0.1)":       # fit_one_vs_six ignores seed
        ("fit_mlp(X_train, classes, 2, epochs, 0, lr=0.1)",
         "test_fit_one_vs_six_documented_defaults", "seed=1"),
}


def test_wrong_defaults_lose_exactly_their_checks(solution_result, tmp_path):
    nb = nbformat.read(HW3.solution, as_version=4)
    for good, (bad, _, _) in WRONG_DEFAULTS.items():
        (cell,) = [c for c in nb.cells if c.cell_type == "code" and good in c.source]
        cell.source = cell.source.replace(good, bad)
    nbformat.write(nb, tmp_path / "defaults.ipynb")
    result = grade("hw3", tmp_path / "defaults.ipynb", parts=["3"])
    assert_loses_exactly(result, solution_result, {check for _, check, _ in WRONG_DEFAULTS.values()})
    assert_selfcheck_agrees("hw3", tmp_path / "defaults.ipynb", result)
    outputs = {t.id: t.output for t in result.tests}
    for _, check, says in WRONG_DEFAULTS.values():
        assert says in outputs[check], (check, outputs[check])


def test_forbidden_call_is_named_with_cell_and_line(tmp_path):
    submission = _mutate("relu", MUTANTS["relu from torch.nn.functional"][1], tmp_path / "m.ipynb")
    result = grade("hw3", submission, parts=["3"])
    (syntax,) = [t for t in result.tests if t.name.startswith("your code uses no torch.nn")]
    assert "torch.nn.functional.relu" in syntax.output and "line" in syntax.output


# --- the syntax-tree helpers on their own --------------------------------------------------------

def test_forbidden_uses_resolve_aliases_across_cells():
    cells = [(2, "import torch\nimport torch.nn.functional as F\nfrom torch import nn, optim"),
             (5, "def relu(X):\n    return F.relu(X) + torch.nn.functional.relu(X) + torch.max(X)"),
             (6, "class Net(nn.Module):\n    pass"),
             (7, "def step(p):\n    return optim.SGD(p, lr=0.1), torch.softmax(p, 1)"),
             (8, "def fine(X):\n    return torch.exp(X) @ X.T, torch.clamp(X, min=0)")]
    found = [str(use) for use in forbidden_uses(cells, ("torch.nn", "torch.optim", "torch.softmax"))]
    assert found == ["cell 2, line 2 imports torch.nn.functional",
                     "cell 2, line 3 imports torch.nn", "cell 2, line 3 imports torch.optim",
                     "cell 5, line 2 uses torch.nn.functional.relu",
                     "cell 6, line 1 uses torch.nn.Module",
                     "cell 7, line 2 uses torch.optim.SGD", "cell 7, line 2 uses torch.softmax"]


def test_forbidden_uses_ignore_unrelated_names_and_broken_cells():
    cells = [(1, "import numpy as np\nnn = 3\ndef f(x):\n    return np.exp(x) * nn"),
             (2, "def g(:\n")]
    assert forbidden_uses(cells, ("torch.nn",)) == []


def test_unimplemented_finds_stubs_and_missing_functions():
    cells = [(1, 'def a():\n    """doc"""\n    raise NotImplementedError()\n'
                 "def b():\n    return 1\n"),
             (2, "def c():\n    raise NotImplementedError\n"),
             (3, "def c():\n    return 2\n")]       # redefined later: implemented
    assert unimplemented(cells, ["a", "b", "c", "d"]) == ["a", "d"]


# --- release, drift, Gradescope, headless run ------------------------------------------------------

@needs_mnist
def test_solution_notebook_runs_top_to_bottom(tmp_path):
    outputs = run_quick(HW3.solution, tmp_path)
    assert "✗" not in outputs and "~ [" not in outputs, "a self-check cell failed in the solution"
    assert_every_selfcheck_ran(outputs, "hw3")

"""HW1 end to end: plausible mistakes lose exactly the points of the checks they should fail."""
from __future__ import annotations

import nbformat
import pytest
from alternatives import ALTERNATIVES
from conftest import (assert_every_selfcheck_ran, assert_loses_exactly, assert_selfcheck_agrees,
                      needs_mnist, replace_function, run_quick)

from autograder import homeworks
from tmlkit import data
from autograder.grade import grade

HW1 = homeworks.get("hw1")
NOT_CIFAR = ["1", "2"]   # the mutants below cannot affect part 3, which trains for 30 s on CPU


def test_solution_has_public_and_hidden_checks_in_every_part(solution_result):
    visibility = {(t.number, t.visibility) for t in solution_result.tests}
    for part in ("1.1", "2.1", "2.2", "2.3"):
        assert (part, "visible") in visibility and (part, "after_published") in visibility


def test_cpu_cifar_run_is_labelled(solution_result):
    (cifar,) = [t for t in solution_result.tests if t.number == "3"]
    if "cuda" not in cifar.output.lower() or "CPU run" in cifar.output:
        assert "CPU run" in cifar.output and "the GPU criterion was not evaluated" in cifar.output


def _solution_source(name: str) -> str:
    nb = nbformat.read(HW1.solution, as_version=4)
    (source,) = [c.source for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source]
    return source


SGD, TRAIN_TORCH = _solution_source("sgd"), _solution_source("train_torch")

MUTANTS = {
    "gradient missing 1/N": ("backward", '''
def backward(X, Y, W, b):
    G = forward(X, W, b) - Y
    return X.T @ G, G.sum(axis=0)
''', {"test_backward_matches_finite_differences",
      "test_backward_matches_autograd_on_random_shapes"}),
    "incomplete attribution (gradient × input)": ("attribution", '''
def attribution(W, b, x, c):
    return x * W[:, c]
''', {"test_attribution_is_complete",
      "test_attribution_is_complete_hidden"}),
    "attack returns x unchanged": ("attack", '''
def attack(W, b, x, target):
    return x.copy()
''', {"test_attack_succeeds_within_box",
      "test_attack_perturbation_is_near_minimal",
      "test_attack_on_hidden_instances"}),
    # Documented defaults (issue 22): the accuracy checks pass every argument, so only
    # test_sgd_documented_defaults / test_torch_documented_defaults see these.
    "sgd defaults lr to the accuracy check's 0.1": ("sgd", SGD.replace("lr=0.5", "lr=0.1"),
                                                   {"test_sgd_documented_defaults"}),
    "sgd defaults batch_size to 64": ("sgd", SGD.replace("batch_size=128", "batch_size=64"),
                                      {"test_sgd_documented_defaults"}),
    "sgd shuffles with a fixed seed": ("sgd", SGD.replace("default_rng(seed)", "default_rng(0)"),
                                       {"test_sgd_documented_defaults"}),
    # one epoch reaches the bar on MNIST's 5,000 images, not on the 1,257 fallback digits
    "train_torch defaults epochs to 1": ("train_torch", TRAIN_TORCH.replace("epochs=5", "epochs=1"),
                                         {"test_torch_documented_defaults"} |
                                         (set() if data.mnist_available()
                                          else {"test_torch_reaches_accuracy_bar"})),
    "invert off by 1e-4": ("invert", '''
def invert(query, D):
    import numpy as np
    out = query(np.vstack([np.zeros(D), np.eye(D)]))
    return out[1:] - out[0] + 1e-4, out[0]
''', {"test_invert_recovers_model_exactly",
      "test_invert_recovers_hidden_model"}),
}


@pytest.mark.parametrize("mutant", list(MUTANTS))
def test_plausible_mistakes_lose_exactly_their_points(mutant, solution_result, tmp_path):
    function, source, should_fail = MUTANTS[mutant]
    assert source != _solution_source(function), "the mutant changes nothing"
    submission = replace_function(HW1.solution, function, source, tmp_path / "mutant.ipynb")
    result = grade("hw1", submission, parts=NOT_CIFAR)
    assert_loses_exactly(result, solution_result, should_fail)
    assert_selfcheck_agrees("hw1", submission, result)


@pytest.mark.parametrize("name", list(ALTERNATIVES["hw1"]))
def test_alternative_correct_code_keeps_full_marks(name, tmp_path):
    """Other correct ways (tests/alternatives.py): sgd with a constant step, in-place shuffles and
    its own optional argument instead of `history`; train_torch in float64, shuffled by torch's
    global generator."""
    parts, functions = ALTERNATIVES["hw1"][name]
    submission = HW1.solution
    for function, source in functions.items():
        submission = replace_function(submission, function, source, tmp_path / f"{function}.ipynb")
    result = grade("hw1", submission, parts=parts)
    assert [(t.name, t.output) for t in result.tests if t.status != "passed"] == []
    assert_selfcheck_agrees("hw1", submission, result)


def test_extra_queries_earn_partial_credit(tmp_path):
    submission = replace_function(HW1.solution, "invert", '''
def invert(query, D):
    import numpy as np
    rows = np.vstack([np.zeros(D), np.eye(D)])
    out = np.vstack([query(row[None, :]) for row in rows] + [query(rows[:1])])
    return out[1:-1] - out[0], out[0]
''', tmp_path / "chatty.ipynb")
    result = grade("hw1", submission, parts=["2.2"])
    for test in result.tests:
        assert 0 < test.score < test.max_score and "query rows" in test.output
    assert_selfcheck_agrees("hw1", submission, result)


@needs_mnist
def test_solution_notebook_runs_top_to_bottom(tmp_path):
    outputs = run_quick(HW1.solution, tmp_path)
    assert "✗" not in outputs, "a self-check cell failed in the solution notebook"
    assert_every_selfcheck_ran(outputs, "hw1")

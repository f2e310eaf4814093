"""Issue 22: every documented default of a graded function is exercised by a check.

DEFAULTS lists each defaulted argument of each top-level function in the solution notebooks'
`solution` cells (given helpers are not graded) with the checks that verify the default's value,
or, where none does, why not. The tests keep the table complete (a new defaulted argument must
be added here) and its check ids real (a renamed check must be renamed here).

Statuses: a tuple of check ids verifies the value (a wrong default loses that check); otherwise
the note says "extra" (the solution's own optional argument, not in the notebook's contract),
"used" (checks leave it out, so the default runs, but its value is not verified) or
"unexercised" (every check passes it).
"""
from __future__ import annotations

import ast
import importlib

import nbformat
import pytest

from autograder import homeworks

EXTRA = "extra: not in the notebook's contract, which allows optional keyword arguments"

DEFAULTS: dict[str, dict[str, dict[str, tuple[tuple[str, ...], str]]]] = {
    "hw1": {
        "sgd": {
            "epochs": (("test_sgd_documented_defaults",), ""),
            "lr": (("test_sgd_documented_defaults",), ""),
            "batch_size": (("test_sgd_documented_defaults",), ""),
            "seed": (("test_sgd_documented_defaults",), ""),
            "history": ((), EXTRA + "; test_sgd_documented_defaults calls sgd without it"),
        },
        "train_torch": {
            "epochs": (("test_torch_documented_defaults",), ""),
            "lr": (("test_torch_documented_defaults",), ""),
            "batch_size": (("test_torch_documented_defaults",), ""),
            "seed": (("test_torch_documented_defaults",), ""),
        },
        "train_cifar_model": {
            "time_budget_s": ((), "unexercised: the check passes its budget; the default would "
                                  "cost 60 s of training"),
            "device": ((), "used: test_cifar_accuracy_within_budget leaves it out (None: the GPU "
                           "when there is one)"),
            "seed": ((), "used: test_cifar_accuracy_within_budget leaves it out; training bounded "
                         "by the wall clock is not reproducible, so its value is not verified"),
        },
    },
    "hw2": {
        "visualize_saliency_map": {
            "k": (("test_saliency_matches_captum",), ""),
            "show": ((), "unexercised: the grader passes show=False (drawing is not graded)"),
        },
        "visualize_integrated_gradients": {
            "c": (("test_integrated_gradients_default_class",), ""),
            "show": ((), "unexercised: the grader passes show=False (drawing is not graded)"),
        },
        "get_internal_influences": {
            "baseline": (("test_internal_influence_linear_from_input",), ""),
        },
        "necessity_ordering": {
            "batch_size": ((), EXTRA + "; the necessity checks call it without batch_size"),
        },
    },
    "hw3": {
        "check_counts": {
            "alpha": ((), "extra: an optional helper the notebook suggests, not graded itself"),
            "beta": ((), "extra: an optional helper the notebook suggests, not graded itself"),
        },
        "init_params": {"seed": (("test_init_params",), "")},
        "fit_mlp": {argument: ((), "extra: a helper the notebook describes for fit_mnist_mlp and "
                                     "fit_one_vs_six; no check calls it")
                    for argument in ("lr", "batch_size", "history")},
        "fit_mnist_mlp": {
            "epochs": (("test_fit_mnist_mlp_documented_defaults",), ""),
            "seed": (("test_fit_mnist_mlp_documented_defaults",), ""),
        },
        "fit_one_vs_six": {
            "epochs": (("test_fit_one_vs_six_documented_defaults",), ""),
            "seed": (("test_fit_one_vs_six_documented_defaults",), ""),
        },
    },
    "hw4": {
        "gradcam": {"normalize": (("test_gradcam_normalized",), "")},
        "gradcam_video": {"normalize": (("test_gradcam_video_is_per_frame",), "")},
        "lime_samples": {"seed": (("test_lime_samples",), "")},
        "lasso_lime": {
            "tol": ((), EXTRA + "; the lasso checks call it without tol"),
            "max_sweeps": ((), EXTRA + "; the lasso checks call it without max_sweeps"),
        },
    },
    "hw5": {
        "pgd_attack": {
            "random_start": (("test_pgd_defaults",), ""),
            "norm": (("test_pgd_defaults",), ""),
            "targeted": (("test_pgd_defaults",), ""),
            "loss": (("test_pgd_defaults",), ""),
        },
        "early_stopped_pgd": {"random_start": (("test_early_stopped_pgd_matches_fat",
                                                "test_early_stopped_pgd_hidden"), "")},
        **{method: {argument: (("test_training_defaults",), "")
                    for argument in ("epochs", "batch_size", "lr", "seed")}
           for method in ("adversarial_training", "friendly_adversarial_training")},
        "flip_labels": {"num_classes": (("test_flip_labels_exact_rate",), "")},
        "feature_collision_poison": {"lr": (("test_feature_collision_poison",), "")},
        "rr_epsilon": {"p_truth": (("test_randomized_response_epsilon",), "")},
        "invert_class": {"weight": (("test_invert_class_method",), "")},
    },
}


def solution_defaults(homework_id: str) -> dict[str, set[str]]:
    """{function: its defaulted arguments} of the top-level functions in `solution` cells."""
    found: dict[str, set[str]] = {}
    for cell in nbformat.read(homeworks.get(homework_id).solution, as_version=4).cells:
        if cell.cell_type != "code" or "solution" not in cell.metadata.get("tags", []):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.FunctionDef):
                arguments = node.args.posonlyargs + node.args.args
                defaulted = {a.arg for a in arguments[len(arguments) - len(node.args.defaults):]}
                defaulted |= {a.arg for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults)
                              if d is not None}
                if defaulted:
                    found[node.name] = defaulted
    return found


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_every_default_of_a_solution_function_is_listed(homework_id):
    listed = {name: set(arguments) for name, arguments in DEFAULTS[homework_id].items()}
    assert listed == solution_defaults(homework_id)


@pytest.mark.parametrize("homework_id", list(homeworks.HOMEWORKS))
def test_the_listed_checks_exist_and_every_other_default_says_why(homework_id):
    spec = vars(importlib.import_module(f"autograder.homeworks.{homework_id}"))
    for function, arguments in DEFAULTS[homework_id].items():
        for argument, (checks, why) in arguments.items():
            assert checks or why.split(":")[0] in ("extra", "used", "unexercised"), (function, argument)
            for check in checks:
                assert check in spec, f"{homework_id}: {check} ({function}, {argument}) is no check"

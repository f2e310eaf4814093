"""The homework registry: one spec module per homework, beside this file."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Homework:
    id: str
    notebook: str            # the same file name in solutions/ and notebooks/
    title: str
    datasets: tuple[str, ...] = ()       # what grading reads: "mnist", "cifar10" (tmlkit.data)
    # Modules that grader and student process both import, loaded once in the zygote (beyond
    # numpy and torch): torch's optimizers import torch._dynamo, about 70 MB, when the first is made.
    preload: tuple[str, ...] = ()
    # What a batch's zygote computes once for all the graders it forks ("module:function" of the
    # student package, cached): public work only, since every sandboxed child inherits it too.
    warm: tuple[str, ...] = ()

    @property
    def requirements(self) -> tuple[str, ...]:
        """This homework's extras (pyproject.toml), pinned as Gradescope's image and the Colab
        set-up cell install them (constraints/gradescope-py310.txt). Read at build time only."""
        from autograder import deps   # reads TOML: never imported while grading
        return deps.homework_pins(self.id)

    @property
    def spec(self) -> Path:
        return Path(__file__).with_name(f"{self.id}.py")

    @property
    def solution(self) -> Path:
        return REPO_ROOT / "solutions" / self.notebook

    @property
    def student(self) -> Path:
        return REPO_ROOT / "notebooks" / self.notebook


HOMEWORKS = {hw.id: hw for hw in [
    Homework("hw1", "hw1_linear_models.ipynb", "Linear models: softmax regression, attribution, "
                                               "model stealing, adversarial examples, CIFAR-10",
             datasets=("mnist", "cifar10"), preload=("torch._dynamo",),
             warm=("tmlkit.public.hw1:attack_model",)),
    Homework("hw2", "hw2_explanations.ipynb", "Explanations: LIME, Shapley values and SHAP, saliency, "
                                              "integrated gradients and influence with trulens"),
    Homework("hw3", "hw3_bayes_backprop.ipynb", "Bayesian inference and neural networks from scratch",
             datasets=("mnist",)),
    Homework("hw4", "hw4_gradcam_sparse_lime.ipynb", "Grad-CAM and sparse LIME"),
    Homework("hw5", "hw5_robustness_privacy.ipynb", "Security and privacy of ML: adversarial "
                                                    "training, poisoning, differential privacy, "
                                                    "membership inference, fairness",
             datasets=("mnist",), preload=("torch._dynamo",)),
]}


class UnknownHomework(LookupError):
    """No homework has this id (the message lists those that exist)."""


def get(homework_id: str) -> Homework:
    try:
        return HOMEWORKS[homework_id]
    except KeyError:
        raise UnknownHomework(f"unknown homework {homework_id!r}; known: "
                              f"{', '.join(HOMEWORKS)}") from None


def checks_of(homework_id: str) -> list[tuple[str, object]]:
    """(test function name, function) of every check of a homework, in order (``check_order``):
    the spec's hidden checks and the visible ones it imports from ``tmlkit.public``."""
    import importlib

    from tmlkit.spec import check_info, check_order
    module = importlib.import_module(f"autograder.homeworks.{get(homework_id).id}")
    found = [(name, function) for name, function in vars(module).items()
             if name.startswith("test_") and callable(function) and check_info(function)]
    return sorted(found, key=lambda pair: check_order(pair[1]))

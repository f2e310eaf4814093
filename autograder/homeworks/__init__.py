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
    requirements: tuple[str, ...] = ()   # pinned extras the Gradescope image needs for this one
    datasets: tuple[str, ...] = ()       # what grading reads: "mnist", "cifar10" (tmlkit.data)

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
             datasets=("mnist", "cifar10")),
    Homework("hw2", "hw2_explanations.ipynb", "Explanations: LIME, Shapley values and SHAP, saliency, "
                                              "integrated gradients and influence with trulens",
             requirements=("captum==0.9.0", "lime==0.2.0.1", "scikit-image==0.25.2", "shap==0.49.1",
                           "xgboost-cpu==3.2.0", "trulens==0.13.4")),
    Homework("hw3", "hw3_bayes_backprop.ipynb", "Bayesian inference and neural networks from scratch",
             datasets=("mnist",)),
    Homework("hw4", "hw4_gradcam_sparse_lime.ipynb", "Grad-CAM and sparse LIME",
             requirements=("captum==0.9.0", "scikit-image==0.25.2", "lime==0.2.0.1")),
    Homework("hw5", "hw5_robustness_privacy.ipynb", "Security and privacy of ML: adversarial "
                                                    "training, poisoning, differential privacy, "
                                                    "membership inference, fairness",
             requirements=("fairlearn==0.14.0",), datasets=("mnist",)),
]}


class UnknownHomework(LookupError):
    """No homework has this id (the message lists those that exist)."""


def get(homework_id: str) -> Homework:
    try:
        return HOMEWORKS[homework_id]
    except KeyError:
        raise UnknownHomework(f"unknown homework {homework_id!r}; known: "
                              f"{', '.join(HOMEWORKS)}") from None

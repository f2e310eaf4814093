"""hw1's part-3 self-check on a GPU judges the run the notebook already made (no second
1000-second training), and still fails a run that misses the bar or the budget. The GPU is
simulated: ``cuda_available`` is patched, and the labels come from a small fake CIFAR-10."""
from __future__ import annotations

import types

import numpy as np
import pytest

from tmlkit import data
from tmlkit.public import hw1 as public_hw1
from tmlkit.selfcheck import selfcheck

LABELS = np.random.default_rng(0).integers(0, 10, 10_000)


class NoTraining:
    """The kept definitions: ``train_cifar_model`` exists, and calling it is a test failure."""
    calls = 0

    def train_cifar_model(self, *args, **kwargs):
        NoTraining.calls += 1
        raise AssertionError("the self-check trained again")


def notebook(predictions, wall_s=600.0, budget_s=1000.0, device="cuda", quick=False):
    def train_cifar_model(x_train, y_train, x_test, time_budget_s=60.0, device=None, seed=0):
        raise AssertionError("the self-check trained again")
    return {"train_cifar_model": train_cifar_model,
            "cifar_run": {"predictions": predictions, "wall_s": wall_s, "budget_s": budget_s,
                          "device": device, "quick": quick}}


@pytest.fixture
def gpu(monkeypatch):
    monkeypatch.setattr(public_hw1, "cuda_available", lambda: True)
    monkeypatch.setattr(data, "load_cifar10",
                        lambda *a, **k: types.SimpleNamespace(y_test=LABELS))


def correct_up_to(fraction: float) -> np.ndarray:
    predictions = LABELS.copy()
    wrong = int(len(LABELS) * (1 - fraction))
    predictions[:wrong] = (predictions[:wrong] + 1) % 10
    return predictions


def run_check(namespace):
    public_hw1.test_cifar_accuracy_within_budget(NoTraining(), notebook=namespace)


def test_a_good_gpu_run_passes_without_training_again(gpu):
    NoTraining.calls = 0
    run_check(notebook(correct_up_to(0.75)))
    assert NoTraining.calls == 0


@pytest.mark.parametrize("namespace, message", [
    (notebook(correct_up_to(0.60)), "below the bar"),
    (notebook(correct_up_to(0.75), wall_s=1200.0), "Over the time budget"),
    (notebook(correct_up_to(0.75), budget_s=3000.0), "a budget of 3000 s"),
    (notebook(correct_up_to(0.75)[:500]), "shape"),
])
def test_a_recorded_run_that_misses_fails(gpu, namespace, message):
    with pytest.raises(Exception, match=message):
        run_check(namespace)


@pytest.fixture
def tiny_cifar(monkeypatch):
    cifar = types.SimpleNamespace(x_train=np.zeros((20, 32, 32, 3), np.uint8),
                                  y_train=np.zeros(20, np.int64),
                                  x_test=np.zeros((10, 32, 32, 3), np.uint8), y_test=LABELS[:10])
    monkeypatch.setattr(data, "load_cifar10", lambda *a, **k: cifar)


@pytest.mark.parametrize("namespace", [
    {}, notebook(correct_up_to(0.75), quick=True), notebook(correct_up_to(0.75), device="cpu")])
def test_without_a_full_gpu_run_the_check_trains(gpu, tiny_cifar, namespace):
    """No full-data GPU run recorded (none, a quick run, a CPU run): it trains, as the grader."""
    with pytest.raises(AssertionError, match="trained again"):
        run_check(namespace)


def test_the_grader_never_judges_a_recorded_run(gpu, tiny_cifar):
    """In the grader no ``notebook`` is passed: the recorded run is ignored."""
    with pytest.raises(AssertionError, match="trained again"):
        public_hw1.test_cifar_accuracy_within_budget(NoTraining())


def test_selfcheck_passes_the_notebook_to_the_check(gpu, capsys):
    namespace = notebook(correct_up_to(0.75))
    assert selfcheck("hw1", "3", namespace)
    assert "Judged the GPU run of the cell above" in capsys.readouterr().out


# Recorded expected values: the notebook's `expected` finds a value by the fingerprint of its
# inputs, and says it cannot judge where this environment built other inputs.

def test_recorded_values_round_trip_exactly():
    from tmlkit.recorded import decode, encode
    value = {"a": np.random.default_rng(1).normal(size=(3, 4)).astype(np.float32),
             "b": (1, 2.5, float("inf"), None, "x"), "c": [np.int64(3), np.arange(5)]}
    back = decode(encode(value))
    assert back["a"].dtype == np.float32 and np.array_equal(back["a"], value["a"])
    assert back["b"] == (1, 2.5, float("inf"), None, "x") and back["c"][0] == 3
    assert np.array_equal(back["c"][1], np.arange(5))


def test_a_model_built_differently_cannot_be_judged_here():
    """hw4's Grad-CAM check on a CNN whose weights differ by one float from the recording's: the
    self-check says it cannot judge, rather than compare with values of another model."""
    import torch

    from tmlkit.models import small_cnn
    from tmlkit.public import hw4 as public_hw4
    from tmlkit.recorded import CannotJudgeHere, Recorded
    from tmlkit.selfcheck import judge

    from tmlkit.errors import MissingFunction

    class NoGradcam:      # the recorded value was found: the check reached the student's code
        def __getattr__(self, name):
            raise MissingFunction(f"`{name}` is not defined")

    recorded = Recorded("hw4")
    mark, message = judge(public_hw4.test_gradcam_matches_captum,
                          {"hw": NoGradcam(), "expected": recorded})
    assert (mark, message) == ("✗", "`gradcam` is not defined")
    built = small_cnn(0)
    with torch.no_grad():
        next(built.parameters()).view(-1)[0] += 1e-6
    x = np.random.default_rng(42).normal(size=(1, 3, 16, 16))
    with pytest.raises(CannotJudgeHere, match="cannot judge this check here"):
        recorded("gradcam", (0,), "features.6", x, 1, trusted=built)
    assert recorded("gradcam", (0,), "features.6", x, 1, trusted=small_cnn(0)).ndim == 2


def test_a_check_the_grader_alone_judges_says_why():
    from tmlkit.public import hw5 as public_hw5
    from tmlkit.recorded import Recorded
    from tmlkit.selfcheck import checked_on_submission
    reasons = checked_on_submission("hw5")
    assert "test_adversarial_training_is_robust" in reasons
    with pytest.raises(Exception, match="checked when you submit: it attacks the model"):
        Recorded("hw5")("pgd_accuracy_of_trained", None)
    assert public_hw5.test_adversarial_training_is_robust.__module__ == "tmlkit.public.hw5"

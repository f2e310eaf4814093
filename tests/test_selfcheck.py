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

"""The shared checks agree with independent computations."""
import numpy as np
import pytest
from scipy.optimize import linprog, minimize

from autograder.checks.adversarial import min_l2_targeted_linear
from tmlkit.numeric import lp_sizes
from tmlkit.attribution import completeness_error
from tmlkit.numeric import as_array, numerical_gradient, rel_error
from tmlkit.spec import CheckFailed
from conftest import needs_cifar, needs_mnist


def test_numerical_gradient_of_a_quadratic():
    A = np.random.default_rng(0).normal(size=(4, 4))
    x = np.random.default_rng(1).normal(size=4)
    assert rel_error(numerical_gradient(lambda v: v @ A @ v, x), (A + A.T) @ x) < 1e-8


def test_rel_error_is_symmetric_and_zero_on_equal():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error([1.0], [1.1]) == rel_error([1.1], [1.0])


def test_as_array_messages():
    with pytest.raises(CheckFailed, match="forget a `return`"):
        as_array(None, "dW")
    with pytest.raises(CheckFailed, match="shape"):
        as_array(np.zeros(3), "db", shape=(4,))
    with pytest.raises(CheckFailed, match="NaN"):
        as_array([np.nan], "loss")


@pytest.mark.parametrize("seed", range(8))
def test_min_l2_attack_matches_a_general_solver(seed):
    rng = np.random.default_rng(seed)
    D, C = 12, 4
    W, b, x = rng.normal(size=(D, C)), rng.normal(size=C), rng.uniform(size=D)
    target = int(np.argmin(x @ W + b))
    others = [i for i in range(C) if i != target]
    solved = min_l2_targeted_linear(W, b, x, target)
    constraints = [{"type": "ineq",
                    "fun": lambda v, i=i: (W[:, target] - W[:, i]) @ (x + v) + b[target] - b[i]}
                   for i in range(C) if i != target]
    slsqp = minimize(lambda v: v @ v, np.zeros(D), jac=lambda v: 2 * v, method="SLSQP",
                     constraints=constraints, bounds=list(zip(-x, 1 - x)), options={"ftol": 1e-12,
                                                                                    "maxiter": 500})
    feasible = linprog(np.zeros(D), A_ub=-(W[:, [target]] - W[:, others]).T,
                       b_ub=(W[:, [target]] - W[:, others]).T @ x + b[target] - b[others],
                       bounds=list(zip(-x, 1 - x))).status == 0
    if not feasible:   # no point of the box makes the target win: the solver must say so
        assert solved is None
        return
    d, gap = solved
    assert min(c["fun"](slsqp.x) for c in constraints) > -1e-6      # SLSQP found a feasible point
    assert abs(gap) < 1e-8
    assert np.linalg.norm(d) == pytest.approx(np.linalg.norm(slsqp.x), rel=1e-4)
    scores = (x + d) @ W + b
    assert scores[target] >= scores.max() - 1e-6


def test_min_l2_attack_is_zero_when_already_target():
    W, b, x = np.eye(3), np.zeros(3), np.array([0.9, 0.1, 0.0])
    d, _ = min_l2_targeted_linear(W, b, x, 0)
    assert np.linalg.norm(d) == 0


def test_completeness_error_and_sizes():
    w, x, base = np.array([1.0, -2.0]), np.array([0.5, 0.5]), np.zeros(2)
    assert completeness_error(w, x, base, w @ x, 0.0) == 0.0
    assert completeness_error(w * x, x, base, w @ x, 0.0) > 0.1
    assert lp_sizes(np.array([0.0, 3.0, -4.0])) == {"L0": 2.0, "L1": 7.0, "L2": 5.0, "Linf": 4.0}


def test_digit_labels_and_student_images_agree_with_digits():
    from tmlkit import datasets
    full = datasets.digits(600, 300, np.float32)
    labels = datasets.digit_labels(600, 300)
    np.testing.assert_array_equal(labels.y_train, full.y_train)
    np.testing.assert_array_equal(labels.y_test, full.y_test)
    assert labels.x_train.shape == (len(full.y_train), 0) and labels.name == full.name
    picked = datasets.digits_for_student(600, 300, "float32", (1, 6), ((1, 6), (3,)))
    expected = datasets.select_classes(full, (1, 6), ((1, 6), (3,)))
    np.testing.assert_array_equal(picked.x_train, expected.x_train)
    np.testing.assert_array_equal(picked.x_test, expected.x_test)
    assert set(picked.y_train) == {1, 6} and picked.x_train.dtype == np.float32
    groups = picked.y_test
    n_in = np.isin(groups, (1, 6)).sum()
    assert set(groups[:n_in]) <= {1, 6} and set(groups[n_in:]) == {3}



@needs_cifar
def test_cifar_subset_decodes_the_same_images_as_the_full_load():
    from tmlkit import data
    train, test = np.array([0, 49_999, 17, 17]), np.array([9_999, 3])
    subset, full = data.load_cifar10_subset(train, test), data.load_cifar10(download=False)
    for got, expected in zip((subset.x_train, subset.y_train, subset.x_test, subset.y_test),
                             (full.x_train[train], full.y_train[train], full.x_test[test],
                              full.y_test[test])):
        np.testing.assert_array_equal(got, expected)


def test_a_fresh_process_check_restarts_the_sandbox_before_its_clock_starts():
    from autograder.plugin import GradingPlugin
    from tmlkit.spec import check

    events = []

    class Box:
        class limits:
            call_timeout_s, wall_factor = None, 10.0

        def restart(self):
            events.append(("restart", self.budget))

        budget = None

    class Item:
        pass

    for fresh in (True, False):
        events.clear()
        item = Item()
        item.path, item.name = "hw1.py", "test_something"

        def test_something(hw):
            pass
        item.function = check("3", 1, fresh_process=fresh)(test_something)
        hook = GradingPlugin(Box()).pytest_runtest_call(item)
        next(hook)
        assert events == ([("restart", None)] if fresh else [])


@needs_cifar
@needs_mnist
def test_local_copies_for_gradescope_read_back_the_same_data(tmp_path, monkeypatch):
    from tmlkit import data
    folder = data.save_local_copies(tmp_path / "data")
    mnist, cifar = data.load_mnist(download=False), data.load_cifar10(download=False)
    monkeypatch.setenv(data.DATA_ENV, str(folder))
    assert data.cifar10_available() and data.mnist_available()
    copy = data.load_cifar10(download=False)
    assert copy.source.endswith(data.RAW_CIFAR)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(copy, name), getattr(cifar, name))
        np.testing.assert_array_equal(getattr(data.load_mnist(download=False), name),
                                      getattr(mnist, name))
    train, test = np.array([5, 0, 49_999]), np.array([7, 7])
    subset = data.load_cifar10_subset(train, test, download=False)
    np.testing.assert_array_equal(subset.x_train, cifar.x_train[train])
    np.testing.assert_array_equal(subset.y_test, cifar.y_test[test])

"""Visible checks of hw5: written once, run by the grader (its spec, autograder/homeworks/hw5.py,
imports them) and by the notebook's self-check (tmlkit.selfcheck). Where a check compares with the
grader's reference, it asks its ``expected`` fixture (see tmlkit.recorded)."""
from __future__ import annotations

import math

import numpy as np

from tmlkit import robustness as trusted          # models and data, built alike in both processes
from tmlkit.numeric import as_array, as_float, as_pair, rel_error
from tmlkit.errors import StudentException
from tmlkit.wire import Build
from tmlkit.spec import CheckFailed, check, leaderboard, note

FACTORY = "tmlkit.robustness:"


def _source() -> str:
    source = trusted.grading_source()
    note(f"Data: {trusted.source_name(source)}.")
    return source


def standard(source: str, double: bool = False):
    """(the Build for the student, the grader's own identical copy)."""
    return (Build(FACTORY + "standard_mlp", (source, double)), trusted.standard_mlp(source, double))


def _test_set(source: str, n: int, rng=None):
    x, y = trusted.images(source)[2:]
    index = np.arange(n) if rng is None else np.sort(rng.choice(len(x), n, replace=False))
    return x[index], y[index]


def _ulps(double: bool) -> float:
    # Projection arithmetic rounds x ± ε once: at most one unit in the last place of numbers
    # up to 1, so 4 ulps of the model's dtype is a bound no correct projection exceeds.
    return 4 * float(np.finfo(np.float64 if double else np.float32).eps)


# ---------------------------------------------------------------------------------------------
# 1.1 FGSM
# ---------------------------------------------------------------------------------------------

@check("1.1", points=1)
def test_fgsm_matches_reference(hw, expected):
    """fgsm: clip(x + ε·sign(∇ₓ loss), 0, 1), as the grader's FGSM (float64)"""
    source = _source()
    build, model = standard(source, double=True)
    x, y = _test_set(source, 100)
    x = x.astype(np.float64)
    for eps in (0.1, 0.25):
        want = x + expected("fgsm_step", model, x, y, eps)
        got = as_array(hw.fgsm(build, x, y, eps), f"fgsm(model, x, y, eps={eps})", shape=x.shape)
        gap = float(np.abs(got - want).max())
        if gap > 1e-9:
            delta = np.abs(got - x)
            if np.mean(np.isclose(delta, eps) | np.isclose(delta, 0) | (got == 0) | (got == 1)) < 0.9:
                hint = ("Most of your perturbation's entries are not ±ε: step by ε times the "
                        "*sign* of the gradient, not the gradient itself.")
            elif got.min() < 0 or got.max() > 1:
                hint = "Clip the result to [0, 1]."
            else:
                hint = ("Step *up* the cross-entropy loss of the true labels y (gradient ascent), "
                        "with respect to the input x, then clip to [0, 1].")
            raise CheckFailed(f"fgsm(model, x, y, eps={eps}) on 100 test images: max |x_adv - "
                              f"x_ref| = {gap:.3g} against the grader's FGSM (expected ≤ 1e-9). "
                              f"{hint}")


# ---------------------------------------------------------------------------------------------
# 1.2 PGD
# ---------------------------------------------------------------------------------------------

def _check_in_ball(x, got, eps, norm, double, what):
    tol = _ulps(double)
    if got.shape != x.shape:
        raise CheckFailed(f"{what} has shape {got.shape}; expected {x.shape}, the shape of x.")
    if got.min() < 0 or got.max() > 1:
        raise CheckFailed(f"{what}: x_adv has entries in [{got.min():.4g}, {got.max():.4g}], "
                          "outside the image range [0, 1] (checked exactly, without tolerance). "
                          "After projecting onto the ε-ball, also clip x_adv to [0, 1] (torch.clamp"
                          "(x_adv, 0, 1)) at every step.")
    delta = (got - x).reshape(len(x), -1)
    size = np.abs(delta).max(axis=1) if norm == "linf" else np.linalg.norm(delta, axis=1)
    if size.max() > eps + tol * (1 if norm == "linf" else np.sqrt(delta.shape[1])):
        worst = int(size.argmax())
        projection = ("clamp x_adv between x - ε and x + ε" if norm == "linf" else
                      "rescale δ = x_adv - x by min(1, ε / ‖δ‖₂)")
        raise CheckFailed(f"{what}: example {worst} has ‖x_adv - x‖ = {size[worst]:.6g} in the "
                          f"{norm} norm, above ε = {eps:g} (tolerance {tol:.1g}, float rounding of "
                          f"the projection). After every step, project: {projection}.")


def _pgd(hw, build, x, y, what, **kwargs):
    return as_array(hw.pgd_attack(build, x, y, **kwargs), what)


@check("1.2", points=2)
def test_pgd_stays_in_ball_and_box(hw):
    """pgd_attack: x_adv within the ε-ball (L∞ and L2) and in [0, 1], exactly"""
    source = _source()
    x, y = _test_set(source, 64)
    for double in (False, True):
        build, _ = standard(source, double)
        xs = x.astype(np.float64) if double else x
        for norm, eps, alpha in (("linf", 0.3, 0.05), ("linf", 0.1, 0.04), ("l2", 1.5, 0.5)):
            for random_start in (True, False):
                for targeted in (False, True):
                    labels = (y + 1) % 10 if targeted else y
                    what = (f"pgd_attack(model, x, y, eps={eps}, alpha={alpha}, steps=10, "
                            f"random_start={random_start}, norm='{norm}', targeted={targeted}) "
                            f"on a float{64 if double else 32} model")
                    got = _pgd(hw, build, xs, labels, what, eps=eps, alpha=alpha, steps=10,
                               random_start=random_start, norm=norm, targeted=targeted)
                    _check_in_ball(xs, got, eps, norm, double, what)


def _strength(hw, expected, source, n, eps, alpha, steps, norm="linf", loss="ce", targeted=False,
              rng=None, slack=0.02, bar=None):
    build, model = standard(source)
    x, y = _test_set(source, n, rng)
    labels = (y + 1) % 10 if targeted else y
    what = (f"pgd_attack(model, x, y, eps={eps:g}, alpha={alpha:g}, steps={steps}, norm='{norm}'"
            + (f", loss='{loss}'" if loss != "ce" else "") + (", targeted=True" if targeted else "")
            + f") on {n} test images")
    got = _pgd(hw, build, x, labels, what, eps=eps, alpha=alpha, steps=steps, norm=norm,
               targeted=targeted, **({"loss": loss} if loss != "ce" else {}))
    _check_in_ball(x, got, eps, norm, False, what)
    theirs = expected("pgd_hits", model, x, labels, eps, alpha, steps, norm, loss, targeted)
    if targeted:
        ours = float(np.mean(trusted.predictions(model, got) == labels))
        note(f"{what}: targeted success {ours:.1%}; the grader's PGD {theirs:.1%}.")
        if ours < theirs - slack or (bar is not None and ours < bar):
            raise CheckFailed(f"{what}: only {ours:.1%} of the images are classified as their "
                              f"target, against {theirs:.1%} for the grader's targeted PGD (at "
                              f"most {slack:.0%} less allowed). In targeted mode, *descend* the "
                              "loss of the target label (step against the gradient).")
        return
    clean = trusted.accuracy(model, x, y)
    ours = trusted.accuracy(model, got, y)
    note(f"{what}: accuracy {clean:.1%} clean, {ours:.1%} under your PGD, {theirs:.1%} under the "
         f"grader's.")
    if ours > theirs + slack or (bar is not None and ours > bar):
        limit = f"at most {theirs + slack:.1%}" + (f" and at most {bar:.0%}" if bar else "")
        raise CheckFailed(f"{what}: the model still classifies {ours:.1%} of the attacked images "
                          f"correctly ({limit} expected; the grader's PGD leaves {theirs:.1%}). "
                          "Step *up* the loss of the true labels, by α·sign(gradient) for L∞ or "
                          "α·g/‖g‖₂ for L2, starting from x (or a random point of the ball), and "
                          "project after each step.")


@check("1.2", points=2, timeout=60)
def test_pgd_breaks_a_standard_model(hw, expected):
    """pgd_attack: ε = 0.3 takes a standard model to ≤ 5%, within 2 points of the grader's PGD"""
    _strength(hw, expected, _source(), 300, 0.3, 0.01, 40, bar=0.05)


@check("1.2", points=1)
def test_pgd_defaults(hw, expected):
    """pgd_attack: the defaults random_start=True, norm='linf', targeted=False, loss='ce'"""
    source = _source()
    build, model = standard(source, double=True)
    x, y = _test_set(source, 64)
    x, eps = x.astype(np.float64), 0.3
    what = f"pgd_attack(model, x, y, eps={eps}, alpha=0.01, steps=0)"
    start = _pgd(hw, build, x, y, what, eps=eps, alpha=0.01, steps=0)
    _check_in_ball(x, start, eps, "linf", True, what)
    moved = np.abs(start - x)
    inside = (x > eps) & (x < 1 - eps)        # pixels the [0, 1] clip cannot touch
    if moved.max() == 0:
        raise CheckFailed(f"{what} returned x itself: random_start defaults to True, so x_adv "
                          "starts at a uniform random point of the ε-ball even with no steps.")
    if moved[inside].mean() < eps / 4:
        raise CheckFailed(f"{what}: the random start moves pixels by {moved[inside].mean():.3g} "
                          f"on average, but a uniform start in the L∞ ball (the default norm) "
                          f"moves each by ε/2 = {eps / 2:g} on average: draw δ uniformly in "
                          "[−ε, ε] per pixel when norm='linf'.")
    off = _pgd(hw, build, x, y, f"{what[:-1]}, random_start=False)", eps=eps, alpha=0.01, steps=0,
               random_start=False)
    if not np.array_equal(off, x):
        raise CheckFailed(f"{what[:-1]}, random_start=False) should return x unchanged (no random "
                          "start, no steps).")
    # Without random start PGD is deterministic: the defaults must give the grader's L∞,
    # untargeted, cross-entropy PGD (a sign can differ where a gradient entry is ~0).
    what = f"pgd_attack(model, x, y, eps={eps}, alpha=0.05, steps=10, random_start=False)"
    got = _pgd(hw, build, x, y, what, eps=eps, alpha=0.05, steps=10, random_start=False)
    _check_in_ball(x, got, eps, "linf", True, what)
    want = x + expected("pgd_step_no_random_start", model, x, y, eps, 0.05, 10)
    agree = float(np.mean(np.abs(got - want) <= 1e-9))
    if agree < 0.99:
        raise CheckFailed(f"{what}: only {agree:.1%} of the entries agree with the grader's PGD "
                          "with norm='linf', targeted=False, loss='ce' (≥ 99% expected): check "
                          "the defaults of norm, targeted and loss in your signature.")


@check("1.2", points=1, timeout=60)
def test_pgd_l2_and_targeted(hw, expected):
    """pgd_attack: L2 (ε = 2) and targeted modes as strong as the grader's PGD"""
    source = _source()
    eps = 2.0 if source == "mnist" else 1.0
    _strength(hw, expected, source, 200, eps, eps / 8, 40, norm="l2")
    _strength(hw, expected, source, 200, 0.3, 0.01, 40, targeted=True, bar=0.7)


@check("1.2", points=1)
def test_cw_loss_and_pgd_with_it(hw, expected):
    """cw_loss: the margin max_{j≠y} z_j − z_y; PGD with loss='cw' is as strong as ours"""
    rng = np.random.default_rng(12)
    for n, c in ((7, 10), (5, 3), (4, 2)):
        logits, y = rng.normal(scale=3, size=(n, c)), rng.integers(0, c, n)
        want = expected("margin", logits, y)
        got = as_array(hw.cw_loss(logits, y), f"cw_loss(logits ({n}, {c}), y)", shape=(n,))
        if rel_error(got, want) > 1e-9:
            hint = ("It is the negative of the margin: return max_{j≠y} z_j − z_y, positive when "
                    "the example is misclassified." if rel_error(got, -want) < 1e-9 else
                    "For each row, the largest logit among the *other* classes minus the true "
                    "class's logit (mask the true class with -inf before the max).")
            raise CheckFailed(f"cw_loss on random logits ({n}, {c}): relative error "
                              f"{rel_error(got, want):.2g} against the margin (expected ≤ "
                              f"1e-9). {hint}")
    _strength(hw, expected, _source(), 200, 0.3, 0.01, 40, loss="cw", bar=0.05)


# ---------------------------------------------------------------------------------------------
# 1.3 FAT's early-stopped PGD
# ---------------------------------------------------------------------------------------------

def _check_early_stop(hw, source, n, eps, alpha, steps, tau, rng=None, reference=None):
    """The stopping rule and the steps, from x (random_start=False): deterministic, so compared
    with the grader's early stop example by example."""
    build, model = standard(source, double=True)
    x, y = _test_set(source, n, rng)
    x = x.astype(np.float64)
    what = (f"early_stopped_pgd(model, x, y, eps={eps:g}, alpha={alpha:g}, steps={steps}, "
            f"tau={tau}, random_start=False)")
    pair = as_pair(hw.early_stopped_pgd(build, x, y, eps, alpha, steps, tau, random_start=False),
                   what)
    got = as_array(pair[0], f"{what}[0] (x_adv)")
    taken = as_array(pair[1], f"{what}[1] (steps taken)", shape=(n,))
    _check_in_ball(x, got, eps, "linf", True, what)
    step, expected_taken = reference("early_stopped_pgd_step", model, x, y, eps, alpha, steps, tau)
    expected = x + step
    same = taken == expected_taken
    total, plain = int(taken.sum()), n * steps
    note(f"{what} on {n} images: {total} PGD steps in all, against {plain} for plain PGD "
         f"({total / plain:.0%}); the grader's early stop takes {int(expected_taken.sum())}.")
    if np.mean(same) < 0.98:
        first = int(np.flatnonzero(~same)[0])
        hint = ("Stop an example when its current iterate is misclassified and its budget (tau "
                "at the start) is 0; when it is misclassified with budget left, spend one unit and "
                "keep stepping; a correctly classified example keeps stepping. Count gradient "
                "steps, not iterations checked.")
        if np.all(taken == steps):
            hint = "No example stopped early. " + hint
        raise CheckFailed(f"{what}: the number of steps taken agrees with the grader's FAT "
                          f"early stop for only {np.mean(same):.0%} of the {n} examples (≥ 98% "
                          f"expected); e.g. example {first}: {taken[first]:g} steps, expected "
                          f"{expected_taken[first]}. {hint}")
    gap = float(np.abs(got[same] - expected[same]).max())
    if gap > 1e-6:
        raise CheckFailed(f"{what}: where the step counts agree, x_adv differs from the grader's "
                          f"by up to {gap:.3g} (expected ≤ 1e-6). Return the iterate at which an "
                          "example stopped, built by L∞ PGD steps α·sign(∇ loss) from x (with "
                          "random_start=False), projected onto the ε-ball and [0, 1], without "
                          "added noise.")
    if total >= plain:
        raise CheckFailed(f"{what}: {total} steps, as many as plain PGD ({plain}): examples must "
                          "stop early.")


def _check_early_stop_start(hw, source, n, eps, tau, rng=None):
    """With random_start left out (True, as FAT's `earlystop` with rand_init): no steps return
    the start itself, uniform in the L∞ ball and clipped to [0, 1]; one step stops exactly the
    examples whose start is misclassified (τ = 0), keeping that start."""
    build, model = standard(source, double=True)
    x, y = _test_set(source, n, rng)
    x = x.astype(np.float64)
    what = f"early_stopped_pgd(model, x, y, eps={eps:g}, alpha={eps / 4:g}, steps=0, tau={tau})"
    pair = as_pair(hw.early_stopped_pgd(build, x, y, eps, eps / 4, 0, tau), what)
    start = as_array(pair[0], f"{what}[0] (x_adv)")
    taken = as_array(pair[1], f"{what}[1] (steps taken)", shape=(n,))
    _check_in_ball(x, start, eps, "linf", True, what)
    if np.any(taken != 0):
        raise CheckFailed(f"{what}: steps_taken has nonzero entries; with steps=0 no example "
                          "takes a step.")
    moved = np.abs(start - x)
    inside = (x > eps) & (x < 1 - eps)        # pixels the [0, 1] clip cannot touch
    if moved.max() == 0:
        raise CheckFailed(f"{what} returned x itself: random_start defaults to True, as in FAT's "
                          "early-stopped PGD, so the search starts at a uniform random point of "
                          "the ε-ball even with no steps.")
    if abs(moved[inside].mean() / (eps / 2) - 1) > 0.1:
        raise CheckFailed(f"{what}: the random start moves pixels by {moved[inside].mean():.3g} "
                          f"on average, but a start drawn uniformly from [−ε, ε] per pixel moves "
                          f"them by ε/2 = {eps / 2:g} on average (a small Gaussian jitter is "
                          "another start, not this one).")
    what = f"early_stopped_pgd(model, x, y, eps={eps:g}, alpha={eps / 4:g}, steps=1, tau=0)"
    pair = as_pair(hw.early_stopped_pgd(build, x, y, eps, eps / 4, 1, 0), what)
    got = as_array(pair[0], f"{what}[0] (x_adv)")
    taken = as_array(pair[1], f"{what}[1] (steps taken)", shape=(n,))
    _check_in_ball(x, got, eps, "linf", True, what)
    stopped = taken == 0
    wrong = trusted.predictions(model, got) != y
    if np.any(stopped & ~wrong):
        raise CheckFailed(f"{what}: {int(np.sum(stopped & ~wrong))} examples took no step although "
                          "the model classifies what they returned correctly: with τ = 0 an "
                          "example stops only at a misclassified iterate, the random start "
                          "included.")
    wrong_starts = int(np.sum(trusted.predictions(model, start) != y))   # of the steps=0 call
    if not np.any(stopped) and wrong_starts >= 10:
        raise CheckFailed(f"{what}: no example stopped at its random start, though the model "
                          f"misclassified {wrong_starts} of the {n} random starts of the call "
                          "with steps=0: apply the stopping rule to the start (iteration k = 0) "
                          "too, before the first step.")


@check("1.3", points=2)
def test_early_stopped_pgd_matches_fat(hw, expected):
    """early_stopped_pgd: FAT's stopping rule (τ = 0, 2) from x; a uniform random start by default"""
    source = _source()
    for tau in (0, 2):
        _check_early_stop(hw, source, 200, 0.3, 0.03, 10, tau, reference=expected)
    _check_early_stop_start(hw, source, 200, 0.3, 1)


# ---------------------------------------------------------------------------------------------
# 1.4 Adversarial training and FAT
# ---------------------------------------------------------------------------------------------

def at_setting(source: str) -> dict:
    """A small budget that finishes in seconds on one CPU core: 2000 MNIST images (or the 1297
    digits), 8 epochs, 5 PGD steps; ε = 0.1 on MNIST, 0.2 on the 8×8 digits."""
    mnist = source == "mnist"
    eps = 0.1 if mnist else 0.2
    return dict(n=2000 if mnist else 1297, eps=eps, alpha=eps / 4, steps=5, epochs=8,
                batch_size=100, lr=0.1, seed=0)


FAT_TAU = 2

FAT_STEP_SHARE = 0.95     # FAT's mean inner steps per example, at most this share of AT's

FAT_NATURAL_SLACK = 0.02  # FAT's natural accuracy, at least AT's minus this


def _training_kwargs(s: dict, extra: dict) -> dict:
    return dict(eps=s["eps"], alpha=s["alpha"], steps=s["steps"], epochs=s["epochs"],
                batch_size=s["batch_size"], lr=s["lr"], seed=s["seed"], **extra)


def _train(hw, method: str, build: Build, x, y, kwargs: dict) -> dict:
    """The state the student's ``weights_after(method, model, x, y, **kwargs)`` returned."""
    try:
        weights = hw.weights_after(method, build, x, y, **kwargs)
    except StudentException as raised:
        if raised.type_name == "NotImplementedError":
            raise CheckFailed(f"`{method}` is not implemented yet (it raised "
                              "NotImplementedError).") from None
        raise
    if not isinstance(weights, dict):
        raise CheckFailed(f"weights_after('{method}', ...) should return a dict of arrays (the "
                          f"given helper does); it returned {type(weights).__name__}.")
    return weights


def _load(source: str, weights: dict, method: str):
    trained = trusted.mlp(source, 0)
    try:
        return trusted.load_weights(trained, weights)
    except (KeyError, ValueError, RuntimeError, TypeError) as error:
        raise CheckFailed(f"The weights after {method} do not fit the model ({error}): train the "
                          "model you are given, in place, and return it.") from None


def _check_robust_training(hw, method: str, extra: dict, expected, post: bool = False):
    source = _source()
    s = at_setting(source)
    x, y = (a[:s["n"]] for a in trusted.images(source)[:2])
    weights = _train(hw, method, Build(FACTORY + "mlp", (source, 0)), x, y,
                     _training_kwargs(s, extra))
    trained = _load(source, weights, method)
    baseline = trusted.sgd_train(trusted.mlp(source, 0), x, y, s["epochs"], lr=s["lr"],
                           batch_size=s["batch_size"], seed=s["seed"])
    x_test, y_test = _test_set(source, 500)
    eps = s["eps"]
    results = {}
    for name, model in (("standard", baseline), (method, trained)):
        results[name] = (trusted.accuracy(model, x_test, y_test),
                         expected("pgd_accuracy_of_trained", model, x_test, y_test, eps))
    (clean_s, robust_s), (clean, robust) = results["standard"], results[method]
    note(f"{len(x)} training images, {s['epochs']} epochs, ε = {eps:g}: natural / PGD-20 accuracy "
         f"on 500 test images: standard training {clean_s:.1%} / {robust_s:.1%}, yours "
         f"{clean:.1%} / {robust:.1%} (the grader's PGD).")
    if post:
        leaderboard(f"{method}: PGD-20 accuracy at eps = {eps:g}", robust)
    if clean < 0.5:
        raise CheckFailed(f"After {method} the model's natural accuracy is {clean:.1%} (at least "
                          "50% expected at this budget): train with SGD (momentum 0.9) at the "
                          "given lr on cross-entropy of the adversarial examples, labelled with "
                          "the true labels.")
    if robust < robust_s + 0.15:
        raise CheckFailed(f"After {method}, PGD-20 at ε = {eps:g} leaves {robust:.1%} accuracy, "
                          f"not clearly above the standard model's {robust_s:.1%} (at least 15 "
                          "points more expected). Craft the training batch's adversarial examples "
                          "with PGD *ascending* the loss (the model in eval mode), at the given ε, "
                          "and train on them rather than on the clean images.")


@check("1.4", points=2, timeout=120)
def test_adversarial_training_is_robust(hw, expected):
    """adversarial_training: PGD accuracy clearly above a standard model of the same budget"""
    _check_robust_training(hw, "adversarial_training", {}, expected, post=True)


@check("1.4", points=2, timeout=120)
def test_friendly_adversarial_training_is_robust(hw, expected):
    """friendly_adversarial_training (τ = 2): PGD accuracy clearly above a standard model's"""
    _check_robust_training(hw, "friendly_adversarial_training", {"tau": FAT_TAU}, expected)


# How the training ran: a traced model (trusted.traced_mlp) records each forward call in the student's
# process, so the checks below see the method (attack passes, modes, steps), not only the outcome.

def _traced_run(hw, method: str, extra: dict, snapshots: bool = False):
    """(source, setting, x, y, weights, trace) of ``method`` trained on a traced model; with
    ``snapshots``, three minibatches (early, middle, late) keep their weights and inputs."""
    source = _source()
    s = at_setting(source)
    x, y = (a[:s["n"]] for a in trusted.images(source)[:2])
    per_epoch = math.ceil(len(x) / s["batch_size"])
    chosen = (per_epoch, per_epoch * s["epochs"] // 2, per_epoch * s["epochs"] - 2) \
        if snapshots else ()
    state = _train(hw, method, Build(FACTORY + "traced_mlp", (source, 0, chosen)), x, y,
                   _training_kwargs(s, extra))
    weights, trace = trusted.split_trace(state)
    if trace is None or not len(trace.batch):
        raise CheckFailed(f"{method} never called the model it was given: train that model in "
                          "place (the grader watches its forward passes) and return it.")
    return source, s, x, y, weights, trace


def _attack_passes(trace, method: str, s: dict, n: int) -> np.ndarray:
    """The number of attack passes (eval mode, input requiring grad) before each minibatch's
    update (its train-mode pass), after checking that there is one update per minibatch."""
    per_epoch = math.ceil(n / s["batch_size"])
    expected = s["epochs"] * per_epoch
    updates = np.flatnonzero(trace.training)
    if len(updates) > expected and np.any(trace.training & trace.attack):
        inside = int(np.sum(trace.training & trace.attack))
        raise CheckFailed(f"{method}: {inside} of the forward passes whose input requires grad "
                          "(the inner attack's gradient passes) ran with the model in train mode, "
                          f"and {len(updates)} passes in all ran in train mode where one per "
                          f"minibatch ({expected}) was expected. Run the inner maximisation with "
                          "the model in eval mode (model.eval()) and switch to train mode "
                          "(model.train()) only for the update on the adversarial batch.")
    if len(updates) != expected:
        raise CheckFailed(f"{method}: {len(updates)} forward passes in train mode, expected one per "
                          f"minibatch: {s['epochs']} epochs × ⌈{n} / {s['batch_size']}⌉ = "
                          f"{expected}. Take one optimiser step per minibatch, on the adversarial "
                          "batch, in train mode; craft the batch in eval mode.")
    sizes = sorted(trace.batch[updates].tolist())
    wanted = sorted([s["batch_size"]] * (n // s["batch_size"]) * s["epochs"] +
                    ([n % s["batch_size"]] * s["epochs"] if n % s["batch_size"] else []))
    if sizes != wanted:
        raise CheckFailed(f"{method}: the update passes had batch sizes {sorted(set(sizes))}, "
                          f"but minibatches of {s['batch_size']} covering all {n} images once "
                          "per epoch were expected (torch.randperm(n).split(batch_size)).")
    attack = ~trace.training & trace.attack
    minibatch = np.searchsorted(updates, np.arange(len(trace.batch)))   # calls up to each update
    counts = np.bincount(minibatch[attack], minlength=expected + 1)[:expected]
    return counts


def _describe_counts(counts: np.ndarray) -> str:
    values, times = np.unique(counts, return_counts=True)
    return ", ".join(f"{v} in {t}" for v, t in zip(values, times))


def _inner_steps_per_example(trace) -> float:
    """Mean PGD steps per example: per minibatch, the distinct input rows among its eval-mode
    passes and its update, less the batch size (each step makes a new row; a stopped example
    repeats its row)."""
    updates = np.flatnonzero(trace.training)
    steps = examples = 0
    first = 0
    for update in updates:
        rows = set(trace.rows[update].tolist())
        for call in range(first, update):
            if not trace.training[call]:
                rows.update(trace.rows[call].tolist())
        steps += len(rows) - int(trace.batch[update])
        examples += int(trace.batch[update])
        first = update + 1
    return steps / examples


@check("1.4", points=1, timeout=120)
def test_adversarial_training_method(hw):
    """adversarial_training: per minibatch, `steps` PGD passes in eval mode, then one update"""
    method = "adversarial_training"
    source, s, x, y, _, trace = _traced_run(hw, method, {}, snapshots=True)
    counts = _attack_passes(trace, method, s, len(x))
    note(f"{method}: {len(counts)} minibatches; gradient passes on the input (eval mode) before "
         f"each update: {_describe_counts(counts)} minibatches (steps = {s['steps']}).")
    if np.any(counts != s["steps"]):
        fgsm = " One pass per minibatch is FGSM, not PGD." if np.all(counts == 1) else ""
        raise CheckFailed(f"{method}: before each update the inner attack made this many "
                          f"gradient passes on the input with the model in eval mode: "
                          f"{_describe_counts(counts)} minibatches; PGD with steps = "
                          f"{s['steps']} makes exactly {s['steps']}.{fgsm} Call your pgd_attack "
                          "with the given eps, alpha and steps (random_start=True) on each batch.")
    known = {row.tobytes() for row in x}
    starts = [snapshot["start"] for snapshot in trace.snapshots.values() if "start" in snapshot]
    clean = np.mean([row.tobytes() in known for start in starts for row in start])
    if starts and clean > 0.5:
        raise CheckFailed(f"{method}: {clean:.0%} of the first attack pass's inputs are clean "
                          "training images: start PGD from a random point of the ε-ball "
                          "(random_start=True).")


DEFAULTS = dict(epochs=5, batch_size=128, lr=0.1, seed=0)   # the notebook's signatures


def _updates(trace) -> np.ndarray:
    """The optimiser's passes: train mode, on an input that does not require grad."""
    return trace.training & ~trace.attack


def _same_run(first, second) -> bool:
    (w1, t1), (w2, t2) = first, second
    return (np.array_equal(t1.batch, t2.batch) and np.array_equal(t1.training, t2.training)
            and np.array_equal(t1.attack, t2.attack)
            and [list(r) for r in t1.rows] == [list(r) for r in t2.rows]
            and all(np.allclose(np.asarray(w1[k]), np.asarray(w2[k]), rtol=0, atol=1e-6)
                    for k in w2))


def _check_training_defaults(hw, method: str, extra: dict, source: str, x, y):
    """``method`` with epochs, batch_size, lr and seed left out against the same call with the
    documented values given: ε = 0 makes the inner attack return the batch itself, so both runs
    are deterministic. They must be the same run, pass for pass and weight for weight, whatever
    the method (its own checks judge that); the trace then says which default differs."""
    args = dict(eps=0.0, alpha=0.0, steps=1, **extra)
    what = f"{method}(model, x, y, " + ", ".join(f"{k}={v}" for k, v in args.items())
    runs = {}
    for name, kwargs in (("default", args), ("explicit", {**args, **DEFAULTS})):
        state = _train(hw, method, Build(FACTORY + "traced_mlp", (source, 0)), x, y, kwargs)
        runs[name] = trusted.split_trace(state)
        if runs[name][1] is None or not len(runs[name][1].batch):
            raise CheckFailed(f"{method} never called the model it was given: train that model "
                              "in place (the grader watches its forward passes) and return it.")
    (weights, trace), (explicit, explicit_trace) = runs["default"], runs["explicit"]
    n, size = len(x), DEFAULTS["batch_size"]
    sizes, wanted = trace.batch[_updates(trace)], explicit_trace.batch[_updates(explicit_trace)]
    note(f"{what}) on {n} images, defaults left out: {len(sizes)} updates, batch sizes "
         f"{sorted(set(sizes.tolist()), reverse=True)}.")
    if _same_run(runs["default"], runs["explicit"]):
        return
    if sorted(sizes.tolist()) != sorted(wanted.tolist()):
        largest = int(sizes.max()) if len(sizes) else 0
        if largest != int(wanted.max(initial=0)):
            hint = f"batch_size defaults to {size}: the largest minibatch had {largest} images"
        else:
            hint = (f"epochs defaults to {DEFAULTS['epochs']}: {len(sizes)} optimiser steps "
                    f"(train-mode passes) where the same call with epochs={DEFAULTS['epochs']} "
                    f"made {len(wanted)}")
        raise CheckFailed(f"{what}) with epochs, batch_size, lr and seed left out: {hint}.")
    rows = [list(trace.rows[i]) for i in np.flatnonzero(_updates(trace))]
    if rows != [list(explicit_trace.rows[i]) for i in np.flatnonzero(_updates(explicit_trace))]:
        raise CheckFailed(f"{what}) with seed left out shuffled the images differently from "
                          "seed=0: seed defaults to 0, and the shuffle comes from "
                          "torch.Generator().manual_seed(seed) (two calls with the same seed "
                          "make the same minibatches).")
    gap = max(float(np.abs(np.asarray(weights[k]) - np.asarray(explicit[k])).max())
              for k in explicit)
    if gap > 1e-6:
        raise CheckFailed(f"{what}) with lr left out trains to other weights than lr=0.1 on the "
                          f"same minibatches (they differ by up to {gap:.3g}): lr defaults to "
                          "0.1.")
    raise CheckFailed(f"{what}) with epochs, batch_size, lr and seed left out runs differently "
                      "from the same call with epochs=5, batch_size=128, lr=0.1, seed=0 (its "
                      "forward passes differ): give the defaults the documented values.")


@check("1.4", points=1, timeout=120)
def test_training_defaults(hw):
    """adversarial_training, FAT: defaults epochs=5, batch_size=128, lr=0.1, seed=0"""
    source = _source()
    x, y = (a[:300] for a in trusted.images(source)[:2])
    _check_training_defaults(hw, "adversarial_training", {}, source, x, y)
    _check_training_defaults(hw, "friendly_adversarial_training", {"tau": 0}, source, x, y)


def _clean_rows(start, x, eps) -> list:
    """For each row of ``start``, the index of the training image within ε of it in L∞ (the
    image it was drawn around), or None."""
    flat = x.reshape(len(x), -1).astype(np.float64)
    rows = []
    for row in start.reshape(len(start), -1).astype(np.float64):
        distance = np.abs(flat - row).max(axis=1)
        nearest = int(distance.argmin())
        rows.append(nearest if distance[nearest] <= eps + 1e-6 else None)
    return rows


def _check_fat_snapshots(trace, method, source, s, x, y, reference):
    """The student's FAT examples of three minibatches against the grader's early-stopped PGD
    run on the same weights and batch, from the student's own random start (the first attack
    pass's input: the grader cannot draw the student's random numbers)."""
    known = {row.tobytes() for row in x}
    for index, snapshot in sorted(trace.snapshots.items()):
        if "adv" not in snapshot:
            continue
        adv = snapshot["adv"]
        # The whole batch's first attack input; an implementation that evaluates its start
        # under no_grad before the first gradient pass shows it as the first eval-mode call.
        start = snapshot.get("start")
        if start is None or len(start) != len(adv):
            start = snapshot.get("clean")
        if start is None or len(start) != len(adv):
            raise CheckFailed(f"{method}: minibatch {index} was trained on {len(adv)} examples, "
                              "but its inner attack did not start from a batch of that size.")
        if np.mean([row.tobytes() in known for row in start]) > 0.5:
            raise CheckFailed(f"{method}: in minibatch {index} the inner attack started from the "
                              "clean training images: FAT's early-stopped PGD starts from a "
                              "uniform random point of the ε-ball (random_start=True, its "
                              "default).")
        rows = _clean_rows(start, x, s["eps"])
        if any(row is None for row in rows):
            raise CheckFailed(f"{method}: in minibatch {index} the first attack pass was on "
                              "points farther than ε from every training image: start from a "
                              "random point of each training image's ε-ball.")
        model = _load(source, snapshot["weights"], method)
        clean = x[rows].astype(start.dtype)
        expected, taken = reference("early_stopped_pgd_of_trained", model, clean, y[rows],
                                    s["eps"], s["alpha"], s["steps"], FAT_TAU, start)
        if adv.shape != expected.shape:
            raise CheckFailed(f"{method}: minibatch {index} was attacked with {len(expected)} "
                              f"examples but trained on {len(adv)}.")
        gap = np.abs(adv - expected).reshape(len(adv), -1).max(axis=1)
        agree = float(np.mean(gap <= 1e-5))
        if agree < 0.95:
            raise CheckFailed(f"{method}: in minibatch {index}, the examples trained on match the "
                              f"grader's early-stopped PGD (τ = {FAT_TAU}, same weights, batch "
                              f"and random start) for only {agree:.0%} of them (≥ 95% expected; "
                              f"the grader's took {taken.mean():.2f} steps per example). Train on "
                              f"early_stopped_pgd(model, xb, yb, eps, alpha, steps, tau)'s x_adv, "
                              "with the model in eval mode.")


@check("1.4", points=2, timeout=120)
def test_friendly_adversarial_training_method(hw, expected):
    """friendly_adversarial_training: early-stopped PGD per minibatch, fewer steps than AT"""
    method = "friendly_adversarial_training"
    source, s, x, y, weights, trace = _traced_run(hw, method, {"tau": FAT_TAU}, snapshots=True)
    counts = _attack_passes(trace, method, s, len(x))
    if np.any(counts < 1) or np.any(counts > s["steps"]):
        raise CheckFailed(f"{method}: before each update the inner attack made this many "
                          f"gradient passes on the input with the model in eval mode: "
                          f"{_describe_counts(counts)} minibatches; early-stopped PGD makes "
                          f"between 1 and steps = {s['steps']}.")
    steps = _inner_steps_per_example(trace)
    natural = trusted.accuracy(_load(source, weights, method), *_test_set(source, 500))
    at_natural = expected("at_accuracy", source,
                          trusted=(trusted.images(source), trusted.mlp(source, 0)))
    note(f"{method} (τ = {FAT_TAU}): {steps:.2f} inner PGD steps per example (AT: {s['steps']}); "
         f"natural accuracy {natural:.1%} (the grader's AT on the same budget: {at_natural:.1%}).")
    if steps > FAT_STEP_SHARE * s["steps"]:
        raise CheckFailed(f"{method}: its inner attack took {steps:.2f} steps per example on "
                          f"average, against {s['steps']} for AT (at most "
                          f"{FAT_STEP_SHARE:.0%} of that expected): examples must stop early, "
                          "τ steps after they are first misclassified (early_stopped_pgd with the "
                          "given tau).")
    # Runs the grader's early stop on the batches the student's FAT attacked: a wrong
    # early_stopped_pgd (1.3) therefore also costs this check, as the training uses it.
    _check_fat_snapshots(trace, method, source, s, x, y, expected)
    if natural < at_natural - FAT_NATURAL_SLACK:
        raise CheckFailed(f"{method}: natural accuracy {natural:.1%}, below the grader's AT on "
                          f"the same budget ({at_natural:.1%}) by more than "
                          f"{FAT_NATURAL_SLACK:.0%}; FAT should keep natural accuracy at least "
                          "as high as AT's.")


# ---------------------------------------------------------------------------------------------
# 2.1 Label flipping
# ---------------------------------------------------------------------------------------------

def _check_flips(hw, y, rate, seed, classes, default=False):
    """``default``: leave num_classes out, to test its documented default, max(y) + 1."""
    what = (f"flip_labels(y, rate={rate:g}, rng={seed}" +
            (") with num_classes left out (its default is max(y) + 1)" if default else
             f", num_classes={classes})") + f" on {len(y)} labels")
    kwargs = {} if default else {"num_classes": classes}
    got = as_array(hw.flip_labels(y, rate, seed, **kwargs), what, shape=y.shape)
    again = as_array(hw.flip_labels(y, rate, seed, **kwargs), what)
    if not np.array_equal(got, again):
        raise CheckFailed(f"{what}: two calls with the same seed differ. Draw everything from "
                          "np.random.default_rng(rng).")
    if not np.array_equal(got, np.round(got)) or got.min() < 0 or got.max() >= classes:
        raise CheckFailed(f"{what}: labels must stay integers in 0..{classes - 1}.")
    flipped = int(np.sum(got != y))
    wanted = round(rate * len(y))
    if flipped != wanted:
        hint = ("Some chosen labels were 'flipped' to themselves: draw the new label among the "
                "other classes only." if flipped < wanted else
                "Choose exactly round(rate·n) positions, without replacement.")
        raise CheckFailed(f"{what}: {flipped} labels changed, expected exactly {wanted}. {hint}")
    return got != y


@check("2.1", points=1)
def test_flip_labels_exact_rate(hw):
    """flip_labels: exactly rate·n labels change, each to another class; reproducible"""
    rng = np.random.default_rng(21)
    for n, rate, classes in ((1000, 0.2, 10), (50, 0.5, 2), (40, 0.0, 3), (30, 1.0, 4)):
        y = rng.integers(0, classes, n)
        _check_flips(hw, y, rate, 7, classes)
    y = rng.integers(0, 10, 1000)
    first, second = (_check_flips(hw, y, 0.3, seed, 10) for seed in (1, 2))
    # num_classes left out: 3 classes here, so a default of 10 (or of 2) shows.
    y = np.r_[np.arange(3), rng.integers(0, 3, 297)]
    changed = _check_flips(hw, y, 0.5, 3, 3, default=True)
    new = as_array(hw.flip_labels(y, 0.5, 3), "flip_labels(y, rate=0.5, rng=3)")[changed]
    if len(np.unique(new)) < 3:
        raise CheckFailed("flip_labels(y, rate=0.5, rng=3) on labels 0..2, num_classes left out: "
                          f"the new labels are only {sorted(set(new.astype(int).tolist()))}; "
                          "each flip should go to a uniformly chosen *other* class of the 3.")
    if np.array_equal(first, second):
        raise CheckFailed("flip_labels with rng=1 and rng=2 flipped the same positions: use the "
                          "rng argument (np.random.default_rng(rng)).")


# ---------------------------------------------------------------------------------------------
# 2.2 Poison Frogs feature collision
# ---------------------------------------------------------------------------------------------

def _check_collision(hw, source, target_index, base_index, beta, steps, lr, default_lr=False,
                     expected=None):
    """``default_lr``: leave lr out of the call, to test its documented default (0.01 = lr)."""
    x, y = trusted.images(source)[2:]
    target, base = x[target_index].astype(np.float64), x[base_index].astype(np.float64)
    features = trusted.standard_features(source)
    what = (f"feature_collision_poison(features, x_target, x_base, beta={beta:g}, steps={steps}"
            + (f") with lr left out (its default is {lr:g})" if default_lr else f", lr={lr:g})")
            + f" (target test image {target_index}, base {base_index})")
    got = as_array(hw.feature_collision_poison(Build(FACTORY + "standard_features", (source,)),
                                               target, base, beta, steps,
                                               **({} if default_lr else {"lr": lr})), what,
                   shape=base.shape)
    if got.min() < 0 or got.max() > 1:
        raise CheckFailed(f"{what}: the poison has entries outside [0, 1]; clip after each step.")
    J, fd, idist = trusted.collision_objective(features, got, target, base, beta)
    J_ref, fd_ref, idist_ref = expected("collision", features, target, base, beta, steps, lr)
    _, fd_base, _ = trusted.collision_objective(features, base, target, base, beta)
    t_b = float(np.linalg.norm(target - base))
    note(f"{what}: ‖f(p) − f(t)‖ = {fd:.3g} (base {fd_base:.3g}, grader {fd_ref:.3g}); "
         f"‖p − b‖ = {idist:.3g} (‖t − b‖ = {t_b:.3g}, grader {idist_ref:.3g}).")
    if fd > 0.75 * fd_base:
        raise CheckFailed(f"{what}: the poison's feature distance to the target is {fd:.3g}, "
                          f"not below 3/4 of the base's {fd_base:.3g} (the grader's reaches "
                          f"{fd_ref:.3g}). Take gradient *descent* steps on ‖f(p) − f(t)‖² with "
                          "respect to the image p.")
    # Any p no worse than the base (J(p) ≤ J(b) = ‖f(b) − f(t)‖²) has β‖p − b‖² ≤ J(b).
    bound = fd_base / math.sqrt(beta)
    if idist > bound:
        raise CheckFailed(f"{what}: the poison is {idist:.3g} from the base, above "
                          f"‖f(b) − f(t)‖ / √β = {bound:.3g}, which any poison better than the "
                          f"base itself satisfies (‖t − b‖ = {t_b:.3g}): it no longer looks like "
                          "the base. After each gradient step take the proximal step of "
                          "β‖p − b‖², p ← (p + lr·β·b) / (1 + lr·β).")
    if J > 1.05 * J_ref + 1e-9:
        raise CheckFailed(f"{what}: objective ‖f(p) − f(t)‖² + β‖p − b‖² = {J:.4g}, above the "
                          f"grader's forward-backward splitting with the same steps and lr "
                          f"({J_ref:.4g}; at most 5% more allowed). Start from p = base; forward: "
                          "p ← p − lr·∇‖f(p) − f(t)‖²; backward (the proximal step of β‖p − b‖²): "
                          "p ← (p + lr·β·b) / (1 + lr·β); then clip to [0, 1].")


def collision_setting(source: str) -> dict:
    """lr = 0.01 is also the notebook's default (the public check leaves it out once)."""
    return dict(beta=1.0, steps=200, lr=0.01) if source == "mnist" else \
        dict(beta=2.0, steps=200, lr=0.01)


@check("2.2", points=2, timeout=60)
def test_feature_collision_poison(hw, expected):
    """feature_collision_poison: features approach the target's, image stays near the base"""
    source = _source()
    _, y = trusted.images(source)[2:]
    for target_index, base_index, default_lr in ((0, int(np.flatnonzero(y != y[0])[0]), True),
                                                 (5, int(np.flatnonzero(y != y[5])[3]), False)):
        _check_collision(hw, source, target_index, base_index, **collision_setting(source),
                         default_lr=default_lr, expected=expected)


# ---------------------------------------------------------------------------------------------
# 3.1 Randomized response
# ---------------------------------------------------------------------------------------------

@check("3.1", points=1)
def test_estimate_proportion(hw):
    """estimate_proportion: P = 2·(N_yes / N) − 1/2 on given reports"""
    for reports in ([1, 1, 0, 1], [0] * 8, [1] * 5, [True, False, False, True, True, False]):
        reports = np.asarray(reports, dtype=bool)
        expected = 2 * reports.mean() - 0.5
        got = as_float(hw.estimate_proportion(reports), f"estimate_proportion({reports.tolist()})")
        if abs(got - expected) > 1e-12:
            hint = ("You returned 2·N_yes/N: subtract 1/2, the share of 'yes' that the second "
                    "coin adds (P(yes) = p/2 + 1/4)." if abs(got - 2 * reports.mean()) < 1e-12
                    else "Solve P(yes) = p/2 + 1/4 for p: p = 2·(N_yes / N) − 1/2.")
            raise CheckFailed(f"estimate_proportion({reports.astype(int).tolist()}) = {got:.6g}, "
                              f"expected {expected:.6g}. {hint}")


def _rr_trials(hw, p, n, blocks, calls, seed0):
    """Estimates from calls × blocks independent surveys of n people with p·n 'yes' each."""
    truth = np.zeros(n, dtype=bool)
    truth[:round(p * n)] = True
    estimates = []
    for call in range(calls):
        everyone = np.tile(truth, blocks)
        what = f"randomized_response(truth, rng={seed0 + call}) on {len(everyone)} answers"
        reports = as_array(hw.randomized_response(everyone, seed0 + call), what,
                           shape=everyone.shape)
        if not np.isin(reports, (0, 1)).all():
            raise CheckFailed(f"{what}: reports must be booleans (or 0/1).")
        yes_given_yes, yes_given_no = reports[everyone].mean(), reports[~everyone].mean() \
            if (~everyone).any() else 0.25
        estimates.append(2 * reports.reshape(blocks, n).mean(axis=1) - 0.5)
    return np.concatenate(estimates), yes_given_yes, yes_given_no


def _check_rr(hw, p, n, blocks, calls, seed0):
    estimates, yes_yes, yes_no = _rr_trials(hw, p, n, blocks, calls, seed0)
    trials = len(estimates)
    # Given the truth, each report is 'yes' w.p. 3/4 (truth yes) or 1/4 (truth no), so
    # Var(N_yes) = 3n/16 whatever p is, and Var(P̂) = 4·Var(N_yes)/n² = 3/(4n).
    variance = 3 / (4 * n)
    mean_tol = 4.5 * math.sqrt(variance / trials)
    var_tol = 4.5 * math.sqrt(2 / (trials - 1))     # sd of a sample variance, relative
    mean, sample_var = float(estimates.mean()), float(estimates.var(ddof=1))
    note(f"{trials} surveys of n = {n} with p = {p:g}: mean estimate {mean:.4f} (±{mean_tol:.4f} "
         f"allowed), variance {sample_var:.3g} against 3/(4n) = {variance:.3g} (±{var_tol:.0%}); "
         f"P(yes | yes) = {yes_yes:.3f}, P(yes | no) = {yes_no:.3f}.")
    if abs(mean - p) > mean_tol:
        raise CheckFailed(f"randomized_response: over {trials} seeded surveys the estimate "
                          f"2·(N_yes/N) − 1/2 averages {mean:.4f}, but the true proportion is "
                          f"{p:g} (4.5 standard errors allow ±{mean_tol:.4f}). Measured P(yes | "
                          f"truth yes) = {yes_yes:.3f} and P(yes | truth no) = {yes_no:.3f}; "
                          "expected 3/4 and 1/4: first coin heads → the truth; tails → the second "
                          "coin's answer (heads = yes).")
    if abs(sample_var / variance - 1) > var_tol:
        raise CheckFailed(f"randomized_response: the estimates' variance over {trials} surveys is "
                          f"{sample_var:.4g}, but the two-coin mechanism gives 3/(4n) = "
                          f"{variance:.4g} (±{var_tol:.0%} allowed). Flip fresh, independent coins "
                          "for every person.")


@check("3.1", points=2, timeout=60)
def test_randomized_response_unbiased_with_closed_form_variance(hw):
    """randomized_response: unbiased, variance 3/(4n), over 2000 seeded surveys"""
    truth = np.array([True, False] * 50)
    first, again = (as_array(hw.randomized_response(truth, 3), "randomized_response(truth, rng=3)",
                             shape=truth.shape) for _ in range(2))
    if not np.array_equal(first, again):
        raise CheckFailed("randomized_response(truth, rng=3) gave different reports on two calls: "
                          "use np.random.default_rng(rng) for the coins (rng is a seed or a "
                          "Generator).")
    _check_rr(hw, 0.3, 250, 200, 10, 100)


@check("3.1", points=1)
def test_randomized_response_epsilon(hw, expected):
    """rr_epsilon: ε of randomized response, ln 3 for two fair coins"""
    got = as_float(hw.rr_epsilon(), "rr_epsilon()")
    if abs(got - math.log(3)) > 1e-9:
        raise CheckFailed(f"rr_epsilon() = {got:.6g}: p_truth defaults to 0.5 (two fair coins), "
                          f"whose ε is ln 3 = {math.log(3):.6g}.")
    for p_truth in (0.5, 0.25, 0.8, 0.0):
        got = as_float(hw.rr_epsilon(p_truth), f"rr_epsilon({p_truth})")
        want = expected("rr_epsilon", p_truth)
        if abs(got - want) > 1e-9:
            raise CheckFailed(f"rr_epsilon({p_truth}) = {got:.6g}, but the largest log-ratio "
                              f"ln(P[output | yes] / P[output | no]) over both outputs is "
                              f"{want:.6g}. With a first coin of heads-probability p (truth) "
                              "and a fair second coin, P(yes | yes) = p + (1 − p)/2 and "
                              "P(yes | no) = (1 − p)/2.")


# ---------------------------------------------------------------------------------------------
# 3.2 The Laplace mechanism
# ---------------------------------------------------------------------------------------------

def laplace_noise_problem(noise: np.ndarray, eps: float, alpha: float) -> str | None:
    """Why ``noise`` (n draws) is not Laplace(0, 1/ε), or None: two tests at level α each.

    Kolmogorov–Smirnov against the Laplace CDF, and the mean absolute deviation: under
    Laplace(0, b), |η|/b is Exp(1), so ε·Σ|η| is exactly Gamma(n, 1); a two-sided p below α
    fails. Gaussian noise of the same variance has E|η| = (2/√π)·b ≈ 1.13·b. A correct
    answer fails with probability at most 2α (the two tests' union bound): 2e-5 per case at
    the checks' α = 1e-5. With 3000 draws, over 200 seeds and ε from 0.1 to 5, Laplace noise
    never fails and Gaussian noise always does (tests/test_hw5.py::
    test_laplace_test_separates_laplace_from_gaussian; in 3000 simulated runs Gaussian noise
    never passed either).
    """
    from scipy import stats
    scale = 1 / eps
    ks = stats.kstest(noise, stats.laplace(scale=scale).cdf).pvalue
    total = float(np.abs(noise).sum()) / scale
    gamma = stats.gamma(len(noise))
    mad = 2 * min(gamma.cdf(total), gamma.sf(total))
    note(f"{len(noise)} draws: mean |η| = {np.abs(noise).mean():.4g} (1/ε = {scale:.4g}; "
         f"two-sided p = {mad:.3g}); Kolmogorov–Smirnov against Laplace(0, 1/ε): p = {ks:.3g}.")
    problems = []
    if ks < alpha:
        problems.append(f"its distribution is not Laplace(0, 1/ε) (Kolmogorov–Smirnov p = "
                        f"{ks:.2g}, below {alpha:g})")
    if mad < alpha:
        problems.append(f"its mean absolute value is {np.abs(noise).mean():.4g}, but Laplace "
                        f"noise of scale b = 1/ε = {scale:.4g} has E|η| = b (p = {mad:.2g}, below "
                        f"{alpha:g}); Gaussian noise of the same variance has E|η| ≈ 1.13·b")
    if not problems:
        return None
    return (f"over {len(noise)} seeds, " + "; ".join(problems) + ". A count has sensitivity 1, "
            "so add rng.laplace(0, 1/ε): Laplace noise, not Gaussian, with scale 1/ε.")


def _check_laplace(hw, data, kind, value, eps, seeds, alpha):
    predicate = Build(FACTORY + "predicate", (kind, value))
    true = int(np.sum(trusted.predicate(kind, value)(data)))
    what = f"laplace_count(data, x {'>' if kind == 'greater' else '<'} {value}, eps={eps:g}, rng)"
    exact = as_float(hw.laplace_count(data, predicate, 1e12, 0), f"{what} with eps = 1e12")
    if abs(exact - true) > 1e-6:
        raise CheckFailed(f"{what} with eps = 1e12 (almost no noise) returned {exact:.6g}, but "
                          f"{true} entries satisfy the predicate: count predicate(x) over the data.")
    noise = np.array([as_float(hw.laplace_count(data, predicate, eps, int(s)), what)
                      for s in seeds]) - true
    if as_float(hw.laplace_count(data, predicate, eps, int(seeds[0])), what) != noise[0] + true:
        raise CheckFailed(f"{what}: two calls with the same seed differ; draw the noise from "
                          "np.random.default_rng(rng).")
    problem = laplace_noise_problem(noise, eps, alpha)
    if problem:
        raise CheckFailed(f"{what}: {problem}")


@check("3.2", points=2, timeout=120)
def test_laplace_count(hw):
    """laplace_count: exact count plus Laplace(0, 1/ε) noise (KS and mean |η|, α = 1e-5)"""
    data = np.random.default_rng(31).uniform(size=40)
    # 3000 draws decide Laplace against Gaussian noise; 1000 more check another ε and predicate.
    _check_laplace(hw, data, "greater", 0.5, 0.5, np.arange(3000), 1e-5)
    _check_laplace(hw, data, "less", 0.2, 2.0, np.arange(10_000, 11_000), 1e-5)


# ---------------------------------------------------------------------------------------------
# 3.3 Membership inference
# ---------------------------------------------------------------------------------------------

def _check_mia(hw, source, kind, members, nonmembers, what, reference):
    model = trusted.mia_model(source, kind)
    expected = reference("mia", trusted.per_example_loss(model, *members),
                         trusted.per_example_loss(model, *nonmembers))
    got = as_pair(hw.loss_threshold_mia(Build(FACTORY + "mia_model", (source, kind)), members,
                                        nonmembers), what)
    auc, advantage = as_float(got[0], f"{what}[0] (AUC)"), as_float(got[1], f"{what}[1] (advantage)")
    note(f"{what}: AUC {auc:.3f}, advantage {advantage:.3f}; the grader's AUC {expected[0]:.3f}, "
         f"advantage {expected[1]:.3f}.")
    if abs(auc - expected[0]) > 2e-3:
        hint = ("It is 1 − the right AUC: members have *lower* loss, so score each example by "
                "−loss (higher = member)." if abs(auc - (1 - expected[0])) < 2e-3 else
                "Score each example by minus its cross-entropy loss on its *given* label "
                "(not the confidence of the predicted class: the label matters), and compute "
                "the ROC AUC of members (positives) against non-members (e.g. "
                "sklearn.metrics.roc_auc_score).")
        raise CheckFailed(f"{what}: AUC {auc:.4f}, but the grader's loss-threshold attack gets "
                          f"{expected[0]:.4f} (the AUC of −loss). {hint}")
    if abs(advantage - expected[1]) > 2e-3:
        raise CheckFailed(f"{what}: advantage {advantage:.4f}, expected {expected[1]:.4f}: the "
                          "largest TPR − FPR over all thresholds of the score −loss (e.g. from "
                          "sklearn.metrics.roc_curve).")
    return auc


@check("3.3", points=2, timeout=60)
def test_loss_threshold_mia(hw, expected):
    """loss_threshold_mia: AUC and advantage of −loss; AUC > 0.6 overfit, about 0.5 regularized"""
    source = _source()
    members, nonmembers = trusted.mia_split(source)
    overfit = _check_mia(hw, source, "overfit", members, nonmembers,
                         "loss_threshold_mia(overfit model, members, nonmembers)", expected)
    regular = _check_mia(hw, source, "regularized", members, nonmembers,
                         "loss_threshold_mia(regularized model, members, nonmembers)", expected)
    # The same images as "members" with their labels and as "non-members" with wrong labels:
    # only an attack that scores the loss of the *given* label tells them apart.
    x, y = nonmembers
    _check_mia(hw, source, "regularized", (x, y), (x, (y + 1) % 10),
               "loss_threshold_mia(regularized model, (x, y), (x, wrong labels))", expected)
    if overfit <= 0.6 or abs(regular - 0.5) > 0.1:
        raise CheckFailed(f"AUC {overfit:.3f} on the overfit model (> 0.6 expected) and "
                          f"{regular:.3f} on the regularized one (0.5 ± 0.1 expected).")


# ---------------------------------------------------------------------------------------------
# 3.4 Model inversion
# ---------------------------------------------------------------------------------------------

@check("3.4", points=2, timeout=60)
def test_invert_class(hw):
    """invert_class: reconstructions in [0, 1] that the model assigns to class c (p ≥ 0.9)"""
    import torch
    source = _source()
    side = 28 if source == "mnist" else 8
    model = trusted.softmax_regression(source)
    build = Build(FACTORY + "softmax_regression", (source,))
    x_train, y_train = trusted.images(source)[:2]
    means = np.stack([x_train[y_train == c].mean(axis=0).ravel() for c in range(10)])
    for c in (0, 3, 7):
        what = f"invert_class(model, c={c}, steps=300, lr=0.1, shape=(1, {side}, {side}))"
        got = as_array(hw.invert_class(build, c, 300, 0.1, (1, side, side)), what,
                       shape=(1, side, side))
        if got.min() < 0 or got.max() > 1:
            raise CheckFailed(f"{what}: the reconstruction has values in [{got.min():.3g}, "
                              f"{got.max():.3g}]; keep it a valid image in [0, 1] (clip after "
                              "each step).")
        with torch.no_grad():
            p = torch.softmax(model(torch.as_tensor(got[None])), dim=1)[0].numpy()
        closest = int(np.argmax([np.corrcoef(got.ravel(), m)[0, 1] for m in means]))
        note(f"{what}: p(c | x) = {p[c]:.3f}; the class average most correlated with it: "
             f"{closest}.")
        if p[c] < 0.9:
            raise CheckFailed(f"{what}: the model gives the reconstruction probability "
                              f"{p[c]:.3f} for class {c} (≥ 0.9 expected; it prefers class "
                              f"{int(p.argmax())}). Take gradient steps that *decrease* "
                              "1 − softmax(model(x))[c] (or −log of it) plus your prior, "
                              "starting from a blank or grey image.")


class _Recorder:
    """The grader's end of ``trusted.traced_softmax_regression``: the events it reported, in
    order, as ("input", x) and ("grad", g) with flat float64 arrays."""

    def __init__(self):
        self.events: list[tuple[str, np.ndarray]] = []

    def __call__(self, kind, array) -> None:
        self.events.append((str(kind), np.array(array, dtype=np.float64).ravel()))

    def steps(self) -> tuple[list, list]:
        """(iterates, gradients): the distinct inputs of consecutive gradient passes (a pass on
        the image the previous one saw belongs to the same step) and, for each, the sum of the
        gradients reported for it."""
        iterates, gradients = [], []
        for kind, array in self.events:
            if kind == "input":
                if not iterates or not np.array_equal(array, iterates[-1]):
                    iterates.append(array)
                    gradients.append(np.zeros_like(array))
            elif kind == "grad" and gradients and array.shape == gradients[-1].shape:
                gradients[-1] = gradients[-1] + array
        return iterates, gradients


INVERSION_METHOD = dict(c=2, steps=7, lr=0.05)


@check("3.4", points=1, timeout=60)
def test_invert_class_method(hw):
    """invert_class: `steps` gradient steps of size lr from a blank image; weight=1e-3 default"""
    source = _source()
    side = 28 if source == "mnist" else 8
    c, steps, lr = (INVERSION_METHOD[k] for k in ("c", "steps", "lr"))
    shape = (1, side, side)
    # weight = 0: the objective then reaches the image only through the model, whose gradient
    # the traced model reports, so each step can be replayed.
    record = _Recorder()
    what = f"invert_class(model, c={c}, steps={steps}, lr={lr}, shape={shape}, weight=0.0)"
    got = as_array(hw.invert_class(Build(FACTORY + "traced_softmax_regression", (source, record)),
                                   c, steps, lr, shape, weight=0.0), what, shape=shape).ravel()
    iterates, gradients = record.steps()
    note(f"{what}: {len(iterates)} gradient passes through the model at distinct images.")
    if len(iterates) != steps:
        raise CheckFailed(f"{what}: the model saw {len(iterates)} distinct images with a gradient "
                          f"to the input, so your loop took {len(iterates)} gradient steps; "
                          f"expected exactly steps = {steps}. Run `steps` iterations (no fixed "
                          "count, no early stop), each one gradient evaluation and one step.")
    first = iterates[0]
    if first.max() - first.min() > 1e-12:
        raise CheckFailed(f"{what}: the first image the model saw is not blank (its pixels range "
                          f"over [{first.min():.3g}, {first.max():.3g}]): start from a constant "
                          "image, e.g. zeros, as the notebook asks.")
    for k in range(steps):
        expected = np.clip(iterates[k] - lr * gradients[k], 0, 1)
        after = iterates[k + 1] if k + 1 < steps else got
        gap = float(np.abs(after - expected).max())
        if gap > 1e-9:
            which = f"the image after step {k + 1}" if k + 1 < steps else "the image returned"
            raise CheckFailed(f"{what}: {which} differs by up to {gap:.3g} from clip(x − lr·∇, "
                              "0, 1), the gradient step of size lr from the image before it "
                              "(with ∇ the gradient of your objective there, as the model saw "
                              "it). Take plain gradient-descent steps x ← clip(x − lr·∇, 0, 1) "
                              "with the given lr (no momentum, Adam or rescaled gradient), and "
                              "return the image after the last step.")
    # The documented default: leaving weight out must equal weight = 1e-3.
    build = Build(FACTORY + "softmax_regression", (source,))
    call = f"invert_class(model, c={c}, steps=40, lr=0.1, shape={shape})"
    default = as_array(hw.invert_class(build, c, 40, 0.1, shape), call, shape=shape)
    explicit = as_array(hw.invert_class(build, c, 40, 0.1, shape, weight=1e-3),
                        f"{call[:-1]}, weight=1e-3)", shape=shape)
    if not np.allclose(default, explicit, rtol=0, atol=1e-12):
        raise CheckFailed(f"{call} with weight left out differs from weight=1e-3 (by up to "
                          f"{np.abs(default - explicit).max():.3g}): weight defaults to 1e-3.")


# ---------------------------------------------------------------------------------------------
# 4 Fairness metrics
# ---------------------------------------------------------------------------------------------

METRICS = ("demographic_parity_difference", "equal_opportunity_difference",
           "equalized_odds_difference")

# Small tables whose values were computed by hand (rates per group in the comments).
HAND_TABLES = [
    # a: selection 2/4, TPR 1/2, FPR 1/2; b: selection 2/4, TPR 2/2, FPR 0/2
    (dict(y_true=[1, 1, 0, 0, 1, 1, 0, 0], y_pred=[1, 0, 1, 0, 1, 1, 0, 0],
          group=["a"] * 4 + ["b"] * 4), (0.0, 0.5, 0.5)),
    # 0: selection 3/5, TPR 2/3, FPR 1/2; 1: selection 1/5, TPR 1/2, FPR 0/3
    (dict(y_true=[1, 1, 1, 0, 0, 1, 1, 0, 0, 0], y_pred=[1, 1, 0, 1, 0, 1, 0, 0, 0, 0],
          group=[0] * 5 + [1] * 5), (0.4, 1 / 6, 0.5)),
    # x: sel 1/3, TPR 1/2, FPR 0/1; y: sel 2/3, TPR 1/1, FPR 1/2; z: sel 3/4, TPR 2/2, FPR 1/2
    (dict(y_true=[1, 1, 0, 1, 0, 0, 1, 1, 0, 0], y_pred=[1, 0, 0, 1, 1, 0, 1, 1, 1, 0],
          group=["x", "x", "x", "y", "y", "y", "z", "z", "z", "z"]), (5 / 12, 0.5, 0.5)),
]


def _call_metric(hw, name, table, what):
    return as_float(getattr(hw, name)(*_columns(table)), what)


def _columns(table):
    """(y_true, y_pred, group): int arrays, and group as a list (string arrays cannot cross to
    the student's process; a list of str or int can)."""
    return (np.asarray(table["y_true"]), np.asarray(table["y_pred"]),
            np.asarray(table["group"]).tolist())


def _check_metric(hw, name, table, expected, what):
    got = _call_metric(hw, name, table, what)
    if abs(got - expected) > 1e-9:
        hint = {"demographic_parity_difference": "the largest minus the smallest selection rate "
                                                 "P(ŷ = 1 | group) over the groups",
                "equal_opportunity_difference": "the largest minus the smallest true positive "
                                                "rate P(ŷ = 1 | y = 1, group) over the groups",
                "equalized_odds_difference": "the larger of the TPR difference and the FPR "
                                             "difference P(ŷ = 1 | y = 0, group), each the largest "
                                             "minus the smallest over the groups"}[name]
        ratio = "Use differences, not ratios. " if 0 <= got <= 1 and got > expected else ""
        raise CheckFailed(f"{what} = {got:.6g}, expected {expected:.6g}: {ratio}It is {hint}.")


@check("4", points=2)
def test_fairness_metrics_on_hand_computed_tables(hw):
    """fairness metrics: demographic parity, equal opportunity, equalized odds on hand tables"""
    for number, (table, values) in enumerate(HAND_TABLES):
        for name, expected in zip(METRICS, (values[0], values[1], values[2])):
            _check_metric(hw, name, table, expected, f"{name}(y_true, y_pred, group) on hand "
                                                     f"table {number + 1} ({table})")


def _raises_value_error(hw, name, table) -> str | None:
    try:
        value = getattr(hw, name)(*_columns(table))
    except StudentException as raised:
        if raised.type_name == "NotImplementedError":
            raise
        return raised.type_name
    except ValueError:          # a self-check cell calls the function directly
        return "ValueError"
    return f"returned {value!r}"


@check("4", points=1)
def test_fairness_metrics_edge_cases(hw):
    """fairness metrics: ValueError when a group has no positives (TPR) or negatives (FPR)"""
    no_positives = dict(y_true=[1, 0, 1, 0, 0, 0], y_pred=[1, 0, 0, 1, 1, 0],
                        group=["a", "a", "a", "b", "b", "b"])
    no_negatives = dict(y_true=[1, 0, 0, 1, 1, 1], y_pred=[1, 1, 0, 0, 1, 1],
                        group=["a", "a", "a", "b", "b", "b"])
    # Demographic parity needs no labels: a: 1/3, b: 2/3.
    _check_metric(hw, "demographic_parity_difference", no_positives, 1 / 3,
                  "demographic_parity_difference when group b has no positives")
    for name, table, why in (("equal_opportunity_difference", no_positives, "no positives"),
                             ("equalized_odds_difference", no_positives, "no positives"),
                             ("equalized_odds_difference", no_negatives, "no negatives")):
        outcome = _raises_value_error(hw, name, table)
        if outcome != "ValueError":
            did = outcome if outcome.startswith("returned") else f"raised {outcome}"
            rate = "true" if why == "no positives" else "false"
            raise CheckFailed(f"{name} on a table where group b has {why}: its {rate} positive "
                              "rate is undefined, so raise ValueError with a message naming the "
                              f"group; your function {did}.")
    # A group with no positives does not matter to demographic parity, nor (for equal
    # opportunity) a group with no negatives: those stay defined.
    _check_metric(hw, "equal_opportunity_difference", no_negatives, 1 / 3,
                  "equal_opportunity_difference when group b has no negatives (TPR a: 1/1, b: 2/3)")

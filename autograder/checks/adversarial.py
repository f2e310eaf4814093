"""Ground truth for evasion attacks: exact minimal perturbations (never shipped to students)."""
from __future__ import annotations

import numpy as np
from scipy.optimize import minimize


def min_l2_targeted_linear(W: np.ndarray, b: np.ndarray, x: np.ndarray, target: int,
                           lower: float = 0.0, upper: float = 1.0) -> tuple[np.ndarray, float] | None:
    """The exact minimal-L2 perturbation making ``target`` a top class of the linear model.

    Solves  min ||d||^2  s.t.  (W_t - W_i)·(x + d) + b_t - b_i >= 0 for all i != t,
    lower <= x + d <= upper,  through its dual: one multiplier per competing class, so the
    problem has C - 1 variables whatever D is. For fixed multipliers lam the box-constrained
    minimiser is d(lam) = clip(A^T lam / 2, lower - x, upper - x). Returns (d, duality_gap); a gap
    near zero certifies the optimum, or None when no point of the box makes ``target`` win.
    """
    others = [i for i in range(W.shape[1]) if i != target]
    A = (W[:, [target]] - W[:, others]).T                      # (C-1, D)
    c = A @ x + (b[target] - b[others])                        # constraint is A d + c >= 0
    lo, hi = lower - x, upper - x

    def primal(lam):
        return np.clip(A.T @ lam / 2, lo, hi)

    def negative_dual(lam):
        d = primal(lam)
        value = d @ d - lam @ (A @ d + c)
        return -value, A @ d + c                               # the dual's gradient is A d + c

    result = minimize(negative_dual, np.zeros(len(others)), jac=True, method="L-BFGS-B",
                      bounds=[(0, None)] * len(others), options={"maxiter": 1000, "ftol": 1e-15,
                                                                  "gtol": 1e-12})
    d = primal(result.x)
    dual_value = -result.fun
    # Every feasible d has ||d||^2 <= ||hi - lo||^2, so a larger dual value certifies infeasibility.
    if dual_value > np.sum(np.maximum(np.abs(lo), np.abs(hi)) ** 2) + 1e-9:
        return None
    return d, float(d @ d - dual_value)

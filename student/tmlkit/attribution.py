"""Invariants of attribution methods."""
from __future__ import annotations

import numpy as np


def completeness_error(attribution: np.ndarray, x: np.ndarray, baseline: np.ndarray,
                       f_x: float, f_baseline: float) -> float:
    """Relative gap in  sum_i a_i (x_i - x'_i) = f(x) - f(x'), the completeness axiom."""
    total = float(np.dot(attribution, x - baseline))
    change = f_x - f_baseline
    return abs(total - change) / max(1e-12, abs(change))

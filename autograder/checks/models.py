"""Trusted model factories. Checks pass ``Build("autograder.checks.models:name", args)`` and the
student's process constructs the model itself, so no model object ever crosses the boundary."""
from __future__ import annotations


def tiny_mlp(seed: int, d_in: int = 4, hidden: int = 8, d_out: int = 3):
    import torch
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.ReLU(),
                               torch.nn.Linear(hidden, d_out)).double()

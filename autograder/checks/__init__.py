"""One checks library for every homework: numerics, attribution, adversarial, data.

Each check compares a student's value with a second, independent computation (a closed form,
finite differences, torch autograd, a convex solver) or with an invariant, and fails with a
``CheckFailed`` whose message says what was expected, what was measured and what is likely wrong.
"""

"""The student package of the Trustworthy Machine Learning course kit.

What the homework notebooks import: data loaders (``data``, ``datasets``), the trusted models the
notebooks and the grader build (``models``, ``robustness``), the trulens shim, and the public
self-checks (``selfcheck``). It also holds the pieces of the grading engine that run on the
student's side: reading a notebook's definitions (``notebook``) and the sandboxed child process
(``child``, ``wire``). It holds no reference implementation of a graded function and no hidden
check: those stay with the instructor's grader.
"""
__version__ = "0.1.0"

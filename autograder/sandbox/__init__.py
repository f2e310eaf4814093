"""Student code runs in a child process; checks run in the grader on the plain values it returns."""
from autograder.sandbox.parent import Budget, Limits, Sandbox, Submission
from tmlkit.errors import (MissingFunction, StudentException, SubmissionCrashed, SubmissionError,
                           SubmissionTimeout)
from tmlkit.wire import Build, Opaque

__all__ = ["Budget", "Build", "Limits", "MissingFunction", "Opaque", "Sandbox", "StudentException",
           "Submission", "SubmissionCrashed", "SubmissionError", "SubmissionTimeout"]

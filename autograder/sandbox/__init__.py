"""Student code runs in a child process; checks run in the grader on the plain values it returns."""
from autograder.sandbox.parent import (Budget, LocalSubmission, Limits, MissingFunction, Sandbox,
                                       StudentException, Submission, SubmissionCrashed,
                                       SubmissionError, SubmissionTimeout)
from autograder.sandbox.wire import Build, Opaque

__all__ = ["Budget", "Build", "LocalSubmission", "Limits", "MissingFunction", "Opaque", "Sandbox", "StudentException",
           "Submission", "SubmissionCrashed", "SubmissionError", "SubmissionTimeout"]

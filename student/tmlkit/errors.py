"""How student code failed, in words for the student: the grader and the self-checks raise these."""
from __future__ import annotations


GRADER_PACKAGE_HINT = ("`autograder` is the grader's own package: your code cannot import it, and "
                       "its reference implementations are not yours to use. Write the function "
                       "yourself.")


def borrows_from_grader(type_name: str, message: str) -> bool:
    """An import of the grader's package failed: the student's code tried to borrow from it."""
    return type_name in ("ModuleNotFoundError", "ImportError") and "autograder" in message


class SubmissionError(Exception):
    """Student code failed: it raised, hung, crashed, or is missing. The message is for the student."""


class MissingFunction(SubmissionError):
    pass


class SubmissionTimeout(SubmissionError):
    pass


class SubmissionCrashed(SubmissionError):
    pass


class StudentException(SubmissionError):
    def __init__(self, function: str, type_name: str, message: str, traceback: str, output: str):
        self.function, self.type_name, self.student_message = function, type_name, message
        self.traceback, self.output = traceback, output
        if type_name == "NotImplementedError":
            text = f"`{function}` is not implemented yet (it raised NotImplementedError)."
        else:
            text = f"`{function}` raised {type_name}: {message}"
            if borrows_from_grader(type_name, message):
                text += "\n" + GRADER_PACKAGE_HINT
            if type_name == "NameError":
                text += ("\nThe grader runs only your imports, functions, classes and constants, "
                         "not top-level work such as loading data: pass what a function needs as "
                         "an argument or define it inside the function.")
            if traceback.strip():
                text += f"\n{traceback.rstrip()}"
        super().__init__(text)

"""Course kit for Trustworthy Machine Learning: the instructor's side (specs with hidden checks,
reference implementations, grading, release, Gradescope). Never given to students.

What students get, and what the sandboxed child may import, is the student package ``tmlkit``
in ``student/``: it ships on its own (see ``release``), and beside the grader it is found here.
"""
import sys
from pathlib import Path

__version__ = "0.1.0"
STUDENT_PACKAGE_ROOT = Path(__file__).resolve().parents[1] / "student"
if STUDENT_PACKAGE_ROOT.is_dir() and str(STUDENT_PACKAGE_ROOT) not in sys.path:
    sys.path.insert(0, str(STUDENT_PACKAGE_ROOT))

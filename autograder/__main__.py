import os
import sys

# Before torch loads OpenMP: threads that spin while waiting multiply the grader's own time on a
# busy machine (autograder/sandbox/parent.py sets the same for the student's process).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from autograder.cli import main  # noqa: E402

sys.exit(main())

import os
import sys

# Before torch loads OpenMP: threads that spin while waiting multiply the grader's own time on a
# busy machine (autograder/sandbox/parent.py sets the same for the student's process).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

if sys.argv[1:2] == ["grade"]:
    # The grader runs in a process forked from a zygote (autograder/zygote.py) that its
    # children are forked from too: torch is loaded once for all of them.
    from autograder import homeworks, zygote
    homework = homeworks.HOMEWORKS.get(sys.argv[2] if len(sys.argv) > 2 else "hw1",
                                       homeworks.HOMEWORKS["hw1"])
    code = (zygote.launch(sys.argv, "autograder.cli:main", homework.preload)
            if zygote.enabled() else None)
    if code is not None:
        sys.exit(code)

from autograder.cli import main  # noqa: E402

sys.exit(main())

"""Command line: a thin layer over the library.

    python -m autograder grade [HW] [SUBMISSION.ipynb] [--results results.json]
    python -m autograder release [HW ...]
    python -m autograder gradescope HW -o HW_autograder.zip
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder import homeworks


def _grade(args) -> int:
    from autograder.grade import GraderError, grade
    homework = homeworks.get(args.homework)
    submission = Path(args.submission) if args.submission else homework.solution
    try:
        result = grade(homework.id, submission, parts=args.part)
    except GraderError as error:
        print(f"grader error: {error}", file=sys.stderr)
        return 2
    if args.results:
        result.write_json(args.results)
    print(f"{homework.id} — {submission}")
    print(result.table())
    for error in result.internal_errors:
        print(f"grader warning: {error}", file=sys.stderr)
    return 0


def _release(args) -> int:
    from autograder.release import release, update_readme_badges
    for homework_id in args.homeworks or list(homeworks.HOMEWORKS):
        print(f"wrote {release(homework_id)}")
    if update_readme_badges():
        print("updated the Colab badges in README.md")
    return 0


def _gradescope(args) -> int:
    from autograder.gradescope import build_zip
    output = args.output or f"{args.homework}_autograder.zip"
    print(f"wrote {build_zip(args.homework, output)}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one notebook and print a table")
    grade.add_argument("homework", nargs="?", default="hw1", help="homework id (default hw1)")
    grade.add_argument("submission", nargs="?", help="the .ipynb to grade (default: the reference solution)")
    grade.add_argument("--results", help="also write Gradescope's results.json here")
    grade.add_argument("--part", action="append", help="grade only this section, e.g. 2.3 (repeatable)")
    grade.set_defaults(run=_grade)

    release = commands.add_parser("release", help="make student notebooks from the solutions")
    release.add_argument("homeworks", nargs="*", help="homework ids (default: all)")
    release.set_defaults(run=_release)

    gradescope = commands.add_parser("gradescope", help="build a Gradescope autograder zip")
    gradescope.add_argument("homework")
    gradescope.add_argument("-o", "--output", help="zip path (default HW_autograder.zip)")
    gradescope.set_defaults(run=_gradescope)

    args = parser.parse_args(argv)
    return args.run(args)

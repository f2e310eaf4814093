"""Command line: a thin layer over the library.

    python -m autograder grade [HW] [SUBMISSION.ipynb|FOLDER] [--results results.json] [--time-limit S]
    python -m autograder normalize [--check] [HW ...]
    python -m autograder deps [--check]
    python -m autograder release [HW ...]
    python -m autograder student-tree -o build/student
    python -m autograder gradescope HW -o HW_autograder.zip [--hidden-visibility hidden] [--leaderboard]
    python -m autograder prepare-data mnist cifar10 -o DATA_DIR
    python -m autograder grade-all HW SUBMISSIONS_DIR --jobs N -o OUT_DIR [--force] [--parts ...]
        [--require-isolation] [--scheduler tcp://HOST:8786] [--merge-with DIR] [--compare OLD_DIR]
    python -m autograder regrade-diff OLD_DIR NEW_DIR [-o REPORT_DIR]
    python -m autograder export-written SUBMISSION.ipynb -o answers.html [--pdf answers.pdf]
    python -m autograder similarity HW SUBMISSIONS_DIR -o REPORT_DIR [--flag 0.5] [--jobs N]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autograder import course, homeworks
from autograder.gradescope import DEFAULT_TIME_LIMIT_S


def _grade(args) -> int:
    from autograder.grade import GraderError, check_parts, grade
    homework = homeworks.get(args.homework)
    check_parts(homework.id, args.part)
    submission = Path(args.submission) if args.submission else homework.solution

    from autograder.memory import Watch, describe
    memory = Watch()

    def report(result) -> None:
        measured = memory.report()
        if measured is not None:
            result.extra_data["memory"] = measured
            print(describe(measured), flush=True)   # stdout: what the instructor sees on Gradescope
        if args.results:
            result.write_json(args.results, leaderboard=args.leaderboard)
        print(f"{homework.id} — {submission}")
        print(result.table(), flush=True)
    try:
        result = grade(homework.id, submission, parts=args.part, time_limit_s=args.time_limit,
                       on_hard_stop=report)
    except GraderError as error:
        print(f"grader error: {error}", file=sys.stderr)
        return 2
    report(result)
    for error in result.internal_errors:
        print(f"grader warning: {error}", file=sys.stderr)
    return 0


def _deps(args) -> int:
    from autograder import deps
    changed = deps.stale() if args.check else deps.write()
    for name in changed:
        print(f"{name} {'is out of date' if args.check else 'written'} (from pyproject.toml)")
    if args.check and changed:
        print("run `python -m autograder deps`", file=sys.stderr)
    return 1 if args.check and changed else 0


def _normalize(args) -> int:
    from autograder.normalize import NotebookError, normalize_file
    try:
        changed = [hw for hw in map(homeworks.get, args.homeworks or list(homeworks.HOMEWORKS))
                   if normalize_file(hw, check=args.check)]
    except NotebookError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for homework in changed:
        print(f"{homework.solution.relative_to(homeworks.REPO_ROOT)} "
              f"{'is not normalized' if args.check else 'normalized'}")
    if args.check and changed:
        print("run `make notebooks` (or `python -m autograder normalize`)", file=sys.stderr)
    return 1 if args.check and changed else 0


def _release(args) -> int:
    from autograder.publish import write_recordings
    from autograder.release import release, update_readme_badges
    for path in write_recordings(args.homeworks):
        print(f"wrote {path}")
    for homework_id in args.homeworks or list(homeworks.HOMEWORKS):
        print(f"wrote {release(homework_id)}")
    if update_readme_badges():
        print("updated the Colab badges in README.md")
    if course.is_placeholder():
        print(f"no Colab links written: set STUDENT_REPOSITORY in {course.SETTINGS}", file=sys.stderr)
    return 0


def _check_tables(args) -> int:
    from autograder.checks_table import write_tables
    stale = write_tables(check=args.check)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'} {path}")
    return 1 if args.check and stale else 0


def _student_tree(args) -> int:
    from autograder.student_tree import write_student_tree
    try:
        written = write_student_tree(args.output)
    except course.PlaceholderRepository as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {written}: push it to {course.STUDENT_REPOSITORY} and tag it {course.STUDENT_REF}"
          + (f"; its set-up cells install tmlkit from commit {course.PACKAGE_REF}, which must be "
             "there already" if course.is_commit(course.PACKAGE_REF) else ""))
    return 0


def _gradescope(args) -> int:
    from autograder.gradescope import build_zip
    output = args.output or f"{args.homework}_autograder.zip"
    built = build_zip(args.homework, output, hidden_visibility=args.hidden_visibility,
                      time_limit_s=args.time_limit, leaderboard=args.leaderboard)
    print(f"wrote {built}")
    return 0


def _prepare_data(args) -> int:
    from tmlkit.data import save_local_copies
    print(f"wrote {', '.join(args.datasets)} to {save_local_copies(args.output, tuple(args.datasets))}")
    return 0


def _grade_all(args) -> int:
    from autograder.batch import grade_all
    from autograder.grade import check_parts
    check_parts(homeworks.get(args.homework).id, args.parts)
    outcomes = grade_all(args.homework, args.submissions, args.output, jobs=args.jobs,
                         force=args.force, parts=args.parts, timeout=args.timeout,
                         scheduler=args.scheduler, merge_with=args.merge_with,
                         require_isolation=args.require_isolation)
    errors = [o for o in outcomes if o.error]
    print(f"graded {len(outcomes)} submissions ({sum(o.skipped for o in outcomes)} reused, "
          f"{len(errors)} could not be graded) -> {args.output}/grades.csv, summary.md")
    if args.compare:
        _regrade_diff(argparse.Namespace(old=args.compare, new=args.output,
                                         output=str(Path(args.output) / "regrade")))
    if args.similarity:
        return _similarity(argparse.Namespace(
            homework=args.homework, submissions=args.submissions, flag=args.flag, jobs=args.jobs,
            output=str(Path(args.output) / "similarity")))
    return 0


def _regrade_diff(args) -> int:
    from autograder.regrade import regrade_diff
    output = args.output or str(Path(args.new) / "regrade")
    changes = regrade_diff(args.old, args.new, output)
    moved = [c for c in changes if c.delta]
    print(f"compared {sum(c.delta is not None for c in changes)} students: {len(moved)} totals change "
          f"({sum(c.delta > 0 for c in moved)} up, {sum(c.delta < 0 for c in moved)} down) "
          f"-> {output}/regrade.html, regrade.csv")
    return 0


def _similarity(args) -> int:
    from autograder.similarity import similarity_report
    comparison = similarity_report(args.homework, args.submissions, args.output,
                                   flag_score=args.flag, jobs=args.jobs)
    flagged = int((comparison.overall >= args.flag).sum())
    print(f"compared {len(comparison.ids)} submissions: {flagged} pairs at or above {args.flag:g} "
          f"-> {args.output}/similarity.html, similarity.csv")
    return 0


def _export_written(args) -> int:
    from autograder.export import export_written
    html, pdf, message = export_written(args.submission, args.output, pdf=args.pdf,
                                        rubrics=not args.no_rubrics)
    print(f"wrote {html}")
    print(f"wrote {pdf}" if pdf else message)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one notebook and print a table")
    grade.add_argument("homework", nargs="?", default="hw1", help="homework id (default hw1)")
    grade.add_argument("submission", nargs="?", help="the .ipynb to grade, or a folder holding it "
                       "(default: the reference solution)")
    grade.add_argument("--time-limit", type=float, metavar="SECONDS", default=DEFAULT_TIME_LIMIT_S,
                       help="end the whole run by then: checks not started score 0 (default "
                            f"{DEFAULT_TIME_LIMIT_S:g}, the Gradescope zip's; 0 for none)")
    grade.add_argument("--results", help="also write Gradescope's results.json here")
    grade.add_argument("--part", action="append", help="grade only this section, e.g. 2.3 (repeatable)")
    grade.add_argument("--leaderboard", action="store_true",
                       help="with --results: add Gradescope's leaderboard array (what the checks measured)")
    grade.set_defaults(run=_grade)

    normalize = commands.add_parser("normalize", help="put solution notebooks in committed form "
                                    "(ids, no outputs, nbgrader metadata from the cell tags)")
    normalize.add_argument("homeworks", nargs="*", help="homework ids (default: all)")
    normalize.add_argument("--check", action="store_true",
                           help="change nothing; exit 1 if a notebook is not normalized")
    normalize.set_defaults(run=_normalize)

    dependencies = commands.add_parser("deps", help="write requirements.txt and environment.yml "
                                       "from pyproject.toml")
    dependencies.add_argument("--check", action="store_true",
                              help="change nothing; exit 1 if a generated file is out of date")
    dependencies.set_defaults(run=_deps)

    release = commands.add_parser("release", help="make student notebooks from the solutions")
    release.add_argument("homeworks", nargs="*", help="homework ids (default: all)")
    release.set_defaults(run=_release)

    tables = commands.add_parser("check-tables", help="docs/checks/hwN.md from the specs")
    tables.add_argument("--check", action="store_true", help="only say whether they are current")
    tables.set_defaults(run=_check_tables)

    tree = commands.add_parser("student-tree", help="write what students get, ready to push")
    tree.add_argument("-o", "--output", default="build/student", help="folder (default build/student)")
    tree.set_defaults(run=_student_tree)

    gradescope = commands.add_parser("gradescope", help="build a Gradescope autograder zip")
    gradescope.add_argument("homework")
    gradescope.add_argument("-o", "--output", help="zip path (default HW_autograder.zip)")
    gradescope.add_argument("--hidden-visibility", choices=["after_published", "after_due_date", "hidden"],
                            help="Gradescope visibility of hidden checks (default after_published)")
    gradescope.add_argument("--time-limit", type=float, default=DEFAULT_TIME_LIMIT_S, metavar="SECONDS",
                            help=f"each grading run ends by then (default {DEFAULT_TIME_LIMIT_S}: "
                                 "Gradescope kills a run at 600)")
    gradescope.add_argument("--leaderboard", action="store_true",
                            help="results.json carries a leaderboard (enable it in the assignment's "
                                 "settings): figures the grader measured, e.g. hw1's CIFAR-10 accuracy")
    gradescope.set_defaults(run=_gradescope)

    prepare = commands.add_parser("prepare-data", help="save local dataset copies that grading "
                                  "reads cheaply (Gradescope's setup.sh runs this)")
    prepare.add_argument("datasets", nargs="+", choices=["mnist", "cifar10"])
    prepare.add_argument("-o", "--output", required=True, help="folder; grading reads it as $TML_DATA_DIR")
    prepare.set_defaults(run=_prepare_data)

    grade_all = commands.add_parser("grade-all", help="grade a folder of submissions in parallel")
    grade_all.add_argument("homework")
    grade_all.add_argument("submissions", help="a folder: one .ipynb or one folder per student")
    grade_all.add_argument("-o", "--output", required=True, help="folder for grades.csv, feedback, summary")
    grade_all.add_argument("--jobs", "-j", type=int, default=1, help="students graded at once")
    grade_all.add_argument("--force", action="store_true", help="regrade students already graded")
    grade_all.add_argument("--parts", "--part", nargs="+", action="extend",
                           help="grade only these sections, e.g. --parts 1 2")
    grade_all.add_argument("--timeout", type=float, default=900.0,
                           help="wall-clock cap per student in seconds (default 900)")
    grade_all.add_argument("--require-isolation", action="store_true",
                           help="refuse to grade where the students' code cannot be confined to "
                                "its scratch folder (no Landlock)")
    grade_all.add_argument("--scheduler", metavar="tcp://HOST:8786",
                           help="grade on this Dask cluster's workers instead of --jobs local "
                                "processes; sections that need a GPU go to workers started with "
                                "--resources GPU=1 (docs/instructors.md)")
    grade_all.add_argument("--merge-with", metavar="DIR",
                           help="keep these results for the sections not graded now: a grade-all "
                                "output folder or a Gradescope export (e.g. --parts 3 on GPU "
                                "workers over Gradescope's parts 1-2)")
    grade_all.add_argument("--compare", metavar="OLD_DIR",
                           help="then write OUT_DIR/regrade: what changed since OLD_DIR "
                                "(as regrade-diff)")
    grade_all.add_argument("--similarity", action="store_true",
                           help="also write the similarity report to OUT_DIR/similarity")
    grade_all.add_argument("--flag", type=float, default=0.5,
                           help="with --similarity: overall score from which pairs are shown "
                                "side by side (default 0.5)")
    grade_all.set_defaults(run=_grade_all)

    regrade = commands.add_parser("regrade-diff", help="which students' totals and checks a "
                                  "regrade changes (HTML and CSV)")
    regrade.add_argument("old", help="grade-all output folder or Gradescope export: before")
    regrade.add_argument("new", help="grade-all output folder or Gradescope export: after")
    regrade.add_argument("-o", "--output", help="folder for the report (default NEW/regrade)")
    regrade.set_defaults(run=_regrade_diff)

    similarity = commands.add_parser("similarity", help="report pairs of submissions whose graded "
                                                        "functions are alike (HTML and CSV)")
    similarity.add_argument("homework")
    similarity.add_argument("submissions", help="a folder: one .ipynb or one folder per student")
    similarity.add_argument("-o", "--output", required=True, help="folder for the report")
    similarity.add_argument("--flag", type=float, default=0.5,
                            help="overall score from which pairs are shown side by side "
                                 "(default 0.5)")
    similarity.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1,
                            help="processes reading the notebooks (default: one per core)")
    similarity.set_defaults(run=_similarity)

    export = commands.add_parser("export-written", help="collect written answers into HTML (and PDF)")
    export.add_argument("submission", help="the student's .ipynb")
    export.add_argument("-o", "--output", help="HTML path (default: SUBMISSION_answers.html)")
    export.add_argument("--pdf", help="PDF path (default: beside the HTML; needs chromium)")
    export.add_argument("--no-rubrics", action="store_true",
                        help="leave out the points, rubrics and model answers (shown to graders by default)")
    export.set_defaults(run=_export_written)

    args = parser.parse_args(argv)
    from autograder.batch import IsolationUnavailable, NotASubmissionsFolder
    from autograder.distributed import ClusterError
    from autograder.grade import UnknownPart
    from autograder.regrade import NotAResultsFolder
    try:
        return args.run(args)
    except (homeworks.UnknownHomework, UnknownPart, NotASubmissionsFolder, ClusterError,
            NotAResultsFolder, IsolationUnavailable) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2

"""The similarity report: disguised copies rank above independent solutions, stubs share nothing,
the fingerprints survive what a copier changes, and the page renders in a real browser."""
from __future__ import annotations

import ast
import csv
import random
import re
import subprocess
import sys

import nbformat
import numpy as np
import pytest

from autograder import cli, homeworks
from autograder.export import CHROMIUM_FLAGS, find_chromium
from tmlkit.notebook import extract_definitions, read_notebook
from autograder.similarity import (K_GRAM, WINDOW, fingerprint, fingerprint_class,
                                   graded_functions, import_aliases, kgram_hashes,
                                   normalised_tokens, similarity_report, stub_fingerprints,
                                   winnow)
from conftest import REPO
from similarity_class import (VARIANTS, _top_function, disguise, into_helper, origins,
                              reference_source,
                              student_notebook, variant_source, write_class)


@pytest.fixture(scope="module", params=["hw1", "hw3"])
def synthetic(request, tmp_path_factory):
    """(homework, origin of each student, comparison) for a synthetic class."""
    homework_id = request.param
    folder = tmp_path_factory.mktemp(homework_id) / "submissions"
    made = write_class(homework_id, folder)
    comparison = similarity_report(homework_id, folder, folder.parent / "report")
    return homework_id, made, comparison


def pair_scores(comparison, made):
    """Every pair of students (stubs included) -> (overall, per function row); 0 if absent."""
    scores = {(comparison.ids[a], comparison.ids[b]): (o, row) for (a, b), o, row in
              zip(comparison.pairs, comparison.overall, comparison.per_function)}
    students = sorted(made)
    zero = np.zeros(len(comparison.functions))
    return {(a, b): scores.get((a, b), scores.get((b, a), (0.0, zero)))
            for i, a in enumerate(students) for b in students[i + 1:]}


def test_disguised_copies_rank_above_every_independent_pair(synthetic):
    homework_id, made, comparison = synthetic
    scores = pair_scores(comparison, made)
    copies = {p: s for p, s in scores.items() if made[p[0]] == made[p[1]] != "stub"}
    independent = {p: s for p, s in scores.items() if made[p[0]] != made[p[1]]}
    assert len(copies) == len(origins(homework_id)) and independent
    assert min(o for o, _ in copies.values()) > max(o for o, _ in independent.values())
    # Function by function too: a copied function outranks two independent versions of it.
    names = [f.name for f in comparison.functions]
    for name in VARIANTS[homework_id]:
        column = names.index(name)
        copied = [row[column] for (a, _), (o, row) in copies.items()
                  if name in origins(homework_id)[made[a]]]
        assert min(copied) > max(row[column] for _, row in independent.values()), name
    assert comparison.ids[comparison.pairs[0][0]] != comparison.ids[comparison.pairs[0][1]]


def test_untouched_stubs_score_nothing(synthetic):
    homework_id, made, comparison = synthetic
    for (a, b), (overall, row) in pair_scores(comparison, made).items():
        if "stub" in (made[a], made[b]):
            assert overall == 0 and not row.any(), (a, b)


def test_copy_with_inserted_statements_still_ranks_above_independent_pairs(tmp_path):
    """A copier who also adds a statement to each function is still found: winnowing keeps the
    untouched runs."""
    made = write_class("hw1", tmp_path / "class")
    edited = {name: disguise(code, random.Random(1), edits=1)
              for name, code in origins("hw1")["variant1"].items()}
    nbformat.write(student_notebook("hw1", edited), tmp_path / "class" / "edited.ipynb")
    made["edited"] = "variant1"
    comparison = similarity_report("hw1", tmp_path / "class", tmp_path / "report")
    scores = pair_scores(comparison, made)
    found = [o for pair, (o, _) in scores.items()
             if "edited" in pair and made[pair[0]] == made[pair[1]]]
    independent = [o for pair, (o, _) in scores.items() if made[pair[0]] != made[pair[1]]]
    assert len(found) == 2 and min(found) > max(independent)
    assert 0.3 < min(found) < 1


def test_copy_moved_into_helpers_still_ranks_above_independent_pairs(tmp_path):
    """The student's own helpers that a graded function calls count as part of it."""
    made = write_class("hw1", tmp_path / "class")
    moved = {name: into_helper(disguise(code, random.Random(2)))
             for name, code in origins("hw1")["reference"].items()}
    nbformat.write(student_notebook("hw1", moved, last_cell=True),
                   tmp_path / "class" / "moved.ipynb")
    made["moved"] = "reference"
    comparison = similarity_report("hw1", tmp_path / "class", tmp_path / "report")
    scores = pair_scores(comparison, made)
    found = [o for pair, (o, _) in scores.items()
             if "moved" in pair and made[pair[0]] == made[pair[1]]]
    independent = [o for pair, (o, _) in scores.items() if made[pair[0]] != made[pair[1]]]
    assert len(found) == 2 and min(found) > max(independent) and min(found) > 0.5
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "def _softmax_impl(" in page                 # shown beside the function that calls it


def test_normalisation_ignores_names_comments_spacing_and_import_aliases():
    original = reference_source("hw1", "sgd")
    copied = disguise(original, random.Random(3))
    assert copied != original
    as_np = {"np": "numpy"}
    tokens = normalised_tokens(_top_function(original), as_np)[0]
    assert tokens == normalised_tokens(_top_function(copied), as_np)[0]
    renamed_module = original.replace("np.", "numpy_lib.")
    assert normalised_tokens(_top_function(renamed_module), {"numpy_lib": "numpy"})[0] == tokens
    assert "M:numpy" in tokens and "V" in tokens and ".permutation" in tokens
    imports = ast.parse("import numpy as np\nfrom math import log as ln\nimport os.path").body
    assert import_aliases(imports) == {"np": "numpy", "ln": "math.log", "os": "os"}


def test_docstring_and_signature_are_not_fingerprinted():
    bare = "def f(a, b=3):\n    return a + b * 2 - a / b\n"
    dressed = 'def f(a, b=3, *, c="x"):\n    """Long docstring."""\n    return a + b * 2 - a / b\n'
    assert normalised_tokens(_top_function(bare), {})[0] == \
        normalised_tokens(_top_function(dressed), {})[0]


def test_code_given_in_the_stub_is_not_counted():
    """Two students who keep the lines we gave and write the rest differently share nothing."""
    given = ("    y = np.asarray(x, dtype=np.float64).reshape(-1)\n"
             "    y = y[np.isfinite(y)] - np.median(y)\n")
    stub = (f'def f(x):\n    """doc"""\n{given}'
            "    # YOUR CODE HERE\n    raise NotImplementedError()\n")
    first = f"def f(x):\n{given}    return float(np.sqrt(np.mean(y ** 2)))\n"
    second = (f"def f(x):\n{given}    total = 0.0\n    for value in y:\n"
              "        total += value * value\n    return (total / len(y)) ** 0.5\n")
    aliases = {"np": "numpy"}
    exclude = stub_fingerprints({"f": stub}, aliases)["f"]

    def shared(subtract):
        prints = [fingerprint(*normalised_tokens(_top_function(code), aliases), code,
                              exclude if subtract else None) for code in (first, second)]
        return set(prints[0].hashes.tolist()) & set(prints[1].hashes.tolist())

    assert len(exclude) and shared(subtract=False) and not shared(subtract=True)


@pytest.mark.parametrize("seed", range(20))
def test_winnowing_finds_every_shared_run_of_k_plus_w_minus_1_tokens(seed):
    rng = np.random.default_rng(seed)
    shared = [f"t{v}" for v in rng.integers(0, 5, K_GRAM + WINDOW - 1)]
    left = [f"a{v}" for v in rng.integers(0, 50, rng.integers(0, 30))] + shared + \
        [f"a{v}" for v in rng.integers(0, 50, rng.integers(0, 30))]
    right = [f"b{v}" for v in rng.integers(0, 50, rng.integers(0, 30))] + shared + \
        [f"b{v}" for v in rng.integers(0, 50, rng.integers(0, 30))]
    chosen = [set(h[winnow(h)].tolist()) for h in (kgram_hashes(left), kgram_hashes(right))]
    assert chosen[0] & chosen[1]


def test_graded_functions_are_the_stubs_the_spec_calls():
    import inspect
    import tmlkit.public.hw1
    # the checks: the spec's hidden ones and the visible ones it imports from the student package
    spec = homeworks.get("hw1").spec.read_text() + inspect.getsource(tmlkit.public.hw1)
    stubs = graded_functions("hw1")
    assert "softmax" in stubs and "train_cifar_model" in stubs
    assert "show_weights" not in stubs          # given to students, not graded
    for name in stubs:
        assert f"hw.{name}(" in spec, name
    assert {"Dual.__add__", "Dual.__mul__"} <= set(graded_functions("hw3"))
    assert "Dual.__repr__" not in graded_functions("hw3")


def test_last_definition_wins_as_in_the_grader(tmp_path):
    names, prints = fingerprint_class("hw1", [("ref", homeworks.get("hw1").solution)])
    extraction = extract_definitions(read_notebook(homeworks.get("hw1").solution))
    assert set(prints[0].functions) == set(names) <= extraction.defined_names()
    assert len(prints[0].functions["sgd"].hashes) > 10


@pytest.mark.parametrize("homework_id", sorted(VARIANTS))
def test_variants_are_correct(homework_id):
    """The independent variants really solve the task: same outputs as the reference."""
    nb = read_notebook(homeworks.get(homework_id).solution)
    namespace: dict = {}
    for cell in extract_definitions(nb).cells:
        exec(compile(cell.source, f"cell{cell.index}", "exec"), namespace)   # our own solution
    rng = np.random.default_rng(0)
    for name in VARIANTS[homework_id]:
        for index in range(len(VARIANTS[homework_id][name])):
            scope = dict(namespace)
            exec(variant_source(homework_id, name, index), scope)
            for args in _inputs(homework_id, name, rng, namespace):
                expected, got = _parts(namespace[name](*args)), _parts(scope[name](*args))
                assert len(expected) == len(got), f"{name} variant {index + 1}"
                for e, g in zip(expected, got):
                    np.testing.assert_allclose(np.asarray(g, dtype=float),
                                               np.asarray(e, dtype=float), rtol=1e-6, atol=1e-9,
                                               err_msg=f"{name} variant {index + 1}")


def _parts(value) -> list:
    """A result as a list of arrays: a dict's values by key, a tuple's items, or itself."""
    if isinstance(value, dict):
        return [value[key] for key in sorted(value)]
    return list(value) if isinstance(value, tuple) else [value]


def _inputs(homework_id, name, rng, ns):
    if homework_id == "hw3":
        import torch
        x, W1, b1 = rng.normal(size=3), rng.normal(size=(4, 3)), rng.normal(size=4)
        W2, b2 = rng.normal(size=(1, 4)), rng.normal(size=1)
        probs = torch.softmax(torch.as_tensor(rng.normal(size=(5, 3))), dim=1)
        return {"gradients": [(x, 1.0, W1, b1, W2, b2), (x, 0.0, W1, b1, W2, b2)],
                "forward_mode_derivative": [
                    (lambda v: ns["dual_sin"](v[0] * v[1]) + v[1], [0.3, 1.7], 0),
                    (lambda v: ns["dual_sin"](v[0] * v[1]) + v[1], [0.3, 1.7], 1)],
                "cross_entropy": [(probs, torch.tensor([0, 2, 1, 1, 0]))]}[name]
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 10, 60)
    W, b = rng.normal(size=(5, 10)), rng.normal(size=10)
    Y = ns["onehot"](y, 10)
    return {"softmax": [(rng.normal(size=(6, 4)) * 50,)], "onehot": [(y, 10)],
            "loss": [(X, Y, W, b)], "backward": [(X, Y, W, b)],
            "invert": [(lambda Q: Q @ W + b, 5)],
            "sgd": []}[name]          # batches differ by design: test_sgd_variants_train


def test_sgd_variants_train(tmp_path):
    """The sgd variants batch differently from the reference, so they are checked by training."""
    nb = read_notebook(homeworks.get("hw1").solution)
    namespace: dict = {}
    for cell in extract_definitions(nb).cells:
        exec(compile(cell.source, f"cell{cell.index}", "exec"), namespace)
    rng = np.random.default_rng(1)
    W_true = rng.normal(size=(8, 10))
    X = rng.normal(size=(500, 8))
    y = (X @ W_true).argmax(axis=1)
    reference = namespace["evaluate"](X, y, *namespace["sgd"](X, y, 5, 0.5, 32, 0))
    assert reference > 0.75
    for index in range(len(VARIANTS["hw1"]["sgd"])):
        scope = dict(namespace)
        exec(variant_source("hw1", "sgd", index), scope)
        history: list = []
        W, b = scope["sgd"](X, y, epochs=5, lr=0.5, batch_size=32, seed=0, history=history)
        assert namespace["evaluate"](X, y, W, b) > reference - 0.03
        assert np.mean(history[-10:]) < history[0] / 2


def test_cli_on_a_folder_writes_html_and_csv(tmp_path):
    made = write_class("hw1", tmp_path / "class")
    # Gradescope's export layout for one of them: a folder per submission
    (tmp_path / "class" / "submission_7").mkdir()
    (tmp_path / "class" / "reference_copy.ipynb").rename(
        tmp_path / "class" / "submission_7" / homeworks.get("hw1").notebook)
    made["submission_7"] = made.pop("reference_copy")
    done = subprocess.run([sys.executable, "-m", "autograder", "similarity", "hw1",
                           str(tmp_path / "class"), "-o", str(tmp_path / "report")],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"compared {len(made)} submissions: {len(origins('hw1'))} pairs" in done.stdout
    with open(tmp_path / "report" / "similarity.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert "softmax" in rows[0] and float(rows[0]["overall"]) == 1.0
    assert made[rows[0]["student_a"]] == made[rows[0]["student_b"]]
    assert {"reference", "submission_7"} in [{r["student_a"], r["student_b"]} for r in rows[:4]]
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "not a verdict" in page
    assert "<script" not in page and "<link" not in page and "src=" not in page
    assert page.count('class="pair"') == len(origins("hw1"))


def test_grade_all_similarity_writes_the_report_beside_the_grades(tmp_path, monkeypatch):
    write_class("hw1", tmp_path / "class")
    import autograder.batch
    monkeypatch.setattr(autograder.batch, "grade_all", lambda *args, **kwargs: [])
    assert cli.main(["grade-all", "hw1", str(tmp_path / "class"), "-o", str(tmp_path / "grades"),
                     "--similarity"]) == 0
    assert (tmp_path / "grades" / "similarity" / "similarity.html").is_file()


def test_student_code_is_escaped_in_the_page(tmp_path):
    folder = tmp_path / "class"
    hostile = ('def softmax(Z):\n    """x"""\n    s = "</pre><script>alert(1)</script>"\n'
               "    e = np.exp(Z - Z.max(axis=1, keepdims=True))\n"
               "    return e / e.sum(axis=1, keepdims=True) if s else None\n")
    folder.mkdir()
    for who in ("a<b>", "c"):
        nbformat.write(student_notebook("hw1", {"softmax": hostile}), folder / f"{who}.ipynb")
    similarity_report("hw1", folder, tmp_path / "report")
    page = (tmp_path / "report" / "similarity.html").read_text()
    assert "<script>" not in page and "&lt;/pre&gt;&lt;script&gt;" in page


@pytest.mark.skipif(find_chromium() is None, reason="no chromium: apt-get install chromium to "
                                                     "render the report in a real browser")
def test_page_renders_in_headless_chromium(tmp_path):
    from PIL import Image
    write_class("hw1", tmp_path / "class")
    similarity_report("hw1", tmp_path / "class", tmp_path / "report")
    shot = tmp_path / "shot.png"
    subprocess.run([find_chromium(), *CHROMIUM_FLAGS, "--disable-quic", "--no-first-run",
                    f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}",
                    "--window-size=1200,900", (tmp_path / "report" / "similarity.html").as_uri()],
                   capture_output=True, timeout=120)
    image = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert image.shape == (900, 1200, 3)
    ink = (image.sum(axis=2) < 600).mean()            # dark pixels: text and table rules
    assert 0.01 < ink < 0.5, ink
    # The warning box's yellow is on screen: the note is rendered, above the fold.
    yellow = (image[..., 0] > 240) & (image[..., 1] > 240) & (image[..., 2] < 235)
    assert yellow.mean() > 0.01


def test_benchmark_quick_run_prints_time_and_memory():
    """The benchmark keeps working; its figures are measured by hand and quoted in the README."""
    done = subprocess.run([sys.executable, "benchmarks/similarity_speed.py", "--class-size", "12"],
                          capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    found = re.search(r"median ([\d.]+) s over 1 run\(s\)\s+peak RSS (\d+) MB\s+66 pairs",
                      done.stdout)
    assert found and int(found.group(2)) > 50, done.stdout      # numpy alone is more than 50 MB

"""A corpus of hostile hw1 submissions and what grading each must produce.

Every case is graded against parts 2.1 and 2.2 of hw1 (attribution ×2, explain, invert ×2:
11 points). Each starts from a minimal correct set of functions and breaks one thing, so
"the other tests are graded normally" is observable: every test whose name does not start with
one of ``fail`` must get full marks, and every test that does must get zero with ``message`` in
its output (or, with ``in_notes=True``, ``message`` must be among the run's notes).

``content`` is a list of cell sources, raw bytes, or a callable ``(path, ctx) -> None`` that writes
the file (the 200 MB notebook is made sparse in a temp dir, never committed). ``ctx`` holds values
fixed at test time (a port to connect to, a results path); cell sources may use ``{ctx_key}``
placeholders through ``format_cells``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections.abc import Callable

PARTS = ("2.1", "2.2")
ALL = ("attribution", "explain", "invert")

IMPORTS = "import numpy as np\n"
ATTRIBUTION = "def attribution(W, b, x, c):\n    return W[:, c]\n"
EXPLAIN = "def explain(W, b, x, c):\n    return x * W[:, c]\n"
INVERT = ("def invert(query, D):\n    b = query(np.zeros((1, D)))[0]\n"
          "    W = query(np.eye(D)) - b\n    return W, b\n")
GOOD = [IMPORTS, ATTRIBUTION, EXPLAIN, INVERT]


def explain_body(body: str) -> list[str]:
    """The good notebook with explain's body replaced (indent by 4)."""
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return [IMPORTS, ATTRIBUTION, f"def explain(W, b, x, c):\n{lines}\n", INVERT]


def invert_body(body: str) -> list[str]:
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return [IMPORTS, ATTRIBUTION, EXPLAIN, f"def invert(query, D):\n{lines}\n"]


@dataclass
class Case:
    name: str
    content: list[str] | bytes | Callable
    fail: tuple[str, ...] = ()
    message: str = ""
    in_notes: bool = False
    needs: str = ""                 # "isolation": only where the child cannot signal the grader
    env: dict = field(default_factory=dict)
    limits: dict = field(default_factory=dict)   # sandbox Limits this case changes


def _nbformat3(path, ctx):
    cells = [{"cell_type": "code", "input": source, "language": "python", "outputs": [],
              "metadata": {}} for source in GOOD]
    path.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                "worksheets": [{"cells": cells, "metadata": {}}]}))


def _huge(path, ctx):
    # 200 MB, sparse: the size check must refuse it before reading a byte.
    with open(path, "wb") as f:
        f.write(b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
        f.seek(200 * 2**20)
        f.write(b" ")


def _raw_notebook(cells: list) -> bytes:
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}).encode()


def _code(source) -> dict:
    return {"cell_type": "code", "source": source, "metadata": {}, "outputs": [],
            "execution_count": None}


CASES = [
    # -- malformed notebooks -------------------------------------------------------------------
    Case("not_json", b"{ this is not json", ALL, "not valid notebook JSON"),
    Case("empty_file", b"", ALL, "not valid notebook JSON"),
    Case("json_not_a_notebook", b'{"hello": "world"}', ALL, "not a Jupyter notebook"),
    Case("json_list", b"[1, 2, 3]", ALL, "not a Jupyter notebook"),
    Case("deeply_nested_json", b"[" * 100000 + b"]" * 100000, ALL, "not valid notebook JSON"),
    Case("cells_not_a_list", b'{"cells": 5, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}',
         ALL, "notebook"),
    Case("nbformat3", _nbformat3),
    Case("empty_notebook", [], ALL, "is not defined"),
    Case("only_markdown", _raw_notebook([{"cell_type": "markdown", "source": "# hi", "metadata": {}}]),
         ALL, "is not defined"),
    Case("cells_deleted", [IMPORTS, ATTRIBUTION, EXPLAIN], ("invert",), "`invert` is not defined"),
    Case("cells_reordered", [INVERT, EXPLAIN, ATTRIBUTION, IMPORTS]),
    Case("function_missing", [IMPORTS, ATTRIBUTION, INVERT], ("explain",), "`explain` is not defined"),
    Case("defined_twice_last_good", [IMPORTS, "def explain(W, b, x, c):\n    return 0\n"] + GOOD[1:]),
    Case("defined_twice_last_bad", GOOD + ["def explain(W, b, x, c):\n    return x\n"],
         ("explain",), "explain(W, b, x, 2)"),
    Case("def_under_simple_if", [IMPORTS, ATTRIBUTION, "if True:\n" + "\n".join(
        "    " + line for line in EXPLAIN.splitlines()) + "\n", INVERT]),
    Case("def_under_if_with_call", [IMPORTS, ATTRIBUTION, "if len('x'):\n" + "\n".join(
        "    " + line for line in EXPLAIN.splitlines()) + "\n", INVERT],
         ("explain",), "defined inside a `if` block"),
    Case("def_in_for_loop", [IMPORTS, ATTRIBUTION, EXPLAIN, "for _ in range(1):\n" + "\n".join(
        "    " + line for line in INVERT.splitlines()) + "\n"], ("invert",), "defined inside a `for` block"),
    Case("def_in_try_with_import", [IMPORTS, ATTRIBUTION, "try:\n    import scipy\n" + "\n".join(
        "    " + line for line in EXPLAIN.splitlines()) + "\nexcept ImportError:\n    pass\n", INVERT]),
    Case("syntax_error_one_cell", [IMPORTS, ATTRIBUTION, "def explain(W, b, x, c):\n    return x *\n",
                                   INVERT], ("explain",), "SyntaxError on line 2"),
    Case("indentation_error", [IMPORTS, ATTRIBUTION, EXPLAIN,
                               "def invert(query, D):\nreturn 1\n"], ("invert",), "IndentationError"),
    Case("not_utf8", _raw_notebook([_code(IMPORTS)]).replace(b"numpy", b"n\xe9mpy\xff"), ALL,
         "not UTF-8"),
    Case("huge_200mb", _huge, ALL, "over the 50 MB limit"),
    Case("source_not_text", _raw_notebook([_code(IMPORTS), _code(ATTRIBUTION), _code(12345),
                                           _code(INVERT)]), ("explain",), "is not defined"),
    Case("null_byte_in_source", [IMPORTS, ATTRIBUTION, "def explain(W, b, x, c):\n    return '\0'\n",
                                 INVERT], ("explain",), "explain"),

    # -- runtime faults ------------------------------------------------------------------------
    Case("exception_at_import", ["import numpy as np\nimport not_a_real_module_xyz\n"] + GOOD[1:],
         (), "ModuleNotFoundError", in_notes=True),
    Case("exception_in_one_function", explain_body("raise ValueError('boom')"), ("explain",),
         "raised ValueError: boom"),
    Case("infinite_loop_in_function", [IMPORTS, "def attribution(W, b, x, c):\n    while True:\n"
                                       "        pass\n", EXPLAIN, INVERT],
         ("attribution",), "Time limit reached"),
    Case("infinite_loop_in_class_body", GOOD + ["class Config:\n    while True:\n        pass\n"],
         (), "ran for more than", in_notes=True),
    Case("loop_swallowing_signals_in_class_body",
         GOOD + ["class Config:\n    while True:\n        try:\n            pass\n"
                 "        except BaseException:\n            pass\n"], (), "ran for more than",
         in_notes=True),
    Case("exit_in_class_body", GOOD + ["import os\nclass Config:\n    os._exit(0)\n"], (),
         "ended the grader's process", in_notes=True),
    Case("recursion", explain_body("return explain(W, b, x, c)"), ("explain",), "RecursionError"),
    Case("allocate_20gb", explain_body("big = np.ones(20 * 2**30 // 8)\nreturn x * W[:, c]"),
         ("explain",), "MemoryError"),
    Case("spawn_orphans", [IMPORTS, "import os\ndef attribution(W, b, x, c):\n"
                           "    for _ in range(20):\n        if os.fork() == 0:\n"
                           "            os.setsid()\n            if os.fork() == 0:\n"
                           "                os.execv('/bin/sleep', ['sleep', '977.4242'])\n"
                           "            os._exit(0)\n    return W[:, c]\n", EXPLAIN, INVERT]),
    Case("sys_exit", explain_body("import sys\nsys.exit(0)"), ("explain",), "raised SystemExit"),
    Case("os_exit", explain_body("import os\nos._exit(0)"), ("explain",), "exit code 0"),
    # Under `unshare --pid` the child is its namespace's init, which ignores its own signals: then
    # the call goes on and passes (test_hostile relaxes the expectation).
    Case("sigkill_self", explain_body("import os, signal, time\nos.kill(os.getpid(), signal.SIGKILL)\n"
                                      "time.sleep(0.5)\nreturn x * W[:, c]"),
         ("explain",), "killed by SIGKILL"),
    Case("segfault", explain_body("import ctypes\nctypes.string_at(0)"), ("explain",),
         "killed by SIGSEGV"),
    Case("print_100mb", explain_body("print('x' * 100_000_000)\nreturn x * W[:, c]")),
    Case("print_100mb_then_fail", explain_body("for _ in range(100):\n    print('y' * 1_000_000)\n"
                                               "raise ValueError('after printing')"),
         ("explain",), "after printing"),
    # A file limit of 16 MiB, not the default 256: writing 256 MB charged the child 1.9 s of
    # kernel CPU once on an idle machine, and over the 4 s call limit under the suite's load.
    Case("write_huge_file", explain_body("with open('big.bin', 'wb') as f:\n"
                                         "    f.write(b'0' * (64 << 20))\nreturn x * W[:, c]"),
         ("explain",), "File too large", limits={"file_bytes": 16 << 20}),
    Case("return_over_message_limit", explain_body("return np.zeros(150_000_000)"),
         ("explain",), "explain"),
    Case("return_over_reply_limit", explain_body("return np.zeros(20_000_000)"),   # 160 MB
         ("explain",), "over 128 MiB"),

    # -- wrong values ---------------------------------------------------------------------------
    Case("nan", explain_body("return x * W[:, c] * np.nan"), ("explain",), "NaN or infinite"),
    Case("inf", explain_body("return x * W[:, c] + np.inf"), ("explain",), "NaN or infinite"),
    Case("wrong_shape", explain_body("return (x * W[:, c])[None]"), ("explain",), "has shape"),
    Case("wrong_dtype_strings", explain_body("return np.array(['a'] * len(x))"), ("explain",),
         "should be a numpy array"),
    Case("list_instead_of_array", explain_body("return list(x * W[:, c])")),
    Case("torch_tensor", explain_body("import torch\nreturn torch.as_tensor(x * W[:, c])")),
    Case("none", explain_body("pass"), ("explain",), "is None"),
    Case("eq_always_true", explain_body("class Yes:\n    def __eq__(self, other):\n        return True\n"
                                        "return Yes()"), ("explain",), "should be a numpy array"),
    Case("lying_array", explain_body("class Liar:\n    def __array__(self, *a, **k):\n"
                                     "        return x * W[:, c]\n    def __len__(self):\n"
                                     "        return len(x)\nreturn Liar()"),
         ("explain",), "should be a numpy array"),
    Case("nested_too_deeply", explain_body("v = []\nfor _ in range(100):\n    v = [v]\nreturn v"),
         ("explain",), "explain"),

    # -- tampering ------------------------------------------------------------------------------
    Case("steal_secret_via_gc", invert_body(
        "import gc\nfor o in gc.get_objects():\n    if type(o).__name__ == 'Oracle':\n"
        "        return o.W, o.b\nreturn np.zeros((D, 1)), np.zeros(1)"),
         ("invert",), "stolen W"),
    Case("read_grader_seed_from_env", invert_body(
        "import os\nif 'TML_GRADER_SEED' in os.environ:\n"
        "    b = query(np.zeros((1, D)))[0]\n    return query(np.eye(D)) - b, b\n"
        "return np.zeros((D, 1)), np.zeros(1)"), ("invert",), "stolen W",
         env={"TML_GRADER_SEED": "1234"}),
    Case("monkeypatch_numpy_and_builtins",
         ["import numpy as np\nimport builtins\n"
          "class Patch:\n    np.allclose = lambda *a, **k: True\n"
          "    np.isfinite = lambda a: np.ones(np.shape(a), bool)\n"
          "    builtins.abs = lambda v: 0\n    builtins.max = lambda *a, **k: 0\n",
          "def attribution(W, b, x, c):\n    return np.full(len(x), np.nan)\n", EXPLAIN, INVERT],
         ("attribution",), "NaN or infinite"),
    Case("override_import", ["import numpy as np\nimport builtins\n"
                             "class Hook:\n    real = builtins.__import__\n"
                             "    def fake(name, *a, real=real, **k):\n"
                             "        if name == 'os':\n            raise ImportError('os is blocked')\n"
                             "        return real(name, *a, **k)\n"
                             "    builtins.__import__ = fake\n",
                             "def attribution(W, b, x, c):\n    import os\n    return W[:, c]\n",
                             EXPLAIN, INVERT], ("attribution",), "raised ImportError: os is blocked"),
    Case("network_socket", explain_body(
        "import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "except OSError:\n    return x * W[:, c]\nraise RuntimeError('reached the grader network')"),
         needs="network"),
    Case("kill_grader_process", explain_body(
        "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nimport time\ntime.sleep(0.2)\n"
        "return x * W[:, c]"), ("explain",), "", needs="isolation"),
    Case("forge_results_file", explain_body(
        "import json\ntry:\n    open({results!r}, 'w').write(json.dumps({{'score': 1000, 'tests': []}}))\n"
        "except OSError:\n    pass\nreturn x * W[:, c]")),
]

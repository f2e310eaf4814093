"""Definitions are extracted cell by cell; top-level work and magics are dropped."""
import json

import nbformat
import pytest

from tmlkit.notebook import (MAX_NOTEBOOK_BYTES, NotebookError, extract_cell,
                                 extract_definitions, find_function, read_notebook)


def test_keeps_definitions_and_drops_work():
    cell, problem = extract_cell(2, "import numpy as np\n%matplotlib inline\nLR = 0.1\n"
                                    "config = {'a': [1, 2]}\nX_train = np.load('x.npy')\n"
                                    "def f(x):\n    return x\nf(3)\nclass Model:\n    pass\n")
    assert problem is None
    assert cell.defines == ["np", "LR", "config", "f", "Model"]
    assert "np.load" not in cell.source and "f(3)" not in cell.source


def test_keeps_line_numbers_for_tracebacks():
    source = "train()\nplot()\n\ndef f(x):\n    return 1 / x\n"
    cell, _ = extract_cell(1, source)
    assert cell.source.splitlines()[3] == "def f(x):"


def test_magic_inside_a_block_keeps_the_block_valid():
    cell, problem = extract_cell(1, "import sys\nif 'google.colab' in sys.modules:\n    %pip install x\n"
                                    "def g():\n    return 2\n")
    assert problem is None and cell.defines == ["sys", "g"]


def test_syntax_error_costs_only_its_cell():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("def ok():\n    return 1"),
                                         nbformat.v4.new_code_cell("def broken(:\n    pass"),
                                         nbformat.v4.new_markdown_cell("def not_code(): pass")])
    extraction = extract_definitions(nb)
    assert extraction.defined_names() == {"ok"}
    assert extraction.problems == ["Cell 2 has a SyntaxError on line 1: invalid syntax. "
                                   "Its definitions were skipped."]


def test_try_import_is_kept_but_try_with_work_is_not():
    kept, _ = extract_cell(1, "try:\n    import shap\nexcept ImportError:\n    shap = None\n")
    dropped, _ = extract_cell(2, "try:\n    train()\nexcept Exception:\n    pass\n")
    assert kept.defines == ["shap"] and dropped is None


@pytest.mark.parametrize("content, message", [
    (b"not json at all", "not valid notebook JSON"),
    (b'{"hello": 1}', "not a Jupyter notebook"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_unreadable_files_get_a_clear_message(tmp_path, content, message):
    path = tmp_path / "bad.ipynb"
    path.write_bytes(content)
    with pytest.raises(NotebookError, match=message):
        read_notebook(path)


def test_oversized_notebook_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.ipynb"
    with open(path, "wb") as f:
        f.truncate(MAX_NOTEBOOK_BYTES + 1)
    with pytest.raises(NotebookError, match="Clear the outputs"):
        read_notebook(path)


def test_missing_file(tmp_path):
    with pytest.raises(NotebookError, match="No notebook found"):
        read_notebook(tmp_path / "absent.ipynb")


def test_reads_a_valid_notebook(tmp_path):
    path = tmp_path / "ok.ipynb"
    path.write_text(json.dumps(nbformat.v4.new_notebook()))
    assert read_notebook(path).nbformat == 4


def _notebook(*sources: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("def f(x): markdown"),
                                           *map(nbformat.v4.new_code_cell, sources)])


def test_find_function_reads_cells_as_the_grader_does():
    nb = _notebook("def f(:\n    broken",                       # does not parse: passed over
                   "if True:\n    def f(x):\n        return 0",  # not top level
                   "%matplotlib inline\nX = 1\n\n@cache\ndef f(x):\n    return x\nf(2)",
                   "def f(x):\n    return 'second'")
    span = find_function(nb, "f")
    assert (span.cell, span.first, span.last) == (3, 4, 6)
    assert span.source(nb) == "@cache\ndef f(x):\n    return x"


def test_find_function_replaces_only_the_function():
    nb = _notebook("import numpy as np\n\ndef g(x):\n    return x\n\n\ndef h():\n    pass")
    find_function(nb, "g").replace(nb, "\ndef g(x):\n    y = x + 1\n    return y\n")
    assert nb.cells[1].source == ("import numpy as np\n\ndef g(x):\n    y = x + 1\n    return y\n"
                                  "\n\ndef h():\n    pass")
    assert find_function(nb, "h").source(nb) == "def h():\n    pass"


def test_find_function_names_what_is_missing():
    with pytest.raises(LookupError, match="'g'"):
        find_function(_notebook("def gg():\n    pass", "class g:\n    pass"), "g")

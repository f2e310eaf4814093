"""How long a student's process takes to start, with the zygote and without.

    python benchmarks/child_startup.py [--repeats 5]

Each start loads a notebook that imports numpy and torch, as every homework does, and is timed
until the child says it has loaded: the wall time, and the child's own CPU time (which a busy
machine does not inflate). With the zygote (the default) the child is forked from a process that
has imported them; with TML_ZYGOTE=0 it is a fresh `python -I` that imports them itself. The
first start, which also starts the zygote, is left out.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

MEASURE = """
import json, sys, tempfile, time
from pathlib import Path
import nbformat
from autograder.grade import prepare
source = "import numpy as np\\nimport torch\\n\\ndef double(x):\\n    return 2 * x\\n"
path = Path(tempfile.mkdtemp()) / "startup.ipynb"
nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), path)
box, _ = prepare(path)
box.start()                     # starts the zygote, if there is one
walls, cpus = [], []
for _ in range(int(sys.argv[1])):
    box.stop()
    began = time.monotonic()
    box.start()
    walls.append(time.monotonic() - began)
    cpus.append(box._child_cpu())
box.close()
print(json.dumps({"wall_s": walls, "cpu_s": cpus}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for zygote in ("1", "0"):
        done = subprocess.run([sys.executable, "-c", MEASURE, str(args.repeats)], cwd=REPO,
                              capture_output=True, text=True, check=True,
                              env={**os.environ, "TML_ZYGOTE": zygote})
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"{'forked from the zygote' if zygote == '1' else 'fresh interpreter':24} "
              f"median wall {statistics.median(figures['wall_s']):6.2f} s, child CPU "
              f"{statistics.median(figures['cpu_s']):5.2f} s ({args.repeats} starts)")


if __name__ == "__main__":
    main()

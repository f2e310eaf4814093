# Two commands do everything, set-up included:  make grade  and  make test.
#   make grade                              grade the HW1 reference solution, print the table
#   make grade HW=hw1 SUBMISSION=nb.ipynb   grade any submission (RESULTS=path writes results.json)
#   make test                               run the test suite
#   make notebooks                          after editing solutions/hwN.ipynb: normalize, release
#   make deps                               after editing pyproject.toml's dependencies
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HW ?= hw1
SUBMISSION ?=
RESULTS ?=
# Test files run in parallel, one file per worker at a time (its fixtures are built once).
TEST_JOBS ?= 2
# The offline MNIST/CIFAR-10 copies, when this checkout sits beside them (see data/README.md).
ifneq ($(wildcard ../shared/data/mnist.npz),)
export TML_DATA_DIR ?= $(abspath ../shared/data)
endif

# requirements.txt is generated from pyproject.toml (`python -m autograder deps`); its
# "# no-deps: " lines are installed without their dependencies. The kit itself is not installed.
$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	sed -n 's/^# no-deps: //p' requirements.txt | xargs -r $(PY) -m pip install -q --no-deps
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

.PHONY: install grade test lint release notebooks deps bench zips
install: $(VENV)/.installed

grade: $(VENV)/.installed
	$(PY) -m autograder grade $(HW) $(SUBMISSION) $(if $(RESULTS),--results $(RESULTS))

test: $(VENV)/.installed lint
	$(PY) -m pytest tests -q -n $(TEST_JOBS) --dist loadfile

lint: $(VENV)/.installed
	$(PY) -m ruff check autograder student tests benchmarks
	$(PY) -m nbqa ruff solutions

release: $(VENV)/.installed
	$(PY) -m autograder release
	$(PY) -m autograder check-tables

notebooks: $(VENV)/.installed
	$(PY) -m autograder normalize
	$(PY) -m autograder release
	$(PY) -m autograder check-tables

deps: $(VENV)/.installed
	$(PY) -m autograder deps

zips: $(VENV)/.installed
	for hw in hw1 hw2 hw3 hw4 hw5; do $(PY) -m autograder gradescope $$hw -o build/$${hw}_autograder.zip || exit 1; done

bench: $(VENV)/.installed
	$(PY) benchmarks/grading_speed.py

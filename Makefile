# Two commands do everything, set-up included:  make grade  and  make test.
#   make grade                              grade the HW1 reference solution, print the table
#   make grade HW=hw1 SUBMISSION=nb.ipynb   grade any submission (RESULTS=path writes results.json)
#   make test                               run the test suite
#   make notebooks                          after editing solutions/hwN.ipynb: normalize, release
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HW ?= hw1
SUBMISSION ?=
RESULTS ?=
# The offline MNIST/CIFAR-10 copies, when this checkout sits beside them (see data/README.md).
ifneq ($(wildcard ../shared/data/mnist.npz),)
export TML_DATA_DIR ?= $(abspath ../shared/data)
endif

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps torchattacks==3.5.1
	$(PY) -m ipykernel install --sys-prefix --name python3 > /dev/null
	touch $@

.PHONY: install grade test release notebooks bench zips
install: $(VENV)/.installed

grade: $(VENV)/.installed
	$(PY) -m autograder grade $(HW) $(SUBMISSION) $(if $(RESULTS),--results $(RESULTS))

test: $(VENV)/.installed
	$(PY) -m pytest tests -q

release: $(VENV)/.installed
	$(PY) -m autograder release
	$(PY) -m autograder check-tables

notebooks: $(VENV)/.installed
	$(PY) -m autograder normalize
	$(PY) -m autograder release
	$(PY) -m autograder check-tables

zips: $(VENV)/.installed
	for hw in hw1 hw2 hw3 hw4 hw5; do $(PY) -m autograder gradescope $$hw -o build/$${hw}_autograder.zip || exit 1; done

bench: $(VENV)/.installed
	$(PY) benchmarks/grading_speed.py

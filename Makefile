# The two set-up commands of the README: `make demo` (the main job) and
# `make test` (the test suite).  Each creates or reuses the virtual
# environment in $(VENV) and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
OUT ?= out/demo

.PHONY: demo test install ext sanitize clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install -q -e ".[test]"
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

clean:
	rm -rf build dist *.egg-info tflm_unit/*.so
	$(MAKE) -C custom_ops/core/tests clean

#!/usr/bin/env bash
# tflm-unit at the LOWEST dependency versions pyproject.toml declares: builds
# the wheel, installs it into a fresh venv with every declared dependency
# pinned to its lower bound (.ci/lowest_constraints.py; transitive
# dependencies resolve to the newest that fit), and runs the test suite there.
# A lower bound that this fails at is wrong and must be raised.
#
#   bash .ci/lowest_versions.sh            (make lowest; CI runs it after make test)
#   WORK=/tmp/lowest PYTEST_ARGS="tests/test_packaging.py" bash .ci/lowest_versions.sh
set -euo pipefail
source "$(dirname "$0")/wheel_env.sh"

VENV="$WORK/venv-lowest"
log "lowest versions: venv $VENV ($("$PYTHON" -V))"
make_venv "$VENV"
"$VENV/bin/python" "$REPO/.ci/lowest_constraints.py" "$REPO/pyproject.toml" > "$WORK/lowest.txt"
WHEEL=$(build_wheel "$VENV")
log "installing $(basename "$WHEEL") with"
grep -v '^#' "$WORK/lowest.txt" | sed 's/^/  /'
quiet_pip nice -n 10 "$VENV/bin/pip" install -q -c "$WORK/lowest.txt" "$WHEEL[test]"
log "installed:"
show_versions "$VENV"
# Every declared dependency must be at exactly its lower bound.
(cd "$WORK" && "$VENV/bin/python" "$REPO/.ci/lowest_constraints.py" --check "$REPO/pyproject.toml")
log "pytest $PYTEST_ARGS"
run_tests "$VENV"
log "lowest versions: passed"

#!/usr/bin/env bash
# issue 15's "must show": a user's environment that already has a different
# (supported) TensorFlow and NumPy than constraints.txt gets tflm-unit's wheel
# installed WITHOUT constraints; pip must keep what was there, and the test
# suite must pass against it.
#
#   bash .ci/foreign_env.sh            (make foreign)
#   FOREIGN="tensorflow==2.18.1 tf-keras==2.18.0 numpy==2.0.2" bash .ci/foreign_env.sh
#
# Default set: TensorFlow 2.19 with its Keras 2 (tf-keras 2.19) and NumPy 1.26,
# the other NumPy major (constraints.txt has TF 2.21 / NumPy 2.4).
set -euo pipefail
source "$(dirname "$0")/wheel_env.sh"
FOREIGN=${FOREIGN:-"tensorflow==2.19.1 tf-keras==2.19.0 numpy==1.26.4"}

VENV="$WORK/venv-foreign"
log "foreign environment: venv $VENV ($("$PYTHON" -V)) with $FOREIGN"
make_venv "$VENV"
# shellcheck disable=SC2086
quiet_pip nice -n 10 "$VENV/bin/pip" install -q $FOREIGN
"$VENV/bin/pip" freeze --all > "$WORK/foreign-before.txt"
WHEEL=$(build_wheel "$VENV")
log "installing $(basename "$WHEEL") (no constraints)"
quiet_pip nice -n 10 "$VENV/bin/pip" install -q "$WHEEL[test]"
"$VENV/bin/pip" freeze --all > "$WORK/foreign-after.txt"
# Nothing that was installed before may have changed version or gone.
changed=$(comm -23 <(sort "$WORK/foreign-before.txt") <(sort "$WORK/foreign-after.txt"))
if [ -n "$changed" ]; then
  echo "installing the wheel changed the user's packages; before:" >&2
  echo "$changed" >&2
  echo "after:" >&2
  comm -13 <(sort "$WORK/foreign-before.txt") <(sort "$WORK/foreign-after.txt") >&2
  exit 1
fi
log "kept all $(wc -l < "$WORK/foreign-before.txt") packages the environment had; installed:"
show_versions "$VENV"
log "pytest $PYTEST_ARGS"
run_tests "$VENV"
log "foreign environment: passed"

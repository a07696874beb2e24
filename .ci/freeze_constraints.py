"""Prints constraints.txt: the exact versions of tflm-unit[test,demo,bench]'s direct and
transitive dependencies installed in the running environment.

    .venv/bin/python .ci/freeze_constraints.py > constraints.txt

Walks the installed metadata from tflm-unit down (not `pip freeze`, which would
also list whatever else the venv holds: linters, tools), so the file holds
exactly what the package pulls in.
"""
import importlib.metadata as md
import re
import sys

from packaging.requirements import Requirement

HEADER = """\
# The exact set `make` and CI install (pip install -c constraints.txt -e ".[test,demo,bench]"):
# tflm-unit's direct and transitive dependencies as they work together today on
# Python 3.11, taken from a working .venv.  pyproject.toml declares the ranges
# the package supports; this file only makes our own environments reproducible.
# setuptools, wheel and pip (build tools, which the venv and pip's isolated
# builds bring) are left out.
# Regenerate: .venv/bin/python .ci/freeze_constraints.py > constraints.txt
"""
BUILD_TOOLS = {"pip", "setuptools", "wheel"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


EXTRAS = frozenset({"test", "demo", "bench"})  # what the Makefile installs


def closure(root: str = "tflm-unit", extras: frozenset = EXTRAS) -> dict:
    """{normalised name: installed version} of everything ``root[extras]`` requires."""
    seen: dict = {}
    todo = [(root, set(extras))]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            continue
        key = _norm(dist.metadata["Name"])
        if key in seen and wanted <= seen[key][1]:
            continue
        seen[key] = (dist.version, seen.get(key, ("", set()))[1] | wanted)
        for text in dist.requires or []:
            req = Requirement(text)
            envs = [{"extra": e} for e in (wanted or {""})]
            if req.marker is not None and not any(req.marker.evaluate(e) for e in envs):
                continue
            todo.append((req.name, set(req.extras)))
    seen.pop(_norm(root), None)
    return {k: v for k, (v, _) in seen.items() if k not in BUILD_TOOLS}


def main() -> int:
    deps = closure()
    if not deps:
        print("tflm-unit is not installed in this environment", file=sys.stderr)
        return 1
    sys.stdout.write(HEADER)
    for name in sorted(deps):
        print(f"{name}=={deps[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

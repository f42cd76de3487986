"""Fail when lock.txt no longer satisfies what the project asks for (`make lock-check`).

Offline checks, each printed as one line when it fails:
- every requirement of both distributions (dependencies and every extra) and
  of the `*.in` files here, wherever its markers apply to this interpreter, is
  pinned in the lock at a version it allows (our own distributions are
  checked against their pyprojects' versions);
- every distribution installed in this environment is pinned at its installed
  version, so nothing came in unpinned (pip and uv, the installers, excepted);
- the lock names no package index, find-links location or download URL.

Exit status 1 when anything fails: run `make lock` and commit the result.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
PYPROJECTS = (ROOT / "clients/python/pyproject.toml", ROOT / "server/pyproject.toml")
INPUTS = (ROOT / "requirements/dev.in", ROOT / "requirements/bench.in")
LOCK = ROOT / "requirements/lock.txt"
INSTALLERS = {"pip", "uv", "setuptools"}  # the virtualenv's own, not the project's
_ADDRESS = re.compile(r"://|^\s*-(i|f)\s|--(extra-)?index-url|--find-links|--trusted-host", re.M)


def pins(lock_text: str) -> dict[str, Version]:
    """{name: version} of the lock's pins that apply to this interpreter."""
    out: dict[str, Version] = {}
    for line in lock_text.splitlines():
        if not line or line[0].isspace() or line.startswith(("#", "-")):
            continue
        requirement = Requirement(line.rstrip(" \\"))
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        specs = list(requirement.specifier)
        if len(specs) == 1 and specs[0].operator == "==":  # a lock line is name==version
            out[canonicalize_name(requirement.name)] = Version(specs[0].version)
    return out


def wanted(pyprojects: Iterable[Path], inputs: Iterable[Path]) -> Iterator[tuple[str, Requirement]]:
    """(where, requirement) for everything the project asks for."""
    for path in pyprojects:
        project = tomllib.loads(path.read_text())["project"]
        where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
        for text in project.get("dependencies", []):
            yield f"{where}", Requirement(text)
        for extra, texts in project.get("optional-dependencies", {}).items():
            for text in texts:
                yield f"{where} [{extra}]", Requirement(text)
    for path in inputs:
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                yield path.name, Requirement(line)


def problems(
    lock_text: str,
    pyprojects: Iterable[Path] = PYPROJECTS,
    inputs: Iterable[Path] = INPUTS,
    installed: dict[str, Version] | None = None,
) -> list[str]:
    """Every way the lock fails the project; empty when it satisfies it."""
    pyprojects = list(pyprojects)
    locked = pins(lock_text)
    ours: dict[str, Version] = {}
    for path in pyprojects:
        project = tomllib.loads(path.read_text())["project"]
        ours[canonicalize_name(project["name"])] = Version(project["version"])
    found: list[str] = []
    for where, requirement in wanted(pyprojects, inputs):
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        version = ours.get(name, locked.get(name))
        if version is None:
            found.append(f"{where}: {requirement} is not in the lock")
        elif not requirement.specifier.contains(version, prereleases=True):
            found.append(f"{where}: {requirement} does not allow the locked {name}=={version}")
    for dist, version in sorted((installed or {}).items()):
        if dist in ours or dist in INSTALLERS:
            continue
        if dist not in locked:
            found.append(f"installed {dist}=={version} is not in the lock")
        elif locked[dist] != version:
            found.append(f"installed {dist}=={version}, the lock says {locked[dist]}")
    lines = sorted({lock_text.count("\n", 0, m.start()) + 1 for m in _ADDRESS.finditer(lock_text)})
    for line in lines:
        found.append(f"lock.txt line {line}: names a package location; keep names and hashes only")
    return found


def _installed() -> dict[str, Version]:
    return {
        canonicalize_name(dist.metadata["Name"]): Version(dist.version)
        for dist in metadata.distributions()
    }


def main() -> int:
    found = problems(LOCK.read_text(), installed=_installed())
    for line in found:
        print(f"lock-check: {line}", file=sys.stderr)
    if found:
        print("lock-check: run `make lock` and commit requirements/lock.txt", file=sys.stderr)
        return 1
    print("requirements/lock.txt satisfies both pyprojects and requirements/*.in")
    return 0


if __name__ == "__main__":
    sys.exit(main())

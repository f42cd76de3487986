"""Tests of requirements/check_lock.py, which `make lock-check` runs."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_lock", ROOT / "requirements/check_lock.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _checker()


def _project(tmp_path: Path, *deps: str, extra: tuple[str, ...] = ()) -> Path:
    path = tmp_path / "pyproject.toml"
    extras = f"\n[project.optional-dependencies]\ncli = {list(extra)!r}\n" if extra else ""
    path.write_text(
        f'[project]\nname = "demo"\nversion = "1.0"\ndependencies = {list(deps)!r}\n{extras}'
    )
    return path


LOCK = """\
# made by make lock
grpcio==1.85.3 \\
    --hash=sha256:00
numpy==2.4.6 ; python_full_version < '3.12' \\
    --hash=sha256:11
numpy==2.5.5 ; python_full_version >= '3.12' \\
    --hash=sha256:22
rich==15.0.0
"""


def test_the_projects_own_lock_satisfies_its_pyprojects() -> None:
    assert check.problems((ROOT / "requirements/lock.txt").read_text()) == []


def test_a_lock_within_every_range_passes(tmp_path: Path) -> None:
    project = _project(tmp_path, "grpcio>=1.85,<2", "numpy>=2,<3", extra=("rich>=14",))
    assert check.problems(LOCK, [project], []) == []


def test_a_requirement_missing_from_the_lock_or_outside_its_pin_fails(tmp_path: Path) -> None:
    project = _project(tmp_path, "grpcio>=1.86", "protobuf>=7", extra=("rich<15",))
    problems = check.problems(LOCK, [project], [])
    assert any("grpcio>=1.86 does not allow the locked grpcio==1.85.3" in p for p in problems)
    assert any("protobuf>=7 is not in the lock" in p for p in problems)
    assert any("[cli]: rich<15" in p for p in problems)
    assert len(problems) == 3


def test_requirements_files_are_checked_too(tmp_path: Path) -> None:
    dev = tmp_path / "dev.in"
    dev.write_text("# tools\nrich>=16  # too new\n")
    problems = check.problems(LOCK, [_project(tmp_path)], [dev])
    assert problems == ["dev.in: rich>=16 does not allow the locked rich==15.0.0"]


def test_a_package_installed_unpinned_or_at_another_version_fails(tmp_path: Path) -> None:
    installed = {
        "grpcio": Version("1.85.3"),
        "rich": Version("14.0.0"),
        "left-pad": Version("1.0"),
        "pip": Version("26.0"),  # the installer's own
        "demo": Version("1.0"),  # the project's own distribution
    }
    problems = check.problems(LOCK, [_project(tmp_path)], [], installed=installed)
    assert problems == [
        "installed left-pad==1.0 is not in the lock",
        "installed rich==14.0.0, the lock says 15.0.0",
    ]


def test_a_lock_that_names_a_package_location_fails(tmp_path: Path) -> None:
    for line in (
        "--index-url https://example.invalid/simple",
        "--find-links ./wheels",
        "left-pad @ https://example.invalid/left_pad-1.0-py3-none-any.whl",
    ):
        problems = check.problems(LOCK + line + "\n", [_project(tmp_path)], [])
        assert problems == ["lock.txt line 9: names a package location; keep names and hashes only"]

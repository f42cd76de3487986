"""The public surface of both packages is exactly their `__all__`, and every name in it imports."""

from __future__ import annotations

import importlib
import subprocess
import sys
import types

import pytest

import tickwire
import tickwire_server

PACKAGES = [tickwire, tickwire_server]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_all_is_exactly_the_public_names(package: types.ModuleType) -> None:
    public = sorted(
        name
        for name, value in vars(package).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    )
    assert package.__all__ == public  # sorted, as written


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.__name__)
def test_every_exported_name_is_defined_in_the_package(package: types.ModuleType) -> None:
    for name in package.__all__:
        assert getattr(package, name).__module__.startswith((package.__name__, "tickwire.v1"))


def test_the_testing_module_exports_what_its_users_drive_it_with() -> None:
    testing = importlib.import_module("tickwire_server.testing")
    assert {"serve_in_process", "InProcessServer", "MarketState", "SourceState", "Quote"} <= set(
        testing.__all__
    )
    assert testing.Quote is tickwire_server.Quote
    assert testing.SourceState is tickwire_server.SourceState


def test_importing_the_client_loads_no_server_part() -> None:
    code = (
        "import sys, tickwire; tickwire.Client; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'tickwire_server', 'numpy', 'massive', 'pydantic', 'pydantic_settings', 'rich'}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"


def test_the_old_testing_path_still_works_and_says_where_it_moved() -> None:
    sys.modules.pop("tickwire.testing", None)
    with pytest.warns(DeprecationWarning, match="moved to tickwire_server.testing"):
        old = importlib.import_module("tickwire.testing")
    new = importlib.import_module("tickwire_server.testing")
    assert old.serve_in_process is new.serve_in_process
    assert old.InProcessServer is new.InProcessServer
    assert callable(old.tickwire_server)  # the fixture, for old pytest_plugins lines

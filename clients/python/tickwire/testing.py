"""Deprecated: the in-process test server moved to `tickwire_server.testing`.

It lives in the `tickwire-server` distribution now, so that the client
needs no server. This shim re-exports it, with a DeprecationWarning, for one
release; installing `tickwire-server` also registers the `tickwire_server`
pytest fixture by itself, so `pytest_plugins = ["tickwire.testing"]` can go.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

warnings.warn(
    "tickwire.testing moved to tickwire_server.testing (distribution tickwire-server); "
    "this import path goes away in the next release",
    DeprecationWarning,
    stacklevel=2,
)

try:
    _moved = importlib.import_module("tickwire_server.testing")
except ImportError as error:  # the client alone is installed
    raise ImportError(
        "tickwire.testing moved to tickwire_server.testing: pip install 'tickwire-server[testing]'"
    ) from error

__all__ = list(_moved.__all__)
if hasattr(_moved, "tickwire_server"):  # the pytest fixture, for old `pytest_plugins` lines
    __all__.append("tickwire_server")


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(_moved, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

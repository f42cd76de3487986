"""The Massive (formerly Polygon.io) source: REST snapshot polling or the WebSocket feed."""

from __future__ import annotations

from tickwire_server.sources.massive.options import MassiveOptions
from tickwire_server.sources.massive.source import MassiveSource

__all__ = ["MassiveOptions", "MassiveSource"]

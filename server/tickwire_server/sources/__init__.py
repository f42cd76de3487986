"""Price sources and the factory that picks one from the settings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tickwire_server.sources.base import PriceSink, PriceSource

if TYPE_CHECKING:
    from tickwire_server.config import Settings

__all__ = ["PriceSink", "PriceSource", "build_source"]


def build_source(settings: Settings) -> PriceSource:
    """The source `settings.source` names, configured from the settings."""
    if settings.source == "simulator":
        from tickwire_server.sources.simulator import SimulatorSource

        return SimulatorSource(
            tickers=settings.tickers, interval=settings.interval, seed=settings.seed
        )
    if settings.source == "synthetic":
        from tickwire_server.sources.synthetic import ManualClock, SyntheticSource

        return SyntheticSource(
            tickers=settings.synthetic_tickers,
            hz=settings.synthetic_hz,
            seed=settings.seed,
            open_universe=settings.synthetic_open_universe,
            clock=ManualClock() if settings.synthetic_clock == "manual" else None,
        )
    if settings.source == "replay":
        from tickwire_server.sources.replay import ReplaySource

        assert settings.replay_file is not None  # the settings check it
        return ReplaySource(settings.replay_file, speed=settings.replay_rate)
    if settings.source == "massive":
        from tickwire_server.sources.massive import MassiveOptions, MassiveSource

        return MassiveSource(MassiveOptions.from_settings(settings))
    raise ValueError(f"unknown source {settings.source!r}")

"""Scenario control: drive the synthetic source live (ScenarioControl) or from scenario files."""

from tickwire_server.scenario.controls import BadInput, Controls, NotPossible
from tickwire_server.scenario.script import Scenario, ScenarioError, load, parse
from tickwire_server.scenario.service import (
    SERVICE_NAME,
    ScenarioControlService,
    ScenarioRunner,
    handler,
)

__all__ = [
    "SERVICE_NAME",
    "BadInput",
    "Controls",
    "NotPossible",
    "Scenario",
    "ScenarioControlService",
    "ScenarioError",
    "ScenarioRunner",
    "handler",
    "load",
    "parse",
]

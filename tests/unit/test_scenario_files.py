"""Scenario files: what parses, and errors that name the file, the line and the problem."""

from __future__ import annotations

from pathlib import Path

import pytest

from tickwire_server.domain import MarketState
from tickwire_server.scenario import ScenarioError, load, parse

EXAMPLES = sorted((Path(__file__).parents[2] / "scenarios").glob("*.yaml"))


def test_every_example_scenario_parses() -> None:
    names = {path.name for path in EXAMPLES}
    assert {
        "weekend-open.yaml",
        "reconnect-storm.yaml",
        "stale-ticker.yaml",
        "burst.yaml",
        "market-close.yaml",
    } <= names
    for path in EXAMPLES:
        assert load(path).steps, path


def test_steps_carry_their_lines_offsets_and_arguments() -> None:
    scenario = parse(
        """\
name: demo
steps:
  # a comment
  - market: extended
  - at: 1.5s
    push: {ticker: AAPL, price: 200}
  - repeat: 2
    steps:
      - wait: 500ms
      - stall: NVDA
""",
        "demo.yaml",
    )
    assert scenario.name == "demo"
    market, push, repeat = scenario.steps
    assert (market.line, market.op, market.args) == (
        4,
        "market",
        {"market": MarketState.EXTENDED_HOURS},
    )
    assert (push.line, push.at, push.args) == (5, 1.5, {"ticker": "AAPL", "price": 200.0})
    assert (repeat.times, [s.op for s in repeat.steps]) == (2, ["wait", "stall"])
    assert repeat.steps[0].args == {"seconds": 0.5}
    assert repeat.steps[1].args == {"ticker": "NVDA", "stale_after": 0.0}


def test_json_is_a_scenario_too() -> None:
    text = '{"steps": [{"market": "closed"}, {"at": 2, "drop": {"refuse_for": "3s"}}]}'
    scenario = parse(text, "x.json")
    assert [s.op for s in scenario.steps] == ["market", "drop"]
    assert scenario.steps[1].args == {"refuse_for": 3.0, "principal": ""}


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("steps:\n  - market: open\n  - psh: {}\n", 3, "unknown operation 'psh'"),
        ("steps:\n  - market: sideways\n", 2, "market is one of"),
        ("steps:\n  - push: {ticker: AAPL}\n", 2, "push needs price"),
        ("steps:\n  - push: {ticker: AAPL, price: cheap}\n", 2, "price is a number"),
        ("steps:\n  - at: 5s\n    reset: true\n  - at: 2s\n    reset: true\n", 4, "comes before"),
        ("steps:\n  - wait: soon\n", 2, "wait is a duration"),
        ("steps:\n  - wait: -2\n", 2, "must not be negative"),
        ("steps:\n  - market: open\n    reset: true\n", 2, "names 2 operations"),
        ("steps:\n  - at: 1s\n", 2, "names no operation"),
        ("steps:\n  - repeat: forever\n    steps: [{market: open}]\n", 2, "needs a wait"),
        ("steps:\n  - repeat: 0\n    steps: [{wait: 1s}]\n", 2, "repeat takes a count"),
        ("steps:\n  - burst: {hz: 5}\n", 2, "burst needs for"),
        ("steps:\n  - pause: maybe\n", 2, "pause takes true or false"),
        ("steps:\n  - market: open\n  - [oops\n", 4, "not valid YAML"),
        ("name: nothing\n", 1, "a list of `steps`"),
        ("steps: []\n", 1, "no steps"),
        ("steps:\n  - 42\n", 1, "a step is a mapping"),
        ("steps: [{market: open}]\nspeed: 3\n", 1, "unknown key 'speed'"),
    ],
)
def test_a_malformed_scenario_names_the_file_line_and_problem(
    text: str, line: int, problem: str
) -> None:
    with pytest.raises(ScenarioError) as error:
        parse(text, "bad.yaml")
    assert (error.value.name, error.value.line) == ("bad.yaml", line), str(error.value)
    assert problem in error.value.problem
    assert str(error.value).startswith(f"bad.yaml:{line}: ")


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError) as error:
        load(tmp_path / "missing.yaml")
    assert "missing.yaml" in str(error.value) and "cannot read" in str(error.value)

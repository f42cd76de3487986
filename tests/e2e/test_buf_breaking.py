"""`make lint`'s contract check: `buf breaking` against the released baseline image."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
BUF = ROOT / "clients" / "typescript" / "node_modules" / ".bin" / "buf"
BASELINE = ROOT / "protos" / "baseline.binpb"
MARKET_DATA = Path("protos/tickwire/v1/market_data.proto")


def _breaking(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUF), "breaking", "protos", "--against", str(BASELINE)],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def contract(tmp_path: Path) -> Path:
    """A copy of the contract and its buf.yaml, to change."""
    assert BUF.exists(), "buf is missing: `make install` installs it"
    shutil.copytree(ROOT / "protos", tmp_path / "protos")
    shutil.copy(ROOT / "buf.yaml", tmp_path / "buf.yaml")
    return tmp_path


def _edit(tree: Path, old: str, new: str) -> None:
    path = tree / MARKET_DATA
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_the_contract_as_committed_matches_its_release(contract: Path) -> None:
    result = _breaking(contract)
    assert result.returncode == 0, result.stdout + result.stderr


def test_an_added_field_or_a_reserved_spare_number_is_not_breaking(contract: Path) -> None:
    _edit(
        contract,
        "  uint64 conflated = 2;",
        "  uint64 conflated = 2;\n  string note = 3;\n  reserved 99;",
    )
    result = _breaking(contract)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("  uint64 sequence = 8;", "  uint64 sequence = 17;", 'field "8" with name "sequence"'),
        (
            "  uint64 sequence = 8;",
            "  reserved 8;\n  uint64 seq = 18;",
            'field "8" with name "sequence"',
        ),
        (
            "  rpc ListTickers(ListTickersRequest) returns (ListTickersResponse);",
            "",
            'RPC "ListTickers"',
        ),
        (
            "  string ticker = 1;\n  double price = 2;",
            "  string ticker = 2;\n  double price = 1;",
            None,
        ),
    ],
    ids=["renumbered", "removed", "rpc-removed", "numbers-swapped"],
)
def test_renumbered_or_removed_fields_and_rpcs_fail(
    contract: Path, old: str, new: str, words: str | None
) -> None:
    _edit(contract, old, new)
    result = _breaking(contract)
    assert result.returncode != 0, "buf breaking let it through"
    if words is not None:
        assert words in result.stdout, result.stdout

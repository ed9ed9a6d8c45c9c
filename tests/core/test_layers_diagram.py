"""docs/architecture.md's picture of the layers matches the import-linter layers contracts
in pyproject.toml (scripts/layers_diagram.py draws it from them)."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "layers_diagram.py"


def _diagram(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          cwd=REPO)


def test_docs_diagram_matches_the_contracts():
    out = _diagram("--check")
    assert out.returncode == 0, out.stdout + out.stderr


def test_diagram_draws_the_contracts_layers_in_order():
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = {c["containers"][0]: c["layers"] for c in contracts["contracts"]
              if c["type"] == "layers"}
    expected = []
    for layer in layers["semicl"]:
        expected.append(layer)
        expected += layers.get(f"semicl.{layer}", [])
    drawn = _diagram().stdout.splitlines()
    rows = [line.strip("│ ") for line in drawn if line.startswith("│") and "─" not in line]
    assert rows == expected
    assert "experiments" in rows and "demo" in rows  # the nested package is drawn


def test_check_fails_when_the_contract_changes(tmp_path):
    changed = (REPO / "pyproject.toml").read_text().replace('"interactive",\n',
                                                           '"interactive | extra",\n', 1)
    assert "interactive | extra" in changed
    (tmp_path / "pyproject.toml").write_text(changed)
    out = _diagram("--check", "--pyproject", str(tmp_path / "pyproject.toml"))
    assert out.returncode == 1 and "+│ interactive | extra" in out.stdout

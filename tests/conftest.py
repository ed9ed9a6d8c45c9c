"""Shared fixtures: the real-data folder and small synthetic inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
#: The binding asked for, read before qtpy (which writes back the one it took) is imported.
REQUESTED_QT_API = os.environ.get("QT_API", "").lower()


def _one_qt_binding() -> None:
    """Make pytest-qt use the Qt binding qtpy (so napari and the plugin) uses.

    With PyQt5 and PyQt6 both installed, qtpy takes the one ``QT_API`` names (PyQt5 when
    unset), but pytest-qt loads PyQt6 first and qtpy then keeps to the binding already
    loaded: a PyQt5 run would silently be a PyQt6 one. This conftest is loaded before
    pytest-qt chooses; ``PYTEST_QT_API``, if set, wins (tests/plugin/test_qt_binding.py
    checks the outcome).
    """
    if "PYTEST_QT_API" in os.environ:
        return
    try:
        import qtpy
    except Exception:  # noqa: BLE001 - no Qt binding (an engine-only install)
        return
    if qtpy.API_NAME.lower() in ("pyqt5", "pyqt6", "pyside6"):
        os.environ["PYTEST_QT_API"] = qtpy.API_NAME.lower()


_one_qt_binding()


@pytest.fixture(scope="session")
def requested_qt_api() -> str:
    """``QT_API`` as the test run was started with ("" when unset)."""
    return REQUESTED_QT_API


def shared_data_dir() -> Path | None:
    """``$SEMICL_DATA_DIR`` or ``../shared/data`` beside the repository, if it exists."""
    env = os.environ.get("SEMICL_DATA_DIR")
    cand = Path(env) if env else REPO.parent / "shared" / "data"
    return cand if cand.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data not found: set SEMICL_DATA_DIR to the shared data folder")
    return d


@pytest.fixture(scope="session")
def msd_dir(data_dir: Path) -> Path:
    d = data_dir / "msd_task04_hippocampus"
    if not (d / "dataset.json").is_file():
        pytest.skip(f"MSD Task04 not found under {data_dir}")
    return d


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(0)

"""Shared fixtures: the real-data folder and small synthetic inputs."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


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

"""find_or_fetch_msd resolution order; the network is never used."""

from __future__ import annotations

import pytest

import semicl.io.download as download
from semicl.errors import DataUnavailableError, DatasetError
from semicl.io.download import find_or_fetch_msd


def _task(folder):
    folder.mkdir(parents=True)
    (folder / "dataset.json").write_text("{}")
    return folder


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(cache):
        raise ConnectionError("network disabled in tests")

    monkeypatch.setattr(download, "_download", refuse)
    monkeypatch.delenv(download.ENV_VAR, raising=False)


def test_explicit_dir(tmp_path):
    task = _task(tmp_path / "Task04_Hippocampus")
    assert find_or_fetch_msd(task) == task
    assert find_or_fetch_msd(tmp_path) == task


def test_explicit_dir_without_data(tmp_path):
    with pytest.raises(DatasetError, match="--data"):
        find_or_fetch_msd(tmp_path)


@pytest.mark.parametrize("child", ["", "msd_task04_hippocampus", "Task04_Hippocampus"])
def test_env_var(tmp_path, monkeypatch, child):
    task = _task(tmp_path / "env" / child) if child else _task(tmp_path / "env")
    monkeypatch.setenv(download.ENV_VAR, str(tmp_path / "env"))
    assert find_or_fetch_msd(cache_dir=tmp_path / "cache") == task


def test_cache_used_when_env_lacks_data(tmp_path, monkeypatch):
    monkeypatch.setenv(download.ENV_VAR, str(tmp_path / "empty"))
    task = _task(tmp_path / "cache" / "Task04_Hippocampus")
    assert find_or_fetch_msd(cache_dir=tmp_path / "cache") == task


def test_offline_message(tmp_path):
    with pytest.raises(DataUnavailableError) as err:
        find_or_fetch_msd(cache_dir=tmp_path / "cache")
    msg = str(err.value)
    assert "SEMICL_DATA_DIR" in msg and "--data" in msg and "network disabled" in msg


def test_download_result_is_used(tmp_path, monkeypatch):
    monkeypatch.setattr(download, "_download", lambda cache: _task(cache / "Task04_Hippocampus"))
    assert find_or_fetch_msd(cache_dir=tmp_path / "c") == tmp_path / "c" / "Task04_Hippocampus"


def test_default_cache_is_pooch_os_cache():
    assert download.default_cache_dir().name == "semicl"
    assert download.TASK04_MD5 == "md5:9d24dba78a72977dbd1d2e110310f31b"

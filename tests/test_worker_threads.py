"""The plugin worker's torch threads: all cores but one, or $SEMICL_THREADS (no display)."""

from __future__ import annotations

import os

import pytest
import torch

from napari_semicl._workers import THREADS_ENV, cap_threads


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_default_leaves_the_gui_a_core(monkeypatch):
    monkeypatch.delenv(THREADS_ENV, raising=False)
    assert cap_threads() == max(1, (os.cpu_count() or 2) - 1) == torch.get_num_threads()


def test_environment_sets_the_count(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "3")
    assert cap_threads() == 3 == torch.get_num_threads()


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1.5"])
def test_unusable_value_warns_and_keeps_the_default(monkeypatch, bad):
    monkeypatch.setenv(THREADS_ENV, bad)
    with pytest.warns(UserWarning, match=THREADS_ENV):
        assert cap_threads() == max(1, (os.cpu_count() or 2) - 1)

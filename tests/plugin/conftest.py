"""Fixtures for the napari plugin tests: a real viewer (Xvfb + Mesa GL), the docked widget,
an MSD volume with stroke-like scribbles derived from its ground truth, a tiny config.

Run with: xvfb-run -a -s "-screen 0 1280x1024x24" python -m pytest tests/plugin -q
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from plugin_helpers import SCRIBBLE_SLICES, stroke_scribbles, tiny_config

pytest.importorskip("napari", reason="the plugin tests need napari (napari-semicl[plugin])")
pytest.importorskip("pytestqt", reason="the plugin tests need pytest-qt")

_HAS_DISPLAY = sys.platform in ("darwin", "win32") or bool(
    os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
)


def pytest_collection_modifyitems(config, items):
    if _HAS_DISPLAY:
        return
    skip = pytest.mark.skip(
        reason="no display (DISPLAY unset): napari's canvas needs OpenGL; run under "
        "xvfb-run -a -s '-screen 0 1280x1024x24' (offscreen Qt has no OpenGL)"
    )
    for item in items:
        if "gui" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _session_dir(tmp_path, monkeypatch):
    """Autosaved sessions go to a temporary folder, never to the home directory."""
    monkeypatch.setenv("SEMICL_SESSION_DIR", str(tmp_path / "sessions"))


#: How long a test's leftover jobs get to stop after its viewer has closed (milliseconds).
WORKER_QUIT_MS = 60_000


@pytest.fixture(autouse=True)
def _jobs_stop_with_the_viewer():
    """After each test (its viewer closed, so the widget has asked its job to stop), wait
    until every thread worker has ended, and check that no network of a round trains on;
    a job that does not stop fails the test.

    A thread still inside torch when Python exits takes the process down with it
    ("terminate called without an active exception", exit 134, seen in CI): napari waits
    for its workers when the app quits (``aboutToQuit``), a pytest process never quits
    its QApplication, and a worker stopped by quit left a round's other networks
    training until the plugin closed its generator (``_workers._closing_worker_class``).
    """
    yield
    import threading

    from napari.qt.threading import WorkerBase

    WorkerBase.await_workers(WORKER_QUIT_MS)
    left = [t.name for t in threading.enumerate() if t.name.startswith("semicl-member")]
    assert not left, f"networks still training after the test: {left}"


@pytest.fixture()
def napari_settings(monkeypatch):
    """napari's settings for this test only, in memory (reader preferences included), for
    tests without a viewer (``make_napari_viewer`` resets the settings itself)."""
    from napari import settings

    fresh = settings.NapariSettings(config_path=None)
    monkeypatch.setattr(settings, "_SETTINGS", fresh)
    return fresh


@pytest.fixture()
def messages():
    """The plugin's notification record, emptied for this test."""
    from napari_semicl import _messages

    _messages.HISTORY.clear()
    return _messages.HISTORY


@pytest.fixture(scope="session")
def msd_case(msd_dir: Path):
    """(image ImageVolume, ground-truth mask, class names, image path) of the first MSD case."""
    from semicl.io.msd import load_msd

    ds = load_msd(msd_dir)
    case = ds.cases[0]
    image, labels = case.load()
    return image, np.asarray(labels.data), list(ds.class_names), Path(case.image_path)


@pytest.fixture()
def scribbles_for(msd_case):
    """Scribbles on :data:`SCRIBBLE_SLICES` of the MSD case (a function, for copies)."""

    def make() -> np.ndarray:
        gt = msd_case[1]
        s = np.zeros(gt.shape, np.uint8)
        for z in SCRIBBLE_SLICES:
            s[z] = stroke_scribbles(gt[z])
        return s

    return make


@pytest.fixture()
def docked(make_napari_viewer_proxy):
    """A shown napari viewer (public API proxy) with the plugin widget docked through npe2."""

    def make(show: bool = True):
        viewer = make_napari_viewer_proxy(show=show)
        _dock, widget = viewer.window.add_plugin_dock_widget("napari-semicl",
                                                             "Scribble segmentation")
        return viewer, widget

    return make


@pytest.fixture()
def msd_viewer(docked, msd_case, scribbles_for):
    """Viewer + widget with the MSD volume, its class names and painted scribbles."""
    from napari_semicl._reader import read_nifti

    viewer, widget = docked()
    for data, meta, _kind in read_nifti(str(msd_case[3])):
        viewer.add_image(data, **meta)
    widget.classes.set_names(msd_case[2])
    widget.on_new_scribbles()
    layer = widget.pickers.scribble_layer()
    layer.data = scribbles_for()
    widget.settings.set_config(tiny_config())
    widget.settings.preview_s.setValue(1.0)
    widget.settings.first_look.setChecked(False)
    return viewer, widget


"""Opening a saved session folder the ways a person does (issue 12 item 9): File > Open
Folder, dropping the folder on the canvas, ``viewer.open`` without naming a plugin. Each
opens the session with the plugin's reader, without napari asking which reader to use (its
builtin reader, which also accepts folders, is never tried on ``loss_history.csv``)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui


def _autosaved_session(docked, qtbot) -> tuple[Path, np.ndarray, list[str]]:
    """A session folder written by the widget's autosave: (folder, scribbles, class names)."""
    viewer, widget = docked()
    viewer.add_image(np.random.default_rng(0).random((3, 20, 20)).astype(np.float32),
                     name="vol")
    widget.on_new_scribbles()
    widget.classes.add_class()
    widget.classes.list.item(2).setText("vessel")
    lab = widget.pickers.scribble_layer()
    lab.paint((1, 10, 10), 3)  # a brush dab, as the user's mouse does
    folder = Path(os.environ["SEMICL_SESSION_DIR"]) / "vol"
    qtbot.waitUntil((folder / "loss_history.csv").is_file, timeout=10_000)
    return folder, np.array(lab.data), widget.classes.names()


@pytest.mark.parametrize("how", ["open_folder", "drop", "viewer_open"])
def test_session_folder_opens_with_our_reader_without_a_question(docked, qtbot, monkeypatch,
                                                                 how):
    import napari._qt.qt_viewer as qt_viewer
    from qtpy.QtCore import QUrl

    folder, painted, names = _autosaved_session(docked, qtbot)
    assert names == ["background", "structure 1", "vessel"]
    asked: list = []  # napari's reader dialog, asking which plugin should read the folder
    monkeypatch.setattr(qt_viewer, "handle_gui_reading",
                        lambda paths, *_a, **_k: asked.append(paths))
    viewer, widget = docked()
    qtv = viewer.__wrapped__.window._qt_viewer
    if how == "open_folder":  # File > Open Folder...
        monkeypatch.setattr(qt_viewer.QFileDialog, "getExistingDirectory",
                            lambda *_a, **_k: str(folder))
        qtv._open_folder_dialog()
    elif how == "drop":  # the folder dropped on the canvas
        qtv._open_from_list_of_urls_data([QUrl.fromLocalFile(str(folder))], stack=False,
                                         choose_plugin=False)
    else:
        viewer.open(str(folder), plugin=None)
    assert asked == [], "napari asked which reader should open the session folder"
    layers = {lay.name: lay for lay in viewer.layers}
    assert set(layers) == {"vol", "scribbles"}
    assert {lay.source.reader_plugin for lay in layers.values()} == {"napari-semicl"}
    assert np.array_equal(layers["scribbles"].data, painted)
    assert widget.classes.names() == names
    assert widget.session.folder == folder, "the session is continued"
